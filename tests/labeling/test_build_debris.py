"""A build whose worker is killed after writing its files leaves nothing behind once the job is retried,
redelivered or cleaned up."""

import os
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from labeling.models import DatasetVersion, Job
from labeling.services import versions
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project


class Killed(BaseException):
    """SIGKILL: no except or finally clause of the build runs."""


@pytest.fixture
def answered(manager):
    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(30)])
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, "cat")
    return project


def work_folders(settings):
    root = os.path.join(settings.MEDIA_ROOT, ".building")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def build_folders(project):
    try:
        return sorted(default_storage.listdir(f"datasets/{project.pk}")[0])
    except FileNotFoundError:
        return []


def killed_build(project, manager, monkeypatch, recipe=None):
    """Run a build until its files are written and stored, then kill it before it publishes."""
    job = versions.version_build_start(project=project, user=manager, recipe=recipe or {})

    def kill(**kwargs):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(versions, "_publish", kill)
        patch.setattr(versions, "shutil", SimpleNamespace(rmtree=lambda *a, **k: None))  # no clean-up runs
        with pytest.raises(Killed):
            versions.version_build_run(job_id=job.pk)
    return Job.objects.get(pk=job.pk)


def silence(job, settings):
    settings.LABELHUB_JOB_STALE_SECONDS = 60
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(hours=1))
    return Job.objects.get(pk=job.pk)


def test_a_retry_removes_the_killed_attempts_files(answered, manager, settings, monkeypatch):
    job = killed_build(answered, manager, monkeypatch)
    assert job.status == "running"
    assert [f for f in work_folders(settings) if f.startswith(f"job-{job.pk}-1-")]
    assert build_folders(answered) == [f"build-{job.pk}-1"]

    versions.version_build_retry(job=silence(job, settings))
    assert work_folders(settings) == [] and build_folders(answered) == []

    versions.version_build_run(job_id=job.pk)
    version = DatasetVersion.objects.get(project=answered)
    assert version.job_id == job.pk and work_folders(settings) == []
    assert build_folders(answered) == [f"build-{job.pk}-2"]


def test_a_redelivered_build_removes_the_killed_attempts_files(answered, manager, settings, monkeypatch):
    job = killed_build(answered, manager, monkeypatch)
    # acks_late: another worker gets the message, and takes the job over once the attempt is silent
    versions.version_build_run(job_id=silence(job, settings).pk)
    assert DatasetVersion.objects.filter(project=answered).count() == 1
    assert work_folders(settings) == [] and build_folders(answered) == [f"build-{job.pk}-2"]


def test_cleanup_removes_abandoned_builds_and_spares_running_ones(answered, manager, settings, monkeypatch):
    abandoned = killed_build(answered, manager, monkeypatch)
    # another recipe: the same one, while the first build runs, would be answered that build
    running = killed_build(answered, manager, monkeypatch, recipe={"splits": {"salt": "second"}})
    silence(abandoned, settings)
    Job.objects.filter(pk=running.pk).update(heartbeat=timezone.now())  # still beating
    call_command("cleanup_builds", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert [f for f in work_folders(settings) if f.startswith(f"job-{abandoned.pk}-")] == []
    assert [f for f in work_folders(settings) if f.startswith(f"job-{running.pk}-")]
    assert build_folders(answered) == [f"build-{running.pk}-1"]


def test_cleanup_never_removes_a_published_version(answered, manager, settings):
    from tests.labeling.version_helpers import build

    version = build(answered, manager)
    versions.build_debris_cleanup()
    assert default_storage.exists(version.artifacts.get(format="jsonl").name)
