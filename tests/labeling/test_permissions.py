"""Every endpoint checks the caller's membership and role."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Annotation, Item
from labeling.services.import_jobs import import_job_create
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes


@pytest.fixture
def b_item(other_project):
    report = items_import(project=other_project, entries=[ImportEntry(name="b.png", load=lambda: png_bytes(seed=99))])
    return report.imported[0]


@pytest.fixture
def b_job(other_project, outsider):
    return import_job_create(
        project=other_project, user=outsider, upload=SimpleUploadedFile("m.jsonl", b'{"text": "x"}\n')
    ).pk


def test_member_of_a_gets_404_for_everything_of_project_b(api, manager, labeler, other_project, b_item, b_job):
    for user in (manager, labeler):
        client = api(user)
        pid = other_project.pk
        for url in (
            f"/api/projects/{pid}/",
            f"/api/projects/{pid}/members/",
            f"/api/projects/{pid}/sources/",
            f"/api/projects/{pid}/items/",
            f"/api/items/{b_item}/",
            f"/api/items/{b_item}/file",
            f"/api/jobs/{b_job}/",
        ):
            response = client.get(url)
            assert response.status_code == 404, (user.username, url, response.status_code)
        assert client.patch(f"/api/projects/{pid}/", {"name": "mine"}, format="json").status_code == 404
        assert (
            client.post(f"/api/projects/{pid}/members/", {"username": user.username, "role": "manager"}).status_code
            == 404
        )


def test_b_is_not_listed_among_my_projects(api, manager, project, other_project):
    names = [p["name"] for p in api(manager).get("/api/projects/").json()["results"]]
    assert names == [project.name]


def test_labeler_cannot_add_members_or_sources_or_import(api, labeler, outsider, project):
    client = api(labeler)
    response = client.post(f"/api/projects/{project.pk}/members/", {"username": outsider.username, "role": "labeler"})
    assert response.status_code == 403
    assert "manager" in response.json()["detail"]
    assert client.post(f"/api/projects/{project.pk}/sources/", {"name": "x", "kind": "owned"}).status_code == 403
    assert client.patch(f"/api/projects/{project.pk}/", {"overlap": 1}, format="json").status_code == 403
    files = {"files": [SimpleUploadedFile("a.png", png_bytes())]}
    assert client.post(f"/api/projects/{project.pk}/items/", files, format="multipart").status_code == 403


def test_labeler_sees_an_item_without_its_imported_label(api, labeler, reviewer, project):
    item_id = items_import(
        project=project, entries=[ImportEntry(name="a.png", load=lambda: png_bytes(seed=5), label="cat")]
    ).imported[0]
    as_labeler = api(labeler).get(f"/api/items/{item_id}/").json()
    assert "label" not in as_labeler and "metadata" not in as_labeler and "original_name" not in as_labeler
    assert api(reviewer).get(f"/api/items/{item_id}/").json()["label"] == "cat"
    assert api(labeler).get(f"/api/projects/{project.pk}/items/").status_code == 403


def test_anonymous_requests_are_refused(api, project):
    assert api().get("/api/projects/").status_code in (401, 403)
    assert api().get(f"/api/projects/{project.pk}/").status_code in (401, 403)


def test_pages_check_roles(client, labeler, outsider, project, other_project):
    client.force_login(labeler)
    assert client.get(f"/projects/{project.pk}/").status_code == 200
    assert client.get(f"/projects/{project.pk}/items/").status_code == 403
    assert client.get(f"/projects/{project.pk}/import/").status_code == 403
    assert client.get(f"/projects/{other_project.pk}/").status_code == 404
    assert client.post(f"/projects/{project.pk}/inventory/", {"name": "x"}).status_code == 403
    client.logout()
    assert client.get(f"/projects/{project.pk}/").status_code == 302


@pytest.mark.parametrize("query", ["", "?next=1"])
def test_an_answer_to_an_item_of_someone_elses_project_is_404_and_stores_nothing(
    api, manager, labeler, b_item, django_user_model, query
):
    for user in (manager, labeler):
        response = api(user).post(f"/api/items/{b_item}/annotations/{query}", {"value": "cat"}, format="json")
        assert response.status_code == 404, (user.username, query)
    assert Item.objects.get(pk=b_item).n_answers == 0
    assert not Annotation.objects.filter(item_id=b_item).exists()
    # A superuser is a manager everywhere, member or not (the ?next=1 path loads and locks the item for them).
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    response = api(admin).post(f"/api/items/{b_item}/annotations/{query}", {"value": "cat"}, format="json")
    assert response.status_code == 201, response.content
    assert Item.objects.get(pk=b_item).n_answers == 1
