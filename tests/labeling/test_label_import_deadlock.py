"""A label import's chunk locks its items in id order; a labeler answering an item they do not hold
(?next=1) while they hold a lower-numbered one locks the answered item, then the held one. PostgreSQL
aborted one of the two as a deadlock victim: the import job failed with 'OperationalError: deadlock
detected' and the chunk's answers were not stored."""

import contextlib
import json
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection, connections

from labeling.api import labeling as labeling_api
from labeling.choices import JobStatus
from labeling.models import Annotation, Item, Job, Reservation
from labeling.services import imports, label_imports
from labeling.services import jobs as jobs_service
from labeling.services.import_jobs import import_job_create, import_job_run
from labeling.services.queue import queue_next
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items


def ls_task(task_id, name, *emails):
    """A Label Studio task on the item ``name``, answered 'cat' by each person named by e-mail."""
    choice = {"value": {"choices": ["cat"]}, "id": "c", "from_name": "c", "to_name": "image", "type": "choices"}
    annotations = [
        {"id": 10 * task_id + n, "completed_by": {"id": 100 + n, "email": email}, "result": [choice]}
        for n, email in enumerate(emails)
    ]
    return {"id": task_id, "data": {"image": f"/data/upload/3/{name}"}, "annotations": annotations}


def label_job(project, manager, tasks):
    return import_job_create(
        project=project,
        user=manager,
        upload=SimpleUploadedFile("export.json", json.dumps(tasks).encode()),
        fmt="label_studio",
    )


