"""The labeling page while a manager changes the project under it: items deleted, classes and options
changed. The labeler is told what happened and goes on; nothing they did is silently lost."""

import pytest

from labeling.models import Annotation, Membership, Project, Reservation
from labeling.services.item_deletion import items_delete
from labeling.services.projects import member_remove, project_update
from labeling.services.taxonomy import taxonomy_apply
from tests.browser.test_labeling_page import digits_project, shown_item
from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_label_page(page, live_server, login, labeler, project):
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    return shown_item(page)


def test_an_answer_to_an_item_deleted_meanwhile_says_so_and_the_next_item_comes(
    live_server, page, login, manager, labeler
):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)
    held = open_label_page(page, live_server, login, labeler, project)
    page.keyboard.press("7")
    items_delete(project=project, item_ids=[held], user=manager)  # the wrong folder was imported
    page.keyboard.press("Enter")
    error = page.locator("#answer-error")
    page.wait_for_function("() => document.getElementById('answer-error').textContent.includes('deleted')")
    assert f"Item #{held} was deleted from the project" in error.text_content()
    assert "your answer to it was not saved" in error.text_content()
    following = shown_item(page, previous=held)  # not stuck on the item the server no longer has
    assert f"Item #{following} is shown instead" in error.text_content()
    assert Reservation.objects.get(labeler=labeler).item_id == following
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    shown_item(page, previous=following)
    assert list(Annotation.objects.values_list("item_id", "value")) == [(following, "4")]


def test_a_skip_of_an_item_deleted_meanwhile_moves_on(live_server, page, login, manager, labeler):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=1)
    held = open_label_page(page, live_server, login, labeler, project)
    items_delete(project=project, item_ids=[held], user=manager)
    page.keyboard.press("s")
    page.locator("#skip-dialog").wait_for()
    page.keyboard.press("1")  # the first reason
    page.wait_for_function("() => document.getElementById('answer-error').textContent.includes('deleted')")
    assert "Nothing else is left for you right now" in page.locator("#answer-error").text_content()
    assert "Nothing is left for you in this project right now" in page.locator("#stage-message").text_content()


def test_a_labeler_removed_meanwhile_keeps_the_answer_and_is_not_told_the_item_was_deleted(
    live_server, page, login, manager, labeler
):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=2)
    held = open_label_page(page, live_server, login, labeler, project)
    member_remove(membership=Membership.objects.get(project=project, user=labeler))
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('answer-error').textContent !== ''")
    page.wait_for_timeout(500)
    assert "deleted" not in page.locator("#answer-error").text_content()
    assert page.locator("#item-label").text_content() == f"item #{held}"  # the answer stays on the page
    assert not Annotation.objects.exists()


def test_classes_and_options_changed_meanwhile_are_announced_with_a_reload(live_server, page, login, manager, labeler):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=4)
    held = open_label_page(page, live_server, login, labeler, project)
    taxonomy_apply(project=project, op="retire", payload={"key": "3"}, author=manager)
    taxonomy_apply(project=project, op="add", payload={"key": "x", "name": "not a digit"}, author=manager)
    project_update(project=Project.objects.get(pk=project.pk), options={"borderline": False})
    page.keyboard.press("3")  # the retired class's key, still on the page
    page.keyboard.press("Enter")
    notice = page.locator("#guideline-updated")
    page.wait_for_function("() => document.getElementById('guideline-updated').textContent.includes('classes')")
    text = notice.text_content()
    assert "The project's classes or options were changed while you were labeling" in text
    assert "new: not a digit" in text
    assert "no longer offered: digit 3" in text
    assert "borderline turned off" in text
    assert "unknown class '3'" in page.locator("#answer-error").text_content()  # the server's refusal stays said
    assert page.locator("#item-label").text_content() == f"item #{held}"
    with page.expect_navigation():
        notice.locator("button").click()
    shown_item(page)
    assert page.locator("#classes").get_by_text("not a digit").count() == 1
    assert page.locator("#toggle-borderline").count() == 0
    assert page.locator("#guideline-updated").text_content() == ""


def test_an_answer_begun_with_an_option_turned_off_meanwhile_comes_back_without_it(
    live_server, page, login, manager, labeler
):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)
    held = open_label_page(page, live_server, login, labeler, project)
    page.keyboard.press("7")
    page.keyboard.press("u")
    project_update(project=Project.objects.get(pk=project.pk), options={"uncertain": False})
    page.reload()  # the Reload the notice offers
    assert shown_item(page) == held
    assert page.locator("#toggle-uncertain").count() == 0  # nothing on the page could clear the flag
    assert "back without uncertain: the project no longer offers it" in page.locator("#draft-note").text_content()
    page.keyboard.press("Enter")
    shown_item(page, previous=held)
    answer = Annotation.objects.get(labeler=labeler)
    assert (answer.item_id, answer.value, answer.uncertain) == (held, "7", False)
