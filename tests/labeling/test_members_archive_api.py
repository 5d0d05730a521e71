"""Creating projects, managing members and archiving through the API, with every role check."""

import pytest
from django.contrib.auth import get_user_model

from labeling.models import Guideline, Job, Membership, Reservation
from labeling.services.projects import member_add
from tests.conftest import make_user
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def members_of(client, project):
    return {m["username"]: m["role"] for m in client.get(f"/api/projects/{project.pk}/members/").json()["results"]}


def test_non_creator_cannot_create_and_creator_gets_a_first_guideline(api, manager, labeler, settings):
    body = {"name": "Reviews", "modality": "text", "classes": [{"key": "pos"}, {"key": "neg"}]}
    refused = api(labeler).post("/api/projects/", body, format="json")
    assert refused.status_code == 403 and "ask an administrator" in refused.json()["detail"]

    created = api(manager).post("/api/projects/", {**body, "guideline": "# Reviews\n\nSarcasm is neg."}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["active_guideline"] == 1 and created.json()["archived"] is None
    assert Guideline.objects.get(project_id=created.json()["id"]).text.startswith("# Reviews")

    settings.LABELHUB_PROJECT_CREATORS = "everyone"
    assert api(labeler).post("/api/projects/", body, format="json").status_code == 201


def test_labeler_cannot_manage_members_and_outsider_gets_404(api, project, labeler, reviewer, outsider):
    as_labeler = api(labeler)
    add = as_labeler.post(f"/api/projects/{project.pk}/members/", {"username": outsider.username, "role": "labeler"})
    assert add.status_code == 403
    change = as_labeler.patch(f"/api/projects/{project.pk}/members/{labeler.username}/", {"role": "manager"})
    assert change.status_code == 403
    assert as_labeler.delete(f"/api/projects/{project.pk}/members/{reviewer.username}/").status_code == 403
    assert Membership.objects.get(project=project, user=labeler).role == "labeler"
    assert Membership.objects.filter(project=project, user=reviewer).exists()

    as_outsider = api(outsider)
    assert as_outsider.get(f"/api/projects/{project.pk}/members/").status_code == 404
    assert (
        as_outsider.post(
            f"/api/projects/{project.pk}/members/", {"username": outsider.username, "role": "manager"}
        ).status_code
        == 404
    )
    assert as_outsider.delete(f"/api/projects/{project.pk}/members/{labeler.username}/").status_code == 404
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_manager_adds_by_email_changes_role_and_removes(api, manager, project, labeler, outsider):
    outsider.email = "Out.Sider@example.com"
    outsider.save()
    client = api(manager)
    added = client.post(f"/api/projects/{project.pk}/members/", {"email": "out.sider@EXAMPLE.com", "role": "labeler"})
    assert added.status_code == 201 and added.json()["username"] == outsider.username
    nobody = client.post(f"/api/projects/{project.pk}/members/", {"email": "nobody@example.com", "role": "labeler"})
    assert nobody.status_code == 400 and "email" in nobody.json()
    neither = client.post(f"/api/projects/{project.pk}/members/", {"role": "labeler"})
    assert neither.status_code == 400 and "username" in neither.json()

    changed = client.patch(f"/api/projects/{project.pk}/members/{outsider.username}/", {"role": "reviewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "reviewer"
    bad_role = client.patch(f"/api/projects/{project.pk}/members/{outsider.username}/", {"role": "owner"})
    assert bad_role.status_code == 400 and "role" in bad_role.json()

    # A removed labeler's held item goes back to the queue at once.
    [item] = make_items(project, 1)
    held = api(labeler).get(f"/api/projects/{project.pk}/next/")
    assert held.status_code == 200 and Reservation.objects.get(project=project, labeler=labeler).item_id == item.pk
    assert client.delete(f"/api/projects/{project.pk}/members/{labeler.username}/").status_code == 204
    assert labeler.username not in members_of(client, project)
    assert not Reservation.objects.filter(project=project, labeler=labeler).exists()
    assert api(labeler).get(f"/api/projects/{project.pk}/").status_code == 404
    assert client.delete(f"/api/projects/{project.pk}/members/{labeler.username}/").status_code == 404


def test_the_last_manager_cannot_be_removed_or_demoted(api, manager, project, reviewer):
    client = api(manager)
    url = f"/api/projects/{project.pk}/members/{manager.username}/"
    demote = client.patch(url, {"role": "labeler"})
    assert demote.status_code == 400 and "last manager" in demote.json()["detail"]
    again = client.post(f"/api/projects/{project.pk}/members/", {"username": manager.username, "role": "reviewer"})
    assert again.status_code == 400 and "last manager" in again.json()["detail"]
    remove = client.delete(url)
    assert remove.status_code == 400 and "last manager" in remove.json()["detail"]
    assert Membership.objects.get(project=project, user=manager).role == "manager"

    # With a second manager, the first may step down; then the second is the last one.
    assert (
        client.patch(f"/api/projects/{project.pk}/members/{reviewer.username}/", {"role": "manager"}).status_code == 200
    )
    assert client.patch(url, {"role": "labeler"}).status_code == 200
    assert members_of(api(reviewer), project)[manager.username] == "labeler"
    last = api(reviewer).delete(f"/api/projects/{project.pk}/members/{reviewer.username}/")
    assert last.status_code == 400 and "last manager" in last.json()["detail"]


def test_archive_hides_the_project_from_labelers_and_restore_brings_it_back(api, manager, reviewer, labeler, project):
    [item] = make_items(project, 1)
    as_labeler, as_manager = api(labeler), api(manager)
    assert [p["id"] for p in as_labeler.get("/api/projects/").json()["results"]] == [project.pk]
    assert as_labeler.post(f"/api/projects/{project.pk}/archive/").status_code == 403
    assert api(reviewer).post(f"/api/projects/{project.pk}/archive/").status_code == 403

    job = Job.objects.create(project=project, kind="import", created_by=manager)
    assert api(reviewer).get(f"/api/jobs/{job.pk}/").status_code == 200
    archived = as_manager.post(f"/api/projects/{project.pk}/archive/")
    assert archived.status_code == 200 and archived.json()["archived"]
    assert as_labeler.get("/api/projects/").json()["results"] == []
    assert api(reviewer).get("/api/projects/").json()["results"] == []
    detail = as_labeler.get(f"/api/projects/{project.pk}/")
    assert detail.status_code == 403 and "archived" in detail.json()["detail"]
    assert as_labeler.get(f"/api/projects/{project.pk}/next/").status_code == 403
    answer = as_labeler.post(f"/api/items/{item.pk}/annotations/", {"value": "cat"}, format="json")
    assert answer.status_code == 403 and "archived" in answer.json()["detail"]
    assert as_labeler.get(f"/api/items/{item.pk}/").status_code == 403
    assert api(reviewer).get(f"/api/projects/{project.pk}/review-queue/").status_code == 403
    polled = api(reviewer).get(f"/api/jobs/{job.pk}/")
    assert polled.status_code == 403 and "archived" in polled.json()["detail"]
    assert as_manager.get(f"/api/jobs/{job.pk}/").status_code == 200

    # Managers still read it, listed as archived, and can restore it.
    assert as_manager.get(f"/api/projects/{project.pk}/").status_code == 200
    listed = as_manager.get("/api/projects/?archived=true").json()["results"]
    assert [p["id"] for p in listed] == [project.pk]
    assert as_manager.get("/api/projects/?archived=false").json()["results"] == []
    refused = as_manager.get("/api/projects/?archived=maybe")
    assert refused.status_code == 400 and "maybe" in refused.json()["archived"][0]  # named, not "non_field_errors"
    restored = as_manager.delete(f"/api/projects/{project.pk}/archive/")
    assert restored.status_code == 200 and restored.json()["archived"] is None
    assert [p["id"] for p in as_labeler.get("/api/projects/").json()["results"]] == [project.pk]
    assert as_labeler.get(f"/api/projects/{project.pk}/next/").json()["id"] == item.pk


def test_a_user_added_twice_by_email_is_ambiguous(api, manager, project):
    for name in ("twin1", "twin2"):
        user = make_user(name)
        user.email = "twin@example.com"
        user.save()
    response = api(manager).post(
        f"/api/projects/{project.pk}/members/", {"email": "twin@example.com", "role": "labeler"}
    )
    assert response.status_code == 400 and "give the username" in response.json()["detail"]
    assert get_user_model().objects.filter(email="twin@example.com").count() == 2
    member_add(project=project, username="twin1", role="labeler")
    assert Membership.objects.filter(project=project, user__username="twin1").exists()


def test_a_member_patch_with_a_field_it_does_not_take_is_refused_and_a_patch_as_read_passes(
    api, manager, project, labeler
):
    client = api(manager)
    url = f"/api/projects/{project.pk}/members/{labeler.username}/"
    fields = "unknown field (the fields here: role, username, created)"
    # A field PATCH does not take was dropped: "until" (meant to make the role temporary) made the labeler
    # a reviewer for good, with a 200.
    temporary = client.patch(url, {"role": "reviewer", "until": "2027-01-31"}, format="json")
    assert temporary.status_code == 400 and temporary.json()["until"] == [fields]
    # A misspelt "rol" is named, not only "role" said to be missing.
    misspelt = client.patch(url, {"rol": "reviewer"}, format="json")
    assert misspelt.status_code == 400 and misspelt.json()["rol"] == [fields]
    # Another user's name in the body does not choose the member (the path does): it changed this one.
    other = client.patch(url, {"username": manager.username, "role": "reviewer"}, format="json")
    assert other.status_code == 400 and "the member is the one in the path" in other.json()["username"][0]
    assert Membership.objects.get(project=project, user=labeler).role == "labeler"
    # The member sent back as read, with its role changed, still passes.
    as_read = client.get(url).json()
    changed = client.patch(url, {**as_read, "role": "reviewer"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert Membership.objects.get(project=project, user=labeler).role == "reviewer"
