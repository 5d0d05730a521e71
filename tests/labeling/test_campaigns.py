"""Relabel campaigns in the queue: finishing one leaves the items another active campaign holds alone."""

import pytest

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


@pytest.fixture
def night(manager, reviewer):
    """Four texts answered by two labelers: the first two disagree, the last two agree; the middle two
    are tagged "night"."""
    from labeling.services.projects import member_add
    from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    alice, bob = labelers(project, 2)
    items = add_texts(project, [f"photo {i}" for i in range(4)])
    for i, item in enumerate(items):
        answer(item, alice, "cat")
        answer(item, bob, "dog" if i < 2 else "cat")
    add_texts(project, [], tags=["night"])
    project.tags.get(name="night").items.add(items[1], items[2])
    return project, [item.pk for item in items]


@pytest.mark.parametrize(
    "selection, chosen",
    [
        # ids from the map or the review queue, narrowed by the filter (the filter was dropped)
        ({"items": [0, 1, 2], "filter": {"disagreement": True}}, [0, 1]),
        ({"filter": {"items": [0, 1, 2, 3], "tag": "night"}}, [1, 2]),
        ({"filter": {"items": [0, 2, 3], "disagreement": True}}, [0]),
        # the text "false" (a form's) restricted to the disagreeing items, as true does
        ({"filter": {"tag": "night", "disagreement": "false"}}, [1, 2]),
        ({"filter": {"tag": "night", "disagreement": "true"}}, [1]),
        # a class and a labeler: the items where this labeler gave the class (it took the items where
        # anyone gave it that the labeler answered: lab1's "cat" items were all four, lab0's cats)
        ({"filter": {"class": "cat", "labeler": "lab1"}}, [2, 3]),
        ({"filter": {"class": "dog", "labeler": "lab1"}}, [0, 1]),
    ],
)
def test_a_campaigns_ids_and_filter_fields_narrow_together(api, reviewer, night, selection, chosen):
    project, ids = night
    body = {"name": "narrowed", **selection}
    if "items" in body:
        body["items"] = [ids[i] for i in body["items"]]
    if "items" in body["filter"]:
        body["filter"] = {**body["filter"], "items": [ids[i] for i in body["filter"]["items"]]}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 201, response.content
    assert sorted(response.json()["items"]) == [ids[i] for i in chosen]


