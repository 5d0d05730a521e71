"""A purge (deleting items that dataset versions hold, for privacy or a revoked licence) takes the items'
content out of those versions' stored files too (labeling.services.version_purge), not only their files'
URLs: rows dropped from every manifest and the raw answers, media archives removed, checksums and counts
kept honest, and a failure leaving the version as it was with nothing deleted."""

import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.test import Client

from labeling.models import DatasetVersion, Item, VersionArtifact
from labeling.services import item_deletion, version_purge
from labeling.services.recipes import formats_for
from tests.labeling.test_item_deletion import images, url
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db

SECRET = "Jane Roe, 12 Privacy Lane, phone 555-0199"


@pytest.fixture
def texts(manager):
    """A text project of four answered reviews, the first holding a person's details, in two versions."""
    project = text_project(manager)
    a, b = labelers(project, 2)
    items = add_texts(project, [f"great product, ship to {SECRET}", "terrible", "fine I guess", "loved it"])
    for item, label in zip(items, ("cat", "dog", "cat", "other"), strict=True):
        answer(item, a, label, comment=f"about {item.text}")
        answer(item, b, label)
    v1 = build(project, manager)
    v2 = build(project, manager)
    return project, items, (v1, v2)


def downloads(api, user, project, version):
    """Every download of the version the API offers (the formats that fit the project, the raw answers and
    the streamed manifest), as {name: bytes}; a format it answers 410 for is left out."""
    base = f"/api/projects/{project.pk}/versions/{version.number}"
    out = {}
    for fmt in [*formats_for(project), "answers"]:
        response = api(user).get(f"{base}/download?format={fmt}")
        if response.status_code == 410:
            continue
        assert response.status_code == 200, (fmt, response.content)
        out[fmt] = b"".join(response.streaming_content) if response.streaming else response.content
        assert response["X-Content-SHA256"] == hashlib.sha256(out[fmt]).hexdigest(), fmt
    response = api(user).get(f"{base}/manifest")
    out["manifest"] = b"".join(response.streaming_content)
    assert response["X-Content-SHA256"] == hashlib.sha256(out["manifest"]).hexdigest()
    return out


def readable(name, data):
    """A file's text as a reader gets it (Parquet decoded)."""
    if name.endswith("parquet"):
        return json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), ensure_ascii=False, default=str)
    return data.decode("utf-8")


def stored(version):
    """{storage name: bytes} of every file under the version's storage folder."""
    out = {}

    def walk(prefix):
        folders, files = default_storage.listdir(prefix)
        for name in files:
            with default_storage.open(f"{prefix}/{name}", "rb") as handle:
                out[f"{prefix}/{name}"] = handle.read()
        for folder in folders:
            walk(f"{prefix}/{folder}")

    walk(version.storage_prefix)
    return out


