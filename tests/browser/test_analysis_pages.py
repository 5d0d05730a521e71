"""Reports and the embedding map in headless Chromium."""

import io
import json
import uuid

import numpy as np
import pytest
from PIL import Image

from analysis.models import EmbeddingMap
from labeling.choices import Role
from labeling.models import Campaign, Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user, png_bytes, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def labeled_project(manager, reviewer, n=30):
    project = make_project(manager, name="Pets", options={"borderline": True})
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(n)]
    ).imported
    rng = np.random.default_rng(3)
    users = [make_user(f"rater{r}") for r in range(3)]
    for user in users:
        member_add(project=project, username=user.username, role=Role.LABELER)
    for item_id in ids:
        truth = rng.choice(["cat", "dog", "other"])
        for user in users:
            value = truth if rng.random() < 0.8 else rng.choice(["cat", "dog", "other"])
            annotation_save(item=Item.objects.get(pk=item_id), labeler=user, value=str(value), seconds=3.0)
    return project, ids


def test_report_page_shows_every_section_with_the_apis_numbers(live_server, page, login, api, manager, reviewer):
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    expected = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    for section in ("#headline", "#per-class", "#labelers", "#pairwise", "#confusion", "#over-time", "#by-guideline"):
        assert page.locator(section).is_visible(), section
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp"):
        shown = float(page.locator(f"[data-metric='{key}']").get_attribute("data-value"))
        assert shown == pytest.approx(expected[key]["value"], abs=1e-9)
        card = page.locator(f"[data-metric-card='{key}']")
        assert float(card.locator("[data-ci-low]").get_attribute("data-ci-low")) == pytest.approx(
            expected[key]["ci_low"]
        )
    for row in expected["per_labeler"]:
        cell = page.locator(f"tr[data-labeler='{row['labeler']}'] [data-measure='agreement_with_others']")
        assert cell.inner_text() == f"{row['agreement_with_others']:.3f}"
    data = json.loads(page.locator("#report-data").text_content())
    assert data["confusion"] == expected["confusion"]
    # The slice picker and downloads are there.
    assert page.locator("select[name=tag]").is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert not page.errors


def test_labeler_gets_403_on_the_report_page(live_server, page, login, labeler, project):
    require_browser()
    login(page, live_server, labeler)
    response = page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    assert response.status == 403


def test_manager_starts_a_map_lassoes_a_region_and_gets_a_campaign_of_exactly_those_items(
    live_server, new_page, login, manager, reviewer, settings, tmp_path, monkeypatch
):
    require_browser()
    from tests.integration.conftest import send_jobs_to, start_worker, stop_worker

    settings.MEDIA_ROOT = tmp_path / "media"
    project, ids = labeled_project(manager, reviewer, n=60)
    # Its own worker on a queue of its own: the session's integration worker, if it runs already, reads
    # another media folder and must not take the map job.
    queue = f"map-page-{uuid.uuid4().hex[:8]}"
    send_jobs_to(monkeypatch, queue)
    worker = start_worker(settings.MEDIA_ROOT, concurrency=1, queue=queue)
    try:
        page = new_page()
        login(page, live_server, manager)
        page.goto(f"{live_server.url}/projects/{project.pk}/map/")
        page.get_by_role("button", name="Start a new map").click()
        page.wait_for_selector("#map-job", timeout=15_000)
        page.wait_for_selector("#map-root[data-ready='true']", timeout=180_000)
    finally:
        stop_worker(worker)
    emap = EmbeddingMap.objects.get(project=project)
    assert emap.job.status == "succeeded" and emap.n_points == 60
    assert "analysis.map_run" in worker.output()  # this test's worker ran it, in this test's media folder
    # every point is drawn whole: none is cut by the canvas's edge (the layout fills [-1, 1] exactly, and
    # the outermost points were drawn half outside)
    page.wait_for_timeout(500)
    shot = Image.open(io.BytesIO(page.locator("#map-canvas").screenshot())).convert("L")
    ink = np.asarray(shot) < 200
    edge = 3
    assert ink[edge:-edge, edge:-edge].any(), "no point drawn"
    assert not (ink[:edge].any() or ink[-edge:].any() or ink[:, :edge].any() or ink[:, -edge:].any())
    page.get_by_role("button", name="Lasso").click()
    box = page.locator("#map-canvas").bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # A big lasso around the middle of the map.
    path = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.21)]
    page.mouse.move(x0 + w * path[0][0], y0 + h * path[0][1])
    page.mouse.down()
    for fx, fy in path[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=12)
    page.mouse.up()
    page.wait_for_selector("#selection-card:not([hidden])")
    selected = [int(i) for i in page.locator("#map-root").get_attribute("data-selected").split(",") if i]
    assert 0 < len(selected) < 60
    assert page.locator("#selection-count").inner_text() == str(len(selected))
    page.once("dialog", lambda dialog: dialog.accept("jaguar check"))
    page.get_by_role("button", name="Relabel campaign from the selection").click()
    page.wait_for_selector("#map-root[data-campaign]")
    campaign = Campaign.objects.get(project=project, name="jaguar check")
    assert sorted(campaign.items.values_list("pk", flat=True)) == sorted(selected)
    assert not page.errors


