"""The mAP@0.5 helpers of the detection error analysis: model shapes against references, labelers
against the others' consensus (checked against pycocotools and against the agreement's per labeler)."""

import numpy as np
import pytest

from analysis.metrics.shapes import (
    labeler_average_precision,
    shape_agreement,
    shape_table,
    shapes_average_precision,
)
from tests.analysis.metrics.test_shapes import _pycocotools_ap50

pytest.importorskip("pycocotools")


def _boxes(rng, n):
    xy = rng.random((n, 2)) * 0.6
    wh = 0.05 + rng.random((n, 2)) * 0.35
    return np.c_[xy, wh]


@pytest.mark.parametrize("seed", range(3))
def test_shapes_average_precision_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    n_img, classes = 20, ["a", "b", "c"]
    reference, predicted = {}, {}
    gt, pred = ([], [], []), ([], [], [], [])
    for item in range(n_img):
        ref = []
        for b, c in zip(_boxes(rng, int(rng.integers(0, 5))), rng.integers(0, 3, 5), strict=False):
            ref.append({"x": b[0], "y": b[1], "w": b[2], "h": b[3], "label": classes[c]})
            for k, v in enumerate((item, int(c), b)):
                gt[k].append(v)
        reference[item] = ref
        out = []
        for shape in ref:
            if rng.random() < 0.7:
                jitter = np.array([shape["x"], shape["y"], shape["w"], shape["h"]]) + rng.normal(0, 0.02, 4)
                jitter[2:] = np.abs(jitter[2:]) + 0.01
                out.append({"x": jitter[0], "y": jitter[1], "w": jitter[2], "h": jitter[3], "label": shape["label"]})
        for b, c in zip(_boxes(rng, 2), rng.integers(0, 3, 2), strict=True):
            out.append({"x": b[0], "y": b[1], "w": b[2], "h": b[3], "label": classes[c]})
        for shape in out:
            shape["confidence"] = float(rng.random())
            box = [shape["x"], shape["y"], shape["w"], shape["h"]]
            for k, v in enumerate((item, classes.index(shape["label"]), box, shape["confidence"])):
                pred[k].append(v)
        predicted[item] = out
    ours = shapes_average_precision(kind="boxes", reference=reference, predicted=predicted)["map"]
    theirs = _pycocotools_ap50(
        (np.array(gt[0]), np.array(gt[1]), np.array(gt[2])),
        (np.array(pred[0]), np.array(pred[1]), np.array(pred[2]).reshape(-1, 4), np.array(pred[3])),
        range(n_img),
        3,
    )
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_segments_are_scored_by_their_own_iou():
    ref = {1: [{"start": 0.0, "end": 1.0, "label": "s"}]}

    def ap(end):
        pred = {1: [{"start": 0.0, "end": end, "label": "s", "confidence": 0.5}]}
        return shapes_average_precision(kind="segments", reference=ref, predicted=pred)["map"]

    assert ap(1.5) == 1.0  # IoU 1 / 1.5 = 0.67
    assert ap(2.5) == 0.0  # IoU 0.4
    assert shapes_average_precision(kind="segments", reference={1: []}, predicted={1: []}) is None


def test_predictions_on_items_without_a_reference_are_ignored_and_missed_items_lower_recall():
    ref = {
        1: [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "a"}],
        2: [{"x": 0.5, "y": 0.5, "w": 0.2, "h": 0.2, "label": "a"}],
    }
    pred = {1: [{**ref[1][0], "confidence": 0.9}], 3: [{**ref[1][0], "confidence": 0.99}]}
    assert shapes_average_precision(kind="boxes", reference=ref, predicted=pred)["map"] == pytest.approx(51 / 101)


@pytest.mark.parametrize("seed", range(3))
def test_labeler_ap_is_the_agreement_reports_per_labeler_map50(seed):
    rng = np.random.default_rng(seed)
    answers = []
    for item in range(15):
        truth = _boxes(rng, int(rng.integers(1, 4)))
        for labeler in ("u", "v", "w"):
            shapes = [
                {"x": b[0] + rng.normal(0, 0.02), "y": b[1], "w": b[2], "h": b[3], "label": "a"}
                for b in truth
                if rng.random() < 0.8
            ]
            answers.append((item, labeler, {"boxes": shapes}))
    table = shape_table(answers, kind="boxes")
    ours = labeler_average_precision(table)
    theirs = shape_agreement(table, n_resamples=1).per_labeler
    for labeler in ("u", "v", "w"):
        assert ours[labeler]["map50"] == pytest.approx(theirs[labeler]["map50"])
        assert ours[labeler]["ap_per_class"]["a"] == pytest.approx(theirs[labeler]["map50"])
