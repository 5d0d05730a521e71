"""Error analysis of detection and segments model runs: mAP@0.5 per slice beside the labelers' HLP.

A detection model is not right or wrong on an item, so accuracy gives way to COCO average precision at
IoU 0.5 (``map50``, ``analysis.metrics.shapes.average_precision``, checked against pycocotools):

* the **reference** of an item is what a dataset version ships for it (``labeling.services.shape_versions``):
  the consensus of its labelers' shapes (boxes matched at IoU ≥ 0.5 and fused, segments by majority over
  time; an item one labeler answered keeps that labeler's shapes; an item a relabel campaign sent back and
  nobody answered again, the consensus of its archived answers), or, for an item an SME decided (its
  latest decision a final label with shapes), the decided shapes, "nothing here" included;
* the **model's** ``map50`` on a slice: its shapes (ranked by confidence) against the references of the
  slice's compared items; an item whose reference is empty only adds false positives. Its classes count
  as the taxonomy changes say, as the reference's do (a run stored before "b" was merged into "a" scores
  its b boxes as a);
* **HLP** on a slice: each labeler's mAP@0.5 against the consensus of the other labelers on the slice's
  items they answered with someone else (``labeler_average_precision``), averaged over labelers
  weighted by those items. ``gap_to_hlp`` = HLP − map50, ``weighted_gap`` = gap × share.

Only items the model did not train on are compared (``model_runs.held_out_mask``). Segments are
scored as boxes of full height (their IoU is the segments' IoU). No bootstrap intervals here: mAP and
the labelers' consensus would have to be recomputed per resample (``intervals`` is empty).
"""

import json

import numpy as np

from analysis.metrics.shapes import (
    _matched,
    consensus,
    labeler_average_precision,
    shape_table,
    shapes_average_precision,
)
from analysis.services.model_runs import ALL, _review_link, _slices, held_out_predictions, run_summary
from labeling.choices import SHAPE_TASKS
from labeling.models import ArchivedAnnotation, Item
from labeling.selectors import archived_still_counting, class_mapping
from labeling.services.recipes import recipe_parse
from labeling.services.resolution import _answers_queryset
from labeling.services.shape_versions import _archived_rows, _consensus, _decided_label, decided_shapes, mapped_shapes

CONSENSUS_IOU = 0.5  # as dataset versions (shape_versions.MOVED_IOU)
CONFIDENT = 0.5  # a predicted shape the review link treats as "the model says so"


def _kind(project):
    return SHAPE_TASKS[project.task_type][1]


def _answers(project, item_ids):
    """Latest ``(item, labeler id, {kind: shapes})`` answer per labeler on ``item_ids``, and usernames; the
    shapes' classes as the taxonomy changes count them (as dataset versions do)."""
    kind = _kind(project)
    policy = recipe_parse(project=project, data={})
    mapping = class_mapping(project=project)
    wanted = {int(i) for i in item_ids}
    rows = (
        _answers_queryset(project, policy["filters"], Item.objects.filter(project=project))
        .order_by("item_id", "updated", "pk")
        .values_list("item_id", "labeler_id", "labeler__username", "value")
    )
    latest, names = {}, {}
    for item_id, labeler_id, username, value in rows.iterator():
        if item_id not in wanted:
            continue
        try:
            obj = json.loads(value) if value else {kind: []}
        except ValueError:
            continue  # not a shapes answer (written before the project's type was set)
        if isinstance(obj, dict) and isinstance(obj.get(kind, []), list):
            latest[(item_id, labeler_id)] = mapped_shapes(obj, kind, mapping)
            names[labeler_id] = username
    return [(i, lab, obj) for (i, lab), obj in latest.items()], names


