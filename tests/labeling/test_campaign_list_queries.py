"""The relabel campaigns list (page and API) reads every campaign's figures in a number of queries that
does not grow with the campaigns: it measured each campaign on its own (several queries per campaign,
two more for the items another campaign took over), hundreds of queries for a project with 50 campaigns.
The figures stay those of each campaign's own page."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Campaign, Item
from labeling.services.campaigns import campaign_create, campaign_finish, campaign_progress, campaigns_progress
from labeling.services.projects import member_add
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db

LISTED = ("n_items", "n_done", "n_handed_over", "n_pending", "metric", "before", "after")


def _campaigns(project, items, people, first, last):
    """Campaigns ``first`` .. ``last - 1``: campaign ``i`` takes items ``i`` and ``i + 1`` (so it takes item
    ``i`` over from campaign ``i - 1``), and its labelers answer item ``i`` (agreeing on even campaigns);
    every third one is finished."""
    alice, bob = people
    for i in range(first, last):
        campaign = campaign_create(
            project=project, name=f"round {i}", item_ids=[items[i].pk, items[i + 1].pk], overlap=2
        )
        item = Item.objects.get(pk=items[i].pk)
        answer(item, alice, "cat")
        answer(item, bob, "cat" if i % 2 == 0 else "dog")
        if i % 3 == 2:
            campaign_finish(campaign=campaign)


@pytest.fixture
def crowded(manager, reviewer):
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    people = labelers(project, 2)
    items = add_texts(project, [f"photo {i}" for i in range(14)])
    for i, item in enumerate(items):
        answer(item, people[0], "cat")
        answer(item, people[1], "dog" if i % 3 else "cat")
    return project, items, people


def _count(fetch):
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200, response.content
    return len(queries)


def test_the_campaigns_page_and_api_issue_as_many_queries_for_12_campaigns_as_for_3(client, api, reviewer, crowded):
    project, items, people = crowded
    client.force_login(reviewer)
    token_client = api(reviewer)
    page = f"/projects/{project.pk}/campaigns/"
    listing = f"/api/projects/{project.pk}/campaigns/"
    _campaigns(project, items, people, 0, 3)
    client.get(page), token_client.get(listing)  # warm the per-process caches
    few = (_count(lambda: client.get(page)), _count(lambda: token_client.get(listing)))
    _campaigns(project, items, people, 3, 12)
    assert Campaign.objects.filter(project=project).count() == 12
    many = (_count(lambda: client.get(page)), _count(lambda: token_client.get(listing)))
    assert many == few
    assert [c["n_items"] for c in token_client.get(listing).json()["results"]] == [2] * 12


def test_the_listed_figures_are_each_campaigns_own(crowded):
    """Done, pending, handed over, agreement before and after: as each campaign's own page counts them."""
    project, items, people = crowded
    _campaigns(project, items, people, 0, 12)
    campaigns = list(Campaign.objects.filter(project=project))
    listed = campaigns_progress(project=project, campaigns=campaigns)
    assert set(listed) == {c.pk for c in campaigns}
    handed = 0
    for campaign in campaigns:
        own = campaign_progress(campaign=campaign)
        assert listed[campaign.pk] == {key: own[key] for key in LISTED}, campaign.name
        handed += own["n_handed_over"]
    assert handed == 11 and sum(p["n_pending"] for p in listed.values()) == 1


def test_a_campaign_row_shows_its_done_pending_and_handed_over_items(client, api, reviewer, crowded):
    """ "Pets" holds four items: two answered twice (done), one answered once (pending), one a later campaign
    took before its round answered it (handed over). Its archived answers disagreed, its round agrees."""
    project, items, (alice, bob) = crowded
    ids = [item.pk for item in items[:4]]
    for pk in ids:
        answer(Item.objects.get(pk=pk), bob, "dog")
    pets = campaign_create(project=project, name="Pets", item_ids=ids, overlap=2)
    for pk in ids[:2]:
        answer(Item.objects.get(pk=pk), alice, "cat")
        answer(Item.objects.get(pk=pk), bob, "cat")
    answer(Item.objects.get(pk=ids[2]), alice, "cat")
    campaign_create(project=project, name="Dogs again", item_ids=ids[3:], overlap=2)
    progress = campaign_progress(campaign=pets)
    assert (progress["n_done"], progress["n_pending"], progress["n_handed_over"]) == (2, 1, 1)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/").content.decode()
    row = re.search(r"<tr><td><a [^>]*>Pets</a>.*?</tr>", page, re.S).group(0)
    cells = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[2:] == ["4", "2 (1 handed over)", "0 % → 100 %"]


def test_a_detection_projects_listed_box_f1_is_each_campaigns_own(api, manager, reviewer):
    """The same in shapes: box F1 before and after, with an item a later campaign took over."""
    from tests.conftest import detection_project
    from tests.labeling.queue_helpers import make_items
    from tests.labeling.test_shape_campaigns import HALVES, IGUANA, IGUANA_NUDGED, boxes

    project = detection_project(manager, reviewer, ["iguana", "rock"])
    items = make_items(project, 3, stats={"width": 200, "height": 100})
    a, c = labelers(project, 2)
    for item in items:
        answer(item, a, boxes(IGUANA))
        answer(item, c, boxes(*HALVES))
    whole = campaign_create(project=project, name="Whole iguanas", item_ids=[i.pk for i in items], overlap=2)
    for item in items[:2]:
        answer(Item.objects.get(pk=item.pk), a, boxes(IGUANA))
        answer(Item.objects.get(pk=item.pk), c, boxes(IGUANA_NUDGED))
    campaign_create(project=project, name="Halves", item_ids=[items[1].pk], overlap=2)
    answer(Item.objects.get(pk=items[1].pk), a, boxes(IGUANA))
    answer(Item.objects.get(pk=items[1].pk), c, boxes(*HALVES))
    campaigns = list(Campaign.objects.filter(project=project))
    listed = campaigns_progress(project=project, campaigns=campaigns)
    for campaign in campaigns:
        own = campaign_progress(campaign=campaign)
        assert listed[campaign.pk] == {key: own[key] for key in LISTED}, campaign.name
    assert listed[whole.pk]["after"]["agreement"] == 1.0 and listed[whole.pk]["n_handed_over"] == 1
    assert listed[whole.pk]["metric"] == "box F1"
