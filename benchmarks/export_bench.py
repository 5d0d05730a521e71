"""Dataset version build on PostgreSQL: 1,000,000 items and 3,000,000 answers, built by a real Celery
worker into JSON Lines + Parquet, beside a plain PostgreSQL COPY of the same answers to a file.

    .venv/bin/python benchmarks/export_bench.py [--items 1000000] [--labelers 3] [--csv] [--keep]
        [--db NAME] [--reuse --db NAME] [--redis-db N]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379; creates and
drops a throwaway database of its own (``labelhub_bench_export_PID`` unless --db names one) and takes an
empty Redis database for its broker (the highest free one of 1-15 unless --redis-db names one), so two
runs at once do not drop each other's database nor hand each other's build to their worker. Seeds with
COPY (10 classes, 3 answers per item from labelers of varying accuracy, a tag on every tenth item, two
sources), then:

* the floor: ``COPY (answers of the project) TO STDOUT`` into a local file, with psycopg;
* the build: ``POST``-equivalent ``version_build_start`` with the default recipe (JSON Lines and Parquet;
  ``--csv`` adds CSV), run by a separate ``celery worker --pool solo`` process over Redis, timed from the
  enqueue to the job row saying succeeded; the worker's peak RSS is its ``VmHWM`` from /proc.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DB = f"labelhub_bench_export_{os.getpid()}"  # --db names another
REDIS_DB = None  # --redis-db, or the free one claim_redis_db() takes
REDIS_CLAIM = "labelhub_bench_export"


def claim_redis_db():
    """The highest empty Redis database of 1-15, claimed with a key naming this run (another run skips a
    database holding one); 12, fixed, was flushed by each run under the other's worker."""
    for number in range(15, 0, -1):
        cli = ["redis-cli", "-n", str(number)]
        if subprocess.run([*cli, "DBSIZE"], capture_output=True, text=True, check=True).stdout.strip() != "0":
            continue
        claimed = subprocess.run([*cli, "SET", REDIS_CLAIM, DB, "NX"], capture_output=True, text=True, check=True)
        if claimed.stdout.strip() == "OK":
            return number
    sys.exit("no empty Redis database among 1-15: name one with --redis-db")