def test_a_campaign_filters_disagreement_that_is_no_yes_or_no_answers_400(api, reviewer, night):
    project, _ = night
    body = {"name": "x", "filter": {"tag": "night", "disagreement": "perhaps"}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 400 and "disagreement" in response.json()["detail"]
    assert not project.campaigns.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("labeler", "nobody", "'nobody' is not a member of this project"),
        ("tag", "nope", "'nope' is not a tag of this project"),
        ("class", "nope", "unknown class 'nope'"),
        ("source", "nope", "unknown source 'nope' (not a source of this project)"),
    ],
)
def test_a_campaign_filter_naming_an_unknown_labeler_or_tag_names_it(api, reviewer, night, field, value, message):
    # labeler=nobody (and tag=nope) said "the selection holds no items", where the agreement and review
    # filters name the labeler
    project, _ = night
    body = {"name": "x", "filter": {field: value}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert "holds no items" not in response.json()["detail"]
    assert not project.campaigns.exists()


def test_a_member_who_answered_nothing_still_makes_an_empty_selection(api, reviewer, night):
    project, _ = night
    body = {"name": "x", "filter": {"labeler": reviewer.username}}
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 400 and "the selection holds no items" in response.json()["detail"]


@pytest.mark.parametrize(
    "selection",
    [
        {"items": [0, 1]},
        # the first request archived the answers the filter reads: the retry's filter finds no item now
        {"filter": {"disagreement": True}},
    ],
)
def test_a_campaign_request_sent_again_answers_the_campaign_it_made(api, reviewer, night, selection):
    """A script that lost the 201 retries: the items were sent back once, not twice (a second campaign
    archived the answers labelers gave in between, and the list showed two identical campaigns)."""
    from labeling.models import ArchivedAnnotation

    project, ids = night
    body = {"name": "Disagreements", **selection}
    if "items" in body:
        body["items"] = [ids[i] for i in body["items"]]
    url = f"/api/projects/{project.pk}/campaigns/"
    first = api(reviewer).post(url, body, format="json")
    assert first.status_code == 201, first.content
    archived = ArchivedAnnotation.objects.count()
    again = api(reviewer).post(url, body, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"] and again.json()["items"] == first.json()["items"]
    assert project.campaigns.count() == 1 and ArchivedAnnotation.objects.count() == archived
    # Another name is another campaign, as is the same one once the first has finished.
    assert api(reviewer).post(url, {**body, "name": "Other"}, format="json").status_code in (201, 400)
    api(reviewer).post(f"{url}{first.json()['id']}/finish/")
    if "items" in body:
        assert api(reviewer).post(url, body, format="json").status_code == 201


def test_the_same_campaign_requested_by_another_reviewer_while_it_is_active_answers_it(api, reviewer, night):
    """A second SME asking for the campaign a first one started (same name, items, overlap and guideline)
    gets that campaign; a second one archived the answers labelers had given it meanwhile."""
    from labeling.models import ArchivedAnnotation
    from labeling.services.projects import member_add
    from tests.conftest import make_user

    project, ids = night
    second = make_user("sme2")
    member_add(project=project, username=second.username, role="reviewer")
    url = f"/api/projects/{project.pk}/campaigns/"
    body = {"name": "Disagreements", "items": ids[:2]}
    first = api(reviewer).post(url, body, format="json")
    assert first.status_code == 201, first.content
    archived = ArchivedAnnotation.objects.count()
    theirs = api(second).post(url, body, format="json")
    assert theirs.status_code == 200 and theirs.json()["id"] == first.json()["id"]
    assert project.campaigns.count() == 1 and ArchivedAnnotation.objects.count() == archived
    assert api(second).post(url, {**body, "overlap": 1}, format="json").status_code == 201  # another campaign


def test_another_campaign_started_while_one_chooses_its_items_is_named_and_this_one_refused(
    monkeypatch, api, reviewer, night
):
    """Two SMEs start two different campaigns over the same items at the same moment. The second chose its
    items and measured their agreement on the answers the first then archived: it was made all the same,
    holding the items a second time with an empty archive (nothing to compare its new answers with) and an
    "agreement before" of answers it never held. It is refused now, naming the campaign that took the items
    and changing nothing; sent again, it starts as any campaign started after the first does."""
    from labeling.models import Annotation, ArchivedAnnotation, Campaign
    from labeling.services import campaigns

    project, ids = night
    url = f"/api/projects/{project.pk}/campaigns/"
    real, answers = campaigns.campaign_items_for, {}

    def the_first_starts_while_this_one_chooses(**kwargs):
        chosen = real(**kwargs)
        if not answers:  # the first SME's campaign commits after the second chose its items
            answers["first"] = None
            answers["first"] = api(reviewer).post(url, {"name": "Cats again", "items": ids[:2]}, format="json")
        return chosen

    monkeypatch.setattr(campaigns, "campaign_items_for", the_first_starts_while_this_one_chooses)
    second = api(reviewer).post(url, {"name": "Night shots", "items": ids[1:3]}, format="json")
    monkeypatch.undo()
    assert answers["first"].status_code == 201, answers["first"].content
    first = Campaign.objects.get(pk=answers["first"].json()["id"])
    assert second.status_code == 409, second.content
    assert second.json()["detail"] == (
        f'Item {ids[1]} was sent back by the campaign "Cats again" (#{first.pk}) while this one was being '
        "started: what was answered on it is archived there. Nothing was started; start this campaign again "
        "to send it back once more, or leave it out."
    )
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Cats again"]
    # each answer archived once, by the campaign that took its item; the item the first did not take kept its
    assert ArchivedAnnotation.objects.filter(campaign=first).count() == 4
    assert Annotation.objects.filter(item_id=ids[2]).count() == 2
    again = api(reviewer).post(url, {"name": "Night shots", "items": ids[1:3]}, format="json")
    assert again.status_code == 201, again.content
    assert ArchivedAnnotation.objects.filter(campaign_id=again.json()["id"]).count() == 2  # item 2's answers


def test_items_sent_back_just_after_a_guideline_is_published_go_back_under_it(project, reviewer):
    """A reviewer's page read the project (guideline v1 active) just before an SME published v2, then
    sent an item back: the standing campaign made then named v1, a guideline no longer active."""
    from labeling.models import Project
    from labeling.services.guidelines import guideline_publish

    guideline_publish(project=project, text="v1")
    (item,) = make_items(project, 1)
    as_the_request_read_it = Project.objects.get(pk=project.pk)
    v2 = guideline_publish(project=Project.objects.get(pk=project.pk), text="v2")
    Project.objects.filter(pk=project.pk).update(overlap=5)
    campaign = campaign_send_back(project=as_the_request_read_it, item=item, user=reviewer)
    assert (campaign.guideline, campaign.overlap) == (v2, 5)


def test_a_campaign_naming_no_guideline_takes_the_one_published_while_it_chose_its_items(
    monkeypatch, api, reviewer, night
):
    """The request read the project (no guideline yet) as it began; a guideline published while it chose
    its items is the active one when the campaign is made, and the one the campaign names."""
    from labeling.models import Project
    from labeling.services import campaigns
    from labeling.services.guidelines import guideline_publish

    project, ids = night
    real, published = campaigns.campaign_items_for, []

    def publish_while_choosing(**kwargs):
        if not published:
            published.append(guideline_publish(project=Project.objects.get(pk=project.pk), text="Cats purr."))
        return real(**kwargs)

    monkeypatch.setattr(campaigns, "campaign_items_for", publish_while_choosing)
    response = api(reviewer).post(f"/api/projects/{project.pk}/campaigns/", {"name": "Purrs", "items": ids[:1]})
    assert response.status_code == 201, response.content
    assert response.json()["guideline"] == published[0].version == 1


def test_an_item_sent_back_again_while_a_campaign_chooses_it_refuses_that_campaign(monkeypatch, api, reviewer, night):
    """The item was already in "Sent back by reviewers" (answered again since): a reviewer sending it back
    once more while a campaign chose it archived the answers that campaign had read, though the item joined
    no campaign anew."""
    from labeling.models import Campaign, Item
    from labeling.services import campaigns
    from tests.labeling.version_helpers import answer, labelers

    project, ids = night
    item = Item.objects.get(pk=ids[0])
    standing = campaign_send_back(project=project, item=item, user=reviewer)
    alice, _ = labelers(project, 2)  # the fixture's two labelers
    answer(item, alice, "dog")
    real, sent = campaigns.campaign_items_for, []

    def sent_back_while_choosing(**kwargs):
        chosen = real(**kwargs)
        if not sent:
            sent.append(campaign_send_back(project=project, item=item, user=reviewer))
        return chosen

    monkeypatch.setattr(campaigns, "campaign_items_for", sent_back_while_choosing)
    url = f"/api/projects/{project.pk}/campaigns/"
    response = api(reviewer).post(url, {"name": "Night shots", "items": ids[:2]}, format="json")
    assert sent == [standing]
    assert response.status_code == 409, response.content
    assert response.json()["campaigns"] == [standing.pk]
    assert f'Item {ids[0]} was sent back by the campaign "Sent back by reviewers"' in response.json()["detail"]
    assert list(Campaign.objects.values_list("pk", flat=True)) == [standing.pk]


@pytest.mark.django_db(transaction=True)  # the foreign keys are checked as the request's transaction commits
def test_an_item_deleted_while_a_campaign_chooses_it_is_left_out_not_a_server_error(monkeypatch, api, reviewer, night):
    """An admin deleted one of the chosen items while the campaign was being started: adding the gone item
    to the campaign broke a foreign key at the commit, and the SME got a server error for the whole
    campaign. The campaign holds the items that are still there."""
    from labeling.models import ArchivedAnnotation, Item
    from labeling.services import campaigns

    project, ids = night
    real = campaigns.campaign_items_for

    def deleted_while_choosing(**kwargs):
        chosen = real(**kwargs)
        Item.objects.filter(pk=ids[1]).delete()
        return chosen

    monkeypatch.setattr(campaigns, "campaign_items_for", deleted_while_choosing)
    api_client = api(reviewer)
    api_client.raise_request_exception = False
    response = api_client.post(f"/api/projects/{project.pk}/campaigns/", {"name": "Night", "items": ids[:2]})
    assert response.status_code == 201, response.content
    assert response.json()["items"] == [ids[0]] and response.json()["progress"]["n_items"] == 1
    assert sorted(ArchivedAnnotation.objects.values_list("item_id", flat=True)) == [ids[0], ids[0]]


def test_the_campaign_of_items_reviewers_sent_back_shows_the_agreement_they_had(client, reviewer, night):
    """An SME sent a disputed item and an agreed one back from the review. "Sent back by reviewers" read
    "— → —" in the campaigns list and "— percent agreement before ( answers)" on its page: the answers it
    archived (kept, and shown on the items) were never counted as its "before"."""
    from labeling.models import Item

    project, ids = night
    for pk in (ids[0], ids[2]):  # cat / dog, and cat / cat
        campaign = campaign_send_back(project=project, item=Item.objects.get(pk=pk), user=reviewer)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/{campaign.pk}/").content.decode()
    assert 'data-metric="before">50 %' in page
    assert "percent agreement before (4 answers)" in page
    listing = client.get(f"/projects/{project.pk}/campaigns/").content.decode()
    assert 'data-measure="agreement">50 % → —' in listing