def _human(project, answers, names, item_ids):
    """The answers the HLP reads: per item and labeler ONE answer, the current one (``answers``), else the
    one a relabel campaign archived as it stood (``archived_still_counting``), so right after a campaign
    the items it sent back still count and a labeler's old and new shapes are never two labelers. The
    reference is the version's (:func:`_reference`); ``names`` gains the archived answers' labelers."""
    from django.contrib.auth import get_user_model

    kind = _kind(project)
    mapping = class_mapping(project=project)
    wanted = {int(i) for i in item_ids}
    standing = archived_still_counting(ArchivedAnnotation.objects.filter(campaign__project=project))
    extra = []
    for (item, labeler), (_, value, *_flags) in standing.items():
        if item not in wanted:
            continue
        try:
            obj = json.loads(value) if value else {kind: []}
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get(kind, []), list):
            extra.append((item, labeler, mapped_shapes(obj, kind, mapping)))
    if not extra:
        return answers
    missing = {labeler for _, labeler, _ in extra} - set(names)
    names.update(get_user_model().objects.filter(pk__in=missing).values_list("pk", "username"))
    return answers + sorted(extra, key=lambda row: (row[0], row[1]))


def _reference(project, kind, answers, item_ids):
    """{item: {kind: shapes with support}}: the labelers' consensus, or the SME's decided shapes where the
    item's latest decision holds some (when the project's default recipe uses decisions), as a version
    ships them; without it, a box the SME struck out scored the model's box there as right. An item a
    relabel campaign sent back that has no new answer yet is scored against the consensus of its archived
    answers, as a version ships it (unless the recipe's ``archived_weight`` is 0); it counted unresolved.
    Also answers those items' archived answers, ``{item: (labelers, classes, [each labeler's shapes])}``
    (``shape_versions._consensus``), which :func:`_disputed` judges them by."""
    policy = recipe_parse(project=project, data={})
    mapping = class_mapping(project=project)
    reference = consensus(shape_table(answers, kind=kind), iou=CONSENSUS_IOU) if answers else {}
    waiting = [int(i) for i in item_ids if int(i) not in reference]
    archived_drawn = {}
    if waiting:
        archived, archived_drawn = _consensus(project, kind, _archived_rows(project, policy, waiting), mapping)
        reference.update(archived)
    if not policy.get("use_decisions", True):
        return reference, archived_drawn
    drawn = {}
    for item, _, obj in answers:
        drawn.setdefault(item, []).append(obj.get(kind, []))
    for item, decision in decided_shapes(project=project, item_ids=[int(i) for i in item_ids]).items():
        reference[item] = _decided_label(kind, decision, drawn.get(item, []), mapping)
    return reference, archived_drawn


def _predicted(labels, kind, mapping):
    """Each prediction's shapes, their classes as the taxonomy changes count them (``mapping``, old key ->
    key): a run stored before "b" was merged into "a" predicted b, and is scored as a, like the labelers'
    boxes of b in the reference (else each of them was a false positive and a missed box)."""
    out = []
    for text in labels:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = {}
        if not isinstance(obj, dict) or not isinstance(obj.get(kind, []), list):
            out.append([])
            continue
        out.append(mapped_shapes(obj, kind, mapping).get(kind, []))
    return out


def _hlp(answers, kind, names):
    """Weighted mean of the labelers' mAP@0.5 against the others' consensus, per class too, and the rows."""
    if not answers:
        return None, {}, []
    per = labeler_average_precision(shape_table(answers, kind=kind), iou=CONSENSUS_IOU)
    rows = [
        {"labeler": names.get(lab, str(lab)), "map50": v["map50"], "n_items": v["n_items"]}
        for lab, v in per.items()
        if v["n_items"]
    ]
    scored = [v for v in per.values() if v["n_items"] and v["map50"] is not None]
    weight = sum(v["n_items"] for v in scored)
    hlp = sum(v["map50"] * v["n_items"] for v in scored) / weight if weight else None
    by_class = {}
    for v in scored:
        for c, ap in v["ap_per_class"].items():
            num, den = by_class.get(c, (0.0, 0))
            by_class[c] = (num + ap * v["n_items"], den + v["n_items"])
    return hlp, {c: num / den for c, (num, den) in by_class.items() if den}, sorted(rows, key=lambda r: r["labeler"])


