"""A version built while the taxonomy changes is one state of the project: the class map it applies and the
classes it counts are read in the same snapshot as the answers, on PostgreSQL."""

import threading

import pytest
from django.db import connection, connections

from labeling.models import Project
from labeling.services import versions
from labeling.services.taxonomy import taxonomy_apply
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project


@pytest.mark.django_db(transaction=True)
def test_a_merge_landing_as_a_build_starts_never_drops_the_merged_answers(manager, monkeypatch):
    """The build read the taxonomy's class map, and then, in its snapshot, the active classes: a merge of
    'dog' into 'cat' committed in between left 'dog' retired with no mapping, so every 'dog' answer
    counted for nothing and the dog items were shipped without a label."""
    if connection.vendor != "postgresql":
        pytest.skip("the build's snapshot is PostgreSQL's")
    project = text_project(manager)
    items = add_texts(project, ["a", "b", "c"])
    (a, b) = labelers(project, 2)
    for item in items:
        answer(item, a, "dog")
        answer(item, b, "dog")
    real = versions.effective_class_map

    def class_map_then_a_merge(**kwargs):
        found = real(**kwargs)

        def merge():
            try:
                fresh = Project.objects.get(pk=project.pk)
                taxonomy_apply(project=fresh, op="merge", payload={"classes": ["dog", "cat"], "into": "cat"})
            finally:
                connections.close_all()

        thread = threading.Thread(target=merge)
        thread.start()
        thread.join(timeout=30)
        return found

    monkeypatch.setattr(versions, "effective_class_map", class_map_then_a_merge)
    rows = manifest(build(project, manager))
    # Before the merge (dog) or after it (cat): either is one state of the project; unlabeled is none.
    assert sorted(r["item"] for r in rows) == [i.pk for i in items]
    assert {r["label"] for r in rows} in ({"dog"}, {"cat"})


@pytest.mark.django_db(transaction=True)
def test_a_version_records_the_transcript_conventions_it_applied_when_they_change_during_the_build(
    manager, monkeypatch
):
    """The conventions a version applies are read in its snapshot, but the ones it recorded in ``info``
    were read again after it: conventions changed meanwhile were recorded as the ones it shipped under."""
    if connection.vendor != "postgresql":
        pytest.skip("the build's snapshot is PostgreSQL's")
    from labeling.services.review import conventions_set
    from tests.conftest import make_project

    project = make_project(manager, name="Queries", modality="text", task_type="transcription")
    conventions_set(project=project, rules={"lowercase": True})
    items = add_texts(project, ["a"])
    (a, b) = labelers(project, 2)
    for labeler in (a, b):
        answer(items[0], labeler, "Hello World")
    real = versions._answers_artifact

    def answers_then_new_conventions(**kwargs):
        found = real(**kwargs)

        def change():
            try:
                fresh = Project.objects.get(pk=project.pk)
                conventions_set(project=fresh, rules={"lowercase": False})
            finally:
                connections.close_all()

        thread = threading.Thread(target=change)
        thread.start()
        thread.join(timeout=30)
        return found

    monkeypatch.setattr(versions, "_answers_artifact", answers_then_new_conventions)
    version = build(project, manager)
    assert [r["label"] for r in manifest(version)] == ["hello world"]
    assert version.info["transcript_conventions"]["lowercase"] is True
