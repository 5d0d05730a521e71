"""The dashboard and the error-analysis page in headless Chromium show the numbers the API answers."""

from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.analysis.error_analysis_helpers import EXPECTED_ORDER, build_error_analysis_project, three_labelers
from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shown(value, places=3):
    """A number as the templates' ``floatformat`` shows it (half up, on the decimal text of the float)."""
    if value is None:
        return "—"
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def api_json(page, path):
    """The API's answer, fetched by the page itself (the browser's session authenticates it)."""
    return page.evaluate("async (path) => (await fetch(path)).json()", path)


def cell(page, row_selector, measure):
    return page.locator(f'{row_selector} [data-measure="{measure}"]').first.inner_text().split()[0]


def test_error_analysis_page_shows_the_api_numbers(live_server, page, login, project, reviewer, labeler, labeler2):
    require_browser()
    build_error_analysis_project(project, three_labelers(project, labeler, labeler2))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/error-analysis/")
    report = api_json(page, f"/api/projects/{project.pk}/error-analysis/")
    rows = page.locator("#slice-table tbody tr")
    assert [rows.nth(i).get_attribute("data-slice") for i in range(rows.count())] == EXPECTED_ORDER
    for row in report["slices"]:
        selector = f'#slice-table tr[data-slice="{row["slice"]}"]'
        assert cell(page, selector, "n_items") == str(row["n_items"])
        for measure in ("model_accuracy", "hlp", "gap_to_hlp", "share", "weighted_gap"):
            assert cell(page, selector, measure) == shown(row[measure]), (row["slice"], measure)
    for row in report["classes"]:
        selector = f'#classes tr[data-class="{row["class"]}"]'
        for measure in ("precision", "recall", "f1"):
            assert cell(page, selector, measure) == shown(row[measure]), (row["class"], measure)
    beats = page.locator('#slice-table tr[data-slice="beats"]')
    assert "beats HLP" in beats.inner_text()
    assert beats.locator("a").get_attribute("href").startswith(f"/projects/{project.pk}/review/?items=")
    assert page.locator("#slices svg").count() == 2
    assert page.errors == []


def test_dashboard_shows_the_api_numbers(live_server, page, login, project, reviewer, labeler, labeler2):
    require_browser()
    build_error_analysis_project(project, three_labelers(project, labeler, labeler2))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    data = api_json(page, f"/api/projects/{project.pk}/dashboard/")
    for key in ("items", "answered", "complete", "n_answers"):
        assert page.locator(f'#progress [data-metric="{key}"]').inner_text() == str(data["progress"][key])
    hlp = data["agreement"]["hlp"]
    assert page.locator('#agreement [data-metric="hlp"]').inner_text() == shown(hlp["value"])
    assert page.locator('#agreement [data-metric-card="hlp"] [data-ci-low]').inner_text() == shown(hlp["ci_low"])
    run = data["model_run"]
    assert page.locator('#model-run [data-metric="model_accuracy"]').inner_text() == shown(
        run["model_accuracy"]["value"]
    )
    assert page.locator('#model-run [data-metric="gap_to_hlp"]').inner_text() == shown(run["gap_to_hlp"]["value"])
    for row in data["top_slices"]:
        selector = f'#top-slices tr[data-slice="{row["slice"]}"]'
        for measure in ("model_accuracy", "hlp", "gap_to_hlp", "share", "weighted_gap"):
            assert cell(page, selector, measure) == shown(row[measure]), (row["slice"], measure)
    assert page.locator("main svg").count() >= 4
    # The nav's Dashboard link leads here from any project page.
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"**/projects/{project.pk}/dashboard/")
    assert page.errors == []


def test_the_error_analysis_page_fits_a_phone_screen(live_server, page, login, project, reviewer, labeler, labeler2):
    """The model-run choice is named as the demo's is ("logistic regression on v1 (training job 1)", with its
    date): in the filters row its select kept its whole width and the page scrolled sideways by 125 px."""
    require_browser()
    run, _, _ = build_error_analysis_project(project, three_labelers(project, labeler, labeler2))
    run.name = "logistic regression on v1 (training job 1)"
    run.save(update_fields=["name"])
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/error-analysis/")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    select = page.locator("#run-form select[name=model_run]").bounding_box()
    assert select["x"] + select["width"] <= 390
