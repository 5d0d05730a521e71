"""A labeler answers an item they do not hold (with ?next=1) while they hold another, just as a relabel
campaign locks both: the answer locked its item, then the held one; the campaign the held one, then the
answered one (id order). PostgreSQL aborted one of the two as a deadlock victim, a 500."""

import time

import pytest

from labeling.api import labeling as labeling_api
from labeling.models import Annotation, Campaign, Item
from tests.concurrency import (
    DeadlockCause,
    answer_with_next,
    hold,
    in_a_thread,
    pause_the_first_answer_holding_its_item,
    request_while_rows_are_locked,
    run_together,
    skip_unless_postgresql,
    wait_until_another_backend_waits_for_a_lock,
)
from tests.labeling.queue_helpers import make_items


@pytest.mark.django_db(transaction=True)
def test_an_answer_and_a_campaign_locking_the_same_two_items_both_go_through(
    monkeypatch, api, project, reviewer, labeler
):
    skip_unless_postgresql()
    held, answered = make_items(project, 2)
    hold(project, labeler, held)  # the lower id of the two
    statuses = {}
    # the campaign locks the held item, then waits for the answered one
    locked, _ = pause_the_first_answer_holding_its_item(monkeypatch, lambda: time.sleep(0.5))

    def answer():
        statuses["answer"] = answer_with_next(api(labeler), answered, "cat").status_code

    def campaign():
        response = api(reviewer).post(
            f"/api/projects/{project.pk}/campaigns/",
            {"name": "Again", "items": [held.pk, answered.pk]},
            format="json",
        )
        statuses["campaign"] = response.status_code

    still_running = run_together([in_a_thread(answer, then=locked), in_a_thread(campaign, after=locked)])
    assert not still_running
    assert statuses == {"answer": 201, "campaign": 201}
    assert Campaign.objects.count() == 1
    answered.refresh_from_db()
    assert answered.n_answers == Annotation.objects.filter(item=answered).count()
    assert Item.objects.get(pk=held.pk).n_answers == 0


@pytest.mark.django_db
def test_a_deadlock_victim_twice_over_is_told_to_try_again_not_a_500(monkeypatch, api, project, labeler):
    from django.db import OperationalError

    (item,) = make_items(project, 1)
    tries = []

    def deadlocked(**kwargs):
        tries.append(1)
        raise OperationalError("deadlock detected") from DeadlockCause()

    monkeypatch.setattr(labeling_api, "labeling_item_for", deadlocked)
    response = api(labeler).post(f"/api/items/{item.pk}/annotations/?next=1", {"value": "cat"}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response.json()["detail"].startswith("Another change to the same items was being saved at the same moment")
    assert len(tries) == 2  # run once more before giving up


@pytest.mark.django_db(transaction=True)
def test_an_answer_and_a_campaign_finishing_over_the_same_two_items_both_go_through(
    monkeypatch, caplog, api, project, reviewer, labeler
):
    """Finishing a campaign updates its items (the lower id first), as a labeler answers its higher one with
    ?next=1 holding the lower: the reviewer's finish was the deadlock's victim and answered 503."""
    skip_unless_postgresql()
    from labeling.services.campaigns import campaign_create

    held, answered = make_items(project, 2)
    campaign = campaign_create(project=project, name="Again", item_ids=[held.pk, answered.pk], overlap=3)
    hold(project, labeler, held)  # the lower id of the two
    statuses = {}
    # the finish updated the held item, waits for this one
    locked, waited = pause_the_first_answer_holding_its_item(monkeypatch, wait_until_another_backend_waits_for_a_lock)

    def answer():
        statuses["answer"] = answer_with_next(api(labeler), answered, "cat").status_code

    def finish():
        response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/{campaign.pk}/finish/")
        statuses["finish"] = response.status_code

    still_running = run_together([in_a_thread(answer, then=locked), in_a_thread(finish, after=locked)])
    assert not still_running
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
    skip_unless_postgresql()
    (item,) = make_items(project, 1)
    # the project locked, then the item, as labeling.services.label_imports and campaign_finish do; the
    # reviewer waits for the project
    outcome, still_running = request_while_rows_are_locked(
        lambda: api(reviewer).post(
            f"/api/items/{item.pk}/decision/",
            {"action": "relabel", "rationale": "the box misses the tail", "supersedes": None},
            format="json",
        ),
        first=("SELECT id FROM labeling_project WHERE id = %s FOR NO KEY UPDATE", [project.pk]),
        then=("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [item.pk]),
    )
    assert not still_running
    assert outcome == {"met": True, "status": 201}
    assert Campaign.objects.get().items.get() == item
