"""Relabel campaigns in the queue: finishing one leaves the items another active campaign holds alone."""

from labeling.services.campaigns import campaign_create, campaign_finish, campaign_send_back
from labeling.services.queue import queue_next
from tests.labeling.queue_helpers import make_items


def test_finishing_a_campaign_keeps_the_items_reviewers_sent_back_since_in_front(project, reviewer, labeler):
    """A reviewer sent an item of an older campaign back while it ran. Finishing the older campaign put that
    item back in the normal order, behind every other item, though "Sent back by reviewers" was still
    active: the labelers no longer saw it first."""
    items = make_items(project, 5)
    older = campaign_create(project=project, name="Night shots", item_ids=[items[0].pk, items[1].pk], overlap=5)
    sent_back = campaign_send_back(project=project, item=items[1], user=reviewer)
    campaign_finish(campaign=older)
    for item in items:
        item.refresh_from_db()
    assert (items[0].priority, items[0].overlap) == (0, None)
    assert items[1].priority > 0 and items[1].overlap == sent_back.overlap
    assert queue_next(project=project, labeler=labeler).item.pk == items[1].pk
