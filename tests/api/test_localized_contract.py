"""The public contract's "Localized answers" section, checked from the outside: the agreement report's
`box_f1` / `segment_f1` and `mean_iou` recomputed from the raw-answers export by the document's own
definition (shapes of every pair of an item's labelers matched one to one to maximise total IoU among
pairs with IoU >= `iou` and the same label; 2 * matches / shapes of both, summed over (item, pair)), with
scipy's assignment solver and none of LabelHub's matching code; and `split_merge` rows in their shape."""

import itertools
import json
import random

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import answer, labelers

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "a"}, {"key": "b"}]


def _iou(kind, s, t):
    if kind == "boxes":
        ix = max(0.0, min(s["x"] + s["w"], t["x"] + t["w"]) - max(s["x"], t["x"]))
        iy = max(0.0, min(s["y"] + s["h"], t["y"] + t["h"]) - max(s["y"], t["y"]))
        inter, union = ix * iy, s["w"] * s["h"] + t["w"] * t["h"] - ix * iy
    else:
        inter = max(0.0, min(s["end"], t["end"]) - max(s["start"], t["start"]))
        union = (s["end"] - s["start"]) + (t["end"] - t["start"]) - inter
    return inter / union if union > 0 else 0.0


def contract_f1(rows, kind, threshold):
    """(F1, mean IoU of the matches) by the contract's words, from export rows."""
    by_item = {}
    for row in rows:
        by_item.setdefault(row["item"], {})[row["labeler"]] = row["value"][kind]
    matches, shapes, ious = 0, 0, []
    for answers in by_item.values():
        for (_, first), (_, second) in itertools.combinations(sorted(answers.items()), 2):
            shapes += len(first) + len(second)
            if not first or not second:
                continue
            weight = np.zeros((len(first), len(second)))
            for i, s in enumerate(first):
                for j, t in enumerate(second):
                    value = _iou(kind, s, t)
                    if value >= threshold and s["label"] == t["label"]:
                        weight[i, j] = value
            rows_i, cols_j = linear_sum_assignment(weight, maximize=True)
            matched = [weight[i, j] for i, j in zip(rows_i, cols_j, strict=True) if weight[i, j] > 0]
            matches += len(matched)
            ious += matched
    return 2 * matches / shapes, sum(ious) / len(ious)


def random_box(rng):
    w, h = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)
    return {"x": rng.uniform(0, 1 - w), "y": rng.uniform(0, 1 - h), "w": w, "h": h, "label": rng.choice("ab")}


def jitter_box(rng, box):
    out = dict(box)
    out["x"] = min(max(0.0, box["x"] + rng.uniform(-0.04, 0.04)), 1 - box["w"])
    out["y"] = min(max(0.0, box["y"] + rng.uniform(-0.04, 0.04)), 1 - box["h"])
    if rng.random() < 0.1:
        out["label"] = "b" if box["label"] == "a" else "a"
    return out


def random_segment(rng):
    start = rng.uniform(0, 8)
    return {"start": start, "end": start + rng.uniform(0.2, 2.0), "label": rng.choice("ab")}


def jitter_segment(rng, seg):
    start = max(0.0, seg["start"] + rng.uniform(-0.3, 0.3))
    return {"start": start, "end": max(start + 0.05, seg["end"] + rng.uniform(-0.3, 0.3)), "label": seg["label"]}


def _fill(project, rng, kind, new, jitter, stats):
    members = labelers(project, 3, prefix=f"{kind}-")
    for item in make_items(project, 12, stats=stats):
        truth = [new(rng) for _ in range(rng.randint(0, 4))]
        for user in members:
            drawn = [jitter(rng, s) for s in truth if rng.random() > 0.15]
            if rng.random() < 0.3:
                drawn.append(new(rng))
            answer(item, user, json.dumps({kind: drawn}))


@pytest.fixture
def boxes_project(manager, reviewer):
    project = make_project(manager, name="Boxes", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=reviewer.username, role="reviewer")
    _fill(project, random.Random(7), "boxes", random_box, jitter_box, {"width": 100, "height": 100})
    # and one item where "merger" draws one box round the two that "splitter" drew
    (item,) = make_items(project, 1, start=100, stats={"width": 100, "height": 100})
    merger, splitter = labelers(project, 2, prefix="sm-")
    two = [
        {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "a"},
        {"x": 0.32, "y": 0.1, "w": 0.2, "h": 0.2, "label": "a"},
    ]
    answer(item, merger, json.dumps({"boxes": [{"x": 0.08, "y": 0.08, "w": 0.46, "h": 0.24, "label": "a"}]}))
    answer(item, splitter, json.dumps({"boxes": two}))
    project.merged_item = item.pk
    return project


@pytest.fixture
def segments_project(manager, reviewer):
    project = make_project(manager, name="Regions", modality="audio", task_type="segments", classes=CLASSES)
    member_add(project=project, username=reviewer.username, role="reviewer")
    _fill(project, random.Random(11), "segments", random_segment, jitter_segment, {"duration": 12.0})
    return project


def exported(client, project):
    response = client.get(f"/api/projects/{project.pk}/annotations/export?format=jsonl")
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.75])
def test_box_f1_and_mean_iou_follow_the_documents_definition(api, reviewer, boxes_project, threshold):
    client = api(reviewer)
    rows = exported(client, boxes_project)
    expected_f1, expected_iou = contract_f1(rows, "boxes", threshold)
    query = "" if threshold == 0.5 else f"?iou={threshold}"  # 0.5 is the documented default
    report = client.get(f"/api/projects/{boxes_project.pk}/agreement/{query}").json()
    assert 0 < expected_f1 < 1
    assert set(report["box_f1"]) == {"value", "ci_low", "ci_high"}
    assert report["box_f1"]["value"] == pytest.approx(expected_f1)
    assert report["box_f1"]["ci_low"] <= report["box_f1"]["value"] <= report["box_f1"]["ci_high"]
    assert report["mean_iou"] == pytest.approx(expected_iou)
    assert "segment_f1" not in report


def test_segment_f1_follows_the_documents_definition(api, reviewer, segments_project):
    client = api(reviewer)
    expected_f1, expected_iou = contract_f1(exported(client, segments_project), "segments", 0.5)
    report = client.get(f"/api/projects/{segments_project.pk}/agreement/").json()
    assert 0 < expected_f1 < 1
    assert report["segment_f1"]["value"] == pytest.approx(expected_f1)
    assert report["mean_iou"] == pytest.approx(expected_iou)


def test_split_merge_rows_have_the_documented_shape(api, reviewer, boxes_project):
    report = api(reviewer).get(f"/api/projects/{boxes_project.pk}/agreement/").json()
    usernames = {row["labeler"] for row in report["per_labeler"]}
    assert report["split_merge"], "the fixture's item with a merged box is listed"
    for row in report["split_merge"]:
        assert set(row) == {"item", "one", "many", "n"}
        assert isinstance(row["item"], int) and row["n"] >= 2
        assert row["one"] in usernames and row["many"] in usernames and row["one"] != row["many"]
    assert {"item": boxes_project.merged_item, "one": "sm-0", "many": "sm-1", "n": 2} in report["split_merge"]
