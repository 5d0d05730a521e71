"""Celery tasks: load ids, call one service.

Services never import this module: they send these tasks by name (``labeling.services.jobs``), and the
worker finds them through ``autodiscover_tasks``.
"""

from celery import shared_task

from labeling.services.import_jobs import import_job_run
from labeling.services.jobs import job_task_run
from labeling.services.versions import version_build_run
from labeling.services.webhooks import webhook_delivery_attempt


@shared_task(name="labeling.import_run", bind=True, max_retries=None)
def import_run(self, job_id):
    job_task_run(self, import_job_run, job_id)


@shared_task(name="labeling.version_build", bind=True, max_retries=None)
def version_build(self, job_id):
    job_task_run(self, version_build_run, job_id)


@shared_task(name="labeling.webhook_deliver", bind=True, max_retries=None)
def webhook_deliver(self, delivery_id):
    """One attempt; the service records it and says when to try again (exponential backoff)."""
    retry_in = webhook_delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
