"""Manifest imports: each line is one record, and clean text lines (taken straight from their records
into the chunk's rows) come out exactly as lines that go through an ImportEntry."""

import gc
import io
import json

import pytest

from labeling.models import DataSource, Item
from labeling.services import imports
from tests.conftest import make_project
from tests.labeling.test_item_import import run_import, text_project


def test_a_line_is_one_record_however_the_lines_split_the_objects(manager):
    # Joined together the lines would parse as four objects for four lines, the first spanning lines
    # 1 and 2 and two objects on line 3: each line must be read on its own.
    project = text_project(manager)
    manifest = '{"text": "a", "n": [{}\n{}]}\n{"text": "b"}, {"text": "c"}\n{"text": "d"}\n'
    job = run_import(project, manager, "m.jsonl", manifest.encode())
    assert job.result["imported"] == 1 and job.result["rejected"] == 3
    assert list(Item.objects.filter(project=project).values_list("text", "original_name")) == [("d", "line 4")]
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert sorted(reasons) == ["line 1", "line 2", "line 3"]
    assert reasons["line 3"].startswith("malformed JSON: Extra data")


def test_numbers_beyond_64_bits_are_kept_exactly(manager):
    project = text_project(manager)
    big = 123456789012345678901234567890
    lines = [
        json.dumps({"text": "big", "metadata": {"id": big, "neg": -(2**63) - 1}, "tags": [12345678901234567890123]}),
        json.dumps({"text": "small", "metadata": {"x": 0.1, "y": 2**63}}),
    ]
    job = run_import(project, manager, "m.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 2, job.errors
    item = Item.objects.get(project=project, text="big")
    assert item.metadata == {"id": big, "neg": -(2**63) - 1}
    assert [t.name for t in item.tags.all()] == ["12345678901234567890123"]
    assert Item.objects.get(project=project, text="small").metadata == {"x": 0.1, "y": 2**63}


def _manifest(project):
    DataSource.objects.create(project=project, name="crawl", kind="scrape")
    clean = [  # lines 1-7: a chunk of clean text lines only
        {"text": "review 0", "tags": ["web"], "label": "pos"},
        {"text": "review 1", "tags": "web, mobile", "label": " neg "},
        {"text": "review 2", "metadata": None, "label": None},
        {"text": "review 3", "metadata": {"stars": 5, "k": [1, "two", None]}, "tags": []},
        {"text": "review 4", "source": "", "label": ""},
        {"text": "two\nlines\ttab\\", "tags": ["web"]},
        {"text": "review 6", "metadata": {"other": 1}},
    ]
    odd = [  # lines 10-28
        {"text": "  padded label ", "label": " neg "},
        {"text": "numbered label", "label": 7},
        {"text": "   "},
        {"text": "x" * 41},
        {"text": "unknown class", "label": "meh"},
        {"text": "tags as text", "tags": "a, b ,,c"},
        {"text": "tags of numbers", "tags": [1, 2.5, True]},
        {"text": "bad tags", "tags": {"a": 1}},
        {"text": "long tag", "tags": ["t" * 101]},
        {"text": "named source", "source": "crawl", "metadata": {"k": [1, "two", None]}},
        {"text": "unknown source", "source": "nowhere"},
        {"text": "list metadata", "metadata": [1]},
        {"text": 5},
        {"path": "a.png"},
        {"other": 1},
        {"text": "review 3"},
        {"text": "numbered label"},
        {"text": "review 1", "label": 7},
        {"text": "tab\there\\n", "metadata": {"note": "line\nbreak"}},
    ]
    again = [{"text": "review 0"}] + [{"text": f"review {i}", "tags": ["web"]} for i in range(7, 13)]  # 30-36
    again += [{"text": "one", "tags": [1]}, {"text": "true", "tags": [True]}]  # 37-38, equal as keys
    lines = [*map(json.dumps, clean), "", "{broken", *map(json.dumps, odd), "[1]", *map(json.dumps, again)]
    return "\n".join(lines) + "\n"


def _import(project, manifest, fast):
    def open_path(path):
        raise imports.InputRejected(f"no file '{path}' here")

    kwargs = {"project": project, "fmt": "jsonl", "open_path": open_path, "tags": ["batch"]}
    if fast:
        return imports.manifest_import(stream=io.StringIO(manifest), **kwargs)
    entries = imports.manifest_entries(stream=io.StringIO(manifest), **kwargs)
    return imports.items_import(project=project, entries=entries)


def _stored(project, report):
    ids = {pk: n for n, pk in enumerate(Item.objects.filter(project=project).values_list("id", flat=True))}
    items = [
        (
            i.original_name,
            i.text,
            i.label,
            i.metadata,
            i.stats,
            i.source and i.source.name,
            sorted(t.name for t in i.tags.all()),
        )
        for i in Item.objects.filter(project=project).select_related("source").prefetch_related("tags")
    ]
    duplicates = [(d["name"], ids[d["item"]]) for d in report.duplicates]
    return items, [ids[pk] for pk in report.imported], duplicates, report.rejected


@pytest.mark.parametrize("block_bytes", [1 << 20, 100])  # the manifest read in one block, or a few lines a block
def test_clean_lines_and_lines_with_something_to_check_import_as_entries_do(
    manager, settings, monkeypatch, block_bytes
):
    settings.LABELHUB_MAX_TEXT_CHARS = 40
    monkeypatch.setattr(imports, "TEXT_CHUNK_SIZE", 7)  # chunks mixing both kinds of line
    monkeypatch.setattr(imports, "_JSON_BATCH_BYTES", block_bytes)  # chunks across blocks
    results = []
    for fast in (False, True):
        project = make_project(
            manager, name="Reviews", modality="text", classes=[{"key": k} for k in ("pos", "neg", "7")]
        )
        report = _import(project, _manifest(project), fast)
        results.append(_stored(project, report))
    assert results[1] == results[0]
    items, imported, duplicates, rejected = results[1]
    # Line order is item order, whichever way a line went (1-7 and 30-36: chunks held as columns; 11:
    # an entry; 10, 15, 16...: rows).
    names = [1, 2, 3, 4, 5, 6, 7, 10, 11, 15, 16, 19, 28, 31, 32, 33, 34, 35, 36, 37, 38]
    assert [name for name, *_ in items] == [f"line {n}" for n in names]
    assert items[1][2:] == ("neg", {}, {"length": 8, "words": 2, "lines": 1}, None, ["batch", "mobile", "web"])
    assert items[5][1] == "two\nlines\ttab\\" and items[5][4]["lines"] == 2
    assert items[8][1:3] == ("numbered label", "7") and items[9][-1] == ["a", "b", "batch", "c"]
    assert items[11][3] == {"k": [1, "two", None]} and items[11][5] == "crawl"
    assert items[-2][-1] == ["1", "batch"] and items[-1][-1] == ["True", "batch"]
    assert imported == list(range(len(names)))
    # Second copies, all of items stored by an earlier chunk: of a row held as columns (25, 27 and 30, in a
    # chunk held as columns) and of an entry (26).
    assert duplicates == [("line 25", 3), ("line 26", 8), ("line 27", 1), ("line 30", 0)]
    rejected_lines = [9, 12, 13, 14, 17, 18, 20, 21, 22, 23, 24, 29]
    assert [r["name"].split(" (")[0] for r in rejected] == [f"line {n}" for n in rejected_lines]


def test_the_garbage_collector_is_on_again_after_an_import_even_a_failing_one(manager, monkeypatch):
    # Imports pause Python's cyclic garbage collector while a chunk is worked on; a worker left without
    # it would keep every reference cycle it ever made.
    project = text_project(manager)
    paused = []
    real_insert = imports._insert

    def insert(**kwargs):
        paused.append(not gc.isenabled())
        return real_insert(**kwargs)

    monkeypatch.setattr(imports, "_insert", insert)
    assert gc.isenabled()
    _import(project, '{"text": "one"}\n{"text": "two"}\n', fast=True)
    _import(project, '{"text": "three"}\n', fast=False)
    assert paused == [True, True] and gc.isenabled()
    assert sorted(Item.objects.filter(project=project).values_list("text", flat=True)) == ["one", "three", "two"]

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(imports, "_insert", explode)
    for fast in (True, False):
        with pytest.raises(RuntimeError, match="database went away"):
            _import(project, '{"text": "four"}\n', fast=fast)
        assert gc.isenabled()
    # A caller that turned it off keeps it off.
    monkeypatch.setattr(imports, "_insert", real_insert)
    gc.disable()
    try:
        _import(project, '{"text": "five"}\n', fast=True)
        assert not gc.isenabled()
        assert Item.objects.filter(project=project, text="five").exists()
    finally:
        gc.enable()


def test_a_tag_holding_a_comma_is_refused_naming_it_as_a_csv_would_split_it(manager):
    # ["b, c"] was stored as one tag, and the version's CSV (tags comma-separated) gave it back as "b" and "c".
    project = text_project(manager)
    lines = [json.dumps({"text": "a", "tags": ["b, c", "ünï"]}), json.dumps({"text": "d", "tags": ["ünï 🏷"]})]
    job = run_import(project, manager, "m.jsonl", "\n".join(lines).encode())
    assert job.result["imported"] == 1 and job.result["rejected"] == 1
    reason = "tag 'b, c' holds a comma: tags are listed comma-separated, so a tag cannot hold one"
    assert job.errors == [{"name": "line 1", "reason": reason}]
    assert [t.name for t in Item.objects.get(project=project, text="d").tags.all()] == ["ünï 🏷"]


NUL_REASON = "it holds a NUL character (\\u0000), which the database cannot store: remove it"


def test_a_nul_character_in_a_line_or_a_text_file_is_refused_naming_it_and_the_rest_goes_in(manager):
    """PostgreSQL stores no NUL character (U+0000) in text or JSON: a manifest line holding one, in its text,
    its metadata or a tag, failed the whole import job ("invalid byte sequence for encoding UTF8: 0x00"),
    and SQLite stored what PostgreSQL would not. Each such line or file is refused by name; the others go in."""
    from tests.labeling.test_label_import import zip_bytes

    project = text_project(manager)
    jsonl = "\n".join(
        [
            json.dumps({"text": "a\u0000b"}),
            json.dumps({"text": "fine one"}),
            json.dumps({"text": "meta", "metadata": {"note": "x\u0000"}}),
            json.dumps({"text": "tagged", "tags": ["t\u0000"]}),
            json.dumps({"text": "a literal backslash-u0000: \\u0000 stays"}),
        ]
    )
    job = run_import(project, manager, "m.jsonl", jsonl.encode())
    assert job.status == "succeeded", job.errors
    assert job.errors == [{"name": f"line {n}", "reason": NUL_REASON} for n in (1, 3, 4)]
    csv_job = run_import(project, manager, "m.csv", b'text\n"c\x00d"\nfine two\n')
    assert csv_job.errors == [{"name": "line 2", "reason": NUL_REASON}]
    zip_job = run_import(project, manager, "t.zip", zip_bytes([("x.txt", b"e\x00f"), ("y.txt", b"fine three")]))
    assert [e["name"] for e in zip_job.errors] == ["x.txt"] and "NUL character" in zip_job.errors[0]["reason"]
    assert sorted(Item.objects.filter(project=project).values_list("text", flat=True)) == [
        "a literal backslash-u0000: \\u0000 stays",
        "fine one",
        "fine three",
        "fine two",
    ]


def test_a_chunk_of_lines_with_the_same_tags_and_source_stores_each_on_every_item(manager):
    # Every line with the same tag set: the links are written per tag over all the chunk's items; the
    # source, job and metadata are one value on every row.
    results = []
    for fast in (False, True):
        project = make_project(manager, name=f"Same {fast}", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
        source = DataSource.objects.create(project=project, name="crawl", kind="scrape")
        manifest = "".join(
            json.dumps({"text": f"text {i}\tx\\", "tags": ["web", "mobile"], "label": "pos"}) + "\n" for i in range(5)
        )
        kwargs = {"project": project, "fmt": "jsonl", "open_path": None, "tags": ["batch"], "source": source}
        if fast:
            report = imports.manifest_import(stream=io.StringIO(manifest), **kwargs)
        else:
            entries = imports.manifest_entries(stream=io.StringIO(manifest), **kwargs)
            report = imports.items_import(project=project, entries=entries)
        results.append(_stored(project, report))
    assert results[1] == results[0]
    items, imported, duplicates, rejected = results[1]
    assert imported == [0, 1, 2, 3, 4] and not duplicates and not rejected
    assert [item[1] for item in items] == [f"text {i}\tx\\" for i in range(5)]
    assert all(item[2:] == ("pos", {}, item[4], "crawl", ["batch", "mobile", "web"]) for item in items)
    assert items[0][4] == {"length": 9, "words": 3, "lines": 1}


@pytest.mark.parametrize(
    "block",
    [b"", b"\n", b"a", b"a\n", b"\n\na\n", b" \n a \n\t\n", b"a\n   ", b"a\n\n", b"a\r\nb\r\n", b"  \x0b\n"]
    + [b"a\n \n b", b"\xef\xbb\xbf{}\n{}\n" * 3],
)
def test_a_job_counts_the_non_blank_lines_of_its_manifest(block):
    from labeling.services import import_jobs

    # What the job's progress total counts: lines with something other than blank space.
    expected = sum(1 for line in block.split(b"\n") if line.strip())
    assert import_jobs._count_lines(io.BytesIO(block)) == expected


def test_a_manifest_with_blank_lines_has_its_non_blank_lines_as_its_total(manager):
    project = text_project(manager)
    manifest = b'{"text": "a"}\r\n\r\n  \t\n{"text": "b"}\n \n{"text": "c"}'
    job = run_import(project, manager, "m.jsonl", manifest)
    assert job.total == 3 and job.processed == 3 and job.result["imported"] == 3


@pytest.mark.parametrize("fast", [True, False])
def test_a_field_a_manifest_does_not_have_is_named_and_its_line_refused(manager, fast):
    """A misspelt field ("lable") was dropped without a word and the item came in unlabeled."""
    project = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    lines = ['{"text": "good", "lable": "pos"}', '{"txt": "bad"}', '{"text": "fine", "label": "pos"}']
    report = _import(project, "\n".join(lines) + "\n", fast)
    assert list(Item.objects.filter(project=project).values_list("text", "label")) == [("fine", "pos")]
    reasons = [r["reason"] for r in report.rejected]
    assert reasons[0].startswith("unknown field 'lable' (a manifest has path, text, label, tags, source, metadata")
    assert reasons[1].startswith("unknown field 'txt'")


def test_csv_columns_are_read_without_case_and_an_unknown_one_is_named(manager):
    project = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    job = run_import(project, manager, "sheet.csv", b"Text, Label ,TAGS\ngood,pos,web\n")
    assert job.result["imported"] == 1, job.errors
    item = Item.objects.get(project=project)
    assert (item.text, item.label, [t.name for t in item.tags.all()]) == ("good", "pos", ["web"])
    job = run_import(project, manager, "semicolons.csv", b"text;label\nbad;neg\n")
    assert job.status == "failed" and not job.result  # the header is wrong, so is every line: the file is refused
    assert "unknown field 'text;label'" in job.errors[0]["reason"] and "separated by commas" in job.errors[0]["reason"]


def test_a_csv_manifest_takes_a_text_as_long_as_a_text_item_may_be(manager, settings):
    """Python's csv module refuses a field over 131,072 characters by default: a CSV manifest holding a text
    item the app allows (200,000 characters) failed its job with csv.Error."""
    project = text_project(manager)
    long_text = "word " * (settings.LABELHUB_MAX_TEXT_CHARS // 5)
    job = run_import(project, manager, "long.csv", f'text,label\n"{long_text}",pos\nshort,neg\n'.encode())
    assert job.status == "succeeded" and job.result["imported"] == 2, job.errors
    assert sorted(len(t) for t in Item.objects.filter(project=project).values_list("text", flat=True)) == [
        5,
        settings.LABELHUB_MAX_TEXT_CHARS,
    ]


def test_a_csv_manifest_with_a_field_over_the_limit_fails_naming_its_line(manager, settings):
    project = text_project(manager)
    too_long = "x" * (settings.LABELHUB_MAX_TEXT_CHARS + 1)
    job = run_import(project, manager, "huge.csv", f"text,label\nfine,pos\n{too_long},neg\n".encode())
    assert job.status == "failed"
    (error,) = job.errors
    assert "line 3" in error["reason"] and f"{settings.LABELHUB_MAX_TEXT_CHARS:,} characters" in error["reason"]
    assert "Error" not in error["reason"]  # a sentence, not the exception's class


def test_a_csv_manifest_with_a_quote_left_open_fails_naming_its_line_instead_of_one_long_item(manager):
    """A quote never closed (a spreadsheet cell cut short) made the rest of the file one field: the job
    "succeeded" with one item whose text was every later line, commas and labels included."""
    project = text_project(manager)
    job = run_import(project, manager, "cut.csv", b'text,label\nfine,pos\n"unterminated,pos\nalso fine,neg\n')
    assert job.status == "failed"
    (error,) = job.errors
    assert "line 4: not CSV: unexpected end of data" in error["reason"], error
    assert not Item.objects.filter(project=project).exists()  # the lines' batch held the error (none stored)


def test_a_csv_manifests_text_over_several_lines_is_named_by_the_line_it_starts_on(manager):
    """A quoted text of four lines was named by its last line ("line 5" for the record opening on line 2),
    and so was a problem with it: the file opened at that line shows the end of another text's field."""
    project = text_project(manager)
    sheet = 'text,label\n"first line\nsecond ""quoted"" line\n\nfourth",pos\n\nplain,neg\n"crlf\r\ninside",meh\n'
    job = run_import(project, manager, "sheet.csv", sheet.encode())
    names = dict(Item.objects.filter(project=project).values_list("text", "original_name"))
    assert names == {'first line\nsecond "quoted" line\n\nfourth': "line 2", "plain": "line 7"}
    assert [e["name"] for e in job.errors] == ["line 8"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "m.csv",
            b"text,label\ngood line,\ncaf\xe9 au lait,\n",  # Excel's "CSV (Windows)": cp1252
            "m.csv is not UTF-8 (byte 25, 0xe9, on line 3): save it as UTF-8",
        ),
        (
            "m.jsonl",
            b'{"text": "ok"}\n{"text": "na\xefve"}\n',
            "m.jsonl is not UTF-8 (byte 27, 0xef, on line 2): save it as UTF-8",
        ),
        (
            "m.csv",
            "text\nhello\n".encode("utf-16"),  # Notepad's and Excel's "Unicode text"
            "m.csv is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8: save it as UTF-8",
        ),
    ],
)
def test_a_manifest_that_is_not_utf8_fails_naming_its_encoding_or_first_bad_byte(manager, name, content, reason):
    """A CSV saved from a spreadsheet in cp1252 or UTF-16 failed as "the file is neither a zip archive nor a
    manifest (JSON Lines or CSV, in UTF-8): images, audio clips and text files are imported one by one under
    Upload files", which names neither the line nor the encoding, and sends its maker to the wrong form."""
    project = text_project(manager)
    job = run_import(project, manager, name, content)
    assert job.status == "failed"
    assert job.errors == [{"reason": reason}]


def test_an_image_given_as_a_manifest_is_told_to_go_under_upload_files(manager):
    from tests.conftest import png_bytes

    job = run_import(text_project(manager), manager, "a.png", png_bytes(size=(8, 8)))
    assert job.status == "failed"
    assert "images, audio clips and text files are imported one by one under Upload files" in job.errors[0]["reason"]
