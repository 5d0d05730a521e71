"""Reports fit a 1280 px screen (issue 15, point 5): a 17 × 17 transcript heatmap, many classes, and
costs that keep their significant digits, in headless Chromium."""

import pytest

from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from labeling.services.sources import source_create
from tests.conftest import make_project, make_user, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def transcripts_project(manager, reviewer, n=17):
    """n clips, each transcribed by two scribes who never agree: n different long transcripts."""
    project = make_project(manager, name="Long transcripts", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    scribes = [make_user(f"scribe{k}") for k in range(2)]
    for user in scribes:
        member_add(project=project, username=user.username, role="labeler")
    entries = [ImportEntry(name=f"c{i}", text=f"clip {i}") for i in range(n)]
    ids = items_import(project=project, entries=entries).imported
    for i, pk in enumerate(ids):
        item = Item.objects.get(pk=pk)
        for k, user in enumerate(scribes):
            text = f"please find the nearest open pharmacy with parking number {(i + k) % n} on the way home"
            annotation_save(item=item, labeler=user, value=text, seconds=4.0)
    return project


def many_classes_project(manager, reviewer, n_classes=20):
    classes = [
        {"key": f"species-with-a-long-name-{k}", "name": f"Species with a long name {k}"} for k in range(n_classes)
    ]
    project = make_project(manager, name="Many classes", modality="text", classes=classes)
    member_add(project=project, username=reviewer.username, role="reviewer")
    raters = [make_user(f"rater{k}") for k in range(3)]
    for user in raters:
        member_add(project=project, username=user.username, role="labeler")
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"d{i}", text=f"doc {i}") for i in range(60)]
    ).imported
    for i, pk in enumerate(ids):
        item = Item.objects.get(pk=pk)
        for k, user in enumerate(raters):
            annotation_save(item=item, labeler=user, value=classes[(i + (k == 2)) % n_classes]["key"], seconds=2.0)
    return project


def test_the_agreement_page_fits_1280_px_with_17_transcripts_and_20_classes(
    live_server, page, login, manager, reviewer
):
    require_browser()
    login(page, live_server, reviewer)
    for project in (transcripts_project(manager, reviewer), many_classes_project(manager, reviewer)):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
        assert page.locator("#confusion").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"{project.name}: the agreement page is {width} px wide"
        header = page.locator("#confusion thead th").all_inner_texts()
        assert len(header) == 1 + 13 and header[-1].startswith("other (")
        # The folded heatmap itself fits its card: nothing scrolls sideways inside it either.
        wrap = page.locator("#confusion .heatmap-wrap")
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    assert not page.errors


def test_the_planning_page_shows_a_non_zero_cost_per_item(live_server, page, login, manager):
    require_browser()
    project = make_project(manager, name="Bought data")
    source_create(project=project, name="vendor", kind="purchased", planned_amount=50_000, total_cost=200)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/planning/")
    # 200 USD for 50,000 items: 0.004 USD an item, not "0.00" (no labor cost yet: nobody answered).
    assert page.locator("[data-measure='data_cost']").inner_text() == "0.004 USD"
    assert "0.004 USD" in page.locator("#sources").inner_text()
    assert "0.00 " not in page.locator("#costs").inner_text()
    assert not page.errors
