"""Dataset versions over REST: build (202 + job), list, detail (``latest``), streamed manifest, downloads
with HTTP Range, diffs, and retrying a build whose worker died.

Reviewers and managers read; managers build. Labelers get 403, non-members 404.
"""

import re
import unicodedata

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labelhub.api import ChoiceField, ModelSerializer, body_as_lists
from labelhub.http import content_disposition, etag_matches, not_modified, stored_file_response
from labelhub.negotiation import FileNegotiation
from labelhub.schema import ErrorSerializer
from labeling.api.serializers import JobRefSerializer
from labeling.choices import ArtifactFormat, Role
from labeling.models import DatasetVersion, Job
from labeling.selectors import (
    listed_info,
    project_for_user,
    purged_on,
    version_build_for,
    version_builds,
    version_for,
    versions_list,
    with_purges_counted,
)
from labeling.services.exports import CONTENT_TYPES, FILENAMES
from labeling.services.recipes import SHAPE_FORMATS, formats_for, recipe_form_values
from labeling.services.versions import (
    DIFF_LIST_LIMIT,
    JobNotRetryable,
    artifact_for,
    stale_seconds,
    version_build_request,
    version_build_retry,
    version_diff,
    version_manifest_chunks,
)


class PurgedMedia(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This archive holds the files of purged items."


# The artifacts that hold copies of the items' files.
MEDIA_ARCHIVES = (ArtifactFormat.IMAGEFOLDER, ArtifactFormat.AUDIOFOLDER)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the resource's state."


# --- serializers ---------------------------------------------------------------------------------------


class RecipeFiltersSerializer(serializers.Serializer):
    sources = serializers.ListField(child=serializers.CharField(), required=False, help_text="source names or ids")
    tags = serializers.ListField(child=serializers.CharField(), required=False, help_text="items with any of them")
    exclude_tags = serializers.ListField(child=serializers.CharField(), required=False)
    created_from = serializers.CharField(required=False, help_text="YYYY-MM-DD or ISO date-time, inclusive")
    created_to = serializers.CharField(required=False, help_text="YYYY-MM-DD (the whole day) or ISO date-time")
    answered_to = serializers.CharField(required=False, help_text="only answers last changed up to then")
    guideline = serializers.IntegerField(required=False, help_text="only answers given under this version")


class RecipeSplitsSerializer(serializers.Serializer):
    train = serializers.FloatField(required=False, default=0.8)
    dev = serializers.FloatField(required=False, default=0.1)
    test = serializers.FloatField(required=False, default=0.1)
    salt = serializers.CharField(required=False, default="", help_text="changes every item's split when set")
    group_by = serializers.CharField(
        required=False,
        default="",
        max_length=100,
        help_text="a metadata key: items sharing a value under it (a recording, a video, a patient) share a split",
    )


class RecipeTranscriptsSerializer(serializers.Serializer):
    conventions = serializers.BooleanField(required=False, default=True)
    case = serializers.BooleanField(required=False, default=True)
    punctuation = serializers.BooleanField(required=False, default=True)
    whitespace = serializers.BooleanField(required=False, default=True)
    rules = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), required=False)


FLAG_HELP = "'exclude' (left out), 'class' (its own class), 'value' (the answer's class), or 'map:<class key>'"


class RecipeSerializer(serializers.Serializer):
    """The label-resolution policy (the request body itself). Every field is optional; ``{}`` builds with
    the defaults; unknown fields are refused. See ``labeling.services.recipes``."""

    use_decisions = serializers.BooleanField(required=False, default=True, help_text="SME decisions win")
    consensus = ChoiceField(choices=["majority", "dawid_skene"], required=False, default="majority")
    min_answers = serializers.IntegerField(required=False, default=1, help_text="counted answers needed")
    min_agreement = serializers.FloatField(required=False, default=0.5, help_text="share or posterior needed")
    unresolved = ChoiceField(choices=["exclude", "needs_review"], required=False, default="exclude")
    borderline = serializers.CharField(required=False, default="exclude", help_text=FLAG_HELP)
    uncertain = serializers.CharField(required=False, default="exclude", help_text=FLAG_HELP)
    out_of_domain = serializers.CharField(required=False, default="class", help_text=FLAG_HELP)
    class_map = serializers.DictField(child=serializers.CharField(), required=False, help_text="{old: new}")
    archived_weight = serializers.FloatField(
        required=False, default=0.4, help_text="weight of answers archived by relabel campaigns (0: ignored)"
    )
    transcripts = RecipeTranscriptsSerializer(required=False)
    filters = RecipeFiltersSerializer(required=False)
    splits = RecipeSplitsSerializer(required=False)
    formats = serializers.ListField(
        child=ChoiceField(choices=ArtifactFormat.values), required=False, help_text="default: all that fit"
    )


