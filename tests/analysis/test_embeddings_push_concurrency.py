"""A pipeline pushing vectors twice at once (a retry of a request that timed out while the first was still
being stored): both pushes succeed and each item keeps one vector, on PostgreSQL."""

import contextlib
import threading

import pytest
from django.db import connection, connections

from analysis.models import Embedding
from analysis.services.embeddings import embeddings_push
from tests.labeling.queue_helpers import make_items


@pytest.mark.django_db(transaction=True)
def test_the_same_vectors_pushed_twice_at_once_are_stored_once(monkeypatch, project):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    items = make_items(project, 3)
    vectors = [{"item": item.pk, "vector": [float(item.pk), 1.0]} for item in items]
    both_writing, errors = threading.Barrier(2), []
    real_bulk_create = Embedding.objects.bulk_create

    def bulk_create(*args, **kwargs):
        # Each push writes once the other has checked and cleared what was stored (or two seconds pass).
        with contextlib.suppress(threading.BrokenBarrierError):
            both_writing.wait(timeout=2)
        return real_bulk_create(*args, **kwargs)

    monkeypatch.setattr(Embedding.objects, "bulk_create", bulk_create)

    def push():
        try:
            assert embeddings_push(project=project, model="mine", vectors=vectors) == 3
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(Embedding.objects.filter(model="mine").values_list("item_id", flat=True)) == [i.pk for i in items]
