"""Memory of the web process after a labeling run, and which heavy libraries it has loaded.

Seeds a throwaway PostgreSQL database with labeling_bench's data (20,000 text items by default, k = 3),
serves the app as the Docker image does (``gunicorn labelhub.wsgi --preload``, 2 sync workers, DEBUG
off), drives the labeling loop over HTTP with labeling_bench's clients (both "next + submit" modes,
then the closed loop at 8 labelers), and prints for every gunicorn worker and for the master: RSS now
(VmRSS) and at its peak (VmHWM), with the CPU seconds the workers and their PostgreSQL backends spent
beside the wall time. When the server stops, each worker writes the heavy libraries it has imported
(``benchmarks/web_memory_gunicorn.py``), printed last.

Target (issue 18): the web process < 200 MiB RSS after a labeling run; heavy libraries (SciPy,
scikit-learn, UMAP, numba, pandas, pyarrow, ONNX Runtime) only in the Celery workers.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/web_memory_bench.py [--items 20000] [--seconds 10] [--db NAME] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import labeling_bench as lb  # noqa: E402
from web_memory_gunicorn import HEAVY  # noqa: E402

MODULES_DIR = REPO_ROOT / "var" / "web-memory-bench-modules"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--answers", type=int, default=30_000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per scenario")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="labelhub_bench_web_memory")
    parser.add_argument(
        "--no-preload", action="store_true", help="each worker imports the app itself (as `make run` does)"
    )
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def status(pid):
    """{VmRSS, VmHWM, Pss} of a process in MiB, from /proc. A worker forked from a --preload master shares
    the master's pages and counts in its RSS only those it has touched; Pss splits the shared ones."""
    values = {}
    for name in ("status", "smaps_rollup"):
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Pss"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def workers_of(master):
    pids = []
    for task in Path(f"/proc/{master.pid}/task").iterdir():
        pids += [int(pid) for pid in (task / "children").read_text().split()]
    return pids


def start_gunicorn(database_url, port, workers, preload=True):
    log = open(REPO_ROOT / "var" / "web-memory-bench-gunicorn.log", "w")  # noqa: SIM115 - closed in stop
    MODULES_DIR.mkdir(parents=True, exist_ok=True)
    for old in MODULES_DIR.iterdir():
        old.unlink()
    process = subprocess.Popen(
        [
            str(Path(lb.PYTHON).with_name("gunicorn")),
            "labelhub.wsgi",
            *(["--preload"] if preload else []),
            "--config",
            str(REPO_ROOT / "benchmarks" / "web_memory_gunicorn.py"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=REPO_ROOT,
        env={**lb.server_env(database_url), "LABELHUB_BENCH_MODULES_DIR": str(MODULES_DIR)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status_code, _ = lb.request(port, "GET", "/login/", "")
            if status_code == 200 and len(workers_of(process)) == workers:
                return process, log
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start; see var/web-memory-bench-gunicorn.log")


def print_memory(title, master):
    print(title)
    for pid in workers_of(master):
        mem = status(pid)
        print(f"  worker {pid}: RSS {mem['VmRSS']:.0f} MiB, peak {mem['VmHWM']:.0f} MiB, PSS {mem['Pss']:.0f} MiB")
    mem = status(master.pid)
    print(f"  master {master.pid}: RSS {mem['VmRSS']:.0f} MiB, peak {mem['VmHWM']:.0f} MiB, PSS {mem['Pss']:.0f} MiB")


def main():
    args = parse_args()
    scenarios = [{"mode": mode, "labelers": n, "rate": 0.0} for mode in lb.MODES for n in (1, 8)]
    database_url = f"{args.pg}/{args.db}"
    os.environ.update(lb.server_env(database_url))
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelhub.settings"
    lb.SQL_DIR.mkdir(parents=True, exist_ok=True)  # run_scenario reads it; nothing writes to it here

    lb.recreate_database(args.pg, args.db)
    server = None
    try:
        lb.migrate(database_url)
        import django

        django.setup()
        project_id, tokens = lb.seed(args, scenarios)
        from django.db import connections

        connections.close_all()
        server = start_gunicorn(database_url, args.port, args.workers, preload=not args.no_preload)
        master = server[0]
        preload = "" if args.no_preload else " --preload"
        print_memory(f"\ngunicorn labelhub.wsgi{preload}, {args.workers} sync workers, started:", master)
        started, cpu = time.perf_counter(), 0.0
        answers = 0
        for index, scenario in enumerate(scenarios):
            row = lb.run_scenario(
                args.port,
                project_id,
                tokens[index],
                scenario["mode"],
                args.warmup,
                args.seconds,
                pids=lambda: lb.server_pids(master, database_url, args.db),
            )
            answers += row["answers"]
            cpu += row["server_cpu_ms"] * row["answers"] / 1000
            print(
                f"  {row['mode']:>3} request(s)/item, {row['labelers']} labeler(s): {row['answers']:,} answers, "
                f"{row['answers_per_s']:.0f}/s, p95 {row['pair'][1]:.1f} ms, server CPU {row['server_cpu_ms']:.2f} "
                f"ms per answer, {row['errors']} errors"
            )
        wall = time.perf_counter() - started
        print(
            f"labeling run: {answers:,} answers in {wall:.1f} s wall; {cpu:.1f} s CPU of the gunicorn workers and "
            f"their PostgreSQL backends (measured windows)"
        )
        print_memory("\nafter the labeling run:", master)
        peak = max(status(pid)["VmRSS"] for pid in [master.pid, *workers_of(master)])
        print(f"largest web process RSS {peak:.0f} MiB   target < 200 MiB: {'MET' if peak < 200 else 'NOT MET'}")
    finally:
        if server:
            lb.stop_gunicorn(*server)
            print("\nheavy libraries imported by each web worker (at its exit):")
            for path in sorted(MODULES_DIR.iterdir()):
                loaded = json.loads(path.read_text())
                print(f"  worker {path.name}: {', '.join(loaded) or 'none'}")
            print(f"  (checked: {', '.join(HEAVY)})")
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)")
        if not args.keep:
            from django.db import connections

            connections.close_all()
            lb.drop_database(args.pg, args.db)


if __name__ == "__main__":
    main()
