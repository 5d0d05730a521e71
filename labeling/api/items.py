from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from labelhub.api import unknown_fields_error
from labelhub.http import stored_file_response
from labelhub.negotiation import FileNegotiation
from labelhub.parsers import FormParser, MultiPartParser
from labelhub.schema import ErrorSerializer
from labeling.api.serializers import (
    DeletionSerializer,
    ImportCreateSerializer,
    ImportReportSerializer,
    ItemDeleteSerializer,
    ItemDetailSerializer,
    ItemSerializer,
    ItemUploadSerializer,
    JobRefSerializer,
    LabelerItemSerializer,
)
from labeling.api.versions import Conflict
from labeling.choices import Role
from labeling.inputs import InputRejected
from labeling.selectors import import_job_for, item_for_user, items_list, project_for_user, source_check
from labeling.services.import_jobs import import_job_request, import_job_retry
from labeling.services.imports import _split_tags, items_import, uploaded_entries
from labeling.services.item_deletion import (
    REQUEST_ITEMS,
    REWRITE_IN_REQUEST,
    BuildUnderWay,
    VersionsHoldItems,
    deletion_preview,
    deletion_selection,
    items_delete,
    items_delete_start,
    purged_version_of,
    runs_as_job,
)
from labeling.services.version_purge import PurgeRewriteFailed
from labeling.services.versions import JobNotRetryable


def _source_and_tags(project, data):
    source = source_check(project=project, value=data["source"]) if data.get("source") else None
    try:
        tags = _split_tags(data.get("tags"))
    except InputRejected as exc:
        raise ValidationError({"tags": str(exc)}) from None
    return source, tags


def _refuse_unknown_fields(data, serializer_class, problems):
    """Refuse an upload whose form carries a field ``serializer_class`` does not declare (its file fields
    are among those declared; a page form's CSRF token passes), naming it with the other ``problems``
    found (a missing file), before anything is stored. A misspelt ``lable_from_folder`` or ``labler`` in
    ``curl -F`` was dropped without a word and the upload imported without what was asked."""
    unknown = unknown_fields_error(data, list(serializer_class().fields))
    if unknown is not None or problems:
        raise ValidationError({**problems, **(unknown.detail if unknown is not None else {})})


def _parse_bool(value, name):
    if value in (None, ""):
        return None
    lowered = str(value).lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValidationError({name: f"'{value}' is not true or false"})


class ItemListApi(GenericAPIView):
    serializer_class = ItemSerializer
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("tag", str),
            OpenApiParameter("source", str, description="source id or name"),
            OpenApiParameter("label", str, description="the label the item was imported with"),
            OpenApiParameter("annotated", bool),
            OpenApiParameter(
                "skipped",
                bool,
                description="true: items at least one labeler's skip holds on (a skip a relabel campaign archived "
                "no longer does); false: items none does",
            ),
        ],
        responses={
            200: ItemSerializer(many=True),
            403: OpenApiResponse(ErrorSerializer, description="labelers: items are listed for reviewers and managers"),
            404: OpenApiResponse(ErrorSerializer, description="not a project of yours"),
        },
        description="The project's items, filtered (reviewers and managers), each with `n_skips`: how many "
        "labelers' skips hold on it. Labelers get a 403 whatever the filters, so a tag filter never tells them "
        "which items carry a tag, nor a skipped filter which items others skipped.",
    )
    def get(self, request, project_id):
        # Reviewers only, checked before any filter is read (labeling.selectors.tags_visible_to).
        project, membership = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        items = items_list(
            project=project,
            tag=request.query_params.get("tag"),
            source=request.query_params.get("source"),
            label=request.query_params.get("label"),
            annotated=_parse_bool(request.query_params.get("annotated"), "annotated"),
            skipped=_parse_bool(request.query_params.get("skipped"), "skipped"),
        )
        page = self.paginate_queryset(items)
        context = {"request": request, "membership": membership}
        return self.get_paginated_response(ItemSerializer(page, many=True, context=context).data)

    @extend_schema(
        request={"multipart/form-data": ItemUploadSerializer},
        responses={201: ImportReportSerializer, 200: ImportReportSerializer},
        description="Upload files (field `files`, repeated). Answers a per-file report; one bad file never "
        "stops the good ones. 201 when at least one item was created, 200 otherwise.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        files = request.FILES.getlist("files")
        missing = {} if files else {"files": "no files were uploaded (use the multipart field 'files')"}
        _refuse_unknown_fields(request.data, ItemUploadSerializer, missing)
        source, tags = _source_and_tags(project, request.data)
        report = items_import(
            project=project, entries=uploaded_entries(project=project, files=files, tags=tags, source=source)
        )
        code = status.HTTP_201_CREATED if report.imported else status.HTTP_200_OK
        return Response(report.as_dict(), status=code)


class ImportCreateApi(GenericAPIView):
    serializer_class = ImportCreateSerializer
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer},
        responses={
            202: JobRefSerializer,
            200: OpenApiResponse(
                JobRefSerializer, description="the same upload and options again: your import still under way"
            ),
            400: ErrorSerializer,
        },
        description="Queue the import of a manifest or zip archive. With `format` (coco, yolo, label_studio, "
        "segments_csv, rttm, cvat, voc, huggingface, labels_csv) the upload carries existing labels: each "
        "annotator's labels become that person's answers (COCO, YOLO, CVAT, VOC, Hugging Face, segments CSV and "
        "RTTM: the user named by `labeler`; a labels CSV: each line's `labeler`, else that user); the job's result "
        "counts the answers created, revised and unchanged. A segments CSV, RTTM or labels CSV file with a bad line "
        "answers 400 naming each line and its problem, importing nothing. The same file (name "
        "and content) with the same options, sent again by the same user while the import it queued is queued or "
        "running (a retry after a timeout), answers that job with 200 and queues nothing.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        upload = request.FILES.get("file")
        missing = {} if upload is not None else {"file": "no file was uploaded (use the multipart field 'file')"}
        _refuse_unknown_fields(request.data, ImportCreateSerializer, missing)
        source, tags = _source_and_tags(project, request.data)
        label_from_folder = bool(_parse_bool(request.data.get("label_from_folder"), "label_from_folder"))
        job, started = import_job_request(
            project=project,
            user=request.user,
            upload=upload,
            tags=tags,
            source=source,
            label_from_folder=label_from_folder,
            fmt=str(request.data.get("format") or "").strip(),
            labeler=str(request.data.get("labeler") or ""),
            images_without_boxes=str(request.data.get("images_without_boxes") or ""),
        )
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK)