def lists(value):
    """Every list within a JSON value."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in lists(v)]
    if isinstance(value, list):
        return [value, *(x for v in value for x in lists(v))]
    return []


def purge(api, manager, project, items):
    return api(manager).post(url(project), {"items": [i.pk for i in items], "purge": True}, format="json")


def test_a_purged_text_is_in_none_of_the_versions_downloads_nor_stored_files(
    api, manager, texts, django_capture_on_commit_callbacks
):
    project, items, versions = texts
    before = {v.number: downloads(api, manager, project, v) for v in versions}
    assert all(SECRET in readable(n, d) for v in before.values() for n, d in v.items())  # it was there

    with django_capture_on_commit_callbacks(execute=True):
        response = purge(api, manager, project, items[:1])
    assert response.status_code == 200, response.content
    assert not Item.objects.filter(pk=items[0].pk).exists()
    for version in versions:
        version = DatasetVersion.objects.get(pk=version.pk)
        after = downloads(api, manager, project, version)
        assert set(after) == set(before[version.number])  # a text project has no archive to remove
        for name, data in after.items():
            assert SECRET not in readable(name, data), name
        for name, data in stored(version).items():  # the old files are gone from the storage too
            assert SECRET not in readable(name, data), name
        # the manifest's contract holds: one item per line with its fields, the other three items kept
        rows = [json.loads(line) for line in after["manifest"].decode().splitlines()]
        assert [r["item"] for r in rows] == [i.pk for i in items[1:]]
        for row in rows:
            assert {"item", "sha256", "label", "split", "agreement", "n_annotations", "tags", "source", "file"} <= set(
                row
            )
        assert after["manifest"] == after["jsonl"]
        # the rows kept are the rows built, byte for byte
        built = before[version.number]["manifest"].decode().splitlines(keepends=True)
        assert after["manifest"].decode() == "".join(line for line in built if json.loads(line)["item"] != items[0].pk)
        assert [r["item"] for r in pq.read_table(io.BytesIO(after["parquet"])).to_pylist()] == [i.pk for i in items[1:]]
        assert f"\n{items[0].pk}," not in after["csv"].decode()
        assert all(json.loads(line)["item"] != items[0].pk for line in after["answers"].decode().splitlines())


def test_a_purge_keeps_the_versions_checksums_counts_and_content_hash_honest(api, manager, texts):
    project, items, (v1, v2) = texts
    counts = v1.counts
    assert purge(api, manager, project, items[:1]).status_code == 200
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/1/").json()
    files = downloads(api, manager, project, v1)
    assert detail["content_hash"] == hashlib.sha256(files["manifest"]).hexdigest() != v1.content_hash
    for artifact in detail["artifacts"]:
        data = files[artifact["format"]]
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
        assert artifact["size"] == len(data)
        lines = data.decode().splitlines() if artifact["format"] != "parquet" else None
        n = pq.read_metadata(io.BytesIO(data)).num_rows if lines is None else len(lines)
        assert artifact["n_rows"] == n - (artifact["format"] == "csv"), artifact["format"]  # csv: its header
    assert detail["counts"]["items"] == counts["items"] - 1 == 3
    assert detail["counts"]["labeled"] == counts["labeled"] - 1
    assert detail["counts"]["classes"] == {"cat": 1, "dog": 1, "other": 1}
    assert sum(detail["counts"]["splits"].values()) == 3
    assert sum(sum(c.values()) for c in detail["counts"]["split_classes"].values()) == 3
    assert detail["purged"] == [
        {
            "items": 1,
            "date": detail["purged"][0]["at"][:10],
            "at": detail["purged"][0]["at"],
            "by": manager.username,
            "rows": 1,
            "rewritten": ["answers", "csv", "jsonl", "parquet"],
            "removed": [],
        }
    ]
    # the ETag follows the new content hash
    manifest = f"/api/projects/{project.pk}/versions/1/manifest"
    stale = api(manager).get(manifest, HTTP_IF_NONE_MATCH=f'"{v1.content_hash}"')
    assert stale.status_code == 200
    assert api(manager).get(manifest, HTTP_IF_NONE_MATCH=f'"{detail["content_hash"]}"').status_code == 304
    # v2 against v1: both lost the same row, nothing else changed
    diff = api(manager).get(f"/api/projects/{project.pk}/versions/2/diff?against=1").json()
    assert (diff["n_added"], diff["n_removed"], diff["n_relabeled"]) == (0, 0, 0)


def test_the_versions_answers_count_purged_items_without_listing_them_and_their_file_answers_410(api, manager, texts):
    project, items, _ = texts
    gone = items[:3]
    assert purge(api, manager, project, gone).status_code == 200
    listed = api(manager).get(f"/api/projects/{project.pk}/versions/")
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/latest/")
    for body in (listed.json()["results"][0], detail.json()):
        assert body["purged"][0]["items"] == 3
        assert body["info"]["purged"][0]["items"] == 3
    ids = sorted(i.pk for i in gone)
    assert DatasetVersion.objects.get(project=project, number=1).info["purged"][0]["items"] == ids  # kept there
    for body in (listed.json(), detail.json()):
        assert ids not in lists(body)  # but not in the answers

    for item in gone:
        response = api(manager).get(f"/api/items/{item.pk}/file")
        assert response.status_code == 410
        assert f"Item {item.pk} was purged on" in response.json()["detail"]
    assert api(manager).get(f"/api/items/{items[3].pk + 1000}/file").status_code == 404


def test_a_preview_says_what_a_purge_would_rewrite_and_remove(api, manager, project, labeler, labeler2):
    a, b = images(project, 2)
    for item in (a, b):
        answer(item, labeler, "cat")
        answer(item, labeler2, "cat")
    build(project, manager)
    preview = api(manager).post(url(project), {"items": [a.pk], "preview": True}, format="json").json()
    assert preview["versions"] == [
        {"version": 1, "items": 1, "rewrite": ["answers", "csv", "jsonl", "parquet"], "remove": ["imagefolder"]}
    ]


def test_a_purge_removes_the_image_archive_holding_copies_of_the_files(
    api, manager, project, labeler, labeler2, django_capture_on_commit_callbacks
):
    a, b = images(project, 2)
    for item in (a, b):
        answer(item, labeler, "cat")
        answer(item, labeler2, "cat")
    version = build(project, manager)
    archive = VersionArtifact.objects.get(version=version, format="imagefolder").name
    assert default_storage.exists(archive)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge(api, manager, project, [a]).status_code == 200
    assert not default_storage.exists(archive)
    response = api(manager).get(f"/api/projects/{project.pk}/versions/1/download?format=imagefolder")
    assert response.status_code == 410
    assert "imagefolder file was removed when 1 item was purged on" in response.json()["detail"]
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/1/").json()
    assert "imagefolder" not in [x["format"] for x in detail["artifacts"]]
    assert detail["purged"][0]["removed"] == ["imagefolder"]
    rows = [json.loads(line) for line in b"".join(api(manager).get(detail["manifest"]).streaming_content).splitlines()]
    assert [r["item"] for r in rows] == [b.pk]


@pytest.mark.parametrize("failing", ["csv", "answers"])
def test_a_rewrite_that_fails_leaves_the_old_files_and_deletes_nothing(api, manager, texts, monkeypatch, failing):
    project, items, (v1, v2) = texts
    artifacts = {v.pk: list(VersionArtifact.objects.filter(version=v).values()) for v in (v1, v2)}
    files = {v.pk: stored(v) for v in (v1, v2)}
    real = version_purge._filter_lines

    def flaky(name, out, purged, **kwargs):  # v1 rewritten, v2 fails half way through
        if name == f"{v2.storage_prefix}/{version_purge.FILENAMES[failing]}":
            out.write(b"half a file")
            raise OSError("the bucket stopped answering")
        return real(name, out, purged, **kwargs)

    monkeypatch.setattr(version_purge, "_filter_lines", flaky)
    response = purge(api, manager, project, items[:1])
    assert response.status_code == 503
    assert f"version 2's {failing} file could not be rewritten" in response.json()["detail"]
    assert "nothing was deleted" in response.json()["detail"]
    assert Item.objects.filter(pk=items[0].pk).exists()
    for version in (v1, v2):
        fresh = DatasetVersion.objects.get(pk=version.pk)
        assert "purged" not in fresh.info and fresh.content_hash == version.content_hash
        assert list(VersionArtifact.objects.filter(version=version).values()) == artifacts[version.pk]
        assert stored(version) == files[version.pk]  # the old files readable, no new one left behind
        assert (
            SECRET
            in b"".join(
                api(manager).get(f"/api/projects/{project.pk}/versions/{version.number}/manifest").streaming_content
            ).decode()
        )


def test_a_purge_run_as_a_job_rewrites_the_versions_and_a_failing_one_says_why(api, manager, texts, monkeypatch):
    project, items, (v1, _) = texts
    real, failing = version_purge._filter_parquet, [True]

    def flaky(*args, **kwargs):
        if failing:
            raise OSError("no disk")
        return real(*args, **kwargs)

    monkeypatch.setattr(version_purge, "_filter_parquet", flaky)
    job = item_deletion.items_delete_start(project=project, user=manager, item_ids=[items[0].pk], purge=True)
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    assert "version 1's parquet file could not be rewritten" in job.errors[-1]["reason"]
    assert Item.objects.filter(pk=items[0].pk).exists()
    failing.clear()
    job = item_deletion.items_delete_start(project=project, user=manager, item_ids=[items[0].pk], purge=True)
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["deleted"]["versions"][0]["rewrite"] == [
        "answers",
        "csv",
        "jsonl",
        "parquet",
    ]
    assert (
        SECRET
        not in b"".join(api(manager).get(f"/api/projects/{project.pk}/versions/1/manifest").streaming_content).decode()
    )


def test_a_purge_of_versions_too_large_to_rewrite_in_the_request_runs_as_a_job(api, manager, texts, monkeypatch):
    project, items, _ = texts
    monkeypatch.setattr(item_deletion, "REWRITE_IN_REQUEST", 7)  # the two versions hold 4 rows each
    preview = api(manager).post(url(project), {"items": [items[0].pk], "preview": True}, format="json").json()
    assert preview["runs_as_job"] is True
    response = purge(api, manager, project, items[:1])
    assert response.status_code == 202
    assert Item.objects.filter(pk=items[0].pk).exists()  # the worker deletes it
    one = api(manager).delete(f"/api/items/{items[1].pk}/?purge=true")
    assert one.status_code == 202 and "job" in one.json()
    # without a purge nothing is rewritten: refused in the request, as before
    assert api(manager).post(url(project), {"items": [items[1].pk]}, format="json").status_code == 409
    monkeypatch.setattr(item_deletion, "REWRITE_IN_REQUEST", 8)
    assert purge(api, manager, project, items[2:3]).status_code == 200


def test_a_segments_versions_purge_drops_the_items_segments_and_their_file_names(api, manager):
    """segments.csv is rewritten without the purged clips' segments (their file names with them); the RTTM
    (named by file, not item) is removed, answering 410; the shape counts lose the clips' segments."""
    from tests.labeling.test_segment_label_import import import_clips, segments_project, version_artifacts

    project = segments_project(manager)
    items = import_clips(project, manager)
    built = version_artifacts(project, manager, items)
    assert "my clips/q 1.wav" in built["segments_csv"].decode()
    version = DatasetVersion.objects.get(project=project)
    counts = version.counts
    gone = [items["my clips/q 1.wav"], items["a/q.wav"]]  # 1 music segment; 2 speech, 1 music
    assert purge(api, manager, project, gone).status_code == 200
    base = f"/api/projects/{project.pk}/versions/1"
    response = api(manager).get(f"{base}/download?format=rttm")
    assert response.status_code == 410 and "rttm file was removed" in response.json()["detail"]
    segments = b"".join(api(manager).get(f"{base}/download?format=segments_csv").streaming_content).decode()
    lines = segments.splitlines()
    assert lines[0] == "item,start,end,label,support,file"
    assert len(lines) == 1 + 6  # b/q.wav 2, c/q.flac 2, q 1.wav 1, -take.wav 1
    assert "my clips" not in segments and "a/q.wav" not in segments
    assert not {line.split(",")[0] for line in lines[1:]} & {str(i.pk) for i in gone}
    detail = api(manager).get(f"{base}/").json()
    assert detail["counts"]["items"] == counts["items"] - 2
    assert detail["counts"]["shapes"] == counts["shapes"] - 4
    assert detail["counts"]["classes"] == {
        "music": counts["classes"]["music"] - 2,
        "speech": counts["classes"]["speech"] - 2,
    }
    assert {a["format"]: a["n_rows"] for a in detail["artifacts"]}["segments_csv"] == 6
    assert detail["purged"][0]["removed"] == ["rttm"]


