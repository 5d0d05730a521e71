"""Training jobs on dataset versions, and model runs (predictions) coming back from them.

Two trainers:

* ``logistic_regression`` — the built-in reference: features from the project's built-in embedder
  (``analysis.embeddings``: image-basic, audio-mfcc, text-tfidf) or from vectors the team pushed
  (``analysis.Embedding``, named by ``params.embedder``), standardized where raw (audio; ``standardize``),
  then scikit-learn's LogisticRegression (``C``, ``max_iter``, ``class_weight``) fitted on the version's
  train split. Metrics per split (train, dev, test): accuracy,
  macro F1 and per class precision, recall, F1 and support. Its predictions on every labeled item of the
  version are stored as a model run, each with its split.
* ``external`` — the team's own (GPU) workers: the job is sent to the Celery queue ``params.queue``
  (default ``training-external``) as task ``labelhub.training.external`` with one keyword argument,
  ``payload``: ``{"training_job", "project", "version", "version_url", "manifest_url", "downloads",
  "predictions_url", "params", "token"}``. ``token`` is the API token of the user who started the job
  (``Authorization: Token <token>``). The worker trains, then posts its predictions to
  ``predictions_url`` (``POST /api/projects/{id}/model-runs/`` with ``"training_job": <id>``), which
  stores them as a model run and computes the same metrics against the version's labels.

Both trainers predict on train items too (the metrics per split need them); every prediction records
its split, and the error analysis compares only the items the model did not train on.
"""

import json
import logging

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from accounts.services import token_create
from analysis.embeddings.pretrained import PRETRAINED
from analysis.embeddings.registry import available_embedders
from analysis.metrics.shapes import shapes_average_precision
from analysis.models import Embedding, ModelRun, Prediction
from analysis.services.embeddings import embedder_names, local_paths, make_embedder
from labelhub.celery import app
from labelhub.deadlocks import retry_deadlock_once
from labelhub.storage import MediaMissing, items_named
from labeling.choices import SHAPE_TASKS, JobKind, JobStatus, TaskType, Trainer
from labeling.models import Item, Job, TrainingJob
from labeling.services import exports
from labeling.services.jobs import (
    JobBeat,
    JobNotRetryable,
    job_claim,
    job_retry_stale,
    job_start,
    project_lock,
    under_way,
)
from labeling.services.shapes import FLAGS, shapes_validate
from labeling.services.versions import artifact_for, version_event_payload

logger = logging.getLogger(__name__)

EXTERNAL_TASK = "labelhub.training.external"
EMBED_BATCH = 256  # media files read and embedded at a time by the built-in trainer
EXTERNAL_QUEUE = "training-external"
DEFAULT_EMBEDDER = {"image": "image-basic", "audio": "audio-mfcc", "text": "text-tfidf"}
LR_DEFAULTS = {
    "embedder": None,
    "standardize": None,
    "C": 1.0,
    "max_iter": 1000,
    "class_weight": None,
    "max_items": 200_000,
}
# The built-in image and text features are already scaled per block / per row (standardizing them would
# blow tiny LSA components up to the size of the real ones); the audio statistics are raw.
STANDARDIZE_BY_DEFAULT = {"image": False, "audio": True, "text": False}
PREDICTION_BATCH = 5000


# --- starting -------------------------------------------------------------------------------------------


