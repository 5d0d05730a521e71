"""Class confusion in detection projects: the same object drawn by two labelers and called two things is
a swap; the taxonomy page and API suggest merging the pair with the box F1 it would give, and a change's
preview answers box F1 before and after (not percent agreement over JSON strings)."""

import json

import pytest

from analysis.metrics.consistency import shape_merge_suggestions
from analysis.metrics.shapes import class_swaps, pooled_f1, relabel_table, shape_table
from tests.conftest import detection_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import answer, labelers

pytestmark = pytest.mark.django_db

A = (0.1, 0.1, 0.3, 0.4)
B = (0.5, 0.1, 0.3, 0.4)
C = (0.2, 0.6, 0.2, 0.2)


def box(coords, label):
    return dict(zip(("x", "y", "w", "h"), coords, strict=True)) | {"label": label}


# Hand-worked: item 1, u calls box A a lizard and v an iguana; item 2, u calls B an iguana and v a lizard;
# item 3, both call C a rock. Shape F1 = 2·(0 + 0 + 1) / (2 + 2 + 2) = 1/3; with lizard merged into iguana,
# 2·3 / 6 = 1; with rock retired, item 3's answers are empty: 0 / 4 = 0.
ANSWERS = [
    (1, "u", {"boxes": [box(A, "lizard")]}),
    (1, "v", {"boxes": [box(A, "iguana")]}),
    (2, "u", {"boxes": [box(B, "iguana")]}),
    (2, "v", {"boxes": [box(B, "lizard")]}),
    (3, "u", {"boxes": [box(C, "rock")]}),
    (3, "v", {"boxes": [box(C, "rock")]}),
]


def test_hand_worked_swaps_and_the_f1_a_merge_or_a_retirement_gives():
    t = shape_table(ANSWERS, kind="boxes")
    names = list(t.labels)
    swaps, matched = class_swaps(t)
    ig, li, ro = names.index("iguana"), names.index("lizard"), names.index("rock")
    assert swaps[ig, li] == swaps[li, ig] == 2 and swaps[ig, ro] == 0 and matched[ro, ro] == 1
    assert pooled_f1(t) == pytest.approx(1 / 3)
    assert pooled_f1(relabel_table(t, {"lizard": "iguana"})) == 1.0
    assert pooled_f1(relabel_table(t, {"rock": None})) == 0.0
    (found,) = shape_merge_suggestions(t)
    assert {names[found.a], names[found.b]} == {"iguana", "lizard"} and found.swaps == 2
    assert found.swap_share == 1.0 and found.agreement_before == pytest.approx(1 / 3) and found.agreement_after == 1.0
    assert shape_merge_suggestions(t, exclude={"lizard"}) == []


@pytest.fixture
def reptiles(manager, reviewer):
    project = detection_project(manager, reviewer, ["iguana", "lizard", "rock"])
    items = make_items(project, 3, stats={"width": 100, "height": 100})
    users = dict(zip("uv", labelers(project, 2), strict=True))
    for item_no, who, value in ANSWERS:
        answer(items[item_no - 1], users[who], json.dumps(value))
    return project


def test_the_api_and_page_suggest_merging_the_pair_drawn_as_both(api, client, reviewer, reptiles):
    project = reptiles
    data = api(reviewer).get(f"/api/projects/{project.pk}/taxonomy-changes/suggestions/").json()
    (s,) = data["suggestions"]
    assert s["classes"] == ["iguana", "lizard"] and s["names"] == ["iguana", "lizard"] and s["swaps"] == 2
    assert s["metric"] == "box_f1" and s["agreement_before"] == pytest.approx(1 / 3) and s["agreement_after"] == 1.0
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/taxonomy/").content.decode()
    assert "the same object drawn as one by a labeler and as the other by another 2 times" in page
    assert "box F1 0.333 → 1.000" in page
    # kept until the answers change: v calls the first box a lizard too, one swap is left, no suggestion
    from labeling.models import Annotation

    first = Annotation.objects.filter(item__project=project, labeler__username="lab1").order_by("item_id")[0]
    answer(first.item, first.labeler, json.dumps({"boxes": [box(A, "lizard")]}))
    assert api(reviewer).get(f"/api/projects/{project.pk}/taxonomy-changes/suggestions/").json()["suggestions"] == []


def test_a_preview_answers_box_f1_before_and_after_and_changes_nothing(api, reviewer, reptiles):
    project = reptiles
    url = f"/api/projects/{project.pk}/taxonomy-changes/?preview=1"
    merge = api(reviewer).post(url, {"op": "merge", "classes": ["lizard", "iguana"], "into": "iguana"}, format="json")
    assert merge.status_code == 200, merge.json()
    body = merge.json()
    assert body["metric"] == "box_f1" and body["before"]["agreement"] == pytest.approx(1 / 3)
    assert body["after"]["agreement"] == 1.0 and body["gain"] == pytest.approx(2 / 3)
    retire = api(reviewer).post(url, {"op": "retire", "key": "rock"}, format="json").json()
    assert retire["after"]["agreement"] == 0.0 and retire["gain"] == pytest.approx(-1 / 3)
    assert not project.taxonomy_changes.exists() and project.classes.filter(retired=False).count() == 3


