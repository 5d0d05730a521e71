"""Embedding maps: embeddings → kNN graph → 2-D UMAP layout → label-issue scores (classification) or
per-item transcript agreement (transcription), as a worker job."""

import contextlib
import logging
import time

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.embeddings.pretrained import PRETRAINED
from analysis.embeddings.projection import configure_numba_cache, knn_graph, project_2d
from analysis.embeddings.registry import available_embedders, embedder_modalities
from analysis.metrics import MetricUndefined, mean_pairwise_wer
from analysis.metrics.label_issues import find_label_issues, reduce_embeddings
from analysis.models import Embedding, EmbeddingMap, LabelCluster, MapPoint
from analysis.selectors import (
    FLAG_OOD,
    FLAG_UNCERTAIN,
    NO_SCORES_REASON,
    answer_table,
    transcript_normalizer,
)
from analysis.services.embeddings import (
    default_embedder,
    embedder_catalog,
    embedder_names,
    embeddings_compute,
    embeddings_load,
)
from analysis.services.error_analysis import labels_resolved
from labelhub.snapshots import read_snapshot
from labelhub.storage import GONE, MediaMissing
from labeling.choices import JobKind, TaskType
from labeling.models import Item
from labeling.selectors import class_mapping, transcript_conventions
from labeling.services.exports import SPLIT_GROUP, group_text, split_group_annotate
from labeling.services.jobs import (
    JobBeat,
    job_add_errors,
    job_claim,
    job_finish,
    job_progress,
    job_start,
    project_lock,
    under_way,
)

logger = logging.getLogger(__name__)

MIN_POINTS = 10


def map_embedders(*, project):
    """Embedders a map of this project can use: built-in ones and models of pushed vectors."""
    pushed = list(
        Embedding.objects.filter(item__project=project)
        .exclude(model__in=available_embedders())
        .values_list("model", flat=True)
        .distinct()
    )
    return embedder_names(modality=project.modality) + sorted(pushed)


def map_embedder_choices(*, project):
    """The embedders listed on the map page and by the API: this installation's (``embedder_catalog``,
    the default first) and the models of vectors pushed to the project, with their dimensions."""
    rows = embedder_catalog(modality=project.modality)
    pushed = (
        Embedding.objects.filter(item__project=project)
        .exclude(model__in=available_embedders())
        .values_list("model", "dim")
        .distinct()
        .order_by("model")
    )
    seen = set()
    for model, dim in pushed:
        if model in seen:
            continue
        seen.add(model)
        rows.append(
            {
                "name": model,
                "modality": project.modality,
                "kind": "pushed",
                "model": model,
                "dim": dim,
                "installed": True,
                "default": False,
                "items_per_second": None,
            }
        )
    return rows


# Task types a map is made for: label-issue scores need classes; transcripts are coloured by agreement.
MAP_TASKS = (TaskType.CLASSIFICATION, TaskType.TRANSCRIPTION)


def map_refusal(*, project):
    """Why this project cannot have a map (None when it can): the page hides its button on the same rule."""
    if project.task_type not in MAP_TASKS:
        return (
            f"maps are made for classification and transcription projects; this is a {project.task_type} "
            "project (its shapes are compared on the agreement page)"
        )
    return None


