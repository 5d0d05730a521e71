"""The dataset-version REST API: building, reading, manifests, downloads (with Range), diffs, roles, errors."""

import io
import json
import zipfile

import pyarrow.parquet as pq
import pytest

from labeling.models import DatasetVersion, Job
from labeling.services.imports import ImportEntry, items_import
from labeling.services.versions import version_build_run
from tests.conftest import png_bytes
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


def run_build(api, user, project, recipe=None):
    """POST a build, run the job here, answer the version number."""
    response = api(user).post(f"/api/projects/{project.pk}/versions/", recipe or {}, format="json")
    assert response.status_code == 202, response.json()
    job_id = response.json()["job"]
    version_build_run(job_id=job_id)
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.errors
    return job.result["version"]


@pytest.fixture
def texts(manager, reviewer, labeler):
    from labeling.choices import Role
    from labeling.services.projects import member_add

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    items = add_texts(project, [f"text {i}" for i in range(8)], tags=["batch"])
    a, b = labelers(project, 2)
    for i, item in enumerate(items):
        value = ("cat", "dog")[i % 2]
        answer(item, a, value)
        answer(item, b, value)
    return project, items, (a, b)


def test_build_list_detail_latest_and_manifest(api, manager, reviewer, texts):
    project, items, _ = texts
    assert run_build(api, manager, project) == 1
    client = api(reviewer)
    listed = client.get(f"/api/projects/{project.pk}/versions/").json()
    assert listed["count"] == 1
    row = listed["results"][0]
    assert {"number", "status", "content_hash", "counts", "policy", "created", "parent"} <= set(row)
    assert row["number"] == 1 and row["status"] == "ready" and row["parent"] is None
    assert row["policy"]["consensus"] == "majority" and row["policy"]["splits"]["train"] == 0.8
    latest = client.get(f"/api/projects/{project.pk}/versions/latest/").json()
    assert latest["content_hash"] == row["content_hash"]
    response = client.get(f"/api/projects/{project.pk}/versions/1/manifest")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content)
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["item"] for line in lines] == [i.pk for i in items]
    assert {"item", "sha256", "label", "split", "agreement", "n_annotations", "tags", "source", "file"} <= set(lines[0])
    assert lines[0]["label"] == "cat" and lines[0]["tags"] == ["batch"] and lines[0]["text"] == "text 0"
    import hashlib

    assert hashlib.sha256(body).hexdigest() == row["content_hash"] == response["X-Content-SHA256"]


def test_downloads_with_checksums_and_ranges(api, manager, texts):
    project, items, _ = texts
    run_build(api, manager, project)
    client = api(manager)
    detail = client.get(f"/api/projects/{project.pk}/versions/1/").json()
    by_format = {a["format"]: a for a in detail["artifacts"]}
    assert set(by_format) == {"jsonl", "csv", "parquet", "answers"}
    import hashlib

    for fmt, artifact in by_format.items():
        response = client.get(f"/api/projects/{project.pk}/versions/1/download?format={fmt}")
        assert response.status_code == 200, fmt
        data = b"".join(response.streaming_content)
        assert hashlib.sha256(data).hexdigest() == artifact["sha256"] == response["X-Content-SHA256"]
        assert len(data) == artifact["size"]
    table = pq.read_table(io.BytesIO(b"".join(client.get(by_format["parquet"]["url"]).streaming_content)))
    assert table.num_rows == len(items) and table.column("label").to_pylist()[:2] == ["cat", "dog"]
    ranged = client.get(f"/api/projects/{project.pk}/versions/1/download?format=jsonl", HTTP_RANGE="bytes=0-9")
    assert ranged.status_code == 206 and ranged["Content-Range"].startswith("bytes 0-9/")
    assert b"".join(ranged.streaming_content) == b'{"agreemen'


