"""The label-consistency API: review queue, decisions, guidelines, taxonomy changes, conventions, campaigns."""

import difflib

from django.db import transaction
from django.db.models import Count
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from analysis.api.agreement import labelers_param, parse_report_params
from analysis.selectors import BORDERLINE, OUT_OF_DOMAIN, UNCERTAIN, review_queue
from analysis.services.consistency import conventions_preview_for, merge_suggestions_for, taxonomy_preview
from labelhub.api import ChoiceField, KnownFieldsOnly, ModelSerializer, unknown_fields_error
from labelhub.params import is_row_id, row_id
from labelhub.parsers import JSONParser
from labelhub.schema import PAGE_PARAMETERS, paged
from labeling.choices import SHAPE_TASKS, DecisionAction, Role, TaxonomyOp
from labeling.models import Annotation, ArchivedAnnotation, Campaign, Guideline, Item, TaxonomyChange
from labeling.selectors import (
    active_class_keys,
    answers_by_item,
    class_mapping,
    class_names,
    item_for_user,
    items_still_to_label,
    project_for_user,
)
from labeling.services.campaigns import (
    CampaignConflict,
    campaign_finish,
    campaign_items_for,
    campaign_progress,
    campaign_start,
)
from labeling.services.guidelines import guideline_publish, guideline_published_already
from labeling.services.jobs import project_lock
from labeling.services.review import (
    DecisionConflict,
    conventions_set,
    decision_record,
    guideline_example_add,
    guideline_examples_carry,
)
from labeling.services.taxonomy import taxonomy_apply, taxonomy_undo


def review_filters(project, params):
    given = {k: params.get(k) for k in ("tag", "guideline", "since")}
    filters, _ = parse_report_params(project, {**given, "labelers": labelers_param(params)})
    pair = None
    item_ids = None
    if params.get("items"):
        try:
            item_ids = {row_id(i) for i in params["items"].split(",") if i.strip()}
        except ValueError:
            raise ValidationError({"items": "items is a comma-separated list of item ids"}) from None
        if not item_ids:  # "items=," gave an empty queue
            raise ValidationError({"items": "items names no item: a comma-separated list of item ids"})
    if params.get("labeler"):
        # the items this labeler answered, judged by every answer on them: counting their answers alone
        # left one answer an item, no disagreement, and a good labeler's disputed items an empty queue.
        # Their answers a relabel campaign archived count too (until relabeled they weigh in what a
        # version ships): a removed labeler whose answers are all archived had an empty queue.
        filters_labeler, _ = parse_report_params(project, {"labelers": params["labeler"]})
        chosen = filters_labeler.labelers
        answered = set(
            Annotation.objects.filter(item__project=project, labeler_id__in=chosen).values_list("item_id", flat=True)
        ) | set(
            ArchivedAnnotation.objects.filter(item__project=project, labeler_id__in=chosen).values_list(
                "item_id", flat=True
            )
        )
        item_ids = answered if item_ids is None else item_ids & answered
    if params.get("classes"):
        pair = [p.strip() for p in params["classes"].split(",") if p.strip()]
        if len(pair) != 2:
            raise ValidationError({"classes": "a class pair is two classes: classes=a,b"})
        # a key merged or renamed away counts as the class it became, as answers do; an unknown key
        # was an empty queue without a word
        mapping = class_mapping(project=project)
        active = set(active_class_keys(project=project))
        known = active | {BORDERLINE, UNCERTAIN, OUT_OF_DOMAIN}
        names = class_names(project=project)
        given = pair
        pair = [mapping.get(key, key) for key in (_class_key(text, names, active) for text in pair)]
        for text, key in zip(given, pair, strict=True):
            if key not in known:
                listed = sorted(names.get(k, k) for k in active)  # by name, as the page reads them
                raise ValidationError(
                    {"classes": f"unknown class '{text}' (the project's classes: {', '.join(listed)})"}
                )
        if pair[0] == pair[1]:  # it listed every item where anybody said the class
            counted = f" ({' and '.join(given)} count as {names.get(pair[0], pair[0])})" if given[0] != given[1] else ""
            raise ValidationError({"classes": f"a class pair is two different classes{counted}"})
    return filters, pair, item_ids


