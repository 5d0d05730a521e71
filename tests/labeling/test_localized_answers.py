"""Detection (boxes on images) and segments (time regions on audio) projects: creation rules, answers
validated shape by shape (400 naming the shape, nothing stored), stored as given, revised, blind."""

import json

import pytest

from labeling.models import Annotation
from labeling.services.projects import member_add
from labeling.services.shapes import MAX_SHAPES
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]


def snapshot():
    return list(Annotation.objects.values_list("id", "item_id", "labeler_id", "value", "revision").order_by("id"))


@pytest.fixture
def detection(manager, labeler, labeler2, reviewer):
    project = make_project(
        manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES, options={"borderline": True}
    )
    for user, role in ((labeler, "labeler"), (labeler2, "labeler"), (reviewer, "reviewer")):
        member_add(project=project, username=user.username, role=role)
    return project


@pytest.fixture
def segments(manager, labeler):
    project = make_project(
        manager, name="Speech regions", modality="audio", task_type="segments", classes=[{"key": "speech"}]
    )
    member_add(project=project, username=labeler.username, role="labeler")
    return project


def post(client, item_id, value, **body):
    return client.post(f"/api/items/{item_id}/annotations/", {"value": value, **body}, format="json")


def box(x=0.1, y=0.2, w=0.3, h=0.4, label="iguana", **flags):
    return {"x": x, "y": y, "w": w, "h": h, "label": label, **flags}


# --------------------------------------------------------------------------------------------------
# Project creation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, words",
    [
        ({"modality": "audio", "task_type": "detection", "classes": CLASSES}, "image"),
        ({"modality": "image", "task_type": "segments", "classes": CLASSES}, "audio"),
        ({"modality": "image", "task_type": "detection", "classes": []}, "at least one class"),
    ],
)
def test_localized_projects_need_their_modality_and_a_class(api, manager, body, words):
    response = api(manager).post("/api/projects/", {"name": "P", **body}, format="json")
    assert response.status_code == 400, response.data
    assert words in json.dumps(response.data)


def test_a_detection_project_with_one_class_is_created(api, manager):
    body = {"name": "Leaves", "modality": "image", "task_type": "detection", "classes": [{"key": "blight"}]}
    response = api(manager).post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["task_type"] == "detection"


# --------------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------------
def test_boxes_are_stored_as_given_and_shown_as_an_object(api, detection, labeler):
    (item,) = make_items(detection, 1, stats={"width": 640, "height": 480})
    value = {"boxes": [box(), box(0.5, 0.5, 0.5, 0.5, "rock", borderline=True)]}
    response = post(api(labeler), item.pk, value, seconds=3.5)
    assert response.status_code == 201, response.data
    assert response.data["value"] == value
    annotation = Annotation.objects.get(item=item, labeler=labeler)
    assert json.loads(annotation.value) == value
    mine = api(labeler).get(f"/api/projects/{detection.pk}/annotations/").data["results"]
    assert [a["value"] for a in mine] == [value]


def test_a_box_past_the_edge_by_rounding_is_stored_inside_the_image(api, detection, labeler):
    """The contract: every box lies inside the image (0..1). A browser's rounding (within 1e-6) is
    accepted, and the box is stored cut at the edge, as a segment ending just past its clip ends at it:
    no exported or listed box has x < 0 or x + w > 1."""
    (item,) = make_items(detection, 1, stats={"width": 640, "height": 480})
    sent = {"boxes": [box(x=-5e-7, y=0.5, w=0.3, h=0.5000004), box(x=0.5, y=-1e-7, w=0.5000009, h=0.2)]}
    response = post(api(labeler), item.pk, sent)
    assert response.status_code == 201, response.data
    first, second = response.data["value"]["boxes"]
    assert first["x"] == 0.0 and first["w"] == pytest.approx(0.3 - 5e-7) and first["y"] + first["h"] == 1.0
    assert second["y"] == 0.0 and second["h"] == pytest.approx(0.2 - 1e-7) and second["x"] + second["w"] == 1.0
    assert json.loads(Annotation.objects.get(item=item, labeler=labeler).value) == response.data["value"]


