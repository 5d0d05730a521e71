"""Server-rendered pages: what each role sees, and that lists do not grow queries with their size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.services.imports import ImportEntry, items_import
from labeling.services.sources import source_create
from tests.conftest import make_project, png_bytes


def add_items(project, n, start=0, **kwargs):
    entries = [
        ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i), tags=["slice-a"], **kwargs)
        for i in range(start, start + n)
    ]
    return items_import(project=project, entries=entries).imported


def test_inventory_page_shows_sources_totals_and_within_k_days(client, manager, project):
    source_create(
        project=project,
        name="Owned scans",
        kind="owned",
        planned_amount=100,
        unit="items",
        total_cost=0,
        turnaround_days=0,
        status="available",
    )
    source_create(
        project=project,
        name="Vendor",
        kind="purchased",
        planned_amount=12000,
        unit="items",
        total_cost=60000,
        turnaround_days=20,
        contains_personal_data=True,
    )
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/inventory/?days=10").content.decode()
    assert "Owned scans" in page and "Vendor" in page
    assert "5.00 USD/item" in page  # 60,000 / 12,000
    assert "12,000 items" in page  # grouped as the costs are, not "12000 items"
    assert "<b>100 items</b>" in page  # only the owned source is reachable within 10 days
    page = client.get(f"/projects/{project.pk}/inventory/?days=30").content.decode()
    assert "<b>12,100 items</b>" in page


def test_manager_adds_and_edits_a_source_from_the_page(client, manager, project):
    client.force_login(manager)
    response = client.post(
        f"/projects/{project.pk}/inventory/",
        {
            "name": "Synthetic",
            "kind": "synthetic",
            "status": "idea",
            "planned_amount": "50",
            "unit": "items",
            "total_cost": "10",
            "currency": "EUR",
        },
    )
    assert response.status_code == 302
    source = project.sources.get(name="Synthetic")
    response = client.post(
        f"/projects/{project.pk}/inventory/{source.pk}/edit/",
        {
            "name": "Synthetic v2",
            "kind": "synthetic",
            "status": "available",
            "planned_amount": "50",
            "unit": "items",
            "total_cost": "10",
            "currency": "EUR",
        },
    )
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.status) == ("Synthetic v2", "available")


def test_item_browser_filters_and_keeps_its_query_count(client, reviewer, project):
    source = source_create(project=project, name="S1", kind="owned")
    add_items(project, 3, source=source)
    client.force_login(reviewer)
    with CaptureQueriesContext(connection) as small:
        page = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert page.count('class="item-card"') == 3
    add_items(project, 20, start=100)
    with CaptureQueriesContext(connection) as large:
        page = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert page.count('class="item-card"') == 23
    assert len(large.captured_queries) == len(small.captured_queries)
    filtered = client.get(f"/projects/{project.pk}/items/?source={source.pk}").content.decode()
    assert filtered.count('class="item-card"') == 3


def test_only_managers_get_the_item_browsers_selection_and_delete(client, manager, reviewer, project):
    source = source_create(project=project, name="Vendor B", kind="purchased")
    ids = add_items(project, 2, source=source)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/items/?tag=slice-a").content.decode()
    assert "Delete…" not in page and "select-item" not in page and "item_delete.js" not in page
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/items/?tag=slice-a&source={source.pk}").content.decode()
    assert "Delete…" in page and "item_delete.js" in page
    assert "Select all 2 matching the filter" in page
    for pk in ids:
        assert f'class="select-item" value="{pk}"' in page
    # "all matching" sends the page's filters as the deletion API reads them
    sent = '{"tag": "slice-a", "source": "%s"}' % source.pk  # noqa: UP031 - braces of the JSON
    assert f'data-filter="{sent.replace(chr(34), "&quot;")}"' in page


@pytest.mark.parametrize("path", ["", "inventory/", "items/", "import/"])
def test_manager_pages_render(client, manager, project, path):
    add_items(project, 2)
    client.force_login(manager)
    assert client.get(f"/projects/{project.pk}/{path}").status_code == 200


def test_home_lists_my_projects_only(client, labeler, project, other_project):
    client.force_login(labeler)
    page = client.get("/").content.decode()
    assert project.name in page and other_project.name not in page


def test_api_docs_are_served_without_a_cdn(client, manager):
    client.force_login(manager)
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page.lower()
    assert client.get("/api/schema/").status_code == 200


def test_item_browser_pages_keep_a_filter_whose_value_needs_quoting(client, manager, reviewer):
    """The pager's links carry the filters: a tag such as "cats & dogs" was written into them as it is, so
    the next page read the tag "cats " (and a "+" a space) and listed other items, or none."""
    import html
    import re

    from labeling.services.projects import member_add
    from tests.labeling.version_helpers import add_texts, text_project

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    add_texts(project, [f"pet {i}" for i in range(50)], tags=["cats & dogs+"])
    add_texts(project, [f"car {i}" for i in range(5)])
    client.force_login(reviewer)
    first = client.get(f"/projects/{project.pk}/items/", {"tag": "cats & dogs+"}).content.decode()
    assert first.count('class="item-card"') == 48
    link = html.unescape(re.search(r'<a href="(\?[^"]*)">Next', first).group(1))
    second = client.get(f"/projects/{project.pk}/items/{link}").content.decode()
    assert second.count('class="item-card"') == 2 and "car " not in second


def test_a_source_named_by_digits_filters_by_its_name_as_an_upload_finds_it(api, manager, reviewer):
    """A source may be named "2024": an upload's source=2024 finds it by name (no source has that id), but
    the item list and a campaign's filter read the digits as an id alone and listed nothing."""
    from labeling.services.projects import member_add
    from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    other = source_create(project=project, name="crowd", kind="crowdsourced")
    batch = source_create(project=project, name="2024", kind="owned")
    mine = add_texts(project, ["a", "b"], source=batch)
    crowd = add_texts(project, ["c"], source=other)
    client = api(reviewer)
    for value, expected in (("2024", mine), (str(batch.pk), mine), ("crowd", crowd), (str(other.pk), crowd)):
        listed = client.get(f"/api/projects/{project.pk}/items/", {"source": value}).json()["results"]
        assert [item["id"] for item in listed] == [i.pk for i in expected], value
    (alice,) = labelers(project, 1)
    for item in mine:
        answer(item, alice, "cat")
    body = {"name": "batch 2024", "filter": {"source": "2024"}}
    response = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 201 and sorted(response.json()["items"]) == [i.pk for i in mine]