def _class_key(text, names, active) -> str:
    """The class key a class pair's ``text`` names: a key as given, else a class's name as the pages read
    it ("four" for the key "4"; in any case when only one class has it, an active class before a retired
    one). ``names``: key → name, as ``labeling.selectors.class_names`` answers; ``active``: the active
    keys. Anything else is answered as given (and refused)."""
    if text in names:
        return text
    for fold in (str, str.casefold):
        keys = [key for key, name in names.items() if fold(name) == fold(text)]
        if len(keys) > 1:
            keys = [key for key in keys if key in active]
        if len(keys) == 1:
            return keys[0]
    return text


def iou_param(project, params, pair=None) -> float:
    """``iou`` (0 < iou ≤ 1, default 0.5): the IoU at which a detection / segments queue matches shapes
    (other queues refuse it). A class pair (``classes=a,b``) compares whole-item answers and so belongs to
    classification queues."""
    shaped = project.task_type in SHAPE_TASKS
    if pair and shaped:
        raise ValidationError({"classes": f"classes=a,b filters class answers; a {project.task_type} queue has none"})
    raw = params.get("iou")
    if raw in (None, ""):
        return 0.5
    if not shaped:  # read and ignored, where the agreement report of the project refuses it
        raise ValidationError({"iou": "the IoU threshold applies to detection and segments projects only"})
    try:
        iou = float(raw)
    except (TypeError, ValueError):
        iou = float("nan")
    if not 0 < iou <= 1:
        raise ValidationError({"iou": "iou is a number in (0, 1], e.g. 0.5"})
    return iou


def decided_param(params) -> bool:
    """``decided=true``: the queue also lists items an SME has decided (with their ``decision``)."""
    value = str(params.get("decided", "") or "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValidationError({"decided": "decided is true or false"})


def preview_param(request, *, answered=()) -> bool:
    """``?preview=1``: answer what a change would do and apply nothing. A value that is neither yes nor no
    is refused rather than read as "no", which would apply the change the client meant to preview
    (``preview=on``); so is such a ``preview`` in the body. A body's ``"preview": true`` (or a form's
    ``preview=1``) previews, as the query parameter does.

    ``answered``: the keys of the ``preview`` object the endpoint answers beside what it saved. A body's
    ``preview`` that is such an object (some of those keys, no other) is that answer sent back with the
    rest of it (a GET/PUT round trip with what the PUT returned): it asks for nothing, as ``updated`` does.
    """
    wanted = False
    in_body = request.data.get("preview", False) if isinstance(request.data, dict) else False
    if _answered_preview(in_body, answered):
        in_body = False
    for value in (request.query_params.get("preview", ""), in_body):
        if isinstance(value, bool):
            wanted = wanted or value
            continue
        value = str(value).strip().lower() if isinstance(value, str | int) else value
        if value not in ("", "0", "false", "no", "1", "true", "yes"):
            raise ValidationError({"preview": f"{value!r} is not yes or no (use preview=1 to apply nothing)"})
        wanted = wanted or value in ("1", "true", "yes")
    return wanted


def _answered_preview(value, answered) -> bool:
    return type(value) is dict and bool(value) and value.keys() <= set(answered)


# The keys of the agreement preview PUT .../conventions/ answers beside the rules it saved.
CONVENTIONS_PREVIEW_KEYS = (
    "answers",
    "answers_changed",
    "pairs",
    "pairs_disagreeing",
    "pairs_made_equal",
    "equal_pair_share_before",
    "equal_pair_share_after",
    "current",
    "examples",
)


LIKELIEST_ERRORS_MAX = 100_000


def likeliest_errors(project, filter):  # noqa: A002 - the API's word
    """A campaign filter with ``likeliest_errors: n``: the ids of the review queue's first n undecided
    items (likeliest to ship a wrong label first), within the filter's other fields when given."""
    n = filter.get("likeliest_errors")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= LIKELIEST_ERRORS_MAX:
        raise ValidationError({"filter": f"likeliest_errors is a number of items from 1 to {LIKELIEST_ERRORS_MAX:,}"})
    rest = {key: value for key, value in filter.items() if key != "likeliest_errors"}
    within = campaign_items_for(project=project, filter=rest) if rest else None
    rows = review_queue(project=project, item_ids=within)["rows"]
    return [row["item"] for row in rows[:n]]


class ReviewQueueApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("tag", str),
            OpenApiParameter("labeler", str, description="username: items this labeler answered"),
            OpenApiParameter(
                "labelers", str, description="comma-separated usernames or ids: only these labelers' answers count"
            ),
            OpenApiParameter("since", str, description="only answers given or changed since this date (YYYY-MM-DD)"),
            OpenApiParameter("guideline", int, description="answers given under this guideline version"),
            OpenApiParameter(
                "classes",
                str,
                description="a class pair a,b (keys, or the classes' names as the pages read them): items where "
                "one said a and another b (borderline, uncertain or out_of_domain as a key: an answer with that flag)",
            ),
            OpenApiParameter("items", str, description="comma-separated item ids: only these items"),
            OpenApiParameter("decided", bool, description="true: also items an SME decided, with their decision"),
            OpenApiParameter("iou", float, description="detection / segments: the IoU shapes match at (default 0.5)"),
            *PAGE_PARAMETERS,
        ],
        responses=paged(
            "ReviewQueue",
            {
                "counts": serializers.DictField(),
                "matched": serializers.IntegerField(
                    help_text="the items with answers under the filters, queued or not: 0 says the filters match "
                    "nothing (an unused tag, a labeler without answers there), where an empty queue of matched "
                    "items says nothing there needs review"
                ),
                "map": serializers.IntegerField(allow_null=True, help_text="the map whose scores were used"),
            },
        ),
        description="Items needing a decision (reviewers and managers), likeliest to ship a wrong label first: "
        "`item, reasons, p_wrong, shipped, disagreement, posterior, n_answers, answers` (and, decided, `decision`: "
        "the label, null for another action; `decision_action`: label, ambiguous_instructions, input_insufficient "
        "or relabel). "
        "Detection / segments projects: by shape disagreement (1 − the item's pairwise F1 at `iou`), with "
        "`f1`, `split_merge` and each answer's shapes as `value`.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        filters, pair, item_ids = review_filters(project, request.query_params)
        decided = decided_param(request.query_params)
        iou = iou_param(project, request.query_params, pair)
        queue = review_queue(
            project=project, filters=filters, class_pair=pair, item_ids=item_ids, include_decided=decided, iou=iou
        )
        page = self.paginate_queryset(queue["rows"])
        answers = answers_by_item(item_ids=[row["item"] for row in page], project=project)
        results = [{**row, "answers": answers.get(row["item"], [])} for row in page]
        response = self.get_paginated_response(results)
        response.data["counts"] = queue["counts"]
        response.data["matched"] = queue["n_matched"]
        response.data["map"] = queue["map"]
        return response


