"""Inventory planning: cost per labeled item, labeled items reachable in k days, and its settings."""

from decimal import Decimal

import pytest

from analysis.models import ProjectPlanning
from labeling.models import DataSource, Item, Project
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes


@pytest.fixture
def planned(project, labeler, labeler2):
    """Overlap 2; 20 items from an owned source (100 planned, free), 10 of them answered twice in 30 s;
    a crowdsourced source of 200 items for 2000 USD arriving in 10 days; one source in EUR."""
    Project.objects.filter(pk=project.pk).update(overlap=2)
    project.refresh_from_db()
    owned = DataSource.objects.create(
        project=project, name="owned", kind="owned", planned_amount=100, total_cost=0, status="available"
    )
    DataSource.objects.create(
        project=project,
        name="crowd",
        kind="crowdsourced",
        planned_amount=200,
        total_cost=2000,
        turnaround_days=10,
        status="acquiring",
    )
    DataSource.objects.create(
        project=project, name="euro", kind="purchased", planned_amount=10, total_cost=50, currency="EUR", status="idea"
    )
    ids = items_import(
        project=project,
        entries=[
            ImportEntry(name=f"p{i}.png", load=lambda i=i: png_bytes(seed=700 + i), source=owned) for i in range(20)
        ],
    ).imported
    for item in Item.objects.filter(pk__in=ids[:10]):
        annotation_save(item=item, labeler=labeler, value="cat", seconds=30)
        annotation_save(item=item, labeler=labeler2, value="cat", seconds=30)
    return project


def test_cost_per_labeled_item_and_reachable_labels(api, manager, reviewer, planned):
    response = api(manager).patch(f"/api/projects/{planned.pk}/planning/", {"hourly_rate": 18}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["hourly_rate"] == 18.0
    report = api(reviewer).get(f"/api/projects/{planned.pk}/planning/?days=30").json()
    assert report["labor"]["median_seconds"] == 30.0 and report["labor"]["overlap"] == 2
    assert report["labor"]["cost_per_item"] == pytest.approx(30 * 2 / 3600 * 18)
    # Data cost: owned 0 per item (100 items, 20 imported), crowd 10 per item (200 still to come), EUR
    # left out: 2000 USD over the 300 items the two bring.
    assert report["data_cost_per_item"] == pytest.approx(2000 / 300, abs=1e-3)
    assert report["cost_per_labeled_item"] == pytest.approx(0.3 + 2000 / 300, abs=1e-3)
    assert any("EUR" in note or "euro" in note for note in report["notes"])
    assert report["throughput"]["n_answers"] == 20
    assert report["throughput"]["labeled_per_day"] == pytest.approx(10.0)
    assert report["progress"] == {"items": 20, "labeled": 10, "backlog": 10}
    curve = {p["day"]: p["labeled"] for p in report["curve"]}
    # 10 labeled now + 10 a day on the 90 present (10 imported, 80 still owned); 200 more on day 10.
    assert curve[0] == 10 and curve[5] == 60 and curve[12] == 120 and curve[30] == 300
    assert report["horizon"]["labeled"] == 300 and report["horizon"]["new_labeled"] == 290
    assert report["horizon"]["cost"] == pytest.approx(290 * (0.3 + 2000 / 300), rel=1e-3)
    assert len(report["curve"]) == 31


def test_settings_validation_and_roles(api, manager, reviewer, labeler, outsider, planned):
    url = f"/api/projects/{planned.pk}/planning/"
    bad = api(manager).patch(
        url, {"hourly_rate": -1, "ks_pvalue_threshold": 2, "drift_rule": "maybe", "colour": "red"}, format="json"
    )
    assert bad.status_code == 400
    body = bad.json()
    assert {"hourly_rate", "ks_pvalue_threshold", "drift_rule", "colour"} <= set(body)
    assert not ProjectPlanning.objects.filter(project=planned).exists()
    good = api(manager).patch(url, {"psi_threshold": 0.25, "currency": "eur", "drift_window_days": 3}, format="json")
    assert good.status_code == 200 and good.json()["currency"] == "EUR"
    assert ProjectPlanning.objects.get(project=planned).hourly_rate == Decimal("0")
    assert api(reviewer).patch(url, {"hourly_rate": 1}, format="json").status_code == 403
    assert api(labeler).get(url).status_code == 403
    assert api(outsider).get(url).status_code == 404
    assert api(reviewer).get(url + "?days=-4").status_code == 400
    assert api(reviewer).get(url + "?days=soon").status_code == 400


def test_no_answers_yet_is_said_not_guessed(api, reviewer, project):
    report = api(reviewer).get(f"/api/projects/{project.pk}/planning/").json()
    assert report["labor"]["median_seconds"] is None and report["cost_per_labeled_item"] is None
    assert report["throughput"]["labeled_per_day"] == 0
    assert report["horizon"]["labeled"] == 0
    assert report["notes"]


def test_planning_page_and_settings_form(client, manager, reviewer, planned):
    client.force_login(reviewer)
    html = client.get(f"/projects/{planned.pk}/planning/?days=12").content.decode()
    assert 'data-metric="horizon_labeled">120<' in html and "<svg" in html
    assert client.post(f"/projects/{planned.pk}/planning/", {"hourly_rate": "5"}).status_code == 403
    client.force_login(manager)
    response = client.post(f"/projects/{planned.pk}/planning/", {"hourly_rate": "12.5", "currency": "USD"})
    assert response.status_code == 302
    assert ProjectPlanning.objects.get(project=planned).hourly_rate == Decimal("12.50")
    invalid = client.post(f"/projects/{planned.pk}/planning/", {"ks_pvalue_threshold": "5"})
    assert invalid.status_code == 200 and "ks_pvalue_threshold" in invalid.content.decode()


def test_throughput_reads_as_whole_numbers_with_separators(client, reviewer, planned):
    """10 labeled items a day from 20 answers, not "10.0 ... (20.0 answers"."""
    client.force_login(reviewer)
    html = client.get(f"/projects/{planned.pk}/planning/?days=99").content.decode()
    assert 'data-metric="labeled_per_day">10<' in html and "(20 answers ÷ overlap 2)" in html
    assert '<td class="num">200</td>' in html  # the crowd source still to come, no decimals
    dashboard = client.get(f"/projects/{planned.pk}/dashboard/").content.decode()
    assert 'data-metric="labeled_per_day">10<' in dashboard
