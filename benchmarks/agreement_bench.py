"""Agreement report speed and memory on PostgreSQL: 1,000,000 answers (200,000 items × 5 labelers,
10 % missing, 10 classes).

    .venv/bin/python benchmarks/agreement_bench.py [--items 200000] [--labelers 5] [--db NAME]
        [--reuse] [--keep] [--skip-functions] [--repeat 3]

Seeds a throwaway PostgreSQL database (127.0.0.1:5432, user postgres), then prints each metric
function's time on the answer matrix, the `krippendorff` package's nominal alpha beside ours, and the
full report (database read + every metric + 200 bootstrap resamples) timed in a fresh process with its
peak RSS — the work `GET /api/projects/{id}/agreement/` does — with the CPU seconds of that process and
of its PostgreSQL backends (Django's connection, those a split read opens beside it and the parallel
workers of any of them) beside the wall time (the machine is shared: wall times swing with its load),
and the database read alone (wall, CPU, backend CPU). ``--keep`` keeps the database and ``--reuse``
skips seeding when it is there; ``--repeat`` runs the fresh process that many times.
"""

import argparse
import contextlib
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DB = os.environ.get("AGREEMENT_BENCH_DB", "labelhub_bench_agreement")


def env():
    return {
        **os.environ,
        "AGREEMENT_BENCH_DB": DB,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "SECRET_KEY": "bench",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "labelhub.settings",
    }