def _disputed(answers, reference, kind, archived_drawn):
    """Items whose labelers do not all draw the same shapes (a consensus shape lacks someone's support,
    or someone drew a shape that is in no consensus shape). An item a relabel campaign sent back and
    nobody answered again is judged by the archived answers its reference is the consensus of
    (``archived_drawn``, from :func:`_reference`), as a version ships it; it read current answers only,
    so such an item was never a suspect however its labelers had disagreed."""
    drawn, who = {}, {}
    for item, labeler, obj in answers:
        drawn[item] = drawn.get(item, 0) + len(obj.get(kind, []))
        who.setdefault(item, set()).add(labeler)
    labelers = {i: len(w) for i, w in who.items()}
    for item, (n, _, lists) in archived_drawn.items():
        labelers[item] = n
        drawn[item] = sum(len(shapes) for shapes in lists)
    out = set()
    for item, m in labelers.items():
        if m < 2:
            continue
        shapes = reference.get(item, {}).get(kind, [])
        if any(s["support"] < m for s in shapes) or drawn[item] != m * len(shapes):
            out.add(item)
    return out


def _slice_row(name, ids, share, answers, reference, predicted, kind, names):
    ids_set = set(ids.tolist())
    scored = [i for i in ids.tolist() if i in reference]
    model = shapes_average_precision(
        kind=kind,
        reference={i: reference[i][kind] for i in scored},
        predicted={i: predicted[i] for i in scored},
    )
    mine = [a for a in answers if a[0] in ids_set]
    hlp, hlp_class, labelers = _hlp(mine, kind, names)
    answering = {}
    for item, _, _ in mine:
        answering[item] = answering.get(item, 0) + 1
    map50 = None if model is None else model["map"]
    gap = None if map50 is None or hlp is None else hlp - map50
    return {
        "slice": name,
        "n_items": len(ids),
        "share": share,
        "map50": map50,
        "model_accuracy": None,
        "hlp": hlp,
        "gap_to_hlp": gap,
        "weighted_gap": None if gap is None else gap * share,
        "intervals": {},
        "n_scored": len(scored),
        "n_unresolved": len(ids) - len(scored),
        "n_pairable": sum(1 for m in answering.values() if m >= 2),
        "n_reference": sum(len(reference[i][kind]) for i in scored),
        "n_predicted": sum(len(predicted[i]) for i in scored),
        "hlp_gold": None,
        "n_gold": 0,
        "model_beats_hlp": bool(gap is not None and gap < 0),
        "review_url": None,
        "_per_class": None if model is None else model["per_class"],
        "_hlp_class": hlp_class,
        "_labelers": labelers,
    }


def _sort(rows):
    rows.sort(key=lambda r: (r["weighted_gap"] is None, -(r["weighted_gap"] or 0), r["slice"]))
    return rows


def _matched_per_class(reference, predicted, kind, scored):
    """Per class, how many of the run's shapes match a reference shape of their class one to one at IoU
    ≥ 0.5, whatever their confidence: the agreement report's matching (maximum total IoU, vectorised
    over items), the reference and the model taken as two labelers."""
    answers = []
    for i in scored:
        if reference[i][kind] and predicted[i]:
            answers.append((i, "reference", {kind: reference[i][kind]}))
            answers.append((i, "model", {kind: predicted[i]}))
    if not answers:
        return {}
    table = shape_table(answers, kind=kind)
    matched = _matched(table, CONSENSUS_IOU)
    counts = np.bincount(table.label[matched.i], minlength=len(table.labels))
    return {table.labels[c]: int(n) for c, n in enumerate(counts.tolist()) if n}