def test_a_detection_versions_purge_removes_its_coco_and_yolo_files_and_their_downloads_answer_410(
    api, manager, django_capture_on_commit_callbacks
):
    """COCO and YOLO name the images by file path, not item id: a purge removes them from the storage (as
    the image archive and RTTM) instead of rewriting them, and their downloads answer 410 saying so."""
    from tests.conftest import make_project
    from tests.labeling.queue_helpers import make_items
    from tests.labeling.test_shape_versions import CLASSES, boxes

    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    first, second = make_items(project, 2, stats={"width": 200, "height": 100})
    (a,) = labelers(project, 1)
    answer(first, a, boxes((0.1, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.7, 0.2, 0.2, "rock")))
    answer(second, a, boxes((0.5, 0.5, 0.25, 0.5, "rock")))
    version = build(project, manager)
    base = f"/api/projects/{project.pk}/versions/1"
    files = {a.format: a.name for a in version.artifacts.all() if a.format in ("coco", "yolo")}
    assert sorted(files) == ["coco", "yolo"] and all(default_storage.exists(name) for name in files.values())
    coco = json.loads(b"".join(api(manager).get(f"{base}/download?format=coco").streaming_content))
    assert second.original_name in {image["file_name"] for image in coco["images"]}
    counts = version.counts

    with django_capture_on_commit_callbacks(execute=True):
        assert purge(api, manager, project, [second]).status_code == 200
    for fmt, name in files.items():
        assert not default_storage.exists(name), fmt
        response = api(manager).get(f"{base}/download?format={fmt}")
        assert response.status_code == 410, fmt
        detail = response.json()["detail"]
        assert f"version 1's {fmt} file was removed when 1 item was purged on" in detail
        assert "it named their files" in detail and "build a new version for this format" in detail
    detail = api(manager).get(f"{base}/").json()
    assert not {"coco", "yolo"} & {a["format"] for a in detail["artifacts"]}
    assert detail["purged"][0]["removed"] == ["coco", "yolo"]
    assert detail["counts"]["shapes"] == counts["shapes"] - 1 and detail["counts"]["classes"]["rock"] == 1
    assert sum(n for split in detail["counts"]["split_classes"].values() for n in split.values()) == 2
    rows = [json.loads(line) for line in b"".join(api(manager).get(detail["manifest"]).streaming_content).splitlines()]
    assert [r["item"] for r in rows] == [first.pk]


