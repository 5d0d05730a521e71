"""Streamed reads behind a pooler in transaction mode (PgBouncer): outside a transaction no cursor outlives
its statement in the server session, which a pooler may hand to someone else before the next one."""

import pytest
from django.db import connection, transaction

from labeling.models import Item
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db(transaction=True)


def _open_cursors():
    """Cursors declared in this server session (``pg_cursors``): (holdable, ...) flags."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("server-side cursors are PostgreSQL's")


def test_a_streamed_read_outside_a_transaction_leaves_no_cursor_in_the_session(postgresql, project):
    """Every chunk of a WITH HOLD cursor is fetched by a statement of its own; behind PgBouncer in transaction
    mode the next one may reach another server connection, where the cursor does not exist."""
    make_items(project, 5)
    rows = Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True).iterator(chunk_size=2)
    first = next(rows)
    assert _open_cursors() == []
    assert [first, *rows] == list(Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))


def test_a_streamed_read_inside_a_transaction_still_streams(postgresql, project):
    """Inside a transaction (a version build's snapshot) the cursor ends with it: rows are fetched chunk by
    chunk from a server-side cursor that is not held past the transaction."""
    make_items(project, 5)
    with transaction.atomic():
        rows = Item.objects.filter(project=project).values_list("pk", flat=True).iterator(chunk_size=2)
        next(rows)
        assert _open_cursors() == [False]
        assert len(list(rows)) == 4
