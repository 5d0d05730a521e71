"""Background jobs are for the reviewers and managers of their project: an import's duplicates name
original files and folder labels, a build counts classes, training reports metrics. A labeler of the
project is told so (403) and sees nothing of the job; a non-member gets the same 404 as for a job that
does not exist, since job ids are sequential."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import JobKind, JobStatus
from labeling.models import Job
from labeling.services.import_jobs import import_job_create, import_job_run
from labeling.services.imports import ImportEntry, items_import
from labeling.services.jobs import job_create
from labeling.services.projects import member_add
from tests.conftest import png_bytes
from tests.labeling.access_helpers import read_everything, routes_showing
from tests.labeling.version_helpers import add_texts, answer, build, text_project


def zip_of(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def import_job(project, manager):
    """A finished zip import labeled by folder, one of whose scans the project already had (a duplicate)."""
    scan = png_bytes(seed=71)
    items_import(project=project, entries=[ImportEntry(name="earlier.png", load=lambda: scan)])
    upload = zip_of([("cat/kitty_042.png", scan), ("cat/kitty_043.png", png_bytes(seed=72))])
    job = import_job_create(
        project=project, user=manager, upload=SimpleUploadedFile("scans.zip", upload), label_from_folder=True
    )
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result["duplicates"] == 1
    return job


def not_found_body(client):
    missing = (Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    response = client.get(f"/api/jobs/{missing}/")
    assert response.status_code == 404
    return response.json()


def test_labeler_is_refused_an_import_job_of_their_project_and_sees_nothing_of_it(api, labeler, import_job):
    # A labeler got the 404 of a job that does not exist, for a job of a project they belong to.
    response = api(labeler).get(f"/api/jobs/{import_job.pk}/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Background jobs are read by the reviewers and managers of project 'Digits'; you are labeler."
    }
    assert "kitty_042" not in response.content.decode()


def test_a_non_member_gets_the_404_of_a_job_that_does_not_exist(api, outsider, import_job):
    client = api(outsider)
    response = client.get(f"/api/jobs/{import_job.pk}/")
    assert response.status_code == 404
    assert response.json() == not_found_body(client)  # other projects' jobs are not revealed
    assert "kitty_042" not in response.content.decode()


def test_reviewers_and_managers_read_an_import_job(api, reviewer, manager, import_job):
    for user in (reviewer, manager):
        job = api(user).get(f"/api/jobs/{import_job.pk}/").json()
        assert job["kind"] == "import" and job["result"]["duplicates"] == 1
        assert "cat/kitty_042.png" in str(job["result"]["duplicate_items"])


def test_a_poll_leaves_the_imported_ids_out_unless_asked(api, manager, import_job):
    client = api(manager)
    (new_item,) = import_job.result["items"]
    polled = client.get(f"/api/jobs/{import_job.pk}/").json()
    assert "items" not in polled["result"] and polled["result"]["imported"] == 1
    assert polled["result"]["duplicate_items"]  # what the import page shows stays in the poll
    listed = client.get(f"/api/jobs/{import_job.pk}/?items=1").json()
    assert listed["result"]["items"] == [new_item] and listed["result"]["imported"] == 1
    response = client.get(f"/api/jobs/{import_job.pk}/?items=many")
    assert response.status_code == 400 and "items" in response.json()


def test_labeler_cannot_read_a_version_build(api, manager):
    project = text_project(manager)
    reviewer_user, labeler_user = (
        type(manager).objects.create_user(username=name, password="pw") for name in ("sme9", "lab9")
    )
    member_add(project=project, username="sme9", role="reviewer")
    member_add(project=project, username="lab9", role="labeler")
    for item in add_texts(project, ["purr", "woof"]):
        answer(item, labeler_user, "cat")
    version = build(project, manager)
    job = api(reviewer_user).get(f"/api/jobs/{version.job_id}/").json()
    assert job["kind"] == "version" and job["result"]["counts"]
    response = api(labeler_user).get(f"/api/jobs/{version.job_id}/")
    assert response.status_code == 403 and "you are labeler" in response.json()["detail"]
    assert "counts" not in response.content.decode()


@pytest.mark.parametrize("kind", JobKind.values)
def test_every_kind_of_job_is_for_reviewers_and_managers(api, project, manager, reviewer, labeler, outsider, kind):
    job = job_create(kind=kind, project=project, user=manager, total=10)
    Job.objects.filter(pk=job.pk).update(result={"accuracy": 0.913, "counts": {"cat": 7}})
    for user in (reviewer, manager):
        assert api(user).get(f"/api/jobs/{job.pk}/").json()["result"]["accuracy"] == 0.913
    assert api(labeler).get(f"/api/jobs/{job.pk}/").status_code == 403
    assert api(outsider).get(f"/api/jobs/{job.pk}/").status_code == 404


def test_a_job_started_in_a_labelers_name_is_still_not_theirs_to_read(api, project, labeler):
    job = job_create(kind=JobKind.IMPORT, project=project, user=labeler)
    assert api(labeler).get(f"/api/jobs/{job.pk}/").status_code == 403


def test_no_page_or_endpoint_shows_a_labeler_a_job(client, labeler, project, import_job):
    client.force_login(labeler)
    answers = read_everything(client, {"project_id": project.pk, "job_id": import_job.pk})
    assert answers["api/jobs/<int:job_id>/"][0] == 403
    assert answers["projects/<int:project_id>/"][0] == 200
    assert routes_showing(answers, ("kitty_042", "kitty_043", "Recent jobs")) == []


def test_reviewers_see_recent_jobs_on_the_project_page(client, reviewer, project, import_job):
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Recent jobs" in page and f"#{import_job.pk}" in page


def test_the_schema_says_who_reads_jobs_and_what_labelers_see_of_an_item(api, manager):
    schema = api(manager).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    def component(ref):
        return ref["$ref"].rsplit("/", 1)[1]

    job = schema["paths"]["/api/jobs/{job_id}/"]["get"]["responses"]
    assert "labeler" in job["403"]["description"] and "not a member" in job["404"]["description"]
    item = schema["paths"]["/api/items/{item_id}/"]["get"]["responses"]
    one_of = components[component(item["200"]["content"]["application/json"]["schema"])]["anyOf"]
    assert {component(ref) for ref in one_of} == {"ItemDetail", "LabelerItem"}
    for hidden in ("tags", "skips"):  # (skips: other labelers' doubts)
        assert hidden in components["ItemDetail"]["properties"]
        assert hidden not in components["LabelerItem"]["properties"]
    assert {"403", "404"} <= set(schema["paths"]["/api/projects/{project_id}/items/"]["get"]["responses"])