def test_a_transcription_versions_purge_counts_the_distinct_transcripts_left(api, manager):
    """Two clips transcribed "hello", one "call me at 555-0199": purging the latter leaves 1 distinct
    transcript, and it is in no download; purging one "hello" leaves the count as it is."""
    from tests.conftest import make_project

    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    (a,) = labelers(project, 1)
    items = add_texts(project, ["clip one", "clip two", "clip three"])
    for item, said in zip(items, ("hello", "hello", "call me at 555-0199"), strict=True):
        answer(item, a, said)
    version = build(project, manager)
    assert version.counts["distinct_labels"] == 2
    assert purge(api, manager, project, items[2:]).status_code == 200
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/1/").json()
    assert detail["counts"]["distinct_labels"] == 1 and detail["counts"]["items"] == 2
    for name, data in downloads(api, manager, project, version).items():
        assert "555-0199" not in readable(name, data), name
    assert purge(api, manager, project, items[:1]).status_code == 200
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/1/").json()
    assert detail["counts"]["distinct_labels"] == 1 and detail["counts"]["items"] == 1
    assert [p["items"] for p in detail["purged"]] == [1, 1]


def test_purge_versions_rewrites_versions_purged_before_purges_rewrote_files(
    api, manager, texts, django_capture_on_commit_callbacks
):
    """A purge recorded the old way (ids in the version's info, its files untouched) still left the text in
    the version: ``manage.py purge_versions`` takes it out as a purge now does, once."""
    from django.core.management import call_command

    project, items, (v1, v2) = texts
    for version in (v1, v2):
        version.info = {**version.info, "purged": [{"items": [items[0].pk], "at": "2026-01-02T03:04:05+00:00"}]}
        version.save(update_fields=["info"])
    Item.objects.filter(pk=items[0].pk).delete()
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/1/").json()
    assert detail["purged"][0]["rows"] is None
    assert SECRET in readable("manifest", downloads(api, manager, project, v1)["manifest"])

    out = io.StringIO()
    call_command("purge_versions", "--dry-run", stdout=out)
    assert out.getvalue().count("would be rewritten") == 2
    assert SECRET in readable("manifest", downloads(api, manager, project, v1)["manifest"])
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_versions", stdout=out)
    assert "v1: 1 row removed" in out.getvalue() and "rewrote 2 versions" in out.getvalue()
    for version in (v1, v2):
        version = DatasetVersion.objects.get(pk=version.pk)
        for name, data in [*downloads(api, manager, project, version).items(), *stored(version).items()]:
            assert SECRET not in readable(name, data), name
        assert version.counts["items"] == 3
        (record,) = version.info["purged"]
        assert record["rows"] == 1 and record["at"] == "2026-01-02T03:04:05+00:00" and "applied" in record
    response = api(manager).get(f"/api/items/{items[0].pk}/file")
    assert response.status_code == 410 and "purged on 2026-01-02" in response.json()["detail"]
    out = io.StringIO()
    call_command("purge_versions", stdout=out)
    assert "rewrote 0 versions" in out.getvalue()


