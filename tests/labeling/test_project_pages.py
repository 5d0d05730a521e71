"""The pages that start a project without the admin: new project (with its validation by field), members,
settings (archive, restore), and the first-run path on the home page."""

import re
from html import unescape

import pytest
from django.contrib.messages import get_messages

from labeling.models import Membership, Project
from tests.conftest import make_user
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def project_post(**overrides):
    """A valid "New project" form: a detection project with three classes; ``overrides`` replace fields."""
    data = {
        "name": "Parcels",
        "description": "Parcels on conveyor photos",
        "modality": "image",
        "task_type": "detection",
        "overlap": "2",
        "borderline": "on",
        "out_of_domain": "on",
        "guideline": "# Parcels\n\nBox every parcel, tape included.",
        "class_key": ["box", "", "envelope"],
        "class_name": ["Box", "Bag of sand", "Envelope"],
        "class_hotkey": ["1", "", "e"],
        "class_description": ["cardboard", "", "flat"],
    }
    data.update(overrides)
    return data


def errors_for(response, field):
    """The error texts the page shows for ``field`` (data-error-for), in page order."""
    html = response.content.decode()
    pattern = rf'data-error-for="{field}">(.*?)</(?:ul|div)>'
    found = [re.sub(r"<[^>]+>", " ", m) for m in re.findall(pattern, html, flags=re.S)]
    return [" ".join(unescape(text).split()) for text in found]


def test_a_creator_makes_a_detection_project_and_lands_on_its_next_step(client, manager):
    client.force_login(manager)
    page = client.get("/projects/new/")
    assert page.status_code == 200 and b'name="class_key"' in page.content

    response = client.post("/projects/new/", project_post())
    project = Project.objects.get(name="Parcels")
    assert response.status_code == 302 and response.url == f"/projects/{project.pk}/"
    assert (project.modality, project.task_type, project.overlap) == ("image", "detection", 2)
    assert project.options == {"borderline": True, "uncertain": False, "out_of_domain": True}
    classes = [(c.key, c.name, c.hotkey, c.description) for c in project.classes.all()]
    # The key left empty is made from the name; the keyboard key left empty is the first free one.
    assert classes == [
        ("box", "Box", "1", "cardboard"),
        ("bag_of_sand", "Bag of sand", "2", ""),
        ("envelope", "Envelope", "e", "flat"),
    ]
    assert project.active_guideline.version == 1 and "tape included" in project.active_guideline.text
    assert Membership.objects.get(project=project, user=manager).role == "manager"

    overview = client.get(response.url).content.decode()
    assert 'id="next-step"' in overview and f'href="/projects/{project.pk}/import/"' in overview
    make_items(project, 2)
    overview = client.get(response.url).content.decode()
    assert f'href="/projects/{project.pk}/label/"' in overview.split('id="next-step"')[1].split("</div>")[0]


def test_a_key_or_name_outside_a_z_is_refused_saying_which_letters_and_what_to_type(client, manager):
    # "café" was told "a key is 1-64 letters, ..." (é is a letter), and a class named "猫" with no key was
    # told it needed "a key (or a name to make one from)" though it had a name.
    client.force_login(manager)
    response = client.post(
        "/projects/new/",
        project_post(
            class_key=["café", "", "", "ok"],
            class_name=["Café", "猫 (ねこ)", "Ünïcode", "Ok"],
            class_hotkey=["", "", "", ""],
            class_description=["", "", "", ""],
        ),
    )
    assert response.status_code == 400
    assert errors_for(response, "class_key") == [
        "'é' is not allowed in a key: it uses only the letters A-Z, digits, '_', '.' and '-' "
        "(the class name may be in any script): 'cafe'?",
        "no key can be made from the name '猫 (ねこ)' (a key uses only the letters A-Z, digits, '_', '.' and "
        "'-'): type one, such as 'cat'",
    ]
    assert 'value="unicode"' in response.content.decode()  # made from the accented name, as before


