"""Media on S3-compatible object storage, end to end: moto's S3 server answers over HTTP on loopback (as
MinIO or S3 would), the web side (this process) and a real Celery worker started with the S3 variables
(its own, empty disk) store and read every file through the bucket, and what a user fetches comes from it.
Nothing may be written under either side's MEDIA_ROOT."""

import hashlib
import io
import json
import os
import uuid
import zipfile
from urllib.request import ProxyHandler, Request, build_opener

import pyarrow.parquet as pq
import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from labelhub.settings import s3_media_storage
from labeling.models import DatasetVersion, Item
from labeling.services.annotations import annotation_save
from labeling.services.exports import CONTENT_TYPES
from tests.conftest import make_project, png_bytes, wav_bytes
from tests.integration.conftest import send_jobs_to, start_worker, stop_worker, wait_for
from tests.labeling.version_helpers import labelers
from tests.s3_server import bucket_keys, s3_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FILE_SUFFIXES = {
    "parquet": ".parquet",
    "jsonl": ".jsonl",
    "csv": ".csv",
    "imagefolder": "-imagefolder.zip",
    "audiofolder": "-audiofolder.zip",
    "answers": "-answers.jsonl",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server with a bucket of this module's own (tests/s3_server.py)."""
    with s3_server(str(tmp_path_factory.mktemp("aws-home"))) as s3:
        yield s3


@pytest.fixture(autouse=True)
def s3_media(s3, settings, tmp_path):
    """This process's storage is the bucket, configured as labelhub/settings.py configures it from the
    environment; MEDIA_ROOT is a folder that must never appear."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_media_storage(os.environ)}
    settings.MEDIA_ROOT = tmp_path / "web-disk"
    yield
    assert not settings.MEDIA_ROOT.exists(), "the web side wrote media to its own disk"


@pytest.fixture(scope="module")
def s3_worker(s3, django_db_setup, django_db_blocker, tmp_path_factory):
    """A worker process started with the S3 variables, on a disk of its own that must stay empty."""
    disk = tmp_path_factory.mktemp("worker-disk") / "media"
    queue = f"s3-{uuid.uuid4().hex[:8]}"
    worker = start_worker(disk, concurrency=1, queue=queue)
    worker.queue = queue
    yield worker
    stop_worker(worker)
    assert not disk.exists(), "the worker wrote media to its own disk"


@pytest.fixture
def jobs_to_worker(s3_worker, monkeypatch):
    send_jobs_to(monkeypatch, s3_worker.queue)
    return s3_worker


def finished(client, job_id, worker):
    last = {}

    def done():
        last.update(client.get(f"/api/jobs/{job_id}/").json())
        return dict(last) if last["status"] in ("succeeded", "failed") else None

    try:
        job = wait_for(done, timeout=120, message=f"job {job_id}")
    except AssertionError as exc:  # the job as last read and what the worker said: why it never ended
        raise AssertionError(f"{exc}: {last}\n{worker.output()[-4000:]}") from None
    assert job["status"] == "succeeded", (job, worker.output()[-4000:])
    return job


def fetch(url, headers=None):
    """What a browser or HTTP client gets from a URL outside the app (the signed URL): (status, headers, body)."""
    with build_opener(ProxyHandler({})).open(Request(url, headers=headers or {}), timeout=30) as response:
        return response.status, response.headers, response.read()


def followed(response, headers=None):
    """The bytes behind the app's answer: a redirect is followed to object storage, as a client does."""
    assert response.status_code == 302, (response.status_code, getattr(response, "content", b"")[:300])
    return fetch(response["Location"], headers)


def test_images_uploaded_labeled_versioned_mapped_and_trained_on_through_the_bucket(
    api, manager, jobs_to_worker, s3, tmp_path
):
    project = make_project(manager, name="Bucket pets", classes=[{"key": "cat"}, {"key": "dog"}])
    client = api(manager)
    images = {f"up{i}.png": png_bytes(seed=i, value=None if i % 2 else 40 + i) for i in range(8)}
    upload = client.post(
        f"/api/projects/{project.pk}/items/",
        {"files": [SimpleUploadedFile(name, data) for name, data in images.items()]},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(8, 16):
        (folder / f"cmd{i}.png").write_bytes(png_bytes(seed=i, value=None if i % 2 else 40 + i))
    call_command("import_items", str(project.pk), str(folder), stdout=io.StringIO(), stderr=io.StringIO())
    items = list(Item.objects.filter(project=project).order_by("pk"))
    assert len(items) == 16
    assert {item.file.name for item in items} <= bucket_keys(s3)

    # The labeling page's media: the queue hands the labeler the file view's URL, which sends the browser on
    # to a signed URL on the bucket, signed in version 4 (botocore's own choice, version 2, is refused by S3
    # buckets made since 2020).
    (a,) = labelers(project, 1)
    handed = api(a).get(f"/api/projects/{project.pk}/next/").json()
    redirect = api(a).get(handed["file"])
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in redirect["Location"]
    status, headers, body = followed(redirect)
    shown = Item.objects.get(pk=handed["id"])
    assert status == 200 and hashlib.sha256(body).hexdigest() == shown.sha256
    assert headers["Content-Type"] == "image/png"
    # The browser keeps the image and the redirect to it (within the signed URL's hour), as it keeps a file
    # served from a local disk: each view was signed anew, and a new URL is another download.
    assert headers["Cache-Control"] == "private, max-age=3600"
    assert redirect["Cache-Control"] == "private, max-age=1800"

    for i, item in enumerate(items):
        annotation_save(item=item, labeler=a, value=("cat", "dog")[i % 2])

    built = client.post(f"/api/projects/{project.pk}/versions/", {"splits": {"train": 1.0}}, format="json")
    assert built.status_code == 202, built.json()
    job = finished(client, built.json()["job"], jobs_to_worker)
    number = job["result"]["version"]
    detail = client.get(f"/api/projects/{project.pk}/versions/{number}/").json()
    by_format = {artifact["format"]: artifact for artifact in detail["artifacts"]}
    assert {"parquet", "jsonl", "imagefolder"} <= set(by_format)
    for fmt, artifact in by_format.items():
        url = f"/api/projects/{project.pk}/versions/{number}/download?format={fmt}"
        response = client.get(url)
        assert response["X-Content-SHA256"] == artifact["sha256"]
        status, headers, body = followed(response)
        assert hashlib.sha256(body).hexdigest() == artifact["sha256"], fmt
        # Saved under the version's name and with its type, as from a local disk (not "imagefolder.zip").
        stem = f"bucket-pets-v{number}"
        assert headers["Content-Disposition"] == f'attachment; filename="{stem}{FILE_SUFFIXES[fmt]}"', fmt
        assert headers["Content-Type"] == CONTENT_TYPES[fmt], fmt
        # A client holding the file is told so without a trip to the bucket.
        again = client.get(url, HTTP_IF_NONE_MATCH=f'"{artifact["sha256"]}"')
        assert again.status_code == 304, fmt
    exported = client.get(f"/api/projects/{project.pk}/annotations/export?format=parquet")
    assert exported.status_code == 200 and len(pq.read_table(io.BytesIO(b"".join(exported.streaming_content)))) == 16
    _, _, archive = followed(client.get(f"/api/projects/{project.pk}/versions/{number}/download?format=imagefolder"))
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert sorted(names) == sorted(f"train/{('cat', 'dog')[i % 2]}/{item.pk}.png" for i, item in enumerate(items))

    queued = client.post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json").json()
    finished(client, queued["job"], jobs_to_worker)
    emap = client.get(f"/api/projects/{project.pk}/maps/{queued['map']}/").json()
    assert len(emap["points"]) == 16, json.dumps(emap)[:500]

    training = client.post(
        f"/api/projects/{project.pk}/training-jobs/", {"version": "latest", "trainer": "logistic_regression"}
    ).json()
    finished(client, training["job"], jobs_to_worker)
    run = client.get(f"/api/projects/{project.pk}/training-jobs/{training['id']}/").json()
    assert run["status"] == "succeeded" and run["model_run"] is not None


def test_audio_is_streamed_from_the_bucket_with_ranges_and_versioned_as_an_audiofolder(
    api, manager, jobs_to_worker, s3
):
    project = make_project(
        manager, name="Bucket speech", modality="audio", classes=[{"key": "speech"}, {"key": "noise"}]
    )
    client = api(manager)
    clips = {f"clip{i}.wav": wav_bytes(seconds=0.3, freq=200 + 50 * i) for i in range(4)}
    upload = client.post(
        f"/api/projects/{project.pk}/items/",
        {"files": [SimpleUploadedFile(name, data) for name, data in clips.items()]},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    items = list(Item.objects.filter(project=project).order_by("pk"))
    clip = next(c for c in clips.values() if hashlib.sha256(c).hexdigest() == items[0].sha256)
    status, headers, body = followed(client.get(f"/api/items/{items[0].pk}/file"), {"Range": "bytes=100-199"})
    assert status == 206 and body == clip[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(clip)}"
    assert headers["Content-Type"] in ("audio/wav", "audio/x-wav")

    (a,) = labelers(project, 1)
    for i, item in enumerate(items):
        annotation_save(item=item, labeler=a, value=("speech", "noise")[i % 2])
    built = client.post(f"/api/projects/{project.pk}/versions/", {"splits": {"train": 1.0}}, format="json")
    number = finished(client, built.json()["job"], jobs_to_worker)["result"]["version"]
    _, _, archive = followed(client.get(f"/api/projects/{project.pk}/versions/{number}/download?format=audiofolder"))
    listed = zipfile.ZipFile(io.BytesIO(archive))
    wavs = [n for n in listed.namelist() if n.endswith(".wav")]
    assert len(wavs) == 4
    assert {hashlib.sha256(listed.read(n)).hexdigest() for n in wavs} == {item.sha256 for item in items}

    # Deleted in the admin (the app archives instead), a version and then its project leave the bucket.
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw-root"))
    version = DatasetVersion.objects.get(project=project, number=number)
    assert bucket_keys(s3, version.storage_prefix + "/")
    assert admin.post(f"/admin/labeling/datasetversion/{version.pk}/delete/", {"post": "yes"}).status_code == 302
    wait_for(lambda: not bucket_keys(s3, version.storage_prefix + "/"), timeout=60, message="the version's files")
    assert bucket_keys(s3, f"items/{project.pk}/")  # the items stay with their project
    assert admin.post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"}).status_code == 302
    wait_for(lambda: not bucket_keys(s3, f"items/{project.pk}/"), timeout=60, message="the project's files")


def test_a_coco_zip_import_stores_its_images_in_the_bucket_and_removes_the_upload(api, manager, jobs_to_worker, s3):
    project = make_project(
        manager, name="Bucket iguanas", modality="image", task_type="detection", classes=[{"key": "iguana"}]
    )
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "area": 1, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "iguana"}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations/instances.json", json.dumps(coco))
        archive.writestr("images/a.png", png_bytes(size=(200, 100), seed=3))
    buffer.seek(0)
    buffer.name = "coco.zip"
    client = api(manager)
    response = client.post(
        f"/api/projects/{project.pk}/imports/",
        {"file": buffer, "format": "coco", "labeler": "ana"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    job = finished(client, response.json()["job"], jobs_to_worker)
    assert job["result"]["imported"] == 1, job
    item = Item.objects.get(project=project)
    assert item.file.name in bucket_keys(s3)
    status, _, body = followed(client.get(f"/api/items/{item.pk}/file"))
    assert body == png_bytes(size=(200, 100), seed=3)
    # the worker removes the upload after it records the job's success (a retry needs it until then)
    wait_for(lambda: not bucket_keys(s3, "imports/"), timeout=60, message="the uploaded zip removed from the bucket")


def test_a_build_that_fails_removes_its_files_from_the_bucket(manager, s3, monkeypatch):
    from labeling.models import Job
    from labeling.services import versions
    from tests.labeling.version_helpers import add_texts, answer, text_project

    project = text_project(manager, name="Bucket reviews")
    (a,) = labelers(project, 1)
    for i, item in enumerate(add_texts(project, [f"review {i}" for i in range(6)])):
        answer(item, a, ("cat", "dog")[i % 2])
    stored = []

    def publish_fails(**kwargs):
        stored.extend(bucket_keys(s3, f"datasets/{project.pk}/"))
        raise RuntimeError("the database went away while publishing")

    monkeypatch.setattr(versions, "_publish", publish_fails)
    job = versions.version_build_start(project=project, user=manager, recipe={})
    with pytest.raises(RuntimeError):
        versions.version_build_run(job_id=job.pk)
    assert Job.objects.get(pk=job.pk).status == "failed"
    assert any(key.endswith("manifest.parquet") for key in stored)  # the attempt had written its files
    assert bucket_keys(s3, f"datasets/{project.pk}/") == set()


def test_a_large_file_read_from_the_bucket_is_downloaded_to_disk_not_held_in_memory(s3):
    """A worker opening an import upload (up to LABELHUB_MAX_IMPORT_BYTES, 2 GB) downloaded it whole into
    memory (django-storages' default); past 16 MB it lands in a temporary file instead."""
    import tracemalloc

    from django.core.files.storage import default_storage

    size = 20 * 1024 * 1024
    s3["client"].put_object(Bucket=s3["bucket"], Key="imports/large/upload.zip", Body=b"PK" + bytes(size - 2))
    assert default_storage.exists("imports/large/upload.zip")  # the client made (and its models read) first
    tracemalloc.start()
    try:
        with default_storage.open("imports/large/upload.zip", "rb") as handle:
            assert handle.read(2) == b"PK"
            held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    default_storage.delete("imports/large/upload.zip")
    assert held < size // 4, f"{held:,} bytes held in memory for a {size:,}-byte file"


def test_a_deleted_folder_leaves_the_bucket_a_thousand_objects_a_request(s3):
    """A deleted project's files went one DELETE request per object: hours of a worker for a million items.
    They go in batches now (DeleteObjects), and a project whose id starts the same keeps its own."""
    from django.core.files.storage import default_storage

    from labeling.services.projects import stored_folders_delete

    for i in range(12):
        s3["client"].put_object(Bucket=s3["bucket"], Key=f"items/424242/{i % 3:02d}/{i}.png", Body=b"png")
    s3["client"].put_object(Bucket=s3["bucket"], Key="items/4242420/00/kept.png", Body=b"png")
    calls = []
    events = default_storage.connection.meta.client.meta.events
    events.register("before-call.s3", lambda model, **kwargs: calls.append(model.name), unique_id="count")
    try:
        stored_folders_delete(folders=["items/424242"])
    finally:
        events.unregister("before-call.s3", unique_id="count")
    assert bucket_keys(s3, "items/424242/") == set()
    assert bucket_keys(s3, "items/4242420/") == {"items/4242420/00/kept.png"}
    assert calls.count("DeleteObjects") == 1 and "DeleteObject" not in calls, calls


def test_a_version_build_fetches_each_image_once_several_at_a_time(manager, s3):
    """Opening each image through the storage was two HEADs and a GET, one image after another: at 20 ms a
    request, a million images' imagefolder ran 17 hours, past the 6-hour task limit."""
    import threading

    from django.core.files.storage import default_storage

    from labeling.services.imports import ImportEntry, items_import
    from tests.labeling.version_helpers import build

    project = make_project(manager, name="Bucket many", classes=[{"key": "cat"}, {"key": "dog"}])
    entries = [ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=100 + i)) for i in range(24)]
    ids = items_import(project=project, entries=entries).imported
    (a,) = labelers(project, 1)
    for i, pk in enumerate(ids):
        annotation_save(item=Item.objects.get(pk=pk), labeler=a, value=("cat", "dog")[i % 2])
    calls, under_way, lock = [], [0, 0], threading.Lock()  # GETs under way now, and at most
    events = default_storage.connection.meta.client.meta.events

    def sent(model, **kwargs):
        with lock:
            calls.append(model.name)
            if model.name == "GetObject":
                under_way[0] += 1
                under_way[1] = max(under_way)

    def answered(model, **kwargs):
        if model.name == "GetObject":
            with lock:
                under_way[0] -= 1

    events.register("before-call.s3", sent, unique_id="sent")
    events.register("after-call.s3", answered, unique_id="answered")
    try:
        version = build(project, manager, {"splits": {"train": 1.0}})
    finally:
        events.unregister("before-call.s3", unique_id="sent")
        events.unregister("after-call.s3", unique_id="answered")
    assert calls.count("GetObject") == 24 and "HeadObject" not in calls, calls
    assert under_way[1] > 1  # several at once
    archive = zipfile.ZipFile(io.BytesIO(default_storage.open(f"{version.storage_prefix}/imagefolder.zip").read()))
    expected = {f"train/{('cat', 'dog')[i % 2]}/{pk}.png": pk for i, pk in enumerate(ids)}
    assert sorted(archive.namelist()) == sorted(expected)
    for name, pk in expected.items():  # each image under its own item's name, fetched out of order or not
        assert hashlib.sha256(archive.read(name)).hexdigest() == Item.objects.get(pk=pk).sha256, name


def test_a_build_missing_an_image_in_the_bucket_fails_naming_it(manager, s3):
    from labeling.models import Job
    from labeling.services import versions
    from labeling.services.imports import ImportEntry, items_import

    project = make_project(manager, name="Bucket gaps", classes=[{"key": "cat"}, {"key": "dog"}])
    entries = [ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=200 + i)) for i in range(3)]
    ids = items_import(project=project, entries=entries).imported
    (a,) = labelers(project, 1)
    for pk in ids:
        annotation_save(item=Item.objects.get(pk=pk), labeler=a, value="cat")
    gone = Item.objects.get(pk=ids[1]).file.name
    s3["client"].delete_object(Bucket=s3["bucket"], Key=gone)
    job = versions.version_build_start(project=project, user=manager, recipe={})
    with pytest.raises(FileNotFoundError):
        versions.version_build_run(job_id=job.pk)
    job = Job.objects.get(pk=job.pk)
    assert job.status == "failed" and gone in json.dumps(job.errors), job.errors
    original = Item.objects.get(pk=ids[1]).original_name
    assert (
        f"the file of item {ids[1]} ({original}, stored as {gone}) is no longer in the media storage"
        in job.errors[0]["reason"]
    )
    assert bucket_keys(s3, f"datasets/{project.pk}/") == set()