class ImportRetryApi(GenericAPIView):
    serializer_class = JobRefSerializer

    @extend_schema(
        request=None,
        responses={
            202: JobRefSerializer,
            409: OpenApiResponse(description="still running, succeeded, or its upload is gone"),
        },
        description="Queue a failed import again, or one whose worker died (running, without a heartbeat for "
        "LABELHUB_JOB_STALE_SECONDS). It resumes: items an earlier attempt stored are counted once, not "
        "imported twice nor reported as duplicates.",
    )
    def post(self, request, project_id, job_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        job = import_job_for(project=project, job_id=job_id)
        try:
            import_job_retry(job=job)
        except JobNotRetryable as exc:
            raise Conflict(str(exc)) from None
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)


def _deleted(*, project, item_ids, purge, user):
    """The items deleted in the request: 200 with the counts, or 409 naming the versions that hold some of
    them (``versions``) or the build under way; nothing deleted then."""
    try:
        return Response(items_delete(project=project, item_ids=item_ids, purge=purge, user=user))
    except VersionsHoldItems as exc:
        versions = [{"version": h["version"], "items": h["items"]} for h in exc.holding]
        return Response({"detail": str(exc), "versions": versions}, status=status.HTTP_409_CONFLICT)
    except BuildUnderWay as exc:
        raise Conflict(str(exc)) from None
    except PurgeRewriteFailed as exc:
        raise PurgeFailed(str(exc)) from None


