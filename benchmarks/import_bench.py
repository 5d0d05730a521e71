"""Import throughput on PostgreSQL: a 100,000-line text manifest through the API and a Celery worker,
and 5,000 small PNG files uploaded through the API in batches.

    .venv/bin/python benchmarks/import_bench.py [--lines 100000] [--pngs 5000] [--batch 100]

IMPORT_BENCH_DB and IMPORT_BENCH_REDIS_DB name another database and Redis db (default
labelhub_bench_import and 12), for runs beside other ones.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379; creates and
drops a throwaway database. The manifest figure is end to end: from the upload request to the job
row saying succeeded, with a real worker process doing the work. The PNG figure goes through the
API's multipart parsing, validation (Pillow verify + decode), hashing, storage and row inserts.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = os.environ.get("IMPORT_BENCH_DB", "labelhub_bench_import")
REDIS_DB = os.environ.get("IMPORT_BENCH_REDIS_DB", "12")


def _proc_cpu(pid):
    """User + system CPU seconds of a process (from /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid):
    """CPU seconds of a process and its descendants (the Celery worker and its pool process)."""
    total = _proc_cpu(pid)
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(_tree_cpu(int(child)) for child in children)
    return total


def _backend_cpu():
    """{pid: CPU seconds} of the PostgreSQL backends connected to the benchmark database."""
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB])]
    return {pid: _proc_cpu(pid) for pid in pids}


def setup_env(media_root):
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        SECRET_KEY="bench",
        DEBUG="0",
        MEDIA_ROOT=str(media_root),
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver,127.0.0.1",
        DJANGO_SETTINGS_MODULE="labelhub.settings",
    )
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"], check=True
    )
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {DB}"], check=True)
    subprocess.run(["redis-cli", "-n", REDIS_DB, "flushdb"], check=True, capture_output=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_worker():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "labelhub",
            "worker",
            "--loglevel=info",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def pump():
        for line in process.stdout:
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        sys.exit("worker did not start")
    return process


def bench_manifest(client, user, n_lines):
    from labeling.models import Item, Job
    from labeling.services.projects import project_create

    project = project_create(name="bench-text", modality="text", classes=[{"key": "pos"}, {"key": "neg"}], creator=user)
    lines = "\n".join(
        json.dumps(
            {
                "text": f"review {i}: the product was {'great' if i % 2 else 'awful'}",
                "tags": ["web"],
                "label": "pos" if i % 2 else "neg",
            }
        )
        for i in range(n_lines)
    ).encode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    worker = start_worker()
    try:
        # CPU of the worker process and of every backend from here to the job's end: the import's
        # application and database CPU (the machine is shared: wall times swing with its load).
        worker_cpu, backends = _tree_cpu(worker.pid), _backend_cpu()
        last = dict(backends)  # each backend's CPU at its last sample (the worker's closes after the task)
        started = time.perf_counter()
        response = client.post(
            f"/api/projects/{project.pk}/imports/", {"file": SimpleUploadedFile("m.jsonl", lines)}, format="multipart"
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["job"]
        posted = time.perf_counter()
        polls = 0
        while True:
            job = Job.objects.get(pk=job_id)
            if job.status in ("succeeded", "failed"):
                break
            polls += 1
            if polls % 10 == 0:
                last.update({pid: cpu for pid, cpu in _backend_cpu().items() if cpu})
            time.sleep(0.01)
        finished = time.perf_counter()
        worker_cpu = _tree_cpu(worker.pid) - worker_cpu
        last.update({pid: cpu for pid, cpu in _backend_cpu().items() if cpu})
        backend_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in last.items())
    finally:
        worker.terminate()
        worker.wait()
    assert job.status == "succeeded", job.errors[:3]
    n = Item.objects.filter(project=project).count()
    total = finished - started
    work = (job.finished - job.started).total_seconds()
    queued = (job.finished - job.created).total_seconds()
    print(f"manifest: {n:,} text items from a {len(lines) / 1e6:.1f} MB JSONL manifest")
    print(f"  upload request      {posted - started:7.2f} s")
    print(f"  worker (claim→done) {work:7.2f} s")
    print(f"  job queued → succeeded {queued:7.2f} s   ({n / queued:,.0f} items/s)   target < 5 s")
    print(f"  request start → succeeded {total:7.2f} s (includes sending the 8 MB upload)")
    print(
        f"  CPU: worker process {worker_cpu:.2f} s (target < 2 s), PostgreSQL backends {backend_cpu:.2f} s "
        f"(this client's polling "
        "included; sampled every ~0.1 s, so the last moments of a backend that closes may be "
        f"missed); load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


def bench_pngs(client, user, n_files, batch):
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from labeling.services.projects import project_create

    project = project_create(name="bench-png", modality="image", classes=[{"key": "a"}, {"key": "b"}], creator=user)
    rng = np.random.default_rng(0)
    files = []
    for i in range(n_files):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), mode="L").save(buffer, format="PNG")
        files.append((f"{i}.png", buffer.getvalue()))
    size = sum(len(f[1]) for f in files)
    imported = 0
    started = time.perf_counter()
    for start in range(0, n_files, batch):
        payload = {"files": [SimpleUploadedFile(n, d) for n, d in files[start : start + batch]]}
        response = client.post(f"/api/projects/{project.pk}/items/", payload, format="multipart")
        assert response.status_code == 201, response.content[:300]
        imported += len(response.json()["imported"])
    elapsed = time.perf_counter() - started
    print(f"uploads: {imported:,} PNGs of 64x64 ({size / 1e6:.1f} MB) in batches of {batch}")
    print(f"  {elapsed:7.2f} s   ({imported / elapsed:,.0f} files/s)   target >= 300 files/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--pngs", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as media:
        setup_env(Path(media))
        from django.contrib.auth import get_user_model
        from rest_framework.test import APIClient

        user = get_user_model().objects.create_user("bench", password="bench")
        client = APIClient()
        client.force_authenticate(user)
        try:
            bench_manifest(client, user, args.lines)
            bench_pngs(client, user, args.pngs, args.batch)
        finally:
            from django.db import connections

            connections.close_all()
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"])


if __name__ == "__main__":
    main()
