"""One consistent view of the database for a read made of several queries."""

import contextlib

from django.db import connection, transaction


@contextlib.contextmanager
def read_snapshot():
    """On PostgreSQL, one REPEATABLE READ READ ONLY transaction around the reads: every query in it sees
    the data as it was at the first, so a taxonomy change or an answer committed between two of them
    (the class mapping read, then the answers) cannot mix two states in one result. Elsewhere (SQLite),
    or inside another transaction (whose isolation can no longer change), it adds nothing. Also a
    decorator (``@read_snapshot()``)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield
