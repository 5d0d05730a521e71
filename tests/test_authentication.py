"""Signing in: the session and token paths load the user in hand-written queries; what users notice
(who they are, that a deactivated account or an ended session stops working) must not change."""

import pytest
from django.contrib.sessions.models import Session

from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def test_signing_in_with_a_password_keeps_you_signed_in_until_you_sign_out(client, labeler, project):
    labeler.set_password("correct horse")
    labeler.save()
    response = client.post("/login/", {"username": labeler.username, "password": "correct horse"})
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200 and labeler.username in page.content.decode()
    assert client.get(f"/api/projects/{project.pk}/progress/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302
    assert client.get(f"/api/projects/{project.pk}/progress/").status_code == 401


def test_a_wrong_password_signs_nobody_in(client, labeler):
    response = client.post("/login/", {"username": labeler.username, "password": "wrong"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_a_deactivated_account_or_an_expired_session_stops_working(client, labeler, project):
    (item,) = make_items(project, 1)
    client.force_login(labeler)
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 200
    labeler.is_active = False
    labeler.save()
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 401
    labeler.is_active = True
    labeler.save()
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 200
    Session.objects.update(expire_date="2000-01-01T00:00:00Z")
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 401
    assert client.get("/").status_code == 302
