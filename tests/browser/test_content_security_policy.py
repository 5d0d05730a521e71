"""Every main page runs under the Content-Security-Policy without a single violation, in headless
Chromium: the labeling page (image and audio, with its waveform), the agreement report, the map, the
review queue and an item's review, the versions page, the dashboard, the API docs and the error pages."""

import numpy as np
import pytest
from django.utils import timezone

from analysis.models import EmbeddingMap, MapPoint
from labeling.models import Item
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_analysis_pages import labeled_project
from tests.conftest import make_project, png_bytes, require_browser, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Installed before any page script (Playwright injects it outside the page's policy).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


def watch(page):
    """Collect CSP violations (events and console messages) and page errors on ``page``."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.console_csp = []
    page.on(
        "console",
        lambda m: page.console_csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page


def visit(page, url, *, expect_status=200, ready=None):
    """Open ``url`` and answer the violations recorded once its requests are done and, for a page whose
    modules draw after them (the waveform, the API docs), once ``ready`` (a selector) says the drawing is."""
    response = page.goto(url)
    assert response.status == expect_status, url
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    if ready:
        page.wait_for_selector(ready, state="attached")
    return page.evaluate("window.__csp")


def a_finished_map(project, manager):
    items = list(Item.objects.filter(project=project).order_by("pk"))
    emap = EmbeddingMap.objects.create(
        project=project,
        embedder="image-basic",
        created_by=manager,
        finished=timezone.now(),
        n_points=len(items),
        classes=["cat", "dog", "other"],
        summary={"n_flagged": 0},
    )
    rng = np.random.default_rng(0)
    MapPoint.objects.bulk_create(
        MapPoint(map=emap, item=item, x=float(rng.random()), y=float(rng.random()), label="cat") for item in items
    )
    return emap


def test_main_pages_raise_no_csp_violation(live_server, new_page, login, manager, reviewer, labeler):
    require_browser()
    project, ids = labeled_project(manager, reviewer, n=12)
    member_add(project=project, username=labeler.username, role="labeler")
    # Every item has its k answers: two fresh ones for the labeler's queue.
    items_import(
        project=project,
        entries=[ImportEntry(name=f"new{i}.png", load=lambda i=i: png_bytes(seed=90 + i)) for i in range(2)],
    )
    emap = a_finished_map(project, manager)
    audio = make_project(manager, name="Clips", modality="audio", task_type="transcription")
    member_add(project=audio, username=labeler.username, role="labeler")
    items_import(project=audio, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=2))])
    base = live_server.url

    seen = {}
    manager_page = watch(new_page())
    login(manager_page, live_server, manager)
    for path, ready in (
        ("/", None),
        (f"/projects/{project.pk}/", None),
        (f"/projects/{project.pk}/agreement/", None),
        (f"/projects/{project.pk}/map/{emap.pk}/", None),
        (f"/projects/{project.pk}/review/", None),
        (f"/projects/{project.pk}/review/{ids[0]}/", None),
        (f"/projects/{project.pk}/versions/", None),
        (f"/projects/{project.pk}/dashboard/", None),
        ("/api/docs/", "#swagger-ui .information-container"),
    ):
        seen[path] = visit(manager_page, base + path, ready=ready)
    assert manager_page.locator("#swagger-ui .information-container").is_visible()  # the docs page ran
    seen["404"] = visit(manager_page, f"{base}/projects/{project.pk + 1000}/", expect_status=404)

    labeler_page = watch(new_page())
    login(labeler_page, live_server, labeler)
    seen["label image"] = visit(
        labeler_page, f"{base}/projects/{project.pk}/label/", ready="#item-label:text('item #')"
    )
    labeler_page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
    seen["label audio"] = visit(labeler_page, f"{base}/projects/{audio.pk}/label/", ready="#audio-viewer[data-ready]")
    labeler_page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    seen["403"] = visit(labeler_page, f"{base}/projects/{project.pk}/agreement/", expect_status=403)

    assert {k: v for k, v in seen.items() if v} == {}
    assert manager_page.console_csp == [] and labeler_page.console_csp == []
    assert manager_page.errors == [] and labeler_page.errors == []
