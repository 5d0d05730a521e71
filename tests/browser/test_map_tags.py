"""The map's "Tag as slice": the new slice shows in the slice colouring at once."""

import pytest

from analysis.services.maps import map_create, map_job_run
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.items import items_tag
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_slice_tagged_on_the_map_colours_its_points_without_a_reload(live_server, page, login, manager, reviewer):
    # the slice colouring kept the tags the page was loaded with: the new slice was neither in the legend
    # nor on its points until the page was reloaded
    require_browser()
    project = make_project(manager, name="Tickets", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    scribe = make_user("scribe")
    member_add(project=project, username=scribe.username, role="labeler")
    entries = [ImportEntry(name=f"t{i}", text=f"ticket {i} about the printer") for i in range(12)]
    ids = items_import(project=project, entries=entries).imported
    for pk in ids:
        annotation_save(item=Item.objects.get(pk=pk), labeler=scribe, value="printer")
    items_tag(project=project, item_ids=ids[:2], tag="older")
    emap = map_create(project=project, embedder="text-tfidf", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    page.select_option("#colour-by", label="slice")
    page.wait_for_function("document.getElementById('legend').textContent.includes('older')")
    # select the first four items (two of them in the older slice), as a lasso would
    chosen = ids[:4]
    page.evaluate(
        "(ids) => { const m = window.labelhubMap; m.scatterplot.select(ids.map((id) => m.data.item.indexOf(id))); }",
        chosen,
    )
    page.wait_for_selector("#selection-card:not([hidden])")
    page.locator("#tag-form input[name=tag]").fill("new slice")
    page.locator("#tag-form button").click()
    page.wait_for_function("document.getElementById('selection-result').textContent.startsWith('Tagged')")
    page.wait_for_function("document.getElementById('legend').textContent.includes('new slice')", timeout=5_000)
    shown = page.evaluate(
        "() => { const d = window.labelhubMap.data; return Object.fromEntries(d.item.map((id, i) => "
        "[id, d.tag[i] >= 0 ? d.tags[d.tag[i]] : null])); }"
    )
    # as the page reloaded shows them: an item keeps the slice it had (one slice an item), the others
    # take the new one
    assert [shown[str(i)] for i in ids[:5]] == ["older", "older", "new slice", "new slice", None]
    # the selection stays for the next action (a campaign of the same items)
    assert page.locator("#selection-card").is_visible()
    assert sorted(int(i) for i in page.locator("#map-root").get_attribute("data-selected").split(",")) == chosen
    page.reload()
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    reloaded = page.evaluate(
        "() => { const d = window.labelhubMap.data; return Object.fromEntries(d.item.map((id, i) => "
        "[id, d.tag[i] >= 0 ? d.tags[d.tag[i]] : null])); }"
    )
    assert reloaded == shown
    assert not page.errors
