"""A job whose broker message was lost (Redis restarted without persistence, a purged queue) stayed
"queued" forever: only silent running jobs could be retried. A job still queued LABELHUB_JOB_STALE_SECONDS
after its task was sent is now sent again: by a page polling it, by a manager's Retry, and by the
worker's own watch; job_claim still lets one delivery run it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Job
from labeling.services import versions
from labeling.services.jobs import JOB_TASKS, job_claim, jobs_resend_lost
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    sent = []
    monkeypatch.setattr("labeling.services.jobs.task_send", lambda name, *args: sent.append((name, *args)))
    return sent


@pytest.fixture
def lost_build(manager, settings, sent, django_capture_on_commit_callbacks):
    """A version build whose message never reached a worker, queued an hour ago."""
    settings.LABELHUB_JOB_STALE_SECONDS = 300
    project = text_project(manager)
    (a,) = labelers(project, 1)
    for item in add_texts(project, ["t0", "t1"]):
        answer(item, a, "cat")
    with django_capture_on_commit_callbacks(execute=True):
        job = versions.version_build_start(project=project, user=manager, recipe={})
    assert sent == [(JOB_TASKS["version"], job.pk)]
    sent.clear()
    Job.objects.filter(pk=job.pk).update(queued=timezone.now() - timedelta(hours=1))
    return project, Job.objects.get(pk=job.pk)


def test_polling_a_lost_job_sends_it_again_once(lost_build, manager, api, sent, django_capture_on_commit_callbacks):
    project, job = lost_build
    client = api(manager)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get(f"/api/jobs/{job.pk}/").json()["status"] == "queued"
        client.get(f"/api/jobs/{job.pk}/")  # the next poll, a moment later: already sent again
    assert sent == [(JOB_TASKS["version"], job.pk)]
    # The re-sent message runs it; the lost one turning up after all runs nothing more.
    versions.version_build_run(job_id=job.pk)
    assert job_claim(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1


def test_a_job_queued_a_moment_ago_is_not_sent_again(manager, api, sent, django_capture_on_commit_callbacks):
    project = text_project(manager)
    with django_capture_on_commit_callbacks(execute=True):
        job = versions.version_build_start(project=project, user=manager, recipe={})
        api(manager).get(f"/api/jobs/{job.pk}/")
        assert jobs_resend_lost() == 0
    assert sent == [(JOB_TASKS["version"], job.pk)]
    with pytest.raises(versions.JobNotRetryable, match="queued and waits for a worker"):
        versions.version_build_retry(job=job)


def test_a_manager_retries_a_lost_build(lost_build, manager, client, sent, django_capture_on_commit_callbacks):
    project, job = lost_build
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/").content.decode()
    assert f'action="/projects/{project.pk}/versions/builds/{job.pk}/retry/"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{project.pk}/versions/builds/{job.pk}/retry/", follow=True)
    assert f"Build {job.pk} is queued again." in response.content.decode()
    assert sent == [(JOB_TASKS["version"], job.pk)]


def test_the_worker_watch_sends_lost_jobs_again(lost_build, manager, sent, django_capture_on_commit_callbacks):
    _, job = lost_build
    # running for two hours, its worker beating: nothing to send
    running = Job.objects.create(
        kind="import", status="running", started=timezone.now() - timedelta(hours=2), heartbeat=timezone.now()
    )
    Job.objects.filter(pk=running.pk).update(created=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_lost() == 1
        assert jobs_resend_lost() == 0
    assert sent == [(JOB_TASKS["version"], job.pk)]


def test_a_job_waiting_behind_long_ones_is_sent_again_less_and_less_often(
    lost_build, settings, sent, django_capture_on_commit_callbacks
):
    """Sent at creation, an hour ago; sent again now; not again until it has waited another hour."""
    from labeling.services.jobs import job_resend_lost

    _, job = lost_build
    hour_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(created=hour_ago, queued=hour_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_resend_lost(job=job)
        Job.objects.filter(pk=job.pk).update(queued=timezone.now() - timedelta(minutes=10))
        assert not job_resend_lost(job=job)  # waited 10 minutes since, had waited 50 before
        Job.objects.filter(pk=job.pk).update(queued=timezone.now() - timedelta(minutes=31))
        assert job_resend_lost(job=job)  # 31 minutes since, 29 before
    assert sent == [(JOB_TASKS["version"], job.pk)] * 2


def test_a_job_whose_worker_was_killed_is_taken_over_by_another_worker(
    manager, settings, sent, django_capture_on_commit_callbacks
):
    """A worker SIGKILLed mid-build left its job "running" with Redis as the broker: the dead worker's
    message comes back only after the visibility timeout (6 h 10 min), so the job showed running, at the
    progress it died at, all that time. The watch of the workers still alive sends it again once its
    heartbeat has been silent for LABELHUB_JOB_STALE_SECONDS, once, and the new delivery runs it."""
    settings.LABELHUB_JOB_STALE_SECONDS = 300
    project = text_project(manager)
    (a,) = labelers(project, 1)
    for item in add_texts(project, ["t0", "t1"]):
        answer(item, a, "cat")
    with django_capture_on_commit_callbacks(execute=True):
        job = versions.version_build_start(project=project, user=manager, recipe={})
    sent.clear()
    assert job_claim(job_id=job.pk).attempts == 1  # a worker took it, then was killed: no more heartbeats
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    Job.objects.filter(pk=job.pk).update(queued=ten_minutes_ago, started=ten_minutes_ago, heartbeat=ten_minutes_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_lost() == 1
        assert jobs_resend_lost() == 0  # the next round, or another worker's watch: sent once
    assert sent == [(JOB_TASKS["version"], job.pk)]
    versions.version_build_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert project.versions.count() == 1


def test_a_job_whose_worker_was_killed_three_times_fails_saying_so(
    manager, settings, sent, django_capture_on_commit_callbacks
):
    settings.LABELHUB_JOB_STALE_SECONDS = 300
    hour_ago = timezone.now() - timedelta(hours=1)
    job = Job.objects.create(kind="map", status="running", attempts=3, started=hour_ago, heartbeat=hour_ago)
    Job.objects.filter(pk=job.pk).update(created=hour_ago, queued=hour_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_resend_lost() == 1
    assert sent == [(JOB_TASKS["map"], job.pk)]
    assert job_claim(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == "failed" and "its worker stopped 3 times" in job.errors[-1]["reason"]
