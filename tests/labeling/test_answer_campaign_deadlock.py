"""A labeler answers an item they do not hold (with ?next=1) while they hold another, just as a relabel
campaign locks both: the answer locked its item, then the held one; the campaign the held one, then the
answered one (id order). PostgreSQL aborted one of the two as a deadlock victim, a 500."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from labeling.api import labeling as labeling_api
from labeling.models import Annotation, Campaign, Item, Reservation
from labeling.services.queue import queue_next
from tests.labeling.queue_helpers import make_items


@pytest.mark.django_db(transaction=True)
def test_an_answer_and_a_campaign_locking_the_same_two_items_both_go_through(
    monkeypatch, api, project, reviewer, labeler
):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    held, answered = make_items(project, 2)
    queue_next(project=project, labeler=labeler)
    Reservation.objects.filter(labeler=labeler).update(item=held)  # the lower id of the two
    locked, statuses = threading.Event(), {}
    real = labeling_api.annotation_submit_and_next_locked

    def submit_after_the_campaign_locked_the_held_item(**kwargs):
        if not locked.is_set():  # the first try only
            locked.set()
            time.sleep(0.5)  # the campaign locks the held item, then waits for the answered one
        return real(**kwargs)

    monkeypatch.setattr(
        labeling_api, "annotation_submit_and_next_locked", submit_after_the_campaign_locked_the_held_item
    )

    def answer():
        try:
            response = api(labeler).post(
                f"/api/items/{answered.pk}/annotations/?next=1", {"value": "cat"}, format="json"
            )
            statuses["answer"] = response.status_code
        finally:
            locked.set()
            connections.close_all()

    def campaign():
        try:
            assert locked.wait(timeout=10)
            response = api(reviewer).post(
                f"/api/projects/{project.pk}/campaigns/",
                {"name": "Again", "items": [held.pk, answered.pk]},
                format="json",
            )
            statuses["campaign"] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer), threading.Thread(target=campaign)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert statuses == {"answer": 201, "campaign": 201}
    assert Campaign.objects.count() == 1
    answered.refresh_from_db()
    assert answered.n_answers == Annotation.objects.filter(item=answered).count()
    assert Item.objects.get(pk=held.pk).n_answers == 0


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.django_db
def test_a_deadlock_victim_twice_over_is_told_to_try_again_not_a_500(monkeypatch, api, project, labeler):
    from django.db import OperationalError

    (item,) = make_items(project, 1)
    tries = []

    def deadlocked(**kwargs):
        tries.append(1)
        raise OperationalError("deadlock detected") from _Deadlock()

    monkeypatch.setattr(labeling_api, "labeling_item_for", deadlocked)
    response = api(labeler).post(f"/api/items/{item.pk}/annotations/?next=1", {"value": "cat"}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["detail"].startswith("Another change to the same items was being saved at the same moment")
    assert len(tries) == 2  # run once more before giving up


def _wait_for_a_lock_wait(timeout=10):
    """Wait until another backend waits for a row lock. pg_locks, not pg_stat_activity: that one is read
    once per transaction, and the caller's is open."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_an_answer_and_a_campaign_finishing_over_the_same_two_items_both_go_through(
    monkeypatch, caplog, api, project, reviewer, labeler
):
    """Finishing a campaign updates its items (the lower id first), as a labeler answers its higher one with
    ?next=1 holding the lower: the reviewer's finish was the deadlock's victim and answered 503."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    from labeling.services.campaigns import campaign_create

    held, answered = make_items(project, 2)
    campaign = campaign_create(project=project, name="Again", item_ids=[held.pk, answered.pk], overlap=3)
    queue_next(project=project, labeler=labeler)
    Reservation.objects.filter(labeler=labeler).update(item=held)  # the lower id of the two
    locked, waited, statuses = threading.Event(), [], {}
    real = labeling_api.annotation_submit_and_next_locked

    def submit_once_the_finish_waits_for_the_answered_item(**kwargs):
        if not locked.is_set():  # the first try only
            locked.set()
            waited.append(_wait_for_a_lock_wait())  # the finish updated the held item, waits for this one
        return real(**kwargs)

    monkeypatch.setattr(
        labeling_api, "annotation_submit_and_next_locked", submit_once_the_finish_waits_for_the_answered_item
    )

    def answer():
        try:
            response = api(labeler).post(
                f"/api/items/{answered.pk}/annotations/?next=1", {"value": "cat"}, format="json"
            )
            statuses["answer"] = response.status_code
        finally:
            locked.set()
            connections.close_all()

    def finish():
        try:
            assert locked.wait(timeout=10)
            response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/{campaign.pk}/finish/")
            statuses["finish"] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer), threading.Thread(target=finish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert waited == [True]  # the two did meet
    assert statuses == {"answer": 201, "finish": 200}
    assert "chosen as a deadlock victim" in caplog.text
    campaign.refresh_from_db()
    assert campaign.status == "finished"
    assert list(Item.objects.filter(pk__in=[held.pk, answered.pk]).values_list("priority", "overlap")) == [
        (0, None),
        (0, None),
    ]
    assert Item.objects.get(pk=answered.pk).n_answers == 1


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_sending_an_item_back_while_its_project_and_items_are_being_locked_is_not_refused(
    api, project, reviewer
):
    """Label imports and campaign finishes lock the project, then their items. A reviewer sending an item
    back (action relabel, with supersedes as the review page sends it) locked the item, then the project:
    when the reviewer waited first, PostgreSQL chose them as the deadlock's victim and they got 503."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    (item,) = make_items(project, 1)
    project_locked, outcome = threading.Event(), {}

    def lock_the_project_then_the_item():  # as labeling.services.label_imports and campaign_finish do
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT id FROM labeling_project WHERE id = %s FOR NO KEY UPDATE", [project.pk])
                project_locked.set()
                outcome["met"] = _wait_for_a_lock_wait()  # the reviewer waits for the project
                cursor.execute("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [item.pk])
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["other"] = repr(exc)
        finally:
            project_locked.set()
            connections.close_all()

    def send_back():
        try:
            assert project_locked.wait(timeout=10)
            response = api(reviewer).post(
                f"/api/items/{item.pk}/decision/",
                {"action": "relabel", "rationale": "the box misses the tail", "supersedes": None},
                format="json",
            )
            outcome["decision"] = response.status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lock_the_project_then_the_item), threading.Thread(target=send_back)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert outcome == {"met": True, "decision": 201}
    assert Campaign.objects.get().items.get() == item
