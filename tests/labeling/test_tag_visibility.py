"""Labelers see no item tags: an SME's "input lacks the information" (needs-better-input), a lasso on
the embedding map ("suspect-9-as-4") and import-time slices stay with reviewers and managers, on every
page and endpoint, and no tag filter tells a labeler which items carry a tag."""

import pytest

from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes
from tests.labeling.access_helpers import read_everything, routes_showing

REVIEW_TAG = "needs-better-input"
MAP_TAG = "suspect-9-as-4"
IMPORT_TAG = "scanner-b"
HIDDEN = (REVIEW_TAG, MAP_TAG, IMPORT_TAG)


@pytest.fixture
def tagged(api, project, reviewer):
    """Three items tagged at import; the reviewer marks the first "input lacks the information" and
    lassoes the first two on the map."""
    entries = [
        ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=60 + i), tags=[IMPORT_TAG]) for i in range(3)
    ]
    ids = items_import(project=project, entries=entries).imported
    client = api(reviewer)
    decided = client.post(
        f"/api/items/{ids[0]}/decision/",
        {"action": "input_insufficient", "rationale": "too dark to read the digit"},
        format="json",
    )
    assert decided.status_code == 201, decided.json()
    lassoed = client.post(
        f"/api/projects/{project.pk}/selection/", {"items": ids[:2], "action": "tag", "tag": MAP_TAG}, format="json"
    )
    assert lassoed.status_code == 200, lassoed.json()
    return ids


def test_reviewers_see_every_tag_on_an_item(api, reviewer, manager, tagged):
    for user in (reviewer, manager):
        assert api(user).get(f"/api/items/{tagged[0]}/").json()["tags"] == sorted(HIDDEN)


def test_labeler_sees_an_item_without_tags(api, labeler, tagged):
    response = api(labeler).get(f"/api/items/{tagged[0]}/")
    assert response.status_code == 200
    assert "tags" not in response.json()
    assert not any(tag in response.content.decode() for tag in HIDDEN)


def test_labeler_never_sees_review_or_map_selection_tags_anywhere(client, labeler, project, tagged):
    """Every page and endpoint, read as the labeler, with the labeling queue handing out the tagged
    items; none shows a tag."""
    client.force_login(labeler)
    ids = {"project_id": project.pk, "item_id": tagged[0]}
    answers = read_everything(client, ids)
    assert answers["api/items/<int:item_id>/"][0] == 200  # the sweep did reach the labeler's item view
    assert answers["api/projects/<int:project_id>/next/"][0] == 200
    assert answers["projects/<int:project_id>/label/"][0] == 200
    assert routes_showing(answers, HIDDEN) == []


def test_labeler_cannot_learn_which_items_carry_a_tag(client, api, labeler, project, tagged):
    """Filtering by a hidden tag answers exactly as filtering by a tag nobody uses, on every route."""
    client.force_login(labeler)
    ids = {"project_id": project.pk, "item_id": tagged[0]}
    carried = read_everything(client, ids, query=f"?tag={REVIEW_TAG}")
    unused = read_everything(client, ids, query="?tag=no-such-tag")
    assert {r: status for r, (status, _) in carried.items()} == {r: status for r, (status, _) in unused.items()}
    assert routes_showing(carried, HIDDEN) == []
    response = api(labeler).get(f"/api/projects/{project.pk}/items/", {"tag": REVIEW_TAG})
    assert response.status_code == 403 and REVIEW_TAG not in response.content.decode()


def test_reviewers_still_filter_by_review_and_map_tags(api, client, reviewer, project, tagged):
    listed = api(reviewer).get(f"/api/projects/{project.pk}/items/", {"tag": REVIEW_TAG}).json()["results"]
    assert [item["id"] for item in listed] == [tagged[0]] and REVIEW_TAG in listed[0]["tags"]
    listed = api(reviewer).get(f"/api/projects/{project.pk}/items/", {"tag": MAP_TAG}).json()["results"]
    assert [item["id"] for item in listed] == tagged[:2]
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/items/", {"tag": MAP_TAG}).content.decode()
    assert MAP_TAG in page
    assert REVIEW_TAG in client.get(f"/projects/{project.pk}/").content.decode()
