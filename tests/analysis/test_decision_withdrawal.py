"""An SME takes back a decision: the item is undecided again (back in the review queue, shipped as its answers
resolve it, no longer gold), the withdrawal and the decision it took back stay in the history."""

import json

import pytest

from labeling.choices import Role
from labeling.models import Decision
from labeling.selectors import gold_labels
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def disputed(manager, reviewer, labeler):
    """A text item answered cat, cat, dog: the majority ships cat; the SME decides dog, gold."""
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    (item,) = add_texts(project, ["a purring bark"])
    one, two, three = labelers(project, 3)
    answer(item, one, "cat")
    answer(item, two, "cat")
    answer(item, three, "dog")
    return project, item


def decide(api, user, item, body):
    return api(user).post(f"/api/items/{item.pk}/decision/", body, format="json")


def queued(api, user, project):
    response = api(user).get(f"/api/projects/{project.pk}/review-queue/")
    assert response.status_code == 200, response.json()
    return [row["item"] for row in response.json()["results"]]


def test_a_withdrawn_decision_puts_the_item_back_in_the_queue_and_ships_the_answers_again(
    api, manager, reviewer, disputed
):
    project, item = disputed
    decided = decide(api, reviewer, item, {"label": "dog", "gold": True, "rationale": "it barks"})
    assert decided.status_code == 201, decided.json()
    assert item.pk not in queued(api, reviewer, project)
    assert gold_labels(project=project) == {item.pk: "dog"}
    assert [row["label"] for row in manifest(build(project, manager))] == ["dog"]

    withdrawn = decide(
        api,
        reviewer,
        item,
        {"action": "withdrawn", "rationale": "misread the text", "supersedes": decided.json()["id"]},
    )
    assert withdrawn.status_code == 201, withdrawn.json()
    assert withdrawn.json()["action"] == "withdrawn"

    assert item.pk in queued(api, reviewer, project)
    assert gold_labels(project=project) == {}  # it no longer scores the labelers
    assert [row["label"] for row in manifest(build(project, manager))] == ["cat"]  # the majority again
    history = api(reviewer).get(f"/api/items/{item.pk}/decision/").json()["results"]
    assert [(d["action"], d["label"], d["rationale"]) for d in history] == [
        ("withdrawn", "", "misread the text"),
        ("label", "dog", "it barks"),
    ]

    # A decision recorded after it is in force again.
    again = decide(api, reviewer, item, {"label": "cat", "rationale": "purrs", "supersedes": withdrawn.json()["id"]})
    assert again.status_code == 201, again.json()
    assert item.pk not in queued(api, reviewer, project)


def test_a_withdrawal_needs_a_decision_in_force_and_a_reason(api, reviewer, labeler, disputed):
    _, item = disputed
    nothing = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "oops"})
    assert nothing.status_code == 400
    assert f"item {item.pk} has no decision in force to withdraw" in json.dumps(nothing.json())

    assert decide(api, reviewer, item, {"label": "dog", "rationale": "it barks"}).status_code == 201
    why = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "  "})
    assert why.status_code == 400
    assert "say why the decision is withdrawn" in json.dumps(why.json())
    with_label = decide(api, reviewer, item, {"action": "withdrawn", "label": "cat", "rationale": "x"})
    assert with_label.status_code == 400
    assert "a withdrawal takes no label" in json.dumps(with_label.json())
    assert decide(api, labeler, item, {"action": "withdrawn", "rationale": "mine now"}).status_code == 403
    assert list(Decision.objects.values_list("action", flat=True)) == ["label"]

    first = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "misread"})
    assert first.status_code == 201
    # the same request again (its answer lost): the one recorded, nothing new
    retried = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "misread"})
    assert (retried.status_code, retried.json()["id"]) == (200, first.json()["id"])
    # another withdrawal has nothing left to take back
    twice = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "again, differently"})
    assert twice.status_code == 400
    assert "no decision in force" in json.dumps(twice.json())
    assert Decision.objects.count() == 2


def test_the_review_page_says_the_item_is_undecided_and_offers_withdrawal_only_over_a_decision(
    client, api, reviewer, disputed
):
    _, item = disputed
    client.force_login(reviewer)
    url = f"/projects/{item.project_id}/review/{item.pk}/"
    assert 'value="withdrawn"' not in client.get(url).content.decode()  # nothing to withdraw yet

    decide(api, reviewer, item, {"label": "dog", "gold": True, "rationale": "it barks"})
    page = client.get(url).content.decode()
    assert 'value="withdrawn"' in page
    assert "Decided already by you" in page

    decide(api, reviewer, item, {"action": "withdrawn", "rationale": "misread the text"})
    page = client.get(url).content.decode()
    assert "Undecided: you withdrew the decision (label &#x27;dog&#x27; (gold))" in page
    assert "Decided already" not in page
    assert 'value="withdrawn"' not in page
    assert "Decision withdrawn</b> — misread the text" in page  # in the earlier decisions


def test_a_withdrawn_boxes_decision_ships_the_consensus_again(api, manager, reviewer):
    classes = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=classes)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"width": 200, "height": 100})
    alice, bob = labelers(project, 2)
    box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5}
    answer(item, alice, json.dumps({"boxes": [{**box, "label": "iguana"}]}))
    answer(item, bob, json.dumps({"boxes": [{**box, "label": "rock"}]}))
    assert item.pk in queued(api, reviewer, project)

    decided = decide(api, reviewer, item, {"value": {"boxes": [{**box, "label": "rock"}]}, "rationale": "a rock"})
    assert decided.status_code == 201, decided.json()
    assert item.pk not in queued(api, reviewer, project)
    (row,) = manifest(build(project, manager))
    assert row["resolved_by"] == "decision"

    withdrawn = decide(api, reviewer, item, {"action": "withdrawn", "rationale": "it moves: an iguana"})
    assert withdrawn.status_code == 201, withdrawn.json()
    assert item.pk in queued(api, reviewer, project)
    (row,) = manifest(build(project, manager))
    assert row["resolved_by"] != "decision"
