"""Tests run their jobs themselves, so a job a test starts never reaches the broker (tests/conftest.py's
``job_messages``). The integration tests' worker keeps consuming the broker for the rest of the session,
on the test database: it claimed a transactional test's job as soon as it was committed, the test's own
run answered "already claimed or finished", and the test read a result that was not there yet (CI's
PostgreSQL pass failed that way in tests/labeling/test_training_deadlock.py)."""

import pytest

from labelhub.celery import app
from labeling.services.jobs import JOB_TASKS
from labeling.services.versions import version_build_start
from tests.labeling.version_helpers import text_project


@pytest.mark.django_db(transaction=True)
def test_a_job_a_transactional_test_starts_is_noted_but_never_sent_to_the_broker(monkeypatch, manager, job_messages):
    brokered = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **options: brokered.append((name, *args)))
    job = version_build_start(project=text_project(manager), user=manager, recipe={})  # committed: sent now
    assert brokered == []
    assert job_messages == [(JOB_TASKS["version"], job.pk)]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_integration_test_without_a_worker_runs_its_jobs_itself(monkeypatch, manager, job_messages):
    """tests/integration/test_s3_storage.py builds versions in its own process: its job went to the broker,
    where the session's worker, started by an earlier test of the process, claimed it first."""
    brokered = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **options: brokered.append((name, *args)))
    job = version_build_start(project=text_project(manager), user=manager, recipe={})
    assert brokered == []
    assert job_messages == [(JOB_TASKS["version"], job.pk)]
