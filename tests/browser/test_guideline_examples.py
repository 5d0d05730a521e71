"""The reviewer adds a canonical example to a detection project's guideline in headless Chromium: the form
asks for the item and a note only (no class, no borderline case), and the example appears with its
decided boxes drawn over the picture; an item with nothing to draw says so on the page."""

import json

import pytest

from labeling.models import GuidelineExample, Item
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from tests.browser.test_content_security_policy import watch
from tests.browser.test_shape_labeling import png_bytes
from tests.conftest import make_project, require_browser
from tests.labeling.version_helpers import labelers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TWO = {
    "boxes": [
        {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5, "label": "digit"},
        {"x": 0.4, "y": 0.2, "w": 0.3, "h": 0.5, "label": "digit"},
    ]
}


def test_reviewer_adds_a_detection_example_and_sees_its_boxes(live_server, page, login, manager, reviewer):
    require_browser()
    project = make_project(
        manager, name="Touching (examples)", modality="image", task_type="detection", classes=[{"key": "digit"}]
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    guideline_publish(project=project, text="Box every digit.", author=manager)
    decided_id, blank_id = items_import(
        project=project,
        entries=[ImportEntry(name="a.png", load=png_bytes), ImportEntry(name="b.png", load=lambda: png_bytes(2))],
    ).imported
    decided = Item.objects.get(pk=decided_id)
    (alice,) = labelers(project, 1)
    annotation_save(item=decided, labeler=alice, value=json.dumps({"boxes": [TWO["boxes"][0]]}))
    decision_record(item=decided, reviewer=reviewer, value=TWO)

    watch(page)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/guidelines/")
    form = page.locator("#example-form")
    assert form.locator("[name=label]").count() == 0 and "borderline" not in form.text_content()
    form.locator("[name=item]").fill(str(blank_id))
    form.locator("[name=note]").fill("nothing to show")
    form.locator("button[type=submit]").click()
    page.locator("#example-status.error").wait_for()
    assert "no reviewer decision and no answers" in page.locator("#example-status").text_content()
    assert not GuidelineExample.objects.exists()

    form.locator("[name=item]").fill(str(decided_id))
    form.locator("[name=note]").fill("two digits touching: two boxes")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    card = page.locator(f'figure[data-example="{decided_id}"]')
    assert card.locator(".example-box").count() == 2 and "two digits touching" in card.text_content()
    assert "2 boxes" in card.text_content()
    assert GuidelineExample.objects.get(item=decided).shapes == TWO
    assert page.evaluate("window.__csp") == [] and page.console_csp == [] and page.errors == []
