"""The suite's own flush between transactional tests (tests/conftest.py): a deadlock's victim is flushed
again, any other failure still fails the test."""

import psycopg.errors
import pytest
from django.core.management.base import CommandError
from django.db import OperationalError

import tests.conftest as suite


class _Flush:
    def __init__(self, failures):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, test_case):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def _flush_error(database_error):
    try:
        try:
            raise database_error
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as exc:
        try:
            raise CommandError("Database couldn't be flushed.") from exc
        except CommandError as flush_error:
            return flush_error


def test_a_flush_that_was_a_deadlocks_victim_is_run_again(monkeypatch):
    flush = _Flush([_flush_error(psycopg.errors.DeadlockDetected("deadlock detected"))] * 2)
    monkeypatch.setattr(suite, "_flush", flush)
    monkeypatch.setattr(suite.time, "sleep", lambda seconds: None)
    suite._flush_again_after_a_deadlock(None)
    assert flush.calls == 3


def test_a_flush_that_failed_otherwise_or_too_often_fails(monkeypatch):
    monkeypatch.setattr(suite.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(suite, "_flush", _Flush([_flush_error(psycopg.errors.UndefinedTable("no table"))]))
    with pytest.raises(CommandError):
        suite._flush_again_after_a_deadlock(None)
    flush = _Flush([_flush_error(psycopg.errors.DeadlockDetected("deadlock detected"))] * suite.FLUSH_ATTEMPTS)
    monkeypatch.setattr(suite, "_flush", flush)
    with pytest.raises(CommandError):
        suite._flush_again_after_a_deadlock(None)
    assert flush.calls == suite.FLUSH_ATTEMPTS
