"""The map and error analysis read the classes, the class mapping and the answers with several queries.
A taxonomy merge committed between them mixed two states: the map judged labels mapped to the merged
class against the classes before it, so every merged item counted as unlabeled (and the map job stored
it); error analysis resolved labels without the merge and listed the classes with it. They now read in
one snapshot (REPEATABLE READ on PostgreSQL), as the version build does."""

import threading

import pytest
from django.db import connection, connections

from analysis.services import error_analysis, maps
from labeling.models import Project
from labeling.services.annotations import annotation_save
from labeling.services.taxonomy import taxonomy_apply
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db(transaction=True)


def _merge_committed_before(module, name, monkeypatch, project, user):
    """Make ``module.<name>`` first wait for another connection to merge cat and dog into pet."""
    real = getattr(module, name)

    def merge_then_read(*args, **kwargs):
        def merge():
            try:
                taxonomy_apply(
                    project=Project.objects.get(pk=project.pk),
                    op="merge",
                    payload={"classes": ["cat", "dog"], "into": "pet", "name": "Pet"},
                    author=user,
                )
            finally:
                connections.close_all()

        thread = threading.Thread(target=merge)
        thread.start()
        thread.join(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, merge_then_read)


@pytest.fixture
def answered(project, labeler, labeler2):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    items = make_items(project, 3)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="cat")
    return items


def test_a_merge_while_the_map_reads_its_labels_leaves_them_labelled(monkeypatch, project, manager, answered):
    _merge_committed_before(maps, "labels_resolved", monkeypatch, project, manager)
    labels, sources = maps.label_sources(project=project, items=answered)
    assert labels == ["cat"] * 3 and sources == ["answers"] * 3
    assert project.classes.get(key="cat").retired  # the merge did commit meanwhile


def test_a_merge_while_error_analysis_reads_lists_the_classes_its_labels_were_resolved_with(
    monkeypatch, project, manager, answered
):
    from analysis.services.training import model_run_create

    run = model_run_create(
        project=project, name="m", predictions=[{"item": item.pk, "label": "cat"} for item in answered]
    )
    # After the labels are resolved, before the classes are listed.
    _merge_committed_before(error_analysis, "held_out_predictions", monkeypatch, project, manager)
    report = error_analysis.error_analysis_compute(project=project, model_run=run)
    assert {row["class"] for row in report["classes"]} == {"cat", "dog", "other"}
    assert project.classes.get(key="cat").retired
