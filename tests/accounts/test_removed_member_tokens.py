"""A script's token outlives its owner's membership: once the member is removed, every endpoint of the
project answers 404 (as to any non-member), never 403 on some and 500 on others."""

import pytest
from rest_framework.test import APIClient

from accounts.services import token_create
from labeling.services.projects import member_add, member_remove
from tests.labeling.version_helpers import add_texts, text_project

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["labeler", "reviewer", "manager"])
def test_a_removed_member_s_token_gets_404_everywhere_in_the_project(manager, labeler, role):
    project = text_project(manager)
    member_add(project=project, username=labeler.username, role=role)
    (item,) = add_texts(project, ["x"])
    _, key = token_create(user=labeler, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    member_remove(membership=project.memberships.get(user=labeler))
    p = f"/api/projects/{project.pk}"
    calls = {
        "project": lambda: client.get(f"{p}/"),
        "next": lambda: client.get(f"{p}/next/"),
        "answer": lambda: client.post(f"/api/items/{item.pk}/annotations/", {"value": "cat"}, format="json"),
        "item": lambda: client.get(f"/api/items/{item.pk}/"),
        "skip": lambda: client.post(f"/api/items/{item.pk}/skip/", {"reason": "x"}, format="json"),
        "decision": lambda: client.post(f"/api/items/{item.pk}/decision/", {"label": "cat"}, format="json"),
        "build": lambda: client.post(f"{p}/versions/", {}, format="json"),
        "model run": lambda: client.post(f"{p}/model-runs/", {"name": "m", "predictions": []}, format="json"),
        "campaign": lambda: client.post(f"{p}/campaigns/", {"name": "c", "items": [item.pk]}, format="json"),
        "webhook": lambda: client.post(f"{p}/webhooks/", {"url": "https://hooks.example.org/x"}, format="json"),
    }
    assert {name: call().status_code for name, call in calls.items()} == dict.fromkeys(calls, 404)
    # The token itself still signs the user in: their own token list and sign-out work.
    assert client.get("/api/projects/").json()["count"] == 0
