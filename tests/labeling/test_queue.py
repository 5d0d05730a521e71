"""The labeling queue: order, the k-slot rule, reservations (hold, extension, expiry, release on skip)."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from labeling.models import Annotation, Item, Reservation, Skip
from labeling.services.annotations import annotation_save
from labeling.services.projects import project_update
from labeling.services.queue import (
    ItemFull,
    annotation_submit,
    annotation_submit_and_next,
    item_answer_counts_rebuild,
    item_skip,
    queue_next,
    reservation_release,
    reservation_seconds,
)
from tests.labeling.queue_helpers import answer_by_others, make_items, make_labelers

pytestmark = pytest.mark.django_db


def next_id(project, labeler, now=None):
    reservation = queue_next(project=project, labeler=labeler, now=now)
    return reservation.item.pk if reservation else None


def test_items_closest_to_completion_come_first(project, labeler):
    empty, two, one = make_items(project, 3)
    answer_by_others(project, two, 2)
    answer_by_others(project, one, 1)
    assert next_id(project, labeler) == two.pk
    annotation_submit(item=two, labeler=labeler, value="dog")
    assert next_id(project, labeler) == one.pk
    annotation_submit(item=one, labeler=labeler, value="dog")
    assert next_id(project, labeler) == empty.pk


def test_campaign_items_come_before_everything_else(project, labeler):
    nearly_done, campaign, urgent = make_items(project, 3)
    answer_by_others(project, nearly_done, 2)
    Item.objects.filter(pk=campaign.pk).update(priority=1)
    Item.objects.filter(pk=urgent.pk).update(priority=5)
    order = []
    for _ in range(3):
        item_id = next_id(project, labeler)
        order.append(item_id)
        annotation_submit(item=Item.objects.get(pk=item_id), labeler=labeler, value="cat")
    assert order == [urgent.pk, campaign.pk, nearly_done.pk]


def test_within_a_level_the_order_is_the_items_random_key_highest_first(project, labeler, labeler2):
    items = make_items(project, 5)
    keys = [40, 10, 50, 30, 20]
    for item, key in zip(items, keys, strict=True):
        Item.objects.filter(pk=item.pk).update(random_key=key)
    expected = [item.pk for _, item in sorted(zip(keys, items, strict=True), key=lambda pair: -pair[0])]
    for who in (labeler, labeler2):  # the same stable order for everyone
        seen = []
        while (item_id := next_id(project, who)) is not None and item_id not in seen:
            seen.append(item_id)
            item_skip(item=Item.objects.get(pk=item_id), labeler=who, reason="order test")
        assert seen == expected


def test_items_answered_or_skipped_by_me_never_come_back(project, labeler):
    answered, skipped, fresh = make_items(project, 3)
    annotation_submit(item=answered, labeler=labeler, value="cat")
    item_skip(item=skipped, labeler=labeler, reason="cannot see it")
    assert next_id(project, labeler) == fresh.pk
    annotation_submit(item=fresh, labeler=labeler, value="cat")
    assert queue_next(project=project, labeler=labeler) is None


def test_complete_items_are_not_handed_out(project, labeler):
    (item,) = make_items(project, 1)
    answer_by_others(project, item, project.overlap)
    assert queue_next(project=project, labeler=labeler) is None


def test_asking_again_gives_the_held_item_and_extends_the_hold(project, labeler):
    make_items(project, 3)
    now = timezone.now()
    first = queue_next(project=project, labeler=labeler, now=now)
    later = now + timedelta(seconds=reservation_seconds() - 5)
    again = queue_next(project=project, labeler=labeler, now=later)
    assert again.item.pk == first.item.pk
    assert Reservation.objects.get(labeler=labeler).expires == later + timedelta(seconds=reservation_seconds())
    assert Reservation.objects.filter(labeler=labeler).count() == 1


@override_settings(LABELHUB_RESERVATION_SECONDS=45)
def test_the_hold_lasts_as_long_as_labelhub_reservation_seconds_says(client, project, labeler, labeler2):
    """The hold was read once, when the queue module was first imported: a deployment's (or a test's)
    LABELHUB_RESERVATION_SECONDS never reached the queue nor the labeling page's countdown."""
    project_update(project=project, overlap=1)
    (item,) = make_items(project, 1)
    now = timezone.now()
    assert queue_next(project=project, labeler=labeler, now=now).expires == now + timedelta(seconds=45)
    assert queue_next(project=project, labeler=labeler2, now=now + timedelta(seconds=44)) is None
    assert next_id(project, labeler2, now=now + timedelta(seconds=46)) == item.pk
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    config = json.loads(re.search(r'<script id="lab-config" type="application/json">(.*?)</script>', page, re.S)[1])
    assert config["reservationSeconds"] == 45


