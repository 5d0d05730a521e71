"""Request bodies an anonymous client could use to fill the server's temporary disk: a body longer than
the largest upload is refused from its Content-Length before a byte of it is read (413 naming the
limit), and a multipart body sent to a page without a session keeps no file."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def parsed():
    """Counts multipart bodies parsed (each writes its large files to temporary files) in ``.call_count``."""
    original = MultiPartParser.parse
    counter = mock.Mock(side_effect=lambda parser: original(parser))
    with mock.patch.object(MultiPartParser, "parse", lambda parser: counter(parser)):
        yield counter


@pytest.fixture
def limit(settings):
    settings.LABELHUB_MAX_IMPORT_BYTES = 100_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    return 110_000  # the import limit and room for the form's other fields


def test_a_body_over_the_largest_upload_is_refused_before_it_is_read(api, manager, project, limit, parsed):
    big = SimpleUploadedFile("big.jsonl", b'{"text": "x"}\n' * 10_000)  # 140,000 bytes
    response = api(manager).post(f"/api/projects/{project.pk}/imports/", {"file": big}, format="multipart")
    assert response.status_code == 413
    assert f"{limit:,} bytes" in response.json()["detail"] and "LABELHUB_MAX_IMPORT_BYTES" in response.json()["detail"]
    assert parsed.call_count == 0
    page = Client().post("/login/", {"username": "x", "password": "y"}, CONTENT_LENGTH=str(limit + 1))
    assert page.status_code == 413 and b"110,000 bytes" in page.content


def test_an_upload_within_the_limit_goes_in(api, manager, project, limit):
    small = SimpleUploadedFile("small.jsonl", b'{"text": "x"}\n' * 1000)
    assert api(manager).post(f"/api/projects/{project.pk}/imports/", {"file": small}).status_code == 202


def test_a_signed_out_visitors_multipart_body_to_a_page_keeps_no_file(limit):
    """The CSRF check (and the NUL check) parse a page's POST before anyone is signed in: a signed-out
    client's files were written to temporary files on the way. Now they are skipped, and a body longer than
    a form's fields may be is refused before it is read."""
    client = Client()
    client.get("/login/")  # the CSRF cookie, which any client gets
    in_memory, on_disk = MemoryFileUploadHandler.new_file, TemporaryFileUploadHandler.new_file
    with (
        mock.patch.object(MemoryFileUploadHandler, "new_file", autospec=True, side_effect=in_memory) as stored,
        mock.patch.object(TemporaryFileUploadHandler, "new_file", autospec=True, side_effect=on_disk) as written,
    ):
        response = client.post("/login/", {"username": "x", "password": "y", "f": SimpleUploadedFile("a", b"x" * 5000)})
        assert response.status_code == 200 and b"didn't match" in response.content  # the form is read as ever
        assert stored.call_count == written.call_count == 0
        too_long = client.post("/login/", {"username": "x", "f": SimpleUploadedFile("a", b"x" * 20_000)})
        assert too_long.status_code == 413 and b"10,000 bytes" in too_long.content


@pytest.fixture
def read_bodies():
    """Counts the POST bodies Django parses (multipart or form-urlencoded) in ``.call_count``."""
    from django.http.request import HttpRequest

    original = HttpRequest._load_post_and_files
    counter = mock.Mock(side_effect=lambda request: original(request))
    with mock.patch.object(HttpRequest, "_load_post_and_files", lambda request: counter(request)):
        yield counter


def test_a_signed_out_post_to_a_page_that_needs_sign_in_is_sent_to_sign_in_unread(project, read_bodies):
    """The CSRF and NUL checks parsed every signed-out POST to a page (up to 10 MB, a field of it held in
    memory three times over) before the page sent the visitor to sign in. The page's answer is the same;
    its body is no longer read."""
    client = Client()
    url = f"/projects/{project.pk}/settings/"
    multipart = client.post(url, {"name": "x" * 5000, "f": SimpleUploadedFile("a", b"x" * 5000)})
    form = client.post(url, "name=" + "x" * 5000, content_type="application/x-www-form-urlencoded")
    for response in (multipart, form):
        assert response.status_code == 302 and response["Location"] == f"/login/?next={url}"
    nowhere = client.post("/no-such-page/", {"f": SimpleUploadedFile("a", b"x" * 5000)})
    assert nowhere.status_code == 404
    assert read_bodies.call_count == 0


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/login/", 200),  # its form again, the sign-in refused
        ("/account/password/reset/", 302),  # to "sent", whether or not the address has an account
        ("/invite/not-a-token/", 404),  # the invitation page, saying the link does not work
        ("/setup/" + "0" * 32 + "/", 404),  # the first account's page, saying the token is wrong
        ("/logout/", 302),
    ],
)
def test_the_pages_a_signed_out_visitor_fills_in_still_read_a_multipart_form(url, status, read_bodies):
    response = Client().post(url, {"username": "x", "password": "y", "email": "x@example.com"})
    assert response.status_code == status
    assert not response.get("Location", "").startswith("/login/?next=")
    assert read_bodies.call_count >= 1


def test_a_signed_out_form_longer_than_its_fields_can_be_is_refused_unread(read_bodies):
    """A sign-in form is a name and a password: a signed-out client's 1 MB form body to the sign-in page was
    parsed (and held in memory several times over) up to Django's 10 MB limit. Over 64 KB it is refused,
    naming the limit, before it is read; a real sign-in form still goes through."""
    client = Client()
    big = client.post(
        "/login/", "username=x&password=" + "y" * 1_000_000, content_type="application/x-www-form-urlencoded"
    )
    assert big.status_code == 413 and b"65,536 bytes" in big.content
    assert read_bodies.call_count == 0
    normal = client.post("/login/", {"username": "x", "password": "y" * 200})
    assert normal.status_code == 200 and b"didn't match" in normal.content
