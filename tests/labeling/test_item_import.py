"""Importing items: direct uploads, manifests and zip archives, and the per-file report."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import JobStatus
from labeling.models import Item, Job
from labeling.services.import_jobs import import_job_create, import_job_run
from tests.conftest import make_project, png_bytes, wav_bytes
from tests.labeling.test_inputs import bomb_png


def upload(client, project, files, **data):
    payload = {"files": [SimpleUploadedFile(name, content) for name, content in files], **data}
    return client.post(f"/api/projects/{project.pk}/items/", payload, format="multipart")


def stored_files(media_root: Path):
    return sorted(p for p in media_root.rglob("*") if p.is_file() and "items" in p.parts)


def test_upload_imports_good_files_and_reports_each_bad_one(api, manager, project, settings):
    good = png_bytes(seed=1)
    response = upload(
        api(manager),
        project,
        [
            ("good.png", good),
            ("corrupt.png", good[:50] + b"\x00" * 40 + good[90:]),
            ("bomb.png", bomb_png()),
            ("notes.txt", b"just text"),
            ("again.png", good),
        ],
        tags="batch-1, night",
    )
    assert response.status_code == 201
    report = response.json()
    assert len(report["imported"]) == 1
    rejected = {r["name"]: r["reason"] for r in report["rejected"]}
    assert set(rejected) == {"corrupt.png", "bomb.png", "notes.txt"}
    assert "decompression bomb" in rejected["bomb.png"]
    assert report["duplicates"] == [{"name": "again.png", "item": report["imported"][0]}]
    item = Item.objects.get(pk=report["imported"][0])
    assert sorted(t.name for t in item.tags.all()) == ["batch-1", "night"]
    assert item.stats["width"] == 32 and item.original_name == "good.png"
    # One file on disk for the one row; nothing for the rejects.
    assert [p.name for p in stored_files(settings.MEDIA_ROOT)] == [Path(item.file.name).name]


def test_a_tiff_upload_is_refused_saying_browsers_cannot_show_it(api, manager, project, settings):
    """Chrome and Firefox show no TIFF: imported, it became an item every labeler saw as a broken image."""
    response = upload(
        api(manager), project, [("scan.tif", png_bytes(seed=3, fmt="TIFF")), ("ok.png", png_bytes(seed=4))]
    )
    report = response.json()
    assert len(report["imported"]) == 1
    assert [r["name"] for r in report["rejected"]] == ["scan.tif"]
    reason = report["rejected"][0]["reason"]
    assert "TIFF" in reason and "browser" in reason and "PNG" in reason, reason
    assert Item.objects.filter(project=project).count() == 1
    assert len(stored_files(settings.MEDIA_ROOT)) == 1


def test_duplicate_upload_is_reported_and_the_stored_item_is_untouched(api, manager, project, settings):
    data = png_bytes(seed=2)
    first = upload(api(manager), project, [("a.png", data)]).json()["imported"][0]
    before = Item.objects.get(pk=first)
    response = upload(api(manager), project, [("copy-of-a.png", data)])
    assert response.status_code == 200
    assert response.json() == {"imported": [], "duplicates": [{"name": "copy-of-a.png", "item": first}], "rejected": []}
    after = Item.objects.get(pk=first)
    assert (after.original_name, after.file.name, after.sha256) == (
        before.original_name,
        before.file.name,
        before.sha256,
    )
    assert len(stored_files(settings.MEDIA_ROOT)) == 1


def test_the_same_file_may_live_in_two_projects(api, manager, project):
    other = make_project(manager, name="Second")
    data = png_bytes(seed=3)
    assert upload(api(manager), project, [("a.png", data)]).status_code == 201
    assert upload(api(manager), other, [("a.png", data)]).status_code == 201


def test_audio_upload_rejects_a_truncated_wav(api, manager):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    good, other = wav_bytes(seconds=0.4), wav_bytes(seconds=1.0, freq=220)
    report = upload(api(manager), project, [("ok.wav", good), ("cut.wav", other[: len(other) // 2])]).json()
    assert len(report["imported"]) == 1
    assert report["rejected"][0]["name"] == "cut.wav" and "truncated" in report["rejected"][0]["reason"]
    item = Item.objects.get(pk=report["imported"][0])
    assert item.stats["duration"] == 0.4


def test_oversized_upload_is_rejected_without_reading_it(api, manager, project, settings):
    settings.LABELHUB_MAX_FILE_BYTES = 500
    report = upload(api(manager), project, [("big.png", png_bytes(size=(100, 100)))]).json()
    assert report["rejected"][0]["reason"].startswith("file is")
    assert "over the limit of 500 bytes" in report["rejected"][0]["reason"]


def test_unknown_source_is_a_clear_error(api, manager, project):
    response = upload(api(manager), project, [("a.png", png_bytes())], source="nowhere")
    assert response.status_code == 400
    assert "unknown source 'nowhere'" in response.json()["detail"]
    assert not Item.objects.exists()


def test_a_source_id_beyond_64_bits_is_an_unknown_source(api, manager, project):
    """It was a 500 on SQLite: the driver cannot hold the number it was asked to compare ids with."""
    response = upload(api(manager), project, [("a.png", png_bytes())], source=str(2**70))
    assert response.status_code == 400
    assert f"unknown source '{2**70}'" in response.json()["detail"]
    assert not Item.objects.exists()


def test_upload_to_an_unknown_project_is_404(api, manager):
    response = upload(api(manager), type("P", (), {"pk": 999999})(), [("a.png", png_bytes())])
    assert response.status_code == 404
    assert "No project" in response.json()["detail"]


def run_import(project, user, name, content, **kwargs):
    job = import_job_create(project=project, user=user, upload=SimpleUploadedFile(name, content), **kwargs)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def text_project(manager):
    return make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])


def test_manifest_with_a_malformed_line_imports_the_others(manager):
    project = text_project(manager)
    lines = [
        json.dumps({"text": "great product", "tags": ["web"], "label": "pos", "metadata": {"stars": 5}}),
        '{"text": "broken line", ',
        json.dumps({"text": "awful", "label": "meh"}),
        json.dumps({"text": "fine", "tags": "web, mobile"}),
        json.dumps({"text": "great product"}),
        json.dumps(["not", "an", "object"]),
    ]
    job = run_import(project, manager, "batch.jsonl", "\n".join(lines).encode())
    assert job.status == JobStatus.SUCCEEDED
    assert job.total == 6 and job.processed == 6
    assert job.result["imported"] == 2 and job.result["duplicates"] == 1 and job.result["rejected"] == 3
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert reasons["line 2"].startswith("malformed JSON")
    assert "unknown class 'meh'" in reasons["line 3"]
    assert "JSON object" in reasons["line 6"]
    great = Item.objects.get(project=project, text="great product")
    assert great.label == "pos" and great.metadata == {"stars": 5}
    fine = Item.objects.get(project=project, text="fine")
    assert sorted(t.name for t in fine.tags.all()) == ["mobile", "web"]


def test_csv_manifest(manager):
    project = text_project(manager)
    content = 'text,tags,label,metadata\n"hello, world",a,pos,"{""k"": 1}"\nbye,,neg,\n'
    job = run_import(project, manager, "batch.csv", content.encode())
    assert job.result["imported"] == 2, job.errors
    assert Item.objects.get(text="hello, world").metadata == {"k": 1}


def test_a_finished_csv_import_with_a_text_over_several_lines_is_processed_to_its_total(manager):
    # The total was the file's lines, so a quoted text over three lines left the finished job at
    # "processed": 2 of "total": 4; a client polling until processed == total waited forever.
    project = text_project(manager)
    content = 'text,label\n"first line\nsecond line\nthird line",pos\nbye,neg\n'
    job = run_import(project, manager, "batch.csv", content.encode())
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == 2, job.errors
    job.refresh_from_db()
    assert job.processed == job.total == 2


@pytest.mark.parametrize(
    "name, content, words",
    [
        # read as a CSV of one header line and no rows, it "succeeded" with nothing processed and no error
        ("m.bin", b"\x00\x01garbage", "the file holds binary data"),
        (
            "notes.txt",
            b"first line of some notes\nsecond line\n",
            "no 'path' or 'text' column: unknown field 'first line of some notes'",
        ),
    ],
)
def test_an_upload_that_is_no_manifest_fails_naming_why(manager, name, content, words):
    project = text_project(manager)
    job = run_import(project, manager, name, content)
    assert job.status == JobStatus.FAILED and words in job.errors[-1]["reason"], job.errors
    assert not Item.objects.filter(project=project).exists()


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def test_zip_with_a_path_traversal_entry_rejects_only_that_entry(manager, project, settings, tmp_path):
    archive = zip_bytes(
        [
            ("cat/one.png", png_bytes(seed=10)),
            ("../../evil.png", png_bytes(seed=11)),
            ("dog/two.png", png_bytes(seed=12)),
        ]
    )
    job = run_import(project, manager, "batch.zip", archive, label_from_folder=True)
    assert job.status == JobStatus.SUCCEEDED
    assert job.result["imported"] == 2
    assert job.errors == [
        {"name": "../../evil.png", "reason": "zip entry '../../evil.png' climbs out of the archive with '..'"}
    ]
    assert sorted(Item.objects.values_list("label", flat=True)) == ["cat", "dog"]
    assert not any("evil" in str(p) for p in tmp_path.rglob("*"))


def test_a_zip_made_on_macos_counts_only_the_files_it_imports_or_reports(manager, project):
    """Finder's zip holds a __MACOSX/._name beside every file, and .DS_Store; they and a LICENSE are left
    out without a word, so the progress must not count them: it read "succeeded: 2 / 6"."""
    archive = zip_bytes(
        [
            ("photos/a.png", png_bytes(seed=20)),
            ("__MACOSX/photos/._a.png", b"\x00\x05\x16\x07" + b"\x00" * 60),
            ("photos/.DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 60),
            ("photos/LICENSE.txt", b"CC-BY 4.0"),
            ("photos/b.png", png_bytes(seed=21)),
            ("__MACOSX/photos/._b.png", b"\x00\x05\x16\x07" + b"\x00" * 60),
        ]
    )
    job = run_import(project, manager, "photos.zip", archive)
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == 2 and job.errors == []
    assert (job.processed, job.total) == (2, 2)


def test_a_zip_from_windows_and_a_zip_inside_a_zip_are_reported_for_what_they_are(manager, project):
    """Explorer leaves Thumbs.db and desktop.ini in a folder: no items, left out as macOS's .DS_Store is,
    not rejected as corrupt images. A zip inside the zip is not opened, and says so: it was "not an image
    Pillow can identify (corrupt or unsupported file)"."""
    inner = zip_bytes([("c.png", png_bytes(seed=22))])
    archive = zip_bytes(
        [
            ("photos/a.png", png_bytes(seed=23)),
            ("photos/Thumbs.db", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100),
            ("photos/desktop.ini", b"[.ShellClassInfo]\r\nIconResource=x\r\n"),
            ("photos/more.zip", inner),
        ]
    )
    job = run_import(project, manager, "photos.zip", archive)
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == 1
    assert [e["name"] for e in job.errors] == ["photos/more.zip"]
    assert job.errors[0]["reason"].startswith("a zip inside the zip: its files are not read"), job.errors
    assert (job.processed, job.total) == (2, 2)


