"""Relabel campaigns while labelers keep answering, on PostgreSQL: an answer accepted while a campaign
archives its item is either archived by the campaign or counted as one of the campaign's new answers,
never silently deleted, and the queue's answer counter still matches the rows."""

import threading

import pytest

from labeling.models import Annotation, ArchivedAnnotation, Campaign, Guideline, Item, Project
from labeling.services import campaigns
from labeling.services.annotations import annotation_save
from labeling.services.campaigns import campaign_create
from labeling.services.guidelines import guideline_publish
from labeling.services.queue import annotation_submit
from tests.concurrency import (
    in_a_thread,
    run_together,
    skip_unless_postgresql,
    slow_inserts,
    wait_for_the_other_thread,
)
from tests.labeling.queue_helpers import make_items


def _pause_after_reading_answers(monkeypatch, read, resume):
    """Make the campaign stop right after it has read the items' current answers (before it archives and
    deletes them) until ``resume`` is set, or two seconds pass (the labeler may be waiting on it)."""
    real = campaigns.AnnotationRevision

    class Revisions:
        class objects:  # noqa: N801 - stands in for the model's manager
            @staticmethod
            def filter(*args, **kwargs):
                read.set()
                resume.wait(timeout=2)
                return real.objects.filter(*args, **kwargs)

    monkeypatch.setattr(campaigns, "AnnotationRevision", Revisions)


@pytest.mark.django_db(transaction=True)
def test_an_answer_given_while_a_campaign_archives_its_item_is_never_lost(monkeypatch, project, labeler, labeler2):
    skip_unless_postgresql()
    (item,) = make_items(project, 1)
    annotation_save(item=item, labeler=labeler, value="cat")
    read, resume, errors = threading.Event(), threading.Event(), []

    def start_campaign():
        campaign_create(project=project, name="Cats again", item_ids=[item.pk])

    def answer():
        fresh = Item.objects.select_related("project").get(pk=item.pk)
        annotation_submit(item=fresh, labeler=labeler2, value="dog")

    _pause_after_reading_answers(monkeypatch, read, resume)
    still_running = run_together(
        [
            in_a_thread(start_campaign, then=read, errors=errors),
            in_a_thread(answer, after=read, then=resume, errors=errors),
        ]
    )
    assert not still_running
    assert not errors, errors

    campaign = Campaign.objects.get()
    archived = set(ArchivedAnnotation.objects.filter(campaign=campaign).values_list("labeler_id", "value"))
    current = set(Annotation.objects.filter(item=item).values_list("labeler_id", "value"))
    # labeler2's "dog" was accepted: it is in the archive (given before the campaign) or a new answer
    assert (labeler2.pk, "dog") in archived | current
    assert (labeler.pk, "cat") in archived
    item.refresh_from_db()
    assert item.n_answers == len(current)


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_sending_items_back_at_once_share_one_standing_campaign(monkeypatch, project, reviewer):
    """Two reviewers send back an item each at the same moment, before the project has its standing
    "Sent back by reviewers" campaign: both items land in one campaign, not in two of the same name."""
    skip_unless_postgresql()
    items = make_items(project, 2)
    both_looked, errors = threading.Barrier(2), []
    real_filter = Campaign.objects.filter
    looked = threading.local()

    def filter_then_wait(*args, **kwargs):
        # Each reviewer's first look for the standing campaign waits until the other has looked too (or
        # two seconds: with the look serialized, the other one waits for this one to commit).
        found = real_filter(*args, **kwargs)
        if not getattr(looked, "done", False):
            looked.done = True
            found = list(found)
            wait_for_the_other_thread(both_looked, timeout=2)
            return real_filter(pk__in=[c.pk for c in found])
        return found

    monkeypatch.setattr(Campaign.objects, "filter", filter_then_wait)

    def send_back(item):
        campaigns.campaign_send_back(project=project, item=item, user=reviewer)

    still_running = run_together([in_a_thread(send_back, item, errors=errors) for item in items])
    assert not still_running
    assert not errors, errors
    monkeypatch.undo()
    (campaign,) = Campaign.objects.filter(project=project, name=campaigns.SEND_BACK_NAME)
    assert sorted(campaign.items.values_list("pk", flat=True)) == sorted(item.pk for item in items)


