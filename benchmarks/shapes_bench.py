"""Benchmark of box agreement on 100,000 images × 3 labelers × 5 boxes (1.5 M boxes).

Each image has 5 objects; every labeler draws each object with a small jitter (10 % of the time
one box is left out or a spurious one added), 4 classes, seeded. Prints wall and CPU seconds of
building the table, ``box_f1`` (F1 with a 200-resample bootstrap, mean IoU, per class, split/merge),
the per-labeler part (each labeler against the others' consensus, with mAP@0.5) and ``consensus``.

Then the whole agreement report of a detection project as ``agreement_report_compute`` makes it once
the answers are read (``build_shape_report``: the table, box F1 and its interval, mean IoU, per class,
per labeler F1 and mAP, split/merge, per guideline version), and the Python half of reading the answers:
parsing 300,000 stored JSON values (as PostgreSQL hands them over) into the arrays the report reads
(``ShapeAnswers.from_shapes``). Fetching the rows themselves is measured on PostgreSQL by
``--db N`` (N images × 3 labelers through ``shape_answers``), since 300,000 rows take minutes to insert.

Run from the repository root:  .venv/bin/python benchmarks/shapes_bench.py [--db 10000]
"""

from __future__ import annotations

import argparse
import json
import os
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
    print(f"{label:<58} wall {time.perf_counter() - w0:6.2f} s   cpu {time.process_time() - c0:6.2f} s", flush=True)
    return out


CLASSES = ["scratch", "dent", "pit", "stain"]


def stored_values(item, lab, label, coords, n_images):
    """The stored JSON value of every answer (item, labeler), in (item, labeler) order, as the API
    stores it (``shapes_validate``'s compact form)."""
    order = np.lexsort((lab, item))
    per_answer: list[list[dict]] = [[] for _ in range(n_images * N_LABELERS)]
    for k in order.tolist():
        x, y, w, h = coords[k].tolist()
        per_answer[int(item[k]) * N_LABELERS + int(lab[k])].append(
            {"x": x, "y": y, "w": w, "h": h, "label": CLASSES[int(label[k])]}
        )
    return [json.dumps({"boxes": shapes}, separators=(",", ":")) for shapes in per_answer]


def parse_answers(values, n_images):
    """What ``analysis.selectors.shape_answers`` does with the rows once fetched."""
    from analysis.selectors import ShapeAnswers

    shapes = [json.loads(v)["boxes"] for v in values]
    return ShapeAnswers.from_shapes(
        kind="boxes",
        classes=CLASSES,
        class_names=CLASSES,
        item=np.repeat(np.arange(n_images), N_LABELERS),
        labeler=np.tile(np.arange(1, N_LABELERS + 1), n_images),
        seconds=np.full(n_images * N_LABELERS, 4.0),
        guideline=np.ones(n_images * N_LABELERS, np.int64),
        shapes=shapes,
        labeler_names={k: f"labeler{k}" for k in range(1, N_LABELERS + 1)},
        guideline_versions={1: 1},
    )


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    os.environ.setdefault("SECRET_KEY", "shapes-bench")
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=int, default=0, help="also read N images' answers from PostgreSQL")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    if args.db:
        os.environ["DATABASE_URL"] = f"{args.server}/lh_shapes_bench"
    setup_django()
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

    from analysis.reports import build_shape_report

    values = stored_values(item, lab, label, coords, N_IMAGES)
    answers = timed("parse 300,000 stored answers (json + ShapeAnswers)", lambda: parse_answers(values, N_IMAGES))
    report = timed("whole report (build_shape_report, 200 resamples)", lambda: build_shape_report(answers, iou=0.5))
    f1 = report["box_f1"]
    n_sm = len(report["split_merge"])
    print(f"  box_f1 {f1['value']:.4f} [{f1['ci_low']:.4f}, {f1['ci_high']:.4f}], split/merge items {n_sm}")
    if args.db:
        db_read(args)


def db_read(args):
    """Insert N images × 3 labelers' answers into a throwaway PostgreSQL database (dropped after) and
    time ``shape_answers`` (the SQL fetch and the parse) and the whole ``agreement_report_compute``."""
    import psycopg

    def admin(sql):
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    from django.db import connections

    connections.close_all()
    admin("DROP DATABASE IF EXISTS lh_shapes_bench")
    admin("CREATE DATABASE lh_shapes_bench")
    try:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import transaction

        from analysis.selectors import AnswerFilters, shape_answers
        from analysis.services.agreement import agreement_report_compute
        from labeling.models import Annotation, Item
        from labeling.services.projects import project_create

        call_command("migrate", verbosity=0)
        n = args.db
        users = [get_user_model().objects.create_user(f"labeler{k}") for k in range(1, N_LABELERS + 1)]
        project = project_create(
            name="Shapes bench", modality="image", task_type="detection",
            classes=[{"key": c, "name": c} for c in CLASSES], creator=users[0],
        )  # fmt: skip
        item, lab, label, coords, _ = make()
        keep = item < n
        values = stored_values(item[keep], lab[keep], label[keep], coords[keep], n)
        t0 = time.perf_counter()
        with transaction.atomic():
            items = Item.objects.bulk_create(
                [Item(project=project, original_name=f"s{i}.png", sha256=f"{i:064x}") for i in range(n)],
                batch_size=5000,
            )
            Annotation.objects.bulk_create(
                [
                    Annotation(item=items[k // N_LABELERS], labeler=users[k % N_LABELERS], value=v, seconds=4.0)
                    for k, v in enumerate(values)
                ],
                batch_size=5000,
            )
        print(f"inserted {n:,} images × {N_LABELERS} answers in {time.perf_counter() - t0:.1f} s")
        filters = AnswerFilters()
        got = timed(f"read {n * N_LABELERS:,} answers from PostgreSQL (shape_answers)",
                    lambda: shape_answers(project=project, filters=filters))  # fmt: skip
        assert len(got) == n * N_LABELERS
        timed(f"whole report from PostgreSQL, {n:,} images (agreement_report_compute)",
              lambda: agreement_report_compute(project=project, filters=filters))  # fmt: skip
    finally:
        connections.close_all()
        admin("DROP DATABASE IF EXISTS lh_shapes_bench WITH (FORCE)")


if __name__ == "__main__":
    main()