class DecisionSerializer(KnownFieldsOnly, serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, default="")
    borderline = serializers.BooleanField(required=False, default=False)
    uncertain = serializers.BooleanField(required=False, default=False)
    out_of_domain = serializers.BooleanField(required=False, default=False)
    gold = serializers.BooleanField(required=False, default=False)
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    action = ChoiceField(choices=DecisionAction.choices, required=False, default=DecisionAction.LABEL)
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text='Detection / segments projects: the final shapes as an answer\'s value, {"boxes": [...]} or '
        '{"segments": [...]} (an empty list: nothing here).',
    )
    accept = ChoiceField(
        choices=["consensus"],
        required=False,
        allow_null=True,
        default=None,
        help_text="Detection / segments projects: record the labelers' consensus (computed by the server) as final.",
    )
    supersedes = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the item's latest decision as you saw it (null: you saw none). When another reviewer "
        "has decided the item since, nothing is recorded and the answer is 409 with their decision as `decision`; "
        "send its id to record yours over it. Left out, the decision is recorded over whatever is there.",
    )


class DecisionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = ChoiceField(choices=DecisionAction.choices)
    label = serializers.CharField(allow_blank=True)
    borderline = serializers.BooleanField()
    uncertain = serializers.BooleanField()
    out_of_domain = serializers.BooleanField()
    gold = serializers.BooleanField()
    rationale = serializers.CharField(allow_blank=True)
    value = serializers.JSONField(allow_null=True, help_text="the final shapes (detection / segments), else null")
    reviewer = serializers.CharField(allow_null=True, help_text="null once the reviewer's account is gone")
    created = serializers.DateTimeField()


def decision_out(d) -> dict:
    """A decision as the API shows it."""
    return {
        "id": d.pk,
        "action": d.action,
        "label": d.label,
        "borderline": d.borderline,
        "uncertain": d.uncertain,
        "out_of_domain": d.out_of_domain,
        "gold": d.gold,
        "rationale": d.rationale,
        "value": d.shapes,
        "reviewer": d.reviewer.username if d.reviewer else None,
        "created": d.created,
    }