def test_items_whose_object_is_gone_are_left_out_of_their_vectors_and_named(manager, s3):
    from analysis.models import Embedding
    from analysis.services.embeddings import embeddings_compute
    from labeling.services.imports import ImportEntry, items_import

    project = make_project(manager, name="Bucket holes")
    entries = [ImportEntry(name=f"hole-{i}.png", load=lambda i=i: png_bytes(seed=300 + i)) for i in range(4)]
    items = [Item.objects.get(pk=pk) for pk in items_import(project=project, entries=entries).imported]
    s3["client"].delete_object(Bucket=s3["bucket"], Key=items[2].file.name)
    missing = []
    done = embeddings_compute(project=project, embedder_name="image-basic", items=items, missing=missing)
    assert done == 3 and missing == [items[2]]
    assert set(Embedding.objects.values_list("item_id", flat=True)) == {items[0].pk, items[1].pk, items[3].pk}
    with pytest.raises(FileNotFoundError, match=rf"item {items[2].pk} \(hole-2\.png\)"):
        embeddings_compute(project=project, embedder_name="image-basic", items=items[2:])


def test_a_deleted_items_object_leaves_the_bucket_once_no_item_names_it(manager, s3, monkeypatch):
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import stored_files_delete

    sent = []
    monkeypatch.setattr("labeling.services.jobs.task_send", lambda name, *args: sent.append((name, *args)))
    project = make_project(manager, name="Bucket deletions")
    entries = [ImportEntry(name=f"del-{i}.png", load=lambda i=i: png_bytes(seed=400 + i)) for i in range(3)]
    a, b, c = (Item.objects.get(pk=pk) for pk in items_import(project=project, entries=entries).imported)
    Item.objects.filter(pk__in=[a.pk, b.pk]).delete()  # committed (no test transaction): the message goes
    # b's bytes imported again before the worker runs: the new item names b's object, which stays
    items_import(project=project, entries=[ImportEntry(name="back.png", load=lambda: png_bytes(seed=401))])
    ((task, names),) = sent
    assert task == "labeling.stored_files_remove" and sorted(names) == sorted([a.file.name, b.file.name])
    stored_files_delete(files=names)
    keys = bucket_keys(s3, f"items/{project.pk}/")
    assert a.file.name not in keys and b.file.name in keys and c.file.name in keys


