from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.models import EmbeddingMap, MapPoint
from analysis.selectors import NO_SCORES_REASON, map_changes_since, map_clusters, map_has_scores
from analysis.services.embeddings import embeddings_push
from analysis.services.maps import map_create, map_embedder_choices
from labelhub.api import ChoiceField, KnownFieldsOnly, ModelSerializer, unknown_fields_error
from labelhub.negotiation import FormatParamNegotiation
from labeling.choices import Role
from labeling.selectors import project_for_user
from labeling.services.items import items_tag


class EmbeddingPushSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=100, help_text="a name for your vectors (not a built-in embedder's)")
    vectors = serializers.ListField(
        child=inline_serializer(
            "PushedVector",
            {"item": serializers.IntegerField(), "vector": serializers.ListField(child=serializers.FloatField())},
        ),
        help_text="up to 10,000 per request; every vector of a model has the same dimension",
    )


class EmbeddingPushApi(GenericAPIView):
    serializer_class = EmbeddingPushSerializer

    @extend_schema(
        request=EmbeddingPushSerializer,
        responses={
            201: inline_serializer(
                "PushedVectors", {"model": serializers.CharField(), "stored": serializers.IntegerField()}
            )
        },
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        # A field the service does not read was dropped without a word and the vectors stored without it.
        unknown = unknown_fields_error(request.data, list(EmbeddingPushSerializer._declared_fields))
        if unknown is not None:
            raise unknown
        data = request.data if isinstance(request.data, dict) else {}
        # Validated by the service, which names the entry at fault (a NaN, a wrong dimension, an unknown item).
        stored = embeddings_push(project=project, model=data.get("model"), vectors=data.get("vectors"))
        return Response({"model": data["model"], "stored": stored}, status=status.HTTP_201_CREATED)


# A misspelt field is refused naming it: a dropped "embeddr" queued a map of the default embedder.
class MapCreateSerializer(KnownFieldsOnly, serializers.Serializer):
    embedder = serializers.CharField(
        required=False,
        help_text="one of GET .../embedders/ (built-in, pretrained when installed, local model, or the model name "
        "of pushed vectors); left out, the project's default (the pretrained one when installed)",
    )
    group_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="a metadata key: items with the same value under it (the recording clips were cut from, the "
        "video frames were taken from) are never each other's neighbours in the label-issue analysis, so "
        "near-copies from one source do not vouch for each other's label; items without it stand alone",
    )


class EmbedderSerializer(serializers.Serializer):
    name = serializers.CharField()
    modality = serializers.CharField()
    kind = ChoiceField(choices=["built-in", "pretrained", "local", "pushed"])
    model = serializers.CharField(help_text="what the embedder runs ('' for built-in features)")
    dim = serializers.IntegerField(allow_null=True, help_text="vector dimension (null: known after a first run)")
    installed = serializers.BooleanField(help_text="false: a pretrained embedder whose models are not installed")
    default = serializers.BooleanField(help_text="the one a map takes when none is named")
    items_per_second = serializers.FloatField(
        allow_null=True, help_text="last measured on this installation (null before a first run)"
    )


