"""Celery tasks: load ids, call one service.

Services never import this module: they send these tasks by name (``labeling.services.jobs``), and the
worker finds them through ``autodiscover_tasks``.
"""

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.db import connection

from labeling.services.import_jobs import import_job_run
from labeling.services.item_deletion import items_delete_run
from labeling.services.jobs import job_task_run, jobs_resend_lost, stale_seconds
from labeling.services.projects import stored_files_delete, stored_folders_delete
from labeling.services.versions import version_build_run
from labeling.services.webhooks import webhook_delivery_attempt


@shared_task(name="labeling.import_run", bind=True, max_retries=None)
def import_run(self, job_id):
    job_task_run(self, import_job_run, job_id)


@shared_task(name="labeling.version_build", bind=True, max_retries=None)
def version_build(self, job_id):
    job_task_run(self, version_build_run, job_id)


@shared_task(name="labeling.items_delete_run", bind=True, max_retries=None)
def items_delete(self, job_id):
    job_task_run(self, items_delete_run, job_id)


@shared_task(name="labeling.storage_delete", bind=True, max_retries=8)
def storage_delete(self, folders):
    """The stored files of a deleted project or version (labeling.services.projects). Nothing else names
    them once the rows are gone, so a storage away for a while is tried again (1, 2, 4... minutes, at
    most an hour apart); removing them again is harmless."""
    try:
        stored_folders_delete(folders=folders)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(60 * 2**self.request.retries, 3600)) from exc


@shared_task(name="labeling.stored_files_remove", bind=True, max_retries=8)
def stored_files_remove(self, files):
    """The stored files of deleted items that no item names any more (labeling.services.projects), tried
    again as storage_delete is."""
    try:
        stored_files_delete(files=files)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(60 * 2**self.request.retries, 3600)) from exc


@shared_task(name="labeling.webhook_deliver", bind=True, max_retries=None)
def webhook_deliver(self, delivery_id):
    """One attempt; the service records it and says when to try again (exponential backoff)."""
    retry_in = webhook_delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


# --- lost messages ----------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)
_lost_watch_stop = threading.Event()


def _lost_watch():
    """Send again, when the worker starts and every ``stale_seconds()`` after, the jobs queued that long
    since their task was sent: their message never reached a worker (Redis restarted without persistence,
    a purged queue) and nothing else would run them; and the jobs running but silent that long, whose
    worker died (Redis gives its message back only after the visibility timeout). No celery beat needed;
    with several workers the conditional updates in ``job_resend_lost`` and ``job_resend_abandoned`` send
    each job once."""
    while True:
        try:
            jobs_resend_lost()
        except Exception:  # a database away for a moment must not end the watch; the next round retries
            logger.warning("looking for jobs whose message was lost failed", exc_info=True)
        finally:
            connection.close()
        if _lost_watch_stop.wait(max(stale_seconds(), 10)):
            return


@worker_ready.connect(dispatch_uid="labeling-lost-job-watch")
def _start_lost_watch(**kwargs):
    _lost_watch_stop.clear()
    threading.Thread(target=_lost_watch, name="lost-job-watch", daemon=True).start()


@worker_shutdown.connect(dispatch_uid="labeling-lost-job-watch-stop")
def _stop_lost_watch(**kwargs):
    _lost_watch_stop.set()
