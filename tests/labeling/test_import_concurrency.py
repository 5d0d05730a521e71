"""Two imports of the same content at once, on PostgreSQL: the item both would make is made once, and its
media file is still there afterwards, whichever import's row won."""

import threading

import pytest
from django.core.files.storage import default_storage

from labeling.models import Item, Tag
from labeling.services import imports
from labeling.services.imports import ImportEntry, items_import
from tests.concurrency import (
    DeadlockCause,
    in_a_thread,
    run_together,
    skip_unless_postgresql,
    slow_inserts,
    wait_for_the_other_thread,
)
from tests.conftest import png_bytes


@pytest.mark.django_db(transaction=True)
def test_an_import_that_loses_the_race_for_an_item_leaves_the_winners_file(monkeypatch, project):
    """The first import writes the (content-addressed) file, then stalls before its row; the second finds
    the file there, keeps it and stores its row first. The first then finds the item taken: it used to
    delete the file it had written, which the second's item was showing."""
    skip_unless_postgresql()
    content = png_bytes(seed=7)
    wrote, second_done, errors, reports = threading.Event(), threading.Event(), [], {}
    real_insert = imports._insert

    def insert(**kwargs):
        if threading.current_thread().name == "first":
            wrote.set()  # its file is stored: the second import may come
            second_done.wait(timeout=10)
        return real_insert(**kwargs)

    monkeypatch.setattr(imports, "_insert", insert)

    def run(name):
        entry = ImportEntry(name=f"{name}.png", load=lambda: content)
        reports[name] = items_import(project=project, entries=[entry])

    run_together(
        [
            in_a_thread(run, "first", errors=errors, name="first"),
            in_a_thread(run, "second", after=wrote, then=second_done, errors=errors, name="second"),
        ]
    )
    assert not errors, errors
    assert len(reports["second"].imported) == 1 and len(reports["first"].duplicates) == 1
    (item,) = Item.objects.filter(project=project)
    assert default_storage.exists(item.file.name)
    with default_storage.open(item.file.name, "rb") as handle:
        assert handle.read() == content


@pytest.mark.django_db(transaction=True)
def test_the_same_labels_imported_twice_at_once_both_succeed_with_one_answer(monkeypatch, manager, project):
    """Two managers send the same COCO file at once (one manager's second copy is answered the first
    one's job: tests/labeling/test_retried_imports.py): both jobs reach the answers of the same images at
    once. Each found no answer and no user 'ana' and made them; the second failed on the unique
    constraints (IntegrityError) and stored nothing. The second now waits for the first and finds its
    answers there (unchanged)."""
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    from labeling.choices import JobStatus, Role
    from labeling.models import Annotation, Job, Membership
    from labeling.services import label_imports
    from labeling.services.import_jobs import import_job_create, import_job_run
    from tests.conftest import make_project, make_user

    skip_unless_postgresql()
    detection = make_project(manager, name="Iguanas", task_type="detection", classes=[{"key": "iguana"}])
    entry = ImportEntry(name="a.png", load=lambda: png_bytes(size=(200, 100), seed=3))
    items_import(project=detection, entries=[entry])
    content = json.dumps(
        {
            "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "area": 1}],
            "categories": [{"id": 1, "name": "iguana"}],
        }
    ).encode()
    other = make_user("manager2")
    Membership.objects.create(project=detection, user=other, role=Role.MANAGER)
    jobs = [
        import_job_create(
            project=detection,
            user=user,
            upload=SimpleUploadedFile("instances.json", content),
            fmt="coco",
            labeler="ana",
        )
        for user in (manager, other)
    ]
    both_inside, errors = threading.Barrier(2), []
    real_users = label_imports._users

    def users_when_both_are_inside(*args):
        wait_for_the_other_thread(both_inside, timeout=2)  # with the answers serialized, the other waits for this one
        return real_users(*args)

    monkeypatch.setattr(label_imports, "_users", users_when_both_are_inside)

    def run(job):
        import_job_run(job_id=job.pk)

    run_together([in_a_thread(run, job, errors=errors) for job in jobs])
    assert not errors, errors
    done = Job.objects.filter(pk__in=[j.pk for j in jobs])
    assert [j.status for j in done] == [JobStatus.SUCCEEDED] * 2, [j.errors for j in done]
    assert sorted(j.result["answers"]["created"] for j in done) == [0, 1]
    (answer,) = Annotation.objects.filter(item__project=detection)
    assert answer.labeler.username == "ana"
    assert Item.objects.get(project=detection).n_answers == 1


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_files_in_opposite_orders_both_go_through(caplog, project):
    """Two uploads holding the same two images, in opposite orders, each with a file of its own between
    them: each import stored its first image, then waited for the other's to know whether its second was a
    duplicate. PostgreSQL aborted one as a deadlock victim and its whole batch was lost (the upload answered
    500, a job failed with 'DeadlockDetected'). The victim now runs its batch again and finds both stored."""
    skip_unless_postgresql()
    x, y = png_bytes(seed=11), png_bytes(seed=12)
    orders = {
        "forwards": [("x.png", x), ("slow-a.png", png_bytes(seed=13)), ("y.png", y)],
        "backwards": [("y.png", y), ("slow-b.png", png_bytes(seed=14)), ("x.png", x)],
    }
    both_ready, errors, reports = threading.Barrier(2), [], {}

    def run(name):
        entries = [ImportEntry(name=n, load=lambda data=data: data) for n, data in orders[name]]
        both_ready.wait(timeout=10)
        reports[name] = items_import(project=project, entries=entries)

    # a row named slow-... takes half a second: the two imports meet
    with slow_inserts(Item._meta.db_table, when="NEW.original_name LIKE 'slow-%'"):
        still_running = run_together([in_a_thread(run, name, errors=errors, name=name) for name in orders])
    assert not still_running
    assert not errors, errors
    assert "chosen as a deadlock victim" in caplog.text  # the two did meet
    names = sorted(Item.objects.filter(project=project).values_list("original_name", flat=True))
    assert names == ["slow-a.png", "slow-b.png", "x.png", "y.png"]
    imported = sorted(len(r.imported) for r in reports.values())
    duplicates = sorted(len(r.duplicates) for r in reports.values())
    assert (imported, duplicates) == ([1, 3], [0, 2])
    for item in Item.objects.filter(project=project):
        assert default_storage.exists(item.file.name)