class PurgeFailed(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A version's files could not be rewritten without the purged items; nothing was deleted."


DELETE_RESPONSES = {
    200: OpenApiResponse(DeletionSerializer, description="deleted (or, with preview, what would be)"),
    403: OpenApiResponse(ErrorSerializer, description="labelers and reviewers: deleting items is for managers"),
    404: OpenApiResponse(ErrorSerializer, description="not a project (item) of yours"),
    409: OpenApiResponse(
        ErrorSerializer,
        description="dataset versions hold some of the items (named in `versions`), or a version build is under "
        "way; nothing deleted",
    ),
    503: OpenApiResponse(
        ErrorSerializer,
        description="a purge could not rewrite a version's files (the media storage failed); nothing deleted, "
        "the versions' files as they were",
    ),
}


class ItemDeleteApi(GenericAPIView):
    serializer_class = ItemDeleteSerializer

    @extend_schema(
        request=ItemDeleteSerializer,
        responses={
            **DELETE_RESPONSES,
            202: OpenApiResponse(JobRefSerializer, description=f"over {REQUEST_ITEMS:,} items: a job deletes them"),
            400: ErrorSerializer,
        },
        description="Delete items with their answers (current, superseded, archived), skips, SME decisions, "
        "campaign links and stored files (managers). Give exactly one of `items` (ids; another project's id is "
        "refused naming it, nothing deleted), `filter` (as a relabel campaign's, plus `label`) or `import_job` (the "
        'items that import made: undo it). `"preview": true` answers what would go and changes nothing. Items a '
        'dataset version holds are refused (409, naming the versions) unless `"purge": true`: their rows are then '
        "removed from each version's files (manifests and raw answers rewritten; media archives, COCO, YOLO and "
        "RTTM removed), the versions record the purge, and those files answer 410. "
        f"Up to {REQUEST_ITEMS:,} items are deleted in the request (200 with the counts); more answer 202 with a "
        f"job, whose error names the versions that refused it, and so does a purge whose versions hold over "
        f"{REWRITE_IN_REQUEST:,} manifest rows between them (rewriting them takes longer than a request should).",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.MANAGER)
        serializer = ItemDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item_ids = deletion_selection(project=project, data=data)
        if data["preview"]:
            return Response(deletion_preview(project=project, item_ids=item_ids))
        if runs_as_job(project=project, item_ids=item_ids, purge=data["purge"]):  # over REQUEST_ITEMS among others
            job = items_delete_start(project=project, user=request.user, item_ids=item_ids, purge=data["purge"])
            return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
        return _deleted(project=project, item_ids=item_ids, purge=data["purge"], user=request.user)


class ItemDetailApi(GenericAPIView):
    serializer_class = ItemDetailSerializer

    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                "ItemView", serializers=[ItemDetailSerializer, LabelerItemSerializer], resource_type_field_name=None
            ),
            404: OpenApiResponse(ErrorSerializer, description="not an item of your projects"),
        },
        description="An item. Reviewers and managers get every field and who skipped it, why and when "
        "(`ItemDetail`: `skips`, a skip made before a relabel campaign sent the item back naming that campaign); "
        "labelers get `LabelerItem`: no imported label, metadata, file name, checksum, tags or skips.",
    )
    def get(self, request, item_id):
        item, membership = item_for_user(user=request.user, item_id=item_id)
        serializer = ItemDetailSerializer if membership.has_role(Role.REVIEWER) else LabelerItemSerializer
        return Response(serializer(item, context={"request": request, "membership": membership}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("preview", bool, description="say what would go; change nothing"),
            OpenApiParameter("purge", bool, description="delete it even if dataset versions hold it"),
        ],
        request=None,
        responses={
            **DELETE_RESPONSES,
            202: OpenApiResponse(JobRefSerializer, description="a purge of large versions: a job deletes it"),
        },
        description="Delete one item with its answers, decisions and stored file (managers); as "
        "`POST /api/projects/{id}/items/delete/` with `items: [id]` (a purge of versions holding over "
        f"{REWRITE_IN_REQUEST:,} manifest rows answers 202 with a job).",
    )
    def delete(self, request, item_id):
        item, _ = item_for_user(user=request.user, item_id=item_id, role=Role.MANAGER)
        preview = _parse_bool(request.query_params.get("preview"), "preview")
        purge = _parse_bool(request.query_params.get("purge"), "purge")
        if preview:
            return Response(deletion_preview(project=item.project, item_ids=[item.pk]))
        if runs_as_job(project=item.project, item_ids=[item.pk], purge=bool(purge)):
            job = items_delete_start(project=item.project, user=request.user, item_ids=[item.pk], purge=True)
            return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
        return _deleted(project=item.project, item_ids=[item.pk], purge=bool(purge), user=request.user)


def row_id_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class MediaGone(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The item's file is no longer in the media storage."


class ItemFileApi(GenericAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer, description="not an item of your projects, or a text item"),
            410: OpenApiResponse(
                ErrorSerializer,
                description="the item's file is no longer in the media storage, or the item was purged (a version "
                "names it)",
            ),
        },
        description="The item's file, with HTTP Range support. Its ETag is the item's SHA-256 in quotes: "
        "If-None-Match naming it answers 304 without the bytes.",
    )
    def get(self, request, item_id):
        try:
            item, _ = item_for_user(user=request.user, item_id=item_id)
        except Http404:
            purged = purged_version_of(user=request.user, item_id=row_id_or_none(item_id))
            if purged is None:
                raise
            version, purge = purged
            raise MediaGone(
                f"Item {item_id} was purged on {str(purge.get('at', ''))[:10]} (deleted for privacy or licence "
                f"reasons); version {version.number} held it, and its file is gone for good."
            ) from None
        if not item.file:
            raise Http404("This item has no file (it is a text item).")
        try:
            # the stored file is named by its SHA-256 and never rewritten: a client holding it gets a 304
            return stored_file_response(request, item.file.name, etag=item.sha256)
        except FileNotFoundError:  # the row is there, its bytes are not: a 500 said nothing of which
            raise MediaGone(
                f"The file of item {item.pk} ({item.original_name}) is no longer in the media storage "
                f"({item.file.name}); import it again or ask an administrator to restore it."
            ) from None
