"""A campaign that takes items another active campaign holds takes them over: the earlier campaign's page
and API keep describing its own round (its answers on those items as they stood when they were taken,
which the later campaign archived), say how many items were taken and by which campaign, and count them
as handed over, not as pending or done by the later round; nothing either round answered is lost."""

import pytest

from labeling.models import Annotation, ArchivedAnnotation, Item
from labeling.services.campaigns import campaign_send_back
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_round(manager, reviewer):
    """Four texts answered cat/dog by two labelers; the campaign "Pets" (all four, overlap 2) has both
    labelers answer "cat" on every item: agreement 0 % before, 100 % after."""
    from labeling.services.projects import member_add

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    alice, bob = labelers(project, 2)
    items = add_texts(project, [f"photo {i}" for i in range(4)])
    for item in items:
        answer(item, alice, "cat")
        answer(item, bob, "dog")
    return project, [item.pk for item in items], (alice, bob)


def _answer_all(ids, users, value):
    for pk in ids:
        for user in users:
            answer(Item.objects.get(pk=pk), user, value)


def _progress(client, project, campaign_id):
    response = client.get(f"/api/projects/{project.pk}/campaigns/{campaign_id}/")
    assert response.status_code == 200, response.content
    return response.json()["progress"]


def test_a_campaign_whose_items_a_later_one_took_keeps_describing_its_own_round(api, reviewer, first_round):
    project, ids, labelers_ = first_round
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = client.post(url, {"name": "Pets", "items": ids, "overlap": 2}, format="json").json()
    _answer_all(ids, labelers_, "cat")
    own_round = _progress(client, project, pets["id"])
    assert own_round["n_done"] == 4 and own_round["after"]["agreement"] == 1.0
    assert own_round["after"]["n_answers"] == 8 and own_round["versus_archived"]["n_pairs"] == 16

    # A later campaign takes two of its items while it is still active; its round answers "dog" and "other".
    dogs = client.post(url, {"name": "Dogs again", "items": ids[2:], "overlap": 2}, format="json")
    assert dogs.status_code == 201, dogs.content
    dogs = dogs.json()
    taken = _progress(client, project, pets["id"])
    alice, bob = labelers_
    for pk in ids[2:]:
        answer(Item.objects.get(pk=pk), alice, "dog")
        answer(Item.objects.get(pk=pk), bob, "other")
    after_second_round = _progress(client, project, pets["id"])

    # The earlier campaign's figures are those of its own round, before and after the later round answered.
    for progress in (taken, after_second_round):
        assert progress["after"] == own_round["after"]
        assert progress["before"] == own_round["before"]
        assert progress["versus_archived"] == own_round["versus_archived"]
        assert progress["n_items"] == 4
        assert (progress["n_done"], progress["n_handed_over"], progress["n_pending"]) == (2, 2, 0)
        assert progress["handed_over"] == [{"id": dogs["id"], "name": "Dogs again", "status": "active", "n_items": 2}]
    # The later campaign's "before" on those items is the earlier campaign's round; it names what it took.
    later = _progress(client, project, dogs["id"])
    assert later["before"]["agreement"] == 1.0 and later["before"]["n_answers"] == 4
    assert later["after"]["agreement"] == 0.0 and later["n_done"] == 2
    assert later["took_over"] == [{"id": pets["id"], "name": "Pets", "n_items": 2}]
    assert later["n_handed_over"] == 0 and later["handed_over"] == []

    # Nothing is lost: the first answers in the first campaign's archive, its round in the second's.
    first_archive = ArchivedAnnotation.objects.filter(campaign_id=pets["id"])
    assert sorted(first_archive.values_list("value", flat=True)) == ["cat"] * 4 + ["dog"] * 4
    second_archive = ArchivedAnnotation.objects.filter(campaign_id=dogs["id"], item_id__in=ids[2:])
    assert sorted(second_archive.values_list("value", flat=True)) == ["cat"] * 4
    assert sorted(Annotation.objects.filter(item_id__in=ids[2:]).values_list("value", flat=True)) == [
        "dog",
        "dog",
        "other",
        "other",
    ]

    # Finishing it still works, and leaves the items the later campaign holds in front of the queue.
    finished = client.post(f"{url}{pets['id']}/finish/")
    assert finished.status_code == 200, finished.content
    assert finished.json()["status"] == "finished"
    assert finished.json()["progress"]["after"] == own_round["after"]
    assert finished.json()["progress"]["n_handed_over"] == 2
    assert all(Item.objects.get(pk=pk).priority > 0 for pk in ids[2:])
    assert all(Item.objects.get(pk=pk).priority == 0 for pk in ids[:2])