def test_the_form_names_each_problem_next_to_its_field_and_keeps_what_was_typed(client, manager):
    client.force_login(manager)
    response = client.post(
        "/projects/new/",
        project_post(
            name="",
            modality="audio",
            class_key=["cat", "cat", "dog", "bad key!"],
            class_name=["Cat", "Kitten", "Dog", "Other"],
            class_hotkey=["1", "1", "n", "xy"],
            class_description=["", "", "", ""],
        ),
    )
    assert response.status_code == 400
    assert errors_for(response, "name") == ["This field is required."]
    assert "cannot be a detection project: choose image" in errors_for(response, "task_type")[0]
    key_errors = errors_for(response, "class_key")
    assert key_errors[0] == "the key 'cat' is already used by another class"
    assert "A class key is 1-64 letters" in key_errors[1]
    hotkey_errors = errors_for(response, "class_hotkey")
    assert hotkey_errors == [
        "'1' is already the key of 'cat'",
        "'n' is kept by the labeling page (b, c, n, o, r, s, u)",
        "a keyboard key is one character",
    ]
    html = response.content.decode()
    assert 'value="Kitten"' in html and 'value="bad key!"' in html  # nothing typed is lost
    assert not Project.objects.exists()

    blank = [""] * 3
    one = client.post(
        "/projects/new/",
        project_post(
            task_type="classification",
            class_key=["a", "", ""],
            class_name=blank,
            class_hotkey=blank,
            class_description=blank,
        ),
    )
    assert one.status_code == 400
    assert errors_for(one, "classes") == ["a classification project needs at least two classes"]
    none = client.post(
        "/projects/new/",
        project_post(class_key=blank, class_name=blank, class_hotkey=blank, class_description=blank),
    )
    assert errors_for(none, "classes") == ["a detection project needs at least one class"]
    assert errors_for(client.post("/projects/new/", project_post(overlap="0")), "overlap")
    assert not Project.objects.exists()

    # A transcription project has no classes: rows typed before switching to it are not kept.
    client.post("/projects/new/", project_post(modality="audio", task_type="transcription"))
    assert list(Project.objects.get().classes.all()) == []


def test_who_may_not_create_is_told_why_and_the_setting_opens_it(client, labeler, settings):
    client.force_login(labeler)
    page = client.get("/projects/new/")
    assert page.status_code == 403 and b"LABELHUB_PROJECT_CREATORS=staff" in page.content
    assert b'name="class_key"' not in page.content
    assert client.post("/projects/new/", project_post()).status_code == 403
    assert not Project.objects.exists()
    home = client.get("/").content.decode()
    assert "Ask a project manager to add you" in home and "/projects/new/" not in home

    settings.LABELHUB_PROJECT_CREATORS = "everyone"
    assert client.get("/projects/new/").status_code == 200
    assert 'id="new-project"' in client.get("/").content.decode()


def test_an_empty_home_leads_a_creator_to_create_then_import_then_label(client, manager):
    client.force_login(manager)
    home = client.get("/").content.decode()
    steps = home.split('id="first-run"')[1]
    assert steps.index("Create a project") < steps.index("Import data") < steps.index("Label")
    assert 'href="/projects/new/"' in steps

    client.post("/projects/new/", project_post())
    project = Project.objects.get()
    home = client.get("/").content.decode()
    assert 'id="first-run"' not in home and f'href="/projects/{project.pk}/import/"' in home
    page = client.get(f"/projects/{project.pk}/import/").content.decode()
    assert f'href="/projects/{project.pk}/label/" id="start-labeling"' in page