def test_reservations_never_hand_out_more_than_k_slots(project, labeler, labeler2):
    project_update(project=project, overlap=2)
    (item,) = make_items(project, 1)
    (third,) = make_labelers(project, 1)
    assert next_id(project, labeler) == item.pk
    assert next_id(project, labeler2) == item.pk
    assert queue_next(project=project, labeler=third) is None  # 0 answers + 2 holds = k


def test_answers_and_holds_together_fill_the_k_slots(project, labeler, labeler2):
    (item,) = make_items(project, 1)
    answer_by_others(project, item, 2)  # k = 3: one slot left
    assert next_id(project, labeler) == item.pk
    assert queue_next(project=project, labeler=labeler2) is None


def test_an_expired_hold_frees_the_slot(project, labeler, labeler2):
    project_update(project=project, overlap=1)
    (item,) = make_items(project, 1)
    now = timezone.now()
    assert next_id(project, labeler, now=now) == item.pk
    assert queue_next(project=project, labeler=labeler2, now=now + timedelta(seconds=60)) is None
    after = now + timedelta(seconds=reservation_seconds() + 1)
    assert next_id(project, labeler2, now=after) == item.pk
    # The first labeler's hold is gone: asking again does not give the item back to them.
    assert queue_next(project=project, labeler=labeler, now=after) is None


def test_skip_releases_the_hold_to_the_others(project, labeler, labeler2):
    project_update(project=project, overlap=1)
    (item,) = make_items(project, 1)
    assert next_id(project, labeler) == item.pk
    assert queue_next(project=project, labeler=labeler2) is None
    skip = item_skip(item=item, labeler=labeler, reason="too blurry")
    assert skip.reason == "too blurry"
    assert Reservation.objects.get(labeler=labeler).item_id is None
    assert next_id(project, labeler2) == item.pk
    assert queue_next(project=project, labeler=labeler) is None


def test_answer_releases_the_hold_and_counts(project, labeler, labeler2):
    project_update(project=project, overlap=2)
    (item,) = make_items(project, 1)
    queue_next(project=project, labeler=labeler)
    annotation, created = annotation_submit(item=item, labeler=labeler, value="dog", seconds=3.5)
    assert created and annotation.value == "dog" and annotation.seconds == 3.5
    assert Reservation.objects.get(labeler=labeler).item_id is None
    item.refresh_from_db()
    assert item.n_answers == 1
    assert next_id(project, labeler2) == item.pk


def test_a_free_slot_can_be_answered_without_asking_the_queue(project, labeler):
    (item,) = make_items(project, 1)
    _, created = annotation_submit(item=item, labeler=labeler, value="cat")
    assert created


def test_an_item_with_k_answers_from_others_refuses_a_new_answer(project, labeler):
    (item,) = make_items(project, 1)
    answer_by_others(project, item, project.overlap)
    with pytest.raises(ItemFull):
        annotation_submit(item=item, labeler=labeler, value="cat")
    assert not Annotation.objects.filter(labeler=labeler).exists()
    item.refresh_from_db()
    assert item.n_answers == project.overlap


def test_the_reservation_holder_may_answer_even_when_others_filled_the_item(project, labeler):
    (item,) = make_items(project, 1)
    assert next_id(project, labeler) == item.pk
    # Others answer outside the queue meanwhile (the storage rule does not look at holds).
    answer_by_others(project, item, project.overlap)
    _, created = annotation_submit(item=item, labeler=labeler, value="dog")
    assert created
    item.refresh_from_db()
    assert item.n_answers == project.overlap + 1