def test_a_box_ending_at_the_edge_is_stored_as_sent(api, detection, labeler):
    """A box the browser sent as x 0.9, w 0.1 (ending exactly at the edge) was stored as w 0.09999999999999998,
    the edge cut (1 - x) taken though nothing was past the edge; one past it by rounding is cut to 9 decimals."""
    (item,) = make_items(detection, 1, stats={"width": 640, "height": 480})
    sent = {"boxes": [box(x=0.9, y=0.92, w=0.1, h=0.08), box(x=0.7, y=0.3, w=0.3000004, h=0.2)]}
    response = post(api(labeler), item.pk, sent)
    assert response.status_code == 201, response.data
    first, second = response.data["value"]["boxes"]
    assert (first["w"], first["h"]) == (0.1, 0.08)
    assert second["w"] == 0.3 and second["x"] + second["w"] <= 1.0


def test_an_empty_list_is_an_explicit_nothing_here_answer(api, detection, labeler):
    (item,) = make_items(detection, 1)
    response = post(api(labeler), item.pk, {"boxes": []})
    assert response.status_code == 201 and response.data["value"] == {"boxes": []}
    item.refresh_from_db()
    assert item.n_answers == 1


@pytest.mark.parametrize(
    "value, message",
    [
        ({"boxes": [box(), box(), box(x=0.9, w=0.3)]}, "boxes[2]: x + w = 1.2 is outside the image"),
        ({"boxes": [box(y=0.7, h=0.5)]}, "boxes[0]: y + h = 1.2 is outside the image"),
        ({"boxes": [box(x=-0.1)]}, "boxes[0]: the corner x = -0.1, y = 0.2 is outside the image"),
        ({"boxes": [box(), box(w=0)]}, "boxes[1]: the size w = 0, h = 0.4 must be positive"),
        ({"boxes": [box(h=-0.2)]}, "boxes[0]: the size w = 0.3, h = -0.2 must be positive"),
        ({"boxes": [box(label="lizard")]}, 'boxes[0]: unknown class "lizard"'),
        ({"boxes": [box(x="0.1")]}, 'boxes[0]: x must be a number, not "0.1"'),
        ({"boxes": [{"x": 0.1, "y": 0.1, "w": 0.1, "label": "iguana"}]}, "boxes[0]: h is missing"),
        ({"boxes": [box(h=None)]}, "boxes[0]: h must be a number, not null"),
        ({"boxes": [{"x": 0.1, "y": 0.1, "w": 0.1, "h": 0.1}]}, "boxes[0]: label is missing (the project's classes: "),
        ({"boxes": [box(label=1)]}, "boxes[0]: label must be a class key as a string, not 1"),
        ({"boxes": [box(colour="red")]}, "boxes[0]: unknown field 'colour'"),
        ({"boxes": [box(uncertain=True)]}, "boxes[0]: this project has no uncertain option"),
        ({"boxes": [box(borderline="yes")]}, "boxes[0]: borderline must be true or false"),
        ({"boxes": ["iguana"]}, "boxes[0]: a shape is an object"),
        ({"boxes": {"x": 0}}, "boxes must be a list"),
        ({"segments": []}, 'a detection answer is an object {"boxes": [...]}'),
        ("iguana", 'a detection answer is an object {"boxes": [...]}'),
        # the boxes sent without their object (a client's likely slip) are told the shape, not "Not a valid string"
        ([box()], 'a detection answer is an object {"boxes": [...]}'),
        ([], 'a detection answer is an object {"boxes": [...]}'),
        ({"boxes": [box()] * (MAX_SHAPES + 1)}, f"over the limit of {MAX_SHAPES}"),
    ],
)
def test_each_bad_box_is_a_400_naming_it_and_nothing_is_stored(api, detection, labeler, value, message):
    (item,) = make_items(detection, 1)
    before = snapshot()
    response = post(api(labeler), item.pk, value)
    assert response.status_code == 400, response.data
    assert message in response.data["value"][0], response.data
    assert snapshot() == before
    item.refresh_from_db()
    assert item.n_answers == 0