def test_an_item_taken_before_its_round_was_answered_is_handed_over_not_pending(api, reviewer, first_round):
    """The later campaign took an item the earlier one's labelers had not reached: the earlier campaign
    counts it handed over (its round gave it no answer), not pending nor done by the later round."""
    project, ids, labelers_ = first_round
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = client.post(url, {"name": "Pets", "items": ids, "overlap": 2}, format="json").json()
    _answer_all(ids[:3], labelers_, "cat")
    before_takeover = _progress(client, project, pets["id"])
    assert (before_takeover["n_done"], before_takeover["n_pending"]) == (3, 1)
    last = client.post(url, {"name": "Last one", "items": ids[3:], "overlap": 2}, format="json").json()
    _answer_all(ids[3:], labelers_, "dog")
    progress = _progress(client, project, pets["id"])
    assert (progress["n_done"], progress["n_handed_over"], progress["n_pending"]) == (3, 1, 0)
    assert progress["after"] == before_takeover["after"]
    assert progress["handed_over"][0]["id"] == last["id"]


def test_an_item_reviewers_send_back_from_an_active_campaign_is_handed_over(api, reviewer, first_round):
    """The reviewers' standing campaign takes one item of an active campaign; its round on the item stays
    the campaign's, and the standing campaign is named."""
    project, ids, labelers_ = first_round
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = client.post(url, {"name": "Pets", "items": ids, "overlap": 2}, format="json").json()
    _answer_all(ids, labelers_, "cat")
    own_round = _progress(client, project, pets["id"])
    standing = campaign_send_back(project=project, item=Item.objects.get(pk=ids[0]), user=reviewer)
    _answer_all(ids[:1], labelers_, "other")
    progress = _progress(client, project, pets["id"])
    assert progress["after"] == own_round["after"]
    assert progress["versus_archived"] == own_round["versus_archived"]
    assert progress["handed_over"] == [
        {"id": standing.pk, "name": "Sent back by reviewers", "status": "active", "n_items": 1}
    ]
    assert (progress["n_done"], progress["n_handed_over"]) == (3, 1)


def test_an_item_sent_back_again_after_a_later_campaign_took_it_returns_to_the_standing_campaign(
    api, reviewer, first_round
):
    """Reviewers sent an item back; a campaign took it over; reviewers sent it back again. The standing
    campaign holds it once more (its round now), while the campaign in between keeps its own round of it:
    the answers given under it, not the answers of the reviewers' first send-back."""
    project, ids, labelers_ = first_round
    client = api(reviewer)
    alice, bob = labelers_
    item = Item.objects.get(pk=ids[0])
    standing = campaign_send_back(project=project, item=item, user=reviewer)
    answer(item, alice, "other")  # the standing campaign's first round: alice only
    middle = client.post(
        f"/api/projects/{project.pk}/campaigns/", {"name": "Middle", "items": ids[:1], "overlap": 1}, format="json"
    ).json()
    answer(item, bob, "cat")  # the middle campaign's round: bob only
    middle_round = _progress(client, project, middle["id"])
    assert middle_round["after"]["n_answers"] == 1
    campaign_send_back(project=project, item=item, user=reviewer)
    answer(item, alice, "dog")
    answer(item, bob, "dog")
    middle_now = _progress(client, project, middle["id"])
    assert middle_now["after"] == middle_round["after"]  # bob's "cat", not alice's "other" of the first round
    assert middle_now["versus_archived"] == middle_round["versus_archived"]
    assert middle_now["handed_over"][0]["id"] == standing.pk
    standing_now = _progress(client, project, standing.pk)
    assert standing_now["n_handed_over"] == 0 and standing_now["n_pending"] == 1  # overlap 3: two answers of 3
    assert standing_now["after"]["agreement"] == 1.0


def test_the_campaign_page_names_the_campaign_that_took_its_items(api, client, reviewer, first_round):
    project, ids, labelers_ = first_round
    api_client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = api_client.post(url, {"name": "Pets", "items": ids, "overlap": 2}, format="json").json()
    _answer_all(ids, labelers_, "cat")
    dogs = api_client.post(url, {"name": "Dogs again", "items": ids[2:], "overlap": 2}, format="json").json()
    _answer_all(ids[2:], labelers_, "dog")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/{pets['id']}/").content.decode()
    assert f'href="/projects/{project.pk}/campaigns/{dogs["id"]}/"' in page
    assert "2 items taken over by" in page and "Dogs again" in page
    assert 'data-metric="done">2 / 4<' in page and 'data-metric="handed-over">2<' in page
    later = client.get(f"/projects/{project.pk}/campaigns/{dogs['id']}/").content.decode()
    assert f'href="/projects/{project.pk}/campaigns/{pets["id"]}/"' in later and "2 items taken over from" in later
    listing = client.get(f"/projects/{project.pk}/campaigns/").content.decode()
    assert "2 handed over" in listing


