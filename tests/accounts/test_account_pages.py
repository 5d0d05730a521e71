"""Account pages: API tokens listed and revoked by their owner, keys shown once; password reset by e-mail."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import token_create

pytestmark = pytest.mark.django_db


def test_the_navigation_links_to_the_token_page(client, labeler):
    client.force_login(labeler)
    assert 'href="/account/tokens/"' in client.get("/").content.decode()


def test_the_token_page_lists_my_tokens_without_their_keys(client, labeler, labeler2):
    _, mine = token_create(user=labeler, name="training box")
    token_create(user=labeler2, name="someone else's")
    client.force_login(labeler)
    page = client.get("/account/tokens/")
    html = page.content.decode()
    assert page.status_code == 200 and "training box" in html and mine[:8] in html
    assert mine not in html and "someone else's" not in html
    assert "no-store" in page["Cache-Control"]


def test_a_new_token_is_shown_once_and_works(client, labeler, project):
    client.force_login(labeler)
    response = client.post("/account/tokens/", {"name": "gpu-3"})
    # redirected, so that a reload of the page that shows the key makes no second token
    assert response.status_code == 302 and response["Location"] == "/account/tokens/"
    key = re.search(r'id="new-token-key">([^<]+)<', client.get(response["Location"]).content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(f"/api/projects/{project.pk}/").status_code == 200
    assert key not in client.get("/account/tokens/").content.decode()  # the reload: shown once, nothing made
    assert ApiToken.objects.get(user=labeler).name == "gpu-3"


def test_revoking_on_the_page_signs_the_client_out(client, labeler, project):
    token, key = token_create(user=labeler, name="laptop")
    client.force_login(labeler)
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "Token revoked" in response.content.decode() and "laptop" not in response.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(f"/api/projects/{project.pk}/").status_code == 401


def test_nobody_revokes_another_users_token(client, labeler, labeler2):
    token, _ = token_create(user=labeler2, name="theirs")
    client.force_login(labeler)
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "No such token" in response.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_a_failed_sign_in_keeps_the_username_typed(client, labeler):
    page = client.post("/login/", {"username": labeler.username, "password": "wrong"}).content.decode()
    assert "didn&#x27;t match" in page or "didn't match" in page
    assert f'name="username" value="{labeler.username}"' in page


def test_the_token_page_needs_sign_in(client):
    assert client.get("/account/tokens/").status_code == 302


def test_a_reset_link_by_email_sets_a_new_password_and_revokes_tokens(client, labeler, project):
    labeler.email = "labeler@example.org"
    labeler.save()
    _, key = token_create(user=labeler, name="laptop")
    assert "Forgot your password?" in client.get("/login/").content.decode()
    response = client.post("/account/password/reset/", {"email": "labeler@example.org"})
    assert response.status_code == 302 and response.url == "/account/password/reset/sent/"
    (message,) = mail.outbox
    assert message.to == ["labeler@example.org"] and labeler.username in message.body
    link = re.search(r"http://testserver(/account/password/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Set a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "brand-new-secret", "new_password2": "brand-new-secret"}
    )
    assert done.status_code == 302 and done.url == "/account/password/reset/complete/"
    assert client.login(username=labeler.username, password="brand-new-secret")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(f"/api/projects/{project.pk}/").status_code == 401
    # The link works once.
    assert "invalid" in client.get(link, follow=True).content.decode()


def test_the_reset_mail_leaves_off_the_request_so_a_slow_mail_server_never_holds_the_page(client, labeler, settings):
    import threading

    from tests.labeling.test_invitations import GatedBackend

    labeler.email = "labeler@example.org"
    labeler.save()
    settings.LABELHUB_MAIL_IN_BACKGROUND = True
    settings.EMAIL_BACKEND = "tests.labeling.test_invitations.GatedBackend"
    GatedBackend.gate.clear()
    response = client.post("/account/password/reset/", {"email": "labeler@example.org"})
    assert response.status_code == 302 and mail.outbox == []  # answered while the mail server is silent
    GatedBackend.gate.set()
    (sender,) = [t for t in threading.enumerate() if t.name == f"password-reset-mail-{labeler.pk}"]
    sender.join(10)
    (message,) = mail.outbox
    assert message.to == ["labeler@example.org"] and "/account/password/reset/" in message.body


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post("/account/password/reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and response.url == "/account/password/reset/sent/"
    assert mail.outbox == []


def test_the_password_pages_use_the_sites_look(client, labeler):
    client.force_login(labeler)
    for url in ("/account/password/", "/account/password/reset/"):
        html = client.get(url).content.decode()
        assert 'class="topbar"' in html and "Django administration" not in html
