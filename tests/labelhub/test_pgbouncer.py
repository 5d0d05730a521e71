"""LabelHub behind a real PgBouncer in transaction mode (tests/pgbouncer.py starts one), with the default
settings: every transaction may reach another server connection, so nothing may rely on what an earlier
one left in its server session."""

import psycopg
import pytest
from django.db import connection

from labeling.models import Annotation
from tests import pgbouncer
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PgBouncer pools PostgreSQL connections"),
]


@pytest.fixture
def pooler():
    with pgbouncer.running(connection.settings_dict) as port:
        yield port


def open_two_server_connections(port):
    """Two transactions at once make PgBouncer open a second server connection; its round robin then
    alternates the two under one client's consecutive transactions."""
    db = connection.settings_dict
    params = {"host": "127.0.0.1", "port": port, "dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"]}
    with psycopg.connect(**params) as first, psycopg.connect(**params) as second:
        pids = {first.execute("SELECT pg_backend_pid()").fetchone()[0]}
        pids.add(second.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert len(pids) == 2


def label_every_item(client, project):
    """(status of next, status of the answer) for each item a labeler is given, until none is left."""
    client.raise_request_exception = False  # a failing request answers 500, as it would in production
    statuses = []
    while True:
        response = client.get(f"/api/projects/{project.pk}/next/")
        if response.status_code != 200:
            return [*statuses, response.status_code]
        answer = client.post(f"/api/items/{response.data['id']}/annotations/", {"value": "cat"}, format="json")
        statuses.append(answer.status_code)
        if answer.status_code != 201:
            return statuses


def test_the_labeling_loop_behind_pgbouncer_stores_every_answer(pooler, api, project, labeler):
    """The loop's statements were prepared on the server connection that ran them a few times, then
    executed by name on another, which had never seen them: "prepared statement "_pg3_0" does not
    exist", a 500 on every answer, unless DB_PREPARED_STATEMENTS=0 was set."""
    make_items(project, 12)
    client = api(labeler)
    with pgbouncer.default_connection_through(pooler):
        open_two_server_connections(pooler)
        statuses = label_every_item(client, project)
    assert statuses == [201] * 12 + [204]
    assert Annotation.objects.filter(item__project=project, labeler=labeler).count() == 12


def test_a_version_build_its_downloads_and_the_answers_export_behind_pgbouncer(pooler, api, manager):
    """A build reads in one snapshot transaction through a server-side cursor while its heartbeat thread
    writes on a connection of its own; the export reads keyset batches, each its own statement."""
    with pgbouncer.default_connection_through(pooler):
        open_two_server_connections(pooler)
        project = text_project(manager)
        items = add_texts(project, [f"text {i}" for i in range(30)])
        for user in labelers(project, 2):
            for item in items:
                answer(item, user, "cat")
        version = build(project, manager)
        client = api(manager)
        downloads = {}
        for artifact in client.get(f"/api/projects/{project.pk}/versions/{version.number}/").json()["artifacts"]:
            response = client.get(artifact["url"])
            assert response.status_code == 200, artifact["format"]
            downloads[artifact["format"]] = b"".join(response.streaming_content)
            assert len(downloads[artifact["format"]]) == artifact["size"]
        export = client.get(f"/api/projects/{project.pk}/annotations/export?format=jsonl")
        assert export.status_code == 200
        exported = b"".join(export.streaming_content)
    assert {"jsonl", "csv", "parquet"} <= set(downloads)
    assert len(downloads["jsonl"].splitlines()) == 30 and len(exported.splitlines()) == 60


def test_a_direct_connection_still_prepares_the_loops_statements(api, project, labeler):
    """Straight to PostgreSQL the loop's statements are prepared once and no longer planned per answer."""
    connection.ensure_connection()
    if connection.through_pooler():
        pytest.skip("the tests' own DATABASE_URL goes through a pooler")
    make_items(project, 8)
    assert label_every_item(api(labeler), project) == [201] * 8 + [204]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] > 0
