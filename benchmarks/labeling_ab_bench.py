"""Two checkouts of LabelHub compared on the labeling loop, turn by turn, on one database: for a loaded,
shared machine, where the CPU per answer drifts by 10-20 % from one run of labeling_bench.py to the next.

Seeds a database as benchmarks/labeling_bench.py does, serves it with gunicorn from this checkout
("this") and from another (--other, e.g. an unpacked `git archive` of the commit to compare with, with
its .venv), both without SQL timing, and then, round after round, runs the ?next=1 loop against each
in turn for a short window (1 and 8 labelers by default), summing each one's server CPU (gunicorn
workers + PostgreSQL backends) and answers. Alternating windows share the load of the moment, so the
difference between the two sums is the code's, not the machine's.

    .venv/bin/python benchmarks/labeling_ab_bench.py --other /tmp/base [--rounds 6] [--seconds 6]
    python benchmarks/labeling_ab_bench.py --servers granian,gunicorn   # one checkout, two WSGI servers
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labeling_bench as bench  # noqa: E402

REPO_ROOT = bench.REPO_ROOT


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--other",
        default=None,
        help="the other checkout's root (with its own .venv; default: this checkout, to compare --servers)",
    )
    parser.add_argument(
        "--servers",
        default="gunicorn,gunicorn",
        help="the WSGI servers of this and the other side, comma-separated (gunicorn or granian; granian runs "
        "from the Python running this script when it is this checkout's, so install it there)",
    )
    parser.add_argument("--threads", default="1,1", help="threads per worker of each side (granian: blocking threads)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per window")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--workers", default="2,2", help="worker processes of each side (one number: both)")
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="each labeler keeps its connection open where the server allows it (granian does, gunicorn's sync "
        "workers close every connection), as the labeling page's browser does",
    )
    parser.add_argument("--ports", default="0,0", help="0: a port nothing listens on")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default=f"labelhub_ab_bench_{os.getpid()}", help="created and dropped by the bench")
    return parser.parse_args()


def start(root, python, server, database_url, port, workers, threads, log_path):
    log = open(log_path, "w")  # noqa: SIM115 - closed in bench.stop_gunicorn
    process = subprocess.Popen(
        bench.server_command(server, python, port, workers, threads),
        cwd=root,
        env=bench.server_env(database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return bench.wait_for_gunicorn(process, log, port, log_path)


def main():
    args = parse_args()
    if args.keepalive:
        os.environ["LABELHUB_BENCH_KEEPALIVE"] = "1"  # read by the labeler processes
    concurrencies = [int(n) for n in args.concurrency.split(",")]
    database_url = f"{args.pg}/{args.db}"
    os.environ.update(bench.server_env(database_url))
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelhub.settings"
    bench.recreate_database(args.pg, args.db)
    servers = {}
    try:
        bench.migrate(database_url)
        import django

        django.setup()
        seed_args = argparse.Namespace(items=args.items, answers=args.answers, overlap=3)
        project_id, tokens = bench.seed(seed_args, [{"labelers": n} for n in concurrencies])
        from django.db import connections

        connections.close_all()
        ports = [int(p) or bench.free_port() for p in args.ports.split(",")]
        other = Path(args.other).resolve() if args.other else REPO_ROOT
        roots = {"this": str(REPO_ROOT), "other": str(other)}
        # This checkout is served by the Python running this script; another by its own .venv's.
        other_python = sys.executable if other == REPO_ROOT else other / ".venv" / "bin" / "python"
        pythons = {"this": sys.executable, "other": other_python}
        kinds = dict(zip(roots, args.servers.split(","), strict=True))
        threads = dict(zip(roots, (int(n) for n in args.threads.split(",")), strict=True))
        workers = [int(n) for n in args.workers.split(",")]
        workers = dict(zip(roots, workers * 2 if len(workers) == 1 else workers, strict=True))
        for (name, root), port in zip(roots.items(), ports, strict=True):
            log_path = f"/tmp/labeling-ab-{name}.log"
            started = start(
                root, pythons[name], kinds[name], database_url, port, workers[name], threads[name], log_path
            )
            servers[name] = (*started, port)
        print(
            f"this: {roots['this']} ({kinds['this']}, {workers['this']} workers of {threads['this']} thread(s)), "
            f"other: {roots['other']} ({kinds['other']}, {workers['other']} workers of {threads['other']} thread(s)); "
            "no SQL timing"
        )
        load = os.getloadavg()
        print(f"load average at the start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
        totals = {(name, n): [0.0, 0, []] for name in servers for n in concurrencies}  # cpu s, answers, steps
        for round_number in range(args.rounds):
            order = list(servers) if round_number % 2 == 0 else list(servers)[::-1]
            for index, n in enumerate(concurrencies):
                for name in order:
                    process, _, port = servers[name]
                    row = bench.run_scenario(
                        port,
                        project_id,
                        tokens[index],
                        "one",
                        1.0,
                        args.seconds,
                        pids=lambda process=process: bench.server_pids(process, database_url, args.db),
                    )
                    total = totals[(name, n)]
                    total[0] += row["server_cpu_ms"] * row["answers"] / 1000
                    total[1] += row["answers"]
                    total[2].append(row["pair"][1])
            print(f"round {round_number + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
        print(
            "\nserver CPU per answer (server workers + PostgreSQL backends) summed over the rounds, answers/s, "
            "and the median of the windows' p95 latency:"
        )
        for n in concurrencies:
            line = []
            for name in servers:
                cpu, answers, p95s = totals[(name, n)]
                rate = answers / (args.rounds * args.seconds)
                p95 = sorted(p95s)[len(p95s) // 2]
                line.append(
                    f"{name} {1000 * cpu / answers:.2f} ms ({answers:,} answers, {rate:.0f}/s, p95 {p95:.0f} ms)"
                )
            print(f"  {n} labeler(s): " + "; ".join(line))
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    finally:
        for process, log, _ in servers.values():
            bench.stop_gunicorn(process, log)
        from django.db import connections

        connections.close_all()
        bench.drop_database(args.pg, args.db)


if __name__ == "__main__":
    main()
