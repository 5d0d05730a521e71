"""Deleting items on PostgreSQL: 10,000 items with 30,000 answers (3 labelers) and 3,000 revisions, out of
a project of 20,000 items whose dataset version holds the other 10,000 (so the deletion reads its manifest
and goes ahead).

    .venv/bin/python benchmarks/item_delete_bench.py [--items 10000] [--db NAME] [--keep]

Creates (and drops, unless ``--keep``) a throwaway database on 127.0.0.1:5432 (user postgres), seeds it
with COPY, builds the version in-process, then times ``items_delete`` as the job runs it: the wall time,
this process's CPU and its PostgreSQL backend's CPU (read from /proc: the server runs on this machine).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _psql(db, sql):
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql], check=True)


def _proc_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--db", default="labelhub_bench_delete")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    _psql("postgres", f"DROP DATABASE IF EXISTS {args.db}")
    _psql("postgres", f"CREATE DATABASE {args.db}")
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.db}",
            "SECRET_KEY": "bench",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "labelhub.settings",
            "LABELHUB_VAR_DIR": f"/tmp/{args.db}-var",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from labeling.models import Annotation, AnnotationRevision, Item, Tag
    from labeling.services import item_deletion, jobs
    from labeling.services.projects import member_add, project_create
    from labeling.services.versions import version_build_run, version_build_start

    call_command("migrate", verbosity=0)
    jobs.task_send = lambda name, *a: None  # no broker: the build runs here, file removals are not sent
    users = get_user_model().objects
    boss = users.create(username="boss")
    project = project_create(name="Bench", modality="text", classes=[{"key": k} for k in ("a", "b", "c")], creator=boss)
    labelers = [users.create(username=f"lab{i}") for i in range(3)]
    for user in labelers:
        member_add(project=project, username=user.username, role="labeler")
    n = args.items
    started = time.perf_counter()
    Item.objects.bulk_create(
        [
            Item(project=project, text=f"text {i}", sha256=hashlib.sha256(str(i).encode()).hexdigest(), n_answers=3)
            for i in range(2 * n)
        ],
        batch_size=5000,
    )
    ids = list(Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    Annotation.objects.bulk_create(
        [
            Annotation(item_id=i, labeler=u, value="abc"[(i + k) % 3 if k else 0])
            for i in ids
            for k, u in enumerate(labelers)
        ],
        batch_size=10000,
    )
    first = Annotation.objects.filter(item_id__in=ids[:n], labeler=labelers[0]).values_list("pk", "value")
    AnnotationRevision.objects.bulk_create(
        [
            AnnotationRevision(annotation_id=pk, value=v, revision=1, answered="2026-01-01T00:00:00Z")
            for pk, v in first[: n // 10 * 3]
        ],
        batch_size=10000,
    )
    keep, _ = Tag.objects.get_or_create(project=project, name="keep")
    Item.tags.through.objects.bulk_create(
        [Item.tags.through(item_id=i, tag_id=keep.pk) for i in ids[n:]], batch_size=10000
    )
    job = version_build_start(project=project, user=boss, recipe={"filters": {"tags": ["keep"]}})
    version_build_run(job_id=job.pk)
    print(f"seeded {2 * n:,} items, {Annotation.objects.count():,} answers in {time.perf_counter() - started:.1f} s")

    doomed = ids[:n]
    scan = time.perf_counter()
    (held,) = item_deletion.versions_holding(project=project, item_ids=ids[n:])
    scan = time.perf_counter() - scan
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    wall, cpu, backend_cpu = time.perf_counter(), time.process_time(), _proc_cpu(backend)
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(item_deletion.items_delete, project=project, item_ids=doomed, user=boss)
        profiler.dump_stats("/tmp/del.prof")
    else:
        result = item_deletion.items_delete(project=project, item_ids=doomed, user=boss)
    report = {
        "items": result["items"],
        "answers": result["answers"],
        "answer_revisions": result["answer_revisions"],
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "backend_cpu_s": round(_proc_cpu(backend) - backend_cpu, 2),
        "left": Item.objects.filter(project=project).count(),
        # reading the version's manifest (its item column) for the kept items, which it holds
        "manifest_scan_s": round(scan, 3),
        "version_holds": held["items"],
    }
    print(json.dumps(report))
    connection.close()
    if not args.keep:
        _psql("postgres", f"DROP DATABASE IF EXISTS {args.db}")


if __name__ == "__main__":
    main()
