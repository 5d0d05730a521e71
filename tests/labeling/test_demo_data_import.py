"""The sample data in labeling/demo_data/ imports as the README says, with manage.py import_items: a new
team's first day can start from 32 spoken-query clips and 300 rated words, not only from the demo."""

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command

from labeling.models import Item
from tests.conftest import make_project

pytestmark = pytest.mark.django_db
DEMO_DATA = Path(__file__).resolve().parents[2] / "labeling" / "demo_data"


def import_items(*args):
    out = io.StringIO()
    call_command("import_items", *args, stdout=out, stderr=io.StringIO())  # raises (exit 1) on any refusal
    return out.getvalue()


def test_the_spoken_queries_import_tagged_by_recording_condition_with_their_transcripts(manager):
    project = make_project(manager, name="Spoken queries", modality="audio", task_type="transcription")
    out = import_items("Spoken queries", str(DEMO_DATA / "speech" / "manifest.jsonl"))
    assert "32 imported, 0 duplicates, 0 rejected" in out
    items = list(Item.objects.filter(project=project).prefetch_related("tags"))
    conditions = Counter(tag.name for item in items for tag in item.tags.all())
    assert conditions == {"clean": 8, "car-noise": 8, "people-noise": 8, "low-bandwidth": 8}
    # The manifest says what manifest.json (the clips' own description) says of each clip.
    described = {row["file"]: row for row in json.loads((DEMO_DATA / "speech" / "manifest.json").read_text())}
    assert len(described) == 32 == len(list((DEMO_DATA / "speech").glob("*.flac")))
    for item in items:
        (name,) = [n for n in described if item.original_name.endswith(f"({n})")]
        assert item.metadata["transcript"] == described[name]["transcript"]
        assert [t.name for t in item.tags.all()] == [described[name]["condition"]]


def test_the_sentiment_words_import_as_text_items_with_their_ratings(manager):
    project = make_project(manager, name="Sentiment of words", modality="text")
    out = import_items("Sentiment of words", str(DEMO_DATA / "sentiment" / "words.jsonl"))
    assert "300 imported, 0 duplicates, 0 rejected" in out
    rows = (DEMO_DATA / "sentiment" / "vader_sample.tsv").read_text(encoding="utf-8").splitlines()[1:]
    ratings = {line.split("\t")[0]: json.loads(line.split("\t")[3]) for line in rows}
    stored = {item.text: item.metadata["vader_ratings"] for item in Item.objects.filter(project=project)}
    assert stored == ratings
