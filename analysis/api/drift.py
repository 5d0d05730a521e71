"""Input drift between two dataset versions or two import windows, with the open alerts."""

from datetime import datetime, time, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.services.drift import (
    drift_alerts_open,
    drift_compare,
    drift_monitor_run,
    drift_side_version,
    drift_side_window,
    output_signal,
)
from analysis.services.planning import planning_settings_get
from labelhub.params import is_row_id, parse_day, parse_instant
from labeling.choices import Role
from labeling.selectors import project_for_user

WINDOW_PARAMS = ("baseline_from", "baseline_to", "current_from", "current_to")
VERSION_PARAMS = ("baseline_version", "current_version")


def _moment(value, name, *, end=False):
    # A bare date is a day first: Python's fromisoformat (which parse_datetime tries) reads "2026-12-04" as
    # its midnight, and the end date of a window then left that whole day out.
    day = parse_day(value) if len(value) == 10 else None
    moment = None if day is not None else parse_instant(value)
    if moment is None:
        if day is None:
            raise ValidationError({name: f"'{value}' is not a date (YYYY-MM-DD) or an ISO date-time"})
        # A bare end date includes that whole day: the window ends at the next midnight.
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def parse_drift_params(project, params):
    """The comparison the query asks for: ``(baseline, current)`` sides, or None for the monitored default.

    Either both ``baseline_version`` and ``current_version`` (version numbers), or the four dates
    ``baseline_from, baseline_to, current_from, current_to`` (windows of import, end dates inclusive).
    """
    given_versions = [p for p in VERSION_PARAMS if params.get(p)]
    given_windows = [p for p in WINDOW_PARAMS if params.get(p)]
    if given_versions and given_windows:
        raise ValidationError({"detail": "compare either two versions or two time windows, not both"})
    if given_versions:
        missing = [p for p in VERSION_PARAMS if p not in given_versions]
        if missing:
            raise ValidationError({missing[0]: "both baseline_version and current_version are needed"})
        numbers = {}
        for p in VERSION_PARAMS:
            if not is_row_id(params[p]):  # read as ids are: int() took "١" for 1
                raise ValidationError({p: "a version number"})
            numbers[p] = int(params[p])
        return (
            drift_side_version(project=project, number=numbers["baseline_version"]),
            drift_side_version(project=project, number=numbers["current_version"]),
        )
    if given_windows:
        missing = [p for p in WINDOW_PARAMS if p not in given_windows]
        if missing:
            raise ValidationError({missing[0]: "a window comparison needs all four dates"})
        m = {p: _moment(params[p], p, end=p.endswith("_to")) for p in WINDOW_PARAMS}
        for side in ("baseline", "current"):
            if m[f"{side}_from"] >= m[f"{side}_to"]:
                raise ValidationError({f"{side}_to": f"{side}_to is before {side}_from"})
        return (
            drift_side_window(project=project, start=m["baseline_from"], end=m["baseline_to"]),
            drift_side_window(project=project, start=m["current_from"], end=m["current_to"]),
        )
    return None


def drift_report(*, project, params) -> dict:
    """The drift answer of the API and the page: the asked comparison (or the monitored window
    comparison, which also refreshes alerts), the open alerts and the output signal."""
    sides = parse_drift_params(project, params)
    if sides is None:
        monitor = drift_monitor_run(project=project)
        comparison = monitor["comparisons"]["window"]
        comparison["monitored"] = True
        alerts = monitor["open"]
    else:
        comparison = drift_compare(
            project=project, baseline=sides[0], current=sides[1], settings=planning_settings_get(project=project)
        )
        comparison["monitored"] = False
        alerts = drift_alerts_open(project=project)
    return {**comparison, "alerts": alerts, "output_signal": output_signal(project=project)}


class DriftApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("baseline_version", int, description="compare this dataset version..."),
            OpenApiParameter("current_version", int, description="...with this one"),
            OpenApiParameter("baseline_from", str, description="items imported from this date (YYYY-MM-DD)..."),
            OpenApiParameter("baseline_to", str, description="...to this date (inclusive)"),
            OpenApiParameter("current_from", str, description="against items imported from this date..."),
            OpenApiParameter("current_to", str, description="...to this date (inclusive)"),
        ],
        responses={
            200: inline_serializer(
                "DriftReport",
                {
                    "baseline": serializers.DictField(),
                    "current": serializers.DictField(),
                    "thresholds": serializers.DictField(),
                    "statistics": serializers.ListField(child=serializers.DictField()),
                    "drift": serializers.BooleanField(),
                    "alerts": serializers.ListField(child=serializers.DictField()),
                    "output_signal": serializers.DictField(),
                },
            )
        },
        description="Per input statistic: population-stability index, two-sample KS test, missing-value "
        "shares and an overlaid histogram. Without parameters: the monitored comparison (recent imports "
        "against the weeks before), which also opens and closes drift alerts (each alert is sent to "
        "webhooks subscribed to `drift.alert` once). Reviewers and managers only.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(drift_report(project=project, params=request.query_params))
