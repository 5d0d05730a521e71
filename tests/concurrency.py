"""Set-up shared by the tests that run two requests or jobs at once on PostgreSQL to make their row locks
meet (deadlocks, races): the skip on SQLite, threads that close their connections, a wait until the other
transaction is stuck on a lock, inserts slowed down by a trigger, and a labeler's ?next=1 answer held up
while it holds its item's lock."""

import contextlib
import threading
import time

import pytest
from django.db import connection, connections, transaction

from labeling.api import labeling as labeling_api
from labeling.models import Reservation
from labeling.services.queue import queue_next

JOIN_SECONDS = 30
START_SIGNAL_SECONDS = 10


def skip_unless_postgresql():
    """Skip the calling test on SQLite: its writers take turns, so two transactions never hold row locks
    at the same time and there is nothing to meet."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")


class DeadlockCause(Exception):
    """Stands in for psycopg's DeadlockDetected, the cause under Django's OperationalError when PostgreSQL
    aborts a deadlock's victim (``labelhub.deadlocks.is_deadlock`` reads its sqlstate): raise
    ``OperationalError("deadlock detected") from DeadlockCause()``."""

    sqlstate = "40P01"


def wait_until_another_backend_waits_for_a_lock(timeout=10):
    """True as soon as another database backend waits for a lock it has not been granted (the other
    thread, stuck on a row this one holds); False after ``timeout`` seconds. pg_locks for the waiting,
    pg_stat_activity for the database (another test run on the same server waits in its own); the
    statistics snapshot, taken once per transaction and the caller's is open, is cleared each time."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND l.pid <> pg_backend_pid() AND a.datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def wait_for_the_other_thread(barrier, timeout):
    """Wait at ``barrier`` until the other thread reaches it too, or go on alone after ``timeout`` seconds
    (when the two are serialized, the other is waiting for this one's lock and never comes)."""
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=timeout)


def in_a_thread(work, *args, after=None, then=None, errors=None, name=None):
    """A thread (not started), named ``name``, running ``work(*args)`` on its own database connection, closed when it is
    done (an open one would keep the test database from being dropped).

    ``after``: an event ``work`` waits for first (failing if it is not set within ten seconds).
    ``then``: an event set when the thread ends, however it ends, so the other thread never waits out its
    timeout. ``errors``: a list the exception ``work`` raised is appended to (its repr), for the test to
    assert empty; without it the exception ends the thread as it comes."""

    def run():
        try:
            if after is not None:
                assert after.wait(timeout=START_SIGNAL_SECONDS)
            work(*args)
        except BaseException as exc:
            if errors is None:
                raise
            errors.append(repr(exc))
        finally:
            if then is not None:
                then.set()
            connections.close_all()

    return threading.Thread(target=run, name=name)


def run_together(threads):
    """Start ``threads``, then wait for each for up to 30 seconds; returns those still running (stuck:
    a test asserts there are none)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_SECONDS)
    return [thread for thread in threads if thread.is_alive()]


def request_while_rows_are_locked(request, *, first, then):
    """Run ``request()`` (an API call) in one thread while another, in one transaction, takes the row lock
    ``first`` (an SQL statement and its parameters), waits until another backend waits for a lock (the
    request, for that row: it starts once ``first`` is held), then takes the row lock ``then``, as a
    campaign or a label import locks its rows in turn.

    Returns {"met": whether the request did wait, "status": the request's status code}, with "locking"
    (the exception's repr) if the locking thread failed, and the threads still running after 30 s."""
    first_held, outcome = threading.Event(), {}

    def lock_first_then_the_other():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(*first)
                first_held.set()
                outcome["met"] = wait_until_another_backend_waits_for_a_lock()
                cursor.execute(*then)
        except Exception as exc:  # noqa: BLE001 - reported in the outcome
            outcome["locking"] = repr(exc)

    def send():
        outcome["status"] = request().status_code

    still_running = run_together(
        [in_a_thread(lock_first_then_the_other, then=first_held), in_a_thread(send, after=first_held)]
    )
    return outcome, still_running


@contextlib.contextmanager
def slow_inserts(table, when="TRUE"):
    """Each row inserted into ``table`` for which the SQL condition ``when`` (on NEW) holds takes half a
    second (a trigger's pg_sleep), so that two transactions inserting such rows meet; the trigger and its
    function are dropped on leaving, whatever happened."""
    table = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_slow_insert() RETURNS trigger AS $$ "
            "BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql; "
            f"CREATE TRIGGER test_slow_insert BEFORE INSERT ON {table} "
            f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION test_slow_insert();"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER test_slow_insert ON {table}; DROP FUNCTION test_slow_insert()")


def hold(project, labeler, item):
    """Give ``labeler`` the queue's reservation of ``item`` (they hold it, as if the queue had handed it
    out), to answer another item with ?next=1 while holding this one."""
    queue_next(project=project, labeler=labeler)
    Reservation.objects.filter(labeler=labeler).update(item=item)


def answer_with_next(client, item, value):
    """Answer ``item`` and ask for the next in the same request, as the labeling page does (?next=1): the
    answered item's row is locked first, then the one the labeler holds."""
    return client.post(f"/api/items/{item.pk}/annotations/?next=1", {"value": value}, format="json")


def pause_the_first_answer_holding_its_item(monkeypatch, pause):
    """On a ?next=1 answer's first try only, once it holds the answered item's row lock: set the event
    returned, call ``pause()`` and keep what it returns in the list returned, then go on with the answer.
    A retry (after a deadlock) is not paused. Returns (the event, the list)."""
    locked, paused = threading.Event(), []
    real = labeling_api.annotation_submit_and_next_locked

    def submit_after_the_pause(**kwargs):
        if not locked.is_set():  # the first try only
            locked.set()
            paused.append(pause())
        return real(**kwargs)

    monkeypatch.setattr(labeling_api, "annotation_submit_and_next_locked", submit_after_the_pause)
    return locked, paused


@contextlib.contextmanager
def deadlock_at_commit(table):
    """The first transaction to commit after inserting into ``table`` is stopped as a deadlock's victim
    at its commit (a deferred trigger raising SQLSTATE 40P01, as the foreign keys' locks are taken then);
    the next ones commit. The trigger, its function and its sequence are dropped on leaving."""
    table = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE SEQUENCE test_deadlock_at_commit; "
            "CREATE FUNCTION test_deadlock_at_commit() RETURNS trigger AS $$ BEGIN "
            "IF nextval('test_deadlock_at_commit') = 1 THEN "
            "RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END IF; RETURN NULL; END $$ "
            "LANGUAGE plpgsql; "
            f"CREATE CONSTRAINT TRIGGER test_deadlock_at_commit AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_deadlock_at_commit();"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DROP TRIGGER test_deadlock_at_commit ON {table}; DROP FUNCTION test_deadlock_at_commit(); "
                "DROP SEQUENCE test_deadlock_at_commit"
            )
