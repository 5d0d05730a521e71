"""A project or version deleted in the admin (the app itself archives projects and never deletes a version)
takes its stored files with it: a worker removes them once the deletion commits."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import DatasetVersion, Item
from labeling.services.import_jobs import import_job_create
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import stored_folders_delete
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
