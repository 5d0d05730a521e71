"""A large project's agreement report is computed by a separate worker process and then cached."""

import pytest

from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_report_job_runs_on_the_worker_and_the_page_data_is_cached(api, manager, reviewer, celery_worker, settings):
    project = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    member_add(project=project, username=reviewer.username, role="reviewer")
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"t{i}", text=f"text {i}") for i in range(20)]
    ).imported
    users = [make_user(f"r{i}") for i in range(2)]
    for n, item_id in enumerate(ids):
        for user in users:
            annotation_save(
                item=Item.objects.get(pk=item_id), labeler=user, value="pos" if (n + user.pk) % 3 else "neg"
            )
    settings.LABELHUB_AGREEMENT_SYNC_LIMIT = 5  # force the worker path
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/agreement/"
    queued = client.get(url)
    assert queued.status_code == 202
    job_url = f"/api/jobs/{queued.json()['job']}/"
    job = wait_for(
        lambda: (j := client.get(job_url).json())["status"] in ("succeeded", "failed") and j, message="report job"
    )
    assert job["status"] == "succeeded", celery_worker.output()[-2000:]
    report = client.get(url)
    assert report.status_code == 200 and report.json()["cached"] is True
    assert report.json()["n_items"] == 20
    assert "analysis.agreement_report_run" in celery_worker.output()
