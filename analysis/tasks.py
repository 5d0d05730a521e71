"""Celery tasks of the measuring domain: load ids, call one service.

Services never import this module: they send these tasks by name (``labeling.services.jobs``), and the
worker finds them through ``autodiscover_tasks``.
"""

from celery import shared_task

from analysis.services.agreement import agreement_report_job_run
from analysis.services.maps import map_job_run
from analysis.services.training import training_job_run


@shared_task(name="analysis.agreement_report_run")
def agreement_report_run(job_id):
    agreement_report_job_run(job_id=job_id)


@shared_task(name="analysis.map_run", soft_time_limit=3600, time_limit=3700)
def map_run(job_id):
    map_job_run(job_id=job_id)


# Registered under its name from before training moved here from labeling: messages already queued
# (and JOB_TASKS) keep reaching it.
@shared_task(name="labeling.training_run")
def training_run(job_id):
    training_job_run(job_id=job_id)