def _lr_params(project, params):
    unknown = sorted(set(params) - set(LR_DEFAULTS))
    if unknown:
        raise ValidationError({"params": f"unknown parameters: {', '.join(unknown)} (known: {', '.join(LR_DEFAULTS)})"})
    out = {**LR_DEFAULTS, **params}
    if out["embedder"] is None:
        out["embedder"] = DEFAULT_EMBEDDER[project.modality]
    if not isinstance(out["embedder"], str):
        raise ValidationError({"params": "embedder must be a name"})
    if out["embedder"] in PRETRAINED and out["embedder"] not in embedder_names(modality=project.modality):
        raise ValidationError(
            {"params": f"the {out['embedder']} embedder is not installed here (run `make embedders`)"}
        )
    if out["standardize"] is None:
        out["standardize"] = STANDARDIZE_BY_DEFAULT[project.modality]
    if not isinstance(out["standardize"], bool):
        raise ValidationError({"params": "standardize must be true or false"})
    if isinstance(out["C"], bool) or not isinstance(out["C"], int | float) or out["C"] <= 0:
        raise ValidationError({"params": "C must be a positive number"})
    if isinstance(out["max_iter"], bool) or not isinstance(out["max_iter"], int) or not 1 <= out["max_iter"] <= 100_000:
        raise ValidationError({"params": "max_iter must be a whole number from 1 to 100000"})
    if out["class_weight"] not in (None, "balanced"):
        raise ValidationError({"params": "class_weight must be null or 'balanced'"})
    if isinstance(out["max_items"], bool) or not isinstance(out["max_items"], int) or out["max_items"] < 1:
        raise ValidationError({"params": "max_items must be a positive whole number"})
    return out


@transaction.atomic
def training_job_start(*, project, version, trainer, params, user) -> TrainingJob:
    """Validate and queue a training job on ``version``; answer the TrainingJob (its ``job`` is queued).

    Raises ValidationError for an unknown trainer, unknown or bad parameters, or a transcription
    project with the built-in trainer (it classifies). The same training (version, trainer and
    parameters) still queued or running is answered instead of starting another, marked ``repeated``.
    """
    params = params or {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "params is a JSON object"})
    if trainer == Trainer.LOGISTIC_REGRESSION:
        if project.task_type != TaskType.CLASSIFICATION:
            raise ValidationError({"trainer": "the built-in trainer classifies; use an external trainer here"})
        params = _lr_params(project, params)
    elif trainer == Trainer.EXTERNAL:
        queue = params.get("queue", EXTERNAL_QUEUE)
        if not isinstance(queue, str) or not queue or len(queue) > 100:
            raise ValidationError({"params": "queue must be a queue name"})
        params = {**params, "queue": queue}
    else:
        raise ValidationError({"trainer": f"unknown trainer '{trainer}' (one of {', '.join(Trainer.values)})"})
    with transaction.atomic():
        # A client whose answer was lost asks again: the same training still queued or running is answered
        # (marked ``repeated``) rather than trained twice. The project row is locked (NO KEY: reservations
        # referencing it are not held up) so two identical requests at once start one.
        project_lock(project.pk)
        running = (
            TrainingJob.objects.filter(
                project=project,
                version=version,
                trainer=trainer,
                params=params,
            )
            .filter(under_way("job__"))
            .order_by("-created", "-id")
            .first()
        )
        if running is not None:
            running.repeated = True
            return running
        job = job_start(kind=JobKind.TRAINING, project=project, user=user)
        training = TrainingJob.objects.create(
            project=project, version=version, trainer=trainer, params=params, job=job, created_by=user
        )
        job.params = {"training_job": training.pk}
        job.save(update_fields=["params"])
    return training


def training_job_retry(*, training) -> Job:
    """Retry a failed or abandoned training job (see ``labeling.services.jobs.job_retry_stale``). A refusal
    names the training job by its id, the one the client retried, not its background job's."""
    if training.job is None:
        raise JobNotRetryable(f"training job {training.pk} has no job to retry")
    return job_retry_stale(job=training.job, name=f"training job {training.pk}")


# --- running ---------------------------------------------------------------------------------------------