def test_purge_versions_deletes_the_files_a_purge_superseded_that_are_still_stored(
    api, manager, texts, monkeypatch, django_capture_on_commit_callbacks
):
    """Deleting the superseded files after the purge's commit failed (the storage answered an error): they
    hold the purged text. ``manage.py purge_versions`` finds and deletes them; the version's files stay."""
    from django.core.management import call_command

    project, items, (v1, _) = texts
    real, failing = item_deletion.files_delete, [True]
    monkeypatch.setattr(item_deletion, "files_delete", lambda names: None if failing else real(names))
    with django_capture_on_commit_callbacks(execute=True):
        assert purge(api, manager, project, items[:1]).status_code == 200
    failing.clear()
    leftovers = [n for n, data in stored(v1).items() if SECRET in readable(n, data)]
    assert leftovers
    out = io.StringIO()
    call_command("purge_versions", stdout=out)
    assert "rewrote 0 versions" in out.getvalue() and "deleted 8 superseded files" in out.getvalue()
    assert not [n for n, data in stored(v1).items() if SECRET in readable(n, data)]
    assert downloads(api, manager, project, v1)["manifest"].count(b"\n") == 3


def test_finding_the_purge_of_an_items_file_is_the_databases_work_on_postgresql(manager, texts):
    """The 410 of a purged item's file is found by the database (JSON containment: one row comes back),
    not by loading every purged version's list of ids into the web process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    project, items, (v1, v2) = texts
    item_deletion.items_delete(project=project, item_ids=[items[0].pk], purge=True, user=manager)
    item_deletion.items_delete(project=project, item_ids=[items[1].pk], purge=True, user=manager)
    with CaptureQueriesContext(connection) as queries:
        version, purge = item_deletion.purged_version_of(user=manager, item_id=items[0].pk)
    assert version.pk == v2.pk and purge["at"] == purges_of(v2)[0]["at"] and "items" not in purge
    if connection.vendor == "postgresql":
        (query,) = queries.captured_queries
        assert "@>" in query["sql"] and "LIMIT 1" in query["sql"]
    assert item_deletion.purged_version_of(user=manager, item_id=items[2].pk) is None
    assert item_deletion.purged_version_of(user=manager, item_id=None) is None


def purges_of(version):
    return DatasetVersion.objects.get(pk=version.pk).info["purged"]


def test_a_purged_items_file_answers_410_reading_none_of_the_purged_item_ids(api, manager, texts, monkeypatch):
    """A trainer pulling a version's files from an old manifest asks for each purged item's file: each 410
    loaded the whole info of the version that purged it (on SQLite, of every version with a purge), 50,000
    ids and all, to find the date of the purge."""
    from django.db.models import JSONField

    project, items, (v1, v2) = texts
    assert purge(api, manager, project, items[:1]).status_code == 200
    many = list(range(10**7, 10**7 + 50_000))
    for version in DatasetVersion.objects.filter(project=project):
        version.info["purged"].append({**version.info["purged"][0], "items": many, "at": "2026-12-01T00:00:00+00:00"})
        version.save(update_fields=["info"])
    at = purges_of(v2)[0]["at"][:10]
    loaded, real = [], JSONField.from_db_value

    def spy(self, value, expression, connection):
        loaded.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(JSONField, "from_db_value", spy)
    first = api(manager).get(f"/api/items/{items[0].pk}/file")
    bulk = api(manager).get(f"/api/items/{10**7 + 49_999}/file")
    assert first.status_code == bulk.status_code == 410
    assert first.json()["detail"] == (
        f"Item {items[0].pk} was purged on {at} (deleted for privacy or licence reasons); version 2 held it, "
        "and its file is gone for good."
    )
    assert bulk.json()["detail"].startswith(f"Item {10**7 + 49_999} was purged on 2026-12-01 ")
    assert "version 2 held it" in bulk.json()["detail"]
    assert api(manager).get(f"/api/items/{10**7 + 50_000}/file").status_code == 404
    assert loaded and max(len(value or "") for value in loaded) < 5_000, max(len(value or "") for value in loaded)


def test_a_deletion_preview_reads_none_of_the_versions_purged_item_ids(api, manager, texts, monkeypatch):
    """Which versions hold the selected items is read from their manifests; the preview (and a deletion's
    check) loaded each version's info too, every id purged from it, and used none of it."""
    from django.db.models import JSONField

    project, items, _ = texts
    assert purge(api, manager, project, items[:1]).status_code == 200
    many = list(range(10**7, 10**7 + 50_000))
    for version in DatasetVersion.objects.filter(project=project):
        version.info["purged"].append({**version.info["purged"][0], "items": many, "at": "2026-12-01T00:00:00+00:00"})
        version.save(update_fields=["info"])
    loaded, real = [], JSONField.from_db_value

    def spy(self, value, expression, connection):
        loaded.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(JSONField, "from_db_value", spy)
    preview = api(manager).post(url(project), {"items": [items[1].pk], "preview": True}, format="json")
    assert preview.status_code == 200 and [v["version"] for v in preview.json()["versions"]] == [1, 2]
    refused = api(manager).post(url(project), {"items": [items[1].pk]}, format="json")
    assert refused.status_code == 409 and "v1 holds 1, v2 holds 1" in refused.json()["detail"]
    assert loaded and max(len(value or "") for value in loaded) < 5_000, max(len(value or "") for value in loaded)


