"""Skips and relabel campaigns: an item a campaign (or a reviewer's send-back) sends back is offered again to
the labelers who skipped it before, whose reasons stay shown to reviewers; a skip made during the campaign
holds. The queue's SQL differs by database: run this file on PostgreSQL and on SQLite."""

from labeling.models import ArchivedSkip, Skip
from labeling.services.campaigns import campaign_create, campaign_send_back
from labeling.services.queue import annotation_submit_and_next, item_skip, queue_next
from tests.labeling.queue_helpers import answer_by_others, make_items


def progress(api, user, project):
    return api(user).get(f"/api/projects/{project.pk}/progress/").json()


def test_a_labeler_who_skipped_before_a_campaign_is_offered_the_item_in_it(api, project, labeler, labeler2):
    """The image was too dark: the labeler skipped it, the input was fixed, a campaign sent it back. The
    queue never offered it to them again, so the campaign could not reach its overlap without them."""
    dark, other = make_items(project, 2)
    item_skip(item=dark, labeler=labeler, reason="image too dark")
    answer_by_others(project, other, project.overlap)  # nothing else left for them
    assert queue_next(project=project, labeler=labeler) is None
    assert progress(api, labeler, project)["mine"]["skipped"] == 1

    campaign_create(project=project, name="Brightened images", item_ids=[dark.pk], overlap=2)

    assert queue_next(project=project, labeler=labeler).item.pk == dark.pk
    assert progress(api, labeler, project)["mine"]["skipped"] == 0  # theirs to label again
    annotation, created, following = annotation_submit_and_next(item=dark, labeler=labeler, value="cat")
    assert created and following is None
    dark.refresh_from_db()
    assert dark.n_answers == 1
    mine = progress(api, labeler, project)
    assert mine["mine"]["total"] == 1 and mine["mine"]["skipped"] == 0
    assert mine["project"]["complete"] == 1  # `other`; the campaign's item has 1 of its 2 answers
    assert queue_next(project=project, labeler=labeler2).item.pk == dark.pk  # its second slot


def test_a_skip_made_during_the_campaign_still_holds(api, project, labeler):
    dark, other = make_items(project, 2)
    item_skip(item=dark, labeler=labeler, reason="image too dark")
    answer_by_others(project, other, project.overlap)
    campaign_create(project=project, name="Brightened images", item_ids=[dark.pk], overlap=2)
    assert queue_next(project=project, labeler=labeler).item.pk == dark.pk

    item_skip(item=dark, labeler=labeler, reason="still cannot tell borderline from 1")

    assert queue_next(project=project, labeler=labeler) is None
    assert progress(api, labeler, project)["mine"]["skipped"] == 1
    # both reasons kept: the one before the campaign and the one during it
    assert [s.reason for s in Skip.objects.filter(item=dark)] == ["still cannot tell borderline from 1"]
    assert [s.reason for s in ArchivedSkip.objects.filter(item=dark)] == ["image too dark"]


def test_an_item_a_reviewer_sends_back_is_offered_to_who_skipped_it(project, reviewer, labeler, labeler2):
    item, other = make_items(project, 2)
    item_skip(item=item, labeler=labeler, reason="can't tell borderline from 1")
    answer_by_others(project, other, project.overlap)
    annotation_submit_and_next(item=item, labeler=labeler2, value="cat")
    assert queue_next(project=project, labeler=labeler) is None

    campaign_send_back(project=project, item=item, user=reviewer)

    assert queue_next(project=project, labeler=labeler).item.pk == item.pk
    assert queue_next(project=project, labeler=labeler2).item.pk == item.pk  # their answer was archived


def test_skip_reasons_stay_on_the_review_page_marked_before_the_campaign(client, project, reviewer, labeler, labeler2):
    item, other = make_items(project, 2)
    item_skip(item=item, labeler=labeler, reason="image too dark")
    campaign_create(project=project, name="Brightened images", item_ids=[item.pk], overlap=2)
    item_skip(item=item, labeler=labeler2, reason="half of it is cut off")

    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()

    assert 'id="skips"' in page
    assert "image too dark" in page and "half of it is cut off" in page
    before = page.index("image too dark")
    row = page[page.rindex("<tr", 0, before) : page.index("</tr>", before)]
    assert "before Brightened images" in row and labeler.username in row
    during = page.index("half of it is cut off")
    row = page[page.rindex("<tr", 0, during) : page.index("</tr>", during)]
    assert "before" not in row and labeler2.username in row


def test_skip_reasons_stay_on_the_shape_review_page_and_in_the_admin(client, admin_client, manager, reviewer, labeler):
    from labeling.choices import Role
    from labeling.services.projects import member_add
    from tests.conftest import detection_project

    project = detection_project(manager, reviewer, ["iguana"])
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    (item,) = make_items(project, 1)
    item_skip(item=item, labeler=labeler, reason="two iguanas or one?")
    campaign = campaign_send_back(project=project, item=item, user=reviewer)

    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    assert 'id="skips"' in page and "two iguanas or one?" in page and f"before {campaign.name}" in page
    admin = admin_client.get("/admin/labeling/archivedskip/").content.decode()
    assert "two iguanas or one?" in admin


def test_a_reviewer_reads_the_skips_on_the_items_api_a_labeler_does_not(api, project, reviewer, labeler, labeler2):
    item, _ = make_items(project, 2)
    item_skip(item=item, labeler=labeler, reason="image too dark")
    campaign = campaign_create(project=project, name="Brightened images", item_ids=[item.pk], overlap=2)
    item_skip(item=item, labeler=labeler2, reason="half of it is cut off")

    skips = api(reviewer).get(f"/api/items/{item.pk}/").json()["skips"]

    assert [(s["labeler"], s["reason"], s["campaign"]) for s in skips] == [
        (labeler2.username, "half of it is cut off", None),
        (labeler.username, "image too dark", {"id": campaign.pk, "name": "Brightened images"}),
    ]
    assert all(s["skipped"] for s in skips)
    assert "skips" not in api(labeler).get(f"/api/items/{item.pk}/").json()  # blind: not others' doubts
