"""What project members type is shown as text, never run or parsed as markup (headless Chromium)."""

import pytest

from analysis.services.maps import map_create, map_job_run
from labeling.models import LabelClass
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_class_colour_stored_as_markup_stays_out_of_the_maps_legend(live_server, page, login, manager, reviewer):
    require_browser()
    project = make_project(manager, name="Words", modality="text")
    member_add(project=project, username=reviewer.username, role="reviewer")
    items_import(project=project, entries=[ImportEntry(name=f"t{i}", text=f"word {i} of {i % 5}") for i in range(20)])
    # A colour saved before colours were checked (the API took any 7 characters).
    LabelClass.objects.filter(project=project, key="cat").update(colour='"><b>')
    LabelClass.objects.filter(project=project, key="dog").update(colour="#112233")
    emap = map_create(project=project, embedder="text-tfidf", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    legend = page.locator("#legend")
    assert legend.locator("b").count() == 0, legend.inner_html()
    assert legend.locator("span").all_inner_texts() == ["cat", "dog", "other", "none"]
    swatches = legend.locator("i").evaluate_all("els => els.map((e) => getComputedStyle(e).backgroundColor)")
    assert swatches[1] == "rgb(17, 34, 51)"  # a real colour is still the swatch's
    assert swatches[0] not in ("", "rgba(0, 0, 0, 0)")  # the bad one is replaced by one of the series
    assert not page.errors
