"""Error analysis against HLP, and shadow-mode comparison of two model runs."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.models import ModelRun
from analysis.services.error_analysis import error_analysis_compute, model_runs_compare
from analysis.services.model_runs import model_run_for
from labelhub.api import ChoiceField
from labelhub.params import is_row_id
from labeling.choices import Role
from labeling.selectors import project_for_user


def parse_fairness(params, project=None) -> list[str] | None:
    """Tags for the fairness view from ``fairness=a,b`` or ``fairness=a&fairness=b`` (the page's
    checkboxes: the API read the last one alone), None: every tag. With ``project``, a tag the project has
    not is refused naming it (it was dropped without a word)."""
    tags = []
    for value in params.getlist("fairness"):
        tags += [part.strip() for part in value.split(",") if part.strip()]
    if tags and project is not None:
        known = set(project.tags.filter(name__in=tags).values_list("name", flat=True))
        unknown = [tag for tag in tags if tag not in known]
        if unknown:
            raise ValidationError({"fairness": f"not tags of this project: {', '.join(unknown)}"})
    return tags or None


def run_param(params, name):
    """The model run id a query parameter gives (None when absent); a malformed one is refused naming the
    parameter, as a map's is, where it read as "no model run with that id" (404)."""
    value = params.get(name)
    if value in (None, ""):
        return None
    if not is_row_id(value):
        raise ValidationError({name: f"{name} must be a model run's id (a whole number), not '{value}'"})
    return value


def compare_runs_for(*, project, params):
    """The two runs a comparison names (``a``, ``b``); default: the latest run (b) against the one before
    it (a). ValidationError when the project has fewer than two runs or a and b are the same run."""
    runs = list(ModelRun.objects.filter(project=project).order_by("-created", "-id").values_list("pk", flat=True)[:2])
    b_id, a_id = run_param(params, "b"), run_param(params, "a")
    b = model_run_for(project=project, run_id=b_id) if b_id else None
    a = model_run_for(project=project, run_id=a_id) if a_id else None
    if b is None and runs:
        b = model_run_for(project=project, run_id=runs[0] if (a is None or a.pk != runs[0]) else None)
    if a is None:
        earlier = [pk for pk in runs if b is None or pk != b.pk]
        a = model_run_for(project=project, run_id=earlier[0]) if earlier else None
    if a is None or b is None:
        raise ValidationError({"a": "a comparison needs two model runs; this project has fewer"})
    if a.pk == b.pk:
        raise ValidationError({"b": "choose two different model runs"})
    return a, b


Interval = inline_serializer(
    "ErrorAnalysisInterval",
    {"value": serializers.FloatField(), "ci_low": serializers.FloatField(), "ci_high": serializers.FloatField()},
)
SLICE_FIELDS = {
    "slice": serializers.CharField(),
    "n_items": serializers.IntegerField(),
    "share": serializers.FloatField(),
    "model_accuracy": serializers.FloatField(allow_null=True, help_text="null in detection and segments projects"),
    "map50": serializers.FloatField(
        allow_null=True, required=False, help_text="detection and segments projects: COCO mAP at IoU 0.5"
    ),
    "n_reference": serializers.IntegerField(required=False, help_text="detection and segments: reference shapes"),
    "n_predicted": serializers.IntegerField(required=False, help_text="detection and segments: the model's shapes"),
    "hlp": serializers.FloatField(allow_null=True),
    "gap_to_hlp": serializers.FloatField(allow_null=True),
    "weighted_gap": serializers.FloatField(allow_null=True),
    "intervals": serializers.DictField(child=Interval),
    "n_scored": serializers.IntegerField(),
    "n_unresolved": serializers.IntegerField(),
    "hlp_gold": serializers.FloatField(allow_null=True),
    "model_beats_hlp": serializers.BooleanField(),
    "review_url": serializers.CharField(allow_null=True),
}
CLASS_FIELDS = {
    "class": serializers.CharField(),
    "precision": serializers.FloatField(allow_null=True),
    "recall": serializers.FloatField(allow_null=True),
    "f1": serializers.FloatField(allow_null=True),
    "ap50": serializers.FloatField(allow_null=True, required=False, help_text="detection and segments: AP@0.5"),
    "support": serializers.IntegerField(),
    "hlp": serializers.FloatField(allow_null=True),
    "model_beats_hlp": serializers.BooleanField(),
}
HELD_OUT = inline_serializer(
    "ErrorAnalysisHeldOut",
    {
        "basis": ChoiceField(choices=["dataset_version", "named", "none"]),
        "n_left_out": serializers.IntegerField(),
        "n_train": serializers.IntegerField(),
        "n_not_named": serializers.IntegerField(),
        "warning": serializers.CharField(allow_null=True),
    },
)


class ErrorAnalysisApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("model_run", int, description="a model run of this project (default: the latest)"),
            OpenApiParameter(
                "fairness",
                str,
                description="comma-separated tags for the fairness view, or the parameter repeated (default all); "
                "a tag the project has not answers 400",
            ),
        ],
        responses={
            200: inline_serializer(
                "ErrorAnalysis",
                {
                    "kind": ChoiceField(choices=["classification", "transcription", "detection", "segments"]),
                    "metric": ChoiceField(choices=["accuracy", "map50"]),
                    "model_run": serializers.DictField(),
                    "n_predictions": serializers.IntegerField(),
                    "n_left_out": serializers.IntegerField(
                        help_text="predictions left out: on items the model trained on (the version's train "
                        "split), or, for a run without a version that names held-out items, not named"
                    ),
                    "held_out": HELD_OUT,
                    "n_items": serializers.IntegerField(help_text="predictions compared"),
                    "n_unresolved": serializers.IntegerField(),
                    "slices": inline_serializer("ErrorAnalysisSlice", SLICE_FIELDS, many=True),
                    "classes": inline_serializer("ErrorAnalysisClass", CLASS_FIELDS, many=True),
                    "confusion": serializers.DictField(allow_null=True),
                    "fairness": serializers.DictField(),
                },
            )
        },
        description="Only items the model did not train on are compared: a run with a dataset version leaves "
        "out the version's train split; a run without one compares the items it names held out, or all "
        'with a warning (`held_out.warning`). Per slice (tag, plus "all"): model accuracy against the '
        "resolved labels, HLP (human vs human pairwise agreement on the slice's items), gap, share and "
        "weighted gap, with 95 % seeded bootstrap intervals, sorted by weighted gap (largest first); per "
        "class precision, recall, F1 and the confusion matrix. Detection and segments projects: `map50` "
        "(COCO mAP at IoU 0.5 against the consensus shapes) per slice and `ap50` per class (precision, recall "
        "and F1 there count every shape sent, matched one to one at IoU 0.5 and of its class), HLP as the "
        "labelers' mAP@0.5 against the consensus of the others, and `labelers`. Reviewers and managers only.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        run = model_run_for(project=project, run_id=run_param(request.query_params, "model_run"))
        if run is None:
            raise Http404("This project has no model run yet: push predictions to /model-runs/ first.")
        fairness = parse_fairness(request.query_params, project)
        return Response(error_analysis_compute(project=project, model_run=run, fairness=fairness))


class ModelRunCompareApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("a", int, description="the old model run (default: the one before the latest)"),
            OpenApiParameter("b", int, description="the new model run (default: the latest)"),
        ],
        responses={
            200: inline_serializer(
                "ModelRunComparison",
                {
                    "n_common": serializers.IntegerField(),
                    "n_left_out": serializers.IntegerField(),
                    "warning": serializers.CharField(allow_null=True),
                },
            )
        },
        description="Shadow mode: two runs on the items both predicted and neither trained on (`n_left_out` "
        "counts the rest; see the error analysis) — accuracies (detection: mAP@0.5) against the resolved "
        "labels with a paired bootstrap interval of the difference (b − a), McNemar's exact test, which "
        "items switched, and each model's agreement with the human answers beside the humans' own.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        a, b = compare_runs_for(project=project, params=request.query_params)
        return Response(model_runs_compare(project=project, run_a=a, run_b=b))
