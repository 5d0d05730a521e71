"""Application CPU of a 100,000-line text manifest import, run in this process (no Celery, no upload),
with the CPU of its PostgreSQL backend, and where the application's CPU goes, per import phase.

    .venv/bin/python benchmarks/import_cpu_bench.py [--lines 100000] [--repeat 2] [--db NAME]
        [--format jsonl|csv] [--profile]

Creates (and drops at the end) a throwaway database on 127.0.0.1:5432 (user postgres). The job is
created as the upload does and run by the same function the Celery task calls
(``import_job_run``); process and backend CPU are read around it, beside the wall time (the machine
is shared: wall times swing with its load). Phases are timed by wrapping the import module's functions
(their own cost is a little CPU). ``--profile``: cProfile (CPU timer) of the last run, by cumulative time.
Target (issue 18): < 2 s of application CPU for 100,000 items. The phases an import module does not
have are left out, so the same file measures an older checkout for a before/after.
"""

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--db", default="labelhub_bench_import_cpu")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {args.db}"], check=True)
    media = tempfile.TemporaryDirectory()
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.db}",
        SECRET_KEY="bench",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        MEDIA_ROOT=media.name,
        CELERY_BROKER_DIR=str(Path(media.name) / "celery"),
        DJANGO_SETTINGS_MODULE="labelhub.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection, connections

    from labeling.models import Item, Job
    from labeling.services import import_jobs, imports
    from labeling.services.projects import project_create

    try:
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench")
        phases = _time_phases(imports)
        collections = _Collections()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        for run in range(args.repeat):
            project = project_create(
                name=f"bench {run}", modality="text", classes=[{"key": "pos"}, {"key": "neg"}], creator=user
            )
            lines = _manifest(args.lines, args.format)
            with mock.patch("labeling.services.jobs.job_enqueue"):
                job = import_jobs.import_job_create(
                    project=project, user=user, upload=SimpleUploadedFile(f"m.{args.format}", lines)
                )
            phases.clear()
            started = time.process_time()
            for _ in imports._manifest_records(
                io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8-sig", newline=""), args.format
            ):
                pass
            parse = time.process_time() - started
            profile = cProfile.Profile(time.process_time) if args.profile and run == args.repeat - 1 else None
            wall, cpu, backend_cpu = time.perf_counter(), time.process_time(), _proc_cpu(backend)
            collections.clear()
            gc.callbacks.append(collections.callback)
            if profile:
                profile.enable()
            import_jobs.import_job_run(job_id=job.pk)
            if profile:
                profile.disable()
            gc.callbacks.remove(collections.callback)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            backend_cpu = _proc_cpu(backend) - backend_cpu
            n = Item.objects.filter(project=project).count()
            status = Job.objects.get(pk=job.pk).status
            print(
                f"import of {n:,} text items ({status}): {wall:.2f} s wall, {cpu:.2f} s application CPU "
                f"(target < 2 s), {backend_cpu:.2f} s PostgreSQL backend CPU"
            )
            print(
                f"  phases (CPU s): reading and parsing the manifest {parse:.2f} (a separate pass), "
                + ", ".join(f"{name} {seconds:.2f}" for name, seconds in phases.items())
            )
            print(f"  garbage collections during the import: {collections}")
            if profile:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        print(f"load average: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} (1 / 5 / 15 min)")
    finally:
        connections.close_all()
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"])
        media.cleanup()


def _manifest(n, fmt):
    """n review lines, each with a tag and a label."""
    texts = [f"review {i}: the product was {'great' if i % 2 else 'awful'}" for i in range(n)]
    if fmt == "csv":
        rows = (f'"{text}",web,{"pos" if i % 2 else "neg"}' for i, text in enumerate(texts))
        return "\n".join(["text,tags,label", *rows]).encode()
    return "\n".join(
        json.dumps({"text": text, "tags": ["web"], "label": "pos" if i % 2 else "neg"}) for i, text in enumerate(texts)
    ).encode()


class _Collections:
    """Python's garbage collections (by generation) and their CPU, counted through ``gc.callbacks``."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.counts, self.cpu, self.started = [0, 0, 0], 0.0, 0.0

    def callback(self, phase, info):
        if phase == "start":
            self.started = time.process_time()
        else:
            self.counts[info["generation"]] += 1
            self.cpu += time.process_time() - self.started

    def __str__(self):
        by_generation = " / ".join(map(str, self.counts))
        return f"{sum(self.counts)} ({by_generation} of generations 0 / 1 / 2), {self.cpu:.2f} s CPU"


def _proc_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_phases(imports):
    """Wrap the import module's phases to add up their CPU; answer the (live) totals.

    ``records_to_rows`` is the manifest reader turning parsed records into a chunk's rows (checks,
    hashing, measuring); a phase's total includes the phases it calls. Reading and parsing the manifest
    is timed by a separate pass before the import (a wrapper per record would cost more than the parse)."""
    totals = {}

    def wrap(owner, name, label=None):
        function = getattr(owner, name, None)
        label = label or name
        if function is None:  # not in this version of the import
            return

        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.process_time() - started

        setattr(owner, name, timed)

    wrap(getattr(imports, "_ManifestReader", None), "add", "records_to_rows")
    for name in (
        "_import_rows",
        "_import_chunk",
        "_prepare",
        "_insert",
        "_insert_copy",
        "_copy_payload",
        "_reserve_ids",
        "_add_tag_links",
    ):
        wrap(imports, name)
    return totals


if __name__ == "__main__":
    main()