@pytest.mark.parametrize(
    ("name", "stem"),
    [("Проект «Тест»", "проект-тест"), ("Café ☕ study", "café-study"), ("猫の写真", "猫の写真")],
)
def test_a_project_named_in_any_script_downloads_under_its_name(api, manager, texts, name, stem):
    """Keeping only ASCII letters saved a Cyrillic or CJK project's files as dataset-v1.* and a Café
    project's as caf-study-v1.*: the name goes as filename* (RFC 6266), an ASCII stand-in before it."""
    from urllib.parse import unquote

    project, _, _ = texts
    project.name = name
    project.save(update_fields=["name"])
    run_build(api, manager, project)
    client = api(manager)
    for path, fmt, filename in (
        ("download?format=csv", "csv", f"{stem}-v1.csv"),
        ("download?format=parquet", "parquet", f"{stem}-v1.parquet"),
        ("download?format=answers", "answers", f"{stem}-v1-answers.jsonl"),
        ("manifest", "manifest", f"{stem}-v1.jsonl"),
    ):
        header = client.get(f"/api/projects/{project.pk}/versions/1/{path}")["Content-Disposition"]
        header.encode("latin-1")  # a header's value: anything else is garbled on the way
        assert "; filename*=UTF-8''" in header, header
        assert unquote(header.rsplit("''", 1)[1]) == filename, fmt
        assert 'filename="' in header, header  # the stand-in for clients that read only filename
    header = client.get(f"/api/projects/{project.pk}/annotations/export?format=jsonl")["Content-Disposition"]
    assert unquote(header.rsplit("''", 1)[1]) == f"{stem}-answers.jsonl"


def test_an_ascii_project_name_downloads_as_a_plain_filename(api, manager, texts):
    project, _, _ = texts
    project.name = "Pets 2026"
    project.save(update_fields=["name"])
    run_build(api, manager, project)
    response = api(manager).get(f"/api/projects/{project.pk}/versions/1/download?format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="pets-2026-v1.csv"'


def test_a_finished_build_job_reads_its_items_processed_of_their_total(api, manager, texts):
    # GET /api/jobs/{id}/ of a finished build said "processed": 0, "total": null: the count the running
    # job had shown dropped to 0 at the end, and a client waiting for processed == total never saw it.
    project, items, _ = texts
    response = api(manager).post(f"/api/projects/{project.pk}/versions/", {}, format="json")
    version_build_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    assert job["status"] == "succeeded"
    assert job["processed"] == job["total"] == len(items)


def test_a_range_whose_last_byte_is_before_its_first_is_ignored_one_past_the_end_is_416(api, manager, texts):
    # "bytes=100-50" is no range (RFC 9110 section 14.2: a server ignores an invalid Range header): it was
    # answered 416, which told a resuming client the file had shrunk; it is the whole file, as without it.
    project, _, _ = texts
    run_build(api, manager, project)
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/1/download?format=jsonl"
    whole = b"".join(client.get(url).streaming_content)
    backwards = client.get(url, HTTP_RANGE="bytes=100-50")
    assert backwards.status_code == 200 and "Content-Range" not in backwards
    assert b"".join(backwards.streaming_content) == whole and backwards["Content-Length"] == str(len(whole))
    past = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(whole)}"
    # API.md: every 4xx is JSON with a "detail" sentence; it was an empty text/html answer.
    assert past["Content-Type"] == "application/json"
    assert f"the file has {len(whole)} bytes" in past.json()["detail"]
    tail = client.get(url, HTTP_RANGE="bytes=100-100")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == whole[100:101]


def test_image_project_gets_an_imagefolder_zip(api, manager):
    from tests.conftest import make_project

    project = make_project(manager, name="Pets")
    report = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(4)]
    )
    (a,) = labelers(project, 1)
    from labeling.models import Item

    for i, pk in enumerate(report.imported):
        answer(Item.objects.get(pk=pk), a, ("cat", "dog")[i % 2])
    run_build(api, manager, project, {"splits": {"train": 1.0}})
    response = api(manager).get(f"/api/projects/{project.pk}/versions/1/download?format=imagefolder")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist())
    assert names == sorted(f"train/{('cat', 'dog')[i % 2]}/{pk}.png" for i, pk in enumerate(report.imported))
    audio = api(manager).get(f"/api/projects/{project.pk}/versions/1/download?format=audiofolder")
    assert audio.status_code == 400 and "does not fit this image project" in audio.json()["detail"]


def test_diff_names_the_relabeled_item(api, manager, texts):
    project, items, (a, b) = texts
    run_build(api, manager, project)
    answer(items[0], a, "other")
    answer(items[0], b, "other")
    run_build(api, manager, project)
    diff = api(manager).get(f"/api/projects/{project.pk}/versions/2/diff?against=1").json()
    assert diff["relabeled"] == [{"item": items[0].pk, "from": "cat", "to": "other", "why": "answers"}]
    assert diff["added"] == [] and diff["removed"] == [] and diff["n_relabeled"] == 1
    classes = {c["class"]: c for c in diff["classes"]}
    assert classes["cat"]["change"] == -1 and classes["other"]["change"] == 1
    v2 = DatasetVersion.objects.get(project=project, number=2)
    assert v2.parent.number == 1 and v2.changes["relabeled"] == 1