def test_a_detection_campaign_keeps_its_rounds_box_f1_on_the_items_taken_over(api, manager, reviewer):
    """The same in shapes: the earlier campaign's box F1 after, and its new boxes against the archived ones,
    stay those of its round when a later campaign takes an item and its labelers draw it otherwise."""
    from tests.conftest import detection_project
    from tests.labeling.queue_helpers import make_items
    from tests.labeling.test_shape_campaigns import HALVES, IGUANA, IGUANA_NUDGED, boxes

    project = detection_project(manager, reviewer, ["iguana", "rock"])
    items = make_items(project, 2, stats={"width": 200, "height": 100})
    a, c = labelers(project, 2)
    for item in items:
        answer(item, a, boxes(IGUANA))
        answer(item, c, boxes(*HALVES))
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    whole = client.post(url, {"name": "Whole iguanas", "items": [i.pk for i in items], "overlap": 2}, format="json")
    whole = whole.json()
    for item in items:
        answer(Item.objects.get(pk=item.pk), a, boxes(IGUANA))
        answer(Item.objects.get(pk=item.pk), c, boxes(IGUANA_NUDGED))
    own_round = _progress(client, project, whole["id"])
    assert own_round["after"]["agreement"] == 1.0 and own_round["after"]["n_answers"] == 4
    halves = client.post(url, {"name": "Halves", "items": [items[1].pk], "overlap": 2}, format="json").json()
    answer(Item.objects.get(pk=items[1].pk), a, boxes(IGUANA))
    answer(Item.objects.get(pk=items[1].pk), c, boxes(*HALVES))
    progress = _progress(client, project, whole["id"])
    assert progress["after"] == own_round["after"]
    assert progress["versus_archived"] == own_round["versus_archived"]
    assert (progress["n_done"], progress["n_handed_over"], progress["handed_over"][0]["id"]) == (1, 1, halves["id"])
    later = _progress(client, project, halves["id"])
    assert later["before"]["agreement"] == 1.0 and later["after"]["agreement"] == 0.0


@pytest.mark.django_db(transaction=True)  # migrates back and forth
def test_the_migration_records_the_takeovers_made_before_it_from_the_order_items_joined(manager, reviewer):
    """Takeovers made before handovers were recorded: an item a later campaign took from an earlier one (a
    campaign's, a reviewer's send-back), active or finished, is handed over."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from labeling.models import Campaign, CampaignHandover
    from labeling.services.campaigns import campaign_create, campaign_finish
    from tests.conftest import make_project
    from tests.labeling.queue_helpers import make_items

    project = make_project(manager)
    items = [item.pk for item in make_items(project, 5)]
    pets = campaign_create(project=project, name="Pets", item_ids=items[:3], overlap=2)
    old = campaign_create(project=project, name="Old", item_ids=items[3:], overlap=2)
    campaign_finish(campaign=old)
    dogs = campaign_create(project=project, name="Dogs", item_ids=items[2:4], overlap=2)
    standing = campaign_send_back(project=project, item=Item.objects.get(pk=items[1]), user=reviewer)
    recorded = set(CampaignHandover.objects.values_list("campaign_id", "item_id", "taken_by_id"))
    assert recorded == {(pets.pk, items[2], dogs.pk), (old.pk, items[3], dogs.pk), (pets.pk, items[1], standing.pk)}

    executor = MigrationExecutor(connection)
    executor.migrate([("labeling", "0021_archived_skips")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("labeling", "0022_campaign_handover")])
    rebuilt = set(CampaignHandover.objects.values_list("campaign_id", "item_id", "taken_by_id"))
    assert rebuilt == recorded
    assert set(CampaignHandover.objects.values_list("archived_after", "archived_through")) == {(None, None)}
    assert Campaign.objects.count() == 4


def test_finishing_the_later_campaign_does_not_keep_an_item_for_the_campaign_that_handed_it_over(
    api, reviewer, first_round
):
    """The later campaign finished while the earlier one runs on: the items it took leave the front of the
    queue, as the earlier campaign handed them over and counts no answer given on them now. They stayed
    there under the earlier campaign's overlap, asking labelers for answers no campaign counted."""
    from labeling.services.queue import queue_next
    from tests.labeling.version_helpers import labelers as more_labelers

    project, ids, labelers_ = first_round
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = client.post(url, {"name": "Pets", "items": ids[:2], "overlap": 5}, format="json").json()
    one = client.post(url, {"name": "One more", "items": ids[1:2], "overlap": 1}, format="json").json()
    answer(Item.objects.get(pk=ids[1]), labelers_[0], "dog")
    assert client.post(f"{url}{one['id']}/finish/").status_code == 200
    taken = Item.objects.get(pk=ids[1])
    assert (taken.priority, taken.overlap) == (0, None)
    kept = Item.objects.get(pk=ids[0])
    assert kept.priority > 0 and kept.overlap == 5  # still the earlier campaign's
    (carol,) = more_labelers(project, 1, prefix="carol")
    assert queue_next(project=project, labeler=carol).item.pk == ids[0]
    assert _progress(client, project, pets["id"])["n_handed_over"] == 1


