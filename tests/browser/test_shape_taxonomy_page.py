"""The reviewer of a detection project, in headless Chromium, sees the pair of classes labelers call the
same object, prepares that merge with one click and reads its box F1 preview; nothing is applied."""

import json

import pytest

from tests.browser.test_content_security_policy import watch
from tests.conftest import detection_project, require_browser
from tests.labeling.queue_helpers import make_items
from tests.labeling.test_shape_taxonomy import ANSWERS
from tests.labeling.version_helpers import answer, labelers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_reviewer_prepares_the_suggested_merge_and_reads_its_box_f1(live_server, page, login, manager, reviewer):
    require_browser()
    project = detection_project(manager, reviewer, ["iguana", "lizard", "rock"])
    items = make_items(project, 3, stats={"width": 100, "height": 100})
    users = dict(zip("uv", labelers(project, 2), strict=True))
    for item_no, who, value in ANSWERS:
        answer(items[item_no - 1], users[who], json.dumps(value))

    watch(page)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/taxonomy/")
    suggestion = page.locator("#suggestions li").first
    assert "drawn as one by a labeler and as the other by another 2 times" in suggestion.inner_text()
    suggestion.get_by_role("button", name="Prepare this merge").click()
    result = page.locator("#taxonomy-result")
    result.filter(has_text="Box F1").wait_for()
    assert result.inner_text() == "Box F1 0.333 → 1.000 (+0.667)"
    assert page.locator("input[name=into]").input_value() == "iguana-or-lizard"
    assert page.evaluate("window.__csp") == [] and page.errors == []
    assert not project.taxonomy_changes.exists()