def test_a_manifest_label_may_name_its_class_as_label_files_do(manager):
    """A spreadsheet of labels says "Dog", the class's name, not its key "dog": a label file's class matches
    by key or name ignoring case, and a manifest's refused it as "unknown class 'Dog'"."""
    project = make_project(manager, classes=[{"key": "dog", "name": "Dog"}, {"key": "cat", "name": "House cat"}])
    manifest = "path,label\nimg/a.png,Dog\nimg/b.png, house CAT \nimg/c.png,DOG\nimg/d.png,horse\n"
    archive = zip_bytes(
        [("manifest.csv", manifest.encode())] + [(f"img/{n}.png", png_bytes(seed=30 + i)) for i, n in enumerate("abcd")]
    )
    job = run_import(project, manager, "labels.zip", archive)
    assert job.result["imported"] == 3
    assert [e["reason"] for e in job.errors] == ["unknown class 'horse' (the project's classes: cat, dog)"]
    labels = dict(Item.objects.filter(project=project).values_list("original_name", "label"))
    assert labels == {"line 2 (img/a.png)": "dog", "line 3 (img/b.png)": "cat", "line 4 (img/c.png)": "dog"}
    texts = make_project(
        manager, name="Texts", modality="text", classes=[{"key": "pos", "name": "Positive"}, {"key": "neg"}]
    )
    lines = [json.dumps({"text": f"review {n}", "label": "positive"}) for n in range(3)]
    job = run_import(texts, manager, "m.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 3 and job.errors == []
    assert set(Item.objects.filter(project=texts).values_list("label", flat=True)) == {"pos"}


def test_zip_with_a_manifest_and_an_absolute_path(manager, project):
    manifest = "\n".join(
        [
            json.dumps({"path": "img/a.png", "label": "cat", "tags": ["x"]}),
            json.dumps({"path": "/etc/passwd"}),
            json.dumps({"path": "img/missing.png"}),
        ]
    )
    archive = zip_bytes([("manifest.jsonl", manifest), ("img/a.png", png_bytes(seed=20))])
    job = run_import(project, manager, "set.zip", archive)
    assert job.result["imported"] == 1
    reasons = " | ".join(e["reason"] for e in job.errors)
    assert "/etc/passwd" in reasons and "not in the archive" in reasons


def test_utf8_names_in_a_zip_without_the_utf8_flag_are_read_as_written(manager, project):
    """macOS Archive Utility and many Windows tools write UTF-8 names without the zip's UTF-8 flag; read as
    cp437 (zipfile's default) "café_x.png" became "caf├⌐_x.png", which no label file then matched."""
    placeholder, name = "cafXX_x.png", "café_x.png"  # the same length in bytes
    assert len(placeholder.encode()) == len(name.encode())
    archive = zip_bytes([(placeholder, png_bytes(seed=21)), ("plain.png", png_bytes(seed=22))])
    unflagged = archive.replace(placeholder.encode(), name.encode())  # local header and central directory
    assert all(not info.flag_bits & 0x800 for info in zipfile.ZipFile(io.BytesIO(unflagged)).infolist())
    job = run_import(project, manager, "photos.zip", unflagged)
    assert job.result["imported"] == 2, job.errors
    assert set(Item.objects.filter(project=project).values_list("original_name", flat=True)) == {name, "plain.png"}


def test_a_manifest_alone_cannot_read_server_files(manager, project):
    job = run_import(project, manager, "m.jsonl", json.dumps({"path": "/etc/hostname"}).encode())
    assert job.result["imported"] == 0
    assert "zip archive" in job.errors[0]["reason"]


def test_manifest_paths_under_an_import_root(manager, project, settings, tmp_path):
    root = tmp_path / "shared"
    (root / "imgs").mkdir(parents=True)
    (root / "imgs" / "a.png").write_bytes(png_bytes(seed=30))
    settings.LABELHUB_IMPORT_ROOTS = [root]
    lines = [json.dumps({"path": "imgs/a.png"}), json.dumps({"path": "../../etc/hostname"})]
    job = run_import(project, manager, "m.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 1
    assert "outside the folders" in job.errors[0]["reason"]


def test_a_file_under_an_import_root_over_the_file_limit_is_refused_unread(
    manager, project, settings, tmp_path, monkeypatch
):
    """A manifest may name any file under the roots (a data share holds videos, disk images): it was read
    whole before its size was checked."""
    root = tmp_path / "shared"
    root.mkdir()
    (root / "a.png").write_bytes(png_bytes(seed=31))
    (root / "big.png").write_bytes(b"\0" * 30_000)
    settings.LABELHUB_IMPORT_ROOTS = [root]
    settings.LABELHUB_MAX_FILE_BYTES = 20_000
    read = []
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read.append(path.name) or real_read_bytes(path))
    lines = [json.dumps({"path": "a.png"}), json.dumps({"path": "big.png"})]
    job = run_import(project, manager, "m.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 1 and read == ["a.png"]
    assert job.errors[0]["reason"] == "'big.png' is 30,000 bytes, over the limit of 20,000"


def test_a_job_runs_once_even_if_delivered_twice(manager):
    project = text_project(manager)
    job = import_job_create(project=project, user=manager, upload=SimpleUploadedFile("m.jsonl", b'{"text": "a"}\n'))
    import_job_run(job_id=job.pk)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.attempts == 1 and job.result["imported"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_imports_api_answers_a_job_id(api, manager, project):
    response = api(manager).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("m.jsonl", b'{"text": "x"}\n')},
        format="multipart",
    )
    assert response.status_code == 202
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    assert job["kind"] == "import" and job["status"] == "queued"


def test_an_upload_with_a_misspelt_field_is_refused_naming_it_and_imports_nothing(api, manager, project, settings):
    # curl -F tag=night: the field was dropped and the files imported untagged.
    response = upload(api(manager), project, [("a.png", png_bytes(seed=4))], tag="night")
    assert response.status_code == 400
    assert response.json()["tag"] == ["unknown field (the fields here: files, source, tags)"]
    assert not Item.objects.exists() and stored_files(settings.MEDIA_ROOT) == []
    # A misspelt file field is named beside the files missing.
    response = api(manager).post(
        f"/api/projects/{project.pk}/items/", {"file": SimpleUploadedFile("a.png", png_bytes())}, format="multipart"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"files", "file"}
    assert not Item.objects.exists()
    # The page's form (its CSRF token with the fields it sends) is taken.
    response = upload(
        api(manager), project, [("a.png", png_bytes(seed=4))], source="", tags="night", csrfmiddlewaretoken="x"
    )
    assert response.status_code == 201, response.json()
    assert [t.name for t in Item.objects.get().tags.all()] == ["night"]


@pytest.mark.parametrize(
    "misspelt",
    [{"lable_from_folder": "true"}, {"format": "coco", "labler": "alice"}, {"tag": "night"}],
    ids=["lable_from_folder", "labler", "tag"],
)
def test_an_import_with_a_misspelt_field_is_refused_naming_it_and_queues_nothing(api, manager, project, misspelt):
    # The job was queued without the folder labels, the labeler or the tags asked for.
    archive = zip_bytes([("cat/a.png", png_bytes(seed=5)), ("dog/b.png", png_bytes(seed=6))])
    response = api(manager).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("a.zip", archive), **misspelt},
        format="multipart",
    )
    assert response.status_code == 400
    (name,) = set(misspelt) - {"format"}
    assert response.json()[name][0].startswith("unknown field (the fields here: file, source, tags, label_from_folder")
    assert not Job.objects.exists() and not Item.objects.exists()
    # The page's form, CSRF token and all, is queued.
    response = api(manager).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("a.zip", archive), "label_from_folder": "true", "csrfmiddlewaretoken": "x"},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    assert Job.objects.get().params["label_from_folder"] is True


