"""Token API calls skip the browser middleware (labelhub.middleware.is_token_api_call); nothing else changes:
browsers keep their session, CSRF check and messages, and a token still has to be valid."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def test_a_token_client_labels_and_gets_no_cookie(api, project, labeler):
    item = make_items(project, 2)[0]
    client = api(labeler)
    response = client.post(f"/api/items/{item.pk}/annotations/?next=1", {"value": "cat"}, format="json")
    assert response.status_code == 201, response.content
    assert response.data["annotation"]["labeler"] == labeler.username
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_a_token_client_keeps_its_role_checks(api, project, other_project, outsider, labeler):
    item = make_items(other_project, 1)[0]
    response = api(labeler).post(f"/api/items/{item.pk}/annotations/", {"value": "cat"}, format="json")
    assert response.status_code == 404  # not one of the labeler's projects
    assert api(outsider).get(f"/api/projects/{project.pk}/next/").status_code == 404
    assert api(labeler).get(f"/api/projects/{project.pk}/annotations/export?format=jsonl").status_code == 403


def test_a_wrong_token_is_refused_even_with_a_signed_in_session(client, project, labeler):
    client.force_login(labeler)
    response = client.get(f"/api/projects/{project.pk}/next/", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert response.status_code == 401
    response = APIClient().get(f"/api/projects/{project.pk}/next/", HTTP_AUTHORIZATION="token not-a-real-key")
    assert response.status_code == 401


def test_a_browser_session_still_needs_the_csrf_token_on_the_api(project, labeler):
    item = make_items(project, 1)[0]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(labeler)
    url = f"/api/items/{item.pk}/annotations/"
    refused = browser.post(url, {"value": "cat"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    page = browser.get(f"/projects/{project.pk}/label/")
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(url, {"value": "cat"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


def test_a_token_request_to_a_page_view_under_api_is_anonymous(api, labeler, settings):
    settings.LABELHUB_PUBLIC_API_DOCS = False
    response = api(labeler).get("/api/docs/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_pages_keep_their_session_and_messages(client, project, manager):
    client.force_login(manager)
    response = client.post(f"/projects/{project.pk}/settings/", {"action": "archive"}, follow=True)
    assert response.status_code == 200
    assert "Archived: labelers and reviewers no longer see the project" in response.content.decode()
