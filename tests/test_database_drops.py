"""The first request after the database drops its connections (restart, failover, pg_terminate_backend)
succeeds: a persistent connection is checked before a request uses it (DB_HEALTH_CHECKS, on by default).

Requests go through Django's WSGI handler in this thread, as a gunicorn sync worker runs them: the
test client would switch off the start-of-request connection handling these tests are about.
"""

import contextlib
import io
import json
import socket
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import Client

from accounts.services import token_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="pg_terminate_backend needs PostgreSQL",
    ),
]


def wsgi_request_with_headers(method, path, *, headers=None, body=b""):
    """``(status code, body, headers)`` of one request through the WSGI handler, closed as a server closes it
    (which fires request_finished and so keeps or closes the persistent connection)."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "testserver", "HTTP_HOST": "testserver"}
    setup_testing_defaults(environ)
    environ.update(headers or {})
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    if body:
        environ["CONTENT_TYPE"] = "application/json"
    started = []
    response = WSGIHandler()(environ, lambda s, h, exc_info=None: started.append((s, h)))
    try:
        content = b"".join(response)
    finally:
        response.close()
    status, response_headers = started[0]
    return int(status.split()[0]), content, dict(response_headers)


def wsgi_request(method, path, *, headers=None, body=b""):
    """``wsgi_request_with_headers`` without the headers."""
    status, content, _ = wsgi_request_with_headers(method, path, headers=headers, body=body)
    return status, content


def terminate_other_backends():
    """What a database restart or failover does to the app's connections, from a connection of its own."""
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
    finally:
        killer.close()


@pytest.fixture
def signed_in(labeler):
    client = Client()
    client.force_login(labeler)
    return {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


@pytest.fixture
def token_header(labeler):
    return {"HTTP_AUTHORIZATION": f"Token {token_create(user=labeler, name='drops')[1]}"}


def drop_connections_after(method, path, headers, body=b""):
    status, _ = wsgi_request(method, path, headers=headers, body=body)
    assert status == 200
    assert connection.connection is not None, "the connection should persist between requests (CONN_MAX_AGE)"
    if connection.through_pooler():
        # The killer's server connection may be the app's own (README: PgBouncer replaces the server
        # connections the database dropped itself).
        pytest.skip("the tests' DATABASE_URL goes through a pooler, which hides the app's server connection")
    assert terminate_other_backends() >= 1


def test_api_request_after_the_database_dropped_its_connections_succeeds(project, token_header):
    drop_connections_after("GET", "/api/projects/", token_header)
    status, body = wsgi_request("GET", f"/api/projects/{project.pk}/", headers=token_header)
    assert status == 200, body[:500]
    assert json.loads(body)["id"] == project.pk


def test_page_after_the_database_dropped_its_connections_succeeds(project, signed_in):
    drop_connections_after("GET", "/", signed_in)
    status, body = wsgi_request("GET", f"/projects/{project.pk}/", headers=signed_in)
    assert status == 200, body[:500]
    assert project.name.encode() in body


def test_labeling_loop_answer_after_the_database_dropped_its_connections_is_stored(project, token_header, labeler):
    from labeling.models import Annotation
    from labeling.services.imports import ImportEntry, items_import
    from tests.conftest import png_bytes

    items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(2)]
    )
    drop_connections_after("GET", f"/api/projects/{project.pk}/next/", token_header)
    status, body = wsgi_request("GET", f"/api/projects/{project.pk}/next/", headers=token_header)
    assert status == 200, body[:500]
    item_id = json.loads(body)["id"]
    terminate_other_backends()
    status, body = wsgi_request(
        "POST", f"/api/items/{item_id}/annotations/", headers=token_header, body=json.dumps({"value": "cat"}).encode()
    )
    assert status == 201, body[:500]
    assert Annotation.objects.filter(item_id=item_id, labeler=labeler).count() == 1


@contextlib.contextmanager
def database_unreachable():
    """What the app meets while PgBouncer (or the database) restarts: nothing listens where its
    connections go, so every new one is refused."""
    saved = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved


def test_api_request_while_the_database_cannot_be_reached_answers_503_saying_so(project, token_header, caplog):
    """A PgBouncer restart answered every API request 500 "The server failed to answer this request; the
    error is logged. Try again, or report it.", as a bug would: the labeling page told labelers to report
    it, and clients that retry a 503 gave up. It is a moment's unavailability: 503, Retry-After, a
    sentence naming the database."""
    with database_unreachable():
        status, body, headers = wsgi_request_with_headers("GET", f"/api/projects/{project.pk}/", headers=token_header)
        answer_status, answer_body, _ = wsgi_request_with_headers(
            "POST", "/api/items/1/annotations/", headers=token_header, body=json.dumps({"value": "cat"}).encode()
        )
    assert status == 503, body[:500]
    assert headers.get("Retry-After") == "5"
    assert "database could not be reached" in json.loads(body)["detail"]
    assert answer_status == 503, answer_body[:500]
    assert any("database could not be reached" in r.getMessage() for r in caplog.records)
    # and once it is back, the same request succeeds
    status, body, _ = wsgi_request_with_headers("GET", f"/api/projects/{project.pk}/", headers=token_header)
    assert status == 200, body[:500]


def test_a_page_while_the_database_cannot_be_reached_answers_503_saying_so(project, signed_in):
    """A page asked while PgBouncer or the database restarts answered Django's bare "Server Error (500)", as
    a bug would; it says what is happening and when to try again, as the API's 503 does."""
    with database_unreachable():
        status, body, headers = wsgi_request_with_headers("GET", f"/projects/{project.pk}/", headers=signed_in)
    assert status == 503, body[:500]
    assert headers.get("Retry-After") == "5"
    assert b"The database could not be reached" in body and b"Try again in a moment" in body
    status, body, _ = wsgi_request_with_headers("GET", f"/projects/{project.pk}/", headers=signed_in)
    assert status == 200, body[:500]
