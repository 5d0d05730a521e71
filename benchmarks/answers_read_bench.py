"""Reading answers in bulk: numbered (LIMIT/OFFSET + COUNT) against keyset (cursor) pages of
``GET /api/projects/{id}/annotations/``, and the export ``GET /api/projects/{id}/annotations/export``.

Creates a throwaway PostgreSQL database (dropped at the end unless --keep), seeds a text project with
--answers answers (--labelers labelers, each answering every item), and calls the API through Django's
WSGI handler in this process, as a gunicorn sync worker does, with a reviewer's token. For 1,000-row pages
at the start of the list and --depth rows in, it prints the wall time per page, and the CPU seconds per
page of the server (this process) and of the PostgreSQL backend serving it (read from /proc, so
PostgreSQL must run on this machine). Then each export format once: wall time, answers per second, server
and database CPU, and the size of the file.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/answers_read_bench.py [--answers 100000] [--depth 90000] [--pages 10] [--keep]
(about 1.5 minutes by default; --answers 200000 --depth 100000 for the figures in the README)
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from db_health_bench import admin, backend_cpu  # noqa: E402 - the same harness: database admin, backend CPU

PAGE = 1000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="lh_answers_read_bench")
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--labelers", type=int, default=5)
    parser.add_argument("--depth", type=int, default=90_000, help="rows before the deep page (at most answers - 1000)")
    parser.add_argument("--pages", type=int, default=10, help="measured requests per paging mode and depth")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="use the database a --keep run left (no seeding)")
    parser.add_argument("--exports-only", action="store_true", help="skip the page measurements")
    return parser.parse_args()


def setup_django(args):
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("SECRET_KEY", "answers-read-bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]
    from django.db import connection

    connection.settings_dict["CONN_MAX_AGE"] = None  # one backend for the whole run: its CPU is read


def seed(n_answers, n_labelers):
    """A text project whose labelers each answer every item; answers go straight into the table (the
    benchmark reads them, it does not time writing them). Every tenth answer has a comment and a time."""
    import hashlib
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from accounts.services import token_create
    from labeling.choices import Role
    from labeling.models import Item
    from labeling.services.guidelines import guideline_publish
    from labeling.services.projects import member_add, project_create

    users = get_user_model()
    manager = users.objects.create_user("bench-manager", password="x")
    classes = ("pos", "neg", "neutral")
    project = project_create(
        name="Answers bench",
        modality="text",
        task_type="classification",
        classes=[{"key": k, "name": k} for k in classes],
        creator=manager,
        overlap=n_labelers,
    )
    guideline = guideline_publish(project=project, text="# Sentiment", author=manager)
    labelers = []
    for i in range(n_labelers):
        user = users.objects.create_user(f"bench-labeler-{i}", password="x")
        member_add(project=project, username=user.username, role=Role.LABELER)
        labelers.append(user)
    n_items = -(-n_answers // n_labelers)
    Item.objects.bulk_create(
        (
            Item(project=project, text=f"text number {i}", sha256=hashlib.sha256(f"t{i}".encode()).hexdigest())
            for i in range(n_items)
        ),
        batch_size=10_000,
    )
    item_ids = list(Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    start = timezone.now() - timedelta(milliseconds=n_answers)
    columns = (
        "item_id, labeler_id, value, borderline, borderline_with, uncertain, out_of_domain, comment, seconds, "
        "guideline_id, revision, created, updated"
    )
    made = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY labeling_annotation ({columns}) FROM STDIN") as copy:
        for i, item in enumerate(item_ids):
            for j, user in enumerate(labelers):
                if made == n_answers:
                    break
                noted = made % 10 == 0
                value = classes[(i + j) % 3 if j else i % 3]
                comment, seconds = ("looked twice", 1.5 + made % 7) if noted else ("", None)
                flags = (False, "", False, False)
                moment = start + timedelta(milliseconds=made)  # answered one after another
                copy.write_row((item, user.pk, value, *flags, comment, seconds, guideline.pk, 1, moment, moment))
                made += 1
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return project, token_create(user=manager, name="answers read bench")[1]


def request(handler, path, token):
    environ = {"REQUEST_METHOD": "GET", "SERVER_NAME": "testserver", "HTTP_HOST": "testserver"}
    setup_testing_defaults(environ)
    environ.update(
        PATH_INFO=path.partition("?")[0], QUERY_STRING=path.partition("?")[2], HTTP_AUTHORIZATION=f"Token {token}"
    )
    environ["wsgi.input"] = io.BytesIO(b"")
    status = []
    response = handler(environ, lambda s, h, exc_info=None: status.append(s))
    try:
        size = 0
        for chunk in response:
            size += len(chunk)
            last = chunk
    finally:
        response.close()
    assert status[0].startswith("200"), (status, last[:300])
    return size, last


def _status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def peak_rss_reset():
    """Reset this process's peak RSS (Linux: ``clear_refs`` 5) and answer the RSS now, in MiB; None when
    the kernel does not allow it (then no growth is printed)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return None
    return _status_mib("VmRSS")