def campaign_requests_at_once(clients, project, body):
    """POST ``body`` as a campaign of ``project`` from each client at the same moment, each on its own
    connection, while each campaign's insert takes half a second (so the two meet); answers the responses."""
    answers, errors, start = [], [], threading.Barrier(len(clients))

    def send(client):
        start.wait(timeout=10)
        answers.append(client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json"))

    with slow_inserts(Campaign._meta.db_table):
        still_running = run_together([in_a_thread(send, client, errors=errors) for client in clients])
    assert not still_running and not errors, errors
    return answers


@pytest.mark.django_db(transaction=True)
def test_the_same_campaign_requested_twice_at_once_is_made_once(api, project, reviewer, labeler, labeler2):
    """A double click on "Start campaign" (or a script's retry sent before the first answer): both requests
    looked for the campaign before either had made it, and two campaigns sent the items back twice."""
    from labeling.models import ArchivedAnnotation

    skip_unless_postgresql()
    items = make_items(project, 3)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="dog")
    body = {"name": "Cats or dogs", "items": [item.pk for item in items[:2]]}
    answers = campaign_requests_at_once([api(reviewer), api(reviewer)], project, body)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.content for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    (campaign,) = Campaign.objects.filter(project=project)
    assert sorted(campaign.items.values_list("pk", flat=True)) == body["items"]
    assert ArchivedAnnotation.objects.filter(campaign=campaign).count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_requesting_the_same_campaign_at_once_share_it(api, project, reviewer, labeler, labeler2):
    """Two SMEs settle on the same relabel (same name, items, overlap and guideline) and both press "Start
    campaign": the items are sent back once, and the second SME lands on the campaign the first made."""
    from labeling.services.projects import member_add
    from tests.conftest import make_user

    skip_unless_postgresql()
    second = make_user("sme2")
    member_add(project=project, username=second.username, role="reviewer")
    items = make_items(project, 2)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="dog")
    body = {"name": "Cats or dogs", "items": [item.pk for item in items]}
    answers = campaign_requests_at_once([api(reviewer), api(second)], project, body)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.content for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert Campaign.objects.filter(project=project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_guideline_published_while_a_campaign_chooses_its_items_does_not_wait_for_the_choice(
    monkeypatch, project, reviewer, labeler
):
    """A filter campaign chose its items (a class, a tag, where answers differ: seconds on a large
    project) holding the project's row lock, so a guideline publish, a version build request or a taxonomy
    change of the project waited for the choice. The items are chosen before the lock now: the publish
    goes through while the campaign is still choosing, and the campaign is made all the same."""
    skip_unless_postgresql()
    items = make_items(project, 3)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
    choosing, published, outcome, errors = threading.Event(), threading.Event(), {}, []
    real = campaigns.campaign_items_for

    def slow_choice(**kwargs):
        choosing.set()
        # the publish ends while the items are being chosen, or it waits for this transaction (3 s, then on)
        outcome["published while choosing"] = published.wait(timeout=3)
        return real(**kwargs)

    monkeypatch.setattr(campaigns, "campaign_items_for", slow_choice)

    def start():
        campaigns.campaign_start(project=project, name="Cats again", filter={"class": "cat"}, user=reviewer)

    def publish():
        guideline_publish(project=Project.objects.get(pk=project.pk), text="A cat has whiskers.")

    still_running = run_together(
        [in_a_thread(start, errors=errors), in_a_thread(publish, after=choosing, then=published, errors=errors)]
    )
    assert not still_running
    assert not errors, errors
    assert outcome == {"published while choosing": True}
    published = Guideline.objects.get(project=project, text="A cat has whiskers.")
    (campaign,) = Campaign.objects.filter(project=project)
    assert sorted(campaign.items.values_list("pk", flat=True)) == [item.pk for item in items]
    # It names no guideline: the active one as the campaign was made, the one published meanwhile (it kept
    # the one the request had read as it began, and the campaign page named a guideline no longer active).
    assert campaign.guideline == published


@pytest.mark.django_db(transaction=True)
def test_the_same_filter_campaign_whose_copy_commits_while_it_chooses_answers_that_campaign(
    monkeypatch, project, reviewer, labeler, labeler2
):
    """Items are chosen outside the project's lock: a double click on a "where answers differ" campaign
    whose first request commits while the second is still choosing must still answer the first's campaign
    (200), not "the selection holds no items" (the first archived the very answers that differed)."""
    skip_unless_postgresql()
    items = make_items(project, 2)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="dog")
    second_choosing, first_done, errors, made = threading.Event(), threading.Event(), [], {}
    real = campaigns.campaign_items_for

    def second_chooses_after_the_first_committed(**kwargs):
        # the second has looked for the campaign (none yet) and is choosing when the first starts to
        if threading.current_thread().name == "second":
            second_choosing.set()
            assert first_done.wait(timeout=10)
        else:
            assert second_choosing.wait(timeout=10)
        return real(**kwargs)

    monkeypatch.setattr(campaigns, "campaign_items_for", second_chooses_after_the_first_committed)

    def start(who):
        made[who] = campaigns.campaign_start(
            project=project, name="Cats or dogs", filter={"disagreement": True}, user=reviewer
        )

    still_running = run_together(
        [
            in_a_thread(start, "first", then=first_done, errors=errors, name="first"),
            in_a_thread(start, "second", errors=errors, name="second"),
        ]
    )
    assert not still_running
    assert not errors, errors
    assert made["first"] == (made["second"][0], True) and made["second"][1] is False
    assert Campaign.objects.filter(project=project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_different_campaigns_over_the_same_items_at_once_send_each_item_back_once(
    monkeypatch, api, project, reviewer, labeler, labeler2
):
    """Two SMEs start two different campaigns ("Cats again", "Night shots") over overlapping items at the
    same moment, each on its own connection; both chose their items and measured their agreement before
    either had archived anything. Both were made: the items they share sat in two campaigns, the second's
    archive held none of their answers (nothing to compare its new answers with) and its "agreement
    before" counted answers the first had archived. Now one is made and the other refused (409), naming
    the campaign that took the items; every answer is archived once and nothing else changed."""
    from labeling.services.projects import member_add
    from tests.conftest import make_user

    skip_unless_postgresql()
    second = make_user("sme2")
    member_add(project=project, username=second.username, role="reviewer")
    items = make_items(project, 3)
    for item in items:
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="dog")
    ids = [item.pk for item in items]
    both_chose, real, answers, errors = threading.Barrier(2), campaigns.campaign_items_for, {}, []

    def choose_then_wait_for_the_other(**kwargs):
        chosen = real(**kwargs)
        wait_for_the_other_thread(both_chose, timeout=5)  # each has chosen before either locks anything
        return chosen

    monkeypatch.setattr(campaigns, "campaign_items_for", choose_then_wait_for_the_other)

    def send(who, client, body):
        answers[who] = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")

    still_running = run_together(
        [
            in_a_thread(send, "cats", api(reviewer), {"name": "Cats again", "items": ids[:2]}, errors=errors),
            in_a_thread(send, "night", api(second), {"name": "Night shots", "items": ids[1:]}, errors=errors),
        ]
    )
    monkeypatch.undo()
    assert not still_running and not errors, errors
    assert sorted(a.status_code for a in answers.values()) == [201, 409], {k: a.content for k, a in answers.items()}
    made = next(a for a in answers.values() if a.status_code == 201).json()
    refused = next(a for a in answers.values() if a.status_code == 409).json()
    (campaign,) = Campaign.objects.filter(project=project)
    assert campaign.pk == made["id"] and refused["campaigns"] == [campaign.pk]
    assert f'sent back by the campaign "{campaign.name}" (#{campaign.pk})' in refused["detail"]
    assert f"Item {ids[1]} was" in refused["detail"]
    # every answer is still somewhere, once: archived by the campaign that took its item, or current
    archived = list(ArchivedAnnotation.objects.values_list("item_id", "labeler_id", "value"))
    current = list(Annotation.objects.values_list("item_id", "labeler_id", "value"))
    assert len(archived) == len(set(archived)) == 4
    assert sorted(archived + current) == sorted(
        (i, who.pk, value) for i in ids for who, value in ((labeler, "cat"), (labeler2, "dog"))
    )
    assert sorted({i for i, _, _ in archived}) == sorted(made["items"])