def test_the_over_time_chart_reads_in_percent_clear_of_its_first_point(live_server, page, login, manager, reviewer):
    """The agreement page's over-time chart, as drawn: its axis reads 0 % and 100 % (it read 0 and 1
    beside figures in percent), each tick label ending left of the first point's dot (every answer given
    today: one point, at the axis' start)."""
    require_browser()
    project, _ = labeled_project(manager, reviewer, n=12)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    chart = page.locator("#over-time svg.chart")
    ticks = chart.locator("text.tick")
    assert ticks.all_text_contents() == ["0 %", "100 %"]
    dot = chart.locator("circle.dot").first.bounding_box()
    for i in range(ticks.count()):
        box = ticks.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] < dot["x"], (box, dot)
    assert not page.errors


def test_a_manager_starts_a_map_keeping_one_recordings_items_apart(live_server, page, login, manager, monkeypatch):
    """The map form takes a metadata key to keep apart (offered from the items' metadata); asking again
    while that map is still queued opens it (it said "HTTP 200" in an alert), and a refused request says
    why on the page."""
    require_browser()
    from tests.integration.conftest import send_jobs_to

    project = make_project(manager, name="Clips", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    items_import(
        project=project,
        entries=[
            ImportEntry(name=f"w{i}", text=f"window {i}", label="ab"[i % 2], metadata={"recording": f"r{i // 4}"})
            for i in range(40)
        ],
    )
    send_jobs_to(monkeypatch, f"nobody-{uuid.uuid4().hex[:8]}")  # no worker: the map stays queued
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    form = page.locator("#map-start")
    assert form.locator("datalist option[value='recording']").count() == 1
    form.locator("input[name=group_by]").fill("recording")
    page.get_by_role("button", name="Start a new map").click()
    page.wait_for_selector("#map-job", timeout=15_000)
    emap = EmbeddingMap.objects.get(project=project)
    assert emap.params["group_by"] == "recording" and page.url.endswith(f"/map/{emap.pk}/")
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.locator("#map-start input[name=group_by]").fill("recording")
    page.get_by_role("button", name="Start a new map").click()
    page.wait_for_url(f"**/map/{emap.pk}/", timeout=15_000)
    assert EmbeddingMap.objects.filter(project=project).count() == 1
    page.locator("#map-start input[name=group_by]").evaluate(
        "(box, v) => { box.removeAttribute('maxlength'); box.value = v; }", "k" * 101
    )
    page.get_by_role("button", name="Start a new map").click()
    page.wait_for_function("document.getElementById('map-start-error').textContent.length > 0")
    assert "100 characters" in page.locator("#map-start-error").inner_text()
    assert EmbeddingMap.objects.filter(project=project).count() == 1
    assert not page.errors


def test_a_map_being_computed_says_running_once_its_worker_has_taken_it(
    live_server, page, login, manager, reviewer, monkeypatch
):
    """The map's progress card kept the status it had when the page was loaded: "Map #1: Queued" above
    "running: 1799 / 1801" for the minute the layout took. Its heading follows the job as its bar does."""
    require_browser()
    from analysis.services.maps import map_create
    from labeling.models import Job
    from tests.integration.conftest import send_jobs_to

    send_jobs_to(monkeypatch, f"nobody-{uuid.uuid4().hex[:8]}")  # no worker takes it: the test moves the job
    project, _ = labeled_project(manager, reviewer, n=10)  # a map is made of 10 items or more
    emap = map_create(project=project, embedder="image-basic", user=manager)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/{emap.pk}/")
    heading = page.locator("#map-job h2")
    assert heading.inner_text() == f"Map #{emap.pk}: Queued"
    Job.objects.filter(pk=emap.job_id).update(status="running", processed=3, total=10)
    page.wait_for_function("() => document.querySelector('#map-progress-text').textContent.startsWith('running')")
    assert heading.inner_text() == f"Map #{emap.pk}: Running"
    assert not page.errors


def test_a_campaign_takes_item_ids_as_the_pages_show_them_and_names_one_it_cannot_read(
    live_server, page, login, manager, reviewer
):
    """The pages show items as "#108" (the review queue, a campaign's and a version's item chips); pasted
    into the campaign form, "#22, #28" was sent as nulls and refused as "items: 0: This field may not be
    null.", as "abc" was. Ids with their "#" make the campaign; a word is named."""
    require_browser()
    project, ids = labeled_project(manager, reviewer, n=6)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/campaigns/")
    page.fill("#campaign-form input[name=name]", "words")
    page.fill("#campaign-form textarea[name=items]", f"#{ids[0]}, abc")
    page.click("#campaign-form button[type=submit]")
    result = page.locator("#campaign-result")
    result.filter(has_text="abc").wait_for()
    assert "'abc' is not an item id" in result.inner_text() and "null" not in result.inner_text()
    assert not Campaign.objects.filter(project=project).exists()
    page.fill("#campaign-form input[name=name]", "pasted")
    page.fill("#campaign-form textarea[name=items]", f"#{ids[0]}#{ids[1]} #{ids[2]}")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_url("**/campaigns/*/")
    campaign = Campaign.objects.get(project=project, name="pasted")
    assert sorted(campaign.items.values_list("pk", flat=True)) == sorted(ids[:3])
    assert not page.errors
