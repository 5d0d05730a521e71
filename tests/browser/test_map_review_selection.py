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


def test_a_text_clusters_examples_show_their_texts_and_open_their_card(live_server, page, login, manager, reviewer):
    # a text project's cluster showed its examples as bare ids ("#2478 #2493 vs #2512 #2508"): the SME
    # could read neither side without finding each point on the map
    require_browser()
    project = make_project(manager, name="Jaguars", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    member_add(project=project, username=reviewer.username, role="reviewer")
    rng = np.random.default_rng(0)
    truth = np.array([0] * 60 + [1] * 60)
    given = truth.copy()
    given[60:80] = 0
    texts = [
        ("the jaguar stalked its prey" if t else "the jaguar needs new brakes") + f" {i}" for i, t in enumerate(truth)
    ]
    labels = ["ab"[g] for g in given]
    entries = [ImportEntry(name=f"t{i}", text=text, label=labels[i]) for i, text in enumerate(texts)]
    ids = items_import(project=project, entries=entries).imported
    centres = np.array([[0.0] * 8, [6.0] * 8])
    vectors = centres[truth] + rng.normal(0, 1, (120, 8))
    vectors[60:80] = centres[1] + np.array([2.5] + [0.0] * 7) + rng.normal(0, 0.4, (20, 8))
    rows = [{"item": pk, "vector": vectors[k].tolist()} for k, pk in enumerate(ids)]
    embeddings_push(project=project, model="team-net", vectors=rows)
    emap = map_create(project=project, embedder="team-net", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    cluster = page.locator("#clusters li[data-cluster]").first
    examples = cluster.locator(".thumbs [data-item]")
    assert examples.count() >= 2
    shown = examples.all_text_contents()
    assert any("stalked its prey" in t for t in shown), shown
    first = examples.first
    item = first.get_attribute("data-item")
    first.click()
    page.wait_for_function(
        "(id) => document.getElementById('item-title').textContent.startsWith('#' + id)", arg=item, timeout=5_000
    )
    assert "stalked its prey" in page.locator("#item-media").text_content()
