"""The project dashboard: sections, roles, its API, and a number of queries that does not grow."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from tests.analysis.error_analysis_helpers import build_error_analysis_project, three_labelers
from tests.conftest import png_bytes

# Several imports in one test: on PostgreSQL, labeling.services.imports stages rows in a temporary table
# dropped on commit, which a second import inside the same test transaction would find still there.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built(project, labeler, labeler2):
    users = three_labelers(project, labeler, labeler2)
    run, truth, predictions = build_error_analysis_project(project, users)
    return run, users


def test_dashboard_api_has_every_section(api, reviewer, project, built):
    run, _ = built
    response = api(reviewer).get(f"/api/projects/{project.pk}/dashboard/")
    assert response.status_code == 200, response.content
    data = response.json()
    counts = {"items": 16, "answered": 16, "complete": 16, "overlap": 3, "n_answers": 48}
    assert data["progress"] == {**counts, "n_archived": 0, "answered_archived": 0}
    assert data["agreement"]["status"] == "ready" and data["agreement"]["hlp"]["value"] == pytest.approx(35 / 48)
    assert data["model_run"]["id"] == run.pk
    assert data["model_run"]["model_accuracy"]["value"] == pytest.approx(10 / 15)
    assert data["model_run"]["gap_to_hlp"]["value"] == pytest.approx(35 / 48 - 10 / 15)
    assert [r["slice"] for r in data["top_slices"]] == ["clean", "noisy", "beats"]
    assert data["version"] is None and data["drift"]["open"] == []
    assert data["output_signal"]["weeks"][0]["n_answers"] == 48
    assert data["planning"]["horizon"]["days"] == 30


def test_dashboard_page_renders_plots(client, reviewer, project, built):
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 4
    assert 'data-slice="clean"' in html and 'id="model-run"' in html
    assert f'href="/projects/{project.pk}/dashboard/"' in html  # the nav link


def test_an_empty_project_has_a_dashboard_too(client, api, reviewer, project):
    client.force_login(reviewer)
    assert client.get(f"/projects/{project.pk}/dashboard/").status_code == 200
    data = api(reviewer).get(f"/api/projects/{project.pk}/dashboard/").json()
    assert data["model_run"] is None and data["progress"]["items"] == 0


def test_dashboard_roles(client, api, labeler, outsider, project):
    assert api(labeler).get(f"/api/projects/{project.pk}/dashboard/").status_code == 403
    assert api(outsider).get(f"/api/projects/{project.pk}/dashboard/").status_code == 404
    client.force_login(labeler)
    assert client.get(f"/projects/{project.pk}/dashboard/").status_code == 403
    html = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert f"/projects/{project.pk}/dashboard/" not in html  # no Dashboard link for labelers
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/dashboard/").status_code == 404


def _dashboard_queries(client, project):
    client.get(f"/projects/{project.pk}/dashboard/")  # warm: cache the agreement report, settle alerts
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/projects/{project.pk}/dashboard/").status_code == 200
    return len(queries)


def test_dashboard_queries_do_not_grow_with_items_tags_or_answers(client, reviewer, project, built):
    _, users = built
    client.force_login(reviewer)
    before = _dashboard_queries(client, project)
    # Twice the items, five new tags, more answers and another model run.
    entries = [
        ImportEntry(name=f"more{i}.png", load=lambda i=i: png_bytes(seed=9000 + i), tags=[f"extra-{i % 5}"])
        for i in range(20)
    ]
    ids = items_import(project=project, entries=entries).imported
    for item in Item.objects.filter(pk__in=ids):
        for user in users:
            annotation_save(item=item, labeler=user, value="dog", seconds=4)
    from analysis.services.training import model_run_create

    model_run_create(project=project, name="v2", predictions=[{"item": pk, "label": "dog"} for pk in ids])
    after = _dashboard_queries(client, project)
    assert after == before, f"{before} queries before, {after} after"
    assert after <= 60


def test_without_a_model_run_the_dashboard_draws_no_empty_model_chart(client, reviewer, project, labeler, labeler2):
    """It drew the model-against-HLP chart's axes with no model bar (and, for boxes, no bar at all)."""
    for item_id in items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(2)]
    ).imported:
        for user in (labeler, labeler2):
            annotation_save(item=Item.objects.get(pk=item_id), labeler=user, value="cat")
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    section = html.split('id="model-run"')[1].split("</section>")[0]
    assert "No model run yet" in section and "<svg" not in section
    assert f'href="/projects/{project.pk}/training/"' in section  # not a dead end: where runs come from


def test_what_to_work_on_next_says_which_slices_the_model_beats_and_what_the_gap_means(
    client, reviewer, project, built
):
    # The dashboard shaded the row of a slice where the model beats HLP with no word why, and a
    # negative gap read as nothing in particular: the error-analysis page said "beats HLP" there.
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    section = html[html.index('id="top-slices"') :]
    section = section[: section.index("</section>")]
    beats = section[section.index('data-slice="beats"') :]
    beats = beats[: beats.index("</tr>")]
    assert "beats HLP" in beats and f"/projects/{project.pk}/review/?items=" in beats
    clean = section[section.index('data-slice="clean"') :]
    assert "beats HLP" not in clean[: clean.index("</tr>")]
    assert "HLP minus" in section  # what the sign of the gap says


def test_the_hlp_beside_the_model_says_which_answers_it_counts(client, reviewer, project, built):
    # The dashboard showed "HLP: one human vs another" (flagged answers as their own categories, the
    # agreement page's default) beside "HLP on these items" (borderline and uncertain answers left out,
    # as the labels the model is scored on leave them out) with nothing telling the two countings apart.
    client.force_login(reviewer)
    for page in ("dashboard", "error-analysis"):
        html = client.get(f"/projects/{project.pk}/{page}/").content.decode()
        assert "borderline and uncertain answers left out" in html, page


def test_the_dashboards_cost_per_labeled_item_says_what_it_leaves_out(client, api, reviewer, project, built):
    # With no hourly rate set the cost per labeled item counts no labeling time: the planning page said
    # so under the same figure, the dashboard showed the figure alone (0 USD here) as if labels were free.
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    card = html[html.index('id="versions-planning"') :]
    card = card[: card.index("</section>")]
    assert "the hourly rate is 0" in card
    data = api(reviewer).get(f"/api/projects/{project.pk}/dashboard/").json()
    assert any("hourly rate is 0" in note for note in data["planning"]["notes"])


def test_a_confidence_interval_with_a_negative_bound_reads_from_to():
    """The interval "-0.152–-0.020" ran a dash into a minus; a negative bound is joined by "to"."""
    from django.template.loader import render_to_string

    def ci(low, high):
        html = render_to_string(
            "analysis/_metric.html", {"metric": {"value": 0.1, "ci_low": low, "ci_high": high}, "key": "k"}
        )
        return " ".join(html.split("95 % CI", 1)[1].split("</span></span>")[0].replace("</span>", "").split())

    assert "-0.152 to" in ci(-0.152, -0.02) and "-0.020" in ci(-0.152, -0.02)
    assert "0.780–" in ci(0.78, 0.83)
