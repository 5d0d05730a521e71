"""A project or version deleted in the admin (the app itself archives projects and never deletes a version)
takes its stored files with it: a worker removes them once the deletion commits."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import DatasetVersion, Item
from labeling.services.import_jobs import import_job_create
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import stored_files_delete, stored_folders_delete
from tests.conftest import make_project, png_bytes
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db


def run_sent(job_messages, captured):
    """Send what the commit sends, then run the storage removals among it, as the worker would."""
    for callback in captured:
        callback()
    for name, *args in job_messages:
        if name == "labeling.storage_delete":
            stored_folders_delete(folders=args[0])


def test_deleting_a_version_then_its_project_in_the_admin_removes_their_files(
    settings, manager, admin_client, job_messages, django_capture_on_commit_callbacks
):
    project = make_project(manager, name="Pets")
    report = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(3)]
    )
    (a,) = labelers(project, 1)
    for i, pk in enumerate(report.imported):
        answer(Item.objects.get(pk=pk), a, ("cat", "dog")[i % 2])
    version = build(project, manager)
    media = settings.MEDIA_ROOT
    version_folder = media / version.storage_prefix
    assert (version_folder / "manifest.parquet").exists()
    assert len(list((media / "items" / str(project.pk)).rglob("*.png"))) == 3

    with django_capture_on_commit_callbacks() as captured:
        response = admin_client.post(f"/admin/labeling/datasetversion/{version.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not DatasetVersion.objects.filter(pk=version.pk).exists()
    run_sent(job_messages, captured)
    assert not version_folder.exists()
    assert (media / "items" / str(project.pk)).exists()  # the project's items stay with it

    pending = import_job_create(
        project=project, user=manager, upload=SimpleUploadedFile("more.jsonl", b'{"path": "x.png"}\n')
    )
    assert default_storage.exists(pending.params["upload"])
    job_messages.clear()
    with django_capture_on_commit_callbacks() as captured:
        response = admin_client.post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    run_sent(job_messages, captured)
    assert not (media / "items" / str(project.pk)).exists()
    assert not (media / "datasets" / str(project.pk)).exists()
    assert not default_storage.exists(pending.params["upload"])  # an import that never ran


def test_a_removal_the_storage_refused_is_tried_again(settings, monkeypatch):
    """Once the rows are gone nothing names the files: a storage away for a moment lost them for good."""
    from labeling import tasks
    from labeling.services import versions

    folder = settings.MEDIA_ROOT / "items" / "77"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"png")
    real, attempts = versions.storage_delete_tree, []

    def flaky(prefix):
        attempts.append(prefix)
        if len(attempts) == 1:
            raise OSError("the storage did not answer")
        real(prefix)

    monkeypatch.setattr("labeling.services.projects.storage_delete_tree", flaky)
    tasks.storage_delete.apply(args=[["items/77"]])  # eager: a retry runs at once
    assert attempts == ["items/77", "items/77"] and not folder.exists()


# --- an item deleted (the admin, its delete action, a shell's queryset) --------------------------------------


def run_item_removals(job_messages, captured):
    """Send what the commit sends, then run the item file removals among it, as the worker would."""
    for callback in captured:
        callback()
    sent = [args[0] for name, *args in job_messages if name == "labeling.stored_files_remove"]
    for names in sent:
        stored_files_delete(files=names)
    return sent


def pets(manager, n=3, name="Pets"):
    project = make_project(manager, name=name)
    report = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(n)]
    )
    return project, [Item.objects.get(pk=pk) for pk in report.imported]


def test_an_item_deleted_in_the_admin_takes_its_file_once_the_deletion_commits(
    manager, admin_client, job_messages, django_capture_on_commit_callbacks
):
    project, (a, b, c) = pets(manager)
    with django_capture_on_commit_callbacks() as captured:
        response = admin_client.post(f"/admin/labeling/item/{a.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302 and not Item.objects.filter(pk=a.pk).exists()
        assert default_storage.exists(a.file.name)  # nothing is removed before the commit
    run_item_removals(job_messages, captured)
    assert not default_storage.exists(a.file.name)
    assert default_storage.exists(b.file.name) and default_storage.exists(c.file.name)

    job_messages.clear()
    with django_capture_on_commit_callbacks() as captured:
        response = admin_client.post(
            "/admin/labeling/item/", {"action": "delete_selected", "_selected_action": [b.pk, c.pk], "post": "yes"}
        )
    assert response.status_code == 302 and not Item.objects.filter(project=project).exists()
    run_item_removals(job_messages, captured)
    assert not default_storage.exists(b.file.name) and not default_storage.exists(c.file.name)


def test_a_file_another_item_still_names_stays(manager, job_messages, django_capture_on_commit_callbacks):
    """Stored names are the project's and the content's: the same bytes imported again (here in the very
    transaction that deleted the item) reuse the file, which stays."""
    from django.db import transaction

    project, (a, b, _) = pets(manager)
    with django_capture_on_commit_callbacks() as captured, transaction.atomic():
        Item.objects.filter(pk__in=[a.pk, b.pk]).delete()
        (again,) = items_import(
            project=project, entries=[ImportEntry(name="again.png", load=lambda: png_bytes(seed=0))]
        ).imported
    assert Item.objects.get(pk=again).file.name == a.file.name
    (sent,) = run_item_removals(job_messages, captured)
    assert sorted(sent) == sorted([a.file.name, b.file.name])
    assert not default_storage.exists(b.file.name)
    with default_storage.open(a.file.name, "rb") as handle:
        assert handle.read() == png_bytes(seed=0)


def test_a_file_imported_again_before_the_worker_removes_it_stays(
    manager, job_messages, django_capture_on_commit_callbacks
):
    project, (a, _, _) = pets(manager)
    with django_capture_on_commit_callbacks() as captured:
        a.delete()
    for callback in captured:
        callback()
    # the same bytes come back (the import finds the file there and keeps it) before a worker runs the removal
    (again,) = items_import(
        project=project, entries=[ImportEntry(name="back.png", load=lambda: png_bytes(seed=0))]
    ).imported
    assert Item.objects.get(pk=again).file.name == a.file.name
    for name, *args in job_messages:
        if name == "labeling.stored_files_remove":
            stored_files_delete(files=args[0])
    assert default_storage.exists(a.file.name)


def test_a_deletion_rolled_back_removes_nothing(manager, job_messages, django_capture_on_commit_callbacks):
    from django.db import transaction

    project, (a, b, _) = pets(manager)
    pk = a.pk
    with django_capture_on_commit_callbacks() as captured:
        try:
            with transaction.atomic():
                a.delete()
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
        b.delete()  # the next deletion, committed, sends its own file and only it
    assert run_item_removals(job_messages, captured) == [[b.file.name]]
    assert default_storage.exists(a.file.name) and Item.objects.filter(pk=pk).exists()
    assert not default_storage.exists(b.file.name)


def test_a_deleted_project_sends_its_folders_not_every_item_file(
    manager, admin_client, job_messages, django_capture_on_commit_callbacks
):
    project, items = pets(manager)
    with django_capture_on_commit_callbacks() as captured:
        admin_client.post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"})
    assert run_item_removals(job_messages, captured) == []
    run_sent(job_messages, [])
    assert not any(default_storage.exists(item.file.name) for item in items)


def test_an_item_file_removal_the_storage_refused_is_tried_again(manager, monkeypatch):
    from labeling import tasks

    _, (a, _, _) = pets(manager)
    Item.objects.filter(pk=a.pk).delete()
    real, attempts = default_storage.delete, []

    def flaky(name):
        attempts.append(name)
        if len(attempts) == 1:
            raise OSError("the storage did not answer")
        real(name)

    monkeypatch.setattr(default_storage, "delete", flaky)
    tasks.stored_files_remove.apply(args=[[a.file.name]])  # eager: a retry runs at once
    assert attempts == [a.file.name, a.file.name] and not default_storage.exists(a.file.name)


# --- a removal meeting an import of the same content --------------------------------------------------------


def test_a_removal_between_an_import_finding_the_file_and_storing_its_row_leaves_the_item_its_file(
    settings, manager, job_messages, django_capture_on_commit_callbacks, monkeypatch
):
    """The import finds the deleted item's file still there and reuses it; the worker's removal runs before
    the import's row exists (no item holds the content, so it deletes the file). The import looks again
    under the files' lock and writes the bytes back: its item has its media."""
    from labeling.services import imports

    project, (a, _, _) = pets(manager)
    with django_capture_on_commit_callbacks() as captured:
        a.delete()
    for callback in captured:
        callback()
    (sent,) = [args[0] for name, *args in job_messages if name == "labeling.stored_files_remove"]
    real = imports._insert_rows

    def removal_first(**kwargs):
        stored_files_delete(files=sent)  # the worker, between the import's look and its rows
        return real(**kwargs)

    monkeypatch.setattr(imports, "_insert_rows", removal_first)
    (again,) = items_import(
        project=project, entries=[ImportEntry(name="back.png", load=lambda: png_bytes(seed=0))]
    ).imported
    name = Item.objects.get(pk=again).file.name
    assert name == a.file.name and default_storage.exists(name)
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == png_bytes(seed=0)
    stored = sorted(p.name for p in (settings.MEDIA_ROOT / "items" / str(project.pk)).rglob("*.png"))
    held = sorted(f.rsplit("/", 1)[1] for f in Item.objects.filter(project=project).values_list("file", flat=True))
    assert stored == held  # written back once, under its own name


