"""The class keys every answer is checked against are cached per process and project, and reloaded when
the project's classes change, in this process or in another (web workers do not share memory)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from labeling.choices import TaxonomyOp
from labeling.models import Annotation, Item, LabelClass, Project
from labeling.services.queue import annotation_submit
from labeling.services.taxonomy import taxonomy_apply, taxonomy_undo
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def submit(item_id, labeler, value):
    """An answer as a request makes it: the item and its project loaded afresh."""
    item = Item.objects.select_related("project").get(pk=item_id)
    return annotation_submit(item=item, labeler=labeler, value=value)


def class_table_reads(queries):
    return [q["sql"] for q in queries if LabelClass._meta.db_table in q["sql"]]


def test_answers_after_the_first_do_not_read_the_class_table(project, labeler):
    first, second, third = make_items(project, 3)
    submit(first.pk, labeler, "cat")
    with CaptureQueriesContext(connection) as queries:
        submit(second.pk, labeler, "dog")
        submit(third.pk, labeler, "other")
    assert class_table_reads(queries) == []


def test_a_class_another_process_retired_or_added_is_seen_by_the_next_answer(project, labeler):
    first, second, third = make_items(project, 3)
    submit(first.pk, labeler, "cat")  # this process now has the keys cached
    # Another web process changes the classes: it bumps the version in the database, and cannot reach
    # this process's memory.
    LabelClass.objects.filter(project=project, key="dog").update(retired=True)
    LabelClass.objects.bulk_create([LabelClass(project=project, key="bird", name="bird", order=9)])
    Project.objects.filter(pk=project.pk).update(classes_version=F("classes_version") + 1)
    with pytest.raises(ValidationError, match="dog"):
        submit(second.pk, labeler, "dog")
    submit(third.pk, labeler, "bird")


def test_taxonomy_changes_and_their_undo_change_what_answers_may_use(project, labeler, manager):
    items = make_items(project, 3)
    submit(items[0].pk, labeler, "cat")
    change = taxonomy_apply(project=project, op=TaxonomyOp.RETIRE, payload={"key": "other"}, author=manager)
    with pytest.raises(ValidationError, match="other"):
        submit(items[1].pk, labeler, "other")
    taxonomy_undo(change=change, user=manager)
    submit(items[1].pk, labeler, "other")
    taxonomy_apply(project=project, op=TaxonomyOp.RENAME, payload={"key": "dog", "new_key": "hound"}, author=manager)
    with pytest.raises(ValidationError, match="wolf"):
        submit(items[2].pk, labeler, "wolf")
    # the key renamed away is the class it became (an answer given before the rename, saved again)
    submit(items[2].pk, labeler, "dog")
    assert Annotation.objects.get(item=items[2], labeler=labeler).value == "hound"


def test_a_class_edited_row_by_row_raises_the_version(project):
    """The admin edits classes one row at a time (save and delete), not through the taxonomy service."""
    before = Project.objects.get(pk=project.pk).classes_version
    row = LabelClass.objects.get(project=project, key="other")
    row.key = "misc"
    row.save()
    row.delete()
    assert Project.objects.get(pk=project.pk).classes_version == before + 2
