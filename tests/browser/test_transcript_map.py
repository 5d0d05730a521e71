"""A transcription project's map in headless Chromium (issue 15, point 4): coloured by WER and by a
metadata field, no label-issue scores claimed, and a lassoed region tagged as a slice."""

import pytest

from analysis.services.maps import map_create, map_job_run
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_transcript_map_colours_by_wer_and_condition_and_tags_a_lassoed_region(
    live_server, page, login, manager, reviewer
):
    require_browser()
    project = make_project(manager, name="Tickets", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    scribes = [make_user(f"scribe{k}") for k in range(2)]
    for user in scribes:
        member_add(project=project, username=user.username, role="labeler")
    topics = ["printer jammed paper tray", "password reset email missing", "vpn drops every hour"]
    entries = [
        ImportEntry(
            name=f"t{i}",
            text=f"{topics[i % 3]} ticket {i}",
            metadata={"condition": "phone" if i % 2 else "email"},
        )
        for i in range(30)
    ]
    ids = items_import(project=project, entries=entries).imported
    for i, pk in enumerate(ids):
        item = Item.objects.get(pk=pk)
        annotation_save(item=item, labeler=scribes[0], value=topics[i % 3])
        annotation_save(item=item, labeler=scribes[1], value=topics[i % 3] if i % 3 else "printer is broken")
    emap = map_create(project=project, embedder="text-tfidf", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    assert "no label-issue scores" in page.locator("#no-label-issues").inner_text().lower()
    options = page.locator("#colour-by option").all_inner_texts()
    assert options[:2] == ["transcript WER", "transcript agreement"] and "metadata: condition" in options
    assert "issue score" not in options
    legend = page.locator("#legend").inner_text()
    assert "WER 0" in legend and "> 0.5" in legend
    page.select_option("#colour-by", label="metadata: condition")
    page.wait_for_function("document.getElementById('legend').textContent.includes('email')")
    assert "phone" in page.locator("#legend").inner_text()

    page.get_by_role("button", name="Lasso").click()
    box = page.locator("#map-canvas").bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    path = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.06)]
    page.mouse.move(x0 + w * path[0][0], y0 + h * path[0][1])
    page.mouse.down()
    for fx, fy in path[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=12)
    page.mouse.up()
    page.wait_for_selector("#selection-card:not([hidden])")
    selected = {int(i) for i in page.locator("#map-root").get_attribute("data-selected").split(",") if i}
    assert selected and selected <= set(ids)
    page.locator("#tag-form input[name=tag]").fill("hard printer tickets")
    page.locator("#tag-form button").click()
    page.wait_for_function("document.getElementById('selection-result').textContent.startsWith('Tagged')")
    tagged = set(Item.objects.filter(tags__name="hard printer tickets").values_list("pk", flat=True))
    assert tagged == selected
    assert not page.errors
