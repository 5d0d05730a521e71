"""The map's "Review these items" on a selection too large for a link."""

import numpy as np
import pytest

from analysis.services.embeddings import embeddings_push
from analysis.services.maps import map_create, map_job_run
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_these_items_on_a_large_selection_says_what_to_do_instead_of_a_414(
    live_server, page, login, manager, reviewer
):
    # a lasso over a few thousand points put every id in the review page's address: the server answered
    # "414 Request-URI Too Long" (gunicorn: 400 Bad Request from about 700 items), a bare error page
    require_browser()
    project = make_project(manager, name="Many", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    member_add(project=project, username=reviewer.username, role="reviewer")
    n = 620
    entries = [ImportEntry(name=f"t{i}", text=f"text {i}", label="ab"[i % 2]) for i in range(n)]
    ids = items_import(project=project, entries=entries).imported
    rng = np.random.default_rng(0)
    vectors = [{"item": pk, "vector": rng.normal(size=4).tolist()} for pk in ids]
    embeddings_push(project=project, model="team-net", vectors=vectors)
    emap = map_create(project=project, embedder="team-net", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    select = "(k) => { const m = window.labelhubMap; m.scatterplot.select([...Array(k).keys()]); }"
    page.evaluate(select, n)
    page.wait_for_selector("#selection-card:not([hidden])")
    page.locator("#review-selection").click()
    result = page.locator("#selection-result")
    page.wait_for_function("document.getElementById('selection-result').textContent.includes('too many')")
    assert "620 items are too many" in result.text_content()
    assert "tag them as a slice" in result.text_content()
    assert page.url.endswith("/map/")  # still on the map, the selection kept for the tag or a campaign
    # a selection that fits is reviewed one item after another, as before
    page.evaluate(select, 3)
    page.wait_for_function("document.getElementById('selection-count').textContent === '3'")
    with page.expect_navigation():
        page.locator("#review-selection").click()
    assert "/review/" in page.url and "queue=" in page.url
