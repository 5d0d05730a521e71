"""Media whose bytes are imported more than once: two copies within a project, the same file in two
projects, one of them deleted, imported again. Stored files are named by project and content
(items/<project>/<sha[:2]>/<sha><ext>), so no two projects share a stored file and deleting one project's
files never takes another's; an item whose file is really gone answers a 410 naming it, not a 500."""

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from labeling.models import Item, Job
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import stored_folders_delete
from labeling.services.versions import version_build_run, version_build_start
from tests.conftest import make_project, png_bytes, wav_bytes
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db


def upload(client, project, files):
    payload = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    return client.post(f"/api/projects/{project.pk}/items/", payload, format="multipart")


def served(client, item_id):
    response = client.get(f"/api/items/{item_id}/file")
    assert response.status_code == 200, (item_id, response.status_code)
    return b"".join(response.streaming_content) if response.streaming else response.content


def audio_project(manager, name):
    return make_project(manager, name=name, modality="audio", task_type="transcription")


def test_the_same_wav_in_two_projects_is_served_for_both(api, manager):
    first, second = audio_project(manager, "Speech A"), audio_project(manager, "Speech B")
    data = wav_bytes(seconds=0.4)
    client = api(manager)
    a = upload(client, first, [("a.wav", data)]).json()
    b = upload(client, second, [("b.wav", data), ("b-again.wav", data)]).json()
    assert b["duplicates"] == [{"name": "b-again.wav", "item": b["imported"][0]}]
    for item_id in a["imported"] + b["imported"]:
        assert served(client, item_id) == data


def test_import_items_of_the_same_wav_into_two_projects(api, manager, tmp_path):
    first, second = audio_project(manager, "Speech A"), audio_project(manager, "Speech B")
    data = wav_bytes(seconds=0.4)
    for folder, names in (("one", ["a.wav"]), ("two", ["a.wav", "b.wav"])):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_bytes(data)
    call_command("import_items", str(first.pk), str(tmp_path / "one"))
    call_command("import_items", str(second.pk), str(tmp_path / "two"))
    client = api(manager)
    items = list(Item.objects.order_by("pk"))
    assert [item.project_id for item in items] == [first.pk, second.pk]
    assert items[0].file.name != items[1].file.name
    for item in items:
        assert served(client, item.pk) == data


def test_deleting_a_project_keeps_the_same_image_of_another_and_it_imports_again(
    api, manager, admin_client, job_messages, django_capture_on_commit_callbacks
):
    first, second = make_project(manager, name="Pets A"), make_project(manager, name="Pets B")
    data = png_bytes(seed=7)
    client = api(manager)
    (a,) = upload(client, first, [("a.png", data)]).json()["imported"]
    (b,) = upload(client, second, [("b.png", data)]).json()["imported"]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/labeling/project/{first.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Item.objects.filter(pk=a).exists()
    for name, *args in job_messages:
        if name == "labeling.storage_delete":
            stored_folders_delete(folders=args[0])
    assert served(client, b) == data
    # the same bytes imported again into a new project, and again into the one that kept them
    third = make_project(manager, name="Pets C")
    (c,) = upload(client, third, [("c.png", data)]).json()["imported"]
    assert served(client, c) == data
    assert upload(client, second, [("b2.png", data)]).json()["duplicates"] == [{"name": "b2.png", "item": b}]
    assert served(client, b) == data


def test_a_media_file_gone_from_storage_is_410_naming_the_item(api, manager):
    project = audio_project(manager, "Speech")
    client = api(manager)
    (item_id,) = upload(client, project, [("a.wav", wav_bytes(seconds=0.4))]).json()["imported"]
    default_storage.delete(Item.objects.get(pk=item_id).file.name)
    response = client.get(f"/api/items/{item_id}/file")
    assert response.status_code == 410
    detail = response.json()["detail"]
    assert f"item {item_id}" in detail and "a.wav" in detail


def imagefolder(project, user):
    import io
    import zipfile

    version = build(project, user, {"splits": {"train": 1.0}})
    artifact = version.artifacts.get(format="imagefolder")
    with default_storage.open(artifact.name, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    return {name: archive.read(name) for name in archive.namelist()}


def test_versions_of_two_projects_with_the_same_image_each_ship_it(api, manager):
    first, second = make_project(manager, name="Pets A"), make_project(manager, name="Pets B")
    data = png_bytes(seed=9)
    client = api(manager)
    (a,) = upload(client, first, [("a.png", data)]).json()["imported"]
    (b,) = upload(client, second, [("b.png", data), ("b-again.png", data)]).json()["imported"]
    for project, item_id in ((first, a), (second, b)):
        (labeler,) = labelers(project, 1, prefix=f"lab{project.pk}-")
        answer(Item.objects.get(pk=item_id), labeler, "cat")
    assert imagefolder(first, manager) == {f"train/cat/{a}.png": data}
    assert imagefolder(second, manager) == {f"train/cat/{b}.png": data}


def test_a_build_whose_media_file_is_gone_names_the_item(manager):
    project = make_project(manager, name="Pets")
    data = png_bytes(seed=11)
    report = items_import(project=project, entries=[ImportEntry(name="gone.png", load=lambda: data)])
    item = Item.objects.get(pk=report.imported[0])
    (labeler,) = labelers(project, 1)
    answer(item, labeler, "cat")
    default_storage.delete(item.file.name)
    job = version_build_start(project=project, user=manager, recipe={"splits": {"train": 1.0}})
    with pytest.raises(FileNotFoundError):
        version_build_run(job_id=job.pk)
    job = Job.objects.get(pk=job.pk)
    assert job.status == "failed"
    (error,) = job.errors
    assert (
        f"the file of item {item.pk} (gone.png, stored as {item.file.name}) is no longer in the media storage"
        in error["reason"]
    )
    assert str(default_storage.location) not in error["reason"]  # no server path


def test_an_items_file_carries_its_checksum_as_etag_and_a_client_holding_it_gets_304(api, manager):
    """A training job pulling the same images epoch after epoch asks again with If-None-Match: the file's
    bytes never change under its SHA-256 (stored files are named by it), so the answer is a 304 without the
    bytes; a client holding other bytes (another ETag) gets the file."""
    project = audio_project(manager, "Speech ETag")
    data = wav_bytes(seconds=0.4)
    client = api(manager)
    item_id = upload(client, project, [("a.wav", data)]).json()["imported"][0]
    sha = Item.objects.get(pk=item_id).sha256
    assert sha == hashlib.sha256(data).hexdigest()
    response = client.get(f"/api/items/{item_id}/file")
    assert response.status_code == 200 and response["ETag"] == f'"{sha}"'
    assert client.get(f"/api/items/{item_id}/file", HTTP_IF_NONE_MATCH=f'"{sha}"').status_code == 304
    assert client.get(f"/api/items/{item_id}/file", HTTP_IF_NONE_MATCH=f'W/"{sha}"').status_code == 304
    other = client.get(f"/api/items/{item_id}/file", HTTP_IF_NONE_MATCH='"0123"')
    assert other.status_code == 200 and b"".join(other.streaming_content) == data
