"""A label import's chunk locks its items in id order; a labeler answering an item they do not hold
(?next=1) while they hold a lower-numbered one locks the answered item, then the held one. PostgreSQL
aborted one of the two as a deadlock victim: the import job failed with 'OperationalError: deadlock
detected' and the chunk's answers were not stored."""

import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError

from labeling.choices import JobStatus
from labeling.models import Annotation, Item, Job
from labeling.services import imports, label_imports
from labeling.services.import_jobs import import_job_create, import_job_run
from tests.concurrency import (
    DeadlockCause,
    answer_with_next,
    hold,
    in_a_thread,
    pause_the_first_answer_holding_its_item,
    run_together,
    skip_unless_postgresql,
    wait_for_the_other_thread,
    wait_until_another_backend_waits_for_a_lock,
)
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


@pytest.mark.django_db(transaction=True)
def test_a_label_import_and_an_answer_locking_the_same_two_items_both_go_through(
    monkeypatch, api, project, manager, labeler
):
    skip_unless_postgresql()
    held, answered = make_items(project, 2)
    hold(project, labeler, held)  # the lower id of the two
    # The importer is a new user, made inside the chunk's transaction: a retry must not reuse that row.
    job = label_job(
        project, manager, [ls_task(1, held.original_name, "new@x.org"), ls_task(2, answered.original_name, "new@x.org")]
    )
    statuses, errors = {}, []
    # the import locked the held item, waits for this one
    locked, waited = pause_the_first_answer_holding_its_item(monkeypatch, wait_until_another_backend_waits_for_a_lock)

    def answer():
        statuses["answer"] = answer_with_next(api(labeler), answered, "dog").status_code

    def run_import():
        import_job_run(job_id=job.pk)

    still_running = run_together(
        [in_a_thread(answer, then=locked, errors=errors), in_a_thread(run_import, after=locked, errors=errors)]
    )
    assert not still_running
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
    skip_unless_postgresql()
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
            wait_for_the_other_thread(both_made_one, timeout=5)
        return user

    monkeypatch.setattr(label_imports, "_users", users_in_the_threads_order)
    monkeypatch.setattr(type(User.objects), "create_user", create_user)

    def run(job):
        import_job_run(job_id=job.pk)

    still_running = run_together([in_a_thread(run, job, errors=errors, name=order) for order, job in jobs.items()])
    assert not still_running
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
            raise OperationalError("deadlock detected") from DeadlockCause()
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