def _class_rows(project, row, reference, predicted, kind, scored):
    counts_ref, counts_pred = {}, {}
    for i in scored:
        for s in reference[i][kind]:
            counts_ref[s["label"]] = counts_ref.get(s["label"], 0) + 1
        for s in predicted[i]:
            counts_pred[s["label"]] = counts_pred.get(s["label"], 0) + 1
    right = _matched_per_class(reference, predicted, kind, scored)
    per_class = row["_per_class"] or {}
    hlp_class = row["_hlp_class"]
    keys = [c.key for c in project.active_classes()]
    keys += sorted((set(counts_ref) | set(counts_pred)) - set(keys))
    out = []
    for key in keys:
        ap = per_class.get(key)
        hlp = hlp_class.get(key)
        # as a classification run's class: precision undefined when never predicted, recall when absent
        tp, support, n_pred = right.get(key, 0), counts_ref.get(key, 0), counts_pred.get(key, 0)
        out.append(
            {
                "class": key,
                "precision": tp / n_pred if n_pred else None,
                "recall": tp / support if support else None,
                "f1": 2 * tp / (support + n_pred) if support + n_pred else None,
                "ap50": ap,
                "hlp": hlp,
                "gap_to_hlp": None if ap is None or hlp is None else hlp - ap,
                "support": counts_ref.get(key, 0),
                "predicted": counts_pred.get(key, 0),
                "model_beats_hlp": bool(ap is not None and hlp is not None and ap > hlp),
            }
        )
    return out


