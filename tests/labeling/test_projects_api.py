"""Projects, members and the data inventory through the API."""

from decimal import Decimal

import pytest

from labeling.models import Membership
from labeling.selectors import inventory_summary
from labeling.services.sources import source_create


def test_creator_becomes_manager_and_classes_keep_their_order(api, manager):
    body = {
        "name": "Defects",
        "modality": "image",
        "task_type": "classification",
        "classes": [{"key": "ok", "name": "No defect"}, {"key": "scratch"}, {"key": "dent", "hotkey": "9"}],
        "options": {"borderline": True},
        "overlap": 5,
    }
    response = api(manager).post("/api/projects/", body, format="json")
    assert response.status_code == 201, response.json()
    project = response.json()
    assert [c["key"] for c in project["classes"]] == ["ok", "scratch", "dent"]
    assert [c["hotkey"] for c in project["classes"]] == ["1", "2", "9"]
    assert project["options"] == {"borderline": True, "uncertain": False, "out_of_domain": False}
    assert project["role"] == "manager" and project["overlap"] == 5
    assert Membership.objects.get(project_id=project["id"], user=manager).role == "manager"


def test_invalid_projects_are_refused_with_field_messages(api, manager):
    client = api(manager)
    dup = client.post(
        "/api/projects/", {"name": "x", "modality": "image", "classes": [{"key": "a"}, {"key": "a"}]}, format="json"
    )
    assert dup.status_code == 400 and "appears twice" in dup.json()["detail"]
    bad = client.post("/api/projects/", {"name": "x", "modality": "video"}, format="json")
    assert bad.status_code == 400 and "modality" in bad.json()
    one = client.post("/api/projects/", {"name": "x", "modality": "image", "classes": [{"key": "a"}]}, format="json")
    assert one.status_code == 400 and "at least two classes" in one.json()["detail"]


def test_misspelt_project_and_member_fields_are_refused_naming_them(api, manager, outsider, project):
    # They were dropped: a project with the default overlap and no borderline option, a role changed by PATCH
    # that was not.
    client = api(manager)
    n = project.__class__.objects.count()
    body = {"name": "x", "modality": "image", "classes": [{"key": "a"}, {"key": "b"}]}
    for extra, field in [
        ({"overlp": 5}, "overlp"),
        ({"options": {"borderlin": True}}, "options"),
        ({"classes": [{"key": "a"}, {"key": "b", "hotky": "2"}]}, "classes"),
    ]:
        response = client.post("/api/projects/", {**body, **extra}, format="json")
        assert response.status_code == 400 and "unknown field" in response.json()["detail"], response.json()
        assert field in response.json()
    assert project.__class__.objects.count() == n
    url = f"/api/projects/{project.pk}/"
    response = client.patch(url, {"overlp": 1}, format="json")
    assert response.status_code == 400 and response.json()["overlp"] == [
        "unknown field (the fields here: name, description, options, overlap, transcription_conventions, id, "
        "modality, task_type, classes, archived, active_guideline, role, created)"
    ]
    response = client.post(
        f"/api/projects/{project.pk}/members/", {"username": outsider.username, "rol": "reviewer"}, format="json"
    )
    assert response.status_code == 400 and "rol" in response.json()


