"""API tokens: one per machine client, revocable by their owner, dead after a password change or a
deactivation, optionally expiring, stored only as digests."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def sign_in(username, password, **extra):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password, **extra}, format="json")


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def works(key, project):
    return client_with(key).get(f"/api/projects/{project.pk}/").status_code == 200


def test_every_sign_in_gets_a_new_token_and_each_one_works(labeler, project):
    first = sign_in(labeler.username, "pw-labeler1", name="laptop")
    second = sign_in(labeler.username, "pw-labeler1")
    assert first.status_code == second.status_code == 200
    assert first.json()["token"] != second.json()["token"]
    assert first.json()["name"] == "laptop" and first.json()["expires"] is None
    assert works(first.json()["token"], project) and works(second.json()["token"], project)


def test_keys_are_not_stored(labeler):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    stored = ApiToken.objects.get(user=labeler)
    assert key not in (stored.digest, stored.prefix) and key.startswith(stored.prefix)


def test_a_wrong_password_keeps_the_old_error_shape(labeler):
    response = sign_in(labeler.username, "nope")
    assert response.status_code == 400
    assert response.json()["non_field_errors"] == ["Unable to log in with provided credentials."]
    assert sign_in(labeler.username, "").status_code == 400


def test_a_json_sign_in_with_a_field_it_does_not_take_is_refused_and_makes_no_token(labeler):
    # "expires_in" was dropped: the script asked for a token good for an hour and got one that never
    # expires; a misspelt "nmae" named the token "API sign-in" on the Account page.
    for field, value in (("expires_in", 3600), ("nmae", "ci runner")):
        response = sign_in(labeler.username, "pw-labeler1", **{field: value})
        assert response.status_code == 400
        assert response.json()[field] == ["unknown field (the fields here: username, password, name)"]
    assert not ApiToken.objects.filter(user=labeler).exists()
    # What the docs name still works, in JSON and as a form (curl -d, a page's form with its CSRF token).
    assert sign_in(labeler.username, "pw-labeler1", name="ci runner").status_code == 200
    form = {"username": labeler.username, "password": "pw-labeler1", "name": "laptop", "csrfmiddlewaretoken": "x"}
    assert APIClient().post("/api/auth/token/", form).status_code == 200
    assert sorted(ApiToken.objects.filter(user=labeler).values_list("name", flat=True)) == ["ci runner", "laptop"]


def test_delete_revokes_the_token_used_and_no_other(labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    other = sign_in(labeler.username, "pw-labeler1").json()["token"]
    assert client_with(key).delete("/api/auth/token/").status_code == 204
    response = client_with(key).get(f"/api/projects/{project.pk}/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    assert works(other, project)


def test_delete_without_a_token_says_why(client, labeler):
    assert APIClient().delete("/api/auth/token/").status_code == 401
    client.force_login(labeler)
    response = client.delete("/api/auth/token/")
    assert response.status_code == 400 and "not signed with a token" in response.json()["detail"]


def test_changing_the_password_revokes_every_token(client, labeler, project):
    keys = [sign_in(labeler.username, "pw-labeler1").json()["token"] for _ in range(2)]
    client.force_login(labeler)
    response = client.post(
        "/account/password/",
        {"old_password": "pw-labeler1", "new_password1": "a-new-long-pw", "new_password2": "a-new-long-pw"},
    )
    assert response.status_code == 302 and response.url == "/account/password/done/"
    assert not any(works(key, project) for key in keys)
    assert "API tokens were revoked" in client.get(response.url).content.decode()
    assert client.get("/").status_code == 200  # the session that changed it stays signed in
    assert works(sign_in(labeler.username, "a-new-long-pw").json()["token"], project)


def test_a_password_set_anywhere_else_revokes_tokens_too(labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    labeler.refresh_from_db()
    labeler.set_password("set-by-an-admin")
    labeler.save()
    assert not works(key, project)


def test_deactivation_revokes_tokens_for_good(labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    labeler.refresh_from_db()
    labeler.is_active = False
    labeler.save()
    labeler.is_active = True
    labeler.save()
    assert not works(key, project)
    assert ApiToken.objects.filter(user=labeler).count() == 0


def test_signing_in_does_not_revoke_tokens(client, labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    client.post("/login/", {"username": labeler.username, "password": "pw-labeler1"})
    assert works(key, project)


def test_tokens_expire_after_the_configured_lifetime(settings, labeler, project):
    settings.LABELHUB_TOKEN_TTL_SECONDS = 3600
    response = sign_in(labeler.username, "pw-labeler1").json()
    assert response["expires"] is not None
    assert works(response["token"], project)
    ApiToken.objects.update(created=timezone.now() - timedelta(hours=2), expires=timezone.now() - timedelta(hours=1))
    answer = client_with(response["token"]).get(f"/api/projects/{project.pk}/")
    assert answer.status_code == 401 and answer.json()["detail"] == "Token expired: sign in again for a new one."


def test_a_lifetime_set_later_also_ends_older_tokens(settings, labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    ApiToken.objects.update(created=timezone.now() - timedelta(days=2))
    assert works(key, project)
    settings.LABELHUB_TOKEN_TTL_SECONDS = 86400
    assert not works(key, project)


def test_last_use_is_recorded_without_a_write_per_request(labeler, project):
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    assert ApiToken.objects.get().last_used is None
    works(key, project)
    used = ApiToken.objects.get().last_used
    assert used is not None
    client = client_with(key)
    client.get(f"/api/projects/{project.pk}/")
    assert ApiToken.objects.get().last_used == used


def test_a_token_sent_as_bearer_is_told_the_scheme_this_api_reads(labeler, project):
    # It answered "Authentication credentials were not provided." to a client that had sent its token.
    key = sign_in(labeler.username, "pw-labeler1").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get(f"/api/projects/{project.pk}/")
    assert response.status_code == 401
    assert "Authorization: Token" in response.json()["detail"]
    assert works(key, project)


def test_a_username_typed_with_separate_accent_marks_signs_in(project):
    # The sign-in page normalizes the username (NFKC, as Django's form does); the token API compared it as
    # sent, so "José" with a combining accent (NFD) was "Unable to log in" there only.
    import unicodedata

    from tests.conftest import make_user

    make_user("José")
    response = sign_in(unicodedata.normalize("NFD", "José"), "pw-José")
    assert response.status_code == 200, response.json()
