"""Background jobs: starting, claiming, progress, heartbeat and retry. Tasks call these; pages and the
API poll the row.

Every kind of job starts the same way: ``job_start`` records the Job row and, once the surrounding
transaction commits, sends the Celery task that runs that kind (``JOB_TASKS``, by the name the task is
registered under). Services therefore never import a tasks module; the tasks modules import services
and nothing imports them (the worker finds them through ``autodiscover_tasks``).
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from labelhub.celery import app
from labeling.choices import JobKind, JobStatus
from labeling.models import Job, Project

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
HEARTBEAT_SECONDS = 15
PROGRESS_SECONDS = 1.0

# The Celery task that runs each kind of job (labeling/tasks.py, analysis/tasks.py), by registered name.
JOB_TASKS = {
    JobKind.IMPORT: "labeling.import_run",
    JobKind.VERSION: "labeling.version_build",
    JobKind.TRAINING: "labeling.training_run",
    JobKind.AGREEMENT: "analysis.agreement_report_run",
    JobKind.MAP: "analysis.map_run",
    JobKind.DELETION: "labeling.items_delete_run",
}
WEBHOOK_TASK = "labeling.webhook_deliver"


def task_send(name, *args):
    """Send the Celery task registered as ``name`` to the broker (a function of its own so tests can
    watch what is sent)."""
    app.send_task(name, args=list(args))


def task_send_on_commit(name, *args):
    """Send the task once the surrounding transaction commits, so a rolled-back write never starts work.

    Never falls back to running inline: if the broker is down the work stays queued and visible.
    """
    transaction.on_commit(lambda: task_send(name, *args))


def job_create(*, kind, project=None, user=None, params=None, total=None) -> Job:
    return Job.objects.create(kind=kind, project=project, created_by=user, params=params or {}, total=total)


def job_start(*, kind, project=None, user=None, params=None, total=None) -> Job:
    """Record a job and queue its kind's task for when the surrounding transaction commits; answer the job.

    Call it inside the transaction that writes the job's other rows (a version's recipe, a map, a
    training job): the worker cannot see the job before they exist.
    """
    job = job_create(kind=kind, project=project, user=user, params=params, total=total)
    job_enqueue(job=job)
    return job


def job_enqueue(*, job):
    """Send the task of ``job.kind`` with the job's id once the surrounding transaction commits, noting
    when (``Job.queued``: a job still queued long after has most likely lost its message)."""
    job.queued = timezone.now()
    Job.objects.filter(pk=job.pk).update(queued=job.queued)
    task_send_on_commit(JOB_TASKS[job.kind], job.id)


class JobBusy(Exception):
    """The job's message came again while an attempt still runs it (its worker beats): RabbitMQ hands an
    unacknowledged message to another worker after its ``consumer_timeout`` (30 minutes by default),
    however alive the first one is. ``retry_in``: seconds after which the attempt, if it has gone silent
    meanwhile, may be taken over; the task sends its message again for then."""

    def __init__(self, job_id, retry_in):
        super().__init__(f"job {job_id} is running elsewhere; looking again in {retry_in} s")
        self.retry_in = retry_in


def job_claim(*, job_id) -> Job | None:
    """Move a job from queued to running; answer the job if this caller won it, else None (finished, or
    claimed by another delivery of its message).

    A conditional UPDATE, so when a message is delivered twice only one of them runs the job. A job left
    running by a dead worker is reclaimed by a later delivery once its heartbeat has been silent for
    ``stale_seconds()``; before that, JobBusy: taking over an attempt that was only slow made two run at
    once, and with builds longer than the broker's redelivery timeout each new attempt superseded the
    last, so the build never published. The attempts counter tells the attempts apart in the log.
    """
    now = timezone.now()
    won = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started=now, attempts=F("attempts") + 1
    )
    if won:
        return Job.objects.get(pk=job_id)
    # acks_late + reject_on_worker_lost deliver the message again when its worker died mid-job.
    running = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, finished__isnull=True)
    stale = now - timedelta(seconds=stale_seconds())
    silent = running.filter(_silent(stale))
    won = silent.filter(attempts__lt=max_attempts()).update(started=now, attempts=F("attempts") + 1, processed=0)
    if won:
        logger.warning("job %s: reclaimed after an interrupted attempt", job_id)
        return Job.objects.get(pk=job_id)
    # A job whose workers keep dying (out of memory on one file, say) is not taken over forever, each
    # time costing a worker: it fails, saying so, and a manager may retry it once the cause is fixed.
    if silent.filter(attempts__gte=max_attempts()).update(
        status=JobStatus.FAILED,
        finished=now,
        errors=[{"reason": f"its worker stopped {max_attempts()} times while running it (killed, or out of memory?)"}],
    ):
        logger.error("job %s: failed after %s interrupted attempts", job_id, max_attempts())
        return None
    job = running.first()
    if job is not None:
        beat = job.heartbeat or job.started or now
        raise JobBusy(job_id, max(1, int((beat - stale).total_seconds()) + 1))
    return None


def job_task_run(task, service, job_id):
    """Run a job's service from its Celery task (bound, with ``max_retries=None``: as long as the attempt
    beats): when another attempt still runs the job, send the message again for when that attempt would
    count as dead (JobBusy), instead of running it twice or dropping it."""
    try:
        service(job_id=job_id)
    except JobBusy as busy:
        raise task.retry(countdown=busy.retry_in) from None


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


# --- retry, heartbeat ---------------------------------------------------------------------------------


class JobNotRetryable(Exception):
    """The job is still running (recently alive) or already succeeded."""


def stale_seconds() -> int:
    return int(getattr(settings, "LABELHUB_JOB_STALE_SECONDS", 300))


def max_attempts() -> int:
    """Attempts after which a job whose worker died is failed rather than taken over again."""
    return int(getattr(settings, "LABELHUB_JOB_MAX_ATTEMPTS", 3))


def job_silent(*, job, now=None) -> bool:
    """Whether ``job`` is running but its worker has stopped beating (no heartbeat, or none since it
    started, for ``stale_seconds()``): the worker most likely died, and nothing may come back to it."""
    if job.status != JobStatus.RUNNING:
        return False
    beat = job.heartbeat or job.started
    return beat is not None and beat < (now or timezone.now()) - timedelta(seconds=stale_seconds())


def _silent(stale):
    """Jobs whose worker has not beaten since ``stale`` (none yet: started before it). ``job_silent`` is
    the same test on one job in memory."""
    return Q(heartbeat__lt=stale) | Q(heartbeat__isnull=True, started__lt=stale)


def project_lock(project_id: int):
    """Lock a project's row until the transaction ends, so that a look for an existing job, campaign or
    decision and the one made when none is found happen one request at a time per project. NO KEY
    UPDATE: the labelers' reservations and answers, which reference the project, are not held up.
    Answers the row as it stands under the lock (None if the project is gone)."""
    return Project.objects.select_for_update(no_key=True).filter(pk=project_id).first()


ITEM_FILES_LOCK = 0x4C48_0003  # with a project's id, the advisory lock key of its stored item files ("LH", 3)


def item_files_lock(project_id: int, *, shared: bool) -> None:
    """Until the transaction ends, order the use of a project's stored item files against their removal.
    A stored name is the project's and the content's (``imports._media_name``): an import that finds the
    file there reuses it, while a worker removes the file of a deleted item once no item holds that
    content. Unordered, the worker could check (no item), the import reuse the file and commit, then the
    worker delete it: an item without its media. The import takes the lock shared around its rows and a
    second look at the files it reuses; a removal takes it exclusive around its check and its deletes.
    PostgreSQL: a transaction-level advisory lock (PgBouncer's transaction mode keeps it). SQLite needs
    none: its transactions begin IMMEDIATE (settings), so writers take turns already."""
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s, %s)", [ITEM_FILES_LOCK, project_id])


def under_way(prefix="") -> Q:
    """Jobs queued, or running with a worker that beat within ``stale_seconds()`` (``prefix``: the path
    to the job, ``"job__"`` from a row that has one). A request sent again finds its first copy's job among
    these; a job whose worker died is not answered to a new request, which then starts afresh."""
    stale = timezone.now() - timedelta(seconds=stale_seconds())
    alive = (
        Q(**{f"{prefix}heartbeat__gte": stale})
        | Q(**{f"{prefix}heartbeat__isnull": True, f"{prefix}started__gte": stale})
        | Q(**{f"{prefix}heartbeat__isnull": True, f"{prefix}started__isnull": True})
    )
    return Q(**{f"{prefix}status": JobStatus.QUEUED}) | (Q(**{f"{prefix}status": JobStatus.RUNNING}) & alive)


def _sent_before(stale):
    """Jobs whose task was last sent before ``stale`` (jobs from before ``Job.queued``: created then)."""
    return Q(queued__lt=stale) | Q(queued__isnull=True, created__lt=stale)


def _lost(stale):
    """Queued jobs whose task was sent before ``stale``."""
    return Q(status=JobStatus.QUEUED) & _sent_before(stale)


def _send_again(fresh, condition, now) -> bool:
    """Send the task of ``fresh`` (its kind and last send time as read) again if it still meets ``condition``
    and was not sent since: a conditional UPDATE of the send time, so that of two callers at once (pages
    polling the job, workers' watches) one sends it. Answers whether this caller did."""
    last = Q(queued__isnull=True) if fresh.queued is None else Q(queued=fresh.queued)
    if not Job.objects.filter(condition, last, pk=fresh.pk).update(queued=now):
        return False
    task_send_on_commit(JOB_TASKS[fresh.kind], fresh.pk)
    return True


def job_lost(*, job, now=None) -> bool:
    """Whether ``job`` is still queued ``stale_seconds()`` after its task was sent: its message most
    likely never reached a worker (the broker restarted without persistence, a queue was purged), and
    nothing would ever run it. Sending the message again is safe: ``job_claim`` lets one delivery run the
    job, and the extra ones find it running or finished.

    A job only waiting behind long ones is not lost, but looks so: it is sent again after
    ``stale_seconds()``, then each time it has waited as long again as it had when last sent (5 minutes,
    10, 20...), so a job queued for hours has a handful of copies in the queue, not one every 5 minutes."""
    if job.status != JobStatus.QUEUED or job.created is None:
        return False
    now = now or timezone.now()
    sent = job.queued or job.created
    waited = now - sent
    return waited >= timedelta(seconds=stale_seconds()) and waited >= sent - job.created


def job_resend_lost(*, job) -> bool:
    """Send the task of ``job`` again if it is lost (``job_lost``); answer whether it was sent. A
    conditional UPDATE on the time it was last sent decides, so two pages polling the job at once, or
    two workers' watches, send it once."""
    fresh = Job.objects.filter(pk=job.pk).only("kind", "status", "created", "queued").first()
    now = timezone.now()
    if fresh is None or not job_lost(job=fresh, now=now):
        return False
    if not _send_again(fresh, Q(status=JobStatus.QUEUED), now):
        return False
    waited = int((now - (fresh.queued or fresh.created)).total_seconds())
    job.queued = now
    logger.warning("job %s: still queued %s s after its task was sent; sending it again", job.pk, waited)
    return True


def _abandoned(stale):
    """Running jobs whose worker stopped beating before ``stale`` and whose task was last sent before it too."""
    return Q(status=JobStatus.RUNNING, finished__isnull=True) & _silent(stale) & _sent_before(stale)


def job_resend_abandoned(*, job) -> bool:
    """Send the task of ``job`` again if it is running but its worker has been silent for
    ``stale_seconds()`` (killed, its machine gone); answer whether it was sent. Redis hands the dead
    worker's unacknowledged message out again only after its visibility timeout (6 h 10 min by default),
    so until then nothing would run the job, which showed "running" all along. The new message's
    ``job_claim`` takes the job over (or fails it after ``max_attempts()``, saying so); a conditional
    UPDATE of the time it was last sent lets one caller send it, and not again before it has been silent
    that long once more."""
    now = timezone.now()
    fresh = Job.objects.filter(pk=job.pk).only("kind", "queued").first()
    if fresh is None or not _send_again(fresh, _abandoned(now - timedelta(seconds=stale_seconds())), now):
        return False
    logger.warning("job %s: its worker has been silent for %s s; sending it again", job.pk, stale_seconds())
    return True


def jobs_resend_lost() -> int:
    """Send again every lost job (``job_lost``) and every job whose worker died while running it
    (``job_resend_abandoned``); a worker starting, and one every ``stale_seconds()`` while it runs, calls
    this. Answers how many."""
    stale = timezone.now() - timedelta(seconds=stale_seconds())
    lost = sum(job_resend_lost(job=job) for job in Job.objects.filter(_lost(stale)).only("pk"))
    return lost + sum(job_resend_abandoned(job=job) for job in Job.objects.filter(_abandoned(stale)).only("pk"))


def job_retry_stale(*, job, name=None) -> Job:
    """Queue ``job`` again if it failed, or if it is running but its worker stopped beating; send its task
    again if it has been queued for ``stale_seconds()`` since it was sent (its message was lost).

    One conditional UPDATE decides, so two retries never both win. A zombie attempt that later wakes up
    cannot publish: it no longer owns the job (its attempt number is behind). Raises JobNotRetryable
    otherwise, saying why, with the job called ``name`` (default ``job <id>``): a caller whose client knows
    the work by another number (a training job's) names it so.
    """
    name = name or f"job {job.pk}"
    stale = timezone.now() - timedelta(seconds=stale_seconds())
    retryable = Q(status=JobStatus.FAILED) | Q(_silent(stale), status=JobStatus.RUNNING)
    won = Job.objects.filter(retryable, pk=job.pk).update(
        status=JobStatus.QUEUED,
        processed=0,
        errors=[],
        result={},
        started=None,
        finished=None,
        heartbeat=None,
    )
    if not won and job_resend_lost(job=job):
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    if not won:
        if job.status == JobStatus.SUCCEEDED:
            raise JobNotRetryable(f"{name} already succeeded")
        if job.status == JobStatus.QUEUED:
            raise JobNotRetryable(
                f"{name} is queued and waits for a worker; if none has taken it {stale_seconds()} s after "
                "it was queued, it can be sent again"
            )
        beat = job.heartbeat or job.started
        age = f"{(timezone.now() - beat).total_seconds():.0f} s ago" if beat else "never"
        raise JobNotRetryable(
            f"{name} is running (last heartbeat {age}); it can be retried once it has been silent for "
            f"{stale_seconds()} s"
        )
    job_enqueue(job=job)
    return job


# --- progress and heartbeat --------------------------------------------------------------------------


class JobBeat:
    """Writes the job's heartbeat and progress, from a thread with its own database connection.

    The build reads inside a long snapshot transaction, where its own writes would stay invisible (and
    are refused: the snapshot is read-only); the thread's connection commits each beat at once. Progress
    (``processed``, ``total``, ``phase``) is written when it changed, at most every PROGRESS_SECONDS; the
    heartbeat at least every HEARTBEAT_SECONDS. Only the attempt that owns the job writes (``attempts``
    in the WHERE clause). Called inside a transaction (a test, or a caller's atomic block) there is no
    thread and no snapshot: progress is written inline.
    """

    def __init__(self, job):
        self.job_id, self.attempt = job.pk, job.attempts
        self.processed, self.total, self.phase = 0, job.total, ""
        self.threaded = not connection.in_atomic_block
        self._written = None
        self._last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job.pk}-beat", daemon=True)

    def __enter__(self):
        self._write(force=True)
        if self.threaded:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.threaded:
            self._stop.set()
            self._thread.join(10)
        return False

    def set(self, *, processed=None, total=None, phase=None):
        if processed is not None:
            self.processed = processed
        if total is not None:
            self.total = total
        if phase is not None:
            self.phase = phase
        if not self.threaded and time.monotonic() - self._last >= PROGRESS_SECONDS:
            self._write()

    def _write(self, force=False):
        state = (self.processed, self.total, self.phase)
        fields = {"heartbeat": timezone.now()}
        if state != self._written or force:
            fields.update(processed=self.processed, total=self.total, result={"phase": self.phase})
        Job.objects.filter(pk=self.job_id, attempts=self.attempt, status=JobStatus.RUNNING).update(**fields)
        self._written, self._last = state, time.monotonic()

    def _run(self):
        try:
            while not self._stop.wait(PROGRESS_SECONDS):
                beat_due = time.monotonic() - self._last >= HEARTBEAT_SECONDS
                if beat_due or (self.processed, self.total, self.phase) != self._written:
                    try:
                        self._write()
                    except Exception:  # a busy database must not kill the build; the next beat retries
                        logger.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
        finally:
            connection.close()
