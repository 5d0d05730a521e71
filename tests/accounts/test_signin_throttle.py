"""Guessing passwords: failed sign-ins are throttled per username + address, per username and per address,
on the API token endpoint and the login page, and a throttled attempt never computes a password hash."""

from unittest import mock

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LABELHUB_SIGNIN_FAILURES = 3
    settings.LABELHUB_SIGNIN_USER_FAILURES = 6
    settings.LABELHUB_SIGNIN_ADDRESS_FAILURES = 8
    settings.LABELHUB_SIGNIN_LOCKOUT_SECONDS = 600


@pytest.fixture
def hashes():
    """Counts password checks (each one a full PBKDF2 hash) in ``.call_count``."""
    original = AbstractBaseUser.check_password
    counter = mock.Mock(side_effect=lambda user, raw: original(user, raw))
    with mock.patch.object(AbstractBaseUser, "check_password", lambda user, raw: counter(user, raw)):
        yield counter


def token(username, password, address="203.0.113.7"):
    return APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def login(client, username, password, address="203.0.113.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_api_sign_in_is_refused_with_429_after_n_failures_without_hashing(labeler, hashes):
    for _ in range(3):
        assert token(labeler.username, "wrong").status_code == 400
    assert hashes.call_count == 3
    response = token(labeler.username, "wrong")
    assert response.status_code == 429
    assert 590 <= int(response["Retry-After"]) <= 600
    assert "Too many failed sign-ins" in response.json()["detail"]
    # Even the right password is refused, and costs no hash, while the lock lasts.
    assert token(labeler.username, "pw-labeler1").status_code == 429
    assert hashes.call_count == 3


def test_api_sign_in_says_how_long_to_wait_once(labeler):
    for _ in range(3):
        token(labeler.username, "wrong")
    response = token(labeler.username, "wrong")
    wait = response["Retry-After"]
    assert response.json() == {"detail": f"Too many failed sign-ins: try again in {wait} seconds."}


def test_login_page_shows_how_long_to_wait_with_429_and_no_hash(client, labeler, hashes):
    for _ in range(3):
        assert login(client, labeler.username, "wrong").status_code == 200
    response = login(client, labeler.username, "pw-labeler1")
    assert response.status_code == 429 and response["Retry-After"] == "600"
    page = response.content.decode()
    assert "Too many failed sign-ins. Try again in 10 minutes" in page
    assert hashes.call_count == 3 and "_auth_user_id" not in client.session


def test_the_page_and_the_api_share_one_count(client, labeler):
    login(client, labeler.username, "wrong")
    token(labeler.username, "wrong")
    login(client, labeler.username, "wrong")
    assert token(labeler.username, "pw-labeler1").status_code == 429


def test_a_lock_on_one_address_does_not_stop_the_owner_elsewhere(labeler):
    for _ in range(3):
        token(labeler.username, "wrong", address="198.51.100.9")
    assert token(labeler.username, "wrong", address="198.51.100.9").status_code == 429
    assert token(labeler.username, "pw-labeler1", address="203.0.113.7").status_code == 200


def test_guessing_from_many_addresses_locks_the_username(labeler):
    for i in range(6):
        token(labeler.username, "wrong", address=f"198.51.100.{i}")
    assert token(labeler.username, "pw-labeler1", address="203.0.113.7").status_code == 429


def test_one_address_trying_many_usernames_is_locked(labeler, labeler2, hashes):
    for i in range(8):
        token(f"someone{i}", "wrong")
    assert token(labeler2.username, "pw-labeler2").status_code == 429
    assert token(labeler2.username, "pw-labeler2", address="203.0.113.8").status_code == 200


def test_an_ipv6_client_cannot_escape_by_changing_its_interface_address(labeler):
    for i in range(3):
        token(labeler.username, "wrong", address=f"2001:db8:1:2::{i + 1}")
    assert token(labeler.username, "wrong", address="2001:db8:1:2:ffff::9").status_code == 429


def test_a_forged_forwarded_for_header_does_not_reset_the_count(labeler):
    client = APIClient()
    for i in range(4):
        response = client.post(
            "/api/auth/token/",
            {"username": labeler.username, "password": "wrong"},
            format="json",
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        )
    assert response.status_code == 429


def test_a_success_clears_only_its_own_count(labeler):
    token(labeler.username, "wrong")
    token(labeler.username, "wrong")
    assert token(labeler.username, "pw-labeler1").status_code == 200
    for _ in range(2):
        assert token(labeler.username, "wrong").status_code == 400
    assert token(labeler.username, "pw-labeler1").status_code == 200


def test_the_admin_login_is_throttled_too(client, labeler, hashes):
    for _ in range(3):
        client.post("/admin/login/", {"username": labeler.username, "password": "wrong"}, REMOTE_ADDR="203.0.113.7")
    client.post("/admin/login/", {"username": labeler.username, "password": "wrong"}, REMOTE_ADDR="203.0.113.7")
    assert hashes.call_count == 3
