"""Where the CPU of one labeling step goes, without HTTP or gunicorn: the WSGI app called in this process.

Seeds a small throwaway PostgreSQL database (as benchmarks/labeling_bench.py does), then one labeler
answers item after item with ``POST /api/items/{id}/annotations/?next=1`` (the labeling page's step),
the WSGI application called directly. Prints per answer: this process's CPU (Django, DRF, LabelHub),
the CPU of its PostgreSQL backend, the SQL statements sent, and with --profile the top of a cProfile.
Load on a shared machine moves wall times; the CPU and statement counts are what to compare.

    .venv/bin/python benchmarks/labeling_profile.py [--items 5000] [--answers 400] [--profile 30]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labeling_bench as bench  # noqa: E402

REPO_ROOT = bench.REPO_ROOT


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--answers", type=int, default=400, help="answers timed (after 50 not timed)")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions of a cProfile run")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--db", default="labelhub_profile")
    return parser.parse_args()


def call(application, method, path, token, body=None):
    """One request through the WSGI app; answers (status, payload)."""
    data = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "HTTP_ACCEPT": "application/json",
        "CONTENT_TYPE": "application/json" if body is not None else "",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    status = []
    chunks = application(environ, lambda s, h, exc_info=None: status.append(s))
    payload = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return int(status[0].split()[0]), payload


def main():
    args = parse_args()
    database_url = f"{args.pg}/{args.db}"
    os.environ.update(bench.server_env(database_url))
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "labelhub.settings"
    bench.recreate_database(args.pg, args.db)
    try:
        bench.migrate(database_url)
        import django

        django.setup()
        seed_args = argparse.Namespace(items=args.items, answers=args.items * 3 // 2, overlap=3)
        project_id, tokens = bench.seed(seed_args, [{"labelers": 1}])
        token = tokens[0][0]
        from django.db import connection, connections

        connections.close_all()
        import psycopg

        from labelhub.wsgi import application

        statements = [0]  # round trips: statements, the BEGIN psycopg sends before a transaction's first, COMMIT
        execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

        def counted_execute(self, query, params=None, **kwargs):
            idle = self.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            statements[0] += 1 + (not self.connection.autocommit and idle)
            return execute(self, query, params, **kwargs)

        def counted_commit(self):
            statements[0] += 1
            return commit(self)

        status, payload = call(application, "GET", f"/api/projects/{project_id}/next/", token)
        assert status == 200, payload
        item = json.loads(payload)

        def step():
            nonlocal item
            path = f"/api/items/{item['id']}/annotations/?next=1"
            status, payload = call(application, "POST", path, token, {"value": "pos", "seconds": 3.0})
            assert status == 201, payload
            item = json.loads(payload)["next"]

        for _ in range(50):
            step()
        backend = connection.cursor().connection.info.backend_pid
        psycopg.Cursor.execute, psycopg.Connection.commit = counted_execute, counted_commit
        db_from, cpu_from, wall_from = bench._cpu_seconds(backend), time.process_time(), time.perf_counter()
        for _ in range(args.answers):
            step()
        db_to, cpu_to, wall_to = bench._cpu_seconds(backend), time.process_time(), time.perf_counter()
        psycopg.Cursor.execute, psycopg.Connection.commit = execute, commit
        n = args.answers
        print(
            f"per answer: app CPU {1000 * (cpu_to - cpu_from) / n:.3f} ms, PostgreSQL backend CPU "
            f"{1000 * (db_to - db_from) / n:.3f} ms, wall {1000 * (wall_to - wall_from) / n:.3f} ms, "
            f"{statements[0] / n:.2f} round trips to PostgreSQL (statements, BEGIN, COMMIT); "
            f"load {os.getloadavg()[0]:.2f}"
        )
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not the waits
            profiler.enable()
            for _ in range(args.answers):
                step()
            profiler.disable()
            if os.environ.get("PROFILE_OUT"):
                profiler.dump_stats(os.environ["PROFILE_OUT"])
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.profile)
    finally:
        from django.db import connections

        connections.close_all()
        bench.drop_database(args.pg, args.db)


if __name__ == "__main__":
    main()
