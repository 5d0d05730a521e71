"""Box consensus against the truth: LabelHub's fusion versus `ensemble-boxes`' weighted box fusion.

The scenes are the "Touching digits" demo's (scikit-learn's digit scans composed on 256×256 px, two of
three with two digits touching), whose true boxes are known; the three simulated labelers are the
demo's (alice tight, bob one box round two touching digits, carol cropping the tail of 2, 4, 7, 9), with
a different seed per run. Each consensus keeps the boxes a majority (2 of 3) drew. Prints, per method,
F1 against the true boxes at IoU 0.5 and 0.75, the mean IoU of the matched boxes, how many touching
pairs came out as the two true boxes, and the wall and CPU time of the fusion alone.

Run from the repository root:  .venv/bin/python benchmarks/consensus_bench.py [--scenes 600]
(`ensemble-boxes` is a development dependency: `make install` brings it.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

from ensemble_boxes import weighted_boxes_fusion  # noqa: E402

from analysis.metrics.shapes import consensus, match_shapes, shape_table  # noqa: E402
from labeling.demo import SCENE_SIZE, _simulated_boxes, touching_scenes  # noqa: E402

LABELERS = ("alice", "bob", "carol")


def _xyxy(box):  # ensemble-boxes takes corners
    return [box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]]


def truth_boxes(scene):
    return [
        {"x": x0 / SCENE_SIZE, "y": y0 / SCENE_SIZE, "w": (x1 - x0) / SCENE_SIZE, "h": (y1 - y0) / SCENE_SIZE,
         "label": str(label)}
        for x0, y0, x1, y1, label in scene["boxes"]
    ]  # fmt: skip


def labelhub_consensus(answers):
    table = shape_table(
        [(n, labeler, value) for n, per_item in enumerate(answers) for labeler, value in per_item.items()], "boxes"
    )
    fused = consensus(table, iou=0.5)
    return [fused.get(n, {"boxes": []})["boxes"] for n in range(len(answers))]


def wbf_consensus(answers, *, iou_thr=0.5):
    out = []
    for per_item in answers:
        boxes, scores, labels = [], [], []
        for labeler in LABELERS:
            shapes = per_item[labeler]["boxes"]
            boxes.append([_xyxy(s) for s in shapes] or np.zeros((0, 4)))
            scores.append([1.0] * len(shapes))
            labels.append([int(s["label"]) for s in shapes])
        fused, conf, lab = weighted_boxes_fusion(boxes, scores, labels, iou_thr=iou_thr, skip_box_thr=0.0)
        # With one box per labeler and score 1, the fused confidence is (labelers who drew it) / 3.
        out.append(
            [
                {"x": b[0], "y": b[1], "w": b[2] - b[0], "h": b[3] - b[1], "label": str(int(k))}
                for b, c, k in zip(fused, conf, lab, strict=True)
                if c >= 2 / 3 - 1e-6
            ]
        )
    return out


def score(predicted, scenes):
    tp50 = tp75 = n_pred = n_true = 0
    ious, split_right = [], 0
    for shapes, scene in zip(predicted, scenes, strict=True):
        truth = truth_boxes(scene)
        n_pred += len(shapes)
        n_true += len(truth)
        p = np.array([[s["x"], s["y"], s["w"], s["h"]] for s in shapes]).reshape(-1, 4)
        t = np.array([[s["x"], s["y"], s["w"], s["h"]] for s in truth]).reshape(-1, 4)
        labels_p, labels_t = [s["label"] for s in shapes], [s["label"] for s in truth]
        pairs = match_shapes(p, t, labels_p, labels_t, iou=0.5)
        tp50 += len(pairs)
        ious.extend(iou for _, _, iou in pairs)
        matched_truth = {j for _, j, _ in pairs}
        split_right += sum(1 for a, b in scene["pairs"] if a in matched_truth and b in matched_truth)
        tp75 += len(match_shapes(p, t, labels_p, labels_t, iou=0.75))
    f1 = lambda tp: 2 * tp / (n_pred + n_true)  # noqa: E731
    n_pairs = sum(len(s["pairs"]) for s in scenes)
    return f1(tp50), f1(tp75), float(np.mean(ious)), split_right, n_pairs, n_pred, n_true


def timed(func):
    w0, c0 = time.perf_counter(), time.process_time()
    out = func()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=600)
    parser.add_argument("--seed", type=int, default=41)
    args = parser.parse_args()
    scenes = touching_scenes(args.scenes, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    answers = [{labeler: _simulated_boxes(rng, scene, labeler) for labeler in LABELERS} for scene in scenes]
    print(f"{len(scenes)} scenes, {sum(len(s['boxes']) for s in scenes)} true boxes, 3 labelers (majority kept)")
    print(f"{'method':<34} {'F1@.5':>6} {'F1@.75':>7} {'mIoU':>6} {'pairs split right':>18} {'wall s':>7} {'cpu s':>6}")
    for name, method in (
        ("LabelHub consensus", labelhub_consensus),
        ("ensemble-boxes WBF (iou_thr 0.5)", wbf_consensus),
    ):
        predicted, wall, cpu = timed(lambda method=method: method(answers))
        f50, f75, miou, right, pairs, _, _ = score(predicted, scenes)
        print(f"{name:<34} {f50:6.3f} {f75:7.3f} {miou:6.3f} {right:>9}/{pairs:<8} {wall:7.2f} {cpu:6.2f}")


if __name__ == "__main__":
    main()