def test_answer_level_borderline_is_refused_in_a_detection_project(api, detection, labeler):
    (item,) = make_items(detection, 1)
    response = post(api(labeler), item.pk, {"boxes": [box()]}, borderline=True)
    assert response.status_code == 400 and "per shape" in json.dumps(response.data)
    assert not Annotation.objects.exists()


def test_a_revision_keeps_the_earlier_boxes(api, detection, labeler):
    (item,) = make_items(detection, 1)
    client = api(labeler)
    first = {"boxes": [box(0.1, 0.2, 0.6, 0.4)]}
    second = {"boxes": [box(0.1, 0.2, 0.3, 0.4), box(0.4, 0.2, 0.3, 0.4)]}
    assert post(client, item.pk, first).status_code == 201
    response = post(client, item.pk, second)
    assert response.status_code == 201 and response.data["revision"] == 2 and response.data["value"] == second
    annotation = Annotation.objects.get(item=item, labeler=labeler)
    assert json.loads(annotation.revisions.get().value) == first
    item.refresh_from_db()
    assert item.n_answers == 1


def test_a_labeler_never_sees_another_labelers_boxes(api, detection, labeler, labeler2, reviewer):
    (item,) = make_items(detection, 1)
    theirs = {"boxes": [box(0.5, 0.5, 0.2, 0.2, "rock")]}
    assert post(api(labeler2), item.pk, theirs).status_code == 201
    client = api(labeler)
    # The queue offers the item with nothing of labeler2's answer.
    offered = client.get(f"/api/projects/{detection.pk}/next/")
    assert offered.status_code == 200 and "rock" not in json.dumps(offered.data)
    for params in ("", f"?labeler={labeler2.username}", f"?item={item.pk}"):
        listed = client.get(f"/api/projects/{detection.pk}/annotations/{params}").data["results"]
        assert listed == []
    assert post(client, item.pk, {"boxes": [box()]}).status_code == 201
    listed = client.get(f"/api/projects/{detection.pk}/annotations/").data["results"]
    assert [a["labeler"] for a in listed] == [labeler.username]
    everyone = api(reviewer).get(f"/api/projects/{detection.pk}/annotations/").data["results"]
    assert {a["labeler"] for a in everyone} == {labeler.username, labeler2.username}


def test_the_k_overlap_queue_holds_for_detection(api, detection, labeler, labeler2, manager):
    detection.overlap = 1
    detection.save()
    (item,) = make_items(detection, 1)
    assert post(api(labeler2), item.pk, {"boxes": []}).status_code == 201
    response = post(api(labeler), item.pk, {"boxes": [box()]})
    assert response.status_code == 409
    assert api(labeler).get(f"/api/projects/{detection.pk}/next/").status_code == 204


def test_segments_within_the_clip_are_stored(api, segments, labeler):
    (item,) = make_items(segments, 1, stats={"duration": 2.5, "rate": 16000})
    value = {"segments": [{"start": 0.25, "end": 1.5, "label": "speech"}, {"start": 2, "end": 2.5, "label": "speech"}]}
    response = post(api(labeler), item.pk, value)
    assert response.status_code == 201, response.data
    assert response.data["value"] == value


@pytest.mark.parametrize("end", [2.1196, 2.12, 2.136, 2.1696])
def test_a_segment_ending_just_past_the_clip_is_stored_ending_at_it(api, segments, labeler, end):
    # A browser decodes an Ogg/Vorbis clip longer than libsndfile measured it at import (2.136 s against
    # 2.1196 s): a segment dragged to the end of the waveform ends at the clip's stored end (50 ms slack).
    (item,) = make_items(segments, 1, stats={"duration": 2.1196, "rate": 16000})
    response = post(api(labeler), item.pk, {"segments": [{"start": 1.5, "end": end, "label": "speech"}]})
    assert response.status_code == 201, response.data
    assert response.data["value"] == {"segments": [{"start": 1.5, "end": 2.1196, "label": "speech"}]}


