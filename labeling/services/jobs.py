"""Background jobs: creation, claiming and progress. Tasks call these; pages and the API poll the row."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labeling.choices import JobStatus
from labeling.models import Job

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000


def job_create(*, kind, project=None, user=None, params=None, total=None) -> Job:
    return Job.objects.create(kind=kind, project=project, created_by=user, params=params or {}, total=total)


def job_enqueue(*, job, task):
    """Send ``task(job.id)`` to the broker once the surrounding transaction commits.

    Never falls back to running inline: if the broker is down the job stays queued and visible.
    """
    transaction.on_commit(lambda: task.delay(job.id))


def job_claim(*, job_id) -> Job | None:
    """Move a job from queued to running; answer the job if this caller won it, else None.

    A conditional UPDATE, so when a message is delivered twice (a redelivery after a lost worker, or
    two workers) only one of them runs the job. A job left running by a killed worker is reclaimed
    by the redelivered message: its attempts counter tells the two apart in the log.
    """
    now = timezone.now()
    won = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started=now, attempts=F("attempts") + 1
    )
    if not won:
        # acks_late + reject_on_worker_lost redeliver a message whose worker died mid-job.
        won = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, finished__isnull=True).update(
            started=now, attempts=F("attempts") + 1, processed=0
        )
        if won:
            logger.warning("job %s: reclaimed after an interrupted attempt", job_id)
    return Job.objects.get(pk=job_id) if won else None


def job_progress(*, job, processed, total=None):
    job.processed = processed
    fields = ["processed"]
    if total is not None:
        job.total = total
        fields.append("total")
    Job.objects.filter(pk=job.pk).update(**{f: getattr(job, f) for f in fields})


def job_add_errors(*, job, errors):
    room = MAX_STORED_ERRORS - len(job.errors)
    if room > 0:
        job.errors.extend(errors[:room])


def job_finish(*, job, result=None, error=None, attempt=None):
    """Mark the job succeeded (with ``result``) or failed (with ``error``). With ``attempt``, only if that
    attempt still owns the running job: a retried job's abandoned attempt cannot overwrite it."""
    job.status = JobStatus.FAILED if error else JobStatus.SUCCEEDED
    job.finished = timezone.now()
    if result is not None:
        job.result = result
    if error:
        job.errors = [*job.errors[: MAX_STORED_ERRORS - 1], {"reason": error}]
    fields = ["status", "finished", "result", "errors", "processed", "total"]
    if attempt is None:
        job.save(update_fields=fields)
    else:
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).update(
            **{f: getattr(job, f) for f in fields}
        )
    return job


def job_retry(*, job, task) -> Job:
    """Put a failed job back in the queue."""
    if job.status != JobStatus.FAILED:
        raise ValueError(f"only a failed job can be retried; this one is {job.status}")
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.QUEUED, processed=0, errors=[], result={}, started=None, finished=None
    )
    job.refresh_from_db()
    job_enqueue(job=job, task=task)
    return job
