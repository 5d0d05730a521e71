"""Inventory planning: what a labeled item costs, and how many labeled items the team can have in k days.

Cost per labeled item = data cost per item (the sources' costs per item, weighted by the items each
brings: imported and still to come) + labeling cost per item (median seconds per answer × overlap ÷
3600 × the project's hourly rate). Reachable labeled items come from the measured throughput (answers
per day over the last ``throughput_weeks`` weeks, those a relabel campaign archived included, ÷ overlap)
and the supply: items already imported, plus what each source still has to deliver, arriving after its
turnaround (``analysis.metrics.planning.reachable_labeled``).
"""

import math
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, F, FloatField, Min, Q, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from analysis.metrics.planning import reachable_labeled
from analysis.models import DriftRule, ProjectPlanning
from labeling.choices import SourceStatus, SourceUnit
from labeling.models import Annotation, ArchivedAnnotation, DataSource, Item

SETTING_FIELDS = (
    "hourly_rate",
    "currency",
    "throughput_weeks",
    "psi_threshold",
    "ks_pvalue_threshold",
    "missing_share_threshold",
    "drift_rule",
    "drift_min_items",
    "drift_window_days",
    "drift_baseline_days",
)
MAX_HORIZON_DAYS = 3650


def planning_settings_get(*, project) -> ProjectPlanning:
    """The project's planning settings; an unsaved instance with the defaults when none were stored."""
    settings = ProjectPlanning.objects.filter(project=project).first()
    return settings or ProjectPlanning(project=project)


def planning_settings_as_dict(settings) -> dict:
    return {
        "hourly_rate": float(settings.hourly_rate),
        "currency": settings.currency,
        "throughput_weeks": settings.throughput_weeks,
        "psi_threshold": settings.psi_threshold,
        "ks_pvalue_threshold": settings.ks_pvalue_threshold,
        "missing_share_threshold": settings.missing_share_threshold,
        "drift_rule": settings.drift_rule,
        "drift_min_items": settings.drift_min_items,
        "drift_window_days": settings.drift_window_days,
        "drift_baseline_days": settings.drift_baseline_days,
    }


def _number(value, name, errors, *, low=None, high=None, integer=False, low_open=False, high_open=False):
    if isinstance(value, bool):
        errors[name] = "must be a number"
        return None
    try:
        number = int(value) if integer and float(value) == int(float(value)) else float(value)
    except (TypeError, ValueError):
        errors[name] = "must be a whole number" if integer else "must be a number"
        return None
    if integer and not isinstance(number, int):
        errors[name] = "must be a whole number"
        return None
    if low is not None and (number <= low if low_open else number < low):
        errors[name] = f"must be {'over' if low_open else 'at least'} {low:g}"
        return None
    if high is not None and (number >= high if high_open else number > high):
        errors[name] = f"must be {'under' if high_open else 'at most'} {high:g}"
        return None
    return number


def planning_settings_update(*, project, data: dict) -> ProjectPlanning:
    """Change some planning settings; raise ValidationError naming each bad or unknown field."""
    if not isinstance(data, dict):
        raise ValidationError({"settings": "send a JSON object of settings"})
    errors = {
        name: f"unknown setting (known: {', '.join(SETTING_FIELDS)})" for name in data if name not in SETTING_FIELDS
    }
    settings = planning_settings_get(project=project)
    for name, value in data.items():
        if name == "hourly_rate":
            try:
                rate = Decimal(str(value))
            except (InvalidOperation, ValueError):
                errors[name] = "must be a number"
                continue
            if isinstance(value, bool) or not rate.is_finite() or rate < 0 or rate > Decimal("99999999"):
                errors[name] = "must be a number from 0 to 99,999,999"
                continue
            settings.hourly_rate = rate.quantize(Decimal("0.01"))
        elif name == "currency":
            if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
                errors[name] = "must be a three-letter currency code such as USD"
                continue
            settings.currency = value.upper()
        elif name == "drift_rule":
            if value not in DriftRule.values:
                errors[name] = f"must be one of {', '.join(DriftRule.values)}"
                continue
            settings.drift_rule = value
        elif name in ("psi_threshold",):
            number = _number(value, name, errors, low=0, low_open=True, high=100)
            if number is not None:
                settings.psi_threshold = number
        elif name in ("ks_pvalue_threshold",):
            number = _number(value, name, errors, low=0, high=1, low_open=True, high_open=True)
            if number is not None:
                settings.ks_pvalue_threshold = number
        elif name == "missing_share_threshold":
            number = _number(value, name, errors, low=0, high=1)
            if number is not None:
                settings.missing_share_threshold = number
        elif name in ("throughput_weeks", "drift_window_days", "drift_baseline_days"):
            number = _number(value, name, errors, low=1, high=365, integer=True)
            if number is not None:
                setattr(settings, name, number)
        elif name == "drift_min_items":
            number = _number(value, name, errors, low=2, high=1_000_000, integer=True)
            if number is not None:
                settings.drift_min_items = number
    if errors:
        raise ValidationError(errors)
    settings.save()
    return settings


