"""The first account of an empty instance, made in the browser from the link `manage.py first_account_link`
prints (no shell session with createsuperuser): an administrator, once; a wrong link or bad input makes
nothing."""

import re
import threading
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.services import AccountsExist, first_account_create, first_account_token
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

GOOD = {"username": "founder", "email": "founder@example.com", "password": "a long passphrase 42"}


def first_account_link() -> str:
    out = StringIO()
    call_command("first_account_link", "--base-url", "https://labels.example.com/", stdout=out, stderr=StringIO())
    link = out.getvalue().strip()
    assert re.fullmatch(r"https://labels\.example\.com/setup/[0-9a-f]{32}/", link), link
    return link.removeprefix("https://labels.example.com")


def test_an_empty_instance_says_on_the_login_page_how_its_first_account_is_made(client):
    html = client.get("/login/").content.decode()
    assert 'id="no-accounts"' in html and "manage.py first_account_link" in html
    make_user("someone")
    assert 'id="no-accounts"' not in client.get("/login/").content.decode()


def test_the_link_makes_an_administrator_who_is_signed_in_and_sees_the_first_steps(client):
    path = first_account_link()
    page = client.get(path)
    assert page.status_code == 200 and 'id="first-account-form"' in page.content.decode()
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    response = client.post(path, GOOD)
    assert response.status_code == 302 and response["Location"] == "/"
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.is_staff, user.is_superuser) == ("founder", GOOD["email"], True, True)
    assert user.check_password(GOOD["password"])
    home = client.get("/").content.decode()
    assert "founder" in home and 'id="first-run"' in home and "Create a project" in home


def test_a_wrong_link_makes_nothing_and_names_the_command(client):
    bad = "/setup/" + "0" * 32 + "/"
    for response in (client.get(bad), client.post(bad, GOOD)):
        assert response.status_code == 404
        assert "manage.py first_account_link" in response.content.decode()
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    ("field", "form", "problem"),
    [
        ("username", {**GOOD, "username": ""}, "choose a username"),
        ("username", {**GOOD, "username": "no spaces allowed"}, "Enter a valid username"),
        ("password", {**GOOD, "password": "12345678"}, "too common"),
        ("password", {**GOOD, "password": "x9!k2"}, "too short"),
        ("password", {**GOOD, "username": "passphrase", "password": "passphrase"}, "too similar"),
        ("email", {**GOOD, "email": "not-an-address"}, "is not an e-mail address"),
    ],
)
def test_bad_input_names_the_field_and_makes_nothing(client, field, form, problem):
    response = client.post(first_account_link(), form)
    assert response.status_code == 400
    errors = re.search(rf'data-error-for="{field}">(.*?)</ul>', response.content.decode(), re.S)
    assert errors and problem in errors.group(1), response.content.decode()
    assert not get_user_model().objects.exists()
    # what was typed stays, except the password
    assert f'value="{form["username"]}"' in response.content.decode()


def test_once_an_account_exists_the_link_makes_no_more(client):
    path = first_account_link()
    make_user("first")
    for response in (client.get(path), client.post(path, GOOD)):
        assert response.status_code == 410 and "has accounts already" in response.content.decode()
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["first"]
    with pytest.raises(CommandError, match="has accounts already"):
        call_command("first_account_link", stdout=StringIO())
    out = StringIO()
    call_command("first_account_link", "--if-empty", stdout=out)
    assert out.getvalue() == ""


def test_the_link_changes_with_the_secret_key(client, settings):
    path = first_account_link()
    settings.SECRET_KEY = "another installation's secret key, just as long as the other one"
    assert first_account_link() != path
    assert client.post(path, GOOD).status_code == 404
    assert not get_user_model().objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_people_submitting_the_link_at_once_make_one_account():
    token = first_account_token()
    barrier = threading.Barrier(2)
    outcome = []

    def submit(name):
        try:
            barrier.wait()
            first_account_create(token=token, username=name, email="", password="a long passphrase 42")
            outcome.append("made")
        except AccountsExist:
            outcome.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome) == ["made", "refused"]
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize("base_url", ["labels.example.com", "ftp://labels.example.com", "https://"])
def test_a_base_url_that_is_no_web_address_is_refused_instead_of_printing_a_broken_link(base_url):
    out = StringIO()
    with pytest.raises(CommandError, match="--base-url must be an http:// or https:// address"):
        call_command("first_account_link", "--base-url", base_url, stdout=out, stderr=StringIO())
    assert out.getvalue() == ""
