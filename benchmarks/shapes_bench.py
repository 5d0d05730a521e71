"""Benchmark of box agreement on 100,000 images × 3 labelers × 5 boxes (1.5 M boxes).

Each image has 5 objects; every labeler draws each object with a small jitter (10 % of the time
one box is left out or a spurious one added), 4 classes, seeded. Prints wall and CPU seconds of
building the table, ``box_f1`` (F1 with a 200-resample bootstrap, mean IoU, per class, split/merge),
the per-labeler part (each labeler against the others' consensus, with mAP@0.5) and ``consensus``.

Run from the repository root:  .venv/bin/python benchmarks/shapes_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics.shapes import _consensus_arrays, _majority, _per_item_counts, box_f1, shape_table_from_arrays  # noqa: E402

N_IMAGES, N_LABELERS, N_BOXES, N_CLASSES, SEED = 100_000, 3, 5, 4, 20240601


def make(seed: int = SEED):
    rng = np.random.default_rng(seed)
    # Objects on a 5-cell row so they rarely overlap; labelers jitter them.
    obj_x = (np.arange(N_BOXES) / N_BOXES + 0.02)[None, :] + rng.random((N_IMAGES, N_BOXES)) * 0.05
    obj_y = rng.random((N_IMAGES, N_BOXES)) * 0.6
    obj_w = 0.1 + rng.random((N_IMAGES, N_BOXES)) * 0.08
    obj_h = 0.1 + rng.random((N_IMAGES, N_BOXES)) * 0.3
    obj_c = rng.integers(0, N_CLASSES, (N_IMAGES, N_BOXES))
    items, labs, labels, coords = [], [], [], []
    for lab in range(N_LABELERS):
        keep = rng.random((N_IMAGES, N_BOXES)) > 0.03
        jit = rng.normal(0, 0.01, (N_IMAGES, N_BOXES, 4))
        c = np.stack([obj_x, obj_y, obj_w, obj_h], axis=2) + jit
        c[..., 2:] = np.abs(c[..., 2:]) + 0.01
        img = np.repeat(np.arange(N_IMAGES)[:, None], N_BOXES, axis=1)
        items.append(img[keep])
        labs.append(np.full(keep.sum(), lab))
        labels.append(obj_c[keep])
        coords.append(c[keep])
    answered = (np.repeat(np.arange(N_IMAGES), N_LABELERS), np.tile(np.arange(N_LABELERS), N_IMAGES))
    return np.concatenate(items), np.concatenate(labs), np.concatenate(labels), np.concatenate(coords), answered


def timed(label, func):
    w0, c0 = time.perf_counter(), time.process_time()
    out = func()
    print(f"{label:<48} wall {time.perf_counter() - w0:6.2f} s   cpu {time.process_time() - c0:6.2f} s", flush=True)
    return out


def main() -> None:
    item, lab, label, coords, answered = make()
    print(f"{N_IMAGES:,} images × {N_LABELERS} labelers, {item.size:,} boxes")
    t = timed("table", lambda: shape_table_from_arrays("boxes", item, lab, label, coords, answered=answered))
    r = timed("box_f1 (F1 + bootstrap, mean IoU, per class, split/merge)", lambda: box_f1(t, per_labeler=False))
    print(f"  box_f1 = {r.f1.value:.4f} [{r.f1.low:.4f}, {r.f1.high:.4f}], mean IoU {r.mean_iou:.4f}")
    r2 = timed("box_f1 with per labeler (consensus of others, mAP@0.5)", lambda: box_f1(t, per_labeler=True))
    for name, row in r2.per_labeler.items():
        print(f"  labeler {name}: F1 {row['f1']:.4f}  mAP@0.5 {row['map50']:.4f}")
    m, _ = _per_item_counts(t)
    timed("consensus arrays (WBF clusters)", lambda: _consensus_arrays(t, _majority(m), None, 0.5))


if __name__ == "__main__":
    main()
