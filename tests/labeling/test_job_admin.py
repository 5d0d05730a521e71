"""The Django admin shows jobs and never writes them: a job is the record of what the worker did and does,
and ``GET /api/jobs/{id}/`` and the worker read it. A status set by hand there (a queued deletion marked
succeeded, a failed build marked running) was reported as done, or never retried, without having run.
Only a finished job is deleted, and not a failed import, whose job names the upload a retry reads."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from labeling.choices import JobKind, JobStatus
from labeling.models import Item, Job, TrainingJob
from labeling.selectors import recent_imports
from labeling.services import item_deletion
from labeling.services.jobs import job_create
from tests.conftest import make_user
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db):
    """A staff member given every right on jobs (view, add, change, delete), but no superuser."""
    user = make_user("operator")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="labeling", codename__endswith="_job"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def deletion_job(manager):
    """A queued deletion job of three texts, as the Items page starts one."""
    project = text_project(manager)
    items = add_texts(project, ["a", "b", "c"])
    return item_deletion.items_delete_start(project=project, user=manager, item_ids=[i.pk for i in items])


def _edited(job, **changes):
    """The change form as the admin drew it before jobs were read-only, with ``changes``."""
    data = {
        "kind": job.kind,
        "status": job.status,
        "project": job.project_id,
        "created_by": job.created_by_id or "",
        "params": '{"items": [], "purge": false}',
        "processed": job.processed,
        "total": job.total or "",
        "errors": "[]",
        "result": "{}",
        "attempts": job.attempts,
        "started_0": "",
        "started_1": "",
        "finished_0": "",
        "finished_1": "",
        "heartbeat_0": "",
        "heartbeat_1": "",
        "queued_0": "",
        "queued_1": "",
    }
    return {**data, **changes}


@pytest.mark.parametrize("who", ["staff_client", "admin_client"])
def test_a_staff_post_to_a_jobs_admin_page_changes_nothing_the_api_reports(who, request, deletion_job, api, manager):
    client = request.getfixturevalue(who)
    url = f"/admin/labeling/job/{deletion_job.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # shown, with nothing to save
    response = client.post(url, _edited(deletion_job, status="succeeded", result='{"deleted": {"items": 3}}'))
    assert response.status_code == 403
    job = Job.objects.get(pk=deletion_job.pk)
    assert (job.status, job.result, job.params["items"]) == ("queued", {}, deletion_job.params["items"])
    assert api(manager).get(f"/api/jobs/{job.pk}/").json()["status"] == "queued"
    item_deletion.items_delete_run(job_id=job.pk)  # the worker still runs it, and deletes the items
    assert Job.objects.get(pk=job.pk).status == "succeeded"
    assert not Item.objects.filter(pk__in=deletion_job.params["items"]).exists()


def test_a_failed_job_set_to_running_in_the_admin_stays_failed(staff_client, manager):
    job = job_create(kind=JobKind.VERSION, project=text_project(manager), user=manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, errors=[{"reason": "build failed"}])
    job.refresh_from_db()
    response = staff_client.post(f"/admin/labeling/job/{job.pk}/change/", _edited(job, status="running"))
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == "failed"


def test_no_job_is_added_in_the_admin(staff_client, manager):
    project = text_project(manager)
    assert staff_client.get("/admin/labeling/job/add/").status_code == 403
    response = staff_client.post(
        "/admin/labeling/job/add/", _edited(Job(kind="deletion", status="queued", project=project))
    )
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_a_queued_or_running_job_is_not_deleted_and_its_worker_still_runs_it(staff_client, deletion_job):
    url = f"/admin/labeling/job/{deletion_job.pk}/delete/"
    change = f"/admin/labeling/job/{deletion_job.pk}/change/"
    assert f'href="{url}"' not in staff_client.get(change).content.decode()  # no Delete link on a job in hand
    response = staff_client.get(url, follow=True)
    assert response.redirect_chain == [(change, 302)]
    assert f"Nothing was deleted: job {deletion_job.pk} is queued" in response.content.decode()
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    Job.objects.filter(pk=deletion_job.pk).update(status=JobStatus.RUNNING)
    response = staff_client.post(url, {"post": "yes"}, follow=True)
    assert f"Nothing was deleted: job {deletion_job.pk} is running" in response.content.decode()
    assert Job.objects.filter(pk=deletion_job.pk).exists()
    Job.objects.filter(pk=deletion_job.pk).update(status=JobStatus.QUEUED)
    item_deletion.items_delete_run(job_id=deletion_job.pk)
    assert Job.objects.get(pk=deletion_job.pk).status == "succeeded"
    assert f'href="{url}"' in staff_client.get(change).content.decode()  # finished: it may go


def test_a_project_deleted_in_the_admin_still_takes_its_jobs_in_hand(admin_client, deletion_job):
    response = admin_client.post(f"/admin/labeling/project/{deletion_job.project_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=deletion_job.pk).exists()
    assert item_deletion.items_delete_run(job_id=deletion_job.pk) is None  # its message finds nothing to run


def test_the_delete_action_refuses_a_selection_holding_a_job_in_hand_and_deletes_finished_ones(
    staff_client, deletion_job, manager
):
    project = deletion_job.project
    done = job_create(kind=JobKind.VERSION, project=project, user=manager)
    failed_build = job_create(kind=JobKind.VERSION, project=project, user=manager)
    failed_import = job_create(kind=JobKind.IMPORT, project=project, user=manager, params={"upload": "imports/x/a.zip"})
    Job.objects.filter(pk=done.pk).update(status=JobStatus.SUCCEEDED)
    Job.objects.filter(pk__in=[failed_build.pk, failed_import.pk]).update(status=JobStatus.FAILED)

    def delete(*jobs):
        data = {"action": "delete_selected", "_selected_action": [job.pk for job in jobs], "post": "yes"}
        return staff_client.post("/admin/labeling/job/", data, follow=True)

    response = delete(done, deletion_job)
    assert f"Nothing was deleted: job {deletion_job.pk} is queued" in response.content.decode()
    response = delete(done, failed_import)
    assert f"job {failed_import.pk} is a failed import: it keeps its upload for a retry" in response.content.decode()
    assert Job.objects.count() == 4
    delete(done, failed_build)
    assert set(Job.objects.values_list("pk", flat=True)) == {deletion_job.pk, failed_import.pk}
    staff_client.post(f"/admin/labeling/job/{failed_import.pk}/delete/", {"post": "yes"})
    assert Job.objects.filter(pk=failed_import.pk).exists()


def test_a_finished_job_is_deleted_from_its_page_and_what_it_made_stays(staff_client, deletion_job):
    item_deletion.items_delete_run(job_id=deletion_job.pk)
    url = f"/admin/labeling/job/{deletion_job.pk}/delete/"
    assert staff_client.get(url).status_code == 200
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not Job.objects.filter(pk=deletion_job.pk).exists()


@pytest.fixture
def finished_import(manager):
    """A finished import job and the three items it stored (naming it, as the Import page finds them)."""
    project = text_project(manager)
    job = job_create(kind=JobKind.IMPORT, project=project, user=manager, params={"upload": "imports/x/a.zip"})
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    items = add_texts(project, ["a", "b", "c"])
    Item.objects.filter(pk__in=[i.pk for i in items]).update(import_job=job)
    return job


def test_a_finished_import_whose_items_name_it_is_not_deleted(staff_client, finished_import):
    url = f"/admin/labeling/job/{finished_import.pk}/delete/"
    change = f"/admin/labeling/job/{finished_import.pk}/change/"
    assert f'href="{url}"' not in staff_client.get(change).content.decode()
    response = staff_client.post(url, {"post": "yes"}, follow=True)
    said = f"Nothing was deleted: job {finished_import.pk} is an import whose 3 items still name it"
    assert said in response.content.decode()
    data = {"action": "delete_selected", "_selected_action": [finished_import.pk], "post": "yes"}
    response = staff_client.post("/admin/labeling/job/", data, follow=True)
    assert said in response.content.decode()
    assert Job.objects.filter(pk=finished_import.pk).exists()
    (shown,) = recent_imports(project=finished_import.project)  # the Import page's, with "Delete the items..."
    assert (shown.pk, shown.n_items) == (finished_import.pk, 3)


def test_a_finished_import_whose_items_are_gone_is_deleted(staff_client, finished_import):
    Item.objects.filter(import_job=finished_import).delete()
    assert staff_client.post(f"/admin/labeling/job/{finished_import.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Job.objects.filter(pk=finished_import.pk).exists()


@pytest.fixture
def training(manager):
    """A training job on a version, its job queued."""
    project = text_project(manager)
    (item,) = add_texts(project, ["one"])
    answer(item, labelers(project, 1)[0], "cat")
    version = build(project, manager)
    job = job_create(kind=JobKind.TRAINING, project=project, user=manager)
    return TrainingJob.objects.create(
        project=project, version=version, trainer="logistic_regression", job=job, metrics={"test": {"accuracy": 0.5}}
    )


def test_a_training_job_is_shown_and_never_edited_or_added_in_the_admin(admin_client, training):
    url = f"/admin/labeling/trainingjob/{training.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    edited = {"project": training.project_id, "version": training.version_id, "trainer": "external", "params": "{}"}
    assert admin_client.post(url, {**edited, "job": training.job_id}).status_code == 403
    assert TrainingJob.objects.get(pk=training.pk).trainer == "logistic_regression"
    assert admin_client.get("/admin/labeling/trainingjob/add/").status_code == 403
    assert admin_client.post("/admin/labeling/trainingjob/add/", edited).status_code == 403
    assert TrainingJob.objects.count() == 1


def test_a_training_job_is_deleted_in_the_admin_once_its_job_has_finished(admin_client, training):
    url = f"/admin/labeling/trainingjob/{training.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert f"Nothing was deleted: training job {training.pk} is queued" in response.content.decode()
    data = {"action": "delete_selected", "_selected_action": [training.pk], "post": "yes"}
    response = admin_client.post("/admin/labeling/trainingjob/", data, follow=True)
    assert f"Nothing was deleted: training job {training.pk} is queued" in response.content.decode()
    assert TrainingJob.objects.filter(pk=training.pk).exists()
    Job.objects.filter(pk=training.job_id).update(status=JobStatus.SUCCEEDED)
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not TrainingJob.objects.filter(pk=training.pk).exists()
    training.pk, training.job = None, None  # one whose job is gone
    training.save()
    data["_selected_action"] = [training.pk]
    assert admin_client.post("/admin/labeling/trainingjob/", data).status_code == 302
    assert not TrainingJob.objects.exists()