def test_a_finished_campaign_whose_items_a_later_one_took_keeps_its_figures(api, reviewer, first_round):
    """A campaign finished, and a later one (or a reviewer's send-back) took some of its items: its page
    read the current answers, so its "after" became the later round's. It keeps its own round and names the
    campaign that took them."""
    project, ids, labelers_ = first_round
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    pets = client.post(url, {"name": "Pets", "items": ids, "overlap": 2}, format="json").json()
    _answer_all(ids, labelers_, "cat")
    assert client.post(f"{url}{pets['id']}/finish/").status_code == 200
    finished = _progress(client, project, pets["id"])
    assert finished["after"]["agreement"] == 1.0

    later = client.post(url, {"name": "Dogs again", "items": ids[:2], "overlap": 2}, format="json").json()
    alice, bob = labelers_
    for pk in ids[:2]:
        answer(Item.objects.get(pk=pk), alice, "dog")
        answer(Item.objects.get(pk=pk), bob, "other")
    campaign_send_back(project=project, item=Item.objects.get(pk=ids[3]), user=reviewer)
    answer(Item.objects.get(pk=ids[3]), alice, "dog")
    answer(Item.objects.get(pk=ids[3]), bob, "other")

    now = _progress(client, project, pets["id"])
    assert now["after"] == finished["after"] and now["versus_archived"] == finished["versus_archived"]
    assert now["n_handed_over"] == 3 and now["n_done"] == 1
    assert [c["id"] for c in now["handed_over"]][0] == later["id"] and len(now["handed_over"]) == 2
    assert _progress(client, project, later["id"])["before"]["agreement"] == 1.0


def test_an_item_sent_back_again_counts_its_newest_archived_answers_not_the_later_campaigns(api, reviewer, first_round):
    """The reviewers' standing campaign (made by an earlier send-back, so its id is lower) takes an item back
    after a later campaign relabeled it: the answers it archives are the newest, and agreement counts them.
    The campaign with the highest id won, so the later campaign's older archive (the first answers) counted."""
    from labeling.selectors import archived_still_counting

    project, ids, (alice, bob) = first_round  # alice "cat", bob "dog" on every item
    standing = campaign_send_back(project=project, item=Item.objects.get(pk=ids[0]), user=reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    later = api(reviewer).post(url, {"name": "Again", "items": [ids[1]], "overlap": 2}, format="json").json()
    assert later["id"] > standing.pk
    answer(Item.objects.get(pk=ids[1]), alice, "dog")
    answer(Item.objects.get(pk=ids[1]), bob, "dog")  # the later round agrees
    campaign_send_back(project=project, item=Item.objects.get(pk=ids[1]), user=reviewer)  # and back again

    counting = archived_still_counting(ArchivedAnnotation.objects.filter(item_id=ids[1]), ("value",))
    assert counting == {(ids[1], alice.pk): (standing.pk, "dog"), (ids[1], bob.pk): (standing.pk, "dog")}
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    # items 0 and 1 hold archived answers alone: 0 disagrees (cat / dog), 1 agrees (dog / dog); 2 and 3 disagree
    assert report["percent_agreement"]["value"] == 0.25


def test_the_item_review_page_says_whose_round_the_later_campaigns_archive_holds(client, api, reviewer, first_round):
    """The answers a later campaign archived on an item it took over are the earlier campaign's round: the
    review page named only the campaign that archived them."""
    project, ids, labelers_ = first_round
    url = f"/api/projects/{project.pk}/campaigns/"
    api(reviewer).post(url, {"name": "Pets", "items": ids[:1], "overlap": 2}, format="json")
    _answer_all(ids[:1], labelers_, "cat")
    api(reviewer).post(url, {"name": "Dogs again", "items": ids[:1], "overlap": 2}, format="json")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{ids[0]}/").content.decode()
    rows = page.split('id="archived-answers"')[1].split("</table>")[0].split("<tr data-campaign=")[1:]
    taken = [row for row in rows if "Dogs again" in row]
    first = [row for row in rows if "Dogs again" not in row]
    assert len(taken) == 2 and all("Pets's round, taken over" in row for row in taken)
    assert len(first) == 2 and not any("taken over" in row for row in first)  # the first answers, archived by Pets
