"""What a signed-out client's request body costs the server before any view runs: CPU, the memory the
request allocates (tracemalloc's peak) and the temporary files it writes, for POSTs of just under the
10 MB a signed-out visitor's form may be, to a page that needs a signed-in user and to the sign-in page.

    .venv/bin/python benchmarks/anon_body_bench.py [--rounds 5] [--db NAME]

Runs the requests in this process through Django's handler (the test client, CSRF checks enforced, a
csrftoken cookie of the client's own making, as any client can send), with no session. Creates (and drops
at the end) a throwaway database on 127.0.0.1:5432 (user postgres): the sign-in page asks whether any
account exists. Bodies:

- one file part (what a multipart upload is);
- one text field (read into memory whole, as a form field is);
- 1,000 short fields (DATA_UPLOAD_MAX_NUMBER_FIELDS);
- a body of near-boundaries (lines starting "--" that are not the boundary: the parser scans for it);
- a form-urlencoded body of one field.

Each row: the status, CPU milliseconds per request (median of the rounds), the peak of memory allocated
while handling one request (tracemalloc, a separate round; it includes the test client's own copy of the
body, about its size) and the temporary files written.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
SIZE = 10 * 1024 * 1024 - 4096  # under DATA_UPLOAD_MAX_MEMORY_SIZE, the signed-out limit
BOUNDARY = "bench0boundary0x"
TOKEN = "a" * 32  # a csrftoken cookie any client can make up


def _multipart(parts):
    out = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(out) + f"--{BOUNDARY}--\r\n".encode()


def bodies():
    head = [("csrfmiddlewaretoken", None, TOKEN.encode())]
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    yield "one file part", kind, _multipart([*head, ("f", "a.bin", b"x" * SIZE)])
    yield "one text field", kind, _multipart([*head, ("t", None, b"x" * SIZE)])
    yield "1,000 short fields", kind, _multipart([*head] + [(f"f{i}", None, b"v" * 9000) for i in range(999)])
    near = (b"\r\n--" + b"y" * 60) * (SIZE // 64)
    yield "near-boundaries", kind, _multipart([*head, ("t", "n.bin", near)])
    yield (
        "urlencoded field",
        "application/x-www-form-urlencoded",
        b"csrfmiddlewaretoken=" + TOKEN.encode() + (b"&t=" + b"x" * SIZE),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default="lh_bench_anon_body")
    args = parser.parse_args()
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {args.db}"], check=True)
    folder = tempfile.TemporaryDirectory()
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.db}",
        SECRET_KEY="bench",
        DEBUG="0",
        ALLOWED_HOSTS="localhost",
        LOG_LEVEL="ERROR",
        MEDIA_ROOT=folder.name,
        CELERY_BROKER_DIR=str(Path(folder.name) / "celery"),
        DJANGO_SETTINGS_MODULE="labelhub.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        _measure(args.rounds)
    finally:
        connections.close_all()
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"])
        folder.cleanup()


def _measure(rounds):
    from django.core.files.uploadhandler import TemporaryFileUploadHandler
    from django.test import Client

    client = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")
    client.cookies["csrftoken"] = TOKEN
    written = mock.Mock(side_effect=TemporaryFileUploadHandler.new_file)
    print(f"load average: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} (1 / 5 / 15 min)")
    with mock.patch.object(TemporaryFileUploadHandler, "new_file", lambda *a, **k: written(*a, **k)):
        for page in ("/projects/1/settings/", "/login/"):
            for name, content_type, body in bodies():
                status, cpu = None, []
                written.reset_mock()
                for _ in range(rounds):
                    started = time.process_time()
                    status = client.generic("POST", page, body, content_type=content_type).status_code
                    cpu.append(time.process_time() - started)
                tracemalloc.start()
                client.generic("POST", page, body, content_type=content_type)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(
                    f"{page:24} {name:20} {len(body) / 2**20:5.1f} MB  {status}  "
                    f"{statistics.median(cpu) * 1000:7.1f} ms CPU  peak {peak / 2**20:6.1f} MB  "
                    f"{written.call_count} temporary files"
                )


if __name__ == "__main__":
    main()
