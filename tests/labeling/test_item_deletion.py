"""Managers delete items (the wrong folder imported, a source's licence revoked) without the admin:
``POST /api/projects/{id}/items/delete/`` and ``DELETE /api/items/{id}/`` (labeling.services.item_deletion);
the Django admin's deletion goes through the same service and rules."""

import io
import re
import zipfile

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import Role
from labeling.models import (
    Annotation,
    ArchivedAnnotation,
    Campaign,
    DatasetVersion,
    Decision,
    GuidelineExample,
    Item,
    Job,
    Reservation,
)
from labeling.services import item_deletion
from labeling.services.campaigns import campaign_create
from labeling.services.guidelines import guideline_publish
from labeling.services.import_jobs import import_job_create, import_job_run
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from tests.conftest import png_bytes
from tests.labeling.test_deleted_files import run_item_removals
from tests.labeling.version_helpers import add_texts, answer, build, text_project

pytestmark = pytest.mark.django_db


def url(project):
    return f"/api/projects/{project.pk}/items/delete/"


def images(project, n, start=0):
    report = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(start, start + n)],
    )
    return [Item.objects.get(pk=pk) for pk in report.imported]


def everything(project):
    return (
        Item.objects.filter(project=project).count(),
        Annotation.objects.filter(item__project=project).count(),
        ArchivedAnnotation.objects.filter(item__project=project).count(),
        Decision.objects.filter(item__project=project).count(),
    )


@pytest.fixture
def labeled(project, labeler, labeler2, reviewer):
    """Four images: a and b answered twice, b decided by the reviewer, c answered once, d untouched."""
    a, b, c, d = images(project, 4)
    for item in (a, b):
        answer(item, labeler, "cat")
        answer(item, labeler2, "dog")
    answer(c, labeler, "cat")
    decision_record(item=b, reviewer=reviewer, label="cat")
    return a, b, c, d


def test_only_managers_delete_items_and_outsiders_are_not_told_the_project_exists(
    api, project, labeled, labeler, reviewer, outsider
):
    a = labeled[0]
    before = everything(project)
    for user in (labeler, reviewer):
        assert api(user).post(url(project), {"items": [a.pk]}, format="json").status_code == 403
        assert api(user).delete(f"/api/items/{a.pk}/").status_code == 403
    assert api(outsider).post(url(project), {"items": [a.pk]}, format="json").status_code == 404
    assert api(outsider).delete(f"/api/items/{a.pk}/").status_code == 404
    assert everything(project) == before


def test_another_projects_item_ids_are_refused_naming_them_and_nothing_is_deleted(
    api, manager, project, labeled, other_project
):
    (foreign,) = images(other_project, 1, start=10)
    before = everything(project)
    response = api(manager).post(url(project), {"items": [labeled[0].pk, foreign.pk]}, format="json")
    assert response.status_code == 400
    assert str(foreign.pk) in response.json()["detail"]
    assert everything(project) == before and Item.objects.filter(pk=foreign.pk).exists()


def test_a_request_names_exactly_one_selection(api, manager, project, labeled):
    for body in ({}, {"items": [labeled[0].pk], "filter": {"tag": "x"}}, {"itemz": [1]}):
        assert api(manager).post(url(project), body, format="json").status_code == 400
    assert Item.objects.filter(project=project).count() == 4


