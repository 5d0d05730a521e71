"""The review page shows what labelers answered before they changed their answer (AnnotationRevision):
the SME sees "lab0 said cat, then dog", not only the answer as it stands."""

import json
import re

import pytest

from labeling.choices import Role, TaxonomyOp
from labeling.services.projects import member_add
from labeling.services.taxonomy import taxonomy_apply
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


def section(page, table_id):
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    return found.group(0) if found else ""


def test_a_changed_answer_shows_what_it_was(client, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = add_texts(project, ["a purring bark"])
    one, two = labelers(project, 2)
    answer(item, one, "cat", comment="purrs")
    answer(item, one, "dog", uncertain=True)  # changed their mind
    answer(item, two, "dog")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    changed = section(page, "revised-answers")
    assert 'data-labeler="lab0" data-revision="1"' in changed
    assert "<b>cat</b>" in changed and "purrs" in changed
    assert "lab1" not in changed  # who never changed an answer is not listed
    assert "<b>dog</b>" in section(page, "answers")


def test_an_unchanged_item_has_no_changed_answers_section(client, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = add_texts(project, ["a purr"])
    (one,) = labelers(project, 1)
    answer(item, one, "cat")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    assert 'id="revised-answers"' not in page


def test_a_changed_boxes_answer_shows_its_shapes_count_and_classes(client, manager, reviewer):
    classes = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=classes)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"width": 200, "height": 100})
    (alice,) = labelers(project, 1)
    box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5}
    answer(item, alice, json.dumps({"boxes": [{**box, "label": "iguana"}, {**box, "x": 0.5, "label": "iguana"}]}))
    answer(item, alice, json.dumps({"boxes": [{**box, "label": "rock"}]}))
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    changed = section(page, "revised-answers")
    row = re.search(r'<tr data-labeler="lab0" data-revision="1">.*?</tr>', changed, re.S).group(0)
    assert '<td class="num">2</td><td>Iguana</td>' in row


def test_answers_given_before_a_rename_read_by_the_class_s_name_now(client, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = add_texts(project, ["a purring bark"])
    one, two = labelers(project, 2)
    answer(item, one, "cat")
    answer(item, one, "dog")  # changed their mind
    answer(item, two, "cat")
    taxonomy_apply(
        project=project, op=TaxonomyOp.RENAME, payload={"key": "cat", "new_key": "fel", "new_name": "Feline"}
    )
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    # The answers keep the key they were given ('cat'), which no class holds now: they read by the name of
    # the class they count as, as its decision button does, not by the bare old key.
    assert "<b>Feline</b>" in section(page, "revised-answers")
    assert "<b>Feline</b>" in section(page, "answers")
    assert "<b>cat</b>" not in page


def test_boxes_drawn_before_a_rename_read_by_the_class_s_name_now(client, manager, reviewer):
    classes = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=classes)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"width": 200, "height": 100})
    (alice,) = labelers(project, 1)
    box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5}
    answer(item, alice, json.dumps({"boxes": [{**box, "label": "iguana"}]}))
    answer(item, alice, json.dumps({"boxes": [{**box, "label": "rock"}]}))
    taxonomy_apply(
        project=project, op=TaxonomyOp.RENAME, payload={"key": "iguana", "new_key": "ig", "new_name": "Lizard"}
    )
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    row = re.search(r'<tr data-labeler="lab0" data-revision="1">.*?</tr>', section(page, "revised-answers"), re.S)
    assert '<td class="num">1</td><td>Lizard</td>' in row.group(0)
