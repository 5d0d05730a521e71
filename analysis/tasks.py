"""Celery tasks of the measuring domain: load ids, call one service."""

from celery import shared_task

from analysis.services import agreement_report_job_run


@shared_task(name="analysis.agreement_report_run")
def agreement_report_run(job_id):
    agreement_report_job_run(job_id=job_id)


@shared_task(name="analysis.map_run", soft_time_limit=3600, time_limit=3700)
def map_run(job_id):
    from analysis.services.maps import map_job_run

    map_job_run(job_id=job_id)
