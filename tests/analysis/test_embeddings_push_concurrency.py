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


SLOW_VECTORS = """
CREATE OR REPLACE FUNCTION test_slow_vector() RETURNS trigger AS $$
BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_slow_vector BEFORE INSERT ON {table}
FOR EACH ROW EXECUTE FUNCTION test_slow_vector();
"""


@pytest.mark.django_db(transaction=True)
def test_two_pushes_of_the_same_items_in_opposite_orders_both_store_their_vectors(caplog, api, manager, project):
    """Two pipelines push vectors of the same two items, listed in opposite orders: each push stored its
    first item's vector, then waited for the other's row of its second, and PostgreSQL stopped one of them
    as a deadlock's victim (503 'try again', none of its vectors stored)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    first, second = make_items(project, 2)
    orders = {"forwards": [first, second], "backwards": [second, first]}
    both_ready, statuses = threading.Barrier(2), {}

    def push(name):
        try:
            both_ready.wait(timeout=10)
            vectors = [{"item": item.pk, "vector": [1.0, 0.0]} for item in orders[name]]
            response = api(manager).post(
                f"/api/projects/{project.pk}/embeddings/", {"model": "mine", "vectors": vectors}, format="json"
            )
            statuses[name] = (response.status_code, response.json())
        finally:
            connections.close_all()

    table = connection.ops.quote_name(Embedding._meta.db_table)
    with connection.cursor() as cursor:  # each vector takes half a second to store: the two pushes meet
        cursor.execute(SLOW_VECTORS.format(table=table))
    try:
        threads = [threading.Thread(target=push, args=(name,)) for name in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER test_slow_vector ON {table}; DROP FUNCTION test_slow_vector()")
    assert not any(thread.is_alive() for thread in threads)
    assert statuses == {name: (201, {"model": "mine", "stored": 2}) for name in orders}
    assert "chosen as a deadlock victim" not in caplog.text  # the second waited for the first's rows in turn
    assert sorted(Embedding.objects.filter(model="mine").values_list("item_id", flat=True)) == [first.pk, second.pk]
