"""Training jobs and model runs over REST.

A training job names a version, a trainer and parameters (managers start them; reviewers read). Model
runs are predictions sent back — by the built-in trainer, or by the team's own workers through
``POST /api/projects/{id}/model-runs/``.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.models import ModelRun
from analysis.selectors import model_run_for, model_runs_list, training_job_for, training_jobs_list
from analysis.services.training import model_run_create, training_job_retry, training_job_start
from labelhub.api import ChoiceField, KnownFieldsOnly, ModelSerializer
from labeling.api.versions import Conflict
from labeling.choices import Role, Trainer
from labeling.models import TrainingJob
from labeling.selectors import project_for_user, version_for
from labeling.services.jobs import JobNotRetryable


# A misspelt field is refused naming it: a dropped "trainr" or "parms" trained the default logistic
# regression with its default parameters (a worker's time, and a model run nobody asked for).
class TrainingJobInSerializer(KnownFieldsOnly, serializers.Serializer):
    version = serializers.CharField(help_text="a version number, or `latest`")
    trainer = ChoiceField(choices=Trainer.choices, default=Trainer.LOGISTIC_REGRESSION)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="logistic_regression: embedder, C, max_iter, class_weight, max_items; external: queue "
        "(default training-external) and anything the team's workers read",
    )


class TrainingJobSerializer(ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    job = serializers.IntegerField(source="job_id")
    status = serializers.SerializerMethodField()
    processed = serializers.IntegerField(source="job.processed", default=0)
    total = serializers.IntegerField(source="job.total", default=None)
    errors = serializers.JSONField(source="job.errors", default=list)
    model_run = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "version",
            "trainer",
            "params",
            "job",
            "status",
            "processed",
            "total",
            "errors",
            "metrics",
            "model_run",
            "created",
        ]

    def get_status(self, training) -> str:
        """The job's status; an external job that was sent out waits for predictions."""
        status_ = training.job.status if training.job_id else "failed"
        runs = list(training.model_runs.all())
        if training.trainer == Trainer.EXTERNAL and status_ == "succeeded" and not runs:
            return "waiting_for_predictions"
        return status_

    def get_model_run(self, training) -> int | None:
        runs = list(training.model_runs.all())
        return runs[0].pk if runs else None


# A misspelt field is refused naming it: a dropped "heldout" had error analysis compare every item.
class ModelRunInSerializer(KnownFieldsOnly, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    dataset_version = serializers.CharField(required=False, help_text="a version number or `latest`")
    training_job = serializers.IntegerField(required=False, help_text="the external training job this answers")
    # Validated by the service (one pass over possibly a million entries, with messages naming the entry).
    predictions = serializers.JSONField(
        help_text='[{"item", "label", "confidence"?, "split"?}], non-empty; detection and segments projects: '
        '[{"item", "boxes" | "segments": [{..., "label", "confidence"}], "split"?}]. "split" (train, dev, '
        "test, held_out) says whether the model trained on the item"
    )
    held_out = serializers.JSONField(
        required=False,
        help_text="ids of predicted items the model did not train on; without a dataset_version, error analysis "
        "compares only these (and those whose split is dev, test or held_out)",
    )


class ModelRunSerializer(ModelSerializer):
    dataset_version = serializers.IntegerField(source="dataset_version.number", default=None)
    training_job = serializers.IntegerField(source="training_job_id", default=None)

    class Meta:
        model = ModelRun
        fields = ["id", "name", "dataset_version", "training_job", "n_predictions", "metrics", "created"]


class TrainingJobListApi(GenericAPIView):
    serializer_class = TrainingJobSerializer

    @extend_schema(responses=TrainingJobSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(training_jobs_list(project=project))
        return self.get_paginated_response(TrainingJobSerializer(page, many=True).data)

    @extend_schema(
        request=TrainingJobInSerializer,
        responses={202: TrainingJobSerializer, 200: TrainingJobSerializer},
        description="Train on a version as a worker job: the built-in logistic regression, or an external "
        "trainer (sent to a Celery queue as task `labelhub.training.external`). While the same training "
        "(version, trainer, parameters) is still queued or running, that one is answered with 200 and "
        "none is started (a retried request never trains twice).",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = TrainingJobInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        version = _version_param(project, fields["version"], "version")
        training = training_job_start(
            project=project, version=version, trainer=fields["trainer"], params=fields["params"], user=request.user
        )
        repeated = getattr(training, "repeated", False)  # the same training still under way: not started twice
        training = training_job_for(project=project, training_id=training.pk)
        return Response(
            TrainingJobSerializer(training).data, status=status.HTTP_200_OK if repeated else status.HTTP_202_ACCEPTED
        )


def _version_param(project, ref, name):
    try:
        return version_for(project=project, ref=ref)
    except Http404 as exc:
        raise ValidationError({name: str(exc)}) from None


class TrainingJobDetailApi(GenericAPIView):
    serializer_class = TrainingJobSerializer

    def get(self, request, project_id, training_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(TrainingJobSerializer(training_job_for(project=project, training_id=training_id)).data)


class TrainingJobRetryApi(GenericAPIView):
    serializer_class = TrainingJobSerializer

    @extend_schema(request=None, responses={202: TrainingJobSerializer, 409: OpenApiResponse(description="running")})
    def post(self, request, project_id, training_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        training = training_job_for(project=project, training_id=training_id)
        try:
            training_job_retry(training=training)
        except JobNotRetryable as exc:
            raise Conflict(str(exc)) from None
        training = training_job_for(project=project, training_id=training_id)
        return Response(TrainingJobSerializer(training).data, status=status.HTTP_202_ACCEPTED)


class ModelRunListApi(GenericAPIView):
    serializer_class = ModelRunSerializer

    @extend_schema(responses=ModelRunSerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(model_runs_list(project=project))
        return self.get_paginated_response(ModelRunSerializer(page, many=True).data)

    @extend_schema(
        request=ModelRunInSerializer,
        responses={201: ModelRunSerializer, 200: ModelRunSerializer},
        description="Store a model's predictions. Every item must be this project's, every label a known "
        "class (any transcript for transcription projects), each item once; 400 names the offenders. "
        "Detection and segments projects send shapes as answers are written, each with a confidence in "
        "[0, 1]. With a dataset_version (or a training_job) metrics per split are computed against its "
        "labels, and error analysis leaves out the version's train split; without one it compares only the "
        'items named held out ("held_out", or "split" per prediction), or warns that it compares all. '
        "The same run sent again (name, version, training job and every prediction equal to a stored run's, "
        "as when a client retries a push whose answer it lost) stores nothing and answers that run with 200.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = ModelRunInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        version = None
        if "dataset_version" in fields:
            version = _version_param(project, fields["dataset_version"], "dataset_version")
        training = None
        if "training_job" in fields:
            training = TrainingJob.objects.filter(project=project, pk=fields["training_job"]).first()
            if training is None:
                raise ValidationError({"training_job": "no training job with that id in this project"})
        run = model_run_create(
            project=project,
            name=fields["name"],
            predictions=fields["predictions"],
            user=request.user,
            dataset_version=version,
            training_job=training,
            held_out=fields.get("held_out"),
        )
        repeated = getattr(run, "repeated", False)  # the same run pushed again: nothing stored twice
        return Response(
            ModelRunSerializer(run).data, status=status.HTTP_200_OK if repeated else status.HTTP_201_CREATED
        )


class ModelRunDetailApi(GenericAPIView):
    serializer_class = ModelRunSerializer

    def get(self, request, project_id, run_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(ModelRunSerializer(model_run_for(project=project, run_id=run_id)).data)
