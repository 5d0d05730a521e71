"""Relabel campaigns of detection projects measure shapes, not JSON strings: items chosen by shape
disagreement or by a class drawn, agreement as box F1 before and since, the new answers against the
archived ones and against gold shapes."""

import json

import pytest

from labeling.models import Item
from labeling.services.review import decision_record
from tests.conftest import detection_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import answer, labelers

pytestmark = pytest.mark.django_db

IGUANA = (0.1, 0.1, 0.4, 0.6, "iguana")
IGUANA_NUDGED = (0.11, 0.1, 0.4, 0.6, "iguana")  # the same iguana a pixel apart: IoU .95
HALVES = [(0.08, 0.1, 0.18, 0.6, "iguana"), (0.35, 0.1, 0.2, 0.6, "iguana")]  # IoU < .5 with the whole
ROCK = (0.7, 0.7, 0.2, 0.2, "rock")


def boxes(*shapes):
    return json.dumps({"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]})


@pytest.fixture
def reptiles(manager, reviewer):
    """Item 1: a and b draw the same iguana a pixel apart (they agree). Item 2: a draws the iguana whole,
    c in two halves (the iguana disagreement). Item 3: a and b draw the same rock."""
    project = detection_project(manager, reviewer, ["iguana", "rock"])
    items = make_items(project, 3, stats={"width": 200, "height": 100})
    a, b, c = labelers(project, 3)
    answer(items[0], a, boxes(IGUANA))
    answer(items[0], b, boxes(IGUANA_NUDGED))
    answer(items[1], a, boxes(IGUANA))
    answer(items[1], c, boxes(*HALVES))
    answer(items[2], a, boxes(ROCK))
    answer(items[2], b, boxes(ROCK))
    return project, items, (a, b, c)


def test_filters_choose_items_by_shape_disagreement_and_by_a_class_drawn(api, reviewer, reptiles):
    project, items, _ = reptiles
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/campaigns/"
    split = client.post(url, {"name": "split iguanas", "filter": {"disagreement": True}}, format="json")
    assert split.status_code == 201, split.json()
    assert split.json()["items"] == [items[1].pk]  # not the iguana drawn a pixel apart
    rocks = client.post(url, {"name": "rocks", "filter": {"class": "rock"}}, format="json")
    assert rocks.status_code == 201, rocks.json()
    assert rocks.json()["items"] == [items[2].pk]
    _, b, _ = reptiles[2]
    drawn_by_b = client.post(
        url, {"name": "b's iguanas", "filter": {"class": "iguana", "labeler": b.username}}, format="json"
    )
    assert drawn_by_b.status_code == 201, drawn_by_b.json()
    assert drawn_by_b.json()["items"] == [items[0].pk]  # the iguana b drew, not c's halves b never saw


def test_a_campaign_reports_box_f1_before_since_against_the_archive_and_gold(api, client, reviewer, reptiles):
    project, items, (a, _, c) = reptiles
    decision_record(
        item=items[1], reviewer=reviewer, value={"boxes": [json.loads(boxes(IGUANA))["boxes"][0]]}, gold=True
    )
    api_client = api(reviewer)
    body = {"name": "one box per iguana", "items": [items[1].pk], "overlap": 2}
    campaign = api_client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json").json()
    before = campaign["progress"]["before"]
    assert (before["metric"], before["agreement"]) == ("box_f1", 0.0)  # one box against two halves
    # under the new guideline both draw the iguana whole
    item = Item.objects.get(pk=items[1].pk)
    answer(item, a, boxes(IGUANA))
    answer(item, c, boxes(IGUANA_NUDGED))
    progress = api_client.get(f"/api/projects/{project.pk}/campaigns/{campaign['id']}/").json()["progress"]
    assert progress["metric"] == "box F1"
    assert progress["after"]["agreement"] == 1.0
    versus = progress["versus_archived"]
    # new a, new c against archived a (whole: match) and archived c (halves: none): 2·2 / (2 + 3 + 2 + 3)
    assert versus["agreement"] == 0.4 and versus["n_pairs"] == 4
    assert versus["changed"] == 1 and versus["n_compared"] == 1  # no consensus before, one iguana now
    assert versus["gold"] == {"before": 0.4, "after": 1.0, "n_items": 1}
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/{campaign['id']}/").content.decode()
    assert "box F1 before" in page and "changed consensus" in page