def test_listing_versions_reads_none_of_the_purged_item_ids_and_answers_as_before(api, manager, texts, monkeypatch):
    """A version's info keeps its purged item ids (for the 410 of their files): a purge of 50,000 items put
    50,000 ids there, and the versions list (API and page) loaded them for every version it listed, only to
    answer how many. The list answers each version as its detail does, the purges counted, and what the
    database sends for it is small."""
    from django.db import connection
    from django.db.models import JSONField
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    project, items, _ = texts
    assert purge(api, manager, project, items[:1]).status_code == 200
    many = list(range(10**7, 10**7 + 50_000))
    for version in DatasetVersion.objects.filter(project=project):
        version.info["purged"].append({**version.info["purged"][0], "items": many, "at": "2026-12-01T00:00:00+00:00"})
        version.save(update_fields=["info"])
    base = f"/api/projects/{project.pk}/versions/"
    details = [api(manager).get(f"{base}{number}/").json() for number in (2, 1)]
    assert [p["items"] for p in details[0]["purged"]] == [1, 50_000]

    loaded, real = [], JSONField.from_db_value

    def spy(self, value, expression, connection):
        loaded.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(JSONField, "from_db_value", spy)
    client = Client()
    client.force_login(manager)
    with CaptureQueriesContext(connection) as queries:
        listed = api(manager).get(base)
        page = client.get(f"/projects/{project.pk}/versions/")
    assert listed.status_code == 200 and page.status_code == 200
    assert [json.dumps(body) for body in listed.json()["results"]] == [json.dumps(body) for body in details]
    assert b'data-version="1"' in page.content and b'data-version="2"' in page.content
    assert loaded and max(len(value or "") for value in loaded) < 5_000, max(len(value or "") for value in loaded)
    assert not [q for q in queries.captured_queries if str(10**7 + 49_999) in q["sql"]]


def test_one_versions_detail_page_downloads_and_diff_read_none_of_the_purged_item_ids(api, manager, texts, monkeypatch):
    """The list read each purge's ids as a count; one version's detail (API and page), its downloads, its
    manifest and its diff still loaded its whole info, 50,000 purged ids and
    all, for each request (and its parent's, read beside it). They answer as before and what the database
    sends for them is small."""
    from django.db import connection
    from django.db.models import JSONField
    from django.test.utils import CaptureQueriesContext

    project, items, _ = texts
    assert purge(api, manager, project, items[:1]).status_code == 200
    many = list(range(10**7, 10**7 + 50_000))
    for version in DatasetVersion.objects.filter(project=project):
        version.info["purged"].append({**version.info["purged"][0], "items": many, "at": "2026-12-01T00:00:00+00:00"})
        version.save(update_fields=["info"])
    base = f"/api/projects/{project.pk}/versions/"
    listed = api(manager).get(base).json()["results"]  # the list reads the purges counted already
    stored = DatasetVersion.objects.get(project=project, number=2).info

    loaded, real = [], JSONField.from_db_value

    def spy(self, value, expression, connection):
        loaded.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(JSONField, "from_db_value", spy)
    client = Client()
    client.force_login(manager)
    with CaptureQueriesContext(connection) as queries:
        details = [api(manager).get(f"{base}{ref}/") for ref in ("2", "1", "latest")]
        page = client.get(f"/projects/{project.pk}/versions/2/")
        diff_page = client.get(f"/projects/{project.pk}/versions/2/diff/")
        diff = api(manager).get(f"{base}2/diff?against=1")
        manifest = api(manager).get(f"{base}latest/manifest")
        parquet = api(manager).get(f"{base}2/download?format=parquet")
        answers = api(manager).get(f"{base}2/download?format=answers")
    assert [d.status_code for d in details] == [200, 200, 200]
    assert [json.dumps(d.json()) for d in details] == [json.dumps(v) for v in (*listed, listed[0])]
    assert [p["items"] for p in details[0].json()["purged"]] == [1, 50_000]
    assert (page.status_code, diff_page.status_code, diff.status_code, manifest.status_code) == (200, 200, 200, 200)
    assert parquet.status_code == 200 and answers.status_code == 200
    text = page.content.decode()
    assert f"{stored['n_answered_items']} answered items" in text and f"{stored['n_decisions']} SME decisions" in text
    assert "50,000" in text or "50000" in text  # the purge, counted
    assert loaded and max(len(value or "") for value in loaded) < 5_000, max(len(value or "") for value in loaded)
    assert not [q for q in queries.captured_queries if str(10**7 + 49_999) in q["sql"]]


