"""Inventory planning: cost per labeled item and labeled items reachable in k days; planning settings."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.services.planning import planning_compute, planning_settings_as_dict, planning_settings_update
from labelhub.api import ChoiceField, body_as_dict
from labeling.choices import Role
from labeling.selectors import project_for_user


def parse_days(params, default=30):
    value = params.get("days")
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValidationError({"days": "a whole number of days"}) from None


Settings = inline_serializer(
    "PlanningSettings",
    {
        "hourly_rate": serializers.FloatField(),
        "currency": serializers.CharField(),
        "throughput_weeks": serializers.IntegerField(),
        "psi_threshold": serializers.FloatField(),
        "ks_pvalue_threshold": serializers.FloatField(),
        "missing_share_threshold": serializers.FloatField(),
        "drift_rule": ChoiceField(choices=["both", "either"]),
        "drift_min_items": serializers.IntegerField(),
        "drift_window_days": serializers.IntegerField(),
        "drift_baseline_days": serializers.IntegerField(),
    },
)


class PlanningApi(GenericAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="the horizon k (default 30)")],
        responses={
            200: inline_serializer(
                "PlanningReport",
                {
                    "settings": Settings,
                    "labor": serializers.DictField(),
                    "throughput": serializers.DictField(),
                    "sources": serializers.ListField(child=serializers.DictField()),
                    "data_cost_per_item": serializers.FloatField(allow_null=True),
                    "cost_per_labeled_item": serializers.FloatField(allow_null=True),
                    "horizon": serializers.DictField(),
                    "curve": serializers.ListField(child=serializers.DictField()),
                    "notes": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
        description="Cost per labeled item (sources' costs + median seconds per answer × overlap × hourly "
        "rate) and how many labeled items are reachable in `days` days (measured throughput, sources' "
        "turnaround), with the curve per day. Reviewers and managers.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(planning_compute(project=project, days=parse_days(request.query_params)))

    @extend_schema(
        request=Settings,
        responses={200: Settings},
        description="Change planning and drift settings (any subset of the fields). Managers only.",
    )
    def patch(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        # A form's fields are checked as a JSON object's are; its CSRF token is the form's own, no setting.
        settings = planning_settings_update(project=project, data=body_as_dict(request.data))
        return Response(planning_settings_as_dict(settings))