def test_members_page_adds_by_email_changes_roles_and_keeps_the_last_manager(
    client, manager, project, labeler, outsider
):
    outsider.email = "olga@example.com"
    outsider.save()
    url = f"/projects/{project.pk}/members/"
    client.force_login(labeler)
    assert client.get(url).status_code == 403
    assert client.post(url, {"action": "add", "who": outsider.username, "role": "manager"}).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404

    client.force_login(manager)
    page = client.get(url).content.decode()
    assert f'data-member="{labeler.username}"' in page and "the last manager" in page
    unknown = client.post(url, {"action": "add", "who": "ghost", "role": "labeler"})
    assert unknown.status_code == 400 and errors_for(unknown, "who") == [
        "no user named 'ghost' (to invite someone new, give their e-mail)"
    ]
    added = client.post(url, {"action": "add", "who": "olga@example.com", "role": "reviewer"})
    assert added.status_code == 302
    assert Membership.objects.get(project=project, user=outsider).role == "reviewer"

    client.post(url, {"action": "role", "username": outsider.username, "role": "manager"})
    assert Membership.objects.get(project=project, user=outsider).role == "manager"
    client.post(url, {"action": "remove", "username": labeler.username})
    assert not Membership.objects.filter(project=project, user=labeler).exists()

    # The other manager steps down (and lands where a labeler may be); then the first manager is the last one.
    client.force_login(outsider)
    stepped_down = client.post(url, {"action": "role", "username": outsider.username, "role": "labeler"})
    assert stepped_down.url == f"/projects/{project.pk}/"
    assert Membership.objects.get(project=project, user=outsider).role == "labeler"
    client.force_login(manager)
    refused = client.post(url, {"action": "remove", "username": manager.username}, follow=True)
    assert any("last manager" in str(m) for m in get_messages(refused.wsgi_request))
    refused = client.post(url, {"action": "role", "username": manager.username, "role": "labeler"})
    assert Membership.objects.get(project=project, user=manager).role == "manager"
    # adding oneself as a labeler: the refusal shows once, beside the form (it was also in the message bar)
    client.get(url)  # shows the message the refused role change left
    refused = client.post(url, {"action": "add", "who": manager.username, "role": "labeler"})
    assert refused.status_code == 400
    assert unescape(refused.content.decode()).count("the last manager of") == 1
    assert not list(get_messages(refused.wsgi_request))


def test_archive_and_restore_on_the_settings_page(client, manager, reviewer, labeler, project):
    url = f"/projects/{project.pk}/settings/"
    client.force_login(labeler)
    assert client.get(url).status_code == 403
    assert client.post(url, {"action": "archive"}).status_code == 403

    client.force_login(manager)
    saved = client.post(url, {"action": "save", "name": "Digits 2", "overlap": "4", "uncertain": "on"})
    assert saved.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.overlap, project.options["borderline"], project.options["uncertain"]) == (
        "Digits 2",
        4,
        False,
        True,
    )
    bad = client.post(url, {"action": "save", "name": "Digits 2", "overlap": "0"})
    assert bad.status_code == 400 and errors_for(bad, "overlap")

    assert client.post(url, {"action": "archive"}).status_code == 302
    project.refresh_from_db()
    assert project.archived is not None
    manager_home = client.get("/").content.decode()
    assert f'data-project="{project.pk}"' in manager_home and "archived" in manager_home
    assert 'id="archived-banner"' in client.get(f"/projects/{project.pk}/").content.decode()

    for user in (labeler, reviewer):
        client.force_login(user)
        home = client.get("/").content.decode()
        assert f'data-project="{project.pk}"' not in home
        # told the project is archived, not that they belong to no project
        assert 'id="archived-projects"' in home and "Digits 2" in home and "not a member of any" not in home
        page = client.get(f"/projects/{project.pk}/label/")
        assert page.status_code == 403 and b"archived" in page.content
        assert b"ask a manager of the project for that role" not in page.content

    client.force_login(manager)
    client.post(url, {"action": "restore"})
    client.force_login(labeler)
    assert f'data-project="{project.pk}"' in client.get("/").content.decode()
    assert client.get(f"/projects/{project.pk}/label/").status_code == 200


def test_a_user_with_no_project_and_no_right_sees_whom_to_ask(client):
    user = make_user("newcomer")
    client.force_login(user)
    home = client.get("/").content.decode()
    assert "newcomer" in home and "Ask a project manager" in home
