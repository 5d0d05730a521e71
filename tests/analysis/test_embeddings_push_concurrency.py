"""A pipeline pushing vectors twice at once (a retry of a request that timed out while the first was still
being stored): both pushes succeed and each item keeps one vector, on PostgreSQL."""

import threading

import pytest

from analysis.models import Embedding
from analysis.services.embeddings import embeddings_push
from tests.concurrency import (
    in_a_thread,
    run_together,
    skip_unless_postgresql,
    slow_inserts,
    wait_for_the_other_thread,
)
from tests.labeling.queue_helpers import make_items


@pytest.mark.django_db(transaction=True)
def test_the_same_vectors_pushed_twice_at_once_are_stored_once(monkeypatch, project):
    skip_unless_postgresql()
    items = make_items(project, 3)
    vectors = [{"item": item.pk, "vector": [float(item.pk), 1.0]} for item in items]
    both_writing, errors = threading.Barrier(2), []
    real_bulk_create = Embedding.objects.bulk_create

    def bulk_create(*args, **kwargs):
        # Each push writes once the other has checked and cleared what was stored (or two seconds pass).
        wait_for_the_other_thread(both_writing, timeout=2)
        return real_bulk_create(*args, **kwargs)

    monkeypatch.setattr(Embedding.objects, "bulk_create", bulk_create)

    def push():
        assert embeddings_push(project=project, model="mine", vectors=vectors) == 3

    run_together([in_a_thread(push, errors=errors) for _ in range(2)])
    assert not errors, errors
    assert sorted(Embedding.objects.filter(model="mine").values_list("item_id", flat=True)) == [i.pk for i in items]


@pytest.mark.django_db(transaction=True)
def test_two_pushes_of_the_same_items_in_opposite_orders_both_store_their_vectors(caplog, api, manager, project):
    """Two pipelines push vectors of the same two items, listed in opposite orders: each push stored its
    first item's vector, then waited for the other's row of its second, and PostgreSQL stopped one of them
    as a deadlock's victim (503 'try again', none of its vectors stored)."""
    skip_unless_postgresql()
    first, second = make_items(project, 2)
    orders = {"forwards": [first, second], "backwards": [second, first]}
    both_ready, statuses = threading.Barrier(2), {}

    def push(name):
        both_ready.wait(timeout=10)
        vectors = [{"item": item.pk, "vector": [1.0, 0.0]} for item in orders[name]]
        response = api(manager).post(
            f"/api/projects/{project.pk}/embeddings/", {"model": "mine", "vectors": vectors}, format="json"
        )
        statuses[name] = (response.status_code, response.json())

    with slow_inserts(Embedding._meta.db_table):  # each vector takes half a second to store: the two pushes meet
        still_running = run_together([in_a_thread(push, name) for name in orders])
    assert not still_running
    assert statuses == {name: (201, {"model": "mine", "stored": 2}) for name in orders}
    assert "chosen as a deadlock victim" not in caplog.text  # the second waited for the first's rows in turn
    assert sorted(Embedding.objects.filter(model="mine").values_list("item_id", flat=True)) == [first.pk, second.pk]
