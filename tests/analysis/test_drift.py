"""Input drift: a darker batch of images raises the brightness alert once; an unchanged batch raises none."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

from analysis.models import DriftAlert
from analysis.services.drift import drift_monitor_run
from labeling.models import Item, Webhook, WebhookDelivery
from labeling.services.imports import ImportEntry, items_import
from labeling.services.jobs import WEBHOOK_TASK
from tests.conftest import png_bytes

# Several imports in one test: on PostgreSQL, labeling.services.imports stages rows in a temporary table
# dropped on commit, which a second import inside the same test transaction would find still there.
pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 40


def noise_png(seed, high=256):
    """A 32×32 grey noise image with pixel values in [0, high): ``high=128`` is a darker camera."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, high, size=(32, 32), dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def import_batch(project, seed, *, high=256, days_ago=0, tag="batch"):
    entries = [
        ImportEntry(name=f"{tag}-{seed + i}.png", load=lambda s=seed + i: noise_png(s, high)) for i in range(BATCH)
    ]
    ids = items_import(project=project, entries=entries).imported
    assert len(ids) == BATCH
    if days_ago:
        Item.objects.filter(pk__in=ids).update(created=timezone.now() - timedelta(days=days_ago))
    return ids


@pytest.fixture
def queued(monkeypatch):
    """Deliveries handed to the worker (the Celery task is not sent anywhere in these tests)."""
    sent = []
    monkeypatch.setattr(
        "labeling.services.jobs.task_send", lambda name, pk: sent.append(pk) if name == WEBHOOK_TASK else None
    )
    return sent


@pytest.fixture
def hook(project, manager, queued):
    return Webhook.objects.create(
        project=project, url="https://example.test/hook", secret="s" * 64, events=["drift.alert"], created_by=manager
    )


def test_a_darker_batch_raises_the_brightness_alert_once(api, reviewer, project, hook, queued):
    import_batch(project, 0, days_ago=14)
    import_batch(project, 10_000, high=128)
    response = api(reviewer).get(f"/api/projects/{project.pk}/drift/")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["monitored"] and report["baseline"]["n_items"] == BATCH and report["current"]["n_items"] == BATCH
    rows = {row["statistic"]: row for row in report["statistics"]}
    brightness = rows["brightness"]
    assert brightness["drift"]
    assert brightness["psi"] >= 0.2 and brightness["ks_pvalue"] < 0.01
    assert brightness["current"]["mean"] < brightness["baseline"]["mean"] - 50
    assert brightness["histogram"]["edges"] and len(brightness["histogram"]["current"]) == 20
    assert not rows["width"]["drift"] and rows["width"]["psi"] == pytest.approx(0.0)
    assert rows["width"]["baseline"]["missing_share"] == 0.0
    assert "brightness" in {a["statistic"] for a in report["alerts"]}
    # One webhook delivery per new alert, whatever the number of page views.
    deliveries = WebhookDelivery.objects.filter(webhook=hook, event="drift.alert")
    statistics = {d.payload["statistic"] for d in deliveries}
    assert "brightness" in statistics and deliveries.count() == len(statistics)
    assert sorted(queued) == sorted(d.pk for d in deliveries)  # queued once the alert's transaction committed
    api(reviewer).get(f"/api/projects/{project.pk}/drift/")
    drift_monitor_run(project=project)
    assert WebhookDelivery.objects.filter(webhook=hook, event="drift.alert").count() == len(statistics)
    assert len(queued) == len(statistics)
    alert = DriftAlert.objects.get(project=project, statistic="brightness", resolved=None)
    assert alert.notified is not None and alert.psi == pytest.approx(brightness["psi"])
    # The dashboard shows the banner.
    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'id="drift-banner"' in html and 'data-alert="brightness"' in html


def test_an_unchanged_batch_raises_none(api, reviewer, project, hook):
    import_batch(project, 0, days_ago=14)
    import_batch(project, 20_000)
    report = api(reviewer).get(f"/api/projects/{project.pk}/drift/").json()
    assert not report["drift"], [(r["statistic"], r["reasons"]) for r in report["statistics"] if r["drift"]]
    assert report["alerts"] == []
    assert not DriftAlert.objects.filter(project=project).exists()
    assert not WebhookDelivery.objects.filter(webhook=hook).exists()


