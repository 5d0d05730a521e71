"""Agreement reports: compute, cache until the answers change, and hand large ones to a worker."""

import hashlib
import json
import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from analysis.models import AgreementReport
from analysis.reports import build_agreement_report, build_shape_report
from analysis.selectors import AnswerFilters, answer_table, shape_answers
from labeling.choices import SHAPE_TASKS, JobKind, JobStatus
from labeling.models import Annotation, ArchivedAnnotation, Decision, Item, TaxonomyChange, TranscriptConventions
from labeling.selectors import class_mapping, gold_labels, transcript_conventions
from labeling.services.jobs import JobBeat, job_claim, job_finish, job_progress, job_silent, job_start
from labeling.services.shape_versions import decided_shapes, mapped_shapes

logger = logging.getLogger(__name__)


def _sync_limit():
    # Reports over this many answers are computed by a worker; smaller ones inside the request.
    return getattr(settings, "LABELHUB_AGREEMENT_SYNC_LIMIT", 200_000)


def answers_marker(*, project, tag=None) -> tuple[str, int]:
    """A fingerprint of what a report is computed from: the answers (count, latest change), and the
    taxonomy changes, transcript conventions and reviewers' decisions that reports apply to them.

    ``tag``: a slice's report depends on which items carry the tag too. Tagging items (a map lasso, an
    SME's "input insufficient") changes no answer, and the report of the slice as it was cached stayed
    answered; the number of items tagged is part of the marker then (tags are added, never taken off).

    The answers relabel campaigns archived count too (reports read them where an item has no current
    answer from that labeler): deleting an item whose answers were all archived changed neither the
    current answers nor the decisions, and the cached report kept counting the deleted item.
    """
    stats = Annotation.objects.filter(item__project=project).aggregate(n=Count("id"), last=Max("updated"))
    changes = TaxonomyChange.objects.filter(project=project).aggregate(
        n=Count("id"), n_undone=Count("undone"), last_undone=Max("undone")
    )
    decisions = Decision.objects.filter(item__project=project).aggregate(n=Count("id"))
    archived = ArchivedAnnotation.objects.filter(campaign__project=project).count()
    conventions = TranscriptConventions.objects.filter(project=project).values_list("updated", flat=True).first()
    parts = [
        stats["n"],
        stats["last"].isoformat() if stats["last"] else "-",
        changes["n"],
        changes["n_undone"],
        changes["last_undone"].isoformat() if changes["last_undone"] else "-",
        decisions["n"],
        conventions.isoformat() if conventions else "-",
        archived,
    ]
    if tag:
        parts.append(Item.tags.through.objects.filter(tag__project=project, tag__name=tag).count())
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:40], stats["n"]


DEFAULT_IOU = 0.5


def report_key(*, filters: AnswerFilters, policy: str, iou: float | None = None) -> str:
    """The cache key of a report: its filters, policy and (detection / segments) IoU threshold."""
    params = {"filters": filters.as_dict(), "policy": policy}
    if iou is not None:  # classification reports keep the keys they had before thresholds existed
        params["iou"] = float(iou)
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def report_iou(*, project, iou=None):
    """The IoU threshold a project's report uses: None for classification and transcription projects,
    ``iou`` (default 0.5) for detection and segments projects."""
    if project.task_type not in SHAPE_TASKS:
        return None
    return DEFAULT_IOU if iou is None else float(iou)


def gold_for(*, project):
    """Known correct labels by item id (class keys); SME decisions marked gold provide them."""
    return gold_labels(project=project)


def gold_shapes_for(*, project):
    """Known correct shapes by item id: the latest decision's shapes where an SME marked them gold, in
    the classes the taxonomy changes made of theirs (as the answers they are compared with)."""
    kind = SHAPE_TASKS[project.task_type][1]
    mapping = class_map_for(project=project)
    decided = decided_shapes(project=project)
    return {item: mapped_shapes(d.shapes, kind, mapping) for item, d in decided.items() if d.gold}