def test_a_preview_says_what_would_go_and_changes_nothing(api, manager, project, labeled, labeler):
    a, b, c, d = labeled
    campaign = campaign_create(project=project, name="Night", item_ids=[a.pk], overlap=3)
    answer(a, labeler, "cat")  # after the campaign archived a's two answers
    before = everything(project)
    response = api(manager).post(url(project), {"items": [a.pk, b.pk], "preview": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == 2
    assert body["answers"] == 3  # a's new one, b's two
    assert body["archived_answers"] == 2
    assert body["decisions"] == 1
    assert body["campaigns"] == [{"id": campaign.pk, "name": "Night", "items": 1}]
    assert body["versions"] == [] and body["runs_as_job"] is False and body["build_under_way"] is None
    assert body["guideline_examples"] == []
    assert everything(project) == before
    one = api(manager).delete(f"/api/items/{b.pk}/?preview=true")
    assert one.status_code == 200 and one.json()["answers"] == 2 and one.json()["decisions"] == 1
    assert everything(project) == before


def test_deleting_takes_answers_decisions_and_the_stored_file_and_counts_stay_right(
    api, manager, project, labeled, labeler, labeler2, reviewer, job_messages, django_capture_on_commit_callbacks
):
    a, b, c, d = labeled
    campaign_create(project=project, name="Night", item_ids=[b.pk], overlap=3)
    Reservation.objects.create(project=project, labeler=labeler2, item=c, expires="2999-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks() as captured:
        response = api(manager).post(url(project), {"items": [b.pk, c.pk]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["items"] == 2 and response.json()["archived_answers"] == 2
    assert not Item.objects.filter(pk__in=[b.pk, c.pk]).exists()
    assert not Annotation.objects.filter(item_id__in=[b.pk, c.pk]).exists()
    assert not ArchivedAnnotation.objects.filter(item_id__in=[b.pk, c.pk]).exists()
    assert not Decision.objects.filter(item_id__in=[b.pk, c.pk]).exists()
    assert Campaign.objects.get(name="Night").items.count() == 0
    assert Reservation.objects.get(labeler=labeler2).item is None  # the hold on c is released
    assert default_storage.exists(b.file.name)  # removed by a worker once the deletion commits
    run_item_removals(job_messages, captured)
    assert not default_storage.exists(b.file.name) and not default_storage.exists(c.file.name)
    assert default_storage.exists(a.file.name) and default_storage.exists(d.file.name)

    # the queue's counters: a keeps its two answers, the project counts two items
    assert Item.objects.get(pk=a.pk).n_answers == 2
    progress = api(labeler).get(f"/api/projects/{project.pk}/progress/").json()
    assert progress["project"]["items"] == 2
    assert progress["mine"]["total"] == 1  # labeler's answers to b and c went with them

    with django_capture_on_commit_callbacks() as captured:
        assert api(manager).delete(f"/api/items/{d.pk}/").status_code == 200
    run_item_removals(job_messages, captured)
    assert not default_storage.exists(d.file.name) and list(Item.objects.filter(project=project)) == [a]


def test_a_filter_and_an_import_select_their_items(api, manager, project, labeled, job_messages):
    a, b, c, d = labeled
    response = api(manager).post(url(project), {"filter": {"class": "dog"}}, format="json")  # a and b
    assert response.status_code == 200 and response.json()["items"] == 2
    assert set(Item.objects.filter(project=project).values_list("pk", flat=True)) == {c.pk, d.pk}

    folder = io.BytesIO()
    with zipfile.ZipFile(folder, "w") as archive:
        for i in range(3):
            archive.writestr(f"wrong/{i}.png", png_bytes(seed=30 + i))
    job = import_job_create(project=project, user=manager, upload=SimpleUploadedFile("wrong.zip", folder.getvalue()))
    import_job_run(job_id=job.pk)
    assert Item.objects.filter(project=project, import_job=job).count() == 3
    preview = api(manager).post(url(project), {"import_job": job.pk, "preview": True}, format="json")
    assert preview.json()["items"] == 3
    assert api(manager).post(url(project), {"import_job": job.pk}, format="json").status_code == 200
    assert set(Item.objects.filter(project=project).values_list("pk", flat=True)) == {c.pk, d.pk}
    assert api(manager).post(url(project), {"import_job": 999999}, format="json").status_code == 400


def test_the_agreement_report_no_longer_counts_deleted_items(api, manager, project, labeled, labeler, labeler2):
    a, b, c, d = labeled
    answer(c, labeler2, "cat")
    # a's answers only archived by a campaign (no current answer, no decision): the report counts them
    campaign_create(project=project, name="Night", item_ids=[a.pk], overlap=3)
    report = api(manager).get(f"/api/projects/{project.pk}/agreement/")
    assert report.status_code == 200, report.content
    before = report.json()
    assert api(manager).post(url(project), {"items": [a.pk]}, format="json").status_code == 200
    after = api(manager).get(f"/api/projects/{project.pk}/agreement/").json()
    assert after["n_items"] == before["n_items"] - 1, (before, after)


def test_a_version_holding_the_items_refuses_their_deletion_unless_purged(api, manager, project, labeled, reviewer):
    a, b, c, d = labeled
    v1 = build(project, manager)
    v2 = build(project, manager)
    # the manifests hold b (decided) and c (one answer); a's tie and d (no answer) are left out
    held = api(manager).post(url(project), {"items": [a.pk, b.pk, c.pk, d.pk], "preview": True}, format="json")
    plan = {"rewrite": ["answers", "csv", "jsonl", "parquet"], "remove": ["imagefolder"]}
    assert held.json()["versions"] == [{"version": 1, "items": 2, **plan}, {"version": 2, "items": 2, **plan}]
    a = c
    before = everything(project)
    response = api(manager).post(url(project), {"items": [a.pk]}, format="json")
    assert response.status_code == 409
    assert "v1 holds 1" in response.json()["detail"] and "v2 holds 1" in response.json()["detail"]
    assert response.json()["versions"] == [{"version": 1, "items": 1}, {"version": 2, "items": 1}]
    assert api(manager).delete(f"/api/items/{a.pk}/").status_code == 409
    assert everything(project) == before

    assert api(reviewer).get(f"/api/items/{a.pk}/file").status_code == 200
    response = api(manager).post(url(project), {"items": [a.pk], "purge": True}, format="json")
    assert response.status_code == 200 and response.json()["purged"] is True
    assert not Item.objects.filter(pk=a.pk).exists()
    for version in (v1, v2):
        version = DatasetVersion.objects.get(pk=version.pk)
        assert version.info["purged"][0]["items"] == [a.pk]
        detail = api(reviewer).get(f"/api/projects/{project.pk}/versions/{version.number}/").json()
        assert detail["purged"][0]["items"] == 1
    gone = api(reviewer).get(f"/api/items/{a.pk}/file")
    assert gone.status_code == 410
    assert f"Item {a.pk} was purged" in gone.json()["detail"]
    # the version's image archive held a copy of the purged file: removed; its manifests are rewritten
    archive = api(reviewer).get(f"/api/projects/{project.pk}/versions/1/download?format=imagefolder")
    assert archive.status_code == 410
    assert "imagefolder file was removed when 1 item was purged on" in archive.json()["detail"]
    assert api(reviewer).get(f"/api/projects/{project.pk}/versions/1/download?format=parquet").status_code == 200


def test_a_large_deletion_runs_as_a_job_whose_error_names_the_versions(
    api, manager, project, labeled, monkeypatch, job_messages, django_capture_on_commit_callbacks
):
    a, b, c, d = labeled
    build(project, manager)
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 1)
    preview = api(manager).post(url(project), {"items": [c.pk, d.pk], "preview": True}, format="json").json()
    assert preview["runs_as_job"] is True
    with django_capture_on_commit_callbacks(execute=True):
        response = api(manager).post(url(project), {"items": [c.pk, d.pk]}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert ("labeling.items_delete_run", job.pk) in job_messages
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "v1 holds 1" in job.errors[-1]["reason"]
    assert Item.objects.filter(project=project).count() == 4

    job = Job.objects.get(
        pk=api(manager).post(url(project), {"items": [c.pk, d.pk], "purge": True}, format="json").json()["job"]
    )
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["deleted"]["items"] == 2
    assert job.heartbeat is not None and job.processed == 2  # a long one shows progress and stays alive
    assert Item.objects.filter(project=project).count() == 2
    assert api(manager).get(f"/api/jobs/{job.pk}/").status_code == 200


def test_a_manager_of_one_project_deletes_nothing_in_another(api, manager, project, labeled, outsider, other_project):
    member_add(project=other_project, username=manager.username, role=Role.LABELER)
    (foreign,) = images(other_project, 1, start=20)
    assert api(manager).post(url(other_project), {"items": [foreign.pk]}, format="json").status_code == 403
    assert api(manager).delete(f"/api/items/{foreign.pk}/").status_code == 403
    assert Item.objects.filter(pk=foreign.pk).exists()


def test_a_version_build_under_way_refuses_a_deletion(api, manager, project, labeled):
    """The build read its snapshot before: it would publish a version naming the deleted items, with no
    record of their purge."""
    from labeling.services.versions import version_build_start

    job = version_build_start(project=project, user=manager, recipe={})
    preview = api(manager).post(url(project), {"items": [labeled[3].pk], "preview": True}, format="json")
    assert preview.json()["build_under_way"] == job.pk
    before = everything(project)
    response = api(manager).post(url(project), {"items": [labeled[3].pk], "purge": True}, format="json")
    assert response.status_code == 409
    assert f"a dataset version is being built (job {job.pk})" in response.json()["detail"]
    assert everything(project) == before


def test_a_version_published_while_the_manifests_were_read_still_refuses(manager, project, labeled, monkeypatch):
    """The versions holding the items are read before the project's lock is taken: a build that published
    (and so was no longer under way) between that read and the lock held the items too, and they were
    deleted with no purge recorded on it."""
    a, b, c, d = labeled
    real = item_deletion.versions_holding
    published = []

    def read_then_publish(**kwargs):
        found = real(**kwargs)
        if not published:
            published.append(build(project, manager))  # b and c: decided, one answer
        return found

    monkeypatch.setattr(item_deletion, "versions_holding", read_then_publish)
    before = everything(project)
    with pytest.raises(item_deletion.VersionsHoldItems) as refused:
        item_deletion.items_delete(project=project, item_ids=[c.pk], user=manager)
    assert refused.value.holding[0]["version"] == published[0].number
    assert everything(project) == before
    result = item_deletion.items_delete(project=project, item_ids=[c.pk], purge=True, user=manager)
    assert result["purged"] is True and result["versions"] == [
        {
            "version": published[0].number,
            "items": 1,
            "rewrite": ["answers", "csv", "jsonl", "parquet"],
            "remove": ["imagefolder"],
        }
    ]
    assert DatasetVersion.objects.get(pk=published[0].pk).info["purged"][0]["items"] == [c.pk]


def test_a_preview_names_the_guideline_versions_whose_examples_go_with_the_items(api, manager, project, labeled):
    """A guideline's canonical examples are deleted with their items: the published guideline loses them,
    which the preview said nothing of."""
    a, b, c, _ = labeled
    first = guideline_publish(project=project, text="Cats have whiskers.", author=manager)
    second = guideline_publish(project=project, text="Cats have whiskers and tails.", author=manager)
    GuidelineExample.objects.create(guideline=first, item=a, label="cat")
    GuidelineExample.objects.create(guideline=second, item=a, label="cat")
    GuidelineExample.objects.create(guideline=second, item=b, label="borderline")
    GuidelineExample.objects.create(guideline=second, item=c, label="dog")
    body = api(manager).post(url(project), {"items": [a.pk, b.pk], "preview": True}, format="json").json()
    assert body["guideline_examples"] == [
        {"guideline": first.version, "examples": 1},
        {"guideline": second.version, "examples": 2},
    ]
    done = api(manager).post(url(project), {"items": [a.pk, b.pk]}, format="json")
    assert done.status_code == 200 and done.json()["guideline_examples"] == body["guideline_examples"]
    assert list(GuidelineExample.objects.values_list("item_id", flat=True)) == [c.pk]


# --- the Django admin: the same rules, through the same service ---------------------------------------------


def admin_messages(response):
    from django.contrib.messages import get_messages

    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def admin_delete_selected(admin_client, ids):
    return admin_client.post(
        "/admin/labeling/item/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True
    )


def test_the_admin_refuses_to_delete_items_a_version_holds_naming_it_and_deletes_nothing(
    admin_client, manager, project, labeled
):
    """The admin deleted them and the versions' manifests went on naming them, with no purge recorded."""
    a, b, c, d = labeled
    v1 = build(project, manager)  # holds b (decided) and c (one answer)
    files = {artifact.format: artifact.sha256 for artifact in v1.artifacts.all()}
    before = everything(project)

    page = admin_client.get(f"/admin/labeling/item/{c.pk}/delete/", follow=True)
    response = admin_client.post(f"/admin/labeling/item/{c.pk}/delete/", {"post": "yes"}, follow=True)
    for answered in (page, response):
        ((level, text),) = admin_messages(answered)
        assert level == "error"
        assert text.startswith(f"Nothing was deleted: {project.name} v1 holds this item.")
        assert "Purge anyway" in text and '"purge": true' in text  # where a purge is done
    assert response.redirect_chain[-1][0] == f"/admin/labeling/item/{c.pk}/change/"

    response = admin_delete_selected(admin_client, [a.pk, b.pk, c.pk, d.pk])
    ((level, text),) = admin_messages(response)
    assert level == "error" and f"{project.name} v1 holds 2 of these items" in text
    assert everything(project) == before  # a and d (in no version) stay too: all or nothing
    v1 = DatasetVersion.objects.get(pk=v1.pk)
    assert "purged" not in v1.info
    assert {artifact.format: artifact.sha256 for artifact in v1.artifacts.all()} == files


def test_the_admin_refuses_a_deletion_while_a_version_is_being_built(admin_client, manager, project, labeled):
    from labeling.services.versions import version_build_start

    job = version_build_start(project=project, user=manager, recipe={})
    before = everything(project)
    for response in (
        admin_client.post(f"/admin/labeling/item/{labeled[3].pk}/delete/", {"post": "yes"}, follow=True),
        admin_delete_selected(admin_client, [labeled[3].pk]),
    ):
        ((level, text),) = admin_messages(response)
        assert level == "error" and f"a dataset version of {project.name} is being built (job {job.pk})" in text
    assert everything(project) == before


def test_the_admin_deletes_items_no_version_holds_as_the_api_does(
    admin_client, manager, project, labeled, other_project, job_messages, django_capture_on_commit_callbacks
):
    a, b, c, d = labeled
    build(project, manager)  # holds b and c, not a (a tie) nor d (no answer)
    (foreign,) = images(other_project, 1, start=10)
    campaign = campaign_create(project=project, name="Night", item_ids=[a.pk, b.pk], overlap=3)
    with django_capture_on_commit_callbacks() as captured:
        response = admin_client.post(f"/admin/labeling/item/{a.pk}/delete/", {"post": "yes"}, follow=True)
    assert [level for level, _ in admin_messages(response)] == ["success"]
    run_item_removals(job_messages, captured)
    assert not Item.objects.filter(pk=a.pk).exists() and not default_storage.exists(a.file.name)
    assert not ArchivedAnnotation.objects.filter(item_id=a.pk).exists()
    assert list(Campaign.objects.get(pk=campaign.pk).items.all()) == [b]

    job_messages.clear()
    with django_capture_on_commit_callbacks() as captured:
        response = admin_delete_selected(admin_client, [d.pk, foreign.pk])  # two projects at once
    assert admin_messages(response) == [("success", "Successfully deleted 2 items.")]
    run_item_removals(job_messages, captured)
    assert not Item.objects.filter(pk__in=[d.pk, foreign.pk]).exists()
    assert not default_storage.exists(d.file.name) and not default_storage.exists(foreign.file.name)
    assert list(Item.objects.filter(project=project).order_by("pk")) == [b, c]


def test_a_version_published_after_the_admins_check_still_refuses_its_deletion(
    admin_client, manager, project, labeled, monkeypatch
):
    """The admin asks before its confirmation page; the deletion asks again under the project's lock."""
    a, b, c, d = labeled
    build(project, manager)
    monkeypatch.setattr("labeling.admin.deletion_check", lambda **kwargs: None)  # as if v1 came after it
    before = everything(project)
    for response in (
        admin_client.post(f"/admin/labeling/item/{c.pk}/delete/", {"post": "yes"}, follow=True),
        admin_delete_selected(admin_client, [b.pk, c.pk, d.pk]),
    ):
        ((level, text),) = admin_messages(response)
        assert level == "error" and f"Nothing was deleted: {project.name} v1 holds" in text, text
    assert everything(project) == before and not LogEntry.objects.exists()


def changelist_select_all(admin_client, path, one_id):
    """What the changelist sends for "Select all N" and the "delete selected" action: the ticked boxes of
    the page shown and select_across."""
    return admin_client.post(
        path, {"action": "delete_selected", "select_across": "1", "index": "0", "_selected_action": [one_id]}
    )


def confirmation_fields(page):
    """The fields the confirmation page's form sends, as a browser sends them."""
    html = page.content.decode()
    form = html[html.index('<form method="post">') :]
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form):
        fields.setdefault(name, []).append(value)
    return fields


def test_the_admins_select_all_over_the_limit_queues_the_apis_deletion_job_and_deletes_nothing_in_the_request(
    admin_client,
    admin_user,
    api,
    manager,
    labeler,
    project,
    labeled,
    monkeypatch,
    job_messages,
    django_capture_on_commit_callbacks,
):
    """Over the API's limit the admin deleted them inside the web request (50,000 items in one request), and
    its confirmation listed every answer and revision of every item."""
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 3)
    reviews = text_project(manager, name="Reviews")
    member_add(project=reviews, username=labeler.username, role=Role.LABELER)
    texts = add_texts(reviews, ["good", "bad"])
    answer(texts[0], labeler, "cat")
    before = everything(project), everything(reviews)

    page = changelist_select_all(admin_client, "/admin/labeling/item/", labeled[0].pk)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Answers: 6" in html and "Items: 6" in html and "SME decisions: 1" in html
    assert f"{project.name}: 4 items" in html and "Reviews: 2 items" in html
    assert not re.search(r"/admin/labeling/annotation/\d+/", html)  # no answer listed one by one
    assert "queues a deletion job per project" in html
    fields = confirmation_fields(page)
    assert fields["select_across"] == ["1"] and len(fields["_selected_action"]) == 1  # not a field per item

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/labeling/item/", fields, follow=True)
    assert (everything(project), everything(reviews)) == before  # nothing deleted in the request
    jobs = list(Job.objects.filter(kind="deletion").order_by("project_id"))
    assert [(job.project_id, job.status, job.total, job.created_by) for job in jobs] == [
        (project.pk, "queued", 4, admin_user),
        (reviews.pk, "queued", 2, admin_user),
    ]
    assert [m for m in job_messages if m[0] == "labeling.items_delete_run"] == [
        ("labeling.items_delete_run", job.pk) for job in jobs
    ]
    ((level, text),) = admin_messages(response)
    assert level == "success" and text.startswith("6 items queued for deletion")
    for job in jobs:
        assert f'<a href="/admin/labeling/job/{job.pk}/change/">' in text and f"GET /api/jobs/{job.pk}/" in text
    assert f"{project.name}: 4 items, job {jobs[0].pk}" in text and f"Reviews: 2 items, job {jobs[1].pk}" in text
    assert api(manager).get(f"/api/jobs/{jobs[0].pk}/").json()["status"] == "queued"  # as the API's own jobs

    ids = sorted(Item.objects.filter(project__in=[project, reviews]).values_list("pk", flat=True))
    assert not LogEntry.objects.exists()  # nothing deleted yet
    for job in jobs:
        item_deletion.items_delete_run(job_id=job.pk)
    assert api(manager).get(f"/api/jobs/{jobs[0].pk}/").json()["result"]["deleted"]["items"] == 4
    assert not Item.objects.filter(project__in=[project, reviews]).exists()
    assert not Annotation.objects.exists()
    # the admin's history has each item deleted, by the admin who queued the job, as its own deletions
    entries = LogEntry.objects.order_by("object_id")
    assert sorted(int(entry.object_id) for entry in entries) == ids
    assert {(e.user, e.action_flag, e.content_type.model, e.change_message) for e in entries} == {
        (admin_user, DELETION, "item", f"Deleted by deletion job {job.pk}, queued from the admin.") for job in jobs
    } and len({e.change_message for e in entries}) == 2
    assert any(entry.object_repr == "good" or entry.object_repr.endswith(".png") for entry in entries)


def test_a_deletion_job_the_admin_queued_and_a_version_refused_leaves_no_admin_history(
    admin_client, manager, project, labeled, monkeypatch, job_messages, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 3)
    path = f"/admin/labeling/item/?project__id__exact={project.pk}"
    page = changelist_select_all(admin_client, path, labeled[0].pk)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(path, confirmation_fields(page), follow=True)
    (job,) = Job.objects.filter(kind="deletion")
    build(project, manager)  # a version holding the items, published before the job runs
    before = everything(project)
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "v1" in str(job.errors)
    assert everything(project) == before and not LogEntry.objects.exists()


def test_a_deletion_job_queued_through_the_api_writes_no_admin_history(
    api, manager, project, labeled, monkeypatch, job_messages, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 3)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(manager).post(url(project), {"items": [item.pk for item in labeled]}, format="json")
    assert response.status_code == 202, response.content
    (job,) = Job.objects.filter(kind="deletion")
    item_deletion.items_delete_run(job_id=job.pk)
    assert not Item.objects.filter(project=project).exists() and not LogEntry.objects.exists()


@pytest.mark.parametrize("as_job", [False, True], ids=["in the request", "by a job"])
def test_a_select_all_whose_filter_selects_other_items_by_the_confirmation_is_confirmed_again(
    admin_client, manager, project, labeled, monkeypatch, job_messages, django_capture_on_commit_callbacks, as_job
):
    """The confirmation carries "select all" back as the filter: an item imported into the project after the
    page counted 4 was deleted too, unseen. Now nothing is deleted and the page counts again."""
    if as_job:
        monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 3)
    path = f"/admin/labeling/item/?project__id__exact={project.pk}"
    page = changelist_select_all(admin_client, path, labeled[0].pk)
    assert "Items: 4" in page.content.decode()
    (late,) = images(project, 1, start=100)  # imported meanwhile
    before = everything(project)

    with django_capture_on_commit_callbacks(execute=True):
        again = admin_client.post(path, confirmation_fields(page))
    assert everything(project) == before and not Job.objects.filter(kind="deletion").exists()
    html = again.content.decode()
    assert "Items: 5" in html and '<input type="hidden" name="post" value="yes">' in html
    ((level, text),) = admin_messages(again)
    assert level == "warning"
    assert text == (
        "The items this filter selects changed since the confirmation page (4 then, 5 now): nothing was "
        "deleted. Check the counts and confirm again."
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(path, confirmation_fields(again), follow=True)
    ((level, text),) = admin_messages(response)
    if as_job:
        assert level == "success" and text.startswith("5 items queued for deletion")
        (job,) = Job.objects.filter(kind="deletion")
        item_deletion.items_delete_run(job_id=job.pk)
    else:
        assert (level, text) == ("success", "Successfully deleted 5 items.")
    assert not Item.objects.filter(project=project).exists() and not Item.objects.filter(pk=late.pk).exists()


def test_a_select_all_confirmed_without_its_selection_is_confirmed_again(admin_client, project, labeled):
    """A confirmation form that names no selection (a page served before it did) deletes nothing."""
    path = f"/admin/labeling/item/?project__id__exact={project.pk}"
    fields = confirmation_fields(changelist_select_all(admin_client, path, labeled[0].pk))
    del fields["selection"]
    before = everything(project)
    again = admin_client.post(path, fields)
    assert everything(project) == before and "Items: 4" in again.content.decode()
    ((level, text),) = admin_messages(again)
    assert level == "warning" and text.startswith("This confirmation did not say which items it counted")


def test_the_admin_deletes_a_select_all_of_1001_items_by_a_job_confirming_what_its_page_sends(
    admin_client, manager, job_messages, django_capture_on_commit_callbacks
):
    """The confirmation carried a field per item: past 1,000 fields the form answered 400 Bad Request."""
    reviews = text_project(manager, name="Reviews")
    texts = add_texts(reviews, [f"word {i}" for i in range(1001)])
    page = changelist_select_all(admin_client, f"/admin/labeling/item/?project__id__exact={reviews.pk}", texts[0].pk)
    assert "Items: 1,001" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/labeling/item/?project__id__exact={reviews.pk}", confirmation_fields(page), follow=True
        )
    assert response.status_code == 200
    ((level, text),) = admin_messages(response)
    assert level == "success" and text.startswith("1,001 items queued for deletion")
    assert Item.objects.filter(project=reviews).count() == 1001
    job = Job.objects.get(kind="deletion")
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and not Item.objects.filter(project=reviews).exists()


def test_the_admins_deletion_over_the_limit_still_refuses_items_a_version_holds(
    admin_client, manager, labeler, project, labeled, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(item_deletion, "REQUEST_ITEMS", 2)
    a, b, c, d = labeled
    build(project, manager)  # holds b and c
    before = everything(project)
    response = admin_delete_selected(admin_client, [a.pk, b.pk, c.pk, d.pk])
    ((level, text),) = admin_messages(response)
    assert level == "error" and f"Nothing was deleted: {project.name} v1 holds 2 of these items" in text
    assert everything(project) == before and not Job.objects.filter(kind="deletion").exists()

    # queued while no version held them, refused by the job once one does: it names it and deletes none
    (e,) = images(project, 1, start=10)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_delete_selected(admin_client, [a.pk, d.pk, e.pk])
    assert admin_messages(response)[0][1].startswith("3 items queued for deletion")
    answer(e, labeler, "cat")
    build(project, manager)  # v2 holds e
    before = everything(project)
    job = Job.objects.get(kind="deletion")
    item_deletion.items_delete_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "v2 holds 1" in job.errors[-1]["reason"]
    assert everything(project) == before


def test_a_refusal_across_projects_links_each_projects_items_page_and_deletion_api(
    admin_client, manager, labeler, project, labeled
):
    """Only the first project's Items page was named: the other project's items had nowhere to be purged."""
    build(project, manager)  # holds b and c
    reviews = text_project(manager, name="Reviews & notes")
    member_add(project=reviews, username=labeler.username, role=Role.LABELER)
    (text,) = add_texts(reviews, ["good"])
    answer(text, labeler, "cat")
    build(reviews, manager)
    response = admin_delete_selected(admin_client, [labeled[1].pk, text.pk])
    ((level, message),) = admin_messages(response)
    assert level == "error"
    for each in (project, reviews):
        assert f'<a href="/projects/{each.pk}/items/">/projects/{each.pk}/items/</a>' in message
        assert f"/api/projects/{each.pk}/items/delete/" in message
    assert message.startswith(  # the name escaped: the message is HTML
        f"Nothing was deleted: {project.name} v1 holds 1 of these items; Reviews &amp; notes v1 holds 1 of these items."
    )
    assert "each project's Items page" in message and '"purge": true' in message
    assert Item.objects.filter(pk__in=[labeled[1].pk, text.pk]).count() == 2


def test_the_admins_counted_confirmation_still_asks_for_the_right_to_delete_the_answers(client, project, labeled):
    """Django's confirmation refused a staff user who may delete items but not the answers going with them;
    the counts that replace its list of every answer ask the same."""
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user(username="clerk", password="pw-clerk", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_item", "delete_item"]))
    client.force_login(staff)
    before = everything(project)
    page = client.post(
        "/admin/labeling/item/", {"action": "delete_selected", "index": "0", "_selected_action": [labeled[0].pk]}
    )
    assert "<title>Cannot delete item |" in page.content.decode()
    assert "<li>annotation</li>" in page.content.decode()  # the answers going with it
    response = client.post(
        "/admin/labeling/item/", {"action": "delete_selected", "_selected_action": [labeled[0].pk], "post": "yes"}
    )
    assert response.status_code == 403 and everything(project) == before
    staff.user_permissions.add(Permission.objects.get(codename="delete_annotation"))
    staff = get_user_model().objects.get(pk=staff.pk)
    client.force_login(staff)
    response = client.post(
        "/admin/labeling/item/",
        {"action": "delete_selected", "_selected_action": [labeled[0].pk], "post": "yes"},
        follow=True,
    )
    assert admin_messages(response) == [("success", "Successfully deleted 1 item.")]
    assert not Item.objects.filter(pk=labeled[0].pk).exists()


def test_the_admins_select_all_under_the_limit_deletes_in_the_request_only_the_filtered_items(
    admin_client, manager, project, labeled, django_capture_on_commit_callbacks
):
    """The confirmation carries "Select all" back as select_across: what is deleted is what the filter
    selects when confirming, the other project's items stay."""
    reviews = text_project(manager, name="Reviews")
    add_texts(reviews, ["good", "bad"])
    path = f"/admin/labeling/item/?project__id__exact={project.pk}"
    page = changelist_select_all(admin_client, path, labeled[0].pk)
    assert "Items: 4" in page.content.decode() and "queues a deletion job" not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(path, confirmation_fields(page), follow=True)
    assert admin_messages(response) == [("success", "Successfully deleted 4 items.")]
    assert not Item.objects.filter(project=project).exists() and Item.objects.filter(project=reviews).count() == 2
    assert not Job.objects.filter(kind="deletion").exists()
