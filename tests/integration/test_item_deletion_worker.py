"""A deletion of more items than a request deletes runs as a job on a separate worker process."""

import pytest

from labeling.models import Annotation, Item
from labeling.services import item_deletion
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import make_project, make_user
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_large_deletion_runs_on_the_worker(api, manager, celery_worker, monkeypatch):
    project = make_project(manager, name="Wrong folder", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"t{i}", text=f"text {i}") for i in range(12)]
    ).imported
    users = [make_user(f"w{i}") for i in range(2)]
    for item_id in ids:
        for user in users:
            annotation_save(item=Item.objects.get(pk=item_id), labeler=user, value="pos")
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 5)  # the web side's limit: a job for more
    client = api(manager)
    queued = client.post(f"/api/projects/{project.pk}/items/delete/", {"items": ids[:10]}, format="json")
    assert queued.status_code == 202, queued.content
    job_url = f"/api/jobs/{queued.json()['job']}/"
    job = wait_for(
        lambda: (j := client.get(job_url).json())["status"] in ("succeeded", "failed") and j, message="deletion job"
    )
    assert job["status"] == "succeeded", celery_worker.output()[-2000:]
    assert job["result"]["deleted"]["items"] == 10 and job["result"]["deleted"]["answers"] == 20
    assert list(Item.objects.filter(project=project).values_list("pk", flat=True)) == ids[10:]
    assert Annotation.objects.filter(item__project=project).count() == 4
    assert "labeling.items_delete_run" in celery_worker.output()