def test_bad_input_is_a_clear_error(api, manager, texts):
    project, _, _ = texts
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/"
    response = client.post(url, {"consensus": "majority", "min_agreemnt": 0.6}, format="json")
    assert response.status_code == 400
    assert "unknown field 'min_agreemnt'" in response.json()["detail"]
    response = client.post(url, {"filters": {"tag": ["x"]}}, format="json")
    assert response.status_code == 400 and "filters.tag" in response.json()
    response = client.post(url, {"splits": {"train": 0.5, "dev": 0.1, "test": 0.1}}, format="json")
    assert response.status_code == 400 and "must be 1" in response.json()["detail"]
    response = client.post(url, {"borderline": "map:unicorn"}, format="json")
    assert response.status_code == 400 and "'unicorn' is not a class" in response.json()["detail"]
    assert not Job.objects.filter(project=project, kind="version").exists()
    missing = client.get(f"/api/projects/{project.pk}/versions/7/")
    assert missing.status_code == 404 and "no version yet" in missing.json()["detail"]
    run_build(api, manager, project)
    missing = client.get(f"/api/projects/{project.pk}/versions/7/")
    assert missing.status_code == 404 and "its versions are 1" in missing.json()["detail"]
    assert client.get(f"/api/projects/{project.pk}/versions/7/manifest").status_code == 404
    response = client.get(f"/api/projects/{project.pk}/versions/1/download?format=imagefolder")
    assert response.status_code == 400 and "does not fit this text project" in response.json()["detail"]
    response = client.get(f"/api/projects/{project.pk}/versions/1/download?format=xlsx")
    assert response.status_code == 400 and "unknown format" in response.json()["detail"]
    response = client.get(f"/api/projects/{project.pk}/versions/1/diff?against=9")
    assert response.status_code == 400 and "against" in response.json()


def test_roles(api, manager, reviewer, labeler, outsider, texts):
    project, _, _ = texts
    run_build(api, manager, project)
    base = f"/api/projects/{project.pk}/versions/"
    reads = [
        base,
        base + "1/",
        base + "latest/",
        base + "1/manifest",
        base + "1/download?format=csv",
        base + "1/diff?against=1",
        f"/api/projects/{project.pk}/version-builds/",
    ]
    for url in reads:
        assert api(reviewer).get(url).status_code == 200, url
        assert api(labeler).get(url).status_code == 403, url
        assert api(outsider).get(url).status_code == 404, url
    assert api(reviewer).post(base, {}, format="json").status_code == 403
    assert api(labeler).post(base, {}, format="json").status_code == 403
    assert api(outsider).post(base, {}, format="json").status_code == 404
    assert api().get(base).status_code in (401, 403)


def test_resuming_latest_after_a_new_version_restarts_instead_of_splicing_two_files(api, manager, texts):
    # A training job downloads `latest` in parts (Range). If a version is published between two parts, the
    # next part came from the new file: the job stitched the head of v1 to the tail of v2. With the ETag
    # of the first part in If-Range, the server now answers the whole new file (200) instead.
    project, items, (a, b) = texts
    run_build(api, manager, project)
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/latest/download?format=jsonl"
    head = client.get(url, HTTP_RANGE="bytes=0-99")
    assert head.status_code == 206
    etag = head["ETag"]
    v1 = DatasetVersion.objects.get(project=project, number=1).artifacts.get(format="jsonl")
    assert etag == f'"{v1.sha256}"'
    same = client.get(url, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=etag)
    assert same.status_code == 206  # nothing changed: the rest of the same file
    answer(items[0], a, "other")
    answer(items[0], b, "other")
    run_build(api, manager, project)
    rest = client.get(url, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=etag)
    assert rest.status_code == 200 and "Content-Range" not in rest
    v2 = DatasetVersion.objects.get(project=project, number=2).artifacts.get(format="jsonl")
    assert rest["ETag"] == f'"{v2.sha256}"' and b"".join(rest.streaming_content)[:1] == b"{"
    assert "max-age" not in rest["Cache-Control"]  # `latest` moves: a cache must ask again