def test_slots_reserved_by_others_refuse_a_non_holder(project, labeler, labeler2):
    project_update(project=project, overlap=1)
    (item,) = make_items(project, 1)
    queue_next(project=project, labeler=labeler2)
    with pytest.raises(ItemFull):
        annotation_submit(item=item, labeler=labeler, value="cat")


def test_revising_is_always_allowed_and_keeps_history(project, labeler):
    (item,) = make_items(project, 1)
    annotation_submit(item=item, labeler=labeler, value="cat")
    answer_by_others(project, item, project.overlap - 1)
    annotation, created = annotation_submit(item=item, labeler=labeler, value="dog", comment="second look")
    assert not created and annotation.revision == 2
    assert list(annotation.revisions.values_list("value", flat=True)) == ["cat"]
    item.refresh_from_db()
    assert item.n_answers == project.overlap


def test_skipping_an_answered_item_is_refused(project, labeler):
    (item,) = make_items(project, 1)
    annotation_submit(item=item, labeler=labeler, value="cat")
    with pytest.raises(Exception, match="change your answer"):
        item_skip(item=item, labeler=labeler, reason="changed my mind")
    assert not Skip.objects.exists()


def test_release_gives_the_held_item_back(project, labeler, labeler2):
    project_update(project=project, overlap=1)
    (item,) = make_items(project, 1)
    queue_next(project=project, labeler=labeler)
    assert reservation_release(project=project, labeler=labeler)
    assert next_id(project, labeler2) == item.pk


def test_raising_the_overlap_reopens_complete_items(project, labeler):
    (item,) = make_items(project, 1)
    answer_by_others(project, item, 3)
    assert queue_next(project=project, labeler=labeler) is None
    project_update(project=project, overlap=4)
    assert next_id(project, labeler) == item.pk


def test_answer_counter_follows_the_rows_and_can_be_rebuilt(project, labeler, labeler2):
    a, b = make_items(project, 2)
    annotation_save(item=a, labeler=labeler, value="cat")
    annotation_save(item=a, labeler=labeler, value="dog")  # a revision: not a new answer
    annotation_save(item=a, labeler=labeler2, value="dog")
    annotation_save(item=b, labeler=labeler, value="cat")
    assert dict(Item.objects.filter(project=project).values_list("pk", "n_answers")) == {a.pk: 2, b.pk: 1}
    Annotation.objects.filter(item=a, labeler=labeler2).delete()  # outside the services
    Item.objects.filter(pk=b.pk).update(n_answers=7)
    assert item_answer_counts_rebuild(project=project) == 2
    assert dict(Item.objects.filter(project=project).values_list("pk", "n_answers")) == {a.pk: 1, b.pk: 1}


def test_items_made_by_bulk_create_get_their_own_random_keys(project):
    Item.objects.bulk_create([Item(project=project, sha256=f"{i:064x}") for i in range(20)])
    keys = set(Item.objects.filter(project=project).values_list("random_key", flat=True))
    assert len(keys) > 15


def test_an_items_own_overlap_from_a_campaign_overrides_the_projects(project, labeler, labeler2):
    wider, narrower, plain = make_items(project, 3)
    answer_by_others(project, wider, 3)
    answer_by_others(project, narrower, 1)
    Item.objects.filter(pk=wider.pk).update(priority=1, overlap=4)
    Item.objects.filter(pk=narrower.pk).update(overlap=1)
    assert next_id(project, labeler) == wider.pk  # 3 answers but k = 4 for this item
    assert next_id(project, labeler2) == plain.pk  # wider's last slot is held; narrower is complete
    annotation_submit(item=wider, labeler=labeler, value="cat")
    with pytest.raises(ItemFull, match="already has its 1 answers"):
        annotation_submit(item=narrower, labeler=labeler2, value="cat")
    Item.objects.filter(pk__in=[wider.pk, narrower.pk]).update(priority=0, overlap=None)  # the campaign ends
    reservation_release(project=project, labeler=labeler2)  # the third labeler is alone: no spreading
    (third,) = make_labelers(project, 1)
    assert next_id(project, third) == narrower.pk  # back to k = 3: one answer, two slots open


