"""An import whose database connection dies: each batch is all or nothing, and a retry of the job
finishes it with every item exactly once and no file left without its item."""

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.utils import timezone

from labeling.choices import JobStatus
from labeling.models import Item
from labeling.services import imports
from labeling.services.import_jobs import import_job_create, import_job_retry, import_job_run
from labeling.services.jobs import JobBusy
from labeling.services.versions import JobNotRetryable
from tests.conftest import png_bytes
from tests.labeling.test_item_import import stored_files

IMAGES = [png_bytes(seed=900 + i) for i in range(5)]


def archive():
    """Five images and a second copy of the first, in batches of two: (a, b) (c, d) (e, a again)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i, data in enumerate([*IMAGES, IMAGES[0]]):
            zf.writestr(f"cat/{i}.png", data)
    return buffer.getvalue()


@pytest.fixture
def dying_connection(monkeypatch):
    """The database connection dies inside the second batch's transaction, after its rows went in."""
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    real = imports._add_tag_links
    calls = {"n": 0}

    def links(rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(rows)

    monkeypatch.setattr(imports, "_add_tag_links", links)
    return monkeypatch, real


def start(project, manager):
    return import_job_create(
        project=project, user=manager, upload=SimpleUploadedFile("set.zip", archive()), label_from_folder=True
    )


def test_a_batch_whose_connection_dies_leaves_nothing_and_a_retry_finishes_the_job(
    manager, project, settings, dying_connection
):
    monkeypatch, real = dying_connection
    job = start(project, manager)
    with pytest.raises(OperationalError):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "OperationalError" in job.errors[-1]["reason"]
    # The first batch is committed whole; nothing of the second: no rows, no files.
    first = {hashlib.sha256(d).hexdigest() for d in IMAGES[:2]}
    assert set(Item.objects.filter(project=project).values_list("sha256", flat=True)) == first
    assert len(stored_files(settings.MEDIA_ROOT)) == 2

    monkeypatch.setattr(imports, "_add_tag_links", real)  # the database is back
    assert import_job_retry(job=job).status == JobStatus.QUEUED
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    # Every item exactly once; the earlier attempt's items are imported, not "duplicates"; the real
    # second copy in the upload still is one.
    assert job.result["imported"] == 5 and job.result["resumed"] == 2
    assert job.result["duplicates"] == 1 and job.result["rejected"] == 0
    items = list(Item.objects.filter(project=project))
    assert sorted(i.sha256 for i in items) == sorted(hashlib.sha256(d).hexdigest() for d in IMAGES)
    assert sorted(job.result["items"]) == sorted(i.pk for i in items)
    assert job.result["duplicate_items"] == [{"name": "cat/5.png", "item": job.result["items"][0]}]
    assert all(i.import_job_id == job.pk and i.label == "cat" for i in items)
    # No orphan files: each stored file is an item's.
    assert {p.name for p in stored_files(settings.MEDIA_ROOT)} == {i.file.name.rsplit("/", 1)[-1] for i in items}


def test_a_redelivered_message_resumes_a_job_whose_worker_died(manager, project, settings, dying_connection):
    from labeling.models import Job
    from labeling.services import import_jobs

    monkeypatch, real = dying_connection
    job = start(project, manager)
    # The worker dies with the connection: the failure is never recorded, the job stays running.
    monkeypatch.setattr(import_jobs, "_record_failure", lambda **kwargs: None)
    with pytest.raises(OperationalError):
        import_job_run(job_id=job.pk)
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    monkeypatch.setattr(imports, "_add_tag_links", real)
    # acks_late: the broker hands the message to another worker. While the attempt's heartbeat is
    # fresh it may be alive (only slow): the message is sent again for when it would be silent.
    with pytest.raises(JobBusy):
        import_job_run(job_id=job.pk)
    settings.LABELHUB_JOB_STALE_SECONDS = 60
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=61))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == 5 and job.result["duplicates"] == 1
    assert Item.objects.filter(project=project).count() == 5
    assert len(stored_files(settings.MEDIA_ROOT)) == 5


def test_an_import_whose_workers_keep_dying_fails_instead_of_being_taken_over_forever(manager, project, settings):
    """A file that kills every worker that reads it (out of memory, say) had its message delivered again
    after each death, and each delivery took the job over and died in turn, costing a worker forever.
    After LABELHUB_JOB_MAX_ATTEMPTS attempts the job fails, saying why, and a manager may retry it."""
    from labeling.models import Job
    from labeling.services.jobs import job_claim

    settings.LABELHUB_JOB_STALE_SECONDS = 60
    job = start(project, manager)
    for attempt in (1, 2, 3):
        assert job_claim(job_id=job.pk).attempts == attempt
        Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=61))  # the worker died
    assert job_claim(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempts == 3
    assert "its worker stopped 3 times" in job.errors[-1]["reason"]
    assert import_job_retry(job=job).status == JobStatus.QUEUED


def test_retrying_an_import_through_the_api(api, manager, reviewer, project, dying_connection):
    monkeypatch, real = dying_connection
    job = start(project, manager)
    with pytest.raises(OperationalError):
        import_job_run(job_id=job.pk)
    url = f"/api/projects/{project.pk}/imports/{job.pk}/retry/"
    assert api(reviewer).post(url).status_code == 403
    response = api(manager).post(url)
    assert response.status_code == 202 and response.json() == {"job": job.pk}
    monkeypatch.setattr(imports, "_add_tag_links", real)
    import_job_run(job_id=job.pk)
    again = api(manager).post(url)
    assert again.status_code == 409 and "already succeeded" in again.json()["detail"]
    assert api(manager).post(f"/api/projects/{project.pk}/imports/999999/retry/").status_code == 404


def test_a_running_import_cannot_be_retried(manager, project):
    from django.utils import timezone

    from labeling.models import Job

    job = start(project, manager)
    Job.objects.filter(pk=job.pk).update(status="running", started=timezone.now(), heartbeat=timezone.now())
    with pytest.raises(JobNotRetryable, match="is running"):
        import_job_retry(job=Job.objects.get(pk=job.pk))


def test_a_text_manifest_retry_counts_each_item_once(manager, monkeypatch):
    """Text rows take the insert-and-skip-conflicts path: resumed rows are recognised there too."""
    from tests.labeling.test_item_import import text_project

    project = text_project(manager)
    monkeypatch.setattr(imports, "TEXT_CHUNK_SIZE", 2)
    real = imports._add_tag_links
    calls = {"n": 0}

    def links(rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("connection lost")
        return real(rows)

    monkeypatch.setattr(imports, "_add_tag_links", links)
    lines = "".join(f'{{"text": "review {i}", "tags": ["t"]}}\n' for i in range(5)) + '{"text": "review 0"}\n'
    job = import_job_create(project=project, user=manager, upload=SimpleUploadedFile("m.jsonl", lines.encode()))
    with pytest.raises(OperationalError):
        import_job_run(job_id=job.pk)
    assert Item.objects.filter(project=project).count() == 2
    monkeypatch.setattr(imports, "_add_tag_links", real)
    import_job_retry(job=job)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.result["imported"] == 5 and job.result["duplicates"] == 1 and job.result["resumed"] == 2
    assert Item.objects.filter(project=project).count() == 5
    assert all(i.tags.count() == 1 for i in Item.objects.filter(project=project))