def test_an_alert_closes_when_the_drift_is_gone_and_a_new_one_is_sent_again(project, hook):
    old = import_batch(project, 0, days_ago=14)
    dark = import_batch(project, 10_000, high=128)
    first = drift_monitor_run(project=project)
    assert first["opened"]
    # The dark batch was a mistake: it is removed, and a normal batch arrives.
    Item.objects.filter(pk__in=dark).delete()
    import_batch(project, 30_000)
    drift_monitor_run(project=project)
    assert not DriftAlert.objects.filter(project=project, resolved=None).exists()
    assert DriftAlert.objects.filter(project=project, statistic="brightness").exclude(resolved=None).count() == 1
    import_batch(project, 40_000, high=100)
    Item.objects.exclude(pk__in=old).filter(project=project, stats__brightness__gt=100).delete()
    drift_monitor_run(project=project)
    assert DriftAlert.objects.filter(project=project, statistic="brightness").count() == 2
    sent = WebhookDelivery.objects.filter(webhook=hook, payload__statistic="brightness").count()
    assert sent == 2


def test_explicit_windows_and_bad_parameters(api, reviewer, project):
    import_batch(project, 0, days_ago=40)
    import_batch(project, 10_000, high=128, days_ago=3)
    today = timezone.localdate()
    params = {
        "baseline_from": (today - timedelta(days=45)).isoformat(),
        "baseline_to": (today - timedelta(days=30)).isoformat(),
        "current_from": (today - timedelta(days=5)).isoformat(),
        "current_to": today.isoformat(),
    }
    report = api(reviewer).get(f"/api/projects/{project.pk}/drift/", params).json()
    assert not report["monitored"]
    assert report["baseline"]["n_items"] == BATCH and report["current"]["n_items"] == BATCH
    assert next(r for r in report["statistics"] if r["statistic"] == "brightness")["drift"]
    assert not DriftAlert.objects.exists()  # ad-hoc comparisons never alert
    bad = api(reviewer).get(f"/api/projects/{project.pk}/drift/", {**params, "current_to": "yesterday"})
    assert bad.status_code == 400 and "current_to" in bad.json()
    partial = api(reviewer).get(f"/api/projects/{project.pk}/drift/", {"baseline_from": params["baseline_from"]})
    assert partial.status_code == 400
    both = api(reviewer).get(f"/api/projects/{project.pk}/drift/", {**params, "baseline_version": 1})
    assert both.status_code == 400
    missing = api(reviewer).get(f"/api/projects/{project.pk}/drift/", {"baseline_version": 1, "current_version": 2})
    assert missing.status_code == 404


def test_a_windows_end_date_includes_that_whole_day(api, reviewer, project):
    """fromisoformat reads a bare date as its midnight: a window ending today left out today's imports,
    and a one-day window (from = to) was refused as ending before it starts."""
    import_batch(project, 0, days_ago=3)
    import_batch(project, 10_000, high=128, days_ago=0)
    today, earlier = timezone.localdate().isoformat(), (timezone.localdate() - timedelta(days=3)).isoformat()
    params = {"baseline_from": earlier, "baseline_to": earlier, "current_from": today, "current_to": today}
    response = api(reviewer).get(f"/api/projects/{project.pk}/drift/", params)
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["baseline"]["n_items"] == BATCH and report["current"]["n_items"] == BATCH


def test_versions_can_be_compared(api, manager, reviewer, project, labeler):
    from labeling.services.annotations import annotation_save
    from tests.labeling.version_helpers import build

    first = import_batch(project, 0)
    for pk in first:
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler, value="cat")
    v1 = build(project, manager)
    second = import_batch(project, 10_000, high=128)
    for pk in second:
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler, value="dog")
    Item.objects.filter(pk__in=first).delete()
    v2 = build(project, manager)
    report = (
        api(reviewer)
        .get(f"/api/projects/{project.pk}/drift/", {"baseline_version": v1.number, "current_version": v2.number})
        .json()
    )
    assert report["baseline"]["version"] == v1.number and report["current"]["n_items"] == BATCH
    # The baseline's items were deleted since: their statistics are missing, not invented.
    assert report["baseline"]["n_items"] == 0
    # Monitoring compares the two latest versions too.
    monitor = drift_monitor_run(project=project)
    assert set(monitor["comparisons"]) == {"window", "versions"}


