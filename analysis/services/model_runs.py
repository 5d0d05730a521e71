"""Model runs as error analysis reads them: which run, its predictions on items it did not train on, and
the slices and review links a report lists. Shared by the classification and the shape error analysis.
"""

from urllib.parse import urlencode

import numpy as np
from django.http import Http404

from analysis.models import ModelRun, Prediction
from analysis.services.training import HELD_OUT_SPLITS, version_splits
from labeling.models import Item

REVIEW_LINK_LIMIT = 200
ALL = "all"


def model_run_for(*, project, run_id=None) -> ModelRun | None:
    """The project's model run ``run_id`` (404 when it is not one of this project's), or its latest run."""
    # the version's info is left unread: it holds the ids of the items purged from it, maybe 200,000
    runs = ModelRun.objects.filter(project=project).select_related("dataset_version").defer("dataset_version__info")
    if run_id in (None, ""):
        return runs.order_by("-created", "-id").first()
    try:
        return runs.get(pk=int(run_id))
    except (ModelRun.DoesNotExist, TypeError, ValueError):
        raise Http404("No model run with that id in this project.") from None


def _predictions(model_run):
    """(item ids, labels, splits) of the run's predictions, by item id."""
    rows = list(
        Prediction.objects.filter(model_run=model_run).order_by("item_id").values_list("item_id", "label", "split")
    )
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, [r[1] for r in rows], np.array([r[2] for r in rows], dtype=object)


NO_HELD_OUT_WARNING = (
    "This model run names no dataset version and no held-out items, so all {n} of its predictions are "
    'compared, including any the model was trained on: the model\'s score (and "beats HLP") may be '
    'inflated. Post the run with "dataset_version", or name the items it did not train on ("held_out": '
    '[item ids], or "split" per prediction).'
)


def held_out_mask(*, model_run, item_ids, splits):
    """Which predictions an honest comparison may use: those on items the model did not train on.

    * A run with a dataset version: every item outside the version's train split (items the version does
      not hold, e.g. imported since, included), and not marked ``train`` by the run itself.
    * A run without one that marks splits (``held_out`` or ``split`` per prediction when posted): only
      the items marked ``dev``, ``test`` or ``held_out``; unmarked items are left out too.
    * A run that says nothing: every prediction, with a plain warning.

    Answers ``(mask, info)``: a boolean mask over ``item_ids`` and ``{"basis": "dataset_version" |
    "named" | "none", "n_left_out", "n_train", "n_not_named", "warning"}``.
    """

    item_ids = np.asarray(item_ids, dtype=np.int64)
    splits = np.asarray(splits, dtype=object)
    n = len(item_ids)
    train = splits == "train"
    version = model_run.dataset_version if model_run.dataset_version_id else None
    if version is not None:
        in_version = version_splits(version=version)
        version_train = np.fromiter((i for i, s in in_version.items() if s == "train"), dtype=np.int64)
        train |= np.isin(item_ids, version_train)
    named = np.isin(splits, list(HELD_OUT_SPLITS)) if n else np.zeros(0, dtype=bool)
    warning = None
    if version is not None:
        basis, keep = "dataset_version", ~train
    elif (splits != "").any():
        basis, keep = "named", named & ~train
    else:
        basis, keep = "none", np.ones(n, dtype=bool)
        warning = NO_HELD_OUT_WARNING.format(n=n) if n else None
    not_named = ~keep & ~train
    if n and not keep.any() and warning is None:
        warning = (
            f"All {n} predictions are on items the model trained on"
            f"{' (the train split of version ' + str(version.number) + ')' if version is not None else ''}"
            " or that the run does not name as held out: there is nothing to compare."
        )
    info = {
        "basis": basis,
        "n_left_out": int((~keep).sum()),
        "n_train": int(train.sum()),
        "n_not_named": int(not_named.sum()),
        "warning": warning,
    }
    return keep, info


def held_out_predictions(model_run):
    """The run's predictions on items it did not train on: (item ids, labels, held-out info, the ids of
    all its predictions)."""
    ids, labels, splits = _predictions(model_run)
    keep, info = held_out_mask(model_run=model_run, item_ids=ids, splits=splits)
    return ids[keep], [label for label, k in zip(labels, keep.tolist(), strict=True) if k], info, ids


def _slices(*, project, item_ids):
    """Tag name → boolean mask over ``item_ids`` (sorted), for every tag some of these items carry."""
    links = list(
        Item.tags.through.objects.filter(tag__project=project, item__project=project)
        .order_by()
        .values_list("item_id", "tag__name")
    )
    if not links or not len(item_ids):
        return {}
    linked = np.fromiter((link[0] for link in links), dtype=np.int64, count=len(links))
    names, tag = np.unique(np.array([link[1] for link in links], dtype=object), return_inverse=True)
    pos = np.minimum(np.searchsorted(item_ids, linked), len(item_ids) - 1)
    hit = item_ids[pos] == linked
    masks = {}
    for t, name in enumerate(names):
        picked = hit & (tag == t)
        if picked.any():
            mask = np.zeros(len(item_ids), dtype=bool)
            mask[pos[picked]] = True
            masks[str(name)] = mask
    return dict(sorted(masks.items()))


def _review_link(project, item_ids):
    ids = [int(i) for i in item_ids[:REVIEW_LINK_LIMIT]]
    # The review queue page (issue 5) does not exist yet; it is expected to accept ``?items=``.
    return f"/projects/{project.pk}/review/?{urlencode({'items': ','.join(map(str, ids))})}" if ids else None


def run_summary(model_run) -> dict:
    return {
        "id": model_run.pk,
        "name": model_run.name,
        "created": model_run.created.isoformat(),
        "dataset_version": model_run.dataset_version.number if model_run.dataset_version_id else None,
    }
