"""A manifest import posted through the API and run by a separate worker process."""

import json
import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Item
from tests.conftest import make_project
from tests.integration.conftest import ROOT, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_manifest_import_runs_on_a_separate_worker(api, manager, celery_worker, shared_media):
    project = make_project(manager, name="Texts", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    lines = [
        json.dumps({"text": f"review number {i}", "tags": ["batch"], "label": "pos" if i % 2 else "neg"})
        for i in range(12000)
    ]
    lines.insert(5, "{oops")
    upload = SimpleUploadedFile("reviews.jsonl", "\n".join(lines).encode())
    response = api(manager).post(f"/api/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202
    job_url = f"/api/jobs/{response.json()['job']}/"

    seen = []

    def finished():
        job = api(manager).get(job_url).json()
        seen.append((job["status"], job["processed"]))
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_for(finished, timeout=120, interval=0.02, message="the import job")
    assert job["status"] == "succeeded", (job, celery_worker.output()[-3000:])
    assert job["total"] == 12001 and job["processed"] == 12001
    assert job["result"]["imported"] == 12000 and job["result"]["rejected"] == 1
    assert job["errors"][0]["name"] == "line 6" and "malformed JSON" in job["errors"][0]["reason"]
    assert Item.objects.filter(project=project).count() == 12000
    assert Item.objects.filter(project=project, tags__name="batch").count() == 12000
    # The worker said it ran the task, and it was not this test process.
    assert "labeling.import_run" in celery_worker.output()
    statuses = {s for s, _ in seen}
    assert "succeeded" in statuses


def test_image_zip_import_on_the_worker_stores_files_the_web_can_serve(api, manager, celery_worker, shared_media):
    from tests.conftest import png_bytes
    from tests.labeling.test_item_import import zip_bytes

    project = make_project(manager, name="Pets")
    archive = zip_bytes([(f"cat/{i}.png", png_bytes(seed=i)) for i in range(5)] + [("dog/x.png", b"junk")])
    response = api(manager).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("pets.zip", archive), "label_from_folder": "true"},
        format="multipart",
    )
    job_url = f"/api/jobs/{response.json()['job']}/"
    job = wait_for(
        lambda: (j := api(manager).get(job_url).json())["status"] in ("succeeded", "failed") and j,
        message="the zip import",
    )
    assert job["status"] == "succeeded" and job["result"]["imported"] == 5
    assert job["errors"][0]["name"] == "dog/x.png"
    item = Item.objects.filter(project=project).first()
    served = api(manager).get(f"/api/items/{item.pk}/file")
    assert served.status_code == 200
    assert b"".join(served.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_worker_starts_with_the_documented_command():
    """`celery -A labelhub worker` finds the app and its tasks from the project root."""
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "labelhub", "inspect", "registered", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    from labelhub.celery import app

    app.loader.import_default_modules()
    assert "labeling.import_run" in app.tasks