def map_create(*, project, embedder=None, user=None, group_by=None) -> EmbeddingMap:
    """Queue a map job for the project with the named embedder (built-in, pretrained, local model, or
    pushed vectors); none named takes the project's default (``default_embedder``). A map of the same
    embedder (and ``group_by``) still queued or computing is answered instead of starting another,
    marked ``repeated``.

    ``group_by``: a metadata key; items with the same value under it (the recording clips were cut
    from, the video frames were taken from, the patient photos show) are kept apart in the label-issue
    analysis: never each other's neighbours, so near-copies from one source do not vouch for each
    other's label (``find_label_issues(groups=...)``). Items without the key stand alone."""
    refusal = map_refusal(project=project)
    if refusal:
        raise ValidationError({"embedder": refusal})
    group_by = (group_by or "").strip()
    if len(group_by) > 100:
        raise ValidationError({"group_by": "a metadata key is at most 100 characters"})
    if group_by and project.task_type == TaskType.TRANSCRIPTION:
        raise ValidationError({"group_by": "a transcription project's map scores no labels: nothing to group"})
    if not embedder:
        embedder = default_embedder(modality=project.modality)
    choices = map_embedders(project=project)
    if embedder in PRETRAINED and PRETRAINED[embedder].modality == project.modality and embedder not in choices:
        # A name this version knows whose model files are missing here: "unknown" sent people to check
        # their spelling.
        raise ValidationError(
            {
                "embedder": f"'{embedder}' is a pretrained embedder that is not installed on this machine: "
                f"`make embedders` installs it (available here: {', '.join(choices)})"
            }
        )
    modalities = embedder_modalities(embedder)
    if embedder not in choices and modalities and project.modality not in modalities:
        # a real name for other data: "unknown" sent people to check their spelling
        article = "an" if project.modality[0] in "aeiou" else "a"
        raise ValidationError(
            {
                "embedder": f"'{embedder}' embeds {' and '.join(modalities)}, not {project.modality}: this is "
                f"{article} {project.modality} project (one of {', '.join(choices)})"
            }
        )
    if embedder not in choices:
        raise ValidationError(
            {"embedder": f"unknown embedder '{embedder}' for this project (one of {', '.join(choices)})"}
        )
    # A job for fewer items than a map lays out embedded them all and then failed with "only 8 items have
    # 'text-tfidf' vectors", which reads as vectors missing.
    n_items = Item.objects.filter(project=project).count()
    if n_items < MIN_POINTS:
        raise ValidationError({"embedder": f"a map needs at least {MIN_POINTS} items; this project has {n_items}"})
    with transaction.atomic():
        # A client whose answer was lost asks again: the map of this embedder still queued or computing is
        # answered (marked ``repeated``) rather than computed twice. The project row is locked (NO KEY:
        # reservations referencing it are not held up) so two identical requests at once start one.
        project_lock(project.pk)
        params = {"task": project.task_type, **({"group_by": group_by} if group_by else {})}
        running = (
            EmbeddingMap.objects.filter(
                project=project,
                embedder=embedder,
                params=params,
            )
            .filter(under_way("job__"))
            .order_by("-id")
            .first()
        )
        if running is not None:
            running.repeated = True
            return running
        job = job_start(kind=JobKind.MAP, project=project, user=user, params={"embedder": embedder})
        emap = EmbeddingMap.objects.create(project=project, embedder=embedder, job=job, created_by=user, params=params)
        job.params["map"] = emap.pk
        job.save(update_fields=["params"])
    return emap


def item_groups(*, project, item_ids, key: str) -> tuple[np.ndarray, int]:
    """(groups, n_grouped): per item of ``item_ids`` (in that order), a number shared by the items
    whose metadata holds the same value under ``key`` (−1 for an item without it, or the only one with
    its value), and how many items share their value with another. Read a column at a time: the
    metadata key's value only, not whole metadata objects."""
    # the key read as written (Django's own transform reads "2024" as a list position): as version splits do
    values = dict(split_group_annotate(Item.objects.filter(project=project), key).values_list("pk", SPLIT_GROUP))
    seen: dict[str, int] = {}
    raw = []
    for pk in item_ids:
        v = values.get(pk)
        if v is None:
            raw.append(-1)
            continue
        raw.append(seen.setdefault(group_text(v), len(seen)))
    groups = np.asarray(raw, dtype=np.int64)
    sizes = np.bincount(groups[groups >= 0], minlength=len(seen) + 1)  # + 1: no item has the key
    groups = np.where((groups >= 0) & (sizes[np.maximum(groups, 0)] >= 2), groups, -1)
    return groups, int((groups >= 0).sum())


def given_labels(*, project, items):
    """The label each item is judged with (``label_sources``); '' when it has none."""
    return label_sources(project=project, items=items)[0]


