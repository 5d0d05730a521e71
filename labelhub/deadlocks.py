"""Deadlock victims: PostgreSQL aborts one of two transactions that wait for each other's row locks
(SQLSTATE 40P01, after ``deadlock_timeout``, 1 s by default). The aborted one did nothing wrong: run
again, it finds the other finished. ``retry_deadlock_once`` runs a transaction so; a victim twice
over reaches ``labelhub.api.exception_handler``, which answers 503 with a sentence, not a 500. Only the
outermost transaction can run again: a service that retries, called inside a caller's transaction, leaves
the retry to that caller (which retries too, or says why it need not). A long
write made of batches (an import) raises ``BatchNotSaved`` instead, saying which batch was lost and that
the ones before it are stored.
"""

import functools
import logging
import random
import time

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

DEADLOCK_DETECTED = "40P01"
RETRY_PAUSE_SECONDS = 0.1
DEADLOCK_MESSAGE = (
    "Another change to the same items was being saved at the same moment and the database stopped this "
    "one; nothing of it was saved. Try again."
)


class BatchNotSaved(Exception):
    """One batch of a write made of several (an import's chunk) was a deadlock's victim twice over: its
    message says which batch was not saved and what was (the batches before). An import job fails with
    it; the API answers it as 503, as it answers a victim twice over."""


def is_deadlock(exc) -> bool:
    """Whether ``exc`` is a database error saying this transaction was a deadlock's victim."""
    cause = exc.__cause__ if isinstance(exc, OperationalError) else None
    return getattr(cause, "sqlstate", None) == DEADLOCK_DETECTED


def inside_a_callers_transaction() -> bool:
    """Whether a caller's transaction (an atomic block, not the one a test case wraps each test in) is
    open around this point: Django's own test for a ``durable`` block nested in another."""
    blocks = connection.atomic_blocks
    return bool(blocks) and not blocks[-1]._from_testcase


def retry_deadlock_once(function):
    """Run ``function``, which opens its own transaction (``transaction.atomic``), once more, after a
    moment, if the database aborted it as a deadlock's victim. Its locks were given up with its rollback,
    so the other transaction goes on and the second run waits for it.

    Inside a caller's transaction, ``function`` runs once and its deadlock goes up to the caller: its
    block is only a savepoint there, whose rollback keeps the caller's locks (so the other transaction
    still waits and a second run meets the same deadlock, after a pause holding them), and the foreign
    keys' locks are taken at the caller's commit, where no retry in here ever saw them."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        if inside_a_callers_transaction():
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        except OperationalError as exc:
            if not is_deadlock(exc):
                raise
            logger.warning("%s: chosen as a deadlock victim; running it again", function.__qualname__)
        # The other transaction, woken by this one's rollback, must re-take the row it waited for: run
        # again at once, this one could take that row first and make the same deadlock again.
        time.sleep(random.uniform(RETRY_PAUSE_SECONDS, 2 * RETRY_PAUSE_SECONDS))  # noqa: S311 - not secret
        return function(*args, **kwargs)

    return run
