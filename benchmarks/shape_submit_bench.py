"""Server and database CPU of one submit: a classification answer against a 20-box detection answer.

The issue's target: a 20-box answer costs at most 1.5× a classification answer's server CPU. Creates a
throwaway PostgreSQL database (dropped at the end unless --keep), two image projects on the same
small PNGs (one classification, one detection with five classes) and a labeler in both, and runs the
loop the labeling page runs (POST /api/items/{id}/annotations/?next=1, token-authenticated) through
Django's WSGI handler in this process, as a gunicorn sync worker does — the method of
``db_health_bench.py``, whose helpers it reuses. Rounds alternate between the two kinds. For each it
prints wall time per submit, the CPU of the server (this process) and of the PostgreSQL backend
serving it (from /proc/<pid>/stat, so PostgreSQL must run on this machine), and the ratio. Last, the
validation of a 20-box answer alone (``shapes_validate``) in microseconds.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/shape_submit_bench.py [--requests 400] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from db_health_bench import admin, backend_cpu, request  # noqa: E402

N_BOXES = 20
CLASSES = [{"key": k, "name": k} for k in ("scratch", "dent", "pit", "stain", "crack")]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="lh_shape_submit_bench")
    parser.add_argument("--requests", type=int, default=400, help="measured submits per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def setup_django(args):
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("SECRET_KEY", "shape-submit-bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("MEDIA_ROOT", f"/tmp/{args.database}-media")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    from django.db import connection

    # One backend for the whole run (its CPU is read from /proc): rounds on a loaded machine outlast
    # the default 60 s connection age.
    connection.settings_dict["CONN_MAX_AGE"] = None


def png(seed):
    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (32, 32), random.Random(seed).randbytes(32 * 32 * 3)).save(buf, "PNG")  # unique
    return buf.getvalue()


def seed(n_items):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.services import token_create
    from labeling.choices import Role
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    manager = get_user_model().objects.create_user("bench-manager", password="x", is_staff=True)
    labeler = get_user_model().objects.create_user("bench-labeler", password="x")
    projects = {}
    for task in ("classification", "detection"):
        project = project_create(
            name=f"Submit bench {task}", modality="image", task_type=task, classes=CLASSES, creator=manager, overlap=1
        )
        member_add(project=project, username=labeler.username, role=Role.LABELER)
        entries = [ImportEntry(name=f"p{i}.png", load=lambda i=i: png(i)) for i in range(n_items)]
        report = items_import(project=project, entries=entries)
        assert len(report.imported) == n_items, (len(report.imported), report.rejected[:3])
        projects[task] = project
    return projects, token_create(user=labeler, name="shape submit bench")[1]


def boxes(rng):
    out = []
    for _ in range(N_BOXES):
        w, h = rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.2)
        out.append(
            {"x": round(rng.uniform(0, 1 - w), 4), "y": round(rng.uniform(0, 1 - h), 4), "w": round(w, 4),
             "h": round(h, 4), "label": rng.choice(CLASSES)["key"]}
        )  # fmt: skip
    return {"boxes": out}


def run(handler, project, token, task, n, rng):
    from django.db import connection

    status, body = request(handler, "GET", f"/api/projects/{project.pk}/next/", token)
    assert status == 200, body[:300]
    item = json.loads(body)["id"]
    bodies = [
        json.dumps({"value": rng.choice(CLASSES)["key"] if task == "classification" else boxes(rng)}).encode()
        for _ in range(n)
    ]
    pid = connection.cursor().connection.info.backend_pid
    latencies = []
    cpu0, db0, wall0 = time.process_time(), backend_cpu(pid), time.perf_counter()
    for body_out in bodies:
        t = time.perf_counter()
        status, body = request(handler, "POST", f"/api/items/{item}/annotations/?next=1", token, body_out)
        latencies.append(time.perf_counter() - t)
        assert status == 201, body[:300]
        item = json.loads(body)["next"]["id"]
    wall = time.perf_counter() - wall0
    cpu, db = time.process_time() - cpu0, backend_cpu(pid) - db0
    assert connection.cursor().connection.info.backend_pid == pid, "the connection should have persisted"
    return {"wall": wall / n, "p50": statistics.median(latencies), "server_cpu": cpu / n, "db_cpu": db / n}


def validation_alone(project, n=20_000):
    from labeling.services.shapes import shapes_validate

    value = boxes(random.Random(1))
    keys = [c["key"] for c in CLASSES]
    t0 = time.process_time()
    for _ in range(n):
        shapes_validate(project=project, value=value, class_keys=keys)
    return (time.process_time() - t0) / n


def main():
    args = parse_args()
    admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}"')
    admin(args.server, f'CREATE DATABASE "{args.database}"')
    try:
        setup_django(args)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection

        n_items = (args.rounds + 1) * (args.requests + 1) + 10
        t0 = time.perf_counter()
        projects, token = seed(n_items)
        print(f"seeded 2 × {n_items} images in {time.perf_counter() - t0:.1f} s")
        handler = WSGIHandler()
        rng = random.Random(0)
        for task in projects:  # warm-up: imports, prepared statements
            run(handler, projects[task], token, task, args.requests // 4, rng)
        results = {task: [] for task in projects}
        for _ in range(args.rounds):
            for task in projects:
                results[task].append(run(handler, projects[task], token, task, args.requests, rng))
        print(f"POST answer + next, {args.requests} submits × {args.rounds} rounds per kind (medians of rounds)")
        print(f"{'answer':<22} {'wall ms':>8} {'p50 ms':>8} {'server CPU ms':>14} {'db CPU ms':>10}")
        med = {}
        for task, rows in results.items():
            med[task] = {k: statistics.median(r[k] for r in rows) * 1000 for k in rows[0]}
            m = med[task]
            name = "classification" if task == "classification" else f"detection, {N_BOXES} boxes"
            print(f"{name:<22} {m['wall']:>8.3f} {m['p50']:>8.3f} {m['server_cpu']:>14.3f} {m['db_cpu']:>10.3f}")
        ratio = med["detection"]["server_cpu"] / med["classification"]["server_cpu"]
        db_ratio = med["detection"]["db_cpu"] / max(med["classification"]["db_cpu"], 1e-9)
        print(f"20-box / classification: server CPU {ratio:.2f}×, database CPU {db_ratio:.2f}× (target: server ≤ 1.5×)")
        us = validation_alone(projects["detection"]) * 1e6
        print(f"shapes_validate of a {N_BOXES}-box answer alone: {us:.1f} µs CPU")
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