@read_snapshot()  # the active classes and the labels (class mapping, answers) of one moment
def label_sources(*, project, items) -> tuple[list[str], list[str]]:
    """(labels, sources): the label each item is judged with and where it came from, the way a version
    with the default recipe would ship it (``analysis.services.error_analysis.labels_resolved``):
    "gold" or "decision" (an SME decided it), "answers" (the labelers' majority, archived answers of
    relabel campaigns counting at the default recipe's weight); for a tie (of weights, as the version
    weighs them), the imported label when it is one of the tied classes ("tie"), else no label ("tie",
    label ''); otherwise the imported label ("imported"), or nothing (""). Decisions that leave the item
    out of every class (out of domain) give "decision" with label ''."""
    keys = {c.key for c in project.classes.all() if not c.retired}
    # An imported label of a class renamed or merged since counts as the class it became, as answers do
    # (it read as no label: a rename left every item labeled by import unlabeled on the next map).
    mapping = class_mapping(project=project)
    resolved = labels_resolved(project=project)
    rows = resolved.positions([item.pk for item in items])
    weights = resolved.weights
    labels, sources = [], []
    for item, row in zip(items, rows.tolist(), strict=True):
        imported = mapping.get(item.label, item.label)
        imported = imported if imported in keys else ""
        if row < 0:
            labels.append(imported)
            sources.append("imported" if imported else "")
            continue
        code = int(resolved.code[row])
        source = {"gold": "gold", "decision": "decision", "consensus": "answers"}.get(resolved.resolved_by[row], "")
        if code >= 0:
            label = resolved.categories[code]
            labels.append(label if label in keys else "")
            sources.append(source)
            continue
        # Weighed as the version's majority weighs them (an archived answer at the recipe's weight).
        votes = weights.getrow(row)
        if votes.nnz:
            weight = np.round(votes.data, 9)
            top = weight.max()
            tied = {resolved.categories[c] for c, v in zip(votes.indices, weight, strict=True) if v == top}
            labels.append(imported if imported in tied else "")
            sources.append("tie")
        else:
            labels.append(imported)
            sources.append("imported" if imported else "")
    return labels, sources