def peak_rss_mib():
    return _status_mib("VmHWM")


def reused(args):
    """The project and a fresh manager token of a database a ``--keep`` run seeded."""
    from django.contrib.auth import get_user_model

    from accounts.services import token_create
    from labeling.models import Project

    manager = get_user_model().objects.get(username="bench-manager")
    return Project.objects.get(name="Answers bench"), token_create(user=manager, name="answers read bench")[1]


def measure(handler, token, paths, warm=True):
    """Wall, server CPU and database CPU per request over ``paths`` (one persistent connection)."""
    from django.db import connection

    if warm:
        request(handler, paths[0], token)  # warm: the connection, imports
    pid = connection.cursor().connection.info.backend_pid
    walls = []
    cpu0, db0 = time.process_time(), backend_cpu(pid)
    size = 0
    for path in paths:
        started = time.perf_counter()
        size, _ = request(handler, path, token)
        walls.append(time.perf_counter() - started)
    n = len(paths)
    assert connection.cursor().connection.info.backend_pid == pid, "the connection should have persisted"
    return {
        "wall": statistics.median(walls),
        "server_cpu": (time.process_time() - cpu0) / n,
        "db_cpu": (backend_cpu(pid) - db0) / n,
        "bytes": size,
    }


def cursor_at(project, depth):
    """The cursor the ``next`` link of the page ending ``depth`` rows in carries (base64 of ``p=<last id>``)."""
    from labeling.models import Annotation

    if depth == 0:
        return ""
    last = Annotation.objects.filter(item__project=project).order_by("id").values_list("id", flat=True)[depth - 1]
    return base64.b64encode(f"p={last}".encode()).decode()


def main():
    args = parse_args()
    depth = min(args.depth, args.answers - PAGE)
    depth -= depth % PAGE
    if not args.reuse:
        admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}"')
        admin(args.server, f'CREATE DATABASE "{args.database}"')
    try:
        setup_django(args)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection

        started = time.perf_counter()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"migrated in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        if args.reuse:
            project, token = reused(args)
        else:
            project, token = seed(args.answers, args.labelers)
            took = time.perf_counter() - started
            print(f"seeded {args.answers:,} answers ({args.labelers} labelers) in {took:.1f} s")
        handler = WSGIHandler()
        base = f"/api/projects/{project.pk}/annotations/?page_size={PAGE}"
        print(f"\n1,000-row pages, median of {args.pages} requests (CPU: mean per request)")
        print(f"{'paging':<8} {'rows in':>9} {'wall ms':>9} {'server CPU ms':>14} {'db CPU ms':>10}")
        pagings = () if args.exports_only else (("offset", 0), ("offset", depth), ("cursor", 0), ("cursor", depth))
        for label, at in pagings:
            query = f"page={at // PAGE + 1}" if label == "offset" else f"cursor={cursor_at(project, at)}"
            path = f"{base}&{query}"
            result = measure(handler, token, [path] * args.pages)
            print(
                f"{label:<8} {at:>9,} {result['wall'] * 1000:>9.1f} {result['server_cpu'] * 1000:>14.1f} "
                f"{result['db_cpu'] * 1000:>10.1f}"
            )
        print(f"\nexport of {args.answers:,} answers, one request each")
        print(
            f"{'format':<8} {'wall s':>7} {'answers/s':>10} {'server CPU s':>13} {'db CPU s':>9} {'MB':>7} "
            f"{'RSS growth MiB':>15}"
        )
        for fmt in ("jsonl", "parquet"):
            path = f"/api/projects/{project.pk}/annotations/export?format={fmt}"
            request(handler, path, token)  # warm, so the peak below is the export's own
            rss = peak_rss_reset()
            result = measure(handler, token, [path], warm=False)
            grown = (peak_rss_mib() - rss) if rss is not None else float("nan")
            print(
                f"{fmt:<8} {result['wall']:>7.2f} {args.answers / result['wall']:>10,.0f} "
                f"{result['server_cpu']:>13.2f} {result['db_cpu']:>9.2f} {result['bytes'] / 1e6:>7.1f} "
                f"{grown:>15.1f}"
            )
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
