"""Input drift: compare the input statistics of two sets of items, raise alerts, notify webhooks once.

A comparison has two sides, each a set of a project's items: the items imported in a time window
(``Item.created``), or the items of a dataset version (its Parquet manifest). Every numeric input
statistic of the modality (``STATISTICS``) is compared with ``analysis.metrics.drift.compare_samples``
under the project's thresholds (``ProjectPlanning``).

Monitoring (``drift_monitor_run``) runs the monitored comparisons — the last ``drift_window_days`` of
imports against the ``drift_baseline_days`` before them, and the latest dataset version against the one
before — and keeps ``DriftAlert`` rows: one open alert per comparison kind and statistic while the drift
lasts. A new alert is handed to the project's webhooks as a ``drift.alert`` event in the transaction
that opens it, so however often pages call the monitor, each alert is sent once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.fields.json import KT
from django.db.models.functions import TruncWeek
from django.http import Http404
from django.utils import timezone

from analysis.metrics.drift import compare_samples
from analysis.models import DriftAlert
from analysis.services.planning import planning_settings_get
from labeling.models import Annotation, ArchivedAnnotation, DatasetVersion, Item
from labeling.services import exports
from labeling.services.versions import artifact_for
from labeling.services.webhooks import webhooks_notify

logger = logging.getLogger(__name__)

DRIFT_EVENT = "drift.alert"
STATISTICS = {
    "image": ["width", "height", "brightness", "contrast"],
    "audio": ["duration", "sample_rate", "channels", "rms_dbfs", "peak_dbfs", "clipped_share", "silence_share"],
    "text": ["length", "words", "lines"],
}


@dataclass
class DriftSide:
    """One side of a comparison: how it is described, and the item ids (or a queryset) it holds."""

    kind: str  # "window" | "version"
    label: str
    description: dict = field(default_factory=dict)
    items: object = None  # a queryset of Item, or an array of ids

    def as_dict(self):
        return {"kind": self.kind, "label": self.label, **self.description}


def drift_side_window(*, project, start: datetime, end: datetime) -> DriftSide:
    """The items imported in ``[start, end)``."""
    if start >= end:
        raise ValueError("a time window's start must be before its end")
    items = Item.objects.filter(project=project, created__gte=start, created__lt=end)
    label = f"imported {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
    return DriftSide("window", label, {"from": start.isoformat(), "to": end.isoformat()}, items)


def drift_side_version(*, project, number) -> DriftSide:
    """The items of dataset version ``number`` (from its Parquet manifest), or 404."""
    version = DatasetVersion.objects.filter(project=project, number=number).defer("info").first()  # purged ids
    if version is None:
        raise Http404(f"This project has no dataset version {number}.")
    artifact = artifact_for(version=version, fmt="parquet")
    ids = np.zeros(0, dtype=np.int64)
    if artifact is not None:
        ids = np.asarray(exports.read_columns(artifact.name, ["item"]).column("item").to_numpy(), dtype=np.int64)
    return DriftSide("version", f"version {number}", {"version": number, "created": version.created.isoformat()}, ids)


def _as_float(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) else np.nan


def _statistic_arrays(*, project, side: DriftSide, names) -> dict[str, np.ndarray]:
    """Per statistic, one float per item of the side (NaN where the item lacks it or it is not a number)."""
    if isinstance(side.items, np.ndarray):
        items = Item.objects.filter(project=project, pk__in=side.items.tolist())
    else:
        items = side.items
    rows = list(items.order_by().values_list(*[KT(f"stats__{name}") for name in names]))
    out = {}
    for j, name in enumerate(names):
        out[name] = np.fromiter((_as_float(row[j]) for row in rows), dtype=np.float64, count=len(rows))
    return out


def thresholds_of(settings) -> dict:
    return {
        "psi": settings.psi_threshold,
        "ks_pvalue": settings.ks_pvalue_threshold,
        "missing_share": settings.missing_share_threshold,
        "rule": settings.drift_rule,
        "min_items": settings.drift_min_items,
    }


def drift_compare(*, project, baseline: DriftSide, current: DriftSide, settings=None) -> dict:
    """Compare every input statistic of the modality between two sides.

    Answers ``{"baseline", "current"`` (the sides, with ``n_items``), ``"thresholds", "statistics": [{
    "statistic", "baseline", "current", "psi", "ks_statistic", "ks_pvalue", "histogram", "drift",
    "reasons", "enough_values"}], "drift"`` (any statistic drifted)}``.
    """
    settings = settings or planning_settings_get(project=project)
    names = STATISTICS.get(project.modality, [])
    base = _statistic_arrays(project=project, side=baseline, names=names)
    cur = _statistic_arrays(project=project, side=current, names=names)
    rows = []
    for name in names:
        result = compare_samples(
            base[name],
            cur[name],
            psi_threshold=settings.psi_threshold,
            ks_pvalue_threshold=settings.ks_pvalue_threshold,
            missing_share_threshold=settings.missing_share_threshold,
            min_values=settings.drift_min_items,
            rule=settings.drift_rule,
        )
        rows.append({"statistic": name, **result})
    n_base = len(next(iter(base.values()))) if base else 0
    n_cur = len(next(iter(cur.values()))) if cur else 0
    return {
        "baseline": {**baseline.as_dict(), "n_items": n_base},
        "current": {**current.as_dict(), "n_items": n_cur},
        "thresholds": thresholds_of(settings),
        "statistics": rows,
        "drift": any(r["drift"] for r in rows),
    }


def monitored_comparisons(*, project, settings, now=None) -> list[tuple[str, DriftSide, DriftSide]]:
    """The comparisons monitoring runs: ("window", earlier imports, recent imports), and ("versions",
    the version before the latest, the latest) when the project has two versions."""
    now = now or timezone.now()
    current_start = now - timedelta(days=settings.drift_window_days)
    baseline_start = current_start - timedelta(days=settings.drift_baseline_days)
    out = [
        (
            "window",
            drift_side_window(project=project, start=baseline_start, end=current_start),
            # The current window's end is a moment after now, so items created this instant count.
            drift_side_window(project=project, start=current_start, end=now + timedelta(seconds=1)),
        )
    ]
    numbers = list(
        DatasetVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True)[:2]
    )
    if len(numbers) == 2:
        out.append(
            (
                "versions",
                drift_side_version(project=project, number=numbers[1]),
                drift_side_version(project=project, number=numbers[0]),
            )
        )
    return out


def _alert_payload(alert, comparison):
    return {
        "project": alert.project_id,
        "alert": alert.pk,
        "comparison": alert.comparison,
        "statistic": alert.statistic,
        "reasons": alert.reasons,
        "psi": alert.psi,
        "ks_pvalue": alert.ks_pvalue,
        "baseline": comparison["baseline"],
        "current": comparison["current"],
        "opened": alert.opened.isoformat(),
    }


def _notify(*, project, alert, comparison) -> bool:
    """Hand a new alert to the project's webhooks (delivery and retries are the webhooks service's)."""
    webhooks_notify(project=project, event=DRIFT_EVENT, payload=_alert_payload(alert, comparison))
    return True


def _alerts_update(*, project, kind, comparison, now) -> list[DriftAlert]:
    """Open, refresh or resolve the alerts of one comparison kind; answer the alerts opened now."""
    opened = []
    open_alerts = {a.statistic: a for a in DriftAlert.objects.filter(project=project, comparison=kind, resolved=None)}
    detail_sides = {"baseline": comparison["baseline"], "current": comparison["current"]}
    for row in comparison["statistics"]:
        alert = open_alerts.get(row["statistic"])
        numbers = {"psi": row["psi"], "ks_pvalue": row["ks_pvalue"]}
        detail = {
            **detail_sides,
            "mean": [row["baseline"]["mean"], row["current"]["mean"]],
            "missing_share": [row["baseline"]["missing_share"], row["current"]["missing_share"]],
        }
        if row["drift"]:
            if alert is not None:
                DriftAlert.objects.filter(pk=alert.pk).update(
                    last_seen=now, reasons=row["reasons"], detail=detail, **numbers
                )
                continue
            try:
                # The partial unique constraint (one open alert per kind and statistic) decides a race
                # between two monitors: the loser's insert fails and it sends nothing.
                with transaction.atomic():
                    alert = DriftAlert.objects.create(
                        project=project,
                        comparison=kind,
                        statistic=row["statistic"],
                        reasons=row["reasons"],
                        detail=detail,
                        last_seen=now,
                        **numbers,
                    )
                    if _notify(project=project, alert=alert, comparison=comparison):
                        DriftAlert.objects.filter(pk=alert.pk).update(notified=now)
                opened.append(alert)
            except IntegrityError:
                continue
        elif alert is not None and row["enough_values"]:
            DriftAlert.objects.filter(pk=alert.pk, resolved=None).update(resolved=now, last_seen=now)
    return opened


def drift_monitor_run(*, project, now=None) -> dict:
    """Run the monitored comparisons, keep the alerts, notify the new ones; idempotent.

    Answers ``{"comparisons": {kind: drift_compare(...)}, "opened": [alert ids], "open": [open alerts as
    dicts, newest first]}``. Safe to call on every dashboard view: an alert already open is refreshed,
    not re-sent. Open alerts that were never handed to webhooks (the feature was missing) are sent now.
    """
    now = now or timezone.now()
    settings = planning_settings_get(project=project)
    comparisons, opened = {}, []
    for kind, baseline, current in monitored_comparisons(project=project, settings=settings, now=now):
        comparison = drift_compare(project=project, baseline=baseline, current=current, settings=settings)
        comparisons[kind] = comparison
        opened += _alerts_update(project=project, kind=kind, comparison=comparison, now=now)
    pending = DriftAlert.objects.filter(project=project, resolved=None, notified=None).exclude(
        pk__in=[a.pk for a in opened]
    )
    for alert in pending:
        with transaction.atomic():
            if _notify(project=project, alert=alert, comparison=comparisons.get(alert.comparison, alert.detail)):
                DriftAlert.objects.filter(pk=alert.pk).update(notified=now)
    return {"comparisons": comparisons, "opened": [a.pk for a in opened], "open": drift_alerts_open(project=project)}


def drift_alerts_open(*, project) -> list[dict]:
    return [
        {
            "id": a.pk,
            "comparison": a.comparison,
            "statistic": a.statistic,
            "reasons": a.reasons,
            "psi": a.psi,
            "ks_pvalue": a.ks_pvalue,
            "opened": a.opened.isoformat(),
            "last_seen": a.last_seen.isoformat(),
            "notified": a.notified.isoformat() if a.notified else None,
            "detail": a.detail,
        }
        for a in DriftAlert.objects.filter(project=project, resolved=None).order_by("-opened", "-id")
    ]


def output_signal(*, project, weeks=12, now=None) -> dict:
    """The share of uncertain and out-of-domain answers per week (by when the answer was first given).

    Answers a relabel campaign archived count in the week they were answered (each once, as it stood
    when archived): relabeling the items labelers were unsure of does not make the past look surer.
    Answers ``{"weeks": [{"week": "YYYY-MM-DD" (Monday), "n_answers", "uncertain", "out_of_domain",
    "uncertain_share", "out_of_domain_share"}]}`` for the last ``weeks`` weeks that have answers.
    """
    now = now or timezone.now()
    since = now - timedelta(weeks=weeks)
    rows = (
        Annotation.objects.filter(item__project=project, created__gte=since)
        .annotate(week=TruncWeek("created"))
        .values("week")
        .annotate(
            n=Count("id"),
            uncertain=Count("id", filter=Q(uncertain=True)),
            ood=Count("id", filter=Q(out_of_domain=True)),
        )
        .order_by("week")
    )
    by_week = {}
    for r in rows:
        week = r["week"].date() if hasattr(r["week"], "date") else r["week"]
        by_week[week] = [r["n"], r["uncertain"], r["ood"]]
    latest = {}
    archived = ArchivedAnnotation.objects.filter(campaign__project=project, answered__gte=since).values_list(
        "campaign_id", "item_id", "labeler_id", "answered", "uncertain", "out_of_domain"
    )
    for campaign, item, labeler, answered, uncertain, ood in archived.iterator(chunk_size=10000):
        key = (campaign, item, labeler)
        if key not in latest or answered >= latest[key][0]:
            latest[key] = (answered, uncertain, ood)
    for answered, uncertain, ood in latest.values():
        day = timezone.localtime(answered).date()
        counts = by_week.setdefault(day - timedelta(days=day.weekday()), [0, 0, 0])
        counts[0] += 1
        counts[1] += int(uncertain)
        counts[2] += int(ood)
    return {
        "weeks": [
            {
                "week": week.isoformat(),
                "n_answers": n,
                "uncertain": uncertain,
                "out_of_domain": ood,
                "uncertain_share": uncertain / n if n else None,
                "out_of_domain_share": ood / n if n else None,
            }
            for week, (n, uncertain, ood) in sorted(by_week.items())
        ]
    }