class ArtifactSerializer(serializers.Serializer):
    format = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes")
    sha256 = serializers.CharField()
    n_rows = serializers.IntegerField(help_text="items in the file")
    url = serializers.SerializerMethodField()

    def get_url(self, artifact) -> str:
        version = self.context["version"]
        return self.context["request"].build_absolute_uri(
            f"/api/projects/{version.project_id}/versions/{version.number}/download?format={artifact.format}"
        )


class VersionSerializer(ModelSerializer):
    parent = serializers.IntegerField(source="parent.number", default=None, read_only=True)
    job = serializers.IntegerField(source="job_id", read_only=True)
    artifacts = serializers.SerializerMethodField()
    manifest = serializers.SerializerMethodField()
    info = serializers.SerializerMethodField(help_text="build facts; its purges as in `purged` (no item ids)")
    purged = serializers.SerializerMethodField(
        help_text='items purged since it was built (privacy, licence), their rows removed from its files: [{"items": '
        'how many, "date", "at", "by", "rows": manifest rows removed, "rewritten": [formats], "removed": [formats]}]'
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "status",
            "content_hash",
            "counts",
            "policy",
            "created",
            "parent",
            "changes",
            "info",
            "job",
            "artifacts",
            "manifest",
            "purged",
        ]

    def get_purged(self, version) -> list[dict]:
        return purged_on(version)

    def get_info(self, version) -> dict:
        info = dict(listed_info(version) or {})
        if "purged" in info:  # the purged item ids stay out of the answer: a big purge made it huge
            info["purged"] = purged_on(version)
        return info

    def get_artifacts(self, version) -> list[dict]:
        context = {**self.context, "version": version}
        return ArtifactSerializer(version.artifacts.all(), many=True, context=context).data

    def get_manifest(self, version) -> str:
        return self.context["request"].build_absolute_uri(
            f"/api/projects/{version.project_id}/versions/{version.number}/manifest"
        )


class BuildSerializer(ModelSerializer):
    phase = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    retry_after = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "status",
            "phase",
            "processed",
            "total",
            "attempts",
            "errors",
            "version",
            "created",
            "started",
            "finished",
            "heartbeat",
            "retry_after",
        ]

    def get_phase(self, job) -> str:
        return (job.result or {}).get("phase", "")

    def get_version(self, job) -> int | None:
        return (job.result or {}).get("version")

    def get_retry_after(self, job) -> int:
        """Seconds without a heartbeat after which a running build may be retried."""
        return stale_seconds()


class DiffClassSerializer(serializers.Serializer):
    class_ = serializers.CharField()
    before = serializers.IntegerField()
    after = serializers.IntegerField()
    change = serializers.IntegerField()

    def get_fields(self):
        fields = super().get_fields()
        fields["class"] = fields.pop("class_")
        return fields


class DiffShapesSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="shapes with no match (same class, IoU ≥ 0.5) in the older version")
    removed = serializers.IntegerField(help_text="shapes of the older version with no match in this one")
    moved = serializers.IntegerField(help_text="matched shapes whose coordinates changed")
    relabeled = serializers.IntegerField(
        required=False,
        help_text="shapes in the same place (IoU ≥ 0.5) under another class: a class merged or renamed, another "
        "class chosen (absent from versions compared before it was counted)",
    )


class DiffSerializer(serializers.Serializer):
    from_ = serializers.IntegerField(help_text="the older version")
    to = serializers.IntegerField()
    added = serializers.ListField(child=serializers.DictField(), help_text='[{"item", "label"}]')
    removed = serializers.ListField(child=serializers.DictField(), help_text='[{"item", "label"}]')
    relabeled = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"item", "from", "to", "why"}]; why: "decision" (an SME decision ships in this version), '
        '"decision_gone" (one shipped in the other no longer does: withdrawn, or the recipe leaves decisions out), '
        '"taxonomy" (a class renamed or merged between the two builds, or such a change undone) or "answers" '
        "(the labelers' answers, or how the recipe resolves them, changed)",
    )
    n_added = serializers.IntegerField()
    n_removed = serializers.IntegerField()
    n_relabeled = serializers.IntegerField()
    why = serializers.DictField(
        child=serializers.IntegerField(), help_text='the relabeled items counted by why, e.g. {"taxonomy": 12}'
    )
    resplit = serializers.IntegerField(help_text="items present in both whose split changed")
    truncated = serializers.BooleanField(help_text="a list was cut at `limit` rows; the counts are complete")
    classes = DiffClassSerializer(
        many=True, required=False, help_text="per class: items (classification) or shapes (detection, segments)"
    )
    shapes = DiffShapesSerializer(required=False, help_text="detection and segments projects only")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