def test_a_download_or_manifest_the_client_has_is_not_sent_again(api, manager, texts):
    project, _, _ = texts
    run_build(api, manager, project)
    client = api(manager)
    for path in ("versions/1/download?format=parquet", "versions/latest/manifest", "versions/1/manifest"):
        url = f"/api/projects/{project.pk}/{path}"
        first = client.get(url)
        assert first.status_code == 200 and first["ETag"], path
        again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304 and again["ETag"] == first["ETag"], path
        assert client.get(url, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200, path
        # If-None-Match compares weakly (RFC 9110 13.1.2): a proxy that compresses the file hands the
        # client W/"<hash>", which it sends back; it was answered 200 with the whole file every time.
        weak = client.get(url, HTTP_IF_NONE_MATCH=f'"other", W/{first["ETag"]}')
        assert weak.status_code == 304, path
    version = DatasetVersion.objects.get(project=project, number=1)
    manifest = client.get(f"/api/projects/{project.pk}/versions/1/manifest")
    assert manifest["ETag"] == f'"{version.content_hash}"'


def test_a_client_that_accepts_only_the_file_s_own_type_gets_the_file(api, manager, texts):
    # A training job asking for exactly the type it wants got 406 "Could not satisfy the request Accept
    # header": DRF's renderers write JSON only, and these answers are files of their own.
    project, items, _ = texts
    run_build(api, manager, project)
    client = api(manager)
    base = f"/api/projects/{project.pk}"
    for url, accept, content_type in [
        (f"{base}/versions/1/manifest", "application/x-ndjson", "application/x-ndjson"),
        (
            f"{base}/versions/latest/download?format=parquet",
            "application/vnd.apache.parquet",
            "application/vnd.apache.parquet",
        ),
        (f"{base}/versions/1/download?format=csv", "application/octet-stream", "text/csv"),
        (f"{base}/annotations/export?format=jsonl", "application/x-ndjson", "application/x-ndjson"),
    ]:
        response = client.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 200 and response["Content-Type"] == content_type, (url, response.status_code)
    missing = client.get(f"{base}/versions/7/manifest", HTTP_ACCEPT="application/x-ndjson")
    assert missing.status_code == 404 and "its versions are 1" in missing.json()["detail"]


def test_an_item_s_media_is_sent_to_a_client_that_accepts_only_images(api, manager):
    from tests.conftest import make_project

    project = make_project(manager, name="Pets")
    (pk,) = items_import(project=project, entries=[ImportEntry(name="a.png", load=lambda: png_bytes(seed=3))]).imported
    response = api(manager).get(f"/api/items/{pk}/file", HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_a_retried_build_request_answers_the_build_under_way_instead_of_starting_another(api, manager, texts):
    project, _, _ = texts
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/"
    first = client.post(url, {"min_answers": 2}, format="json")
    assert first.status_code == 202
    again = client.post(url, {"min_answers": 2}, format="json")  # the first answer was lost; the client retries
    assert again.status_code == 200 and again.json()["job"] == first.json()["job"]
    other = client.post(url, {"min_answers": 1}, format="json")  # another recipe is another build
    assert other.status_code == 202 and other.json()["job"] != first.json()["job"]
    assert Job.objects.filter(project=project, kind="version").count() == 2
    version_build_run(job_id=first.json()["job"])
    after = client.post(url, {"min_answers": 2}, format="json")  # once built, the same recipe builds anew
    assert after.status_code == 202 and after.json()["job"] != first.json()["job"]


def test_a_build_whose_worker_went_silent_is_not_answered_to_a_new_request(api, manager, texts, settings):
    """A running build whose heartbeat stopped (its worker died) is no build under way: the same recipe
    starts a new one instead of handing back the dead job."""
    from datetime import timedelta

    from django.utils import timezone

    project, _, _ = texts
    url = f"/api/projects/{project.pk}/versions/"
    first = api(manager).post(url, {}, format="json").json()["job"]
    long_ago = timezone.now() - timedelta(seconds=settings.LABELHUB_JOB_STALE_SECONDS + 60)
    Job.objects.filter(pk=first).update(status="running", started=long_ago, heartbeat=long_ago)
    again = api(manager).post(url, {}, format="json")
    assert again.status_code == 202 and again.json()["job"] != first
    Job.objects.filter(pk=first).update(heartbeat=timezone.now())  # alive after all: answered
    assert api(manager).post(url, {}, format="json").json()["job"] in (first, again.json()["job"])


def test_a_transcript_rule_with_a_bad_replacement_is_a_400_naming_it_and_queues_no_build(api, manager):
    from tests.conftest import make_project

    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    url = f"/api/projects/{project.pk}/versions/"
    response = api(manager).post(url, {"transcripts": {"rules": [["(um)+", r"\2"]]}}, format="json")
    assert response.status_code == 400
    assert r"rule 0: the replacement '\2' for '(um)+' is invalid" in response.json()["detail"]
    assert not Job.objects.filter(project=project, kind="version").exists()
