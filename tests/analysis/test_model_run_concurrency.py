"""A model run's predictions stored while a campaign locks the same items, on PostgreSQL. A prediction's
foreign key locks its item (key share) when the run commits, one prediction after the other; campaigns
and label imports lock their items in id order (for update). Predictions stored in the order the client
sent them took a higher item's lock, then waited for a lower one the campaign held, while the campaign
waited for the higher: PostgreSQL stopped one of the two (here the campaign, which a reviewer then saw
run again a second later or refused with 503 'try again'; the run, when it was chosen)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from analysis.models import ModelRun, Prediction
from tests.labeling.queue_helpers import make_items


def _wait_for_a_lock_wait(timeout=10):
    """Wait until another backend waits for a row lock (pg_locks: pg_stat_activity is read once per
    transaction, and the caller's is open)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_model_run_stored_while_a_campaign_locks_its_items_is_stored(api, manager, project):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    low, high = make_items(project, 2)
    low_locked, outcome = threading.Event(), {}

    def lock_the_items_in_id_order():  # as campaign_create, campaign_finish and label imports do
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [low.pk])
                low_locked.set()
                outcome["met"] = _wait_for_a_lock_wait()  # the run's commit waits for the low item
                cursor.execute("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [high.pk])
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["campaign"] = repr(exc)
        finally:
            low_locked.set()
            connections.close_all()

    def push_the_run():
        try:
            assert low_locked.wait(timeout=10)
            predictions = [{"item": high.pk, "label": "cat"}, {"item": low.pk, "label": "dog"}]
            response = api(manager).post(
                f"/api/projects/{project.pk}/model-runs/",
                {"name": "resnet", "predictions": predictions},
                format="json",
            )
            outcome["run"] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lock_the_items_in_id_order), threading.Thread(target=push_the_run)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert outcome == {"met": True, "run": 201}
    run = ModelRun.objects.get(project=project)
    assert dict(Prediction.objects.filter(model_run=run).values_list("item_id", "label")) == {
        low.pk: "dog",
        high.pk: "cat",
    }
