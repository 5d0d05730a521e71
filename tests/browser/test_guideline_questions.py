"""The SME publishes a guideline version that answers a reviewer's open question, ticked in the form."""

import pytest

from labeling.models import GuidelineNote, Item
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from tests.browser.test_labeling_page import digits_project
from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_question_a_new_version_answers_leaves_the_open_questions(live_server, page, login, manager, reviewer):
    require_browser()
    project, items = digits_project(manager, [], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    for pk, why in zip(items, ("a looped 4 or a 9?", "is a dotted 7 a 7?"), strict=True):
        decision_record(item=Item.objects.get(pk=pk), reviewer=reviewer, action="ambiguous_instructions", rationale=why)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/guidelines/")
    assert page.locator("#notes li").count() == 2
    page.locator("#guideline-editor").fill("# Digits v2\n\nA closed upper loop makes a **9**.")
    page.get_by_label("a looped 4 or a 9?").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Publish as v2").click()
    assert GuidelineNote.objects.get(text="a looped 4 or a 9?").resolved_in.version == 2
    assert page.locator("#notes").inner_text().strip().startswith("is a dotted 7 a 7?")
    assert page.locator("#notes li").count() == 1
    assert not page.errors