def _round(value, digits=4):
    return None if value is None else round(float(value), digits)


def _cost(value, significant=4):
    """A cost rounded to significant digits, not decimals: 200 USD over 5,000,000 items is 4e-05 per
    item, which four decimals would make 0."""
    if value is None:
        return None
    value = float(value)
    return 0.0 if value == 0 else round(value, significant - 1 - math.floor(math.log10(abs(value))))


def _source_rows(*, project, currency):
    """Per source: cost per item (in the source's currency), items imported, items still to come."""
    sources = list(DataSource.objects.filter(project=project).annotate(n_items=Count("items")).order_by("name"))
    durations = {}
    if any(s.unit == SourceUnit.HOURS for s in sources):
        durations = dict(
            Item.objects.filter(project=project, source__isnull=False)
            .values("source")
            .annotate(mean=Avg(Cast(KT("stats__duration"), FloatField())))
            .values_list("source", "mean")
        )
    for s in sources:
        s.mean_duration = durations.get(s.pk)
    rows, notes = [], []
    for s in sources:
        cost_per_item = None
        remaining = None
        planned_items = None
        if s.unit == SourceUnit.ITEMS:
            planned_items = float(s.planned_amount)
            if s.planned_amount:
                cost_per_item = float(s.total_cost) / float(s.planned_amount)
        elif s.mean_duration:
            # Hours of audio: an item costs its share of an hour, by the mean duration imported so far.
            hours_per_item = s.mean_duration / 3600.0
            planned_items = float(s.planned_amount) / hours_per_item
            if s.planned_amount:
                cost_per_item = float(s.total_cost) / float(s.planned_amount) * hours_per_item
        else:
            notes.append(f"{s.name}: planned in hours, but no imported clip tells how long an item is")
        if planned_items is not None:
            remaining = max(planned_items - s.n_items, 0.0)
        if s.status == SourceStatus.RETIRED:
            arrives = None
        elif s.status == SourceStatus.AVAILABLE:
            arrives = 0
        else:
            arrives = s.turnaround_days
        if s.status not in (SourceStatus.RETIRED, SourceStatus.AVAILABLE) and arrives is None and remaining:
            notes.append(f"{s.name}: no turnaround, so its items are not in the forecast")
        rows.append(
            {
                "id": s.pk,
                "name": s.name,
                "kind": s.kind,
                "status": s.status,
                "unit": s.unit,
                "currency": s.currency,
                "total_cost": float(s.total_cost),
                "planned_amount": float(s.planned_amount),
                "n_items": s.n_items,
                "cost_per_item": _cost(cost_per_item),
                "remaining_items": _round(remaining, 1),
                "arrives_in_days": arrives,
                "same_currency": s.currency == currency,
            }
        )
    return rows, notes


def _archived_answers_since(*, project, since) -> list:
    """(answered, seconds) of each answer relabel campaigns archived that was answered since ``since``:
    per campaign, item and labeler the answer as it stood when archived (its revisions left out)."""
    latest = {}
    rows = ArchivedAnnotation.objects.filter(campaign__project=project, answered__gte=since).values_list(
        "campaign_id", "item_id", "labeler_id", "answered", "seconds"
    )
    for campaign, item, labeler, answered, seconds in rows.iterator(chunk_size=10000):
        key = (campaign, item, labeler)
        if key not in latest or answered >= latest[key][0]:
            latest[key] = (answered, seconds)
    return list(latest.values())