def training_job_run(*, job_id):
    """Run a queued training job (called by the worker); safe to call twice (the job is claimed)."""
    if not Job.objects.filter(pk=job_id, kind=JobKind.TRAINING).exists():
        logger.warning("job %s is not a training job; message ignored", job_id)
        return
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("training job %s already claimed or finished", job_id)
        return
    attempt = job.attempts
    trainings = TrainingJob.objects.select_related("project", "version", "created_by")
    training = trainings.defer("version__info").get(job=job)  # its version's purged item ids left unread
    try:
        with JobBeat(job) as beat:
            if training.trainer == Trainer.EXTERNAL:
                result = _dispatch_external(training)
            else:
                result = _train_logistic_regression(training, beat, job=job, attempt=attempt)
    except _Superseded:
        logger.warning("training job %s attempt %s was superseded; its model run is not stored", job_id, attempt)
        return
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        detail = (
            "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            if hasattr(exc, "message_dict")
            else exc
        )
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).update(
            status=JobStatus.FAILED, finished=timezone.now(), errors=[{"reason": f"training failed: {detail}"}]
        )
        raise
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).update(
        status=JobStatus.SUCCEEDED, finished=timezone.now(), result=result
    )


def send_external(*, payload, queue):
    """Send a training job to the team's workers (a function of its own so tests can watch it)."""
    app.send_task(EXTERNAL_TASK, kwargs={"payload": payload}, queue=queue)


def external_payload(*, training) -> dict:
    """What an external trainer receives (see the module doc)."""
    version = training.version
    about = version_event_payload(version=version)
    base = getattr(settings, "LABELHUB_PUBLIC_URL", "").rstrip("/")
    # A token of its own, so the user can see and revoke what the team's worker holds.
    _, key = token_create(user=training.created_by, name=f"external training job {training.pk}")
    return {
        "training_job": training.pk,
        "project": training.project_id,
        "version": version.number,
        "content_hash": version.content_hash,
        "version_url": about["url"],
        "manifest_url": about["manifest"],
        "downloads": about["downloads"],
        "predictions_url": f"{base}/api/projects/{training.project_id}/model-runs/",
        "params": training.params,
        "token": key,
    }


def _dispatch_external(training):
    queue = training.params.get("queue", EXTERNAL_QUEUE)
    send_external(payload=external_payload(training=training), queue=queue)
    return {"dispatched_to": queue, "task": EXTERNAL_TASK, "waiting_for_predictions": True}


def version_labels(*, version):
    """(item ids, labels, splits) of the version's labeled rows, in item order (numpy arrays)."""
    table = exports.read_columns(artifact_for(version=version, fmt="parquet").name, ["item", "label", "split"])
    items = table.column("item").to_numpy()
    labels = np.array(table.column("label").to_pylist(), dtype=object)
    splits = np.array(table.column("split").to_pylist(), dtype=object)
    keep = np.array([label is not None for label in labels], dtype=bool)
    return items[keep], labels[keep], splits[keep]


def _features(project, item_ids, embedder_name, beat):
    """(n, dim) float32 features of the items, in order: a built-in or installed pretrained embedder, or
    pushed vectors."""
    if embedder_name not in available_embedders(project.modality):
        rows = dict(
            Embedding.objects.filter(item__project=project, model=embedder_name, item_id__in=item_ids).values_list(
                "item_id", "vector"
            )
        )
        missing = [i for i in item_ids if i not in rows]
        if missing:
            raise ValidationError(
                {"params": f"embedder '{embedder_name}' is not built in and {len(missing)} items have no pushed vector"}
            )
        return np.stack([np.frombuffer(bytes(rows[i]), dtype="<f4") for i in item_ids])
    embedder = make_embedder(name=embedder_name, modality=project.modality)
    fields = ["pk", "text"] if project.modality == "text" else ["pk", "file"]
    found = {
        pk: (name, value)
        for pk, name, value in Item.objects.filter(pk__in=item_ids).values_list(fields[0], "original_name", fields[1])
    }
    deleted = [i for i in item_ids if i not in found]
    if deleted:
        # deleted (the admin) since the version was built: training on the rest would not be this version
        one = len(deleted) == 1
        raise ValidationError(
            {
                "version": f"{items_named([(i, '') for i in deleted])} of this version {'is' if one else 'are'} no "
                f"longer in the project (deleted): build a new version to train without {'it' if one else 'them'}"
            }
        )
    inputs = [found[i][1] for i in item_ids]
    if project.modality == "text":
        beat.set(phase=f"embedding {len(inputs)} texts")
        return embedder.embed(inputs)
    out = None
    batch = EMBED_BATCH
    for start in range(0, len(inputs), batch):
        with local_paths(inputs[start : start + batch]) as paths:
            gone = [i for i, path in zip(item_ids[start : start + batch], paths, strict=True) if path is None]
            if gone:
                # Left out, the model would be trained and scored on less than the version holds, and
                # say nothing: the job fails naming them, as the version's build does. Every one of them:
                # the files of the batches not read yet are looked up (not read), so that one restore
                # brings them all back rather than one batch's per failed run.
                beat.set(phase="looking for the other missing files")
                rest = range(start + batch, len(inputs))
                gone += [item_ids[j] for j in rest if not default_storage.exists(inputs[j])]
                raise MediaMissing(
                    [(i, found[i][0]) for i in gone],
                    ": restore the files, or build a new version without these items",
                )
            block = embedder.embed(paths)
        if out is None:
            out = np.empty((len(inputs), block.shape[1]), dtype=np.float32)
        out[start : start + len(block)] = block
        beat.set(processed=start + len(block), phase="embedding")
    return out