# --- views -----------------------------------------------------------------------------------------------

REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="a version number, or `latest`")


class VersionListApi(GenericAPIView):
    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer(many=True), description="Published versions, newest first.")
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(with_purges_counted(versions_list(project=project)))
        return self.get_paginated_response(VersionSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=RecipeSerializer,
        responses={202: JobRefSerializer, 200: JobRefSerializer},
        description="Build a new version with this recipe (the body; `{}` for the defaults) as a worker job. "
        "Poll `GET /api/jobs/{job}/`; the version appears in the list only once it is complete. While a build "
        "of the same recipe is still queued or running, the request answers that build's job with 200 and "
        "starts none (a retried request never builds twice).",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        recipe = request.data
        if hasattr(recipe, "getlist"):  # a form: its fields (its CSRF token left out), read as JSON carries them
            recipe = recipe_form_values(body_as_lists(recipe))
        job, started = version_build_request(project=project, user=request.user, recipe=recipe)
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK)


class VersionDetailApi(GenericAPIView):
    serializer_class = VersionSerializer

    @extend_schema(parameters=[REF], responses=VersionSerializer)
    def get(self, request, project_id, ref):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        version = version_for(project=project, ref=ref)
        return Response(VersionSerializer(version, context={"request": request}).data)


class VersionManifestApi(GenericAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        parameters=[REF],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
        description="The canonical manifest, streamed as JSON Lines: one item per line with item, sha256, "
        "label, split, agreement, n_annotations, answers, tags, source, file (and text for text projects), "
        "resolved_by, review. Its SHA-256 is the version's content_hash (X-Content-SHA256, and the ETag in "
        "quotes: If-None-Match answers 304).",
    )
    def get(self, request, project_id, ref):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        version = version_for(project=project, ref=ref)
        if etag_matches(request, version.content_hash):
            return not_modified(version.content_hash)
        response = StreamingHttpResponse(version_manifest_chunks(version=version), content_type=CONTENT_TYPES["jsonl"])
        response["Content-Disposition"] = content_disposition(f"{_stem(project, version)}.jsonl", attachment=False)
        response["X-Content-SHA256"] = version.content_hash
        response["ETag"] = f'"{version.content_hash}"'
        return response


def _moves(ref):
    """Whether ``ref`` may name another version tomorrow (``latest``): its answers are not to be reused
    from a cache without asking again (the ETag makes asking cheap)."""
    return not str(ref).strip().isdigit()


def export_stem(project):
    """The project's name as a file name stem: its letters and digits in any script (``Café``, ``Проект``,
    ``猫``), ``_ . -``, the rest as ``-``, at most 100 characters. Keeping only ASCII letters saved every
    Cyrillic, Arabic or CJK project's files as ``dataset-v1.csv`` and a ``Café`` project's as ``caf-v1.csv``."""
    name = unicodedata.normalize("NFC", project.name)
    return re.sub(r"[^\w.-]+", "-", name).strip("-.")[:100].strip("-.").lower() or "dataset"


def _stem(project, version):
    return f"{export_stem(project)}-v{version.number}"