def planning_compute(*, project, days=30, now=None) -> dict:
    """The planning report: cost per labeled item, throughput, and labeled items reachable per day.

    Answers ``{"settings", "labor": {"median_seconds", "n_timed", "overlap", "hourly_rate", "currency",
    "cost_per_item"}, "throughput": {"weeks", "since", "n_answers", "answers_per_day", "labeled_per_day"},
    "sources": [...], "data_cost_per_item", "cost_per_labeled_item", "progress": {"items", "labeled",
    "backlog"}, "horizon": {"days", "labeled", "new_labeled", "cost"}, "curve": [{"day", "labeled",
    "supply"}], "notes": [...]}``. Money is in the settings' currency; sources in another currency are
    listed but left out of the data cost (no conversion is attempted). ``None`` where unknown.
    """
    if not 0 <= int(days) <= MAX_HORIZON_DAYS:
        raise ValidationError({"days": f"must be from 0 to {MAX_HORIZON_DAYS}"})
    days = int(days)
    now = now or timezone.now()
    settings = planning_settings_get(project=project)
    overlap = project.overlap
    notes = []

    since = now - timedelta(weeks=settings.throughput_weeks)
    recent = Annotation.objects.filter(item__project=project, created__gte=since)
    counts = recent.aggregate(n=Count("id"), first=Min("created"))
    # Answers a relabel campaign archived were work done too: each counts once (its last state, not the
    # revisions archived beside it), at the time it was answered.
    archived = _archived_answers_since(project=project, since=since)
    counts["n"] += len(archived)
    if archived:
        first = min(answered for answered, _ in archived)
        counts["first"] = min(counts["first"], first) if counts["first"] else first
    timed = list(recent.filter(seconds__isnull=False).order_by().values_list("seconds", flat=True)[:200_000])
    timed += [seconds for _, seconds in archived if seconds is not None]
    timed = timed or list(
        Annotation.objects.filter(item__project=project, seconds__isnull=False)
        .order_by("-created")
        .values_list("seconds", flat=True)[:200_000]
    )
    median_seconds = float(np.median(timed)) if timed else None
    rate = float(settings.hourly_rate)
    labor_cost = median_seconds * overlap / 3600.0 * rate if median_seconds is not None else None
    if median_seconds is None:
        notes.append("no answer has a measured time yet, so the labeling cost is unknown")
    elif not rate:
        notes.append("the hourly rate is 0: set it in the planning settings to price labeling time")

    # Throughput over the window, or since the first answer in it when labeling started more recently
    # (dividing by the whole window would understate a team that just began). At least one day.
    span_start = max(since, counts["first"]) if counts["first"] else since
    span_days = max((now - span_start).total_seconds() / 86400.0, 1.0)
    answers_per_day = counts["n"] / span_days if counts["n"] else 0.0
    labeled_per_day = answers_per_day / overlap
    if not counts["n"]:
        notes.append(f"no answers in the last {settings.throughput_weeks} weeks: no labeling throughput measured")

    sources, source_notes = _source_rows(project=project, currency=settings.currency)
    notes += source_notes
    priced = [s for s in sources if s["cost_per_item"] is not None and s["same_currency"]]
    other = [s["name"] for s in sources if s["cost_per_item"] is not None and not s["same_currency"]]
    if other:
        notes.append(f"not converted to {settings.currency}, left out of the data cost: {', '.join(other)}")
    # Each source weighs by the items it brings: those imported and those still to come (a source half
    # imported weighs all its items, as one not yet imported does).
    weights = np.array([(s["n_items"] or 0) + (s["remaining_items"] or 0) for s in priced], dtype=np.float64)
    costs = np.array([s["cost_per_item"] for s in priced], dtype=np.float64)
    if len(priced) and weights.sum() > 0:
        data_cost = float(weights @ costs / weights.sum())
    elif len(priced):
        data_cost = float(costs.mean())
    else:
        data_cost = None
    total_cost = None if labor_cost is None else labor_cost + (data_cost or 0.0)

    progress = Item.objects.filter(project=project).aggregate(
        # An item's own overlap (a relabel campaign's) wins, as on the labeling page.
        items=Count("id"),
        labeled=Count("id", filter=Q(n_answers__gte=Coalesce(F("overlap"), Value(overlap)))),
    )
    backlog = progress["items"] - progress["labeled"]
    arriving = [s for s in sources if s["arrives_in_days"] is not None and s["remaining_items"]]
    arrival_days = [s["arrives_in_days"] for s in arriving]
    arrival_amounts = [s["remaining_items"] for s in arriving]
    horizons = np.arange(days + 1)
    labeled = reachable_labeled(
        labeled_now=progress["labeled"],
        backlog_now=backlog,
        arrival_days=arrival_days,
        arrival_amounts=arrival_amounts,
        rate_per_day=labeled_per_day,
        horizons=horizons,
    )
    supply = [
        progress["items"] + sum(a for d, a in zip(arrival_days, arrival_amounts, strict=True) if d <= h)
        for h in horizons
    ]
    reached = float(labeled[-1])
    new_labeled = reached - progress["labeled"]
    return {
        "settings": planning_settings_as_dict(settings),
        "labor": {
            "median_seconds": _round(median_seconds, 2),
            "n_timed": len(timed),
            "overlap": overlap,
            "hourly_rate": rate,
            "currency": settings.currency,
            "cost_per_item": _cost(labor_cost),
        },
        "throughput": {
            "weeks": settings.throughput_weeks,
            "since": span_start.isoformat(),
            "n_answers": counts["n"],
            "answers_per_day": _round(answers_per_day, 2),
            "labeled_per_day": _round(labeled_per_day, 2),
        },
        "sources": sources,
        "data_cost_per_item": _cost(data_cost),
        "cost_per_labeled_item": _cost(total_cost),
        "currency": settings.currency,
        "progress": {"items": progress["items"], "labeled": progress["labeled"], "backlog": backlog},
        "horizon": {
            "days": days,
            "labeled": round(reached, 1),
            "new_labeled": round(new_labeled, 1),
            "cost": _round(new_labeled * total_cost, 2) if total_cost is not None else None,
        },
        "curve": [
            {"day": int(h), "labeled": round(float(v), 1), "supply": round(float(s), 1)}
            for h, v, s in zip(horizons, labeled, supply, strict=True)
        ],
        "notes": notes,
    }