def django_setup():
    os.environ.update(env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def copy_rows(model, rows, columns):
    """COPY rows into a model's table; columns not given get their model default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    index = {c: i for i, c in enumerate(columns)}
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection=connection) for f in fields}
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row([row[index[f.attname]] if f.attname in index else defaults[f.attname] for f in fields])


def seed(n_items, n_labelers, n_classes=10, missing=0.10, seed=20240601):
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"], check=True
    )
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {DB}"], check=True)
    django_setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from labeling.models import Annotation, Item
    from labeling.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("owner")
    project = project_create(
        name="bench", modality="text", classes=[{"key": f"c{k}"} for k in range(n_classes)], creator=owner
    )
    labelers = []
    for r in range(n_labelers):
        user = get_user_model().objects.create_user(f"labeler{r}")
        member_add(project=project, username=user.username, role="labeler")
        labelers.append(user.pk)
    now = timezone.now()
    started = time.perf_counter()
    copy_rows(
        Item,
        ((project.pk, f"item {i}", f"{i:064x}", "{}", "{}", now) for i in range(n_items)),
        ["project_id", "text", "sha256", "metadata", "stats", "created"],
    )
    item_ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = np.linspace(0.9, 0.6, n_labelers)
    answered = rng.random((n_items, n_labelers)) >= missing
    correct = rng.random((n_items, n_labelers)) < accuracy
    noise = rng.integers(0, n_classes, (n_items, n_labelers))
    codes = np.where(correct, truth[:, None], noise)
    rows = (
        (int(item_ids[i]), labelers[r], f"c{codes[i, r]}", float(2 + (i % 7)), now, now)
        for i, r in zip(*np.nonzero(answered), strict=True)
    )
    copy_rows(Annotation, rows, ["item_id", "labeler_id", "value", "seconds", "created", "updated"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    n_answers = int(answered.sum())
    elapsed = time.perf_counter() - started
    print(f"seeded {n_items:,} items × {n_labelers} labelers = {n_answers:,} answers in {elapsed:.1f} s")
    return project.pk


def time_functions(project_id):
    import krippendorff

    from analysis import metrics
    from analysis.selectors import AnswerFilters, answer_table
    from labeling.models import Project

    project = Project.objects.get(pk=project_id)
    started = time.perf_counter()
    table = answer_table(project=project, filters=AnswerFilters())
    read = time.perf_counter() - started
    codes, _, _ = table.matrix()
    ratings = np.where(codes >= 0, codes, np.nan).astype(np.float64)
    cats = list(range(len(table.categories)))
    print(f"\ndatabase read into a {codes.shape[0]:,} × {codes.shape[1]} matrix: {read:.2f} s")
    print(f"\n{'metric':<44} {'seconds':>8}  result")
    rows = [
        ("krippendorff_alpha nominal", lambda: metrics.krippendorff_alpha(ratings, "nominal")),
        ("krippendorff_alpha ordinal", lambda: metrics.krippendorff_alpha(ratings, "ordinal")),
        ("krippendorff_alpha interval", lambda: metrics.krippendorff_alpha(ratings, "interval")),
        ("krippendorff_alpha ratio", lambda: metrics.krippendorff_alpha(ratings + 1, "ratio")),
        ("fleiss_kappa (incomplete='drop')", lambda: metrics.fleiss_kappa(ratings, incomplete="drop")),
        ("percent_agreement", lambda: metrics.percent_agreement(ratings)),
        ("specific_agreement", lambda: len(metrics.specific_agreement(ratings, categories=cats))),
        ("pairwise_confusion", lambda: int(metrics.pairwise_confusion(ratings, categories=cats)[0].sum())),
        ("pairwise_cohen", lambda: len(metrics.pairwise_cohen(ratings, categories=cats).pairs)),
        ("rater_agreement (HLP per labeler)", lambda: len(metrics.rater_agreement(ratings, categories=cats))),
        ("majority_vote", lambda: int(metrics.majority_vote(ratings, categories=cats).resolved.sum())),
        ("dawid_skene", lambda: metrics.dawid_skene(ratings, categories=cats).n_iter),
        (
            "agreement_report (3 metrics, 200 resamples)",
            lambda: metrics.agreement_report(ratings, categories=cats)["krippendorff_alpha"]["value"],
        ),
    ]
    for name, fn in rows:
        best, value = float("inf"), None
        for _ in range(3 if "report" not in name and "dawid" not in name else 1):
            t = time.perf_counter()
            value = fn()
            best = min(best, time.perf_counter() - t)
        print(f"{name:<44} {best:8.3f}  {value}")
    t = time.perf_counter()
    reference = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="nominal")
    package = time.perf_counter() - t
    t = time.perf_counter()
    ours = metrics.krippendorff_alpha(ratings, "nominal")
    mine = time.perf_counter() - t
    print(
        f"\nnominal alpha: ours {ours:.12f} in {mine:.3f} s; krippendorff package {reference:.12f} in {package:.3f} s;"
        f" |difference| {abs(ours - reference):.1e}; {package / mine:.0f}× faster   target < 0.1 s, ≥ 3×"
    )


def _proc_cpu(pid):
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count_helper_backends():
    """CPU seconds of the backends of the connections that a read opens beside Django's and closes
    (``analysis.selectors._split_read``): each one's reading taken as it is closed, into the list
    answered."""
    import psycopg

    spent = []
    close = psycopg.Connection.close

    def close_and_count(conn):
        if not conn.closed:
            with contextlib.suppress(OSError):  # a server on another machine: its CPU is not visible here
                spent.append(_proc_cpu(conn.info.backend_pid))
        close(conn)

    psycopg.Connection.close = close_and_count
    return spent


class _ParallelWorkers:
    """CPU seconds of the PostgreSQL parallel workers that serve this database's backends while it runs.

    A query the planner runs in parallel hands part of its work to worker processes, whose CPU is not
    the backend's: a thread samples the postmaster's children every 5 ms (the last reading of a worker
    before it exits is what counts; up to 5 ms per worker may be missed). ``own`` is the thread's own CPU,
    which the process's CPU figure leaves out. Nothing is counted when the server is not on this machine.
    """

    def __init__(self, backend):
        self.spent, self.own, self._stop = {}, 0.0, threading.Event()
        try:
            postmaster = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1]
            self._children = Path(f"/proc/{postmaster}/task/{postmaster}/children")
            self._children.read_text()
        except (OSError, IndexError):
            self._children = None
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _ours(self, pid, leaders):
        """Whether ``pid`` is a parallel worker of a backend connected to this database (cached once the
        process has its title: a process just forked by the postmaster still shows the postmaster's)."""
        if pid not in leaders:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if not cmdline.startswith(b"postgres: "):
                return False
            leader = cmdline.split(b"parallel worker for PID ")[1].split()[0] if b"parallel worker" in cmdline else b""
            leaders[pid] = bool(leader) and f" {DB} ".encode() in Path(f"/proc/{int(leader)}/cmdline").read_bytes()
        return leaders[pid]

    def _sample(self):
        started, leaders = time.thread_time(), {}
        while self._children is not None and not self._stop.is_set():
            for pid in self._children.read_text().split():
                with contextlib.suppress(OSError, ValueError):
                    if self._ours(pid, leaders):
                        self.spent[pid] = _proc_cpu(pid)
            time.sleep(0.005)
        self.own = time.thread_time() - started

    def stop(self):
        """(CPU seconds of the workers seen, their number); ends the sampling."""
        self._stop.set()
        self._thread.join()
        return sum(self.spent.values()), len(self.spent)


def full_report_child(project_id):
    django_setup()
    from django.db import connection

    from analysis.selectors import AnswerFilters, answer_table
    from analysis.services import agreement_report_compute
    from labeling.models import Project

    project = Project.objects.get(pk=project_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    # The metrics import SciPy where they use it (the web process never loads it); a worker loads it
    # once, with its first report, so it is loaded (and its cost shown) before the clock runs.
    scipy_cpu = time.process_time()
    import scipy.sparse  # noqa: F401

    scipy_cpu = time.process_time() - scipy_cpu
    helpers = _count_helper_backends()
    workers = _ParallelWorkers(backend)
    cpu, backend_cpu, main_cpu = time.process_time(), _proc_cpu(backend), time.thread_time()
    started = time.perf_counter()
    report = agreement_report_compute(project=project, filters=AnswerFilters())
    elapsed = time.perf_counter() - started
    cpu, main_cpu = time.process_time() - cpu, time.thread_time() - main_cpu
    backend_cpu = main_backend_cpu = _proc_cpu(backend) - backend_cpu
    time.sleep(0.01)  # a last sample of the parallel workers, if any
    worker_cpu, n_workers = workers.stop()
    cpu -= workers.own
    helper_cpu, n_helpers = sum(helpers), len(helpers)
    backend_cpu += helper_cpu + worker_cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The database read alone, again (warm), for where the time goes.
    helpers.clear()
    workers = _ParallelWorkers(backend)
    read_cpu, read_backend = time.process_time(), _proc_cpu(backend)
    read_started = time.perf_counter()
    table = answer_table(project=project, filters=AnswerFilters())
    read = time.perf_counter() - read_started
    read_cpu, read_backend = time.process_time() - read_cpu, _proc_cpu(backend) - read_backend + sum(helpers)
    time.sleep(0.01)
    read_backend += workers.stop()[0]
    read_cpu -= workers.own
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu": cpu,
                "backend_cpu": backend_cpu,
                "helper_cpu": helper_cpu,
                "main_cpu": main_cpu,
                "main_backend_cpu": main_backend_cpu,
                "n_helpers": n_helpers,
                "worker_cpu": worker_cpu,
                "n_workers": n_workers,
                "rss_mb": rss,
                "scipy_cpu": scipy_cpu,
                "read_seconds": read,
                "read_cpu": read_cpu,
                "read_backend_cpu": read_backend,
                "n_answers": len(table),
                "alpha": report["krippendorff_alpha"]["value"],
                "kappa": report["fleiss_kappa"]["value"],
                "percent": report["percent_agreement"]["value"],
                "n_items": report["n_items"],
                "digest": hashlib.sha256(json.dumps(report, sort_keys=True, default=str).encode()).hexdigest()[:16],
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--labelers", type=int, default=5)
    parser.add_argument("--db", help="database name (default labelhub_bench_agreement)")
    parser.add_argument("--reuse", action="store_true", help="use the seeded database when it exists")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--skip-functions", action="store_true", help="only the full report")
    parser.add_argument("--repeat", type=int, default=1, help="fresh-process runs of the full report")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DB
    if args.db:
        DB = args.db
    if args.child:
        full_report_child(args.child)
        return
    project_id = _seeded_project() if args.reuse else None
    if project_id is None:
        project_id = seed(args.items, args.labelers)
    else:
        django_setup()
        print(f"reusing database {DB} (project {project_id})")
    if not args.skip_functions:
        time_functions(project_id)
    from django.db import connections

    connections.close_all()
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(project_id)],
            env=env(),
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"\nfull report of {result['n_answers']:,} answers (database read + all metrics + 200 bootstrap "
            f"resamples), fresh process: {result['seconds']:.2f} s wall, {result['cpu']:.2f} s CPU of the process, "
            f"{result['backend_cpu']:.2f} s CPU of its PostgreSQL backends ({result['n_helpers']} helper connection(s):"
            f" {result['helper_cpu']:.2f} s of it), peak RSS {result['rss_mb']:.0f} MB"
            f"   target < 3 s, < 500 MB\n"
            f"  (before it: loading SciPy, once per worker process, {result['scipy_cpu']:.2f} s CPU)\n"
            f"  CPU by where it ran: the process's main thread {result['main_cpu']:.2f} s, its other threads"
            f" {result['cpu'] - result['main_cpu']:.2f} s; Django's backend {result['main_backend_cpu']:.2f} s,"
            f" the helper backend(s) {result['helper_cpu']:.2f} s, parallel workers {result['worker_cpu']:.2f} s"
            f" ({result['n_workers']})\n"
            f"  of which the database read (again, warm): {result['read_seconds']:.2f} s wall, "
            f"{result['read_cpu']:.2f} s CPU, {result['read_backend_cpu']:.2f} s backend CPU\n"
            f"  alpha {result['alpha']!r}, kappa {result['kappa']!r}, percent {result['percent']!r}, "
            f"{result['n_items']:,} items, report digest {result['digest']}"
        )
    print(f"load average: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} (1 / 5 / 15 min)")
    if not args.keep:
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"])


def _seeded_project():
    """The project of a database seeded earlier, or None."""
    import psycopg

    try:
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{DB}") as conn:
            row = conn.execute("SELECT id FROM labeling_project WHERE name = 'bench'").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


if __name__ == "__main__":
    main()
