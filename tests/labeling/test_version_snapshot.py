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