def test_a_failing_row_insert_removes_the_files_it_wrote(manager, project, settings, monkeypatch):
    from labeling.services import imports

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(imports, "_insert", explode)
    entries = [imports.ImportEntry(name="a.png", load=lambda: png_bytes(seed=40))]
    with pytest.raises(RuntimeError, match="database went away"):
        imports.items_import(project=project, entries=entries)
    assert stored_files(settings.MEDIA_ROOT) == []
    assert not Item.objects.exists()


def test_two_imports_in_one_transaction(manager):
    from django.db import transaction

    project = text_project(manager)
    with transaction.atomic():
        first = run_import(project, manager, "a.jsonl", b'{"text": "one"}\n')
        second = run_import(project, manager, "b.jsonl", b'{"text": "two"}\n{"text": "one"}\n')
    assert first.result["imported"] == 1
    assert second.result["imported"] == 1 and second.result["duplicates"] == 1


def test_deleting_the_import_job_keeps_the_items(manager):
    project = text_project(manager)
    job = run_import(project, manager, "a.jsonl", b'{"text": "kept"}\n')
    item = Item.objects.get(project=project, text="kept")
    assert item.import_job_id == job.pk
    job.delete()
    item.refresh_from_db()
    assert item.import_job_id is None


def test_manifest_lines_read_together_still_name_each_bad_line():
    # Lines are parsed a block at a time as one JSON array; a line holding two objects, a list or
    # broken JSON must still be reported on its own line, and the good lines around it kept.
    from labeling.services.imports import _manifest_records

    manifest = '{"text": "a"}\n\n{"text": "b"}, {"text": "c"}\n[1, 2]\n{"text": \n{"text": "d"}\n'
    records = list(_manifest_records(io.StringIO(manifest), "jsonl"))
    assert [(n, r) for n, r, error in records if not error] == [(1, {"text": "a"}), (6, {"text": "d"})]
    errors = {n: error for n, _, error in records if error}
    assert set(errors) == {3, 4, 5}
    assert errors[3].startswith("malformed JSON: Extra data")
    assert errors[4] == "a manifest line must be a JSON object, not list"