def test_the_dashboard_drift_training_and_model_runs_read_none_of_a_versions_purged_item_ids(
    api, manager, texts, monkeypatch
):
    """The dashboard, the drift page, the training page and the training jobs and model runs of the API
    name a version (its number, counts, date): they loaded its whole info with it, the ids of every item
    purged from it included."""
    from django.db.models import JSONField

    from analysis.services.training import model_run_create

    project, items, _ = texts
    assert purge(api, manager, project, items[:1]).status_code == 200
    many = list(range(10**7, 10**7 + 50_000))
    for version in DatasetVersion.objects.filter(project=project):
        version.info["purged"].append({**version.info["purged"][0], "items": many, "at": "2026-12-01T00:00:00+00:00"})
        version.save(update_fields=["info"])
    base = f"/api/projects/{project.pk}"
    training = {"version": "2", "trainer": "logistic_regression"}
    started = api(manager).post(f"{base}/training-jobs/", training, format="json")
    assert started.status_code == 202, started.content
    kept = Item.objects.filter(project=project).order_by("pk")
    model_run_create(
        project=project,
        name="resnet",
        predictions=[{"item": i.pk, "label": "cat"} for i in kept],
        dataset_version=DatasetVersion.objects.get(project=project, number=2),
    )

    loaded, real = [], JSONField.from_db_value

    def spy(self, value, expression, connection):
        loaded.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(JSONField, "from_db_value", spy)
    client = Client()
    client.force_login(manager)
    answers = [
        api(manager).get(f"{base}/training-jobs/"),
        api(manager).get(f"{base}/training-jobs/{started.json()['id']}/"),
        api(manager).get(f"{base}/model-runs/"),
        client.get(f"/projects/{project.pk}/dashboard/"),
        client.get(f"/projects/{project.pk}/drift/"),
        client.get(f"/projects/{project.pk}/training/"),
        client.get(f"/projects/{project.pk}/error-analysis/"),
    ]
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert answers[0].json()["results"][0]["version"] == 2 and answers[2].json()["results"][0]["dataset_version"] == 2
    assert loaded and max(len(value or "") for value in loaded) < 5_000, max(len(value or "") for value in loaded)


def test_a_purge_lowers_split_by_group_by_the_items_it_removes_that_took_their_groups_split(api, manager):
    """A version built with splits.group_by counts the items whose split came from their group's value
    (split_by_group). A purge lowered every other count and left that one as built: the version said more
    of its items took their recording's split than it holds."""
    import hashlib

    from labeling.models import Annotation

    project = text_project(manager)
    metadata = [{"recording": "r1"}] * 3 + [{"recording": 7}] * 2 + [{"recording": None}, {}, {"other": "r1"}]
    Item.objects.bulk_create(
        [
            Item(project=project, text=f"clip {i}", sha256=hashlib.sha256(f"clip {i}".encode()).hexdigest(), metadata=m)
            for i, m in enumerate(metadata)
        ]
    )
    items = list(Item.objects.filter(project=project).order_by("pk"))
    (a,) = labelers(project, 1)
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    grouped = build(project, manager, {"splits": {"group_by": "recording"}})
    plain = build(project, manager)
    assert grouped.counts["split_by_group"] == 5 and "split_by_group" not in plain.counts

    # two items of r1, one of recording 7, and the items without a value under the key
    gone = [items[0], items[1], items[3], items[5], items[6]]
    assert purge(api, manager, project, gone).status_code == 200
    listed = api(manager).get(f"/api/projects/{project.pk}/versions/").json()["results"]
    detail = api(manager).get(f"/api/projects/{project.pk}/versions/{grouped.number}/").json()
    assert detail["counts"]["items"] == 3 and detail["counts"]["split_by_group"] == 2
    assert listed[1]["counts"] == detail["counts"]
    assert "split_by_group" not in listed[0]["counts"] and listed[0]["counts"]["items"] == 3
    client = Client()
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/{grouped.number}/").content.decode()
    assert "2 items took the split of their recording" in page


