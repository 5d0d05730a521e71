"""Two SMEs deciding the same item at once: the second is told who decided what meanwhile before theirs
is recorded over it, and every decision stays as the audit trail."""

import threading

import pytest
from django.db import connection

from labeling.choices import Role
from labeling.models import Decision
from labeling.services.projects import member_add
from labeling.services.review import DecisionConflict, decision_record
from tests.conftest import make_user
from tests.labeling.version_helpers import add_texts, answer, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def disputed(manager, reviewer, labeler, labeler2):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    second = make_user("reviewer2")
    member_add(project=project, username=second.username, role=Role.REVIEWER)
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role=Role.LABELER)
    (item,) = add_texts(project, ["a purring bark"])
    answer(item, labeler, "cat")
    answer(item, labeler2, "dog")
    return item, second


def test_the_second_sme_is_told_who_decided_what_meanwhile_and_nothing_is_recorded(api, reviewer, disputed):
    item, second = disputed
    url = f"/api/items/{item.pk}/decision/"
    # Both opened the item with no decision on it; the first records "cat".
    first = api(reviewer).post(url, {"label": "cat", "rationale": "it purrs", "supersedes": None}, format="json")
    assert first.status_code == 201, first.json()

    late = api(second).post(url, {"label": "dog", "gold": True, "supersedes": None}, format="json")
    assert late.status_code == 409
    body = late.json()
    assert "decided meanwhile by reviewer1: label 'cat'" in body["detail"]
    assert body["decision"]["id"] == first.json()["id"]
    assert (body["decision"]["reviewer"], body["decision"]["label"], body["decision"]["rationale"]) == (
        "reviewer1",
        "cat",
        "it purrs",
    )
    assert list(Decision.objects.values_list("label", flat=True)) == ["cat"]

    # Having seen it, the second SME records theirs over it: both stay as the audit trail.
    again = api(second).post(url, {"label": "dog", "supersedes": first.json()["id"]}, format="json")
    assert again.status_code == 201, again.json()
    history = api(reviewer).get(url).json()["results"]
    assert [(d["reviewer"], d["label"]) for d in history] == [("reviewer2", "dog"), ("reviewer1", "cat")]


def test_a_client_that_does_not_say_what_it_saw_records_as_before(api, reviewer, disputed):
    item, second = disputed
    url = f"/api/items/{item.pk}/decision/"
    assert api(reviewer).post(url, {"label": "cat"}, format="json").status_code == 201
    assert api(second).post(url, {"label": "dog"}, format="json").status_code == 201
    assert Decision.objects.count() == 2


def test_an_action_decided_meanwhile_is_named(api, reviewer, disputed):
    item, second = disputed
    url = f"/api/items/{item.pk}/decision/"
    api(reviewer).post(url, {"action": "relabel", "rationale": "read it again", "supersedes": None}, format="json")
    late = api(second).post(url, {"label": "dog", "supersedes": None}, format="json")
    assert late.status_code == 409 and "Send back for relabeling" in late.json()["detail"]


def test_a_supersedes_that_is_no_decision_of_the_item_is_refused(api, reviewer, disputed):
    item, _ = disputed
    response = api(reviewer).post(f"/api/items/{item.pk}/decision/", {"label": "cat", "supersedes": 999}, format="json")
    assert response.status_code == 400 and "supersedes" in response.json()


@pytest.mark.django_db(transaction=True)
def test_two_smes_deciding_at_the_same_moment_one_is_told(reviewer, disputed):
    item, second = disputed
    outcomes = []
    barrier = threading.Barrier(2)

    def decide(user, label):
        try:
            barrier.wait()
            decision_record(item=item, reviewer=user, label=label, supersedes=None)
            outcomes.append("recorded")
        except DecisionConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=args) for args in ((reviewer, "cat"), (second, "dog"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "recorded"]
    assert Decision.objects.count() == 1


def test_the_review_page_says_the_item_was_decided_already_and_by_whom(client, reviewer, disputed):
    item, second = disputed
    client.force_login(reviewer)
    url = f"/projects/{item.project_id}/review/{item.pk}/"
    assert 'id="latest-decision"' not in client.get(url).content.decode()
    decision_record(item=item, reviewer=second, label="dog", gold=True, rationale="it barks")
    page = client.get(url).content.decode()
    assert "Decided already by reviewer2" in page and "label &#x27;dog&#x27; (gold)" in page


def test_the_review_page_tells_the_sme_who_decided_the_item_that_the_decision_is_theirs(client, reviewer, disputed):
    # "Decided already by sme ... (theirs stays in the history)" was shown to sme themselves
    item, second = disputed
    decision_record(item=item, reviewer=reviewer, label="dog")
    client.force_login(reviewer)
    page = client.get(f"/projects/{item.project_id}/review/{item.pk}/").content.decode()
    banner = page[page.index('id="latest-decision"') :].split("</p>")[0]
    assert "Decided already by you," in banner and "(yours stays in the history)" in banner
    assert reviewer.username not in banner and "theirs" not in banner
    client.force_login(second)
    page = client.get(f"/projects/{item.project_id}/review/{item.pk}/").content.decode()
    banner = page[page.index('id="latest-decision"') :].split("</p>")[0]
    assert f"Decided already by {reviewer.username}," in banner and "(theirs stays in the history)" in banner
