"""Items labelers skipped, found in bulk: the item list's ``n_skips`` and ``skipped`` filter, the item
browser's "Skipped" filter with each item's reasons, and a relabel campaign's ``skipped`` filter. A skip
is current until a relabel campaign (or a reviewer's send-back) archives it; archived skips are history,
never counted. The filters are SQL (Exists): run this file on PostgreSQL and on SQLite."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import ArchivedSkip, Campaign, Skip
from labeling.services.campaigns import campaign_create
from labeling.services.queue import item_skip
from tests.labeling.queue_helpers import make_items


@pytest.fixture
def skipped(project, labeler, labeler2):
    """Three items of ``project``: ``dark`` skipped by both labelers, ``cut`` by one, ``plain`` by none."""
    dark, cut, plain = make_items(project, 3)
    item_skip(item=dark, labeler=labeler, reason="image too dark")
    item_skip(item=dark, labeler=labeler2, reason="not sure which class")
    item_skip(item=cut, labeler=labeler, reason="half of it is cut off")
    return dark, cut, plain


def listed(api, user, project, **params):
    response = api(user).get(f"/api/projects/{project.pk}/items/", params)
    assert response.status_code == 200, response.content[:300]
    return {row["id"]: row["n_skips"] for row in response.json()["results"]}


# --- the item list API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "reviewer"])
def test_reviewers_and_managers_see_how_many_labelers_skipped_each_item(request, api, project, skipped, role):
    dark, cut, plain = skipped
    user = request.getfixturevalue(role)
    assert listed(api, user, project) == {dark.pk: 2, cut.pk: 1, plain.pk: 0}


@pytest.mark.parametrize("value", ["true", "yes", "1", "True"])
def test_skipped_true_lists_the_items_someone_skipped(api, reviewer, project, skipped, value):
    dark, cut, _ = skipped
    assert listed(api, reviewer, project, skipped=value) == {dark.pk: 2, cut.pk: 1}


@pytest.mark.parametrize("value", ["false", "no", "0"])
def test_skipped_false_lists_the_items_nobody_skipped(api, reviewer, project, skipped, value):
    *_, plain = skipped
    assert listed(api, reviewer, project, skipped=value) == {plain.pk: 0}


def test_the_skipped_filter_narrows_the_other_filters(api, reviewer, project, skipped):
    dark, cut, plain = skipped
    project.tags.create(name="night").items.add(cut, plain)
    assert listed(api, reviewer, project, skipped="true", tag="night") == {cut.pk: 1}
    assert listed(api, reviewer, project, skipped="false", tag="night") == {plain.pk: 0}


def test_a_skipped_value_that_is_no_yes_or_no_is_refused_naming_it(api, reviewer, project, skipped):
    response = api(reviewer).get(f"/api/projects/{project.pk}/items/", {"skipped": "perhaps"})
    assert response.status_code == 400
    assert response.json()["skipped"] == ["'perhaps' is not true or false"]


def test_skips_a_campaign_archived_are_no_longer_counted_nor_filtered(api, reviewer, project, skipped, labeler2):
    """The guideline was fixed and a campaign sent the dark image back: its skips are history (the review
    page keeps them); a skip made during the campaign counts."""
    dark, cut, plain = skipped
    campaign_create(project=project, name="Brightened images", item_ids=[dark.pk], overlap=2)
    assert ArchivedSkip.objects.filter(item=dark).count() == 2
    assert listed(api, reviewer, project) == {dark.pk: 0, cut.pk: 1, plain.pk: 0}
    assert listed(api, reviewer, project, skipped="true") == {cut.pk: 1}
    assert listed(api, reviewer, project, skipped="false") == {dark.pk: 0, plain.pk: 0}

    item_skip(item=dark, labeler=labeler2, reason="still too dark")
    assert listed(api, reviewer, project, skipped="true") == {dark.pk: 1, cut.pk: 1}


def test_labelers_get_403_and_outsiders_404_whatever_the_skipped_filter(api, project, skipped, labeler, outsider):
    for params in ({}, {"skipped": "true"}, {"skipped": "perhaps"}):
        assert api(labeler).get(f"/api/projects/{project.pk}/items/", params).status_code == 403
        assert api(outsider).get(f"/api/projects/{project.pk}/items/", params).status_code == 404


def test_another_projects_items_and_skips_are_never_counted(api, reviewer, project, skipped, other_project, labeler):
    dark, cut, plain = skipped
    (theirs,) = make_items(other_project, 1, start=50)
    item_skip(item=theirs, labeler=labeler, reason="not even my project")
    assert listed(api, reviewer, project) == {dark.pk: 2, cut.pk: 1, plain.pk: 0}
    assert listed(api, reviewer, project, skipped="true") == {dark.pk: 2, cut.pk: 1}


def test_the_item_list_reads_skips_in_a_fixed_number_of_queries(api, reviewer, project, labeler, labeler2):
    few = make_items(project, 2)
    for item in few:
        item_skip(item=item, labeler=labeler, reason="blurry")
    client = api(reviewer)
    client.get(f"/api/projects/{project.pk}/items/")  # a token's first use records it: not the list's
    with CaptureQueriesContext(connection) as small:
        assert client.get(f"/api/projects/{project.pk}/items/", {"skipped": "true"}).status_code == 200
    many = make_items(project, 30, start=10)
    for item in many:
        item_skip(item=item, labeler=labeler, reason="blurry")
        item_skip(item=item, labeler=labeler2, reason="which class?")
    with CaptureQueriesContext(connection) as large:
        response = client.get(f"/api/projects/{project.pk}/items/", {"skipped": "true"})
    assert response.json()["count"] == 32
    assert len(large.captured_queries) == len(small.captured_queries)
    with CaptureQueriesContext(connection) as unfiltered:
        client.get(f"/api/projects/{project.pk}/items/")
    assert len(unfiltered.captured_queries) == len(small.captured_queries)


def test_the_item_detail_counts_current_skips_too_and_labelers_never_see_them(api, project, skipped, reviewer, labeler):
    dark, *_ = skipped
    assert api(reviewer).get(f"/api/items/{dark.pk}/").json()["n_skips"] == 2
    assert "n_skips" not in api(labeler).get(f"/api/items/{dark.pk}/").json()


# --- relabel campaigns ------------------------------------------------------------------------------------


def test_a_campaign_filtered_on_skipped_sends_back_exactly_the_skipped_items(api, reviewer, project, skipped, labeler):
    """After fixing the guideline, the manager sends back the items labelers passed on, and only those;
    their skips are archived so the labelers who skipped them are offered them again."""
    dark, cut, plain = skipped
    old, _ = make_items(project, 2, start=20)
    item_skip(item=old, labeler=labeler, reason="before the first campaign")  # archived by that campaign
    campaign_create(project=project, name="First round", item_ids=[old.pk], overlap=2)

    body = {"name": "Guideline v2: skipped items", "filter": {"skipped": True}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")

    assert response.status_code == 201, response.content
    assert sorted(response.json()["items"]) == [dark.pk, cut.pk]
    campaign = Campaign.objects.get(pk=response.json()["id"])
    assert not Skip.objects.filter(item__in=[dark, cut]).exists()
    assert sorted(ArchivedSkip.objects.filter(campaign=campaign).values_list("reason", flat=True)) == [
        "half of it is cut off",
        "image too dark",
        "not sure which class",
    ]


@pytest.mark.parametrize(
    "value, chosen",
    [("true", ["dark", "cut"]), (False, ["plain"]), ("false", ["plain"])],
)
def test_a_campaigns_skipped_filter_reads_yes_or_no_and_narrows_the_others(
    api, reviewer, project, skipped, value, chosen
):
    dark, cut, plain = skipped
    names = {"dark": dark.pk, "cut": cut.pk, "plain": plain.pk}
    body = {"name": "x", "filter": {"items": [dark.pk, cut.pk, plain.pk], "skipped": value}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 201, response.content
    assert sorted(response.json()["items"]) == sorted(names[n] for n in chosen)


def test_a_campaigns_skipped_filter_that_is_no_yes_or_no_answers_400(api, reviewer, project, skipped):
    body = {"name": "x", "filter": {"skipped": "perhaps"}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 400 and "skipped" in response.json()["detail"]
    assert not project.campaigns.exists()


def test_deleting_all_matching_the_skipped_filter_takes_only_the_skipped_items(api, manager, project, skipped):
    """The item browser's "Select all N matching the filter" sends its filters to the deletion API."""
    dark, cut, _ = skipped
    body = {"filter": {"skipped": "true"}, "preview": True}
    response = api(manager).post(f"/api/projects/{project.pk}/items/delete/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["items"] == 2


# --- the item browser page --------------------------------------------------------------------------------


def cards(page):
    return page.count('class="item-card"')


def test_the_item_browser_filters_skipped_items_and_shows_who_skipped_them_and_why(client, reviewer, project, skipped):
    dark, cut, plain = skipped
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/items/", {"skipped": "true"}).content.decode()
    assert cards(page) == 2 and f'data-item="{plain.pk}"' not in page
    assert '<option value="true" selected>skipped</option>' in page
    card = page[page.index(f'data-item="{dark.pk}"') : page.index(f'data-item="{cut.pk}"')]
    assert "Skipped by 2" in card
    assert "image too dark" in card and "not sure which class" in card
    assert "labeler1" in card and "labeler2" in card

    page = client.get(f"/projects/{project.pk}/items/", {"skipped": "false"}).content.decode()
    assert cards(page) == 1 and f'data-item="{plain.pk}"' in page and "Skipped by" not in page


def test_the_item_browser_shows_no_archived_skip(client, reviewer, project, skipped):
    dark, cut, _ = skipped
    campaign_create(project=project, name="Brightened images", item_ids=[dark.pk], overlap=2)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/items/", {"skipped": "true"}).content.decode()
    assert cards(page) == 1 and f'data-item="{cut.pk}"' in page
    assert "image too dark" not in page


def test_the_item_browser_names_a_skipped_value_that_is_no_yes_or_no(client, reviewer, project, skipped):
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/items/", {"skipped": "perhaps"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "&#x27;perhaps&#x27; is not true or false; showing every item" in page
    assert cards(page) == 3


def test_the_item_browsers_skip_reasons_keep_its_query_count(client, reviewer, project, labeler, labeler2):
    for item in make_items(project, 2):
        item_skip(item=item, labeler=labeler, reason="blurry")
    client.force_login(reviewer)
    with CaptureQueriesContext(connection) as small:
        page = client.get(f"/projects/{project.pk}/items/", {"skipped": "true"}).content.decode()
    assert cards(page) == 2
    for item in make_items(project, 20, start=10):
        item_skip(item=item, labeler=labeler, reason="blurry")
        item_skip(item=item, labeler=labeler2, reason="which class?")
    with CaptureQueriesContext(connection) as large:
        page = client.get(f"/projects/{project.pk}/items/", {"skipped": "true"}).content.decode()
    assert cards(page) == 22 and page.count(" which class?</li>") == 20
    assert len(large.captured_queries) == len(small.captured_queries)


def test_all_matching_on_the_item_browser_sends_the_skipped_filter(client, manager, project, skipped):
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/items/", {"skipped": "true"}).content.decode()
    assert "Select all 2 matching the filter" in page
    assert 'data-filter="{&quot;skipped&quot;: &quot;true&quot;}"' in page


def test_the_campaigns_page_offers_the_skipped_filter(client, reviewer, project):
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/").content.decode()
    assert 'name="skipped"' in page
