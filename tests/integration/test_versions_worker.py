"""Dataset versions built by a real worker process: manifests over the API with a token, stable hashes,
diffs, webhooks delivered to a local receiver, a worker killed mid-build, and the reference trainer."""

import contextlib
import hashlib
import hmac
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from analysis.models import ModelRun
from labeling.models import DatasetVersion, Item
from tests.conftest import make_project
from tests.integration.conftest import start_worker, stop_worker, wait_for
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished_job(client, job_id, timeout=120):
    def done():
        job = client.get(f"/api/jobs/{job_id}/").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=timeout, interval=0.1, message=f"job {job_id}")


def build_over_api(client, project, recipe=None, worker=None):
    response = client.post(f"/api/projects/{project.pk}/versions/", recipe or {}, format="json")
    assert response.status_code == 202, response.json()
    job = finished_job(client, response.json()["job"])
    assert job["status"] == "succeeded", (job, worker.output()[-3000:] if worker else "")
    return job["result"]["version"]


class Receiver:
    """Records signed POSTs on 127.0.0.1."""

    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/labelhub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_versions_over_the_api_with_a_worker(api, manager, celery_worker, shared_media, receiver, loopback_webhooks):
    project = text_project(manager)
    items = add_texts(project, [f"review {i}" for i in range(300)], tags=["batch"])
    a, b = labelers(project, 2)
    for i, item in enumerate(items):
        value = ("cat", "dog", "other")[i % 3]
        answer(item, a, value)
        answer(item, b, value)
    client = api(manager)  # Authorization: Token ..., as a training script would
    hook = client.post(f"/api/projects/{project.pk}/webhooks/", {"url": receiver.url}, format="json").json()

    assert build_over_api(client, project, worker=celery_worker) == 1
    first = client.get(f"/api/projects/{project.pk}/versions/1/").json()
    response = client.get(f"/api/projects/{project.pk}/versions/latest/manifest")
    body = b"".join(response.streaming_content)
    rows = [json.loads(line) for line in body.decode().splitlines()]
    assert len(rows) == 300 and rows[0]["item"] == items[0].pk and rows[0]["label"] == "cat"
    assert hashlib.sha256(body).hexdigest() == first["content_hash"]
    assert "labeling.version_build" in celery_worker.output()

    # The worker tells the webhook, signed with its secret.
    wait_for(lambda: receiver.requests, timeout=60, message="the webhook delivery")
    headers, payload = receiver.requests[0]
    assert (
        headers["X-LabelHub-Signature"] == "sha256=" + hmac.new(hook["secret"].encode(), payload, "sha256").hexdigest()
    )
    assert json.loads(payload)["data"]["content_hash"] == first["content_hash"]
    log = client.get(f"/api/projects/{project.pk}/webhooks/{hook['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == "succeeded" and log[0]["response_status"] == 204

    # The same recipe on the same data: the same hash.
    assert build_over_api(client, project, worker=celery_worker) == 2
    second = client.get(f"/api/projects/{project.pk}/versions/2/").json()
    assert second["content_hash"] == first["content_hash"] and second["parent"] == 1

    # One label changes: the next version's diff names exactly that item.
    answer(items[8], a, "dog")
    answer(items[8], b, "dog")
    assert build_over_api(client, project, worker=celery_worker) == 3
    diff = client.get(f"/api/projects/{project.pk}/versions/3/diff?against=2").json()
    assert diff["relabeled"] == [{"item": items[8].pk, "from": "other", "to": "dog", "why": "answers"}]
    assert diff["added"] == [] and diff["removed"] == []
    third = client.get(f"/api/projects/{project.pk}/versions/3/").json()
    assert third["content_hash"] != first["content_hash"]
    assert third["changes"] == {"added": 0, "removed": 0, "relabeled": 1, "resplit": 0}


def _descendants(pid):
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return found
    for child in children:
        found.append(child)
        found.extend(_descendants(child))
    return found


def kill_worker(worker):
    """SIGKILL a worker's main process and every process it started: no warm shutdown, no goodbye."""
    pids = [worker.process.pid, *_descendants(worker.process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.process.wait(10)

    def all_gone():
        for pid in pids[1:]:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if handle.read().split()[2] == "Z":
                        continue
            except FileNotFoundError:
                continue
            return False
        return True

    wait_for(all_gone, timeout=10, message="the killed worker's processes to end")


@pytest.fixture
def own_worker(celery_worker, monkeypatch):
    """The session's worker stops while the test runs workers of its own; it is back afterwards."""
    stop_worker(celery_worker)
    started = []

    def start(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        worker = start_worker(celery_worker.media_root)
        for name in env:
            monkeypatch.delenv(name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            stop_worker(worker)
    if settings.CELERY_BROKER_URL.startswith("redis"):
        # A killed worker's message stays "unacked" in Redis and would come back an hour later, into
        # whatever test database exists then.
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("unacked", "unacked_index")
    fresh = start_worker(celery_worker.media_root)
    celery_worker.process, celery_worker.log = fresh.process, fresh.log


def test_a_worker_killed_mid_build_leaves_no_version_and_a_retry_publishes(
    api, manager, own_worker, shared_media, settings
):
    project = text_project(manager)
    items = add_texts(project, [f"clip {i}" for i in range(200)])
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, "cat")
    client = api(manager)
    # Test-only hook: chunks of 10 items and a pause after each, so the build is caught half-way.
    doomed = own_worker(LABELHUB_TEST_BUILD_PAUSE="0.25")
    job_id = client.post(f"/api/projects/{project.pk}/versions/", {}, format="json").json()["job"]

    def half_way():
        # While the build runs, no version is listed.
        assert client.get(f"/api/projects/{project.pk}/versions/").json()["count"] == 0
        job = client.get(f"/api/jobs/{job_id}/").json()
        return job["status"] == "running" and job["processed"] >= 40

    wait_for(half_way, timeout=60, interval=0.05, message="the build to be half-way")
    kill_worker(doomed)
    job = client.get(f"/api/jobs/{job_id}/").json()
    assert job["status"] == "running" and 40 <= job["processed"] < 200
    time.sleep(1.5)
    assert client.get(f"/api/projects/{project.pk}/versions/").json()["count"] == 0
    assert client.get(f"/api/projects/{project.pk}/versions/latest/").status_code == 404
    assert not DatasetVersion.objects.filter(project=project).exists()

    # Not retryable while it might be alive; once its heartbeat is stale, it is.
    retry_url = f"/api/projects/{project.pk}/version-builds/{job_id}/retry/"
    response = client.post(retry_url)
    assert response.status_code == 409 and "is running (last heartbeat" in response.json()["detail"]
    settings.LABELHUB_JOB_STALE_SECONDS = 1
    assert client.post(retry_url).status_code == 202

    rescuer = own_worker()  # a second worker, without the slow-down hook
    job = finished_job(client, job_id)
    assert job["status"] == "succeeded", rescuer.output()[-3000:]
    assert job["attempts"] == 2
    versions = client.get(f"/api/projects/{project.pk}/versions/").json()
    assert versions["count"] == 1
    lines = b"".join(client.get(f"/api/projects/{project.pk}/versions/1/manifest").streaming_content).splitlines()
    assert len(lines) == 200
    # The killed attempt's files are gone; only the published attempt's remain.
    folders, _ = default_storage.listdir(f"datasets/{project.pk}")
    assert folders == [f"build-{job_id}-2"]


def stripes(seed, *, vertical):
    """A 32×32 PNG of 4-pixel stripes with a little noise (every image different)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    band = ((np.arange(32) // 4) % 2) * 160 + 40
    pixels = np.tile(band, (32, 1)) if vertical else np.tile(band[:, None], (1, 32))
    pixels = np.clip(pixels + rng.integers(-30, 30, (32, 32)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_reference_trainer_on_the_worker(api, manager, celery_worker, shared_media):
    from labeling.services.imports import ImportEntry, items_import

    project = make_project(manager, name="Stripes", classes=[{"key": "vertical"}, {"key": "horizontal"}])
    entries = [ImportEntry(name=f"{i}.png", load=lambda i=i: stripes(i, vertical=i % 2 == 1)) for i in range(60)]
    imported = items_import(project=project, entries=entries).imported
    assert len(imported) == 60
    (a,) = labelers(project, 1)
    for i, pk in enumerate(imported):
        answer(Item.objects.get(pk=pk), a, "vertical" if i % 2 else "horizontal")
    client = api(manager)
    build_over_api(client, project, {"splits": {"train": 0.6, "dev": 0.2, "test": 0.2}}, worker=celery_worker)
    response = client.post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": "latest", "trainer": "logistic_regression"},
        format="json",
    )
    assert response.status_code == 202
    training_id = response.json()["id"]
    job = finished_job(client, response.json()["job"], timeout=180)
    assert job["status"] == "succeeded", (job, celery_worker.output()[-3000:])
    detail = client.get(f"/api/projects/{project.pk}/training-jobs/{training_id}/").json()
    assert detail["status"] == "succeeded"
    for split in ("dev", "test"):
        metrics = detail["metrics"][split]
        assert metrics["accuracy"] >= 0.9, detail["metrics"]
        assert {c["class"] for c in metrics["classes"]} == {"vertical", "horizontal"}
    run = ModelRun.objects.get(pk=detail["model_run"])
    assert run.n_predictions == 60 and run.dataset_version.number == 1
    assert run.predictions.filter(confidence__isnull=False).count() == 60
    assert "labeling.training_run" in celery_worker.output()