def _public(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


def shape_error_analysis_compute(*, project, model_run, fairness=None) -> dict:
    """The error-analysis report of a detection or segments ``model_run`` (see the module doc).

    Answers the classification report's frame (``model_run``, ``n_predictions``, ``n_left_out``,
    ``held_out``, ``n_items`` compared, ``n_unresolved`` without answers, ``slices``, ``classes``,
    ``fairness``, ``tags``) with ``"kind": "detection" | "segments"`` and ``"metric": "map50"``. Each
    slice row: ``slice, n_items, share, map50, hlp, gap_to_hlp, weighted_gap, n_scored, n_unresolved,
    n_pairable, n_reference`` (reference shapes), ``n_predicted`` (model shapes on scored items),
    ``model_beats_hlp, review_url`` (``model_accuracy`` null, ``intervals`` empty), sorted by weighted gap,
    largest first. ``classes``: per class ``precision``, ``recall`` and ``f1`` of every shape the run sent
    (right: matched one to one to a reference shape of its class at IoU ≥ 0.5), ``ap50`` (model),
    ``hlp`` (labelers' AP of the class, weighted as above), ``gap_to_hlp``, ``support``, ``predicted``.
    ``labelers``: each labeler's mAP@0.5 against the others on the compared items (the HLP's parts).
    """
    kind = _kind(project)
    ids, labels, held, _ = held_out_predictions(model_run)
    n = len(ids)
    shapes = _predicted(labels, kind, class_mapping(project=project))
    predicted = {int(i): s for i, s in zip(ids.tolist(), shapes, strict=True)}
    answers, names = _answers(project, ids)
    reference, archived_drawn = _reference(project, kind, answers, ids.tolist())
    human = _human(project, answers, names, ids.tolist())
    scored = [i for i in ids.tolist() if i in reference]
    base = {
        "kind": project.task_type,
        "metric": "map50",
        "model_run": run_summary(model_run),
        "n_predictions": n + held["n_left_out"],
        "n_left_out": held["n_left_out"],
        "held_out": held,
        "n_items": n,
        "n_unresolved": n - len(scored),
        "label_policy": "the labelers' consensus shapes (IoU 0.5) or an SME's decided shapes, as versions ship them",
        "n_resamples": 0,
        "seed": 0,
        "confusion": None,
    }
    empty_fairness = {"slices": [], "rows": [], "spread": None, "accuracy_spread": None, "worst": None}
    if n == 0:
        return {**base, "slices": [], "classes": [], "labelers": [], "fairness": empty_fairness, "tags": []}
    masks = {ALL: np.ones(n, dtype=bool), **_slices(project=project, item_ids=ids)}
    disputed = None
    rows = []
    for name, mask in masks.items():
        row = _slice_row(name, ids[mask], int(mask.sum()) / n, human, reference, predicted, kind, names)
        if row["model_beats_hlp"]:
            # Where the model beats the humans, the humans' shapes are the suspects: the items where they
            # disagree, or where the model's confident shapes and the reference differ in number.
            if disputed is None:
                disputed = _disputed(answers, reference, kind, archived_drawn)
            suspect = [
                i
                for i in ids[mask].tolist()
                if i in disputed
                or (
                    i in reference
                    and sum(1 for s in predicted[i] if s["confidence"] >= CONFIDENT) != len(reference[i][kind])
                )
            ]
            row["review_url"] = _review_link(project, np.asarray(suspect, dtype=np.int64))
        rows.append(row)
    overall = next(r for r in rows if r["slice"] == ALL)
    classes = _class_rows(project, overall, reference, predicted, kind, scored)
    labelers = overall["_labelers"]
    slices = [_public(r) for r in _sort(rows)]
    by_name = {r["slice"]: r for r in slices}
    tags = [name for name in masks if name != ALL]
    chosen = [t for t in (fairness or tags) if t in by_name]
    fair_rows = [{**by_name[t], "recall": {}} for t in chosen]
    values = [(r["map50"], r["slice"]) for r in fair_rows if r["map50"] is not None]
    spread = max(v for v, _ in values) - min(v for v, _ in values) if len(values) >= 2 else None
    return {
        **base,
        "slices": slices,
        "classes": classes,
        "labelers": labelers,
        "fairness": {
            "slices": chosen,
            "rows": fair_rows,
            "spread": spread,
            "accuracy_spread": None,
            "worst": min(values)[1] if values else None,
        },
        "tags": tags,
    }


def shape_runs_compare(*, project, run_a, run_b) -> dict:
    """Shadow mode for detection and segments runs: both runs' mAP@0.5 on the items both predicted and
    neither trained on, overall and per slice, beside the labelers' HLP on those items.

    Answers ``{"kind", "metric": "map50", "a", "b", "n_common", "n_left_out", "held_out": {"a", "b"},
    "warning", "n_scored", "map50_a", "map50_b", "difference" (b − a), "hlp", "slices": [{"slice",
    "n_items", "map50_a", "map50_b"}]}``.
    """
    kind = _kind(project)
    ids_a, labels_a, held_a, all_a = held_out_predictions(run_a)
    ids_b, labels_b, held_b, all_b = held_out_predictions(run_b)
    both = int(np.intersect1d(all_a, all_b, assume_unique=True).size)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    mapping = class_mapping(project=project)
    shapes_a, shapes_b = _predicted(labels_a, kind, mapping), _predicted(labels_b, kind, mapping)
    pred_a = {int(common[k]): shapes_a[ia[k]] for k in range(len(common))}
    pred_b = {int(common[k]): shapes_b[ib[k]] for k in range(len(common))}
    answers, names = _answers(project, common)
    reference, _ = _reference(project, kind, answers, common.tolist())

    def map50(ids, predicted):
        scored = [i for i in ids if i in reference]
        result = shapes_average_precision(
            kind=kind, reference={i: reference[i][kind] for i in scored}, predicted={i: predicted[i] for i in scored}
        )
        return None if result is None else result["map"]

    masks = {ALL: np.ones(len(common), dtype=bool), **_slices(project=project, item_ids=common)}
    slices = []
    for name, mask in masks.items():
        picked = common[mask].tolist()
        slices.append(
            {"slice": name, "n_items": len(picked), "map50_a": map50(picked, pred_a), "map50_b": map50(picked, pred_b)}
        )
    overall = slices[0]
    a_value, b_value = overall["map50_a"], overall["map50_b"]
    return {
        "kind": project.task_type,
        "metric": "map50",
        "a": {"id": run_a.pk, "name": run_a.name, "n_predictions": len(all_a)},
        "b": {"id": run_b.pk, "name": run_b.name, "n_predictions": len(all_b)},
        "n_common": int(len(common)),
        "n_left_out": both - int(len(common)),
        "held_out": {"a": held_a, "b": held_b},
        "warning": " ".join(dict.fromkeys(h["warning"] for h in (held_a, held_b) if h["warning"])) or None,
        "n_scored": sum(1 for i in common.tolist() if i in reference),
        "map50_a": a_value,
        "map50_b": b_value,
        "difference": None if a_value is None or b_value is None else b_value - a_value,
        "hlp": _hlp(_human(project, answers, names, common.tolist()), kind, names)[0],
        "slices": sorted(slices, key=lambda s: (s["slice"] != ALL, s["slice"])),
    }
