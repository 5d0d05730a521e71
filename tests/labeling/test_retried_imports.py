"""A retried import (the same file, project, options and user, sent again while the first import is queued
or running: its answer was lost to a timeout, or the button was pressed twice) answers the job already
queued with 200 instead of queueing a second import of the same file."""

import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from labeling.choices import Role
from labeling.models import Job, Membership
from labeling.services.import_jobs import import_job_run
from tests.concurrency import in_a_thread, run_together, skip_unless_postgresql, slow_inserts
from tests.conftest import make_project, make_user

MANIFEST = b'{"text": "great product"}\n{"text": "awful"}\n'
LABELS = b'[{"id": 1, "data": {"text": "great product"}, "annotations": []}]'


def post_import(client, project, content=MANIFEST, name="batch.jsonl", **data):
    return client.post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile(name, content), **data},
        format="multipart",
    )


def stored_uploads(settings):
    from pathlib import Path

    return sorted(p for p in (Path(settings.MEDIA_ROOT) / "imports").rglob("*") if p.is_file())


@pytest.fixture
def texts(manager):
    return make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])


def test_the_same_import_sent_again_while_it_is_queued_answers_its_job(api, manager, texts, settings):
    client = api(manager)
    first = post_import(client, texts, tags="web")
    assert first.status_code == 202
    job = first.json()["job"]
    again = post_import(client, texts, tags="web")  # the first answer was lost; the client sends it again
    assert again.status_code == 200 and again.json() == {"job": job}
    assert Job.objects.filter(project=texts, kind="import").count() == 1
    assert len(stored_uploads(settings)) == 1  # the second copy of the file is not kept either
    # Another file, name or option is another import.
    assert post_import(client, texts, content=MANIFEST + b'{"text": "fine"}\n', tags="web").status_code == 202
    assert post_import(client, texts, name="other.jsonl", tags="web").status_code == 202
    assert post_import(client, texts, tags="mobile").status_code == 202
    assert post_import(client, texts).status_code == 202
    assert Job.objects.filter(project=texts, kind="import").count() == 5


def test_the_same_import_by_another_manager_or_after_the_first_finished_is_queued(api, manager, texts):
    other = make_user("manager2")
    Membership.objects.create(project=texts, user=other, role=Role.MANAGER)
    job = post_import(api(manager), texts).json()["job"]
    theirs = post_import(api(other), texts)
    assert theirs.status_code == 202 and theirs.json()["job"] != job
    import_job_run(job_id=job)
    assert Job.objects.get(pk=job).result["imported"] == 2
    after = post_import(api(manager), texts)  # finished: the same file is imported anew (all duplicates)
    assert after.status_code == 202 and after.json()["job"] not in (job, theirs.json()["job"])


def test_an_import_whose_worker_went_silent_is_not_answered_to_a_new_request(api, manager, texts, settings):
    job = post_import(api(manager), texts).json()["job"]
    Job.objects.filter(pk=job).update(status="running", started=timezone.now(), heartbeat=timezone.now())
    assert post_import(api(manager), texts).json() == {"job": job}  # running, its worker beating
    long_ago = timezone.now() - timedelta(seconds=settings.LABELHUB_JOB_STALE_SECONDS + 60)
    Job.objects.filter(pk=job).update(heartbeat=long_ago)
    again = post_import(api(manager), texts)
    assert again.status_code == 202 and again.json()["job"] != job


def test_a_labels_import_sent_again_answers_its_job(api, manager, texts):
    client = api(manager)
    first = post_import(client, texts, content=LABELS, name="export.json", format="label_studio")
    assert first.status_code == 202, first.json()
    again = post_import(client, texts, content=LABELS, name="export.json", format="label_studio")
    assert again.status_code == 200 and again.json() == first.json()
    # the same bytes as an items-only import, or for another labeler, are other imports
    assert post_import(client, texts, content=LABELS, name="export.json").status_code == 202
    other = post_import(client, texts, content=LABELS, name="export.json", format="label_studio", labeler="ana")
    assert other.status_code == 202
    assert Job.objects.filter(project=texts, kind="import").count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_import_sent_twice_at_once_is_queued_once(api, manager, settings):
    """A double click: both requests looked for a job under way before either had made its own."""
    skip_unless_postgresql()
    texts = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    clients = [api(manager), api(manager)]
    answers, errors, start = [], [], threading.Barrier(2)

    def send(client):
        start.wait(timeout=10)
        answers.append(post_import(client, texts))

    with slow_inserts(Job._meta.db_table):  # each job's insert takes half a second: the two meet
        still_running = run_together([in_a_thread(send, client, errors=errors) for client in clients])
    assert not still_running and not errors, errors
    assert sorted(a.status_code for a in answers) == [200, 202]
    assert answers[0].json() == answers[1].json()
    assert Job.objects.filter(project=texts, kind="import").count() == 1
    assert len(stored_uploads(settings)) == 1