def split_metrics(*, y_true, y_pred, splits, classes) -> dict:
    """Per split: n, accuracy, macro F1, and per class precision, recall, F1 and support.

    ``y_true``/``y_pred``/``splits`` are equal-length sequences; a class neither in a split nor predicted
    there gets support 0 and None for precision, recall and F1, and does not count in the macro F1.
    Splits without items are left out.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred, splits = (np.asarray(a, dtype=object) for a in (y_true, y_pred, splits))
    out = {}
    for split in exports.SPLITS:
        mask = splits == split
        if not mask.any():
            continue
        t, p = y_true[mask].astype(str), y_pred[mask].astype(str)
        precision, recall, f1, support = precision_recall_fscore_support(t, p, labels=list(classes), zero_division=0)
        # a class that is neither in the split nor predicted there has no precision, recall or F1 (None, not
        # 0), and the macro F1 is over the classes that are, as sklearn's f1_score(average="macro") takes
        # them: a dev split of 42 items without a single 6 scored 0.805 against 0.894 over its 9 classes
        seen = set(t.tolist()) | set(p.tolist())
        present = [i for i, c in enumerate(classes) if str(c) in seen]
        out[split] = {
            "n": int(mask.sum()),
            "accuracy": round(float(accuracy_score(t, p)), 4),
            "macro_f1": round(float(np.mean(f1[present])), 4) if present else 0.0,
            "classes": [
                {
                    "class": c,
                    "precision": round(float(precision[i]), 4) if i in present else None,
                    "recall": round(float(recall[i]), 4) if i in present else None,
                    "f1": round(float(f1[i]), 4) if i in present else None,
                    "support": int(support[i]),
                }
                for i, c in enumerate(classes)
            ],
        }
    return out


class _Superseded(Exception):
    """Another attempt owns the training job now (this one went silent and was taken over)."""


def _train_logistic_regression(training, beat, *, job, attempt):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    params = training.params
    project = training.project
    items, labels, splits = version_labels(version=training.version)
    if len(items) > params["max_items"]:
        raise ValidationError(
            {"params": f"the version has {len(items):,} labeled items, over max_items={params['max_items']:,}"}
        )
    train = splits == "train"
    classes = sorted(set(labels[train].tolist()))
    if len(classes) < 2:
        raise ValidationError({"version": "the train split needs at least two classes to train a classifier"})
    beat.set(total=len(items), processed=0, phase="embedding")
    features = _features(project, items.tolist(), params["embedder"], beat)
    beat.set(phase="training")
    classifier = LogisticRegression(C=params["C"], max_iter=params["max_iter"], class_weight=params["class_weight"])
    model = make_pipeline(StandardScaler(), classifier) if params.get("standardize") else make_pipeline(classifier)
    model.fit(features[train], labels[train].astype(str))
    beat.set(phase="evaluating")
    probabilities = model.predict_proba(features)
    predicted = model.classes_[probabilities.argmax(axis=1)]
    all_classes = sorted(set(labels.tolist()))
    metrics = split_metrics(y_true=labels, y_pred=predicted, splits=splits, classes=all_classes)
    predictions = [
        {"item": int(i), "label": str(p), "confidence": round(float(c), 4), "split": str(s)}
        for i, p, c, s in zip(
            items.tolist(), predicted.tolist(), probabilities.max(axis=1).tolist(), splits.tolist(), strict=True
        )
    ]
    return _store_trained_run(training, predictions, metrics, job=job, attempt=attempt)


@retry_deadlock_once  # the outermost transaction of model_run_create, which leaves its retry to it
@transaction.atomic
def _store_trained_run(training, predictions, metrics, *, job, attempt):
    """The run and the job's success in one transaction, by the attempt that owns the job: an attempt
    taken over while silent, or one whose worker died between the two, left a second run of the same
    training job (error analysis then compared the model with itself).

    Run again once as a deadlock's victim: the predictions key-share-lock their items at this commit, and a
    labeler's answer (?next=1) locks two the other way. The retry inside model_run_create never saw it
    (the commit is this block's), so the job failed with 'deadlock detected' after its whole training."""
    if not Job.objects.select_for_update().filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).exists():
        raise _Superseded
    run = model_run_create(
        project=training.project,
        name=f"logistic regression on v{training.version.number} (training job {training.pk})",
        predictions=predictions,
        user=training.created_by,
        dataset_version=training.version,
        training_job=training,
        metrics=metrics,
    )
    result = {"model_run": run.pk, "metrics": {s: {"accuracy": m["accuracy"]} for s, m in metrics.items()}}
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, finished=timezone.now(), result=result)
    return result