@pytest.mark.django_db(transaction=True)
def test_an_import_reusing_a_file_waits_for_a_removal_checking_it(manager, job_messages, monkeypatch):
    """PostgreSQL, two transactions: the worker has checked that no item holds the content and is about to
    delete the file when an import of the same bytes, which found the file there, stores its row. The
    import waits for the removal (the files' lock), then finds the file gone and writes it back; without
    the wait its row committed first and the removal deleted the file under it."""
    import threading

    from tests.concurrency import (
        in_a_thread,
        run_together,
        skip_unless_postgresql,
        wait_until_another_backend_waits_for_a_lock,
    )

    skip_unless_postgresql()
    project, (a, _, _) = pets(manager)
    name = a.file.name
    Item.objects.filter(pk=a.pk).delete()  # no transaction: the removal message went at once
    (sent,) = [args[0] for n, *args in job_messages if n == "labeling.stored_files_remove"]
    real_delete = default_storage.delete
    checked, go, outcome, errors = threading.Event(), threading.Event(), {}, []

    def paused_delete(stored):
        checked.set()  # the check is done: nothing holds the content
        assert go.wait(timeout=20)
        real_delete(stored)

    monkeypatch.setattr(default_storage, "delete", paused_delete)

    def remove():
        stored_files_delete(files=sent)

    def import_again():
        assert checked.wait(timeout=10)
        report = items_import(project=project, entries=[ImportEntry(name="back.png", load=lambda: png_bytes(seed=0))])
        outcome["imported"] = report.imported

    def watch():
        assert checked.wait(timeout=10)
        outcome["waited"] = wait_until_another_backend_waits_for_a_lock(timeout=5)
        go.set()

    stuck = run_together(
        [
            in_a_thread(remove, errors=errors, then=go),
            in_a_thread(import_again, errors=errors),
            in_a_thread(watch, errors=errors, then=go),
        ]
    )
    assert not stuck and not errors
    assert outcome["waited"]  # the import waited for the removal to finish
    (again,) = outcome["imported"]
    assert Item.objects.get(pk=again).file.name == name and default_storage.exists(name)
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == png_bytes(seed=0)
