"""A real Celery worker process for integration tests, on the test database and the configured broker."""

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _database_env(db):
    if db["ENGINE"].endswith("sqlite3"):
        return {"SQLITE_PATH": str(db["NAME"])}
    auth = ""
    if db.get("USER"):
        auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "") + "@"
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return {"DATABASE_URL": f"postgres://{auth}{host}{port}/{db['NAME']}"}


class Worker:
    def __init__(self, process, media_root, log):
        self.process, self.media_root, self.log = process, media_root, log

    def output(self):
        return "".join(self.log)


def start_worker(media_root, concurrency=2, queue=None):
    """A worker process on the test database; with ``queue``, one that consumes only that queue (a test's
    own worker, which the session's shared one must not race for the test's jobs: ``send_jobs_to``)."""
    from django.db import connection

    env = {**os.environ, **_database_env(connection.settings_dict), "MEDIA_ROOT": str(media_root)}
    # this process's queue and broker folder, as they are (an xdist process's own, tests/test_xdist.py)
    env.pop("PYTEST_XDIST_WORKER", None)
    env["CELERY_QUEUE"] = settings.CELERY_TASK_DEFAULT_QUEUE
    # The tests' webhook receivers listen on loopback, which webhooks may not reach by default.
    env["LABELHUB_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        env["CELERY_BROKER_DIR"] = str(settings.CELERY_BROKER_DIR)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "labelhub",
            "worker",
            "--loglevel=info",
            f"--concurrency={concurrency}",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            *(["--queues", queue] if queue else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = []
    ready = threading.Event()

    def pump():
        for line in process.stdout:
            log.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(90):
        process.kill()
        raise RuntimeError("the Celery worker did not start:\n" + "".join(log[-40:]))
    return Worker(process, media_root, log)


def send_jobs_to(monkeypatch, queue):
    """The test's tasks go to ``queue`` (a worker started with it runs them) instead of being kept from
    the broker (tests/conftest.py's ``job_messages``) or going to the session worker's default queue."""
    from labelhub.celery import app

    monkeypatch.setattr(
        "labeling.services.jobs.task_send", lambda name, *args: app.send_task(name, args=list(args), queue=queue)
    )


def stop_worker(worker, timeout=20):
    worker.process.terminate()
    try:
        worker.process.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


def purge_broker():
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        shutil.rmtree(settings.CELERY_BROKER_DIR / "queue", ignore_errors=True)
        (settings.CELERY_BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    else:
        from labelhub.celery import app

        app.control.purge()


@pytest.fixture(scope="session")
def worker_media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("worker-media")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, worker_media_root):
    """A worker process shared by the session's integration tests."""
    purge_broker()
    worker = start_worker(worker_media_root)
    yield worker
    stop_worker(worker)


@pytest.fixture
def shared_media(settings, worker_media_root):
    settings.MEDIA_ROOT = worker_media_root
    return worker_media_root


def wait_for(predicate, timeout=60, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