def map_job_run(*, job_id):
    """Compute a map (called by the worker): missing embeddings in batches, kNN graph, UMAP, scores."""
    job = job_claim(job_id=job_id)
    if job is None:
        return
    emap = EmbeddingMap.objects.select_related("project").get(pk=job.params["map"])
    project = emap.project
    started = time.perf_counter()
    try:
        # The heartbeat tells a map still being computed from one whose worker died (job_claim).
        with JobBeat(job):
            items = list(
                Item.objects.filter(project=project)
                .only("id", "file", "text", "label", "sha256", "original_name")
                .order_by("id")
            )
            n = len(items)
            # Progress: embedding every item, then four steps of the analysis.
            job_progress(job=job, processed=0, total=n + 4)
            timings = {}
            # Items whose file the storage no longer has: the map goes on without them and names them.
            gone = []
            if emap.embedder in available_embedders():
                t = time.perf_counter()
                embeddings_compute(
                    project=project,
                    embedder_name=emap.embedder,
                    items=items,
                    on_progress=lambda done: job_progress(job=job, processed=done),
                    missing=gone,
                )
                timings["embeddings"] = time.perf_counter() - t
            X, present = embeddings_load(project=project, model=emap.embedder, item_ids=[i.pk for i in items])
            if len(present) < MIN_POINTS:
                lost = f" ({MediaMissing(gone)})" if gone else ""
                raise ValidationError(
                    f"only {len(present)} items have '{emap.embedder}' vectors; a map needs {MIN_POINTS}{lost}"
                )
            job.errors = [e for e in job.errors if "item" not in e]  # an earlier attempt's, named again below
            job_add_errors(
                job=job,
                errors=[
                    {"item": item.pk, "name": item.original_name, "reason": f"the file is {GONE}; left out of the map"}
                    for item in gone
                ],
            )
            by_id = {item.pk: item for item in items}
            kept = [by_id[i] for i in present]
            transcription = project.task_type == TaskType.TRANSCRIPTION
            # One snapshot: a taxonomy change committed meanwhile cannot judge labels read under the old
            # class mapping against the new classes (every merged item would count as unlabeled).
            with read_snapshot():
                if transcription:
                    # Transcripts are no classes: every point is "unlabeled" for the label-issue analysis.
                    labels, sources = [""] * len(kept), [""] * len(kept)
                    transcripts = transcript_agreement(project=project, item_ids=present)
                else:
                    labels, sources = label_sources(project=project, items=kept)
                    transcripts = None
                classes = [c.key for c in project.classes.all() if not c.retired]
            index = {key: k for k, key in enumerate(classes)}
            codes = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
            group_by = emap.params.get("group_by")
            if group_by is not None:
                groups, n_grouped = item_groups(project=project, item_ids=present, key=group_by)
            job_progress(job=job, processed=n + 1)
            configure_numba_cache()
            t = time.perf_counter()
            # Reduced once: the kNN graph, the layout and the scores all work in this space.
            Z = reduce_embeddings(X, 64, 0, overwrite=True)  # X is not used again: centred in place
            del X
            if not np.ptp(Z, axis=0).any():
                # Identical points have no layout (UMAP's coordinates come out NaN and were refused by the
                # database with an IntegrityError that said nothing to whoever pushed the vectors).
                raise ValidationError(
                    f"all {len(kept)} items have the same '{emap.embedder}' vector: a map needs vectors that "
                    "differ (were they all written as zeros?)"
                )
            k = min(15, len(kept) - 1)
            knn = knn_graph(Z, k, seed=0)
            timings["knn"] = time.perf_counter() - t
            job_progress(job=job, processed=n + 2)
            t = time.perf_counter()
            coords = project_2d(Z, precomputed_knn=knn, n_neighbors=k, seed=None)
            timings["umap"] = time.perf_counter() - t
            job_progress(job=job, processed=n + 3)
            t = time.perf_counter()
            result = None
            unscored = None  # why a classification map scores no labels (said by the page and the API)
            n_labeled = int((codes >= 0).sum())
            given = sorted(set(codes[codes >= 0].tolist()))
            if transcription:
                classes = []
            elif not n_labeled:
                unscored = f"none of its {len(kept)} items has a label yet (an answer, a decision or an imported label)"
            elif n_labeled < MIN_POINTS:
                unscored = f"only {n_labeled} of its {len(kept)} items have a label; at least {MIN_POINTS} are needed"
            elif len(given) < 2:
                unscored = f"every labeled item is labeled {classes[given[0]]}: there is no other class to compare"
            else:
                # Z is what find_label_issues would reduce X to (same dimensions and seed): max_dim=0.
                # with items kept apart, its own kNN graph (a group's items never neighbours); the layout
                # keeps the shared one
                apart = group_by is not None and n_grouped > 0
                result = find_label_issues(
                    Z,
                    codes,
                    n_classes=len(classes),
                    k=k,
                    seed=0,
                    knn=None if apart else knn,
                    max_dim=0,
                    groups=groups if apart else None,
                )
            timings["label_issues"] = time.perf_counter() - t
            _store_map(
                emap=emap,
                items=kept,
                coords=coords,
                labels=labels,
                classes=classes,
                result=result,
                transcripts=transcripts,
            )
            emap.finished = timezone.now()
            emap.n_points = len(kept)
            emap.classes = classes
            emap.params = {"k": k, "n_without_vector": n - len(kept), "task": project.task_type}
            if group_by is not None:
                emap.params["group_by"] = group_by
            emap.summary = {
                "seconds": time.perf_counter() - started,
                "timings": timings,
                "label_issues": not transcription,
                "n_flagged": int(result.flagged.sum()) if result is not None else 0,
                "n_clusters": len(result.clusters) if result is not None else 0,
                # items scored as near-copies of another (one photo uploaded again): each set counts once
                "n_near_duplicates": int(result.params.get("near_duplicates", 0)) if result is not None else 0,
                # Items judged by no label: neither decided nor answered nor imported, and ties kept apart.
                "n_unlabeled": int(sum(1 for c, src in zip(codes, sources, strict=True) if c < 0 and src == "")),
                "n_ties": int(sum(1 for c, src in zip(codes, sources, strict=True) if c < 0 and src == "tie")),
                "n_decided": sum(1 for src in sources if src in ("decision", "gold")),
                # items left out because their file is no longer in the media storage (named in job.errors)
                "n_missing_files": len(gone),
            }
            if group_by is not None:
                # items sharing their ``group_by`` value with another item, kept apart from each other
                emap.summary["n_grouped"] = n_grouped
                emap.summary["n_groups"] = int(len(np.unique(groups[groups >= 0])))
            if unscored:
                emap.summary.update(
                    label_issues=False,
                    label_issues_reason=f"no label-issue scores: {unscored}; label more and start a new map",
                )
            if transcription:
                compared = [v["wer"] for v in transcripts.values() if v["wer"] is not None]
                emap.summary.update(
                    label_issues_reason=NO_SCORES_REASON,
                    n_compared=len(compared),
                    mean_wer=float(np.mean(compared)) if compared else None,
                )
            emap.save()
            job.processed = n + 4
    except ValidationError as exc:
        job_finish(job=job, error=" ".join(exc.messages))
        return
    except Exception as exc:
        logger.exception("map job %s failed", job_id)
        job_finish(job=job, error=f"{exc.__class__.__name__}: {exc}")
        raise
    job_finish(job=job, result={"map": emap.pk, **emap.summary})


