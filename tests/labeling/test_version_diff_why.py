"""A version diff says why each relabeled item changed: an SME decision, a decision no longer shipped, a class
renamed or merged between the two builds, or the labelers' answers."""

import json

import pytest

from labeling.choices import Role, TaxonomyOp
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from labeling.services.taxonomy import taxonomy_apply, taxonomy_undo
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db


def diff(api, user, project, to, against):
    response = api(user).get(f"/api/projects/{project.pk}/versions/{to}/diff?against={against}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_each_relabeled_item_says_why(api, client, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    renamed, decided, changed, same = add_texts(project, ["purr", "bark or purr", "woof", "meow"])
    one, two = labelers(project, 2)
    for user in (one, two):
        answer(renamed, user, "cat")
        answer(decided, user, "cat")
        answer(changed, user, "cat")
        answer(same, user, "other")
    v1 = build(project, manager)

    taxonomy_apply(project=project, op=TaxonomyOp.RENAME, payload={"key": "cat", "new_key": "feline"})
    decision_record(item=decided, reviewer=reviewer, label="dog", rationale="it barks")
    answer(changed, one, "dog")
    answer(changed, two, "dog")
    v2 = build(project, manager)

    out = diff(api, reviewer, project, v2.number, v1.number)
    why = {row["item"]: (row["from"], row["to"], row["why"]) for row in out["relabeled"]}
    assert why == {
        renamed.pk: ("cat", "feline", "taxonomy"),
        decided.pk: ("cat", "dog", "decision"),
        changed.pk: ("cat", "dog", "answers"),
    }
    assert out["why"] == {"decision": 1, "taxonomy": 1, "answers": 1}

    # Backwards (the older version as `to`), the rename still reads as one.
    back = diff(api, reviewer, project, v1.number, v2.number)
    assert {row["item"]: row["why"] for row in back["relabeled"]}[renamed.pk] == "taxonomy"

    # The decision withdrawn: the next version ships the answers again, and says so.
    decision_record(item=decided, reviewer=reviewer, action="withdrawn", rationale="misread")
    v3 = build(project, manager)
    out = diff(api, reviewer, project, v3.number, v2.number)
    assert [(row["item"], row["from"], row["to"], row["why"]) for row in out["relabeled"]] == [
        (decided.pk, "dog", "feline", "decision_gone")
    ]

    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/versions/{v2.number}/diff/?against={v1.number}").content.decode()
    assert f'<tr data-item="{renamed.pk}" data-why="taxonomy">' in page
    assert "class renamed or merged" in page
    assert "<b>1</b> by an SME decision" in page


def test_a_merge_of_box_classes_reads_as_taxonomy_not_as_new_boxes(api, manager, reviewer):
    classes = [{"key": k, "name": k.title()} for k in ("deep", "shallow", "scratch")]
    project = make_project(manager, name="Scratches", modality="image", task_type="detection", classes=classes)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"width": 200, "height": 100})
    alice, bob = labelers(project, 2)
    box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5}
    for user in (alice, bob):
        answer(item, user, json.dumps({"boxes": [{**box, "label": "deep"}]}))
    v1 = build(project, manager)
    taxonomy_apply(project=project, op=TaxonomyOp.MERGE, payload={"classes": ["deep", "shallow"], "into": "scratch"})
    v2 = build(project, manager)
    out = diff(api, reviewer, project, v2.number, v1.number)
    assert [(row["item"], row["why"]) for row in out["relabeled"]] == [(item.pk, "taxonomy")]
    # the box did not move: it is relabeled, not one box removed and another added
    assert out["shapes"] == {"added": 0, "removed": 0, "moved": 0, "relabeled": 1}


def test_a_merge_undone_between_the_builds_reads_as_taxonomy(api, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (barks,) = add_texts(project, ["woof"])
    one, two = labelers(project, 2)
    for user in (one, two):
        answer(barks, user, "dog")
    change = taxonomy_apply(project=project, op=TaxonomyOp.MERGE, payload={"classes": ["cat", "dog"], "into": "cat"})
    v1 = build(project, manager)
    taxonomy_undo(change=change)
    v2 = build(project, manager)

    # The same answers, read as "cat" while the merge stood and as "dog" since it was undone.
    out = diff(api, reviewer, project, v2.number, v1.number)
    assert [(row["item"], row["from"], row["to"], row["why"]) for row in out["relabeled"]] == [
        (barks.pk, "cat", "dog", "taxonomy")
    ]
    back = diff(api, reviewer, project, v1.number, v2.number)
    assert [(row["item"], row["why"]) for row in back["relabeled"]] == [(barks.pk, "taxonomy")]


def test_a_decision_shipped_in_both_whose_class_was_renamed_reads_as_taxonomy(api, manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (decided,) = add_texts(project, ["purr or bark"])
    one, two = labelers(project, 2)
    answer(decided, one, "cat")
    answer(decided, two, "dog")
    decision_record(item=decided, reviewer=reviewer, label="cat", rationale="it purrs")
    v1 = build(project, manager)
    taxonomy_apply(project=project, op=TaxonomyOp.RENAME, payload={"key": "cat", "new_key": "feline"})
    v2 = build(project, manager)

    # No decision was made between the builds: the one both ship reads by the class's new key.
    out = diff(api, reviewer, project, v2.number, v1.number)
    assert [(row["item"], row["from"], row["to"], row["why"]) for row in out["relabeled"]] == [
        (decided.pk, "cat", "feline", "taxonomy")
    ]
    back = diff(api, reviewer, project, v1.number, v2.number)
    assert [(row["item"], row["why"]) for row in back["relabeled"]] == [(decided.pk, "taxonomy")]
