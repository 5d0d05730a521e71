"""A reviewer's "input insufficient" decision on an item while another reviewer tags a map selection holding
it with the same reserved tag, on PostgreSQL. The decision locks its item (for update, checking what was
decided meanwhile), then stores the item's link to the tag; the selection stored its links first and locked
the items (key share, their foreign keys) only at commit. Each then held what the other waited for, and
PostgreSQL stopped one: the selection ran again a second later, or the decision answered 503 'try again'
(its tagging ran again inside the decision's transaction, which still held the item, and met the same)."""

import threading

import pytest

from labeling.models import Decision, Item, Tag
from labeling.services import review
from labeling.services.review import NEEDS_INPUT_TAG
from tests.concurrency import (
    deadlock_at_commit,
    in_a_thread,
    run_together,
    skip_unless_postgresql,
    wait_until_another_backend_waits_for_a_lock,
)
from tests.labeling.queue_helpers import make_items


@pytest.fixture
def selection(api, project, reviewer, manager):
    """Five items, the one in the middle to be decided, the reserved tag already in use, and the two
    requests: the decision on the middle item, the selection of all five tagged with the reserved tag."""
    skip_unless_postgresql()
    items = make_items(project, 5)
    decided = items[2]
    Tag.objects.create(project=project, name=NEEDS_INPUT_TAG)
    sme, analyst = api(reviewer), api(manager)
    statuses = {}

    def decide():
        response = sme.post(
            f"/api/items/{decided.pk}/decision/",
            {"action": "input_insufficient", "rationale": "too dark to read", "supersedes": None},
            format="json",
        )
        statuses["decision"] = response.status_code

    def tag():
        response = analyst.post(
            f"/api/projects/{project.pk}/selection/",
            {"items": [item.pk for item in items], "action": "tag", "tag": NEEDS_INPUT_TAG},
            format="json",
        )
        statuses["selection"] = response.status_code

    return items, decided, decide, tag, statuses


def _all_tagged_and_decided_once(items, decided):
    links = Item.tags.through.objects.filter(tag__name=NEEDS_INPUT_TAG)
    assert sorted(links.values_list("item_id", flat=True)) == sorted(item.pk for item in items)
    assert Decision.objects.filter(item=decided, action="input_insufficient").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_selection_tagged_while_a_decision_holds_its_item_waits_for_it(monkeypatch, caplog, selection):
    items, decided, decide, tag, statuses = selection
    item_locked = threading.Event()
    real = review.items_tag

    def tag_once_the_selection_waits(**kwargs):
        if not item_locked.is_set():  # the first try only
            # The decision holds its item (for update) here; the selection is sent now and must wait for it.
            item_locked.set()
            assert wait_until_another_backend_waits_for_a_lock()
        return real(**kwargs)

    monkeypatch.setattr(review, "items_tag", tag_once_the_selection_waits)
    still_running = run_together([in_a_thread(decide, then=item_locked), in_a_thread(tag, after=item_locked)])
    assert not still_running
    assert statuses == {"decision": 201, "selection": 200}
    assert "chosen as a deadlock victim" not in caplog.text  # the selection waited for the item, not the link
    _all_tagged_and_decided_once(items, decided)


@pytest.mark.django_db(transaction=True)
def test_a_decision_sent_while_a_selection_is_being_tagged_is_recorded(monkeypatch, caplog, selection):
    items, decided, decide, tag, statuses = selection
    through = Item.tags.through
    links_stored = threading.Event()
    real = through.objects.bulk_create

    def store_then_wait_for_the_decision(*args, **kwargs):
        stored = real(*args, **kwargs)
        if threading.current_thread().name == "selection" and not links_stored.is_set():  # its first try only
            # The selection's links are stored, not committed: the decision is sent now and must wait.
            links_stored.set()
            assert wait_until_another_backend_waits_for_a_lock()
        return stored

    monkeypatch.setattr(through.objects, "bulk_create", store_then_wait_for_the_decision)
    still_running = run_together(
        [in_a_thread(tag, then=links_stored, name="selection"), in_a_thread(decide, after=links_stored)]
    )
    assert not still_running
    assert statuses == {"decision": 201, "selection": 200}
    assert "chosen as a deadlock victim" not in caplog.text
    _all_tagged_and_decided_once(items, decided)


@pytest.mark.django_db(transaction=True)
def test_a_decision_stopped_as_a_deadlock_victim_at_its_commit_is_recorded_on_its_second_run(
    caplog, api, project, reviewer
):
    """The item's link to the tag key-share-locks the item at the decision's commit: a deadlock there
    stopped the decision's whole transaction, which items_tag's own retry (a savepoint inside it) never
    saw, and the reviewer got 503 for a decision that was not recorded."""
    skip_unless_postgresql()
    (item,) = make_items(project, 1)
    with deadlock_at_commit(Item.tags.through._meta.db_table):
        response = api(reviewer).post(
            f"/api/items/{item.pk}/decision/",
            {"action": "input_insufficient", "rationale": "too dark to read", "supersedes": None},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert "decision_record: chosen as a deadlock victim" in caplog.text
    _all_tagged_and_decided_once([item], item)
