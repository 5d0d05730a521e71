"""LabelHub behind a real PgBouncer in transaction mode (tests/pgbouncer.py starts one), with the default
settings: every transaction may reach another server connection, so nothing may rely on what an earlier
one left in its server session."""

import psycopg
import pytest
from django.db import connection
from django.test import Client

from analysis import selectors
from labeling.models import Annotation, Item
from labeling.services.imports import ImportEntry, items_import
from tests import pgbouncer
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import answer, build, labelers, text_project

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PgBouncer pools PostgreSQL connections"),
]


@pytest.fixture
def pooler():
    with pgbouncer.running(connection.settings_dict) as port:
        yield port


def _connect(port):
    db = connection.settings_dict
    return psycopg.connect(
        host="127.0.0.1", port=port, dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None
    )


def open_two_server_connections(port):
    """Two transactions at once make PgBouncer open a second server connection; its round robin then
    alternates the two under one client's consecutive transactions."""
    with _connect(port) as first, _connect(port) as second:
        pids = {first.execute("SELECT pg_backend_pid()").fetchone()[0]}
        pids.add(second.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert len(pids) == 2


# What a server session keeps after its transactions end, which the next client of that server
# connection would meet: settings changed by SET (less those PgBouncer itself restores per client, and
# the transaction_* ones PostgreSQL marks "session" after any SET TRANSACTION), cursors WITH HOLD,
# prepared statements, temporary tables, LISTEN channels and session-level advisory locks.
SESSION_STATE = """
SELECT 'setting ' || name || '=' || setting FROM pg_settings WHERE source = 'session' AND name NOT IN
    ('client_encoding', 'DateStyle', 'TimeZone', 'standard_conforming_strings', 'application_name',
     'transaction_isolation', 'transaction_read_only', 'transaction_deferrable')
UNION ALL SELECT 'cursor ' || name FROM pg_cursors
UNION ALL SELECT 'prepared statement ' || name FROM pg_prepared_statements
UNION ALL SELECT 'temporary table ' || relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()
UNION ALL SELECT 'listening to ' || channel FROM pg_listening_channels() AS channel
UNION ALL SELECT 'advisory lock ' || objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
"""


def state_left_in_server_sessions(port):
    """SESSION_STATE of every server connection of the pool: one transaction each, all open at once."""
    connections = [_connect(port) for _ in range(pgbouncer.POOL_SIZE)]
    try:
        found = {}
        for other in connections:
            pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
            found[pid] = [row[0] for row in other.execute(SESSION_STATE)]
        assert len(found) == pgbouncer.POOL_SIZE
        return {pid: state for pid, state in found.items() if state}
    finally:
        for other in connections:
            other.rollback()  # (a client leaving mid-transaction makes PgBouncer close its server connection)
            other.close()


def label_every_item(client, project):
    """The status of each answer a labeler gives to the items ?next hands out, then that of the ?next
    that ends it (204: nothing left)."""
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
    assert state_left_in_server_sessions(pooler) == {}


def test_an_import_a_version_build_its_downloads_the_exports_and_a_split_report_behind_pgbouncer(
    pooler, api, manager, settings, monkeypatch
):
    """An import COPYs its rows; a build reads in one snapshot transaction through a server-side cursor
    while its heartbeat thread writes on a connection of its own; the export reads keyset batches, each
    its own statement; the agreement report's answers are read over two connections sharing an exported
    snapshot. None of them leaves anything in a server session."""
    settings.LABELHUB_ANSWER_READ_SPLIT_MIN = 0  # every report's read is split
    split_reads, split_parts = [], selectors._split_parts
    monkeypatch.setattr(
        selectors, "_split_parts", lambda *args: split_reads.append(split_parts(*args)) or split_reads[-1]
    )
    with pgbouncer.default_connection_through(pooler):
        open_two_server_connections(pooler)
        project = text_project(manager)
        imported = items_import(
            project=project, entries=[ImportEntry(name=f"{i}.txt", text=f"text {i}") for i in range(30)]
        )
        items = list(Item.objects.filter(pk__in=imported.imported).order_by("pk"))
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
        page = Client()
        page.force_login(manager)
        report = page.get(f"/projects/{project.pk}/agreement.json")
        assert report.status_code == 200
        # A worker's reports read with a server-side-binding cursor of their own on its connection, which
        # psycopg also prepared once a statement had run five times (SET LOCAL work_mem, the same read).
        tables = [selectors.answer_table(project=project) for _ in range(8)]
    assert len(items) == 30 and {"jsonl", "csv", "parquet"} <= set(downloads)
    assert len(downloads["jsonl"].splitlines()) == 30 and len(exported.splitlines()) == 60
    assert report.json()["n_annotations"] == 60 and [len(parts) for parts in split_reads] == [2] * 9
    assert all(len(table.code) == 60 for table in tables)
    assert state_left_in_server_sessions(pooler) == {}


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
