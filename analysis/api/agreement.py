from datetime import UTC

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.metrics.rules import RuleTooSlow
from analysis.reports import public_report
from analysis.selectors import FLAG_POLICIES, AnswerFilters
from analysis.services import agreement_report_get
from labelhub.params import is_row_id, parse_moment
from labeling.choices import SHAPE_TASKS, Role
from labeling.selectors import known_labelers, project_for_user, tag_check, unknown_labeler_message


def labelers_param(params) -> str | None:
    """The ``labelers`` parameter as one comma-separated list: "labelers=alice&labelers=bob" (a script's list,
    a multi-select) names both, as "alice,bob" does (the last one alone was counted)."""
    return ",".join(params.getlist("labelers")) if hasattr(params, "getlist") else params.get("labelers")


def parse_report_params(project, params):
    """Filters and policy from query parameters; ValidationError naming a bad one."""
    filters = AnswerFilters(tag=params.get("tag") or None)
    tag_check(project=project, name=filters.tag)
    raw = labelers_param(params)
    if raw:
        wanted = [part.strip() for part in raw.split(",") if part.strip()]
        if not wanted and raw.strip():  # "labelers=," counted every labeler
            raise ValidationError({"labelers": "labelers names nobody: comma-separated usernames or ids"})
        known = known_labelers(project=project, wanted=wanted)
        ids = []
        for name in wanted:
            if is_row_id(name) and int(name) in known.values():
                ids.append(int(name))
            elif name in known:
                ids.append(known[name])
            else:
                raise ValidationError({"labelers": unknown_labeler_message(name)})
        filters.labelers = ids
    if params.get("since"):
        value = params["since"]
        moment = parse_moment(value)
        if moment is None:
            raise ValidationError({"since": f"'{value}' is not a date (YYYY-MM-DD) or an ISO date-time"})
        # A naive date counts as UTC (datetime.UTC: django.utils.timezone.utc is gone since Django 5.0).
        filters.since = moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
    if params.get("guideline"):
        # read as ids are: int() took "١" for 1, and a number beyond 64 bits reached the database
        if not is_row_id(params["guideline"]):
            raise ValidationError({"guideline": "guideline is a version number"})
        filters.guideline = int(params["guideline"])
        if not project.guidelines.filter(version=filters.guideline).exists():
            raise ValidationError({"guideline": f"this project has no guideline version {filters.guideline}"})
    policy = params.get("policy") or "category"
    if policy not in FLAG_POLICIES:
        raise ValidationError({"policy": f"unknown policy '{policy}' (one of {', '.join(FLAG_POLICIES)})"})
    if policy == "midpoint" and not project.is_binary:
        raise ValidationError({"policy": "the midpoint policy needs a binary project (two classes)"})
    return filters, policy


def parse_iou(project, params):
    """The IoU threshold of a detection or segments project's report (``iou``, default 0.5 as None);
    ValidationError unless 0 < iou ≤ 1, or when the project has no shapes to match."""
    raw = params.get("iou")
    if raw in (None, ""):
        return None
    if project.task_type not in SHAPE_TASKS:
        raise ValidationError({"iou": "the IoU threshold applies to detection and segments projects only"})
    try:
        iou = float(raw)
    except ValueError:
        raise ValidationError({"iou": f"'{raw}' is not a number; the IoU threshold is in (0, 1]"}) from None
    if not 0 < iou <= 1:  # NaN fails this too
        raise ValidationError({"iou": f"the IoU threshold must be greater than 0 and at most 1, not {raw}"})
    return iou


REPORT_PARAMETERS = [
    OpenApiParameter("tag", str, description="a slice: only items with this tag"),
    OpenApiParameter(
        "labelers",
        str,
        description="comma-separated (or repeated) usernames or ids: members, or anyone whose answers the "
        "project holds (a removed labeler's)",
    ),
    OpenApiParameter("since", str, description="only answers given or changed since this date (YYYY-MM-DD)"),
    OpenApiParameter("guideline", int, description="only answers given under this guideline version"),
    OpenApiParameter(
        "policy",
        str,
        enum=list(FLAG_POLICIES),
        description="borderline / uncertain / out-of-domain answers as their own categories (default), left "
        "out, or (binary projects) borderline as the ordinal midpoint. Detection / segments: `exclude` leaves "
        "out uncertain / out-of-domain answers and borderline / uncertain shapes",
    ),
    OpenApiParameter(
        "iou",
        float,
        description="detection and segments projects: the IoU threshold at which two shapes match, "
        "0 < iou ≤ 1 (default 0.5)",
    ),
]