def test_which_versions_hold_items_is_read_from_the_manifest_in_the_bucket(manager, s3):
    """A deletion reads each version's Parquet manifest (its item column, a row group at a time) from the
    bucket as from the disk, and a purge refuses nothing then."""
    from labeling.services.item_deletion import VersionsHoldItems, items_delete, versions_holding
    from tests.labeling.version_helpers import add_texts, answer, build, text_project

    project = text_project(manager, name="Bucket purge")
    (a,) = labelers(project, 1)
    items = add_texts(project, [f"review {i}" for i in range(6)])
    for item in items[:4]:
        answer(item, a, "cat")
    build(project, manager)
    ids = [item.pk for item in items]
    plan = {"rewrite": ["answers", "csv", "jsonl", "parquet"], "remove": []}
    assert versions_holding(project=project, item_ids=ids) == [{"version": 1, "items": 4, "item_ids": ids[:4], **plan}]
    with pytest.raises(VersionsHoldItems):
        items_delete(project=project, item_ids=ids[3:])
    assert items_delete(project=project, item_ids=ids[3:], purge=True)["purged"] is True
    version = DatasetVersion.objects.get(project=project)
    assert version.info["purged"][0]["items"] == [ids[3]]
    # the version's files were rewritten in the bucket without the purged item's text, the old ones deleted
    keys = bucket_keys(s3, f"{version.storage_prefix}/")
    assert sorted(a.name for a in version.artifacts.all()) == sorted(keys)
    for key in keys:
        with default_storage.open(key, "rb") as handle:
            data = handle.read()
        text = str(pq.read_table(io.BytesIO(data)).to_pylist()) if key.endswith(".parquet") else data.decode()
        assert "review 3" not in text and ("review 2" in text or key.endswith("answers.jsonl")), key