# --- model runs ----------------------------------------------------------------------------------------

# What a prediction's ``split`` may say: the model trained on the item (``train``) or did not (the rest).
PREDICTION_SPLITS = ("train", "dev", "test", "held_out")
HELD_OUT_SPLITS = frozenset(PREDICTION_SPLITS) - {"train"}


def _bad(message):
    raise ValidationError({"predictions": message})


def _listed(ids, limit=20):
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{', '.join(map(str, ids[:limit]))}{more}"


def _shape_value(project, kind, p, i, item, allowed_labels, item_row):
    """A localized prediction's shapes as stored: the answer format (validated as answers are) with a
    ``confidence`` in [0, 1] on every shape."""
    where = f"entry {i} (item {item})"
    shapes = p[kind]
    if not isinstance(shapes, list):
        _bad(f"{where}: {kind} must be a list of shapes (an empty list: the model found nothing)")
    plain, confidences = [], []
    for n, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            _bad(f"{where}: {kind}[{n}]: a shape is an object with its coordinates, label and confidence")
        flags = [f for f in FLAGS if f in shape]
        if flags:
            _bad(f"{where}: {kind}[{n}]: unknown field '{flags[0]}' (a prediction has a confidence instead)")
        confidence = shape.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            _bad(f"{where}: {kind}[{n}]: confidence must be a number between 0 and 1, not {confidence!r}")
        plain.append({k: v for k, v in shape.items() if k != "confidence"})
        confidences.append(float(confidence))
    try:
        stored = shapes_validate(project=project, value={kind: plain}, class_keys=allowed_labels, item=item_row)
    except ValidationError as exc:
        detail = "; ".join(exc.message_dict.get("value", exc.messages))
        _bad(f"{where}: {detail}")
    rows = json.loads(stored)[kind]
    for row, confidence in zip(rows, confidences, strict=True):
        row["confidence"] = confidence
    return json.dumps({kind: rows}, separators=(",", ":"))


