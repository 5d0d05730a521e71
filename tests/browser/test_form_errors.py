"""A form the server sends back with errors puts the keyboard's focus on the first of them: the page came
back with the focus at its very top, and a screen reader, which does not read out alerts already on a page
when it loads, said nothing of what went wrong."""

import pytest

from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED_ERROR = "(() => { const e = document.activeElement.closest('.error'); return e && e.textContent.trim(); })()"


def test_a_refused_new_project_puts_the_focus_on_what_to_fix(live_server, page, login, manager):
    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/new/")
    page.locator("#id_name").focus()
    page.keyboard.type("Cats")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # no classes given
    assert page.evaluate(FOCUSED_ERROR) == "Some classes need fixing (see below)."
    page.keyboard.press("Tab")  # on into the form from there, not back to the top bar
    assert page.evaluate("document.activeElement.id") == "id_name"


def test_a_refused_member_puts_the_focus_on_the_reason(live_server, page, login, manager, project):
    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    page.locator("#id_who").focus()
    page.keyboard.type("nobody-by-that-name")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    said = page.evaluate(FOCUSED_ERROR)
    assert said and "nobody-by-that-name" in said
