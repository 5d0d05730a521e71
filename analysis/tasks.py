"""Celery tasks of the measuring domain: load ids, call one service.

Services never import this module: they send these tasks by name (``labeling.services.jobs``), and the
worker finds them through ``autodiscover_tasks``.
"""

from celery import shared_task

from analysis.services.agreement import agreement_report_job_run
from analysis.services.maps import map_job_run
from analysis.services.training import training_job_run
from labeling.services.jobs import job_task_run


@shared_task(name="analysis.agreement_report_run", bind=True, max_retries=None)
def agreement_report_run(self, job_id):
    job_task_run(self, agreement_report_job_run, job_id)


@shared_task(name="analysis.map_run", bind=True, max_retries=None, soft_time_limit=3600, time_limit=3700)
def map_run(self, job_id):
    job_task_run(self, map_job_run, job_id)


# Registered under its name from before training moved here from labeling: messages already queued
# (and JOB_TASKS) keep reaching it.
@shared_task(name="labeling.training_run", bind=True, max_retries=None)
def training_run(self, job_id):
    job_task_run(self, training_job_run, job_id)