def _prediction_rows(project, predictions, allowed_labels, held_out=None):
    """Validated ``(item, label, confidence, split)`` rows; ValidationError naming the first bad entry.

    Classification and transcription: ``{"item", "label", "confidence"?, "split"?}``. Detection and
    segments: ``{"item", "boxes" | "segments": [{..., "confidence"}], "split"?}`` (``label`` is then the
    shapes as JSON). ``held_out``: item ids the run names as held out (each one of its predictions).
    """
    kind = SHAPE_TASKS[project.task_type][1] if project.task_type in SHAPE_TASKS else None
    fields = {"item", kind, "split"} if kind else {"item", "label", "confidence", "split"}
    needed = f"'item' and '{kind}'" if kind else "'item' and 'label'"
    if not isinstance(predictions, list) or not predictions:
        shape = f"{{item, {kind}: [...]}}" if kind else "{item, label, confidence?}"
        _bad(f"a non-empty list of {shape} is required")
    rows = []
    for i, p in enumerate(predictions):
        if not isinstance(p, dict) or "item" not in p or (kind or "label") not in p:
            _bad(f"entry {i}: each prediction needs {needed}")
        extra = sorted(set(p) - fields)
        if extra:
            _bad(f"entry {i}: unknown fields {', '.join(extra)}")
        item = p["item"]
        if isinstance(item, bool) or not isinstance(item, int):
            _bad(f"entry {i}: item must be an item id (a number)")
        split = p.get("split", "")
        if split != "" and split not in PREDICTION_SPLITS:
            _bad(f"entry {i} (item {item}): split must be one of {', '.join(PREDICTION_SPLITS)}, not {split!r}")
        if kind:
            rows.append((item, p, None, split))
            continue
        label = p["label"]
        if not isinstance(label, str) or not label:
            _bad(f"entry {i} (item {item}): label must be a non-empty string")
        confidence = p.get("confidence")
        if confidence is not None and (
            isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
        ):
            _bad(f"entry {i} (item {item}): confidence must be between 0 and 1")
        rows.append((item, label, None if confidence is None else float(confidence), split))
    ids = [r[0] for r in rows]
    if len(set(ids)) != len(ids):
        seen, twice = set(), []
        for i in ids:
            if i in seen:
                twice.append(i)
            seen.add(i)
        _bad(f"items predicted twice: {', '.join(map(str, twice[:20]))}")
    found = {}
    fields_read = ("pk", "stats") if kind == "segments" else ("pk",)
    # an id beyond 64 bits names no row, and the database drivers cannot compare a column with it
    asked = [i for i in ids if 0 < i < 2**63]
    for start in range(0, len(asked), PREDICTION_BATCH):
        for row in Item.objects.filter(project=project, pk__in=asked[start : start + PREDICTION_BATCH]).values_list(
            *fields_read
        ):
            found[row[0]] = row[1] if kind == "segments" else None
    # Unknown ids and other projects' items get the same answer: nothing about other projects leaks.
    foreign = [i for i in ids if i not in found]
    if foreign:
        _bad(f"not items of this project: {_listed(foreign)}")
    if kind:
        from types import SimpleNamespace

        rows = [
            (
                item,
                _shape_value(
                    project,
                    kind,
                    p,
                    i,
                    item,
                    allowed_labels,
                    SimpleNamespace(stats=found[item]) if found[item] else None,
                ),
                None,
                split,
            )
            for i, (item, p, _, split) in enumerate(rows)
        ]
    elif allowed_labels is not None:
        unknown = sorted({r[1] for r in rows} - allowed_labels)
        if unknown:
            _bad(f"unknown classes: {', '.join(unknown[:20])} (the classes: {', '.join(sorted(allowed_labels))})")
    if held_out is not None:
        rows = _mark_held_out(rows, held_out)
    return rows


