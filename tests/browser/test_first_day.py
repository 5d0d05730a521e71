"""A team's first day in headless Chromium, on an empty database: the founder makes the instance's first
account from the link `manage.py first_account_link` prints, creates a project on the page (three classes,
one row added and one removed), invites a teammate who has no account yet, imports two images and labels
one; the teammate makes an account from the invitation's link and labels both; the founder sees the two
labelers' agreement."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from labeling.models import Annotation, Membership, Project
from tests.browser.test_content_security_policy import watch
from tests.browser.test_labeling_page import shown_item
from tests.conftest import png_bytes, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_founder_goes_from_the_first_account_to_a_project_to_import_to_label_to_agreement(
    live_server, page, new_page
):
    require_browser()
    assert not get_user_model().objects.exists() and not Project.objects.exists()

    watch(page)  # Content-Security-Policy violations are recorded on every page below
    # The login page of an empty instance says how its first account is made; the link does it.
    page.goto(f"{live_server.url}/login/")
    assert "first_account_link" in page.locator("#no-accounts").inner_text()
    out = StringIO()
    call_command("first_account_link", "--base-url", live_server.url, stdout=out, stderr=StringIO())
    page.goto(out.getvalue().strip())
    page.fill("#id_username", "founder")
    page.fill("#id_email", "founder@example.com")
    page.fill("#id_password", "short")
    with page.expect_navigation():
        page.get_by_role("button", name="Make the account").click()
    assert "too short" in page.locator("[data-error-for=password]").inner_text()
    assert page.locator("#id_username").input_value() == "founder"
    page.fill("#id_password", "pw-founder, the long one")
    with page.expect_navigation():
        page.get_by_role("button", name="Make the account").click()
    assert page.url == f"{live_server.url}/"
    founder = get_user_model().objects.get()
    assert founder.username == "founder" and founder.is_superuser

    first_run = page.locator("#first-run")
    assert "Create a project" in first_run.inner_text()
    with page.expect_navigation():
        first_run.get_by_role("link", name="Create a project").click()

    # Text offers no detection; an image project does.
    page.select_option("#id_modality", "text")
    assert page.locator("#id_task_type option[value=detection]").is_disabled()
    page.select_option("#id_modality", "image")
    page.select_option("#id_task_type", "classification")
    page.fill("#id_name", "Cats and dogs")
    rows = page.locator("#class-rows tr")
    for i, (key, name, description) in enumerate([("cat", "Cat", "any cat, even a cartoon"), ("dog", "Dog", "")]):
        rows.nth(i).locator("input[name=class_key]").fill(key)
        rows.nth(i).locator("input[name=class_name]").fill(name)
        rows.nth(i).locator("input[name=class_description]").fill(description)
    page.get_by_role("button", name="Add a class").click()
    page.keyboard.type("other")  # the new row's key field has the focus
    page.get_by_role("button", name="Add a class").click()
    page.keyboard.type("mistake")
    assert rows.count() == 4
    rows.nth(3).get_by_role("button", name="Remove").click()
    assert rows.count() == 3
    rows.nth(2).locator("input[name=class_hotkey]").fill("x")
    page.fill("#id_guideline", "# Cats and dogs\n\nA fox is **other**.")
    assert page.evaluate("window.__csp") == []  # the form's script and its data ran under the policy
    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()

    project = Project.objects.get()
    assert page.url == f"{live_server.url}/projects/{project.pk}/"
    assert [(c.key, c.hotkey) for c in project.classes.all()] == [("cat", "1"), ("dog", "2"), ("other", "x")]
    assert project.active_guideline.version == 1
    assert "Import data" in page.locator("#next-step").inner_text()

    # Invite the teammate, who has no account yet, by e-mail on the Members page.
    with page.expect_navigation():
        page.locator(".project-nav").get_by_role("link", name="Members").click()
    page.fill("#id_who", "tea.mate@example.com")
    page.select_option("#id_role", "labeler")
    with page.expect_navigation():
        page.locator("#member-add").get_by_role("button", name="Add").click()
    assert page.locator("#invitations tr[data-invitation='tea.mate@example.com']").is_visible()
    link = re.search(r"http\S+/invite/\S+/", page.locator(".messages").inner_text()).group(0)

    # Back on the overview, the next step is the import page.
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    with page.expect_navigation():
        page.locator("#next-step").get_by_role("link", name="Import data").click()
    assert page.url == f"{live_server.url}/projects/{project.pk}/import/"
    page.locator("#upload-form input[name=files]").set_input_files(
        [{"name": f"pet{i}.png", "mimeType": "image/png", "buffer": png_bytes(seed=i)} for i in range(2)]
    )
    page.locator("#upload-form").get_by_role("button", name="Upload").click()
    start = page.locator("#start-labeling")
    start.wait_for(state="visible")
    assert page.locator("[data-testid=imported]").inner_text() == "2"

    with page.expect_navigation():
        start.click()
    item = shown_item(page)
    page.keyboard.press("x")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('mine-total').textContent === '1'")
    answer = Annotation.objects.get(labeler=founder)
    assert (answer.item_id, answer.value, answer.guideline.version) == (item, "other", 1)
    assert not page.errors and page.console_csp == []

    # The teammate opens the link in a browser of their own, makes an account and lands in the project;
    # they label both images: "other" on the founder's, "cat" on the rest.
    mate = new_page()
    mate.goto(link)
    mate.fill("#id_username", "teammate")
    mate.fill("#id_password", "a sound passphrase")
    with mate.expect_navigation():
        mate.get_by_role("button", name="Create my account and join").click()
    assert mate.url == f"{live_server.url}/projects/{project.pk}/"
    teammate = get_user_model().objects.get(username="teammate")
    assert Membership.objects.get(project=project, user=teammate).role == "labeler"
    with mate.expect_navigation():
        mate.locator(".project-nav").get_by_role("link", name="Label").click()
    shown = None
    for n in (1, 2):
        shown = shown_item(mate, previous=shown)  # the next item, not the one just answered
        key = "x" if shown == item else "1"
        mate.keyboard.press(key)
        mate.keyboard.press("Enter")
        mate.wait_for_function(f"() => document.getElementById('mine-total').textContent === '{n}'")
    assert Annotation.objects.filter(labeler=teammate).count() == 2

    # The founder opens Agreement from the project's navigation: two labelers, who agree on the one item
    # both answered.
    with page.expect_navigation():
        page.goto(f"{live_server.url}/projects/{project.pk}/")
    with page.expect_navigation():
        page.locator(".project-nav").get_by_role("link", name="Agreement").click()
    body = page.locator("main").inner_text()
    assert "answers by 2 labelers" in body and "1 with 2+ answers" in body
    assert "percent agreement" in body
    labelers = page.locator("table", has_text="Agreement with others (HLP)").locator("tbody tr")
    assert sorted(labelers.all_inner_texts())[0].split("\t")[:3] == ["founder", "1", "1.000"]
    assert not page.errors and page.console_csp == [] and not mate.errors
