"""Localized-label metrics: IoU, matching, box/segment F1, split/merge, consensus and COCO AP@0.5."""

import numpy as np
import pytest

from analysis.metrics import MetricUndefined
from analysis.metrics.shapes import (
    average_precision,
    box_f1,
    box_iou,
    consensus,
    match_shapes,
    pooled_f1,
    segment_f1,
    segment_iou,
    shape_agreement,
    shape_table,
    shape_table_from_arrays,
    split_merge,
)


def box(x, y, w, h, label="iguana"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


def seg(start, end, label="speech"):
    return {"start": start, "end": end, "label": label}


# The iguana case. Two iguanas side by side: the left one in x 0.10-0.35, the right one in x 0.40-0.70,
# both in y 0.2-0.6 (height 0.4).
#   ann draws one box round both:        A  = (0.10, 0.2, 0.62, 0.4)  area 0.248
#   bob draws two boxes:                 B1 = (0.10, 0.2, 0.25, 0.4)  area 0.100
#                                        B2 = (0.40, 0.2, 0.30, 0.4)  area 0.120
#   cat leaves out the left one's tail:  C1 = (0.15, 0.2, 0.20, 0.4)  area 0.080 (inside B1)
#                                        C2 = B2                      area 0.120
# IoUs: A-B1 = 0.100/0.248 = 0.403, A-B2 = 0.120/0.248 = 0.484, A-C1 = 0.080/0.248 = 0.323,
#       A-C2 = 0.484, B1-C1 = 0.080/0.100 = 0.8, B2-C2 = 1.
# At IoU 0.5: ann-bob 0 matches, ann-cat 0, bob-cat 2 (B1-C1, B2-C2).
# F1 = 2·Σ matches / Σ shapes of both = 2·2 / ((1+2) + (1+2) + (2+2)) = 4 / 10 = 0.4.
# mean IoU of the matched pairs = (0.8 + 1) / 2 = 0.9.
# split/merge: A holds all of B1 and B2 (each 100 % inside it) and all of C1 and C2: ann → bob n=2,
# ann → cat n=2. No shape of bob or cat covers two shapes of anyone.
IGUANA = [
    ("img1", "ann", {"boxes": [box(0.10, 0.2, 0.62, 0.4)]}),
    ("img1", "bob", {"boxes": [box(0.10, 0.2, 0.25, 0.4), box(0.40, 0.2, 0.30, 0.4)]}),
    ("img1", "cat", {"boxes": [box(0.15, 0.2, 0.20, 0.4), box(0.40, 0.2, 0.30, 0.4)]}),
]


def test_iguana_box_f1_mean_iou_and_split_merge_by_hand():
    report = box_f1(shape_table(IGUANA), n_resamples=20)
    assert report.f1.value == pytest.approx(0.4)
    assert report.mean_iou == pytest.approx(0.9)
    assert report.n_matches == 2 and report.n_pairs == 3 and report.n_items == 1
    assert report.split_merge == [
        {"item": "img1", "one": "ann", "many": "bob", "n": 2},
        {"item": "img1", "one": "ann", "many": "cat", "n": 2},
    ]
    assert report.as_dict()["f1"] == {"value": pytest.approx(0.4), "ci_low": 0.4, "ci_high": 0.4}


def test_iguana_at_a_lower_threshold_the_big_box_matches_the_right_iguana():
    # At IoU 0.3: ann-bob: A matches B2 (0.484 > 0.403); ann-cat: A matches C2 (0.484 > 0.323);
    # bob-cat 2 → 4 matches, F1 = 8 / 10.
    report = box_f1(shape_table(IGUANA), iou=0.3, n_resamples=20)
    assert report.f1.value == pytest.approx(0.8)
    assert report.mean_iou == pytest.approx((0.12 / 0.248 * 2 + 0.8 + 1) / 4)


def test_iguana_per_labeler_against_the_others_consensus():
    # For bob: the others' consensus (at least one of ann and cat: every cluster) is A, C1 and C2
    # (A matched nothing of cat's, so it stays alone). bob's B1-C1 (0.8) and B2-C2 (1) match;
    # F1 = 2·2 / (2 + 3) = 0.8.
    report = box_f1(shape_table(IGUANA), n_resamples=20)
    assert report.per_labeler["bob"]["f1"] == pytest.approx(0.8)
    assert report.per_labeler["bob"]["mean_iou"] == pytest.approx(0.9)
    # ann's one box matches nothing of bob's and cat's fused boxes: F1 0.
    assert report.per_labeler["ann"]["f1"] == 0.0
    assert report.per_labeler["ann"]["map50"] == 0.0


def test_iguana_consensus_fuses_the_matched_boxes_with_support():
    boxes = consensus(shape_table(IGUANA))["img1"]["boxes"]  # default: more than half of 3 → 2
    # (B1 + C1) / 2 on the corners: x1 = 0.125, x2 = 0.35; (B2 + C2) / 2 = B2.
    assert [(round(b["x"], 6), round(b["w"], 6), b["support"]) for b in boxes] == [(0.125, 0.225, 2), (0.4, 0.3, 2)]
    everything = consensus(shape_table(IGUANA), min_support=1)["img1"]["boxes"]
    assert sorted(b["support"] for b in everything) == [1, 2, 2]


def test_consensus_gives_back_the_numbers_drawn_not_their_float_noise():
    # A box's size was its corners' difference: 0.1 + 0.2 drawn came back w = 0.20000000000000004 and
    # 0.7 + 0.123711 came back h = 0.12371100000000002, into the versions' files.
    rows = [
        ("img", "ann", {"boxes": [box(0.1, 0.7, 0.2, 0.123711)]}),
        ("img", "bob", {"boxes": [box(0.1, 0.7, 0.2, 0.123711)]}),
    ]
    (fused,) = consensus(shape_table(rows))["img"]["boxes"]
    assert (fused["x"], fused["y"], fused["w"], fused["h"]) == (0.1, 0.7, 0.2, 0.123711)
    ((alone,),) = [a["boxes"] for a in consensus(shape_table(rows[:1])).values()]
    assert (alone["w"], alone["h"]) == (0.2, 0.123711)


def test_no_shapes_on_either_side_is_full_agreement():
    table = shape_table([("a", "u1", {"boxes": []}), ("a", "u2", {"boxes": []})])
    report = box_f1(table, n_resamples=20)
    assert report.f1.value == 1.0 and report.mean_iou is None and report.split_merge == []


def test_an_empty_answer_against_boxes_is_disagreement_and_adds_to_the_shapes():
    table = shape_table(
        [
            ("a", "u1", {"boxes": []}),
            ("a", "u2", {"boxes": [box(0.1, 0.1, 0.2, 0.2)]}),
            ("b", "u1", {"boxes": [box(0.1, 0.1, 0.2, 0.2)]}),
            ("b", "u2", {"boxes": [box(0.1, 0.1, 0.2, 0.2)]}),
        ]
    )
    # a: 0 matches over 1 shape; b: 1 match over 2 shapes → 2·1 / 3.
    assert box_f1(table, n_resamples=20).f1.value == pytest.approx(2 / 3)


def test_different_labels_never_match():
    table = shape_table(
        [("a", "u1", {"boxes": [box(0.1, 0.1, 0.2, 0.2, "dent")]}), ("a", "u2", {"boxes": [box(0.1, 0.1, 0.2, 0.2)]})]
    )
    report = box_f1(table, n_resamples=20)
    assert report.f1.value == 0.0
    assert report.per_class["dent"] == {"f1": 0.0, "mean_iou": None, "n_shapes": 1}


def test_items_with_one_answer_take_no_part_and_none_pairable_is_undefined():
    with pytest.raises(MetricUndefined):
        box_f1(shape_table([("a", "u1", {"boxes": [box(0, 0, 0.5, 0.5)]})]))


def test_iou_matrices_by_hand():
    m = box_iou([[0, 0, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]], [[0, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]])
    # Overlap of the shifted box with the first: 0.25² = 0.0625 over 0.25 + 0.25 - 0.0625.
    assert m == pytest.approx(np.array([[1, 0, 0], [0.0625 / 0.4375, 0.0625 / 0.4375, 0]]))
    s = segment_iou([[0, 2], [1, 3]], [[1, 2], [5, 6], [np.nan, 1]])
    assert s == pytest.approx(np.array([[0.5, 0, 0], [0.5, 0, 0]]))


def test_matching_maximises_total_iou_not_greedy():
    # a0 overlaps b0 best (0.9) but taking it leaves a1 without a partner; the assignment pairs
    # a0-b1 and a1-b0 for a larger total.
    a = [[0.0, 0.0, 0.5, 0.5], [0.1, 0.0, 0.5, 0.5]]
    b = [[0.05, 0.0, 0.5, 0.5], [0.0, 0.0, 0.45, 0.5]]
    iou = box_iou(a, b)
    pairs = match_shapes(a, b, iou=0.5)
    total = sum(v for _, _, v in pairs)
    assert len(pairs) == 2 and total == pytest.approx(max(iou[0, 0] + iou[1, 1], iou[0, 1] + iou[1, 0]))


def test_vectorised_matching_agrees_with_the_per_pair_solver_on_crowded_random_items():
    rng = np.random.default_rng(7)
    answers = []
    for item in range(60):
        for lab in range(3):
            n = int(rng.integers(0, 6))
            xy = rng.random((n, 2)) * 0.5
            wh = 0.1 + rng.random((n, 2)) * 0.4  # crowded: many ambiguous overlaps
            answers.append((item, lab, [box(*xy[k], *wh[k], label=str(rng.integers(0, 2))) for k in range(n)]))
    table = shape_table(answers)
    matches = shapes = 0
    by = {(i, lab): v for i, lab, v in answers}
    for item in range(60):
        for a in range(3):
            for b in range(a + 1, 3):
                sa, sb = by[(item, a)], by[(item, b)]
                coords = lambda ss: [[s["x"], s["y"], s["w"], s["h"]] for s in ss]  # noqa: E731
                matches += len(match_shapes(coords(sa), coords(sb), [s["label"] for s in sa], [s["label"] for s in sb]))
                shapes += len(sa) + len(sb)
    assert box_f1(table, n_resamples=10, per_labeler=False).f1.value == pytest.approx(2 * matches / shapes)


def test_bootstrap_interval_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(3)
    answers = [
        (i, lab, [box(0.1 + rng.normal(0, 0.03), 0.1, 0.3, 0.3)] if rng.random() > 0.2 else [])
        for i in range(200)
        for lab in range(3)
    ]
    a = box_f1(shape_table(answers), seed=5)
    b = box_f1(shape_table(answers), seed=5)
    assert a.f1 == b.f1 and a.f1.low <= a.f1.value <= a.f1.high and a.f1.low < a.f1.high


def test_segments_f1_split_merge_and_majority_consensus():
    # u1 one segment 0-4 s over two utterances; u2 and u3 two segments (u3's first starts late).
    # u1-u2: 0-4 vs 0-1.8 → 0.45, vs 2-4 → 0.5: matches 2-4. u1-u3: 0-4 vs 0.5-1.8 → 0.325, vs 2-4 → 0.5.
    # u2-u3: 0-1.8 vs 0.5-1.8 → 0.722, 2-4 vs 2-4 → 1. Matches 1 + 1 + 2 = 4 over 3 + 3 + 4 shapes.
    answers = [
        ("clip", "u1", {"segments": [seg(0, 4)]}),
        ("clip", "u2", {"segments": [seg(0, 1.8), seg(2, 4)]}),
        ("clip", "u3", {"segments": [seg(0.5, 1.8), seg(2, 4)]}),
    ]
    table = shape_table(answers, kind="segments")
    report = segment_f1(table, n_resamples=10)
    assert report.f1.value == pytest.approx(8 / 10)
    assert report.split_merge == [
        {"item": "clip", "one": "u1", "many": "u2", "n": 2},
        {"item": "clip", "one": "u1", "many": "u3", "n": 2},
    ]
    # Majority (2 of 3) over time: 0-1.8 (u1 + u2, then all three from 0.5), 1.8-2 only u1, 2-4 all three.
    segments = consensus(table)["clip"]["segments"]
    assert segments == [
        {"start": 0.0, "end": 1.8, "label": "speech", "support": 3},
        {"start": 2.0, "end": 4.0, "label": "speech", "support": 3},
    ]


def test_segments_every_labeler_drew_touching_stay_two_in_the_consensus():
    """Two words, or two turns of one speaker with no pause: [0, 1] and [1, 2] of one class, drawn so by
    every labeler, are two segments in the consensus, not one [0, 2] (the instant between them is covered by
    no one's segment; majority over time saw no gap of any length there)."""
    answers = [(("clip", f"u{n}", {"segments": [seg(0, 1), seg(1, 2)]})) for n in range(3)]
    assert consensus(shape_table(answers, kind="segments"))["clip"]["segments"] == [
        {"start": 0.0, "end": 1.0, "label": "speech", "support": 3},
        {"start": 1.0, "end": 2.0, "label": "speech", "support": 3},
    ]
    # One labeler alone: the consensus is what they drew.
    alone = consensus(shape_table(answers[:1], kind="segments"))["clip"]["segments"]
    assert [(s["start"], s["end"]) for s in alone] == [(0.0, 1.0), (1.0, 2.0)]


def test_segments_a_boundary_a_majority_drew_near_the_same_instant_splits_the_consensus():
    """Labelers never cut at the same millisecond: u0 cuts at 1.0, u1 at 1.04 (touching) and u2 leaves a gap
    of 0.98-1.02 while u3 draws one segment: three of four cut there, the consensus is cut at their median
    (1.0), each part with the support of every labeler. A cut only one of three drew leaves one segment."""
    answers = [
        ("clip", "u0", {"segments": [seg(0, 1.0), seg(1.0, 2)]}),
        ("clip", "u1", {"segments": [seg(0, 1.04), seg(1.04, 2)]}),
        ("clip", "u2", {"segments": [seg(0, 0.98), seg(1.02, 2)]}),
        ("clip", "u3", {"segments": [seg(0, 2)]}),
    ]
    segments = consensus(shape_table(answers, kind="segments"))["clip"]["segments"]
    assert [(s["start"], pytest.approx(s["end"]), s["support"]) for s in segments] == [(0.0, 1.0, 4), (1.0, 2.0, 4)]
    assert segments[1]["start"] == pytest.approx(1.0)
    few = [answers[0], ("clip", "u1", {"segments": [seg(0, 2)]}), answers[3]]
    assert consensus(shape_table(few, kind="segments"))["clip"]["segments"] == [
        {"start": 0.0, "end": 2.0, "label": "speech", "support": 3}
    ]
    # Words of different lengths: u1 runs the last two of three words together; the first cut is three
    # labelers', the second two of three: both kept.
    words = [
        ("clip", "u0", {"segments": [seg(0, 1), seg(1, 2), seg(2, 4)]}),
        ("clip", "u1", {"segments": [seg(0, 1.1), seg(1.1, 4)]}),
        ("clip", "u2", {"segments": [seg(0, 0.9), seg(0.9, 2.1), seg(2.1, 4)]}),
    ]
    cut = consensus(shape_table(words, kind="segments"))["clip"]["segments"]
    assert [(pytest.approx(s["start"]), pytest.approx(s["end"])) for s in cut] == [(0, 1), (1, 2.05), (2.05, 4)]


def test_split_merge_alone_and_from_arrays():
    t = shape_table_from_arrays(
        "boxes", [0, 0, 0], [0, 1, 1], [0, 0, 0], [[0, 0, 1, 1], [0, 0, 0.4, 0.4], [0.5, 0.5, 0.4, 0.4]]
    )
    assert split_merge(t) == [{"item": 0, "one": 0, "many": 1, "n": 2}]


def test_one_box_round_two_objects_of_different_classes_is_a_merge():
    """Two touching digits, a 2 and an 8: ann draws one box labeled 2 round both, bob boxes each. The
    merge is the iguana pattern with a wrong class on top; counting only bob's shapes labeled 2 (one of
    them) it was not reported."""
    answers = [
        ("scene", "ann", {"boxes": [box(0.10, 0.2, 0.60, 0.4, "2")]}),
        ("scene", "bob", {"boxes": [box(0.10, 0.2, 0.28, 0.4, "2"), box(0.40, 0.2, 0.30, 0.4, "8")]}),
    ]
    expected = [{"item": "scene", "one": "ann", "many": "bob", "n": 2}]
    assert split_merge(shape_table(answers)) == expected
    assert shape_agreement(shape_table(answers)).split_merge == expected


def test_a_part_drawn_inside_its_whole_is_not_a_merge():
    """Nested classes: ann boxes the person; bob boxes the person and, inside it, the face. Bob's two
    boxes lie inside ann's, but the face is a detail of the person, not a second object: no row. When bob
    draws the face and a hand and no person, ann's one box holds two of bob's side-by-side boxes."""
    person, face, hand = (
        box(0.2, 0.1, 0.4, 0.8, "person"),
        box(0.3, 0.15, 0.1, 0.1, "face"),
        box(0.45, 0.5, 0.1, 0.1, "hand"),
    )
    nested = [("photo", "ann", {"boxes": [person]}), ("photo", "bob", {"boxes": [person, face]})]
    assert split_merge(shape_table(nested)) == []
    assert shape_agreement(shape_table(nested)).split_merge == []
    parts = [("photo", "ann", {"boxes": [person]}), ("photo", "bob", {"boxes": [face, hand]})]
    assert split_merge(shape_table(parts)) == [{"item": "photo", "one": "ann", "many": "bob", "n": 2}]


# --------------------------------------------------------------------------------------------------
# COCO AP@0.5 against pycocotools
# --------------------------------------------------------------------------------------------------
def _pycocotools_ap50(gt, pred, images, n_classes):
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO()
    coco.dataset = {
        "images": [{"id": int(i), "width": 100, "height": 100} for i in images],
        "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)],
        "annotations": [
            {
                "id": k + 1,
                "image_id": int(i),
                "category_id": int(c) + 1,
                "bbox": [float(v) * 100 for v in b],
                "area": float(b[2] * b[3]) * 10000,
                "iscrowd": 0,
            }  # fmt: skip
            for k, (i, c, b) in enumerate(zip(*gt, strict=True))
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dets = coco.loadRes(
            [
                {"image_id": int(i), "category_id": int(c) + 1, "bbox": [float(v) * 100 for v in b], "score": float(s)}
                for i, c, b, s in zip(*pred, strict=True)
            ]
        )
        ev = COCOeval(coco, dets, "bbox")
        ev.params.areaRng = [[0, 1e10]] * 4  # no area ranges: "all" only matters
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[1]


@pytest.mark.parametrize("seed", range(6))
def test_ap50_matches_pycocotools_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n_img, n_cls = 30, 3
    n_gt = 120
    gi = rng.integers(0, n_img, n_gt)
    gc = rng.integers(0, n_cls, n_gt)
    gb = np.c_[rng.random((n_gt, 2)) * 0.6, 0.05 + rng.random((n_gt, 2)) * 0.35]
    # Predictions: jittered copies of most references, plus random boxes; scores random.
    keep = rng.random(n_gt) < 0.8
    jitter = gb[keep] + rng.normal(0, 0.03, (keep.sum(), 4))
    jitter[:, 2:] = np.abs(jitter[:, 2:]) + 0.01
    n_fp = 60
    pi = np.r_[gi[keep], rng.integers(0, n_img, n_fp)]
    pc = np.r_[gc[keep], rng.integers(0, n_cls, n_fp)]
    pb = np.r_[jitter, np.c_[rng.random((n_fp, 2)) * 0.6, 0.05 + rng.random((n_fp, 2)) * 0.35]]
    ps = rng.random(pi.size)
    ours = average_precision(gt=(gi, gc, gb), pred=(pi, pc, pb, ps))["map"]
    theirs = _pycocotools_ap50((gi, gc, gb), (pi, pc, pb, ps), range(n_img), n_cls)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_ap_of_perfect_predictions_is_one_and_no_reference_is_undefined():
    gb = [[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2]]
    assert average_precision(gt=([0, 1], [0, 0], gb), pred=([0, 1], [0, 0], gb, [0.9, 0.8]))["map"] == 1.0
    with pytest.raises(MetricUndefined):
        average_precision(gt=([], [], np.zeros((0, 4))), pred=([0], [0], [gb[0]], [1.0]))


# --------------------------------------------------------------------------------------------------
# Per labeler: the vectorised leave-one-out against a straightforward loop
# --------------------------------------------------------------------------------------------------
def _slow_per_labeler(answers, kind, iou=0.5):
    """Each labeler against the others' consensus, item by item in plain Python: pairwise
    ``match_shapes`` among the others, clusters by union-find, fused by the median of the corners (boxes)
    or majority over time (segments), then ``match_shapes`` and ``average_precision`` against it."""
    keys = ("x", "y", "w", "h") if kind == "boxes" else ("start", "end")
    by_item = {}
    for item, lab, shapes in answers:
        by_item.setdefault(item, {})[lab] = shapes
    out = {}
    for lab in sorted({lab for _, lab, _ in answers}):
        matches, ious, n_shapes, n_items = 0, [], 0, 0
        gt, pred = ([], [], []), ([], [], [], [])
        for item, drawn in by_item.items():
            if lab not in drawn or len(drawn) < 2:
                continue
            n_items += 1
            need = max(len(drawn) // 2, 1)
            others = [(other, s) for other in sorted(drawn) if other != lab for s in drawn[other]]
            cons = _slow_boxes(others, iou, need) if kind == "boxes" else _slow_segments(others, need)
            mine = drawn[lab]
            pairs = match_shapes(
                [[s[k] for k in keys] for s in mine], [[s[k] for k in keys] for s in cons],
                [s["label"] for s in mine], [s["label"] for s in cons], kind=kind, iou=iou,
            )  # fmt: skip
            matches += len(pairs)
            ious += [v for _, _, v in pairs]
            n_shapes += len(mine) + len(cons)
            for s in cons:
                gt[0].append(item), gt[1].append(s["label"]), gt[2].append([s[k] for k in keys])
            for s in mine:
                pred[0].append(item), pred[1].append(s["label"]), pred[2].append([s[k] for k in keys])
                pred[3].append(1.0)
        entry = {"f1": None, "mean_iou": None, "map50": None, "n_items": n_items}
        if n_items:
            entry["f1"] = 2 * matches / n_shapes if n_shapes else 1.0
            entry["mean_iou"] = float(np.mean(ious)) if ious else None
            if kind == "boxes" and gt[0]:
                entry["map50"] = average_precision(gt=gt, pred=pred)["map"]
        out[lab] = entry
    return out


def _slow_boxes(others, iou, need):
    parent = list(range(len(others)))

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    labs = sorted({lab for lab, _ in others})
    for ia, a in enumerate(labs):
        for b in labs[ia + 1 :]:
            ka = [k for k, (lab, _) in enumerate(others) if lab == a]
            kb = [k for k, (lab, _) in enumerate(others) if lab == b]
            box_of = lambda k: [others[k][1][c] for c in ("x", "y", "w", "h")]  # noqa: E731
            for r, c, _ in match_shapes(
                [box_of(k) for k in ka], [box_of(k) for k in kb],
                [others[k][1]["label"] for k in ka], [others[k][1]["label"] for k in kb], iou=iou,
            ):  # fmt: skip
                parent[root(ka[r])] = root(kb[c])
    clusters = {}
    for k in range(len(others)):
        clusters.setdefault(root(k), []).append(k)
    out = []
    for members in clusters.values():
        if len({others[k][0] for k in members}) < need:
            continue
        corners = np.median(
            [[s["x"], s["y"], s["x"] + s["w"], s["y"] + s["h"]] for s in (others[k][1] for k in members)], 0
        )
        out.append(
            box(
                corners[0], corners[1], corners[2] - corners[0], corners[3] - corners[1], others[members[0]][1]["label"]
            )
        )
    return out


def _slow_segments(others, need):
    """Majority over time, then each run cut where ``need`` labelers cut (see ``_slow_cuts``)."""
    out = []
    for label in sorted({s["label"] for _, s in others}):
        mine = [(lab, s["start"], s["end"]) for lab, s in others if s["label"] == label and s["end"] > s["start"]]
        instants = sorted({v for _, a, b in mine for v in (a, b)})
        runs = []
        for a, b in zip(instants, instants[1:], strict=False):
            cover = len({lab for lab, s, e in mine if s <= a and e >= b})
            if cover >= need:
                if runs and runs[-1][1] == a:
                    runs[-1][1] = b
                else:
                    runs.append([a, b])
        for start, end in runs:
            edges = [start, *_slow_cuts(mine, start, end, need), end]
            for a, b in zip(edges, edges[1:], strict=False):
                inside = sorted({v for _, s, e in mine for v in (s, e) if a < v < b} | {a, b})
                pieces = zip(inside, inside[1:], strict=False)
                support = max(len({lab for lab, s, e in mine if s <= x and e >= y}) for x, y in pieces)
                out.append({"start": a, "end": b, "label": label, "support": support})
    return out


def _slow_cuts(mine, start, end, need):
    """Where ``need`` labelers cut the run [start, end]: a labeler's cut is the instant between two of their
    own segments in a row (overlapping ones joined); two cuts next to each other in time, of two labelers,
    are one when each lies between the middles of the other's two segments around it; a chain of them is one
    cut, at their median."""
    cuts = []  # (cut, labeler, middle of the segment before, middle of the one after)
    for lab in sorted({lab for lab, _, _ in mine}):
        joined = []
        for _, s, e in sorted((m for m in mine if m[0] == lab), key=lambda m: m[1]):
            if joined and s < joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], e)
            else:
                joined.append([s, e])
        for (a, b), (c, d) in zip(joined, joined[1:], strict=False):
            if start < (b + c) / 2 < end:
                cuts.append(((b + c) / 2, lab, (a + b) / 2, (c + d) / 2))
    chains = []
    for cut in sorted(cuts):
        if chains:
            c0, l0, lm0, rm0 = chains[-1][-1]
            if l0 != cut[1] and lm0 < cut[0] < rm0 and cut[2] < c0 < cut[3]:
                chains[-1].append(cut)
                continue
        chains.append([cut])
    return sorted(float(np.median([c[0] for c in chain])) for chain in chains if len({c[1] for c in chain}) >= need)


@pytest.mark.parametrize("seed", range(4))
def test_segment_consensus_of_touching_words_equals_a_straightforward_loop(seed):
    """Words said without pauses: each labeler cuts them a little apart (touching, overlapping a hair or
    leaving one), runs some together, and now and then labels one "noise"; the consensus, cuts included,
    is what the plain loop above makes of it."""
    rng = np.random.default_rng(seed)
    answers = []
    for item in range(30):
        bounds = np.cumsum(rng.uniform(0.2, 1.0, int(rng.integers(2, 7))))
        for lab in range(int(rng.integers(1, 6))):
            cuts = bounds[:-1] + rng.choice([0.0, 0.0, 1, -1], bounds.size - 1) * rng.uniform(0, 0.03, bounds.size - 1)
            keep = rng.random(cuts.size) > 0.2  # some cuts left out: two words run together
            edges = [0.0, *cuts[keep].tolist(), float(bounds[-1])]
            shapes = []
            for a, b in zip(edges, edges[1:], strict=False):
                gap = rng.choice([0.0, 0.0, 0.01, -0.01])
                shapes.append(
                    seg(
                        a + max(gap, 0),
                        b - max(-gap, 0) if b < edges[-1] else b,
                        "noise" if rng.random() < 0.1 else "speech",
                    )
                )
            answers.append((item, f"u{lab}", shapes))
    table = shape_table(answers, kind="segments")
    got = consensus(table)
    by_item = {}
    for item, lab, shapes in answers:
        by_item.setdefault(item, []).extend((lab, s) for s in shapes)
    for item, drawn in by_item.items():
        need = len({lab for lab, _ in drawn}) // 2 + 1
        expected = sorted(_slow_segments(drawn, need), key=lambda s: (s["start"], s["label"]))
        assert sorted(got[item]["segments"], key=lambda s: (s["start"], s["label"])) == [
            {**s, "start": pytest.approx(s["start"]), "end": pytest.approx(s["end"])} for s in expected
        ], item


@pytest.mark.parametrize("kind", ["boxes", "segments"])
@pytest.mark.parametrize("seed", range(4))
def test_per_labeler_equals_a_straightforward_loop_on_random_data(kind, seed):
    # 40 items, 2 to 5 of 6 labelers each (some with nothing drawn), jittered copies of a few objects,
    # some left out, some extra: consensus chains, empty consensus and labelers who share no item.
    rng = np.random.default_rng(seed)
    answers = []
    for item in range(40):
        objects = [(rng.random() * 0.6, rng.random() * 0.6, 0.1 + rng.random() * 0.3, str(rng.integers(0, 2)))
                   for _ in range(int(rng.integers(0, 5)))]  # fmt: skip
        for lab in rng.choice(6, size=int(rng.integers(1, 6)), replace=False).tolist():
            shapes = []
            for x, y, w, label in objects:
                if rng.random() < 0.15:
                    continue
                jx, jy, jw = rng.normal(0, 0.03, 3)
                if kind == "boxes":
                    shapes.append(box(x + jx, y + jy, abs(w + jw) + 0.01, w, label))
                else:
                    shapes.append(seg(10 * (x + jx), 10 * (x + jx + abs(w + jw) + 0.01), label))
            if rng.random() < 0.2:
                shapes.append(box(0.7, 0.7, 0.2, 0.2, "0") if kind == "boxes" else seg(8.0, 9.5, "0"))
            answers.append((item, f"u{lab}", shapes))
    fast = shape_table(answers, kind=kind)
    report = (box_f1 if kind == "boxes" else segment_f1)(fast, n_resamples=10).per_labeler
    slow = _slow_per_labeler(answers, kind)
    assert set(report) == set(slow)
    for lab, expected in slow.items():
        got = report[lab]
        assert got["n_items"] == expected["n_items"]
        for key in ("f1", "mean_iou", "map50"):
            assert (got[key] is None) == (expected[key] is None), (lab, key)
            if expected[key] is not None:
                assert got[key] == pytest.approx(expected[key], abs=1e-9), (lab, key)


@pytest.mark.parametrize("seed", range(4))
def test_pooled_f1_is_the_agreement_reports_f1_and_a_pair_by_pair_count(seed):
    """``pooled_f1`` (campaigns' before / since) against ``shape_agreement``'s point value and against
    ``match_shapes`` run pair by pair in plain Python, on random jittered boxes of 3 labelers."""
    rng = np.random.default_rng(seed)
    answers = []
    for item in range(15):
        truth = [(*rng.random(2) * 0.6, *(0.1 + rng.random(2) * 0.3), int(rng.integers(0, 2))) for _ in range(3)]
        for labeler in range(int(rng.integers(1, 4))):
            drawn = [
                {"x": x + rng.normal(0, 0.03), "y": y, "w": w, "h": h, "label": f"c{c}"}
                for x, y, w, h, c in truth
                if rng.random() < 0.8
            ]
            answers.append((item, labeler, {"boxes": drawn}))
    t = shape_table(answers, kind="boxes")
    num = den = 0
    by_item = {}
    for item, _, obj in answers:
        by_item.setdefault(item, []).append(obj["boxes"])
    for lists in by_item.values():
        for i in range(len(lists)):
            for j in range(i + 1, len(lists)):
                a, b = lists[i], lists[j]
                coords = [[[s[k] for k in "xywh"] for s in x] for x in (a, b)]
                num += 2 * len(match_shapes(*coords, [s["label"] for s in a], [s["label"] for s in b]))
                den += len(a) + len(b)
    assert pooled_f1(t) == pytest.approx(num / den, abs=1e-12)
    assert pooled_f1(t) == pytest.approx(shape_agreement(t, n_resamples=10, per_labeler=False).f1.value, abs=1e-12)