def test_manager_patches_and_adds_members(api, manager, outsider, project):
    client = api(manager)
    response = client.patch(
        f"/api/projects/{project.pk}/", {"overlap": 2, "options": {"borderline": False}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["overlap"] == 2 and response.json()["options"]["borderline"] is False
    added = client.post(f"/api/projects/{project.pk}/members/", {"username": outsider.username, "role": "reviewer"})
    assert added.status_code == 201
    members = {m["username"]: m["role"] for m in client.get(f"/api/projects/{project.pk}/members/").json()["results"]}
    assert members[outsider.username] == "reviewer"
    # The same user again: the role changes, nothing is created (it answered 201 Created)
    again = client.post(f"/api/projects/{project.pk}/members/", {"username": outsider.username, "role": "labeler"})
    assert again.status_code == 200 and again.json()["role"] == "labeler"
    unknown = client.post(f"/api/projects/{project.pk}/members/", {"username": "ghost", "role": "labeler"})
    assert unknown.status_code == 400 and "no user named 'ghost'" in unknown.json()["detail"]


def test_saving_the_settings_keeps_a_guideline_and_classes_changed_meanwhile(manager, project):
    """The settings are saved with the project row the request loaded. A guideline published and a class
    added while that request ran were undone by it: the whole row was written back, so the old guideline
    was active again and the class-key version went back, and web processes that had cached the old
    keys kept refusing the new class."""
    from labeling.models import Project
    from labeling.services.guidelines import guideline_publish
    from labeling.services.projects import project_update
    from labeling.services.taxonomy import taxonomy_apply

    loaded = Project.objects.get(pk=project.pk)  # the settings request's copy
    guideline = guideline_publish(
        project=Project.objects.get(pk=project.pk), text="v2: count the tails", author=manager
    )
    taxonomy_apply(project=Project.objects.get(pk=project.pk), op="add", payload={"key": "bird"}, author=manager)
    version = Project.objects.get(pk=project.pk).classes_version
    project_update(project=loaded, name="Digits, again", overlap=2)
    saved = Project.objects.get(pk=project.pk)
    assert (saved.name, saved.overlap) == ("Digits, again", 2)
    assert saved.active_guideline_id == guideline.pk and saved.classes_version == version


def test_sources_with_derived_cost_per_unit(api, manager, project):
    client = api(manager)
    body = {
        "name": "crowdsourced reading",
        "kind": "crowdsourced",
        "planned_amount": "1000",
        "unit": "hours",
        "total_cost": "10000",
        "currency": "USD",
        "turnaround_days": 14,
        "contains_personal_data": True,
        "licence": "consent forms",
        "status": "acquiring",
    }
    response = client.post(f"/api/projects/{project.pk}/sources/", body, format="json")
    assert response.status_code == 201, response.json()
    assert Decimal(response.json()["cost_per_unit"]) == Decimal("10")
    again = client.post(f"/api/projects/{project.pk}/sources/", body, format="json")
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    listed = client.get(f"/api/projects/{project.pk}/sources/").json()["results"]
    assert [s["name"] for s in listed] == ["crowdsourced reading"]
    bad = client.post(f"/api/projects/{project.pk}/sources/", {"name": "y", "kind": "stolen"}, format="json")
    assert bad.status_code == 400 and "kind" in bad.json()


def test_a_source_with_a_misspelt_field_is_refused_naming_it(api, manager, project):
    """A source's licence or personal-data flag spelt otherwise ("license", "personal_data") was dropped
    and the source stored as if it had none: the inventory said no constraint where there was one."""
    client = api(manager)
    url = f"/api/projects/{project.pk}/sources/"
    body = {"name": "clinic scans", "kind": "purchased", "license": "research only", "personal_data": True}
    response = client.post(url, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"license", "personal_data"}, response.json()
    assert not project.sources.exists()
    made = client.post(url, {"name": "clinic scans", "kind": "purchased", "licence": "research only"}, format="json")
    assert made.status_code == 201, made.json()
    source_url = f"{url}{made.json()['id']}/"
    assert client.patch(source_url, {"license": "anything"}, format="json").status_code == 400
    as_read = client.get(source_url).json()
    assert client.patch(source_url, {**as_read, "quality_notes": "double read"}, format="json").status_code == 200
    assert client.get(source_url).json()["licence"] == "research only"


def test_inventory_within_k_days(project):
    # The table of DOMAIN.md §1.
    source_create(
        project=project,
        name="owned",
        kind="owned",
        planned_amount=100,
        unit="hours",
        total_cost=0,
        turnaround_days=0,
        status="available",
    )
    source_create(
        project=project,
        name="crowd",
        kind="crowdsourced",
        planned_amount=1000,
        unit="hours",
        total_cost=10000,
        turnaround_days=30,
    )
    source_create(
        project=project,
        name="pay for labels",
        kind="purchased",
        planned_amount=100,
        unit="hours",
        total_cost=6000,
        turnaround_days=7,
    )
    source_create(
        project=project,
        name="purchase data",
        kind="purchased",
        planned_amount=1000,
        unit="hours",
        total_cost=10000,
        turnaround_days=60,
    )
    summary = inventory_summary(project=project, within_days=10)
    assert summary["within"]["amount"] == [("hours", Decimal(200))]
    assert summary["within"]["cost"] == [("USD", Decimal(6000))]
    assert summary["within"]["sources"] == ["owned", "pay for labels"]
    assert summary["totals"]["amount"] == [("hours", Decimal(2200))]
    purchased = next(k for k in summary["by_kind"] if k["kind"] == "purchased")
    assert purchased["n_sources"] == 2 and purchased["cost"] == [("USD", Decimal(16000))]


def test_a_patch_of_what_patch_does_not_change_is_refused_naming_where(api, manager, project):
    # A script renaming a class or archiving by PATCH got 200 and nothing changed.
    client = api(manager)
    url = f"/api/projects/{project.pk}/"
    read = client.get(url).json()
    classes = [{**c, "name": "Renamed"} if i == 0 else c for i, c in enumerate(read["classes"])]
    for body, field, where in [
        ({"classes": classes, "overlap": 2}, "classes", "taxonomy-changes"),
        ({"archived": True}, "archived", "/archive/"),
        ({"task_type": "detection"}, "task_type", "when the project is created"),
    ]:
        response = client.patch(url, body, format="json")
        assert response.status_code == 400 and where in response.json()[field][0], response.json()
    assert client.get(url).json() == read  # nothing changed, the overlap neither
    # The object as read, with a new name: the unchanged fields are fine.
    response = client.patch(url, {**read, "name": "Renamed project"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed project"


def test_projects_and_guidelines_over_the_limits_are_refused_naming_them(api, manager, project, settings):
    # 30,000 classes and a 2 MB guideline were taken: every labeler's page carries them.
    client = api(manager)
    n = project.__class__.objects.count()
    many = [{"key": f"c{i}"} for i in range(1001)]
    response = client.post("/api/projects/", {"name": "huge", "modality": "image", "classes": many}, format="json")
    assert response.status_code == 400
    assert response.json()["classes"] == ["1,001 classes, over the limit of 1,000 (LABELHUB_MAX_CLASSES)"]
    long = "# Guide\n" + "x" * 2_000_000
    response = client.post(
        "/api/projects/",
        {"name": "g", "modality": "image", "classes": [{"key": "a"}, {"key": "b"}], "guideline": long},
        format="json",
    )
    assert response.status_code == 400 and "over the limit of 200,000" in response.json()["detail"]
    assert project.__class__.objects.count() == n
    response = client.post(f"/api/projects/{project.pk}/guidelines/", {"text": long}, format="json")
    assert response.status_code == 400 and "LABELHUB_MAX_GUIDELINE_CHARS" in response.json()["detail"]
    assert not project.guidelines.exists()
    settings.LABELHUB_MAX_CLASSES = 3  # the project has cat, dog, other
    response = client.post(f"/api/projects/{project.pk}/taxonomy-changes/", {"op": "add", "key": "bird"}, format="json")
    assert response.status_code == 400 and "retire one before adding another" in response.json()["detail"]
    assert project.classes.count() == 3


def test_a_class_colour_is_a_hex_colour(api, manager):
    # A colour was any 7 characters: '"><b>' went into the map's legend as markup and into style attributes.
    client = api(manager)
    classes = [{"key": "a", "colour": '"><b>'}, {"key": "b", "colour": "red;x:0"}]
    response = client.post("/api/projects/", {"name": "x", "modality": "text", "classes": classes}, format="json")
    assert response.status_code == 400
    assert "#rrggbb" in response.json()["detail"]
    classes = [{"key": "a", "colour": "#12abEF"}, {"key": "b", "colour": ""}]
    response = client.post("/api/projects/", {"name": "x", "modality": "text", "classes": classes}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["classes"][0]["colour"] == "#12abEF"
    assert response.json()["classes"][1]["colour"].startswith("#")  # an empty colour is given one of the palette


def test_a_member_named_with_accents_as_separate_marks_is_found(api, manager, project):
    """A username pasted with its accents as separate marks (NFD, as macOS file names hold them) is the
    account of that name (stored composed, as Django's forms and create_user store it): it answered "no user
    named 'José'"."""
    import unicodedata

    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="José.Müller")
    decomposed = unicodedata.normalize("NFD", " José.Müller ")
    added = api(manager).post(f"/api/projects/{project.pk}/members/", {"username": decomposed, "role": "labeler"})
    assert added.status_code == 201, added.json()
    assert Membership.objects.filter(project=project, user__username="José.Müller", role="labeler").exists()


@pytest.mark.parametrize("field", ["planned_amount", "total_cost"])
def test_a_negative_amount_or_cost_of_a_source_is_refused(api, client, manager, project, field):
    """A source planned at -5 items for 100 showed a cost of -20 per item, and the inventory's totals and
    the planning page's data cost per item counted it: a negative amount or cost is no figure a source has."""
    url = f"/api/projects/{project.pk}/sources/"
    made = api(manager).post(url, {"name": "logs", "kind": "production_logs", field: -5}, format="json")
    assert made.status_code == 400 and field in made.json(), made.json()
    ok = api(manager).post(url, {"name": "logs", "kind": "production_logs", "planned_amount": 10}, format="json")
    assert ok.status_code == 201
    patched = api(manager).patch(f"{url}{ok.json()['id']}/", {field: "-1"}, format="json")
    assert patched.status_code == 400 and field in patched.json()
    client.force_login(manager)
    form = {"name": "crowd", "kind": "crowdsourced", "status": "idea", "unit": "items", "currency": "USD"}
    form.update({"planned_amount": "10", "total_cost": "10", field: "-3"})
    page = client.post(f"/projects/{project.pk}/inventory/", form)
    assert page.status_code == 200 and not project.sources.filter(name="crowd").exists()
    source = project.sources.get(name="logs")
    assert source.planned_amount == 10 and source.total_cost == 0


def test_a_sources_currency_is_read_as_the_planning_settings_read_one(api, client, manager, project):
    """A source costed in "usd" was stored so: the inventory totals read "100 usd, 300 USD" as two
    currencies and planning, priced in USD, left the source out of the data cost per item."""
    url = f"/api/projects/{project.pk}/sources/"
    body = {"name": "crowd", "kind": "crowdsourced", "planned_amount": 100, "total_cost": 50, "currency": "usd"}
    made = api(manager).post(url, body, format="json")
    assert made.status_code == 201 and made.json()["currency"] == "USD", made.json()
    planning = api(manager).get(f"/api/projects/{project.pk}/planning/").json()
    assert planning["data_cost_per_item"] == pytest.approx(0.5)
    for bad in ("US", "dollars", "U$D"):
        refused = api(manager).patch(f"{url}{made.json()['id']}/", {"currency": bad}, format="json")
        assert refused.status_code == 400 and "currency" in refused.json(), (bad, refused.json())
    client.force_login(manager)
    form = {"name": "vendor", "kind": "purchased", "status": "idea", "unit": "items", "planned_amount": "10"}
    assert (
        client.post(f"/projects/{project.pk}/inventory/", {**form, "total_cost": "1", "currency": "eur"}).status_code
        == 302
    )
    assert project.sources.get(name="vendor").currency == "EUR"