def test_output_signal_counts_uncertain_and_out_of_domain_answers(api, reviewer, project, labeler, labeler2):
    from labeling.services.annotations import annotation_save

    ids = items_import(
        project=project,
        entries=[ImportEntry(name=f"s{i}.png", load=lambda i=i: png_bytes(seed=500 + i)) for i in range(4)],
    ).imported
    items = list(Item.objects.filter(pk__in=ids))
    annotation_save(item=items[0], labeler=labeler, value="cat")
    annotation_save(item=items[1], labeler=labeler, value="", uncertain=True)
    annotation_save(item=items[2], labeler=labeler, value="", out_of_domain=True)
    annotation_save(item=items[3], labeler=labeler2, value="dog")
    weeks = api(reviewer).get(f"/api/projects/{project.pk}/drift/").json()["output_signal"]["weeks"]
    assert len(weeks) == 1
    assert weeks[0]["n_answers"] == 4
    assert weeks[0]["uncertain_share"] == 0.25 and weeks[0]["out_of_domain_share"] == 0.25


def test_drift_roles(api, labeler, outsider, project):
    assert api(labeler).get(f"/api/projects/{project.pk}/drift/").status_code == 403
    assert api(outsider).get(f"/api/projects/{project.pk}/drift/").status_code == 404


def test_drift_page_renders_histograms(client, reviewer, project):
    import_batch(project, 0, days_ago=14)
    import_batch(project, 10_000, high=128)
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/drift/").content.decode()
    assert 'data-statistic="brightness"' in html and "hist current" in html and 'id="drift-banner"' in html


def test_drift_page_says_when_the_baseline_has_no_items_and_names_statistics_in_words(client, reviewer, project):
    """Everything imported this week: the monitored comparison's baseline is empty, and the page says so
    instead of showing one-sided tables of "—"; statistics and shares read as words and percentages."""
    import_batch(project, 0)
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/drift/").content.decode()
    assert 'id="drift-one-side-empty"' in html and "The baseline (imported" in html and "has no items" in html
    assert "<h2>brightness (0–255) " in html and "<h2>width (px) " in html
    assert "missing values up by more than 5 % of the items" in html
    assert '<td>missing</td><td class="num">—</td><td class="num">0 %</td>' in html
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'id="drift-no-baseline"' in dashboard and "<td>width (px)</td>" in dashboard


def test_drift_page_has_no_empty_side_notice_when_both_sides_hold_items(client, reviewer, project):
    import_batch(project, 0, days_ago=14)
    import_batch(project, 10_000)
    client.force_login(reviewer)
    assert 'id="drift-one-side-empty"' not in client.get(f"/projects/{project.pk}/drift/").content.decode()
    assert 'id="drift-no-baseline"' not in client.get(f"/projects/{project.pk}/dashboard/").content.decode()


@pytest.mark.parametrize(
    ("share", "text"), [(0.0, "0 %"), (0.0056, "0.6 %"), (0.25, "25 %"), (1, "100 %"), (None, "—")]
)
def test_percent_filter(share, text):
    from analysis.templatetags.figures import percent

    assert percent(share) == text


def test_the_dashboard_charts_uncertain_answers_in_percent_on_a_round_axis(client, reviewer, project, labeler):
    """One uncertain answer in 180 drew an axis topped "0.00556" (a share); it reads in % up to 1 %."""
    from labeling.services.annotations import annotation_save

    ids = items_import(
        project=project,
        entries=[ImportEntry(name=f"s{i}.png", load=lambda i=i: png_bytes(seed=500 + i)) for i in range(8)],
    ).imported
    for n, item in enumerate(Item.objects.filter(pk__in=ids).order_by("pk")):
        annotation_save(item=item, labeler=labeler, value="" if n < 2 else "cat", uncertain=n < 2)
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    chart = html.split('id="output-signal"')[1].split("</section>")[0]
    assert "% of answers:" in chart and "share of answers" not in chart
    assert ">50 %<" in chart and ">0.25<" not in chart  # 2 of 8 uncertain: 25 %, on an axis up to 50 %
    assert ">25 %<" in chart  # the values table, in %