class VersionDownloadApi(GenericAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        parameters=[
            REF,
            OpenApiParameter("format", str, enum=ArtifactFormat.values, required=True),
        ],
        # One content type per artifact format (the same bytes a 206 range answers a part of).
        responses={
            **{(200, media): OpenApiTypes.BINARY for media in sorted(set(CONTENT_TYPES.values()))},
            **{(206, media): OpenApiTypes.BINARY for media in sorted(set(CONTENT_TYPES.values()))},
            410: OpenApiResponse(
                ErrorSerializer,
                description="a file a purge removed (imagefolder, audiofolder, coco, yolo, rttm), or an archive "
                "holding the files of items purged before purges removed it",
            ),
        },
        description="An artifact, with HTTP Range support (resumable). `imagefolder` fits image classification "
        "projects, `audiofolder` audio classification and transcription projects, `coco` (COCO JSON) and `yolo` "
        "(zip of labels/<path>.txt, each image's path with its folders, and data.yaml) detection projects, "
        "`segments_csv` and `rttm` segments projects. `answers` (every project; versions built before it "
        "existed lack it) is the raw answers to the version's items, as JSON Lines in the form of "
        "`GET /api/projects/{id}/annotations/export`. The X-Content-SHA256 header holds the file's checksum, "
        "the ETag the same in quotes: If-None-Match answers 304, and a Range with an If-Range naming another "
        "file (`latest` moved on meanwhile) answers the whole new file.",
    )
    def get(self, request, project_id, ref):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        version = version_for(project=project, ref=ref)
        fmt = request.query_params.get("format", "")
        fitting = [*formats_for(project), "answers"]  # every build writes the raw answers beside the manifest
        if not fmt:
            raise ValidationError({"format": f"format is required: one of {', '.join(fitting)}"})
        if fmt not in ArtifactFormat.values:
            raise ValidationError({"format": f"unknown format '{fmt}' (one of {', '.join(ArtifactFormat.values)})"})
        if fmt not in fitting:
            what = project.task_type if project.task_type in SHAPE_FORMATS else project.modality
            raise ValidationError({"format": f"{fmt} does not fit this {what} project (formats: {', '.join(fitting)})"})
        purges = purged_on(version)
        removed = {f for p in purges for f in p["removed"]}
        if fmt in removed:
            n = sum(p["items"] for p in purges if fmt in p["removed"])
            raise PurgedMedia(
                f"version {version.number}'s {fmt} file was removed when {n} item{'s' if n != 1 else ''} "
                f"{'were' if n != 1 else 'was'} purged on {', '.join(sorted({p['date'] for p in purges}))} "
                f"({'it held copies of their files' if fmt in MEDIA_ARCHIVES else 'it named their files'}). The "
                "manifest (jsonl, csv, parquet) was rewritten without them; fetch the others' files from their file "
                "URLs, or build a new version for this format."
            )
        if purges and fmt in MEDIA_ARCHIVES and artifact_for(version=version, fmt=fmt) is not None:
            # a purge recorded before purges removed the archive: it still holds copies of their files
            n = sum(p["items"] for p in purges)
            raise PurgedMedia(
                f"version {version.number}'s {fmt} archive holds the files of {n} item{'s' if n != 1 else ''} purged "
                f"on {', '.join(sorted({p['date'] for p in purges}))}; it is no longer served. The manifest "
                "(jsonl, csv, parquet) still names every item; fetch the files of the others from their file URLs."
            )
        artifact = artifact_for(version=version, fmt=fmt)
        if artifact is None:
            built = ", ".join(a.format for a in version.artifacts.all())
            raise ValidationError({"format": f"version {version.number} was built without {fmt} (it has: {built})"})
        stem, extension = FILENAMES[fmt].rsplit(".", 1)  # "segments.csv": project-v3-segments.csv
        suffix = "" if extension == fmt else f"-{stem}"
        response = stored_file_response(
            request,
            artifact.name,
            filename=f"{_stem(project, version)}{suffix}.{extension}",
            content_type=CONTENT_TYPES[fmt],
            attachment=True,
            etag=artifact.sha256,
            max_age=0 if _moves(ref) else 3600,
        )
        response["X-Content-SHA256"] = artifact.sha256
        return response


class VersionDiffApi(GenericAPIView):
    serializer_class = DiffSerializer

    @extend_schema(
        parameters=[
            REF,
            OpenApiParameter("against", str, required=True, description="the other version: a number or `latest`"),
            OpenApiParameter("limit", int, description=f"rows per list (default {DIFF_LIST_LIMIT})"),
        ],
        responses=DiffSerializer,
        description="What changed from `against` to this version: added, removed and relabeled items (a null "
        "label is a 'needs review' row), and counts per class.",
    )
    def get(self, request, project_id, ref):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        version = version_for(project=project, ref=ref)
        against = request.query_params.get("against", "")
        if not against:
            raise ValidationError({"against": "against is required: the version to compare with (a number or latest)"})
        try:
            other = version_for(project=project, ref=against)
        except Http404 as exc:  # a 404 is for the path; a bad query parameter is a 400
            raise ValidationError({"against": str(exc)}) from None
        limit = request.query_params.get("limit", str(DIFF_LIST_LIMIT))
        if not limit.isdecimal() or not 0 <= int(limit) <= 1_000_000:
            raise ValidationError({"limit": "limit is a whole number from 0 to 1000000"})
        return Response(version_diff(version=version, against=other, limit=int(limit)))


class VersionBuildListApi(GenericAPIView):
    serializer_class = BuildSerializer

    @extend_schema(responses=BuildSerializer(many=True), description="Version builds (jobs), newest first.")
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        page = self.paginate_queryset(version_builds(project=project))
        return self.get_paginated_response(BuildSerializer(page, many=True).data)


class VersionBuildRetryApi(GenericAPIView):
    serializer_class = JobRefSerializer

    @extend_schema(
        request=None,
        responses={202: JobRefSerializer, 409: OpenApiResponse(description="still running, or succeeded")},
        description="Queue a failed build again, or one whose worker died (running, without a heartbeat for "
        "LABELHUB_JOB_STALE_SECONDS). An interrupted attempt never publishes.",
    )
    def post(self, request, project_id, job_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        job = version_build_for(project=project, job_id=job_id)
        try:
            version_build_retry(job=job)
        except JobNotRetryable as exc:
            raise Conflict(str(exc)) from None
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
