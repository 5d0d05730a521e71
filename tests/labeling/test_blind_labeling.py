"""Blind labeling: a labeler never sees other labelers' answers, counts or consensus; reviewers do."""

import json

import pytest

from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db

MARKER = "first-labeler-secret-comment-7f3a"


@pytest.fixture
def answered(api, project, labeler):
    """One item answered by ``labeler`` with a recognisable comment."""
    (item,) = make_items(project, 1)
    response = api(labeler).post(
        f"/api/items/{item.pk}/annotations/", {"value": "dog", "comment": MARKER}, format="json"
    )
    assert response.status_code == 201
    return item


def test_second_labeler_never_sees_first_answer(api, client, project, labeler, labeler2, answered):
    second = api(labeler2)
    responses = [
        second.get(f"/api/projects/{project.pk}/next/"),
        second.get(f"/api/projects/{project.pk}/annotations/"),
        second.get(f"/api/projects/{project.pk}/annotations/?labeler={labeler.username}"),
        second.get(f"/api/projects/{project.pk}/annotations/?item={answered.pk}"),
        second.get(f"/api/projects/{project.pk}/progress/"),
        second.get(f"/api/items/{answered.pk}/"),
        second.get(f"/api/projects/{project.pk}/"),
        second.get("/api/projects/"),
    ]
    assert responses[0].data["id"] == answered.pk  # the same item: it is the closest to completion
    for response in responses:
        assert response.status_code == 200, response
        body = json.dumps(response.data, default=str)
        assert MARKER not in body and labeler.username not in body, body
    assert responses[1].data["count"] == 0 and responses[2].data["count"] == 0
    # The pages a labeler can reach do not show it either.
    client.force_login(labeler2)
    for url in ("/", f"/projects/{project.pk}/", f"/projects/{project.pk}/label/"):
        page = client.get(url)
        assert page.status_code == 200
        assert MARKER not in page.content.decode() and labeler.username not in page.content.decode()
    assert client.get(f"/projects/{project.pk}/items/").status_code == 403


def test_labeler_lists_only_own_answers(api, project, labeler, labeler2, answered):
    api(labeler2).post(f"/api/items/{answered.pk}/annotations/", {"value": "cat"}, format="json")
    mine = api(labeler2).get(f"/api/projects/{project.pk}/annotations/").data
    assert [(a["labeler"], a["value"]) for a in mine["results"]] == [(labeler2.username, "cat")]


def test_reviewers_and_managers_see_everyones_answers(api, project, labeler, labeler2, reviewer, manager, answered):
    api(labeler2).post(f"/api/items/{answered.pk}/annotations/", {"value": "cat"}, format="json")
    for user in (reviewer, manager):
        data = api(user).get(f"/api/projects/{project.pk}/annotations/").data
        assert data["count"] == 2
        assert {a["labeler"] for a in data["results"]} == {labeler.username, labeler2.username}
        assert MARKER in json.dumps(data["results"])
        only = api(user).get(f"/api/projects/{project.pk}/annotations/?labeler={labeler.username}").data
        assert [a["comment"] for a in only["results"]] == [MARKER]
        assert api(user).get(f"/api/projects/{project.pk}/annotations/?mine=1").data["count"] == 0
