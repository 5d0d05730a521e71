"""Labeling API: the queue (next item), answers, skips, a labeler's progress and the answers list.

Blind labeling: nothing here shows a labeler other labelers' answers, per-class counts or consensus.
Labelers only ever see their own answers; reviewers and managers see everyone's.
"""

from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.settings import api_settings

from labelhub.api import PageOrCursorPagination
from labelhub.deadlocks import retry_deadlock_once
from labelhub.http import content_disposition
from labelhub.negotiation import FileNegotiation
from labelhub.params import parse_yes_no
from labelhub.renderers import JSONRenderer
from labeling.api.serializers import (
    AnnotationSerializer,
    AnnotationSubmitNextSerializer,
    AnnotationSubmitOutSerializer,
    AnnotationSubmitSerializer,
    ProgressSerializer,
    QueueItemSerializer,
    SkipInSerializer,
    SkipSerializer,
    annotation_submit_data,
    annotation_submitted_data,
    queue_item_data,
)
from labeling.api.versions import export_stem
from labeling.choices import Role
from labeling.selectors import (
    annotations_list,
    answer_export_batches,
    answerer_known,
    labeling_item_for,
    labeling_progress,
    labeling_project_for,
    project_answers,
    project_for_user,
)
from labeling.services.answer_exports import is_localized, parquet_tempfile, project_jsonl_chunks
from labeling.services.exports import CONTENT_TYPES
from labeling.services.queue import (
    ItemFull,
    annotation_submit,
    annotation_submit_and_next_locked,
    item_skip,
    queue_next,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the item's current state."
    default_code = "conflict"


# The labeling loop's two views render with orjson (labelhub.renderers): one response per answer.
LOOP_RENDERERS = [JSONRenderer, *api_settings.DEFAULT_RENDERER_CLASSES[1:]]


class QueueNextApi(GenericAPIView):
    serializer_class = QueueItemSerializer
    renderer_classes = LOOP_RENDERERS

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "item",
                int,
                description="the item you are shown: once your hold on it has lapsed, it is held for you again "
                "if it is still free for you (else the next item comes, as without it)",
            )
        ],
        responses={200: QueueItemSerializer, 204: OpenApiResponse(description="nothing is left for you")},
        description="Reserve and answer the next item for the calling labeler: fewer than k current answers, "
        "not answered nor skipped by you; relabel-campaign items first, then those closest to completion, "
        "then a stable random order. The item is held for you until `reserved_until`; asking again before "
        "answering gives the same item and extends the hold. After the hold lapsed, `?item=` with its id "
        "holds it again if no one took its slot meanwhile.",
    )
    def get(self, request, project_id):
        project, _ = labeling_project_for(user=request.user, project_id=project_id)
        keep = _int_param(request.query_params, "item")
        reservation = queue_next(project=project, labeler=request.user, keep=keep)
        if reservation is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(queue_item_data(request, reservation))


class AnnotationSubmitApi(GenericAPIView):
    serializer_class = AnnotationSubmitSerializer
    renderer_classes = LOOP_RENDERERS

    @extend_schema(
        request=AnnotationSubmitSerializer,
        parameters=[
            OpenApiParameter(
                "next",
                bool,
                description="also reserve and answer your next item in the project (the labeling loop in one "
                "round trip): the body becomes {annotation, next}, next null when nothing is left",
            )
        ],
        responses={
            201: PolymorphicProxySerializer(
                "AnnotationSubmitted",
                serializers=[AnnotationSubmitOutSerializer, AnnotationSubmitNextSerializer],
                resource_type_field_name=None,
            ),
            400: OpenApiResponse(description="invalid answer (unknown class, option not offered, too long)"),
            409: OpenApiResponse(description="the item already has its k answers and you hold no reservation"),
        },
        description="Answer an item (201). A second answer by the same labeler revises the first (201 too; the "
        "earlier one is kept as a revision), and the same answer sent again (a retried request) changes nothing "
        "and answers it as it is (201); `first_answer` tells a first answer from the others. A first answer "
        "needs a free slot or your reservation of the item. "
        "With ?next=1 the answer and the next reservation happen together.",
    )
    def post(self, request, item_id):
        with_next = request.query_params.get("next", "").lower() in ("1", "true", "yes")
        try:
            if with_next:
                annotation, created, reservation = _submit_and_next(request, item_id)
            else:
                item, _ = labeling_item_for(user=request.user, item_id=item_id)
                annotation, created = annotation_submit(item=item, labeler=request.user, **_submit_fields(request))
        except ItemFull as exc:
            raise Conflict(str(exc)) from None
        annotation.first_answer = created  # the status no longer tells a first answer from a revision
        body = annotation_submitted_data(annotation)
        if with_next:
            body = {"annotation": body, "next": queue_item_data(request, reservation) if reservation else None}
        # 201 for every stored answer, as the contract says: a first answer, a revision, the same answer again.
        return Response(body, status=status.HTTP_201_CREATED)


@retry_deadlock_once  # the answered item is locked first, then the one the labeler holds, if another
def _submit_and_next(request, item_id):
    # One transaction from the item's load on: the load locks the item's row (a member's only), which the
    # answer's slot check needs, so the answer has no locking statement.
    with transaction.atomic():
        item, _ = labeling_item_for(user=request.user, item_id=item_id, lock=True)
        return annotation_submit_and_next_locked(item=item, labeler=request.user, **_submit_fields(request))