class MetricWithIntervalSerializer(serializers.Serializer):
    """A measure with its interval: always this object; its numbers are null where the measure is
    undefined on the answers (the reason under the report's ``reasons``)."""

    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class ShapeF1WithIntervalSerializer(MetricWithIntervalSerializer):
    """box_f1 / segment_f1: only in detection / segments reports (the key of the report's task)."""


# A new instance per key: one serializer instance under several keys of the report was listed once (the
# schema lacked fleiss_kappa, krippendorff_alpha and box_f1).
def Metric():  # noqa: N802  (read as the schema component it makes)
    return MetricWithIntervalSerializer()


def ShapeF1():  # noqa: N802
    return ShapeF1WithIntervalSerializer(required=False)


SplitMerge = inline_serializer(
    "SplitMergeItem",
    {
        "item": serializers.IntegerField(help_text="item id"),
        "one": serializers.CharField(help_text="the labeler whose one shape covers several"),
        "many": serializers.CharField(help_text="the labeler whose shapes it covers"),
        "n": serializers.IntegerField(help_text="how many of `many`'s shapes are each ≥ 70 % inside"),
    },
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
                    "percent_agreement": Metric(),
                    "fleiss_kappa": Metric(),
                    "krippendorff_alpha": Metric(),
                    "hlp": Metric(),
                    "per_class": serializers.ListField(child=serializers.DictField()),
                    "per_labeler": serializers.ListField(child=serializers.DictField()),
                    "pairwise": serializers.ListField(child=serializers.DictField()),
                    "confusion": serializers.DictField(),
                    "over_time": serializers.DictField(),
                    "by_guideline": serializers.ListField(child=serializers.DictField()),
                    "reasons": serializers.DictField(),
                    "task": serializers.CharField(
                        required=False, help_text='detection / segments projects: "boxes" or "segments"'
                    ),
                    "iou": serializers.FloatField(required=False, help_text="the IoU threshold used"),
                    "box_f1": ShapeF1(),
                    "segment_f1": ShapeF1(),
                    "mean_iou": serializers.FloatField(
                        required=False, allow_null=True, help_text="mean IoU of the matched shape pairs"
                    ),
                    "split_merge": serializers.ListField(child=SplitMerge, required=False),
                },
            ),
            202: OpenApiResponse(description='A large project\'s report is being computed: `{"job": id}`.'),
        },
        description="Agreement and human-level performance. Reviewers and managers only. Every measure with "
        'an interval is `{"value", "ci_low", "ci_high"}`; where it is undefined on the selected answers (too '
        'few answers, one category only) the object\'s numbers are null (`{"value": null, "ci_low": null, '
        '"ci_high": null}`), with the reason under `reasons`.\n\n'
        "Detection projects add `box_f1` (segments projects `segment_f1`) with its interval, `mean_iou`, "
        "`split_merge` and `iou`; `per_class` rows give `f1`, `mean_iou`, `n_shapes`; `per_labeler` rows give "
        "`f1`, `mean_iou` and (boxes) `map50` of the labeler's shapes against the others' consensus (the HLP "
        "of a detection task); `by_guideline` rows give `f1` and `mean_iou`. The classification measures "
        "(`percent_agreement`, `fleiss_kappa`, `krippendorff_alpha`, `hlp`) have null numbers for them, "
        "with the reason, and `pairwise`, `confusion` and `over_time` are empty: comparing shapes answers as "
        "categories would compare their JSON text.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        filters, policy = parse_report_params(project, request.query_params)
        iou = parse_iou(project, request.query_params)
        try:
            data, job = agreement_report_get(
                project=project, filters=filters, policy=policy, iou=iou, user=request.user
            )
        except RuleTooSlow as exc:  # a conventions rule that backtracks on a transcript: the reviewer fixes it
            raise ValidationError({"conventions": str(exc)}) from None
        if data is None:
            return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)
        return Response(public_report(data))
