"""Celery tasks: load ids, call one service."""

from celery import shared_task

from labeling.services.import_jobs import import_job_run


@shared_task(name="labeling.import_run")
def import_run(job_id):
    import_job_run(job_id=job_id)