def _mark_held_out(rows, held_out):
    if not isinstance(held_out, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in held_out):
        raise ValidationError({"held_out": "a list of item ids (those the model did not train on)"})
    named = set(held_out)
    predicted = {r[0] for r in rows}
    missing = sorted(named - predicted)
    if missing:
        raise ValidationError({"held_out": f"items this run does not predict: {_listed(missing)}"})
    clash = [r[0] for r in rows if r[0] in named and r[3] == "train"]
    if clash:
        raise ValidationError({"held_out": f"items whose prediction says split 'train': {_listed(clash)}"})
    return [(item, label, confidence, "held_out" if item in named and not split else split)
            for item, label, confidence, split in rows]  # fmt: skip


def allowed_labels_for(*, project, version=None):
    """Labels a prediction may carry: the project's active class keys, plus any label the version has
    (e.g. ``out_of_domain`` kept as a class); None for transcription projects (any transcript)."""
    if project.task_type == TaskType.TRANSCRIPTION:
        return None
    allowed = {c.key for c in project.active_classes()}
    if version is not None:
        allowed |= set((version.counts or {}).get("classes", {}))
    return allowed


def version_splits(*, version) -> dict:
    """{item id: split} of every row of the version's manifest (labeled or not); {} when unreadable."""
    artifact = artifact_for(version=version, fmt="parquet")
    if artifact is None:
        return {}
    try:
        table = exports.read_columns(artifact.name, ["item", "split"])
    except (OSError, ValueError):
        logger.warning("version %s: its manifest cannot be read for splits", version.pk)
        return {}
    return dict(zip(table.column("item").to_pylist(), table.column("split").to_pylist(), strict=True))


@retry_deadlock_once  # predictions key-share-lock their items at commit; an answer (?next=1) locks two either way
def model_run_create(
    *,
    project,
    name,
    predictions,
    user=None,
    dataset_version=None,
    training_job=None,
    metrics=None,
    held_out=None,
):
    """Store a model run with its predictions (one transaction); answer the ModelRun.

    ``predictions``: a non-empty list of ``{"item": id, "label": class key or transcript, "confidence"?:
    0..1, "split"?: train | dev | test | held_out}`` (detection and segments projects: ``{"item", "boxes"
    | "segments": [{..., "confidence"}], "split"?}``), each item once, every item of ``project``, every
    label a known class. ``held_out``: ids of predicted items the model did not train on (their split
    becomes ``held_out``). With a ``dataset_version`` (or a ``training_job``, whose version it is) each
    prediction without a split takes the item's split in that version, and, without ``metrics``,
    metrics per split are computed against the version's labels (items the version does not label are
    not scored). Error analysis compares only predictions outside the train split (see
    ``analysis.services.model_runs.held_out_mask``).

    The same run pushed again (name, version, training job and every prediction equal to a stored run's)
    stores nothing and answers the stored run, marked ``repeated``: see ``_same_run``.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError({"name": "a name of 1-200 characters is required"})
    if dataset_version is not None and dataset_version.project_id != project.pk:
        raise ValidationError({"dataset_version": "not a version of this project"})
    if training_job is not None:
        if training_job.project_id != project.pk:
            raise ValidationError({"training_job": "not a training job of this project"})
        dataset_version = dataset_version or training_job.version
    rows = _prediction_rows(
        project, predictions, allowed_labels_for(project=project, version=dataset_version), held_out=held_out
    )
    if dataset_version is not None:
        splits = version_splits(version=dataset_version)
        rows = [(item, label, confidence, split or splits.get(item) or "") for item, label, confidence, split in rows]
    if metrics is None and dataset_version is not None:
        metrics = _metrics_against(project=project, version=dataset_version, rows=rows)
    with transaction.atomic():
        same = _same_run(
            project=project, name=name.strip(), dataset_version=dataset_version, training_job=training_job, rows=rows
        )
        if same is not None:
            same.repeated = True
            return same
        run = ModelRun.objects.create(
            project=project,
            name=name.strip(),
            dataset_version=dataset_version,
            training_job=training_job,
            n_predictions=len(rows),
            metrics=metrics or {},
            created_by=user,
        )
        # In item order: each prediction's foreign key locks its item when the run commits, and campaigns
        # and label imports lock theirs in id order; in the client's order, the run took a higher item, then
        # waited for a lower one a campaign held while the campaign waited for the higher, and the
        # database stopped one of the two.
        rows = sorted(rows, key=lambda row: row[0])
        for start in range(0, len(rows), PREDICTION_BATCH):
            Prediction.objects.bulk_create(
                [
                    Prediction(model_run=run, item_id=item, label=label, confidence=confidence, split=split)
                    for item, label, confidence, split in rows[start : start + PREDICTION_BATCH]
                ]
            )
        if training_job is not None:
            TrainingJob.objects.filter(pk=training_job.pk).update(metrics=metrics or {})
    return run


MODEL_RUN_LOCK = 0x4C48_0002  # with the project's id, the advisory lock key of a model run's storing ("LH", 2)


def _same_run(*, project, name, dataset_version, training_job, rows):
    """The project's run of this name, version and training job whose predictions are exactly ``rows``, if
    any. A script whose answer was lost pushes the run again; storing it twice listed two identical runs,
    and comparisons and "the latest run" picked either. Holds a transaction-level advisory lock per project
    on PostgreSQL, so a retry sent while the first push is still being written waits for it and finds it
    (SQLite runs one writer at a time); only runs whose name and prediction count match are compared."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [MODEL_RUN_LOCK, project.pk])
    candidates = ModelRun.objects.filter(
        project=project,
        name=name,
        dataset_version=dataset_version,
        training_job=training_job,
        n_predictions=len(rows),
    ).order_by("-created", "-id")
    wanted = sorted(rows, key=lambda row: row[0])
    for run in candidates[:5]:
        stored = run.predictions.order_by("item_id").values_list("item_id", "label", "confidence", "split")
        if [tuple(row) for row in stored] == [tuple(row) for row in wanted]:
            return run
    return None


