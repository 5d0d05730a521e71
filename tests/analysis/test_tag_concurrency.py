"""Two reviewers tag overlapping selections of the map with the same slice at once, on PostgreSQL. Each
request stored its item-tag links in the order of a Python set of ids, which depends on the set's size:
two items came in opposite orders in a small selection and a large one, each request stored one link and
waited for the other's, and PostgreSQL stopped one of them as a deadlock's victim (503 'try again')."""

import threading

import pytest

from labeling.models import Item, Tag
from tests.concurrency import in_a_thread, run_together, skip_unless_postgresql, slow_inserts
from tests.labeling.queue_helpers import make_items


def _two_items_in_opposite_set_orders(ids):
    """Two of ``ids`` that a set of the two and a set of all ``ids`` hold in opposite orders (each set
    built from ids in ascending order, as the request's query answers them)."""
    everything = list(set(ids))
    for n, first in enumerate(ids):
        for second in ids[n + 1 :]:
            pair = list({first, second})
            in_everything = [i for i in everything if i in (first, second)]
            if pair != in_everything:
                return pair
    return None


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_selections_tagged_at_once_are_both_tagged(caplog, api, project, reviewer):
    skip_unless_postgresql()
    items = make_items(project, 40)
    ids = [item.pk for item in items]
    pair = _two_items_in_opposite_set_orders(ids)
    assert pair is not None
    Tag.objects.create(project=project, name="blurry")
    selections = {"small": pair, "large": ids}
    both_ready, statuses = threading.Barrier(2), {}

    def tag(name):
        both_ready.wait(timeout=10)
        response = api(reviewer).post(
            f"/api/projects/{project.pk}/selection/",
            {"items": selections[name], "action": "tag", "tag": "blurry"},
            format="json",
        )
        statuses[name] = (response.status_code, response.json())

    # a link of either item takes half a second: the two requests meet
    with slow_inserts(Item.tags.through._meta.db_table, when=f"NEW.item_id IN ({pair[0]}, {pair[1]})"):
        still_running = run_together([in_a_thread(tag, name) for name in selections])
    assert not still_running
    assert statuses["small"][0] == 200 and statuses["large"] == (200, {"tag": "blurry", "n_items": 40})
    assert "chosen as a deadlock victim" not in caplog.text  # they waited for each other's links in turn
    assert Item.tags.through.objects.filter(tag__name="blurry").count() == 40
