from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.selectors import FLAG_POLICIES, AnswerFilters
from analysis.services import agreement_report_get
from labeling.choices import Role
from labeling.selectors import project_for_user


def parse_report_params(project, params):
    """Filters and policy from query parameters; ValidationError naming a bad one."""
    filters = AnswerFilters(tag=params.get("tag") or None)
    if params.get("labelers"):
        wanted = [part.strip() for part in params["labelers"].split(",") if part.strip()]
        members = dict(get_user_model().objects.filter(memberships__project=project).values_list("username", "pk"))
        ids = []
        for name in wanted:
            if name.isdigit() and int(name) in members.values():
                ids.append(int(name))
            elif name in members:
                ids.append(members[name])
            else:
                raise ValidationError({"labelers": f"'{name}' is not a member of this project"})
        filters.labelers = ids
    if params.get("since"):
        value = params["since"]
        moment = parse_datetime(value)
        if moment is None and parse_date(value):
            moment = datetime.combine(parse_date(value), time.min)
        if moment is None:
            raise ValidationError({"since": f"'{value}' is not a date (YYYY-MM-DD) or an ISO date-time"})
        filters.since = moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.utc)
    if params.get("guideline"):
        try:
            filters.guideline = int(params["guideline"])
        except ValueError:
            raise ValidationError({"guideline": "guideline is a version number"}) from None
        if not project.guidelines.filter(version=filters.guideline).exists():
            raise ValidationError({"guideline": f"this project has no guideline version {filters.guideline}"})
    policy = params.get("policy") or "category"
    if policy not in FLAG_POLICIES:
        raise ValidationError({"policy": f"unknown policy '{policy}' (one of {', '.join(FLAG_POLICIES)})"})
    if policy == "midpoint" and not project.is_binary:
        raise ValidationError({"policy": "the midpoint policy needs a binary project (two classes)"})
    return filters, policy


REPORT_PARAMETERS = [
    OpenApiParameter("tag", str, description="a slice: only items with this tag"),
    OpenApiParameter("labelers", str, description="comma-separated usernames or ids"),
    OpenApiParameter("since", str, description="only answers given or changed since this date (YYYY-MM-DD)"),
    OpenApiParameter("guideline", int, description="only answers given under this guideline version"),
    OpenApiParameter(
        "policy",
        str,
        enum=list(FLAG_POLICIES),
        description="borderline / uncertain / out-of-domain answers as their own categories (default), left "
        "out, or (binary projects) borderline as the ordinal midpoint",
    ),
]

Metric = inline_serializer(
    "MetricWithInterval",
    {"value": serializers.FloatField(), "ci_low": serializers.FloatField(), "ci_high": serializers.FloatField()},
)


class AgreementReportApi(GenericAPIView):
    @extend_schema(
        parameters=REPORT_PARAMETERS,
        responses={
            200: inline_serializer(
                "AgreementReport",
                {
                    "n_items": serializers.IntegerField(),
                    "n_annotations": serializers.IntegerField(),
                    "percent_agreement": Metric,
                    "fleiss_kappa": Metric,
                    "krippendorff_alpha": Metric,
                    "hlp": Metric,
                    "per_class": serializers.ListField(child=serializers.DictField()),
                    "per_labeler": serializers.ListField(child=serializers.DictField()),
                    "pairwise": serializers.ListField(child=serializers.DictField()),
                    "confusion": serializers.DictField(),
                    "over_time": serializers.DictField(),
                    "by_guideline": serializers.ListField(child=serializers.DictField()),
                    "reasons": serializers.DictField(),
                },
            ),
            202: OpenApiResponse(description='A large project\'s report is being computed: `{"job": id}`.'),
        },
        description="Agreement and human-level performance. Reviewers and managers only. Metrics that are "
        "undefined on the selected answers are null, with the reason under `reasons`.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        filters, policy = parse_report_params(project, request.query_params)
        data, job = agreement_report_get(project=project, filters=filters, policy=policy, user=request.user)
        if data is None:
            return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
        return Response(data)