def setup_env(media_root, *, reuse=False):
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        SECRET_KEY="bench",
        DEBUG="0",
        MEDIA_ROOT=str(media_root),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="labelhub.settings",
    )
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c"]
    if not reuse:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB}"], check=True)
        subprocess.run([*psql, f"CREATE DATABASE {DB}"], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n_items, n_labelers, n_classes=10, seed=20240607):
    from agreement_bench import copy_rows
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from labeling.models import Annotation, DataSource, Item, Tag
    from labeling.services.projects import member_add, project_create

    owner = get_user_model().objects.create_user("owner")
    project = project_create(
        name="bench", modality="text", classes=[{"key": f"c{k}"} for k in range(n_classes)], creator=owner
    )
    labelers = []
    for r in range(n_labelers):
        user = get_user_model().objects.create_user(f"labeler{r}")
        member_add(project=project, username=user.username, role="labeler")
        labelers.append(user.pk)
    sources = [DataSource.objects.create(project=project, name=n, kind="owned").pk for n in ("web", "app")]
    tag = Tag.objects.create(project=project, name="car noise")
    now = timezone.now()
    started = time.perf_counter()
    copy_rows(
        Item,
        ((project.pk, sources[i % 2], f"query number {i}", f"{i:064x}", "{}", "{}", now) for i in range(n_items)),
        ["project_id", "source_id", "text", "sha256", "metadata", "stats", "created"],
    )
    item_ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    copy_rows(Item.tags.through, ((int(i), tag.pk) for i in item_ids[::10]), ["item_id", "tag_id"])
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = np.linspace(0.9, 0.7, n_labelers)
    correct = rng.random((n_items, n_labelers)) < accuracy
    codes = np.where(correct, truth[:, None], rng.integers(0, n_classes, (n_items, n_labelers)))
    ids = item_ids.tolist()
    rows = ((ids[i], labelers[r], f"c{codes[i, r]}", now, now) for i in range(n_items) for r in range(n_labelers))
    copy_rows(Annotation, rows, ["item_id", "labeler_id", "value", "created", "updated"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"seeded {n_items:,} items and {n_items * n_labelers:,} answers with COPY in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return project


def copy_floor(project, folder):
    """Seconds for a plain COPY of the project's answers (the columns a build reads) into a file."""
    from django.db import connection

    sql = (
        "SELECT a.item_id, a.labeler_id, a.value, a.borderline, a.uncertain, a.out_of_domain "
        "FROM labeling_annotation a JOIN labeling_item i ON i.id = a.item_id "
        f"WHERE i.project_id = {int(project.pk)} ORDER BY a.item_id, a.labeler_id"
    )
    path = os.path.join(folder, "answers.csv")
    connection.ensure_connection()
    started = time.perf_counter()
    with (
        open(path, "wb") as out,
        connection.connection.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy,
    ):
        for block in copy:
            out.write(block)
    elapsed = time.perf_counter() - started
    return elapsed, os.path.getsize(path)


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
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log = []

    def pump():
        for line in process.stdout:
            log.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(90):
        process.kill()
        sys.exit("worker did not start:\n" + "".join(log))
    return process, log


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of ``pid`` (its waited-for children included), 0 when it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / CLK_TCK


def backends_cpu():
    """``{pid: CPU seconds}`` of the PostgreSQL backends connected to the benchmark's database."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres" and f" {DB} " in (entry / "cmdline").read_text():
                    found[int(entry.name)] = cpu_seconds(entry.name)
            except OSError:
                continue
    return found


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(project, user, formats):
    from labeling.models import DatasetVersion, Job
    from labeling.services.versions import version_build_start

    worker, log = start_worker()
    try:
        baseline = peak_rss_mb(worker.pid)
        worker_cpu0, backends0 = cpu_seconds(worker.pid), backends_cpu()
        started = time.perf_counter()
        job = version_build_start(project=project, user=user, recipe={"formats": formats})
        seen = dict(backends0)  # a backend's CPU as last seen: the worker's closes when its task ends
        while True:
            job.refresh_from_db()
            seen.update(backends_cpu())
            if job.status in ("succeeded", "failed"):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(worker.pid)
        seen.update(backends_cpu())
        cpu = {
            "worker": cpu_seconds(worker.pid) - worker_cpu0,
            # sampled every poll (the last moments of a backend that closed are missed); this process's
            # backend, polling the job row meanwhile, is counted too (its share is small)
            "database": sum(c - backends0.get(pid, 0.0) for pid, c in seen.items()),
        }
    finally:
        worker.terminate()
        worker.wait(30)
    if job.status != "succeeded":
        sys.exit(f"build failed: {job.errors}\n{''.join(log[-40:])}")
    job = Job.objects.get(pk=job.pk)
    version = DatasetVersion.objects.get(project=project, number=job.result["version"])
    return version, elapsed, (job.finished - job.started).total_seconds(), rss, baseline, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--labelers", type=int, default=3)
    parser.add_argument("--csv", action="store_true", help="build the CSV export too")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse the database a --keep run left (--db NAME)")
    parser.add_argument("--db", help="database name (default: labelhub_bench_export_PID, this run's own)")
    parser.add_argument("--redis-db", type=int, help="Redis database of the broker, emptied (default: a free one)")
    args = parser.parse_args()
    if args.reuse and not args.db:
        parser.error("--reuse needs --db: the name the --keep run printed")
    global DB, REDIS_DB
    DB = args.db or DB
    if args.redis_db is not None:
        REDIS_DB = args.redis_db
        subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], check=True, capture_output=True)
    else:
        REDIS_DB = claim_redis_db()
    try:
        run(args)
    finally:
        subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], check=True, capture_output=True)
    if args.keep:
        print(f"\nkept database {DB}: --reuse --db {DB} builds from it again")


def run(args):
    with tempfile.TemporaryDirectory() as media:
        setup_env(media, reuse=args.reuse)
        if args.reuse:
            from labeling.models import DatasetVersion, Project

            DatasetVersion.objects.all().delete()  # their files were in an earlier run's temporary folder
            project = Project.objects.get(name="bench")
            args.items = project.items.count()
        else:
            project = seed(args.items, args.labelers)
        floor, size = copy_floor(project, media)
        print(
            f"\nfloor: plain COPY of the {args.items * args.labelers:,} answers to a file: {floor:.2f} s "
            f"({size / 1e6:.0f} MB)"
        )
        formats = ["jsonl", "parquet"] + (["csv"] if args.csv else [])
        version, elapsed, work, rss, baseline, cpu = build(project, project.created_by, formats)
        print(f"\nversion build ({' + '.join(formats)}) by a Celery worker (--pool solo) over Redis:")
        print(f"  enqueue → published   {elapsed:7.2f} s   ({elapsed / floor:.1f}× the COPY floor)   target < 30 s")
        print(f"  worker claim → done   {work:7.2f} s   (phases: {version.info.get('seconds')} s build, rest publish)")
        print(
            f"  CPU: worker {cpu['worker']:.2f} s, database backends {cpu['database']:.2f} s (load average "
            f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}: wall times swing with a shared machine's load)"
        )
        print(f"  worker peak RSS       {rss:7.0f} MB  (idle worker: {baseline:.0f} MB)              target < 500 MB")
        print(
            f"  manifest: {version.counts['items']:,} rows, {version.counts['labeled']:,} labeled; "
            f"left out {version.counts['left_out']}"
        )
        for artifact in version.artifacts.order_by("format"):
            print(f"  {artifact.format:<8} {artifact.size / 1e6:8.1f} MB  sha256 {artifact.sha256[:16]}…")
    from django.db import connections

    connections.close_all()
    if not args.keep:
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"])


if __name__ == "__main__":
    main()
