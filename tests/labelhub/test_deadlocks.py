"""retry_deadlock_once runs a deadlock's victim again only as the outermost transaction: inside a caller's,
its block is a savepoint whose rollback keeps the caller's locks, so the second run met the same deadlock
after a pause holding them; the retry is the caller's (decision_record, a training job's store)."""

import pytest
from django.db import OperationalError, transaction

from labelhub.deadlocks import retry_deadlock_once
from tests.concurrency import DeadlockCause


def _victim(tries):
    @retry_deadlock_once
    @transaction.atomic
    def store():
        tries.append(1)
        raise OperationalError("deadlock detected") from DeadlockCause()

    return store


@pytest.mark.django_db
def test_a_victim_runs_again_once_as_the_outermost_transaction():
    tries = []
    with pytest.raises(OperationalError):
        _victim(tries)()
    assert len(tries) == 2


@pytest.mark.django_db
def test_a_victim_inside_a_callers_transaction_leaves_the_retry_to_the_caller():
    tries = []
    with pytest.raises(OperationalError), transaction.atomic():
        _victim(tries)()
    assert len(tries) == 1