@pytest.mark.parametrize(
    "duration, segment, message",
    [
        (2.1196, {"start": 1.0, "end": 2.17, "label": "speech"}, "segments[0]: end = 2.17 s is after the clip's end"),
        (2.1196, {"start": 2.125, "end": 2.13, "label": "speech"}, "start = 2.125 s is at or after the clip's end"),
        # a long clip: 1 % of it (0.6 s of 60 s), not 50 ms
        (60.0, {"start": 1.0, "end": 60.61, "label": "speech"}, "segments[0]: end = 60.61 s is after the clip's end"),
    ],
)
def test_a_segment_ending_beyond_the_slack_is_a_400(api, segments, labeler, duration, segment, message):
    (item,) = make_items(segments, 1, stats={"duration": duration})
    response = post(api(labeler), item.pk, {"segments": [segment]})
    assert response.status_code == 400, response.data
    assert message in response.data["value"][0]


def test_a_segment_within_one_percent_of_a_long_clip_ends_at_it(api, segments, labeler):
    (item,) = make_items(segments, 1, stats={"duration": 60.0})
    response = post(api(labeler), item.pk, {"segments": [{"start": 1.0, "end": 60.5, "label": "speech"}]})
    assert response.status_code == 201, response.data
    assert response.data["value"]["segments"][0]["end"] == 60.0


@pytest.mark.parametrize(
    "segment, message",
    [
        ({"start": 1.0, "end": 3.0, "label": "speech"}, "segments[0]: end = 3 s is after the clip's end (2.5 s)"),
        ({"start": 1.0, "end": 1.0, "label": "speech"}, "segments[0]: end = 1 s must be after start = 1 s"),
        ({"start": -0.5, "end": 1.0, "label": "speech"}, "segments[0]: start = -0.5 s is before the clip"),
        ({"start": 0.0, "end": 1.0, "label": "music"}, 'segments[0]: unknown class "music"'),
        ({"start": 0.0, "end": 1.0, "label": "speech", "borderline": True}, "no borderline option"),
    ],
)
def test_each_bad_segment_is_a_400_naming_it(api, segments, labeler, segment, message):
    (item,) = make_items(segments, 1, stats={"duration": 2.5})
    response = post(api(labeler), item.pk, {"segments": [segment]})
    assert response.status_code == 400, response.data
    assert message in response.data["value"][0]
    assert not Annotation.objects.exists()


def test_segments_sent_without_their_object_are_told_the_shape(api, segments, labeler):
    (item,) = make_items(segments, 1, stats={"duration": 2.5})
    response = post(api(labeler), item.pk, [{"start": 0.0, "end": 1.0, "label": "speech"}])
    assert response.status_code == 400, response.data
    assert 'a segments answer is an object {"segments": [...]}' in response.data["value"][0]
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("value", [{"boxes": []}, ["cat"]])
def test_a_classification_answer_cannot_be_an_object_or_a_list(api, project, labeler, value):
    (item,) = make_items(project, 1)
    response = post(api(labeler), item.pk, value)
    assert response.status_code == 400 and "value" in response.data
    assert not Annotation.objects.exists()


def test_the_labeling_page_is_told_the_clips_duration(api, segments, labeler):
    # The editor bounds segments by it (a browser may decode the clip longer), in the queue and when a
    # recent answer is edited.
    (item,) = make_items(segments, 1, stats={"duration": 2.1196, "rate": 16000})
    client = api(labeler)
    assert client.get(f"/api/projects/{segments.pk}/next/").data["duration"] == 2.1196
    assert post(client, item.pk, {"segments": [{"start": 0.5, "end": 2.1196, "label": "speech"}]}).status_code == 201
    (row,) = client.get(f"/api/projects/{segments.pk}/annotations/?mine=1").data["results"]
    assert row["item_duration"] == 2.1196
