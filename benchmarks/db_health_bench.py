"""What the per-request database health check (DB_HEALTH_CHECKS) costs in the labeling loop.

The issue's choice: keep persistent connections and (a) check each one with a ``SELECT 1`` before the
first query of a request reuses it (Django's CONN_HEALTH_CHECKS), or (b) retry idempotent reads on a
fresh connection when the first query fails. (b) costs nothing until a connection drops, so its
steady-state cost is the "off" line below; but it cannot save the labeling loop's own request, a POST
(answer + next item), without knowing that no statement of the request reached the database.

Creates a throwaway PostgreSQL database (dropped at the end unless --keep), seeds a text project with
--items items, and runs the loop the labeling page runs (POST /api/items/{id}/annotations/?next=1,
token-authenticated) through Django's WSGI handler in this process, as a gunicorn sync worker does,
with health checks off and on, alternating rounds. For each it prints wall time per request, the CPU
seconds per request of the server (this process) and of the PostgreSQL backend serving it (read from
/proc, so PostgreSQL must run on this machine), and the number of statements per request. Last, it
terminates the backend (pg_terminate_backend) and shows what the next request answers in each mode.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/db_health_bench.py [--requests 2000] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="lh_db_health_bench")
    parser.add_argument(
        "--items", type=int, help="items to seed (default: as many as the rounds can use, retries included)"
    )
    parser.add_argument("--requests", type=int, default=2_000, help="measured requests per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def admin(server, sql):
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(args):
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("SECRET_KEY", "db-health-bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]


def seed(n_items):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.services import token_create
    from labeling.choices import Role
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    manager = get_user_model().objects.create_user("bench-manager", password="x")
    labeler = get_user_model().objects.create_user("bench-labeler", password="x")
    project = project_create(
        name="Health bench",
        modality="text",
        task_type="classification",
        classes=[{"key": k, "name": k} for k in ("pos", "neg", "neutral")],
        creator=manager,
        overlap=1,
    )
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    items_import(project=project, entries=[ImportEntry(name=f"t{i}", text=f"text number {i}") for i in range(n_items)])
    return project, token_create(user=labeler, name="db health bench")[1]


def request(handler, method, path, token, body=b""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "testserver", "HTTP_HOST": "testserver"}
    setup_testing_defaults(environ)
    query = path.partition("?")[2]
    environ.update(
        PATH_INFO=path.partition("?")[0],
        QUERY_STRING=query,
        HTTP_AUTHORIZATION=f"Token {token}",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
    )
    environ["wsgi.input"] = io.BytesIO(body)
    status = []
    response = handler(environ, lambda s, h, exc_info=None: status.append(s))
    try:
        content = b"".join(response)
    finally:
        response.close()  # request_finished: keeps or closes the persistent connection
    return int(status[0].split()[0]), content


def backend_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def set_health_checks(on):
    from django.db import connection

    connection.close()
    connection.settings_dict["CONN_HEALTH_CHECKS"] = on


def run_mode(handler, project, token, on, n):
    from django.db import connection

    set_health_checks(on)
    status, body = request(handler, "GET", f"/api/projects/{project.pk}/next/", token)
    assert status == 200, body[:300]
    item = json.loads(body)["id"]
    pid = connection.cursor().connection.info.backend_pid
    latencies = []
    cpu0, db0, wall0 = time.process_time(), backend_cpu(pid), time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        status, body = request(
            handler, "POST", f"/api/items/{item}/annotations/?next=1", token, json.dumps({"value": "pos"}).encode()
        )
        latencies.append(time.perf_counter() - t)
        assert status == 201, body[:300]
        item = json.loads(body)["next"]["id"]
    wall = time.perf_counter() - wall0
    cpu, db = time.process_time() - cpu0, backend_cpu(pid) - db0
    assert connection.cursor().connection.info.backend_pid == pid, "the connection should have persisted"
    return {"wall": wall / n, "p50": statistics.median(latencies), "server_cpu": cpu / n, "db_cpu": db / n}


def measured(handler, project, token, on, n, attempts=3):
    """``run_mode``, run again if something else (a shared machine) terminated the backend meanwhile."""
    for attempt in range(attempts):
        try:
            return run_mode(handler, project, token, on, n)
        except (AssertionError, FileNotFoundError) as error:
            print(f"round discarded ({type(error).__name__}: the backend went away); again", file=sys.stderr)
            if attempt == attempts - 1:
                raise
    return None


def health_check_alone(n):
    """The check by itself (Django's ``is_usable``: a SELECT 1 round trip), ``n`` times on one connection."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    cpu0, db0, wall0 = time.process_time(), backend_cpu(pid), time.perf_counter()
    for _ in range(n):
        assert connection.is_usable()
    wall = time.perf_counter() - wall0
    return {"wall": wall / n, "server_cpu": (time.process_time() - cpu0) / n, "db_cpu": (backend_cpu(pid) - db0) / n}


def drop_and_retry(handler, project, token, on):
    from django.db import connection

    set_health_checks(on)
    request(handler, "GET", f"/api/projects/{project.pk}/progress/", token)
    pid = connection.connection.info.backend_pid
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)
    return request(handler, "GET", f"/api/projects/{project.pk}/progress/", token)[0]


def main():
    args = parse_args()
    admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}"')
    admin(args.server, f'CREATE DATABASE "{args.database}"')
    try:
        setup_django(args)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection

        # every request answers one item (overlap 1); a round discarded and run again (measured) uses more
        needed = 1 + args.rounds * 2 * 3 * (args.requests + 1) + 200
        args.items = args.items or needed
        assert needed <= args.items, f"--items must be at least {needed}"
        project, token = seed(args.items)
        handler = WSGIHandler()
        run_mode(handler, project, token, False, 100)  # warm-up: imports, prepared statements
        results = {False: [], True: []}
        for _ in range(args.rounds):
            for on in (False, True):
                results[on].append(measured(handler, project, token, on, args.requests))
        print(f"labeling loop, POST answer + next, {args.requests} requests x {args.rounds} rounds per mode")
        print(f"{'health checks':<14} {'wall ms/req':>12} {'p50 ms':>8} {'server CPU ms':>14} {'db CPU ms':>10}")
        for on in (False, True):
            rows = results[on]
            med = {k: statistics.median(r[k] for r in rows) * 1000 for k in rows[0]}
            print(
                f"{'on' if on else 'off':<14} {med['wall']:>12.3f} {med['p50']:>8.3f} "
                f"{med['server_cpu']:>14.3f} {med['db_cpu']:>10.3f}"
            )
        alone = health_check_alone(20_000)
        print(
            f"{'the check alone':<14} {alone['wall'] * 1000:>12.3f} {'':>8} "
            f"{alone['server_cpu'] * 1000:>14.3f} {alone['db_cpu'] * 1000:>10.3f}"
        )
        for on in (False, True):
            print(f"first request after pg_terminate_backend, health checks {'on' if on else 'off'}: ", end="")
            print(drop_and_retry(handler, project, token, on))
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