def agreement_report_compute(*, project, filters: AnswerFilters, policy="category", iou=None) -> dict:
    """Read the answers and compute the whole report (database read + all metrics + bootstrap).
    Detection and segments projects get the shapes report at IoU threshold ``iou`` (default 0.5)."""
    if project.task_type in SHAPE_TASKS:
        answers = shape_answers(
            project=project, filters=filters, policy=policy, class_map=class_map_for(project=project), archived=True
        )
        report = build_shape_report(
            answers, iou=report_iou(project=project, iou=iou), policy=policy, gold=gold_shapes_for(project=project)
        )
        report["filters"] = filters.as_dict()
        return report
    table = answer_table(
        project=project,
        filters=filters,
        policy=policy,
        class_map=class_map_for(project=project),
        conventions=conventions_for(project=project),
        archived=True,  # one answer per item and labeler: the current one, else the archived one as it stood
    )
    gold = {
        item: table.categories.index(key) for item, key in gold_for(project=project).items() if key in table.categories
    }
    report = build_agreement_report(table, gold=gold, policy=policy)
    report["filters"] = filters.as_dict()
    return report


def conventions_for(*, project):
    """The project's transcript conventions, if it has any."""
    return transcript_conventions(project=project)


def class_map_for(*, project):
    """Old class key → the key it counts as now, from the project's taxonomy changes."""
    return class_mapping(project=project)


def agreement_report_get(*, project, filters: AnswerFilters, policy="category", iou=None, user=None, force_async=False):
    """The report for these parameters: (data, job).

    A cached report whose answers have not changed is answered at once. Otherwise a small project's
    report is computed now; a large one's in a worker job (answered as ``(None, job)``, the stale
    report, if any, staying readable meanwhile). ``iou``: the IoU threshold of a detection or segments
    project's report (default 0.5; ignored for other projects), part of the cache key.
    """
    iou = report_iou(project=project, iou=iou)
    key = report_key(filters=filters, policy=policy, iou=iou)
    params = {"filters": filters.as_dict(), "policy": policy, **({"iou": iou} if iou is not None else {})}
    marker, n_answers = answers_marker(project=project, tag=filters.tag)
    cached = AgreementReport.objects.filter(project=project, key=key).select_related("job").first()
    if cached and cached.answers_marker == marker and cached.data is not None:
        return {**cached.data, "computed": cached.computed.isoformat(), "cached": True}, None
    if n_answers <= _sync_limit() and not force_async:
        started = time.perf_counter()
        data = agreement_report_compute(project=project, filters=filters, policy=policy, iou=iou)
        _store(project=project, key=key, params=params, marker=marker, data=data, started=started)
        return {**data, "computed": timezone.now().isoformat(), "cached": False}, None
    # A job whose worker died (running, silent) is not waited for: nothing would finish it.
    job = cached.job if cached else None
    if job and job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and not job_silent(job=job):
        return None, job
    with transaction.atomic():
        job = job_start(
            kind=JobKind.AGREEMENT,
            project=project,
            user=user,
            params={"key": key, **params},
            total=n_answers,
        )
        AgreementReport.objects.update_or_create(project=project, key=key, defaults={"job": job, "params": params})
    return None, job


def _store(*, project, key, params, marker, data, started):
    AgreementReport.objects.update_or_create(
        project=project,
        key=key,
        defaults={
            "params": params,
            "answers_marker": marker,
            "data": data,
            "computed": timezone.now(),
            "seconds": time.perf_counter() - started,
        },
    )


def agreement_report_job_run(*, job_id):
    """Compute a report in a worker and store it for its key."""
    job = job_claim(job_id=job_id)
    if job is None:
        return
    params = job.params
    filters = AnswerFilters(**params["filters"])
    if isinstance(filters.since, str):
        filters.since = timezone.datetime.fromisoformat(filters.since)
    started = time.perf_counter()
    try:
        marker, n_answers = answers_marker(project=job.project, tag=filters.tag)
        job_progress(job=job, processed=0, total=n_answers)
        # The heartbeat tells a report still being computed from one whose worker died.
        with JobBeat(job):
            data = agreement_report_compute(
                project=job.project, filters=filters, policy=params["policy"], iou=params.get("iou")
            )
        stored = {"filters": filters.as_dict(), "policy": params["policy"]}
        if params.get("iou") is not None:
            stored["iou"] = params["iou"]
        _store(project=job.project, key=params["key"], params=stored, marker=marker, data=data, started=started)
        job.processed = n_answers
    except Exception as exc:
        logger.exception("agreement report job %s failed", job_id)
        job_finish(job=job, error=f"{exc.__class__.__name__}: {exc}")
        raise
    job_finish(
        job=job, result={"key": params["key"], "n_items": data["n_items"], "seconds": time.perf_counter() - started}
    )