def _metrics_against(*, project, version, rows):
    items, labels, splits = version_labels(version=version)
    predicted = {item: label for item, label, _, _ in rows}
    keep = np.array([int(i) in predicted for i in items.tolist()], dtype=bool)
    if not keep.any():
        return {}
    y_pred = [predicted[int(i)] for i in items[keep].tolist()]
    if project.task_type in SHAPE_TASKS:
        return shape_split_metrics(
            kind=SHAPE_TASKS[project.task_type][1], items=items[keep], y_true=labels[keep], y_pred=y_pred,
            splits=splits[keep],
        )  # fmt: skip
    classes = sorted(set(labels.tolist()))
    return split_metrics(y_true=labels[keep], y_pred=y_pred, splits=splits[keep], classes=classes)


def shape_split_metrics(*, kind, items, y_true, y_pred, splits) -> dict:
    """Per split of a detection or segments run: ``n`` (items), ``map50`` (COCO mAP at IoU 0.5 against the
    version's consensus shapes; None where the split has no reference shape) and ``classes`` (AP per
    class). ``y_true``/``y_pred`` hold the stored JSON of each item's shapes."""
    out = {}
    for split in exports.SPLITS:
        mask = np.asarray(splits, dtype=object) == split
        if not mask.any():
            continue
        picked = np.flatnonzero(mask)
        result = shapes_average_precision(
            kind=kind,
            reference={int(items[k]): json.loads(y_true[k]).get(kind, []) for k in picked},
            predicted={int(items[k]): json.loads(y_pred[k]).get(kind, []) for k in picked},
        )
        out[split] = {
            "n": int(mask.sum()),
            "map50": None if result is None else round(result["map"], 4),
            "classes": [] if result is None else [
                {"class": c, "ap50": round(ap, 4)} for c, ap in sorted(result["per_class"].items())
            ],
        }  # fmt: skip
    return out