def transcript_agreement(*, project, item_ids) -> dict[int, dict]:
    """Per item with transcripts: ``wer`` (pooled word error rate over every pair of its transcripts,
    both ways, as the agreement report's ``mean_pairwise_wer``), ``agreement`` (share of its
    transcripts equal to the most common one) and ``n`` (transcripts), after the project's conventions,
    case, punctuation and spacing; uncertain and out-of-domain answers carry no transcript. ``wer`` and
    ``agreement`` are None for an item with fewer than two transcripts (or only empty ones). As the agreement
    report, per item and labeler ONE transcript: the current one, else the one a relabel campaign archived
    as it stood (``answer_table(archived=True)``), so an item sent back keeps its figures until relabeled."""
    from collections import Counter

    conventions = transcript_conventions(project=project)
    table = answer_table(project=project, conventions=conventions, archived=True)
    normalize = transcript_normalizer(conventions)
    wanted = set(item_ids)
    by_item: dict[int, list[str]] = {}
    skip = FLAG_UNCERTAIN | FLAG_OOD
    for item, value, flags in zip(table.item.tolist(), table.values or [], table.flags.tolist(), strict=True):
        if item in wanted and value and not flags & skip:
            by_item.setdefault(item, []).append(normalize(value))
    out = {}
    for item, texts in by_item.items():
        row = {"n": len(texts), "wer": None, "agreement": None}
        if len(texts) >= 2:
            row["agreement"] = Counter(texts).most_common(1)[0][1] / len(texts)
            with contextlib.suppress(MetricUndefined):  # every transcript empty: no words to compare
                row["wer"] = float(mean_pairwise_wer([texts], normalizer=False))
        out[item] = row
    return out


@transaction.atomic
def _store_map(*, emap, items, coords, labels, classes, result, transcripts=None):
    MapPoint.objects.filter(map=emap).delete()
    LabelCluster.objects.filter(map=emap).delete()
    # Coordinates scaled to [-1, 1] on the longer side, as the scatter plot draws them.
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    scale = float(max(hi - lo)) / 2 or 1.0
    centre = (lo + hi) / 2
    coords = (coords - centre) / scale
    points = []
    for i, item in enumerate(items):
        point = MapPoint(map=emap, item_id=item.pk, x=float(coords[i, 0]), y=float(coords[i, 1]), label=labels[i])
        if transcripts is not None and item.pk in transcripts:
            point.wer = transcripts[item.pk]["wer"]
            point.agreement = transcripts[item.pk]["agreement"]
        if result is not None:
            point.score = float(result.score[i])
            point.suggested_label = classes[int(result.suggested_label[i])] if result.suggested_label[i] >= 0 else ""
            point.flagged = bool(result.flagged[i])
            point.cluster = int(result.cluster_id[i]) if result.cluster_id[i] >= 0 else None
            nd, sc = result.neighbour_disagreement[i], result.self_confidence[i]
            point.neighbour_disagreement = None if np.isnan(nd) else float(nd)
            point.self_confidence = None if np.isnan(sc) else float(sc)
        points.append(point)
    MapPoint.objects.bulk_create(points, batch_size=5000)
    if result is None:
        return
    ids = np.array([item.pk for item in items])
    clusters = [
        LabelCluster(
            map=emap,
            index=c,
            label=classes[cluster["label"]],
            suggested_label=classes[cluster["suggested_label"]],
            items=ids[cluster["items"]].tolist(),
            examples=ids[cluster["examples"]].tolist(),
            neighbour_examples=ids[cluster.get("neighbour_examples", [])].tolist(),
            score=float(cluster["score"]),
        )
        for c, cluster in enumerate(result.clusters)
    ]
    for cluster in clusters:
        cluster.description = cluster.describe()
    LabelCluster.objects.bulk_create(clusters)