def test_a_detection_project_may_keep_a_single_class(api, manager, reviewer):
    project = detection_project(manager, reviewer, ["iguana", "rock"])
    client = api(reviewer)
    retire = client.post(
        f"/api/projects/{project.pk}/taxonomy-changes/", {"op": "retire", "key": "rock"}, format="json"
    )
    assert retire.status_code == 201, retire.json()
    last = client.post(
        f"/api/projects/{project.pk}/taxonomy-changes/", {"op": "retire", "key": "iguana"}, format="json"
    )
    assert last.status_code == 400 and "keeps at least one class" in last.json()["detail"]


# --- old answers reopened after a taxonomy change ---------------------------------------------------------
@pytest.fixture
def pets(manager, reviewer, labeler):
    """A detection project of dog / cat / bird; ``labeler`` boxed a dog on the one image before any change."""
    from labeling.services.projects import member_add

    project = detection_project(manager, reviewer, ["dog", "cat", "bird"], name="Pets")
    member_add(project=project, username=labeler.username, role="labeler")
    (item,) = make_items(project, 1, stats={"width": 100, "height": 100})
    answer(item, labeler, json.dumps({"boxes": [box(A, "dog")]}))
    return project, item


def _change(project, reviewer, op, payload):
    from labeling.services.taxonomy import taxonomy_apply

    return taxonomy_apply(project=project, op=op, payload=payload, author=reviewer)


@pytest.mark.parametrize(
    "op, payload, today",
    [
        ("rename", {"key": "dog", "new_key": "canine"}, "canine"),
        ("merge", {"classes": ["dog", "cat"], "into": "cat"}, "cat"),
    ],
)
def test_an_old_box_answer_reopened_and_saved_unchanged_takes_todays_class(
    api, reviewer, labeler, pets, op, payload, today
):
    # The labeling page's "My recent answers" loads the answer from this list and posts it back as it is.
    project, item = pets
    _change(project, reviewer, op, payload)
    client = api(labeler)
    (old,) = client.get(f"/api/projects/{project.pk}/annotations/?mine=1").json()["results"]
    assert old["value"] == {"boxes": [box(A, "dog")]}  # answers keep the key they were given
    response = client.post(f"/api/items/{item.pk}/annotations/", {"value": old["value"]}, format="json")
    assert response.status_code == 201, response.json()  # a revision of the answer (201, as a first answer)
    assert response.json()["value"] == {"boxes": [box(A, today)]} and response.json()["revision"] == 2


def test_an_old_key_that_maps_to_no_active_class_is_still_refused(api, reviewer, labeler, pets):
    project, item = pets
    _change(project, reviewer, "retire", {"key": "dog"})
    response = api(labeler).post(
        f"/api/items/{item.pk}/annotations/", {"value": {"boxes": [box(A, "dog")]}}, format="json"
    )
    assert response.status_code == 400
    assert 'boxes[0]: unknown class "dog"' in response.json()["value"][0]


def test_the_labeling_page_tells_its_editor_the_class_mapping(labeler, pets, reviewer):
    from django.test import Client

    project, _ = pets
    _change(project, reviewer, "rename", {"key": "dog", "new_key": "canine"})
    client = Client()
    client.force_login(labeler)
    html = client.get(f"/projects/{project.pk}/label/").content.decode()
    config = json.loads(html.split('id="lab-config" type="application/json">')[1].split("</script>")[0])
    assert config["classMap"] == {"dog": "canine"}


def test_the_review_page_hands_its_editor_todays_classes_and_takes_old_keys(api, reviewer, labeler, pets):
    # The layers (Shift+number copies a labeler's boxes), the consensus and an earlier decision's shapes.
    from django.test import Client

    project, item = pets
    assert (
        api(reviewer)
        .post(f"/api/items/{item.pk}/decision/", {"value": {"boxes": [box(B, "dog")]}}, format="json")
        .status_code
        == 201
    )
    _change(project, reviewer, "rename", {"key": "dog", "new_key": "canine"})
    client = Client()
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    config = json.loads(html.split('id="review-config" type="application/json">')[1].split("</script>")[0])
    assert [s["label"] for s in config["layers"][0]["shapes"]] == ["canine"]
    assert [s["label"] for s in config["consensus"]["boxes"]] == ["canine"]
    assert config["start"] == {"boxes": [box(B, "canine")]}
    # an old key sent back (a page opened before the rename) is recorded as today's class
    response = api(reviewer).post(
        f"/api/items/{item.pk}/decision/", {"value": {"boxes": [box(A, "dog")]}}, format="json"
    )
    assert response.status_code == 201, response.json()
    from labeling.models import Decision

    assert Decision.objects.filter(item=item).latest("created").shapes == {"boxes": [box(A, "canine")]}