def test_a_deleted_item_a_version_left_out_is_no_longer_counted_as_left_out(api, manager, project, labeler, labeler2):
    """A version counts and names the items its recipe left out (ties, unlabeled...). An item held by v1
    and left out of v2 (its answers tied since), purged, was still counted and named as left out by v2,
    and so was an item left out of every version once deleted: the counts named items that are gone."""
    a, b, c, d = images(project, 4)
    answer(a, labeler, "cat")
    answer(a, labeler2, "dog")  # a tie: left out of both versions
    answer(b, labeler, "cat")
    answer(c, labeler, "cat")  # held by v1
    build(project, manager)
    answer(c, labeler2, "dog")  # a tie now: left out of v2, with a; d unlabeled in both
    build(project, manager)

    def counts(number):
        return api(manager).get(f"/api/projects/{project.pk}/versions/{number}/").json()["counts"]

    v2 = counts(2)
    assert (v2["left_out"]["tie"], v2["left_out"]["unlabeled"], v2["left_out_total"]) == (2, 1, 3)
    assert v2["left_out_items"] == {"tie": [a.pk, c.pk], "unlabeled": [d.pk]}
    v1 = counts(1)

    assert purge(api, manager, project, [c]).status_code == 200  # v1 holds c
    v2 = counts(2)
    assert (v2["left_out"]["tie"], v2["left_out"]["unlabeled"], v2["left_out_total"]) == (1, 1, 2)
    assert v2["left_out_items"] == {"tie": [a.pk], "unlabeled": [d.pk]}
    assert v2["items"] == 1  # b
    after = counts(1)
    assert after["items"] == v1["items"] - 1 and after["left_out"] == v1["left_out"]  # c was held, not left out
    assert after["left_out_items"] == v1["left_out_items"] == {"tie": [a.pk], "unlabeled": [d.pk]}

    # an item no version holds needs no purge; deleted, the versions stop counting it as left out too
    assert api(manager).post(url(project), {"items": [d.pk]}, format="json").status_code == 200
    for number in (1, 2):
        left = counts(number)
        assert left["left_out"]["unlabeled"] == 0 and left["left_out_total"] == 1
        assert left["left_out_items"] == {"tie": [a.pk]}
    page = api(manager).get(f"/api/projects/{project.pk}/versions/").json()["results"]
    assert [v["counts"]["left_out_total"] for v in page] == [1, 1]


@pytest.mark.usefixtures("loopback_webhooks")
def test_a_purge_tells_the_versions_webhooks_what_it_took_out(
    api, manager, texts, receiver_factory, django_capture_on_commit_callbacks
):
    """A trainer that keeps a copy of a version (its manifest, its archives) must learn that a privacy or
    licence removal took rows out of it: each rewritten version sends "version.purged" with its new content
    hash and downloads, the hash before, and what was rewritten and removed. A webhook that asked for
    "version.ready" only gets nothing; a refused deletion announces nothing."""
    from labeling.models import WebhookDelivery
    from labeling.services.webhooks import webhook_create, webhook_delivery_attempt

    project, items, (v1, v2) = texts
    receiver = receiver_factory()
    hook = webhook_create(project=project, url=receiver.url, user=manager)
    assert "version.purged" in hook.events  # a new webhook takes every event
    webhook_create(project=project, url=receiver.url + "/ready-only", events=["version.ready"], user=manager)
    refused = api(manager).post(url(project), {"items": [items[0].pk]}, format="json")
    assert refused.status_code == 409 and not WebhookDelivery.objects.exists()
    before = {v.number: v.content_hash for v in (v1, v2)}
    with django_capture_on_commit_callbacks(execute=False):
        assert purge(api, manager, project, [items[0]]).status_code == 200
    deliveries = WebhookDelivery.objects.order_by("payload__version")
    assert [(d.webhook_id, d.event) for d in deliveries] == [(hook.pk, "version.purged")] * 2
    for delivery in deliveries:
        payload = delivery.payload
        version = DatasetVersion.objects.get(project=project, number=payload["version"])
        assert payload["content_hash"] == version.content_hash != before[version.number]
        assert payload["purge"]["content_hash_before"] == before[version.number]
        assert (
            payload["purge"]["items"] == 1
            and payload["purge"]["rows"] == 1
            and payload["purge"]["by"] == manager.username
        )
        assert "jsonl" in payload["purge"]["rewritten"] and payload["manifest"].endswith("/manifest")
        assert items[0].pk not in [x for value in lists(payload) for x in value]  # a count, never the purged ids
    webhook_delivery_attempt(delivery_id=deliveries[0].pk)
    sent = json.loads(receiver.requests[0]["body"])
    assert sent["event"] == "version.purged" and sent["data"]["purge"]["rows"] == 1


@pytest.mark.usefixtures("loopback_webhooks")
def test_purge_versions_announces_the_versions_it_rewrites(manager, texts, receiver_factory):
    """A purge recorded before purges rewrote files, applied by ``manage.py purge_versions``, changes the
    versions' content too: their webhooks hear of it, with when the purge was made and when applied."""
    from django.core.management import call_command

    from labeling.models import WebhookDelivery
    from labeling.services.webhooks import webhook_create

    project, items, (v1, v2) = texts
    webhook_create(project=project, url=receiver_factory().url, user=manager)
    for version in (v1, v2):
        version.info = {**version.info, "purged": [{"items": [items[0].pk], "at": "2026-01-02T03:04:05+00:00"}]}
        version.save(update_fields=["info"])
    Item.objects.filter(pk=items[0].pk).delete()
    call_command("purge_versions", stdout=io.StringIO())
    deliveries = WebhookDelivery.objects.filter(event="version.purged").order_by("payload__version")
    assert [d.payload["version"] for d in deliveries] == [1, 2]
    purge = deliveries[0].payload["purge"]
    assert purge["at"] == "2026-01-02T03:04:05+00:00" and purge["applied"] and purge["rows"] == 1