@pytest.mark.django_db
def test_an_upload_whose_second_batch_is_chosen_twice_says_the_first_is_stored(monkeypatch, api, manager, project):
    """Each batch of an upload commits on its own: a victim twice over in the second said (503) that
    nothing was saved, while the first batch's items were there."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import OperationalError

    monkeypatch.setattr(imports, "CHUNK_SIZE", 1)
    real_tag_ids, tries = imports._tag_ids, []

    def deadlocked_in_the_second_batch(**kwargs):
        if Item.objects.exists():  # the first batch is stored
            tries.append(1)
            raise OperationalError("deadlock detected") from DeadlockCause()
        return real_tag_ids(**kwargs)

    monkeypatch.setattr(imports, "_tag_ids", deadlocked_in_the_second_batch)
    files = [SimpleUploadedFile(f"{n}.png", png_bytes(seed=20 + n)) for n in range(2)]
    response = api(manager).post(f"/api/projects/{project.pk}/items/", {"files": files}, format="multipart")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    detail = response.json()["detail"]
    assert detail.startswith("entries 2-2: another import of the same files") and "(entries 1-1 are)" in detail
    assert "none of them was stored" in detail and "nothing is stored twice" in detail
    assert len(tries) == 2  # run once more before giving up
    assert list(Item.objects.values_list("original_name", flat=True)) == ["0.png"]


def _two_names_a_set_holds_in_the_order_they_came():
    """Two tag names that a set holds in the order they were added: in this process, an import tagging
    its files (a, b) and one tagging them (b, a) made their new tags in opposite orders. (Any two names
    can be so in some process: Python salts string hashes per process, a web server's and a worker's.)"""
    names = [f"slow-{n}" for n in range(1000)]
    for n, first in enumerate(names):
        for second in names[n + 1 :]:
            if list({t for t in (first, second)}) != list({t for t in (second, first)}):
                return first, second
    return None


@pytest.mark.django_db(transaction=True)
def test_two_imports_making_the_same_new_tags_in_opposite_orders_do_not_deadlock(caplog, project):
    """Two imports of different files, each tagged with the same two new tags: each made its first tag,
    then waited for the other's row of its second, and PostgreSQL stopped one as a deadlock's victim (its
    batch ran again, a second later; stopped twice, it was lost). Tags are now made in name order: the
    second import waits for the first's and finds them."""
    skip_unless_postgresql()
    pair = _two_names_a_set_holds_in_the_order_they_came()
    assert pair is not None
    tags = {"forwards": list(pair), "backwards": list(reversed(pair))}
    files = {"forwards": png_bytes(seed=31), "backwards": png_bytes(seed=32)}
    both_ready, errors, reports = threading.Barrier(2), [], {}

    def run(name):
        entry = ImportEntry(name=f"{name}.png", load=lambda: files[name], tags=tags[name])
        both_ready.wait(timeout=10)
        reports[name] = items_import(project=project, entries=[entry])

    # a tag named slow-... takes half a second to make: the two imports meet
    with slow_inserts(Tag._meta.db_table, when="NEW.name LIKE 'slow-%'"):
        still_running = run_together([in_a_thread(run, name, errors=errors, name=name) for name in tags])
    assert not still_running
    assert not errors, errors
    assert "chosen as a deadlock victim" not in caplog.text  # the second waited for the first's tags in turn
    assert [len(r.imported) for r in reports.values()] == [1, 1]
    for item in Item.objects.filter(project=project):
        assert sorted(item.tags.values_list("name", flat=True)) == sorted(pair)
