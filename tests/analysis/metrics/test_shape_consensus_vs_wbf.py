"""Box consensus: the median fusion is measured against ensemble-boxes' weighted box fusion on scenes
whose true boxes are known (the touching-digits demo's, with its three simulated labelers)."""

import numpy as np
import pytest
from ensemble_boxes import weighted_boxes_fusion

from analysis.metrics.shapes import consensus, match_shapes, shape_table
from labeling.demo import SCENE_SIZE, _simulated_boxes, touching_scenes

LABELERS = ("alice", "bob", "carol")


def _xywh(shapes):
    return np.array([[s["x"], s["y"], s["w"], s["h"]] for s in shapes]).reshape(-1, 4)


def _f1(predicted, scenes, iou):
    tp = n = 0
    for shapes, scene in zip(predicted, scenes, strict=True):
        truth = [
            {"x": x0 / SCENE_SIZE, "y": y0 / SCENE_SIZE, "w": (x1 - x0) / SCENE_SIZE, "h": (y1 - y0) / SCENE_SIZE,
             "label": str(d)}
            for x0, y0, x1, y1, d in scene["boxes"]
        ]  # fmt: skip
        tp += len(
            match_shapes(
                _xywh(shapes), _xywh(truth), [s["label"] for s in shapes], [s["label"] for s in truth], iou=iou
            )
        )
        n += len(shapes) + len(truth)
    return 2 * tp / n


def _wbf(per_item):
    boxes, scores, labels = [], [], []
    for labeler in LABELERS:
        shapes = per_item[labeler]["boxes"]
        boxes.append([[s["x"], s["y"], s["x"] + s["w"], s["y"] + s["h"]] for s in shapes] or np.zeros((0, 4)))
        scores.append([1.0] * len(shapes))
        labels.append([int(s["label"]) for s in shapes])
    fused, conf, lab = weighted_boxes_fusion(boxes, scores, labels, iou_thr=0.5, skip_box_thr=0.0)
    return [
        {"x": b[0], "y": b[1], "w": b[2] - b[0], "h": b[3] - b[1], "label": str(int(k))}
        for b, c, k in zip(fused, conf, lab, strict=True)
        if c >= 2 / 3 - 1e-6  # a majority of the three labelers drew it
    ]


@pytest.fixture(scope="module")
def scenes_and_answers():
    scenes = touching_scenes(150, seed=41)
    rng = np.random.default_rng(41)
    answers = [{labeler: _simulated_boxes(rng, scene, labeler) for labeler in LABELERS} for scene in scenes]
    return scenes, answers


def test_consensus_is_closer_to_the_truth_than_weighted_box_fusion(scenes_and_answers):
    scenes, answers = scenes_and_answers
    table = shape_table([(n, lab, value) for n, a in enumerate(answers) for lab, value in a.items()], "boxes")
    fused = consensus(table, iou=0.5)
    ours = [fused[n]["boxes"] for n in range(len(scenes))]
    theirs = [_wbf(a) for a in answers]
    assert _f1(ours, scenes, 0.5) >= 0.98 and _f1(theirs, scenes, 0.5) >= 0.98  # both find the digits
    # Tight agreement with the truth is where a median beats a mean: carol's cropped tails and bob's
    # merged boxes pull WBF's corners, not the median's.
    assert _f1(ours, scenes, 0.75) > _f1(theirs, scenes, 0.75)


def test_a_cropped_box_does_not_move_the_fused_corner():
    full = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.4, "label": "7"}
    cropped = {**full, "h": 0.25}
    table = shape_table([(1, "alice", {"boxes": [full]}), (1, "bob", {"boxes": [full]}),
                         (1, "carol", {"boxes": [cropped]})], "boxes")  # fmt: skip
    (box,) = consensus(table)[1]["boxes"]
    assert box["h"] == pytest.approx(0.4) and box["support"] == 3  # the mean would say 0.35