class DecisionApi(GenericAPIView):
    serializer_class = DecisionSerializer

    @extend_schema(
        request=DecisionSerializer,
        responses={
            201: inline_serializer(
                "DecisionDone", {"id": serializers.IntegerField(), "action": serializers.CharField()}
            ),
            200: OpenApiResponse(description="the same decision again, within minutes: the one recorded"),
            409: inline_serializer(
                "DecisionDecidedMeanwhile",
                {"detail": serializers.CharField(), "decision": DecisionOutSerializer()},
            ),
        },
        description="Record a decision (reviewers and managers). Classification and transcription: `label`; "
        'detection and segments: `value` (`{"boxes": [...]}` / `{"segments": [...]}`, checked as an answer is) '
        'or `"accept": "consensus"`; or an `action` with a `rationale`. With `supersedes` (the latest decision '
        "you saw, or null), a decision another reviewer recorded since answers 409 with it, recording nothing. "
        "The same decision sent again by its reviewer within 10 minutes (a retried request), while it is still "
        "the item's latest, records nothing and answers it with 200: its action (a question, a send-back) is "
        "not taken twice. "
        '`"action": "withdrawn"`'
        " with a `rationale` takes back the item's decision in force: "
        "the item is undecided again (back in the review queue, shipped as its answers resolve it); 400 when it "
        "has none.",
    )
    def post(self, request, item_id):
        item, _ = item_for_user(user=request.user, item_id=item_id, role=Role.REVIEWER)
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decision = decision_record(item=item, reviewer=request.user, **data.validated_data)
        except DecisionConflict as exc:  # another reviewer decided the item since this one looked
            detail = f"Nothing recorded: {exc}. Send supersedes: {exc.current.pk} to record your decision over it."
            return Response({"detail": detail, "decision": decision_out(exc.current)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "id": decision.pk,
                "item": item.pk,
                "action": decision.action,
                "label": decision.label,
                "gold": decision.gold,
                "value": decision.shapes,
            },
            # the same decision sent again (its answer lost) within minutes: the one recorded, nothing new
            status=status.HTTP_200_OK if getattr(decision, "repeated", False) else status.HTTP_201_CREATED,
        )

    @extend_schema(
        responses=DecisionOutSerializer(many=True),
        description="The item's decisions, newest first, paged as every list is (`count`, `next`, `previous`, "
        "`results`).",
    )
    def get(self, request, item_id):
        item, _ = item_for_user(user=request.user, item_id=item_id, role=Role.REVIEWER)
        rows = item.decisions.select_related("reviewer").order_by("-created", "-id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([decision_out(d) for d in page])


def _example_out(project, example):
    """A guideline example as the API shows it; detection / segments examples add their shapes as ``value``."""
    out = {"item": example.item_id, "label": example.label, "note": example.note}
    if project.task_type in SHAPE_TASKS:
        out["value"] = example.shapes
    return out


class GuidelineSerializer(ModelSerializer):
    author = serializers.CharField(source="author.username", default=None, read_only=True)
    active = serializers.SerializerMethodField()
    examples = serializers.SerializerMethodField()

    class Meta:
        model = Guideline
        fields = ["version", "text", "author", "created", "active", "examples"]
        read_only_fields = ["version", "created"]

    def get_active(self, guideline) -> bool:
        return guideline.project.active_guideline_id == guideline.pk

    def get_examples(self, guideline) -> list[dict]:
        hidden = self.context.get("hidden_examples", ())  # a labeler's items still to label
        return [_example_out(guideline.project, e) for e in guideline.examples.all() if e.item_id not in hidden]


class GuidelineListApi(GenericAPIView):
    serializer_class = GuidelineSerializer

    @extend_schema(responses=GuidelineSerializer(many=True))
    def get(self, request, project_id):
        project, membership = project_for_user(user=request.user, project_id=project_id)
        rows = project.guidelines.select_related("author", "project").prefetch_related("examples").order_by("-version")
        page = self.paginate_queryset(rows)
        hidden = items_still_to_label(
            project=project, membership=membership, item_ids=[e.item_id for g in page for e in g.examples.all()]
        )
        context = {**self.get_serializer_context(), "hidden_examples": hidden}
        return self.get_paginated_response(GuidelineSerializer(page, many=True, context=context).data)

    @extend_schema(
        request=inline_serializer(
            "GuidelinePublish",
            {
                "text": serializers.CharField(),
                "resolves": serializers.ListField(
                    child=serializers.IntegerField(),
                    required=False,
                    help_text="ids of the open questions from reviewers this version answers (a form: "
                    "resolves=3&resolves=5 or resolves=3,5)",
                ),
                "keep_examples": serializers.BooleanField(
                    required=False, default=True, help_text="carry the active version's examples over"
                ),
            },
        ),
        responses={201: GuidelineSerializer, 200: GuidelineSerializer},
        description="Publish the next version (reviewers and managers); labelers see a notice on their next item. "
        "`resolves` closes the reviewers' open questions (raised with 'instructions ambiguous') it answers. "
        "The active version's text published again by its author (closing no question it left open) publishes "
        "nothing and answers that version with 200.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        unknown = unknown_fields_error(request.data, ["text", "resolves", "keep_examples"])
        if unknown is not None:
            raise unknown  # a misspelt "resolves" left the questions open without a word
        text = request.data.get("text") if isinstance(request.data, dict) else None
        if not isinstance(text, str):
            raise ValidationError({"text": "the guideline's markdown text is required"})
        resolves = _resolves(request.data)
        keep_examples = _keep_examples(request.data)
        with transaction.atomic():
            # Under the project's row lock, and reading its active version as it stands there: two copies
            # of one request sent at once (a double click) each published a version when both looked first.
            project = project_lock(project.pk) or project
            same = guideline_published_already(project=project, text=text, author=request.user, resolves=resolves)
            if same is not None:  # the same request again (its answer lost): the version it published
                return Response(GuidelineSerializer(same).data, status=status.HTTP_200_OK)
            previous = project.active_guideline
            guideline = guideline_publish(project=project, text=text, author=request.user, resolves=resolves)
            if previous is not None and keep_examples:
                guideline_examples_carry(source=previous, guideline=guideline)
        return Response(GuidelineSerializer(guideline).data, status=status.HTTP_201_CREATED)


def _resolves(data) -> list[int]:
    """The ids of the open questions a published version closes: a JSON list of ids, or a form's
    ``resolves``, repeated (the guidelines page's form has a checkbox of that name per question) or
    comma-separated (``curl -d resolves=3,5``). A form's were refused as "a list of open question ids",
    which a form cannot send, and nothing was published."""
    if not hasattr(data, "getlist"):
        resolves = data.get("resolves") or []
        if not isinstance(resolves, list) or not all(type(n) is int for n in resolves):
            raise ValidationError({"resolves": "resolves is a list of open question ids"})
        return resolves
    values = [value.split(",") if isinstance(value, str) else [value] for value in data.getlist("resolves")]
    values = [value.strip() if isinstance(value, str) else value for parts in values for value in parts]
    values = [value for value in values if value != ""]
    bad = [str(value) for value in values if not is_row_id(value)]
    if bad:
        raise ValidationError(
            {
                "resolves": f"not an open question id: {', '.join(bad)} (a form sends the ids as "
                "resolves=3&resolves=5 or resolves=3,5)"
            }
        )
    return [int(value) for value in values]


def _keep_examples(data) -> bool:
    """``keep_examples`` (default yes): whether the new version carries the active one's examples. A form's
    ``keep_examples=false`` was the text "false", taken as yes, and so was any JSON value that was not
    false; now yes or no (true/false, 1/0, yes/no), anything else refused before anything is published."""
    value = data.get("keep_examples", True)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValidationError({"keep_examples": f"{value!r} is not yes or no (true or false)"})


def _guideline(project, version):
    guideline = project.guidelines.filter(version=version).first()
    if guideline is None:
        raise Http404(f"This project has no guideline version {version}.")
    return guideline


class GuidelineDiffApi(GenericAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("against", int, description="the version to compare with (default: the previous one)")
        ],
        responses=inline_serializer("GuidelineDiff", {"diff": serializers.CharField()}),
    )
    def get(self, request, project_id, version):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        new = _guideline(project, version)
        against = request.query_params.get("against")
        if against and not is_row_id(against):  # read as ids are ("١" was version 1)
            raise ValidationError({"against": "a version number"})
        old_version = int(against) if against else version - 1
        old = project.guidelines.filter(version=old_version).first()
        if against and old is None:  # compared with an empty text: the whole guideline read as added
            raise ValidationError({"against": f"this project has no guideline version {old_version}"})
        old_text = old.text if old else ""
        diff = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new.text.splitlines(keepends=True),
                fromfile=f"v{old_version}" if old else "(none)",
                tofile=f"v{version}",
            )
        )
        return Response({"from": old_version if old else None, "to": version, "diff": diff})