@pytest.mark.parametrize("days", ["abc", "-5", "1.5"])
def test_an_inventory_horizon_that_is_no_whole_number_of_days_is_named(client, manager, project, days):
    """k = abc (or -5) showed the 30-day answer as if it had been asked for; the planning page says so."""
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/inventory/", {"days": days}).content.decode()
    assert "is not a whole number of days from 0" in page and "showing 30" in page
    assert "showing 30" not in client.get(f"/projects/{project.pk}/inventory/", {"days": "7"}).content.decode()


def test_item_browser_links_each_item_to_its_answers_and_names_its_imported_label(client, reviewer, project):
    """A reviewer browsing items could not open one: each card's number leads to the item's answers and
    decision; the imported label reads as the class's name, as the "Imported label" filter names it."""
    (item_id,) = add_items(project, 1, label="cat")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert f'<a href="/projects/{project.pk}/review/{item_id}/"' in page
    assert '<span class="chip" title="imported label">class cat</span>' in page
    assert client.get(f"/projects/{project.pk}/review/{item_id}/").status_code == 200


def test_counts_in_the_thousands_read_with_separators_on_home_overview_and_dashboard(client, manager, project):
    """The description said "1,797 real handwritten digit scans" above a figure "1797": counts from a
    thousand on read as the inventory's do."""
    from tests.labeling.queue_helpers import make_items

    make_items(project, 1200)
    client.force_login(manager)
    home = client.get("/").content.decode()
    assert 'data-testid="project-complete">0 / 1,200<' in home
    overview = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="n-items">1,200<' in overview and "1,200 items ready" in overview
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-metric="items">1,200<' in dashboard


def test_inventory_totals_and_planning_name_kinds_and_statuses_as_the_sources_table_does(client, manager, project):
    # "Totals by kind" read "production_logs" where the table above says "Production logs", and the
    # planning page's sources read "acquiring" where the inventory says "Acquiring".
    source_create(
        project=project, name="Logs", kind="production_logs", status="acquiring", planned_amount=10, total_cost=5
    )
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/inventory/").content.decode()
    totals = page[page.index('id="totals"') :]
    totals = totals[: totals.index("</table>")]
    assert "<td>Production logs</td>" in totals and "production_logs" not in totals
    planning = client.get(f"/projects/{project.pk}/planning/").content.decode()
    assert ">Acquiring</span>" in planning


def test_the_inventory_counts_a_sources_items_as_the_overview_does(client, manager):
    # "1200" in the inventory's sources table where the overview and planning read "1,200"
    from labeling.models import Item

    project = make_project(manager, name="Many texts", modality="text")
    source = source_create(project=project, name="Logs", kind="production_logs", planned_amount=2000, total_cost=5)
    Item.objects.bulk_create(
        [Item(project=project, text=f"t{i}", sha256=f"{i:064x}", source=source) for i in range(1200)]
    )
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/inventory/").content.decode()
    row = page[page.index(">Logs<") :]
    assert '<td class="num">1,200</td>' in row[: row.index("</tr>")]
