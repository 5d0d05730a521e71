"""The agreement page of a detection project in headless Chromium: the split/merge picture."""

import pytest

from tests.analysis.test_shape_agreement_report import make_iguana_project
from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_split_merge_boxes_are_drawn_over_the_image(live_server, page, login, manager, reviewer, labeler, labeler2):
    require_browser()
    project = make_iguana_project(manager, reviewer, labeler, labeler2)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/?tag=iguanas")
    assert page.locator("[data-metric='box_f1']").get_attribute("data-value") == "0.4"
    figure = page.locator(f"#split-merge figure[data-item='{project.iguana_id}']").first
    image = figure.locator("img")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    shown = image.bounding_box()
    one = figure.locator("rect.shape.one").bounding_box()
    # labeler1's box (x 0.10, width 0.62 of the image) lies where it was drawn on the shown image.
    assert one["x"] == pytest.approx(shown["x"] + 0.10 * shown["width"], abs=3)
    assert one["width"] == pytest.approx(0.62 * shown["width"], abs=3)
    assert figure.locator("rect.shape.many").count() == 2
    assert violations == [] and page.errors == []
    page.screenshot(path="/tmp/s-report-agreement.png", full_page=True)