class EmbedderListApi(GenericAPIView):
    serializer_class = EmbedderSerializer

    @extend_schema(
        responses=EmbedderSerializer(many=True),
        description="The embedders a map of the project can use here, paged as every list is (`count`, `next`, "
        "`previous`, `results`).",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(map_embedder_choices(project=project))
        return self.get_paginated_response(EmbedderSerializer(page, many=True).data)


class MapSummarySerializer(ModelSerializer):
    status = serializers.CharField(source="job.status", default=None)
    group_by = serializers.SerializerMethodField(help_text="the metadata key whose items were kept apart, or null")
    processed = serializers.IntegerField(source="job.processed", default=None)
    total = serializers.IntegerField(source="job.total", default=None)

    class Meta:
        model = EmbeddingMap
        fields = [
            "id",
            "embedder",
            "job",
            "status",
            "processed",
            "total",
            "created",
            "finished",
            "n_points",
            "classes",
            "summary",
            "group_by",
        ]

    @staticmethod
    def get_group_by(emap) -> str | None:
        return (emap.params or {}).get("group_by")


class MapListApi(GenericAPIView):
    serializer_class = MapSummarySerializer

    @extend_schema(responses=MapSummarySerializer(many=True))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(EmbeddingMap.objects.filter(project=project).select_related("job"))
        return self.get_paginated_response(MapSummarySerializer(page, many=True).data)

    @extend_schema(
        request=MapCreateSerializer,
        responses={
            202: inline_serializer("MapQueued", {"job": serializers.IntegerField(), "map": serializers.IntegerField()}),
            200: OpenApiResponse(description="a map of this embedder is still being computed: its job and map"),
        },
        description="Compute a map as a worker job. While a map of the same embedder is still queued or being "
        "computed, the request answers that map's job and map with 200 and starts none.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        data = MapCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        emap = map_create(
            project=project,
            embedder=data.validated_data.get("embedder"),
            user=request.user,
            group_by=data.validated_data.get("group_by"),
        )
        repeated = getattr(emap, "repeated", False)  # the same map still being computed: not started twice
        return Response(
            {"job": emap.job_id, "map": emap.pk}, status=status.HTTP_200_OK if repeated else status.HTTP_202_ACCEPTED
        )


def _map_for(project, map_id):
    emap = EmbeddingMap.objects.filter(project=project, pk=map_id).select_related("job").first()
    if emap is None:
        raise Http404("No map with that id in this project.")
    return emap


class MapDetailApi(GenericAPIView):
    serializer_class = MapSummarySerializer
    content_negotiation_class = FormatParamNegotiation  # ?format= shapes the points

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["rows", "columns"],
                description="points as a list of objects (default) or as parallel arrays",
            )
        ],
        responses=inline_serializer(
            "MapDetail",
            {
                "id": serializers.IntegerField(),
                "status": serializers.CharField(),
                "points": serializers.JSONField(),
                "clusters": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request, project_id, map_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        emap = _map_for(project, map_id)
        body = MapSummarySerializer(emap).data
        scored = map_has_scores(emap)
        names = ["item", "x", "y", "label", "suggested_label", "score", "flagged", "cluster"]
        if not scored:
            # A transcription map: each item's transcript agreement instead of label-issue scores,
            # which stay null (not 0: nothing was scored).
            names += ["wer", "agreement"]
        rows = MapPoint.objects.filter(map=emap).order_by("item_id").values_list(*names)
        # a classification map with too few labels or classes scored nothing either: its scores are null
        checked = scored and emap.summary.get("label_issues") is not False
        body["label_issues"] = checked
        if not checked:
            body["label_issues_reason"] = emap.summary.get("label_issues_reason") or NO_SCORES_REASON

        def value_of(name, value):
            if name == "score" and not checked:
                return None
            return round(value, 5) if name in ("x", "y", "score", "wer", "agreement") and value is not None else value

        shape = request.query_params.get("format") or "rows"
        if shape not in ("rows", "columns"):
            raise ValidationError({"format": f"unknown format '{shape}' (rows or columns)"})
        if shape == "columns":
            columns = {name: [] for name in names}
            for row in rows.iterator(chunk_size=10000):
                for name, value in zip(names, row, strict=True):
                    columns[name].append(value_of(name, value))
            body["points"] = columns
        else:
            body["points"] = [
                {name: value_of(name, value) for name, value in zip(names, row, strict=True)}
                for row in rows.iterator(chunk_size=10000)
            ]
        body["clusters"] = map_clusters(emap=emap, changed=map_changes_since(emap=emap)[0])
        return Response(body)


def _label_issues_map(project, raw):
    """The map label issues are read from: ``?map=`` when given (a map of this project that has
    finished), else the latest finished map. 400 for a malformed or unfinished one, 404 naming an id
    that is not one of this project's maps."""
    maps = EmbeddingMap.objects.filter(project=project)
    if raw in (None, ""):
        emap = maps.filter(finished__isnull=False).first()
        if emap is None:
            raise Http404("This project has no finished map yet: start one with POST /api/projects/{id}/maps/.")
        return emap
    try:
        map_id = int(raw)
    except ValueError:
        raise ValidationError({"map": f"map must be a map's id (a whole number), not '{raw}'"}) from None
    emap = maps.filter(pk=map_id).select_related("job").first()
    if emap is None:
        raise Http404(f"No map {map_id} in this project: GET /api/projects/{project.pk}/maps/ lists its maps.")
    if emap.finished is None:
        status = emap.job.status if emap.job else "unknown"
        raise ValidationError({"map": f"map {map_id} has not finished (its job is {status}): no scores yet"})
    return emap


class LabelIssuesApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="most suspicious items listed (default 1000)"),
            OpenApiParameter(
                "map",
                int,
                description="the map whose scores are read (default: the latest finished map); each map has "
                "its own embedder, so its own scores",
            ),
        ],
        responses=inline_serializer(
            "LabelIssues",
            {
                "map": serializers.IntegerField(),
                "embedder": serializers.CharField(),
                "label_issues": serializers.BooleanField(
                    help_text="false for a map that could not check labels: a transcription project's (no "
                    "label-issue scores), or a classification map with no labeled item, fewer than 10 or one class"
                ),
                "reason": serializers.CharField(required=False, help_text="why there are no scores"),
                "items": serializers.ListField(child=serializers.DictField()),
                "clusters": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        emap = _label_issues_map(project, request.query_params.get("map"))
        raw = request.query_params.get("limit") or "1000"
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            # 0 or a negative limit listed one item without a word
            raise ValidationError({"limit": f"'{raw}' is not a limit (a whole number from 1; above 100,000 is cut)"})
        limit = min(int(raw), 100_000)
        # a transcription map, or a classification map with too few labels or classes to check them
        if not map_has_scores(emap) or emap.summary.get("label_issues") is False:
            return Response(
                {
                    "map": emap.pk,
                    "embedder": emap.embedder,
                    "label_issues": False,
                    "reason": emap.summary.get("label_issues_reason") or NO_SCORES_REASON,
                    "items": [],
                    "clusters": [],
                }
            )
        flagged = MapPoint.objects.filter(map=emap, flagged=True).order_by("-score", "item_id")[:limit]
        items = [
            {
                "item": p.item_id,
                "given_label": p.label,
                "suggested_label": p.suggested_label,
                "score": p.score,
                "cluster": p.cluster,
            }
            for p in flagged
        ]
        return Response(
            {
                "map": emap.pk,
                "embedder": emap.embedder,
                "label_issues": True,
                "items": items,
                "clusters": map_clusters(emap=emap, changed=map_changes_since(emap=emap)[0]),
            }
        )


# A field the selection does not take ("untag", "only") was dropped and the items tagged all the same.
class SelectionSerializer(KnownFieldsOnly, serializers.Serializer):
    items = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=200_000)
    action = ChoiceField(choices=["tag"], help_text="tag: add the tag (a slice) to every item")
    tag = serializers.CharField(max_length=100)


class SelectionApi(GenericAPIView):
    serializer_class = SelectionSerializer

    @extend_schema(
        request=SelectionSerializer,
        responses={
            200: inline_serializer(
                "SelectionDone", {"tag": serializers.CharField(), "n_items": serializers.IntegerField()}
            )
        },
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        data = SelectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        n = items_tag(project=project, item_ids=data.validated_data["items"], tag=data.validated_data["tag"].strip())
        return Response({"tag": data.validated_data["tag"].strip(), "n_items": n})