def test_texts_and_metadata_with_tabs_newlines_and_backslashes_are_stored_exactly(manager):
    # PostgreSQL receives a chunk's rows as one COPY text, escaped column by column.
    project = text_project(manager)
    texts = ["tab\there", "two\nlines\r\nand a CR\r", "back\\slash \\N \\t", "plain", "ünïcode 😀"]
    lines = [json.dumps({"text": t, "metadata": {"note": t}, "tags": ["a\tb"]}) for t in texts]
    job = run_import(project, manager, "odd.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 5 and job.result["rejected"] == 0
    for text in texts:
        item = Item.objects.get(project=project, text=text)
        assert item.metadata == {"note": text} and item.stats["length"] == len(text)
        assert [t.name for t in item.tags.all()] == ["a\tb"]
    assert Item.objects.get(project=project, text="two\nlines\r\nand a CR\r").stats["lines"] == 3
    assert sorted(job.result["items"]) == sorted(Item.objects.filter(project=project).values_list("id", flat=True))


def test_upright_image_sizes_fixes_items_imported_with_the_raw_size_of_a_rotated_photo(api, manager, project):
    """Items imported before sizes were upright hold an EXIF-rotated photo's raw size (400x200 for one
    shown 200x400): the command reads each file through the storage and stores the upright size, once."""
    from django.core.management import call_command

    from tests.conftest import rotated_jpeg

    report = upload(api(manager), project, [("phone.jpg", rotated_jpeg(6)), ("scan.png", png_bytes(seed=4))]).json()
    phone, scan = (Item.objects.get(pk=pk) for pk in report["imported"])
    upright = dict(phone.stats)
    assert (upright["width"], upright["height"]) == (200, 400)
    Item.objects.filter(pk=phone.pk).update(stats={**phone.stats, "width": 400, "height": 200})  # as imported before
    out = io.StringIO()
    call_command("upright_image_sizes", "--dry-run", stdout=out)
    assert "checked 2 image items: would change 1, 0 unreadable" in out.getvalue()
    assert Item.objects.get(pk=phone.pk).stats["width"] == 400
    call_command("upright_image_sizes", "--project", str(project.pk), stdout=out)
    phone.refresh_from_db()
    assert phone.stats == upright  # width and height swapped back, the other statistics kept
    assert Item.objects.get(pk=scan.pk).stats == scan.stats
    again = io.StringIO()
    call_command("upright_image_sizes", stdout=again)
    assert "changed 0" in again.getvalue()


def test_a_zip_manifest_over_the_import_limit_is_refused_unread(manager, settings):
    """A manifest in a zip is held to the limit a manifest uploaded alone is: 100 GB of spaces without a
    line end (about 100 MB compressed) was read as one line to count the lines, and took the worker's
    memory."""
    project = text_project(manager)
    settings.LABELHUB_MAX_IMPORT_BYTES = 5_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.jsonl", '{"text": "fine"}\n' + " " * 100_000)
    assert len(buffer.getvalue()) < 5_000
    job = run_import(project, manager, "set.zip", buffer.getvalue())
    assert job.status == JobStatus.FAILED
    assert "manifest.jsonl is 100,017 bytes, over the import limit of 5,000" in job.errors[-1]["reason"]
    assert not project.items.exists()


@pytest.mark.parametrize("modality", ["image", "text"])
def test_a_zip_given_to_upload_files_is_refused_saying_where_zips_go(api, manager, modality):
    """A zip picked in "Upload files" read as "not an image Pillow can identify (corrupt or unsupported
    file)", or in a text project as a text that is not UTF-8: nothing said it is imported elsewhere."""
    project = make_project(manager, name=f"Zipped {modality}", modality=modality, classes=[{"key": "a"}, {"key": "b"}])
    archive = zip_bytes([("cat/a.png", png_bytes(seed=1)), ("b.txt", b"a text")])
    response = upload(api(manager), project, [("photos.zip", archive)])
    assert response.status_code == 200  # nothing imported
    ((name, reason),) = [(r["name"], r["reason"]) for r in response.json()["rejected"]]
    assert name == "photos.zip" and "zip archive" in reason and "Manifest or zip archive" in reason, reason
    assert f"/api/projects/{project.pk}/imports/" in reason, reason
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.parametrize("name", ["reviews.jsonl", "reviews.ndjson", "reviews.CSV"])
def test_a_manifest_given_to_upload_files_is_refused_saying_where_manifests_go(api, manager, name):
    """In a text project a manifest picked in "Upload files" became ONE text item holding every line of it
    (its JSON or CSV as the text to label); a .txt is still a text item."""
    project = text_project(manager)
    manifest = b'{"text": "great product"}\n{"text": "awful"}\n' if "json" in name else b"text\ngreat product\n"
    response = upload(api(manager), project, [(name, manifest), ("note.txt", b"a plain note")])
    assert response.status_code == 201  # the note
    ((rejected, reason),) = [(r["name"], r["reason"]) for r in response.json()["rejected"]]
    assert rejected == name and "manifest" in reason and "Manifest or zip archive" in reason, reason
    assert f"/api/projects/{project.pk}/imports/" in reason, reason
    assert list(Item.objects.filter(project=project).values_list("text", flat=True)) == ["a plain note"]


def test_a_text_file_saved_in_another_encoding_is_refused_saying_which_and_what_to_do(api, manager):
    """Notepad's "Unicode" (UTF-16 with its byte-order mark) and Latin-1 files were refused as "'utf-8' codec
    can't decode byte 0xff in position 0: invalid start byte": Python's words, no line, nothing to do."""
    project = text_project(manager)
    files = {
        "notepad.txt": "hello, world\r\n".encode("utf-16"),
        "latin1.txt": "first line\ncafé au lait".encode("latin-1"),
    }
    response = upload(api(manager), project, list(files.items()))
    reasons = {r["name"]: r["reason"] for r in response.json()["rejected"]}
    assert reasons == {
        "notepad.txt": "text file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8: save it as UTF-8",
        "latin1.txt": "text file is not UTF-8 (byte 14, 0xe9, on line 2): save it as UTF-8",
    }