# What POST .../guidelines/{version}/examples/ takes, as a JSON object or a form.
EXAMPLE_FIELDS = ["item", "label", "note", "value"]


class GuidelineExampleApi(GenericAPIView):
    @extend_schema(
        request=inline_serializer(
            "ExampleIn",
            {
                "item": serializers.IntegerField(),
                "label": serializers.CharField(required=False, help_text="classification: a class key or 'borderline'"),
                "note": serializers.CharField(required=False),
                "value": serializers.JSONField(
                    required=False,
                    help_text="detection / segments: the shapes to draw, checked as an answer's; without it the "
                    "item's decided shapes, else its labelers' consensus",
                ),
            },
        ),
        responses={
            201: inline_serializer("ExampleOut", {"item": serializers.IntegerField(), "label": serializers.CharField()})
        },
    )
    def post(self, request, project_id, version):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        guideline = _guideline(project, version)
        # A misspelt "notes" stored the example without its note, a misspelt "valeu" drew the item's
        # consensus shapes instead of the ones sent, both over the example the item had.
        unknown = unknown_fields_error(request.data, EXAMPLE_FIELDS)
        if unknown is not None:
            raise unknown
        data = request.data if hasattr(request.data, "get") else {}  # a JSON body that is not an object
        item_id = data.get("item")
        item = None
        if isinstance(item_id, int | str) and not isinstance(item_id, bool) and str(item_id).isdigit():
            item = Item.objects.filter(project=project, pk=int(item_id)).first() if int(item_id) < 2**63 else None
        if item is None:
            raise ValidationError({"item": "not an item of this project"})
        for field in ("label", "note"):
            if not isinstance(data.get(field, ""), str):
                raise ValidationError({field: f"{field} is text"})
        example = guideline_example_add(
            guideline=guideline,
            item=item,
            label=data.get("label", ""),
            note=data.get("note", ""),
            shapes=data.get("value"),
        )
        return Response(_example_out(project, example), status=status.HTTP_201_CREATED)