def _wait_for_a_lock_wait(timeout=10):
    """Wait until another backend waits for a row lock (the import, for the item this answer holds)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_locks, not pg_stat_activity: that one is read once per transaction, and this one is open.
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_label_import_and_an_answer_locking_the_same_two_items_both_go_through(
    monkeypatch, api, project, manager, labeler
):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    monkeypatch.setattr(jobs_service, "task_send_on_commit", lambda *args: None)  # this test runs the job
    held, answered = make_items(project, 2)
    queue_next(project=project, labeler=labeler)
    Reservation.objects.filter(labeler=labeler).update(item=held)  # the lower id of the two
    # The importer is a new user, made inside the chunk's transaction: a retry must not reuse that row.
    job = label_job(
        project, manager, [ls_task(1, held.original_name, "new@x.org"), ls_task(2, answered.original_name, "new@x.org")]
    )
    locked, waited, statuses, errors = threading.Event(), [], {}, []
    real = labeling_api.annotation_submit_and_next_locked

    def submit_once_the_import_waits_for_the_answered_item(**kwargs):
        if not locked.is_set():  # the first try only
            locked.set()
            waited.append(_wait_for_a_lock_wait())  # the import locked the held item, waits for this one
        return real(**kwargs)

    monkeypatch.setattr(
        labeling_api, "annotation_submit_and_next_locked", submit_once_the_import_waits_for_the_answered_item
    )

    def answer():
        try:
            response = api(labeler).post(
                f"/api/items/{answered.pk}/annotations/?next=1", {"value": "dog"}, format="json"
            )
            statuses["answer"] = response.status_code
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            locked.set()
            connections.close_all()

    def run_import():
        try:
            assert locked.wait(timeout=10)
            import_job_run(job_id=job.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer), threading.Thread(target=run_import)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert waited == [True]  # the two did meet: the import waited while the answer held its item
    assert not errors, errors
    job.refresh_from_db()
    assert (job.status, job.errors) == (JobStatus.SUCCEEDED, [])
    assert job.result["answers"] == {"created": 2, "revised": 0, "unchanged": 0}
    assert job.result["labelers"] == ["new@x.org"]
    assert statuses == {"answer": 201}
    importer = get_user_model().objects.get(email="new@x.org")
    assert sorted(Annotation.objects.filter(labeler=importer).values_list("item_id", flat=True)) == [
        held.pk,
        answered.pk,
    ]
    assert Item.objects.get(pk=answered.pk).n_answers == 2  # the labeler's and the imported one
    assert Item.objects.get(pk=held.pk).n_answers == 1


@pytest.mark.django_db(transaction=True)
def test_two_label_imports_making_the_same_two_users_the_other_way_round_both_go_through(
    monkeypatch, caplog, project, manager
):
    """Two Label Studio exports by the same two new people, into two projects at once: each import made
    one of them, then waited for the other's (the same username). The victim's try had made a user that
    its rollback took away; run again with that user remembered, its answers failed on the foreign key."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    monkeypatch.setattr(jobs_service, "task_send_on_commit", lambda *args: None)  # this test runs the jobs
    other = make_project(manager, name="Other")
    jobs = {}
    for target, order in ((project, "forwards"), (other, "backwards")):
        make_items(target, 1)
        jobs[order] = label_job(target, manager, [ls_task(1, "i0.txt", "a@x.org", "b@x.org")])
    real_users, both_made_one, errors = label_imports._users, threading.Barrier(2), []
    User = get_user_model()
    real_create = type(User.objects).create_user

    def users_in_the_threads_order(annotators, keys, cache, project):
        keys = sorted(keys, reverse=threading.current_thread().name == "backwards")
        return real_users(annotators, keys, cache, project)

    def create_user(manager, username, *args, **kwargs):
        user = real_create(manager, username, *args, **kwargs)
        if not getattr(threading.current_thread(), "waited", False):  # each thread's first user only
            threading.current_thread().waited = True
            with contextlib.suppress(threading.BrokenBarrierError):
                both_made_one.wait(timeout=5)
        return user

    monkeypatch.setattr(label_imports, "_users", users_in_the_threads_order)
    monkeypatch.setattr(type(User.objects), "create_user", create_user)

    def run(job):
        try:
            import_job_run(job_id=job.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,), name=order) for order, job in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert "chosen as a deadlock victim" in caplog.text  # the two did meet
    done = Job.objects.filter(pk__in=[j.pk for j in jobs.values()])
    assert [(j.status, j.errors) for j in done] == [(JobStatus.SUCCEEDED, [])] * 2
    assert sorted(User.objects.filter(email__endswith="@x.org").values_list("username", flat=True)) == [
        "a@x.org",
        "b@x.org",
    ]
    for target in (project, other):
        assert sorted(Annotation.objects.filter(item__project=target).values_list("labeler__username", flat=True)) == [
            "a@x.org",
            "b@x.org",
        ]


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.django_db
def test_a_label_import_chunk_chosen_twice_fails_the_job_saying_that_chunk_is_not_saved(monkeypatch, project, manager):
    """Two chunks of two tasks; the second is a deadlock's victim on both tries. The first chunk's answers
    stay; the job fails saying which tasks' answers were not saved and that a retry finishes it."""
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    make_items(project, 4)
    job = label_job(project, manager, [ls_task(n + 1, f"i{n}.txt", "ana@x.org") for n in range(4)])
    tries = []
    real = label_imports._users

    def deadlocked_in_the_second_chunk(annotators, keys, cache, project):
        real(annotators, keys, cache, project)
        if Annotation.objects.exists():  # the first chunk is stored
            tries.append(1)
            raise OperationalError("deadlock detected") from _Deadlock()
        return cache

    monkeypatch.setattr(label_imports, "_users", deadlocked_in_the_second_chunk)
    import_job_run(job_id=job.pk)
    job = Job.objects.get(pk=job.pk)
    assert len(tries) == 2  # run once more before giving up
    assert job.status == JobStatus.FAILED
    reason = job.errors[-1]["reason"]
    assert "entries 3-4 of 4" in reason and "none of their answers was saved" in reason, reason
    assert "(those of entries 1-2 are stored)" in reason and "Retry the job" in reason, reason
    assert Annotation.objects.count() == 2
    assert get_user_model().objects.filter(email="ana@x.org").count() == 1
