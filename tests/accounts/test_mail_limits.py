"""E-mail on request: password-reset mails per e-mail address and per client address, and invitation mails
per inviter and per project, are limited as failed sign-ins are (429 with Retry-After, saying how long)."""

import pytest
from django.core import mail
from rest_framework.test import APIClient

from tests.conftest import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LABELHUB_RESET_EMAIL_MAILS = 2
    settings.LABELHUB_RESET_ADDRESS_MAILS = 4
    settings.LABELHUB_INVITATION_MAILS = 3
    settings.LABELHUB_MAIL_WINDOW_SECONDS = 3600


def reset(client, email, address="203.0.113.7"):
    return client.post("/account/password/reset/", {"email": email}, REMOTE_ADDR=address)


def test_reset_mails_to_one_address_stop_at_the_limit_with_429_saying_how_long(client, labeler):
    labeler.email = "labeler@example.org"
    labeler.save()
    for _ in range(2):
        assert reset(client, "labeler@example.org").status_code == 302
    refused = reset(client, "labeler@example.org", address="198.51.100.9")  # from anywhere
    assert refused.status_code == 429 and 3000 < int(refused["Retry-After"]) <= 3600
    assert "Too many password-reset e-mails asked for" in refused.content.decode()
    assert "try again in 60 minutes" in refused.content.decode()
    assert len(mail.outbox) == 2


def test_one_client_asking_for_many_addresses_is_stopped(client):
    # Addresses with no account count too: the answer must not tell which addresses have one.
    for n in range(4):
        assert reset(client, f"someone{n}@example.org").status_code == 302
    assert reset(client, "someone9@example.org").status_code == 429
    assert reset(client, "someone9@example.org", address="198.51.100.9").status_code == 302


def test_invitation_mails_stop_per_inviter_and_per_project(manager, django_capture_on_commit_callbacks):
    api = APIClient()
    api.force_authenticate(manager)
    first = make_project(manager, name="First")
    second = make_project(manager, name="Second")
    url = f"/api/projects/{first.pk}/invitations/"
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            assert api.post(url, {"email": f"p{n}@example.com", "role": "labeler"}, format="json").status_code == 201
        refused = api.post(url, {"email": "p9@example.com", "role": "labeler"}, format="json")
        other = api.post(
            f"/api/projects/{second.pk}/invitations/", {"email": "p9@example.com", "role": "labeler"}, format="json"
        )
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 3000
    assert "Too many invitations sent" in refused.json()["detail"]
    assert other.status_code == 429  # the same inviter, another project
    assert len(mail.outbox) == 3


def test_the_members_page_says_how_long_to_wait(client, manager, project):
    client.force_login(manager)
    for n in range(3):
        client.post(
            f"/projects/{project.pk}/members/", {"action": "add", "who": f"p{n}@example.com", "role": "labeler"}
        )
    refused = client.post(
        f"/projects/{project.pk}/members/", {"action": "add", "who": "p9@example.com", "role": "labeler"}
    )
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 3000
    assert "Too many invitations sent" in refused.content.decode()