def _change_out(change):
    return {
        "number": change.number,
        "op": change.op,
        "payload": change.payload,
        "reason": change.reason,
        "author": change.author.username if change.author else None,
        "created": change.created,
        "undone": change.undone,
        "undone_by": change.undone_by.username if change.undone_by else None,
    }


# The fields of each operation's body besides op and reason (labeling.services.taxonomy.taxonomy_validate).
TAXONOMY_FIELDS = {
    TaxonomyOp.MERGE: ("classes", "into", "name"),
    TaxonomyOp.RENAME: ("key", "new_key", "new_name"),
    TaxonomyOp.ADD: ("key", "name", "description", "hotkey"),
    TaxonomyOp.RETIRE: ("key",),
}


class TaxonomyChangeListApi(GenericAPIView):
    # JSON only, as the taxonomy page sends it: a form's fields came in as lists (op=add read as "['add']")
    # and a change's "classes" is a list a form cannot say plainly. A form is answered 415 saying so.
    parser_classes = [JSONParser]

    @extend_schema(parameters=PAGE_PARAMETERS, responses=paged("TaxonomyChanges"))
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        rows = project.taxonomy_changes.select_related("author", "undone_by").order_by("number")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([_change_out(c) for c in page])

    @extend_schema(
        parameters=[
            OpenApiParameter("preview", bool, description="answer the predicted agreement change; apply nothing")
        ],
        request=inline_serializer(
            "TaxonomyChangeIn",
            {
                "op": ChoiceField(choices=TaxonomyOp.choices),
                "classes": serializers.ListField(child=serializers.CharField(), required=False),
                "into": serializers.CharField(required=False),
                "key": serializers.CharField(required=False),
                "new_key": serializers.CharField(required=False),
                "new_name": serializers.CharField(required=False),
                "name": serializers.CharField(required=False),
                "description": serializers.CharField(required=False),
                "hotkey": serializers.CharField(required=False),
                "reason": serializers.CharField(required=False),
                "preview": serializers.BooleanField(required=False, help_text="as ?preview=1"),
            },
        ),
        responses={
            201: inline_serializer("TaxonomyChangeOut", {"number": serializers.IntegerField()}),
            200: inline_serializer("TaxonomyPreview", {"gain": serializers.FloatField()}),
        },
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        preview = preview_param(request)
        data = dict(request.data) if isinstance(request.data, dict) else {}
        data.pop("preview", None)
        op = data.pop("op", None)
        reason = data.pop("reason", "")
        if reason is None:
            reason = ""
        if not isinstance(reason, str):
            raise ValidationError({"reason": f"reason is text, not {type(reason).__name__}"})
        if op not in TaxonomyOp.values:
            raise ValidationError({"op": f"unknown operation '{op}' (one of {', '.join(TaxonomyOp.values)})"})
        # A misspelt field ("newname") was left out without a word, and the change applied without it.
        unknown = unknown_fields_error(data, ["op", *TAXONOMY_FIELDS[op], "reason", "preview"])
        if unknown is not None:
            raise unknown
        if preview:
            return Response(taxonomy_preview(project=project, op=op, payload=data))
        change = taxonomy_apply(project=project, op=op, payload=data, reason=reason, author=request.user)
        return Response(_change_out(change), status=status.HTTP_201_CREATED)


class TaxonomyUndoApi(GenericAPIView):
    @extend_schema(request=None, responses=inline_serializer("TaxonomyUndone", {"number": serializers.IntegerField()}))
    def post(self, request, project_id, number):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        change = TaxonomyChange.objects.filter(project=project, number=number).first()
        if change is None:
            raise Http404(f"This project has no taxonomy change #{number}.")
        return Response(_change_out(taxonomy_undo(change=change, user=request.user)))


class MergeSuggestionsApi(GenericAPIView):
    @extend_schema(
        responses=inline_serializer(
            "MergeSuggestions", {"suggestions": serializers.ListField(child=serializers.DictField())}
        ),
        description="Up to five class pairs labelers swap (at least two answer pairs), each with `classes`, "
        "`names`, `swaps`, `swap_share`, `agreement_before`, `agreement_after` and `gain` (what merging the "
        "two would give); only pairs a merge improves.",
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response({"suggestions": merge_suggestions_for(project=project)})


class ConventionsApi(GenericAPIView):
    # The rules are an object a form cannot carry: a form's PUT was refused "an object of convention fields
    # is required" with its other fields unread. JSON only, a 415 saying so, as taxonomy changes.
    parser_classes = [JSONParser]

    @extend_schema(
        responses=inline_serializer(
            "Conventions",
            {
                "rules": serializers.DictField(),
                "history": serializers.ListField(
                    child=serializers.DictField(), help_text="the conventions these replaced, oldest first"
                ),
            },
        )
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id)
        row = getattr(project, "conventions", None)
        return Response(
            {
                "rules": row.rules if row else {},
                "updated": row.updated if row else None,
                "history": row.history if row else [],
            }
        )

    @extend_schema(
        parameters=[OpenApiParameter("preview", bool, description="answer what would change; store nothing")],
        request=inline_serializer("ConventionsIn", {"rules": serializers.DictField()}),
        responses=inline_serializer("ConventionsOut", {"rules": serializers.DictField()}),
    )
    def put(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        # A field beside "rules" was dropped: a misspelt "rule" next to the rules as read saved those
        # unchanged with a 200. What GET answers ("updated" too) may be sent back as it was.
        unknown = unknown_fields_error(request.data, ["rules", "updated", "history", "preview"])
        if unknown is not None:
            raise unknown
        rules = request.data.get("rules") if isinstance(request.data, dict) else None
        if not isinstance(rules, dict):
            raise ValidationError({"rules": "an object of convention fields is required"})
        # The answer's "preview" (the agreement change it applied) may be sent back with the rest of it.
        wanted = preview_param(request, answered=CONVENTIONS_PREVIEW_KEYS)
        preview = conventions_preview_for(project=project, rules=rules)
        if wanted:
            return Response(preview)
        row = conventions_set(project=project, rules=rules, author=request.user)
        return Response({"rules": row.rules, "updated": row.updated, "preview": preview})


def _campaign_out(campaign, with_progress=False):
    out = {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "overlap": campaign.overlap,
        "guideline": campaign.guideline.version if campaign.guideline else None,
        "selection": campaign.selection,
        "created": campaign.created,
        "finished": campaign.finished,
        # the list annotates it (one query for the page); a single campaign counts its own
        "n_items": campaign.n_listed if hasattr(campaign, "n_listed") else campaign.items.count(),
    }
    if with_progress:
        out["progress"] = campaign_progress(campaign=campaign)
        out["items"] = list(campaign.items.order_by("pk").values_list("pk", flat=True))
    return out


class ObjectField(serializers.DictField):
    """A JSON object; a form or multipart field of that name (plain text) is refused instead of ignored."""

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist") and self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)


class CampaignInSerializer(KnownFieldsOnly, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    items = serializers.ListField(child=serializers.IntegerField(), required=False)
    filter = ObjectField(
        required=False,
        help_text="class, tag, labeler, disagreement (true: the answers differ), source, items or likeliest_errors; "
        "the fields narrow each other, and given with items the filter narrows them",
    )
    overlap = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=50)
    guideline = serializers.IntegerField(required=False, allow_null=True)


class CampaignListApi(GenericAPIView):
    serializer_class = CampaignInSerializer

    @extend_schema(
        operation_id="projects_campaigns_list",
        parameters=PAGE_PARAMETERS,
        responses=paged("Campaigns"),
    )
    def get(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        campaigns = project.campaigns.select_related("guideline").annotate(n_listed=Count("items")).order_by("-created")
        page = self.paginate_queryset(campaigns)
        return self.get_paginated_response([_campaign_out(c) for c in page])

    @extend_schema(
        request=CampaignInSerializer,
        responses={
            201: inline_serializer("CampaignOut", {"id": serializers.IntegerField()}),
            200: OpenApiResponse(description="the same request again: the active campaign it made"),
            409: OpenApiResponse(
                description="another campaign sent some of its items back while it was being started (named in "
                "`detail`, ids in `campaigns`): nothing started; sent again, it starts after that one"
            ),
        },
        description="Start a relabel campaign. The same request again (name, items or filter, overlap and "
        "guideline, by any reviewer) while the campaign it made is active answers that campaign with 200 "
        "and sends nothing back a second time, also when both arrive at once.",
    )
    def post(self, request, project_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        data = CampaignInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = data.validated_data.get("items")
        chosen = data.validated_data.get("filter")
        if items and chosen:
            # ids (a map selection, the review queue's) narrowed by the filter: the filter was dropped
            chosen = {**chosen, "items": _ids_within(items, chosen.get("items"))}
            items = None
        choose = None
        if items is None and isinstance(chosen, dict) and "likeliest_errors" in chosen:

            def choose():
                ids = likeliest_errors(project, chosen)
                if not ids:
                    raise ValidationError({"items": "the selection holds no items: a campaign needs at least one"})
                return ids

        # The same request sent again (its answer lost, a double click): the campaign it made, not a second.
        try:
            campaign, created = campaign_start(
                project=project,
                name=data.validated_data["name"],
                item_ids=items,
                filter=chosen,
                overlap=data.validated_data.get("overlap"),
                guideline=data.validated_data.get("guideline"),
                user=request.user,
                choose=choose,
            )
        except CampaignConflict as exc:  # another campaign took some of its items while it was being started
            return Response(
                {"detail": str(exc), "campaigns": [c.pk for c in exc.campaigns]}, status=status.HTTP_409_CONFLICT
            )
        return Response(
            _campaign_out(campaign, with_progress=True),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _ids_within(items, filter_items):
    """A campaign's ``items`` within its filter's ``items`` when it names some too (both narrow)."""
    if not isinstance(filter_items, list) or not filter_items:
        return items
    wanted = {str(i) for i in filter_items}
    return [i for i in items if str(i) in wanted]


def _campaign(project, campaign_id):
    campaign = Campaign.objects.filter(project=project, pk=campaign_id).select_related("guideline").first()
    if campaign is None:
        raise Http404("No campaign with that id in this project.")
    return campaign


class CampaignDetailApi(GenericAPIView):
    @extend_schema(
        responses=inline_serializer(
            "CampaignDetail", {"id": serializers.IntegerField(), "progress": serializers.DictField()}
        )
    )
    def get(self, request, project_id, campaign_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(_campaign_out(_campaign(project, campaign_id), with_progress=True))


class CampaignFinishApi(GenericAPIView):
    @extend_schema(request=None, responses=inline_serializer("CampaignFinished", {"id": serializers.IntegerField()}))
    def post(self, request, project_id, campaign_id):
        project, _ = project_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
        return Response(_campaign_out(campaign_finish(campaign=_campaign(project, campaign_id)), with_progress=True))