def test_labelers_holding_items_at_once_are_spread_over_different_items(project, labeler):
    """Each labeler takes the r-th item the queue would give them, r = how many labelers with a smaller
    id hold an item now: with slots to spare (k = 3) they no longer gather on the same item, and
    together they still take the queue's first items, closest to completion first."""
    nearly, *fresh = make_items(project, 8)
    answer_by_others(project, nearly, 1)
    crowd = [labeler, *make_labelers(project, 4, prefix="spread")]
    held = [next_id(project, who) for who in crowd]
    assert len(set(held)) == len(crowd)
    by_key = [item.pk for item in sorted(fresh, key=lambda item: -item.random_key)]
    assert held == [nearly.pk, *by_key[: len(crowd) - 1]]
    # A labeler alone takes the first item again: the first holder lets go, then asks anew.
    reservation_release(project=project, labeler=labeler)
    assert next_id(project, labeler) == nearly.pk


def test_answering_with_next_takes_the_item_the_spread_order_gives(project, labeler):
    """An answer followed by the next item (the labeling page's step, the API's ?next=1) hands out the
    item the queue's order and the spreading give, the answered item left out: rank 0 takes the first
    eligible item, rank r the r-th (items others hold stay eligible while slots are left: k = 3)."""
    nearly, *fresh = make_items(project, 8)
    answer_by_others(project, nearly, 1)
    crowd = [labeler, *make_labelers(project, 4, prefix="spread")]
    held = [next_id(project, who) for who in crowd]
    by_key = [item.pk for item in sorted(fresh, key=lambda item: -item.random_key)]
    assert held == [nearly.pk, *by_key[:4]]
    items = {item.pk: item for item in Item.objects.filter(project=project).select_related("project")}
    rest = {"borderline": False, "borderline_with": "", "uncertain": False, "out_of_domain": False, "comment": ""}
    rest["seconds"] = None

    # Rank 3 (three labelers with smaller ids hold items): after the answer its list is nearly (1
    # answer), then by_key[0], by_key[1], by_key[3] (held by crowd[4], two slots still free), ...
    annotation, created, reservation = annotation_submit_and_next(
        item=items[held[3]], labeler=crowd[3], value="cat", **rest
    )
    assert created and annotation.item_id == held[3]
    assert reservation.item.pk == by_key[3]
    # Rank 0 takes the first eligible item after the one it answered: the one crowd[3] just answered
    # (1 answer now, the most of any item left).
    annotation, created, reservation = annotation_submit_and_next(
        item=items[nearly.pk], labeler=labeler, value="dog", **rest
    )
    assert created and reservation.item.pk == held[3]
    assert Reservation.objects.get(labeler=labeler).item_id == held[3]
    assert Reservation.objects.get(labeler=crowd[3]).item_id == by_key[3]
    assert dict(Item.objects.filter(pk__in=[nearly.pk, held[3]]).values_list("pk", "n_answers")) == {
        nearly.pk: 2,
        held[3]: 1,
    }


def _annotation_rows_read(plan):
    """The most rows any scan of the annotation table returned in one loop of an EXPLAIN ANALYZE plan."""
    most = 0
    if plan.get("Relation Name") == "labeling_annotation":
        most = plan["Actual Rows"]
    for child in plan.get("Plans", []):
        most = max(most, _annotation_rows_read(child))
    return most


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads a PostgreSQL query plan")
def test_the_next_item_query_does_not_read_the_labelers_whole_history(project, labeler):
    """A busy labeler's thousands of answers, newer than the statistics, must not be read on every call."""
    import json

    from django.db import transaction
    from django.utils import timezone

    from labeling.services.queue import queue_candidate_sql

    items = make_items(project, 2000)
    Annotation.objects.bulk_create(Annotation(item=item, labeler=labeler, value="cat") for item in items[:1999])
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = queue_candidate_sql(project=project, labeler=labeler, now=timezone.now())
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _annotation_rows_read(plan[0]["Plan"]) <= project.overlap