def _submit_fields(request):
    fields = annotation_submit_data(request.data)
    fields["guideline_version"] = fields.pop("guideline")
    return fields


class ItemSkipApi(GenericAPIView):
    serializer_class = SkipInSerializer

    @extend_schema(request=SkipInSerializer, responses={201: SkipSerializer})
    def post(self, request, item_id):
        """Skip an item with a reason: it is never offered to you again (unless a relabel campaign or a
        reviewer sends it back: then it is, and the reason stays shown to reviewers) and your hold on it is
        released."""
        item, _ = labeling_item_for(user=request.user, item_id=item_id)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        skip = item_skip(item=item, labeler=request.user, reason=data.validated_data["reason"])
        return Response(SkipSerializer(skip).data, status=status.HTTP_201_CREATED)


class AnnotationListApi(GenericAPIView):
    serializer_class = AnnotationSerializer
    pagination_class = PageOrCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mine",
                bool,
                description="only your own answers (labelers always get only theirs); a value other than "
                "true/false/1/0/yes/no answers 400",
            ),
            OpenApiParameter(
                "labeler",
                str,
                description="username: only that labeler's answers (with mine, or for a labeler: your own if it "
                "names you, else none)",
            ),
            OpenApiParameter("item", int),
        ],
        responses=AnnotationSerializer(many=True),
        description="Current answers, newest change first (numbered pages, with `count`). Reviewers and "
        "managers see everyone's; labelers see only their own. With `cursor` (empty for the first page, then "
        "follow `next`) the pages are keyset pages in id order: a steady cost at any depth, no `count`, and a "
        "walk meets every answer that existed when it started exactly once, even while answers are added or "
        "revised.",
    )
    def get(self, request, project_id):
        project, membership = labeling_project_for(user=request.user, project_id=project_id)
        params = request.query_params
        try:
            mine = bool(parse_yes_no(params.get("mine")))
        except ValueError as exc:
            raise ValidationError({"mine": str(exc)}) from None
        username = params.get("labeler") or None
        item = _int_param(params, "item")
        if not membership.has_role(Role.REVIEWER):
            mine = True  # blind labeling: a labeler's list is always their own, whatever the parameters say
        elif username is not None and not answerer_known(project=project, username=username):
            # a misspelt name listed no answers, as if the labeler had given none
            raise ValidationError(
                {"labeler": f"'{username}' is neither a member of this project nor one who answered in it"}
            )
        if mine:
            annotations = annotations_list(project=project, labeler=request.user, item=item)
            if username is not None and username != request.user.username:
                # Filters narrow together: your own answers that are another labeler's are none (a labeler's
                # list under labeler=bob was their own, as if the filter were not there). Whoever the name
                # is, a labeler is answered the same empty list, which tells nothing of other members.
                annotations = annotations.none()
        else:
            annotations = annotations_list(project=project, username=username, item=item)
        page = self.paginate_queryset(annotations)
        return self.get_paginated_response(AnnotationSerializer(page, many=True, context={"request": request}).data)


EXPORT_FORMATS = ("jsonl", "parquet")


class AnnotationExportApi(GenericAPIView):
    content_negotiation_class = FileNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), required=True, description="jsonl or parquet")
        ],
        responses={
            (200, CONTENT_TYPES["jsonl"]): OpenApiTypes.STR,
            (200, CONTENT_TYPES["parquet"]): OpenApiTypes.BINARY,
        },
        description="Every current answer of the project (reviewers and managers), one row each, in id order: "
        "item, labeler, value, borderline, borderline_with (the second class of a borderline answer, '' when "
        "none), uncertain, out_of_domain, comment, seconds, guideline, created. "
        "JSON Lines is streamed as it is read; Parquet is written to a temporary file in row groups, then "
        "sent. Detection and segments answers give `value` as the shapes object (in Parquet: its JSON text). "
        "Values are as given, before any taxonomy change.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        fmt = request.query_params.get("format", "")
        if fmt not in EXPORT_FORMATS:
            problem = f"unknown format '{fmt}'" if fmt else "format is required"
            raise ValidationError({"format": f"{problem} (one of {', '.join(EXPORT_FORMATS)})"})
        filename = f"{export_stem(project)}-answers.{fmt}"
        if fmt == "jsonl":
            response = StreamingHttpResponse(project_jsonl_chunks(project), content_type=CONTENT_TYPES[fmt])
            response["Content-Disposition"] = content_disposition(filename)
            return response
        batches = answer_export_batches(answers=project_answers(project=project))
        handle = parquet_tempfile(batches, localized=is_localized(project))  # FileResponse closes it, deleting it
        response = FileResponse(handle, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = content_disposition(filename)
        return response


class ProgressApi(GenericAPIView):
    serializer_class = ProgressSerializer

    @extend_schema(responses=ProgressSerializer)
    def get(self, request, project_id):
        """Your progress in the project (today, total, skipped) and the project's (items with k answers)."""
        project, _ = labeling_project_for(user=request.user, project_id=project_id)
        return Response(ProgressSerializer(labeling_progress(project=project, labeler=request.user)).data)


def _int_param(params, name):
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValidationError({name: f"'{value}' is not a number"}) from None
    if not -(2**63) <= number < 2**63:  # no row has such an id, and the databases refuse to compare with one
        raise ValidationError({name: f"{name} is out of range"})
    return number
