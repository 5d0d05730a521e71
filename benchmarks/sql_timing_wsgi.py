"""The app with every SQL statement timed, for benchmarks/labeling_bench.py (``--pythonpath benchmarks``,
``sql_timing_wsgi:application``).

Each statement's wall time (send, wait, run, receive) is added to its kind's total; the totals of each
gunicorn worker are written after every request to ``$LABELHUB_BENCH_SQL_DIR/<pid>`` (a few doubles,
one pwrite), where the benchmark sums them before and after a run. The kinds: ``item lock`` (a
``SELECT ... FOR UPDATE`` that waits for the item's row lock: the submit's lock, and the hold's), and
``other`` (everything else, the queue's ``SKIP LOCKED`` candidate included). The wait for a lock shows
as the item lock statement's time above the others' fraction of a millisecond. The BEGIN that opens a
transaction is sent on its own and counted with the others, not inside the first statement's time.
"""

import os
import struct
import time

import psycopg

from labelhub.wsgi import application as django_application

KINDS = ("item lock", "other")
_totals = [0.0] * (2 * len(KINDS))  # count, seconds per kind
_fd = None


def _kind(query):
    text = query if isinstance(query, str) else str(query)
    return 0 if "FOR UPDATE" in text and "SKIP LOCKED" not in text else 1


def _timed(execute):
    def timed_execute(self, query, params=None, **kwargs):
        connection = self.connection
        if not connection.autocommit and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            # The BEGIN psycopg would send first, sent (and timed as "other") here, so that it is not
            # counted in the time of the transaction's first statement (often the item lock).
            started = time.perf_counter()
            connection.pgconn.exec_(b"BEGIN")
            _totals[2] += 1
            _totals[3] += time.perf_counter() - started
        started = time.perf_counter()
        try:
            return execute(self, query, params, **kwargs)
        finally:
            kind = _kind(query)
            _totals[2 * kind] += 1
            _totals[2 * kind + 1] += time.perf_counter() - started

    return timed_execute


psycopg.Cursor.execute = _timed(psycopg.Cursor.execute)


def application(environ, start_response):
    global _fd
    try:
        return django_application(environ, start_response)
    finally:
        if _fd is None:
            path = os.path.join(os.environ["LABELHUB_BENCH_SQL_DIR"], str(os.getpid()))
            _fd = os.open(path, os.O_CREAT | os.O_WRONLY)
        os.pwrite(_fd, struct.pack(f"{len(_totals)}d", *_totals), 0)


def read_totals(folder):
    """{kind: (statements, seconds)} summed over the workers' files in ``folder``."""
    sums = [0.0] * (2 * len(KINDS))
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as handle:
            data = handle.read()
        if len(data) == 8 * len(sums):
            for i, value in enumerate(struct.unpack(f"{len(sums)}d", data)):
                sums[i] += value
    return {kind: (sums[2 * i], sums[2 * i + 1]) for i, kind in enumerate(KINDS)}
