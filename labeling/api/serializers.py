"""Input and output serializers of the labeling API."""

import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelhub.api import ChoiceField, KnownFieldsOnly, ModelSerializer, NumberField, unknown_fields_error
from labeling.choices import Modality, Role, SourceKind, SourceStatus, SourceUnit, TaskType
from labeling.models import Annotation, DataSource, Invitation, Item, Job, LabelClass, Membership, Project, Skip
from labeling.selectors import skips_by_item, tags_visible_to
from labeling.services.shapes import shapes_value

# A class colour goes into style attributes and the map's legend: a hex colour, never other text.
COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")


class ClassSerializer(KnownFieldsOnly, ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["key", "name", "description", "hotkey", "colour", "retired"]
        read_only_fields = ["retired"]
        extra_kwargs = {"name": {"required": False}, "colour": {"required": False}}

    def validate_colour(self, value):
        if value and not COLOUR_RE.fullmatch(value):
            raise serializers.ValidationError("a class colour is #rrggbb (six hex digits), or empty")
        return value


class OptionsSerializer(KnownFieldsOnly, serializers.Serializer):
    borderline = serializers.BooleanField(required=False, default=False)
    uncertain = serializers.BooleanField(required=False, default=False)
    out_of_domain = serializers.BooleanField(required=False, default=False)


class ProjectOutSerializer(ModelSerializer):
    classes = ClassSerializer(many=True, read_only=True)
    options = OptionsSerializer(read_only=True)
    active_guideline = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "modality",
            "task_type",
            "classes",
            "options",
            "overlap",
            "active_guideline",
            "transcription_conventions",
            "role",
            "created",
            "archived",
        ]

    def get_active_guideline(self, project) -> int | None:
        return project.active_guideline.version if project.active_guideline_id else None

    def get_role(self, project) -> str | None:
        mine = getattr(project, "my_memberships", None)
        if mine is not None:
            return mine[0].role if mine else (Role.MANAGER if self.context["request"].user.is_superuser else None)
        membership = self.context.get("membership")
        return membership.role if membership else None


class ProjectCreateSerializer(KnownFieldsOnly, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    modality = ChoiceField(choices=Modality.choices)
    task_type = ChoiceField(choices=TaskType.choices, default=TaskType.CLASSIFICATION)
    classes = ClassSerializer(many=True, required=False, default=list)
    options = OptionsSerializer(required=False, default=dict)
    overlap = serializers.IntegerField(min_value=1, max_value=50, default=3)
    transcription_conventions = serializers.CharField(required=False, allow_blank=True, default="")
    guideline = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="markdown published as the guideline's version 1"
    )


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    options = OptionsSerializer(required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=50, required=False)
    transcription_conventions = serializers.CharField(required=False, allow_blank=True)


class MemberSerializer(ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role", "created"]
        read_only_fields = ["created"]


class MemberAddSerializer(KnownFieldsOnly, serializers.Serializer):
    username = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)
    email = serializers.EmailField(
        required=False, allow_blank=True, default="", help_text="instead of the username: the user's e-mail"
    )
    role = ChoiceField(choices=Role.choices)

    def validate(self, data):
        if not data["username"] and not data["email"]:
            raise serializers.ValidationError({"username": "give the username or the e-mail of the user to add"})
        return data


class InvitationSerializer(ModelSerializer):
    role = ChoiceField(choices=Role.choices)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None)
    state = serializers.SerializerMethodField(help_text="pending, accepted, withdrawn or expired")

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created", "expires", "state"]
        read_only_fields = ["id", "created", "expires"]

    def get_state(self, invitation) -> str:
        return invitation.state()


class InvitationCreatedSerializer(InvitationSerializer):
    link = serializers.CharField(read_only=True, help_text="the one-time link; shown in this answer only")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]


class MemberRoleSerializer(serializers.Serializer):
    role = ChoiceField(choices=Role.choices)


class SourceSerializer(KnownFieldsOnly, ModelSerializer):
    kind = ChoiceField(choices=SourceKind.choices)
    unit = ChoiceField(choices=SourceUnit.choices, default=SourceUnit.ITEMS)
    status = ChoiceField(choices=SourceStatus.choices, default=SourceStatus.IDEA)
    cost_per_unit = serializers.DecimalField(max_digits=18, decimal_places=4, read_only=True, allow_null=True)
    n_items = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = DataSource
        fields = [
            "id",
            "name",
            "kind",
            "planned_amount",
            "unit",
            "total_cost",
            "currency",
            "cost_per_unit",
            "turnaround_days",
            "quality_notes",
            "contains_personal_data",
            "licence",
            "regulatory_notes",
            "status",
            "n_items",
            "created",
        ]
        read_only_fields = ["id", "created"]
        # Uniqueness per project is checked by the model; the project comes from the URL.
        validators = []


class ItemSerializer(ModelSerializer):
    """An item as reviewers and managers see it. Context: ``request`` and the viewer's ``membership``."""

    tags = serializers.SerializerMethodField()
    file = serializers.SerializerMethodField()
    source = serializers.PrimaryKeyRelatedField(read_only=True)
    source_name = serializers.CharField(source="source.name", read_only=True, default=None)
    n_skips = serializers.SerializerMethodField(
        help_text="how many labelers' skips hold on the item (a skip a relabel campaign archived is not counted)"
    )

    class Meta:
        model = Item
        fields = [
            "id",
            "project",
            "source",
            "source_name",
            "tags",
            "text",
            "file",
            "sha256",
            "original_name",
            "label",
            "metadata",
            "stats",
            "created",
            "n_skips",
        ]

    def get_tags(self, item) -> list[str]:
        # Fails closed: without a membership allowed to see tags, none (labeling.selectors.tags_visible_to).
        if not tags_visible_to(membership=self.context.get("membership")):
            return []
        return sorted(t.name for t in item.tags.all())

    def get_n_skips(self, item) -> int:
        # annotated by labeling.selectors.items_list (one statement for the page); counted for a single item
        counted = getattr(item, "n_skips", None)
        return counted if counted is not None else item.skips.count()

    def get_file(self, item) -> str | None:
        if not item.file:
            return None
        return self.context["request"].build_absolute_uri(reverse("api:item-file", args=[item.pk]))


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ItemSkipRowSerializer(serializers.Serializer):
    labeler = serializers.CharField(help_text="username")
    reason = serializers.CharField()
    skipped = serializers.DateTimeField()
    campaign = CampaignRefSerializer(
        allow_null=True,
        help_text="null: the skip holds; else the relabel campaign (or reviewers' send-back) that sent the item "
        "back after it, offering it to the labeler again",
    )


class ItemDetailSerializer(ItemSerializer):
    """One item as reviewers and managers see it: ``Item`` and who skipped it, why and when, newest first
    (``labeling.selectors.skips_by_item``)."""

    skips = serializers.SerializerMethodField()

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "skips"]

    @extend_schema_field(ItemSkipRowSerializer(many=True))
    def get_skips(self, item):
        rows = [
            {
                **row,
                "campaign": None
                if row["campaign"] is None
                else {"id": row["campaign"].pk, "name": row["campaign"].name},
            }
            for row in skips_by_item(item_ids=[item.pk]).get(item.pk, [])
        ]
        return ItemSkipRowSerializer(rows, many=True).data


LABELER_HIDDEN_ITEM_FIELDS = ("label", "sha256", "metadata", "original_name", "tags", "n_skips")


class LabelerItemSerializer(ItemSerializer):
    """What a labeler may see of an item: nothing that could hint at an answer — no imported label, no
    metadata (a reference transcript lives there), no original file name ("cat_001.png"), no tags
    (reviewers' and managers' judgements: labeling.selectors.tags_visible_to), no count of other labelers'
    skips."""

    class Meta(ItemSerializer.Meta):
        fields = [f for f in ItemSerializer.Meta.fields if f not in LABELER_HIDDEN_ITEM_FIELDS]


class ImportReportSerializer(serializers.Serializer):
    imported = serializers.ListField(child=serializers.IntegerField())
    duplicates = serializers.ListField(child=serializers.DictField())
    rejected = serializers.ListField(child=serializers.DictField())


class ItemUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    source = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.CharField(required=False, allow_blank=True, help_text="comma-separated")


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="a manifest (JSONL or CSV) or a zip archive")
    source = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.CharField(required=False, allow_blank=True, help_text="comma-separated")
    label_from_folder = serializers.BooleanField(required=False, default=False)
    format = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="coco, yolo, label_studio, segments_csv, rttm, cvat, voc, huggingface or labels_csv: the file (or "
        "a zip holding it and its media) carries labels that become answers; empty for items only",
    )
    labeler = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="username whose answers a COCO, YOLO, CVAT, VOC or Hugging Face file's boxes (or CVAT tags), or "
        "a segments CSV or RTTM file's segments, become (created if missing); required for those formats; for a "
        "labels CSV, whose answers its lines without a labeler cell become",
    )
    images_without_boxes = ChoiceField(
        choices=["nothing_here", "unanswered"],
        required=False,
        default="nothing_here",
        help_text="what an image the file gives no box becomes, in a detection project: nothing_here (the "
        "labeler's answer of no boxes; the default) or unanswered (stored without an answer, for its labelers), "
        "for a CVAT, Label Studio or COCO export listing every image of a task, labeled or not",
    )


class JobRefSerializer(serializers.Serializer):
    job = serializers.IntegerField()


class ItemDeleteSerializer(KnownFieldsOnly, serializers.Serializer):
    """Which items to delete: exactly one of ``items``, ``filter`` or ``import_job``."""

    items = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="item ids")
    filter = serializers.DictField(
        required=False,
        help_text="as a campaign's: class, tag, labeler, disagreement, source, items; and label (the imported one)",
    )
    import_job = serializers.IntegerField(required=False, help_text="the items this import made (undo an import)")
    preview = serializers.BooleanField(required=False, default=False, help_text="say what would go; change nothing")
    purge = serializers.BooleanField(
        required=False,
        default=False,
        help_text="delete items that dataset versions hold (privacy, licence): their rows are removed from the "
        "versions' files and the versions record the purge",
    )


class DeletionCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    items = serializers.IntegerField(help_text="of the items, how many the campaign holds")


class DeletionGuidelineSerializer(serializers.Serializer):
    guideline = serializers.IntegerField(help_text="guideline version")
    examples = serializers.IntegerField(help_text="of its canonical examples, how many are among the items")


class DeletionVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="version number")
    items = serializers.IntegerField(help_text="of the items, how many its manifest holds")
    rewrite = serializers.ListField(
        child=serializers.CharField(), help_text="the formats a purge rewrites without the items' rows"
    )
    remove = serializers.ListField(
        child=serializers.CharField(),
        help_text="the formats a purge removes (media archives; COCO, YOLO, RTTM): their download then answers 410",
    )


class DeletionSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    answers = serializers.IntegerField(help_text="current answers")
    answer_revisions = serializers.IntegerField(help_text="superseded answers")
    archived_answers = serializers.IntegerField(help_text="answers archived by relabel campaigns")
    decisions = serializers.IntegerField(help_text="SME decisions")
    campaigns = DeletionCampaignSerializer(many=True)
    guideline_examples = DeletionGuidelineSerializer(
        many=True, help_text="guideline versions whose canonical examples go with the items"
    )
    versions = DeletionVersionSerializer(many=True)
    runs_as_job = serializers.BooleanField(required=False, help_text="preview: a deletion this size runs as a job")
    build_under_way = serializers.IntegerField(
        required=False, allow_null=True, help_text="preview: the job of a version build under way, which refuses it"
    )
    purged = serializers.BooleanField(
        required=False, help_text="deleted: versions held some of the items, and were rewritten without them"
    )


class JobSerializer(ModelSerializer):
    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "project",
            "processed",
            "total",
            "errors",
            "result",
            "attempts",
            "created",
            "started",
            "finished",
        ]


# --- Labeling -------------------------------------------------------------------------------------------


def _item_file_url(request, item):
    if not item.file:
        return None
    return request.build_absolute_uri(reverse("api:item-file", args=[item.pk]))


class QueueItemSerializer(serializers.Serializer):
    """The item the queue hands a labeler: only what is needed to label it. No imported label, no
    metadata, no file name, nothing about other answers."""

    id = serializers.IntegerField(source="item.pk")
    project = serializers.IntegerField(source="project_id")
    text = serializers.CharField(source="item.text")
    file = serializers.SerializerMethodField()
    duration = serializers.SerializerMethodField(
        help_text="segments projects: the clip's length in seconds as measured at import (segments end by it)"
    )
    reserved_until = serializers.DateTimeField(source="expires", help_text="the item is held for you until then")

    def get_file(self, reservation) -> str | None:
        return _item_file_url(self.context["request"], reservation.item)

    def get_duration(self, reservation) -> float | None:
        return item_duration(reservation.item, reservation.project)


def item_duration(item, project):
    """A segments project's clip's length in seconds as measured at import (what segments are checked
    against), else None. The labeling page bounds segments by it: a browser may decode the clip a little
    longer. (The queue loads items without their stats: reading them is one more query, in segments
    projects only.)"""
    if project.task_type != TaskType.SEGMENTS:
        return None
    duration = (item.stats or {}).get("duration")
    return float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else None


class AnswerValueField(serializers.CharField):
    """A class key or transcript (text), or a localized answer's object ``{"boxes": [...]}`` /
    ``{"segments": [...]}``, passed on as it is for ``annotation_validate`` to check against the
    project's task type. A list is passed on too: there it is refused saying what shape the project's
    answers take (shapes sent without their object, ``[{"x", ...}]``, are told ``{"boxes": [...]}``)."""

    def to_internal_value(self, data):
        if isinstance(data, dict | list):
            return data
        return super().to_internal_value(data)

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "object"}], "description": "a class key, a transcript, or shapes"}
)
class AnswerValueOutField(serializers.Field):
    """A stored answer's value: text, or for detection and segments projects the object of shapes."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, annotation):
        return answer_value(annotation)


def answer_value(annotation):
    """``annotation.value`` as the API shows it. Only a value that looks like an object loads the
    project's task type, so class keys and transcripts cost nothing more."""
    stored = annotation.value
    if not stored.startswith("{"):
        return stored
    return shapes_value(project=annotation.item.project, stored=stored)


class AnnotationSubmitSerializer(KnownFieldsOnly, serializers.Serializer):
    # A labeling script posting a form ("boderline=true") had the misspelt flag dropped, as JSON did before.
    value = AnswerValueField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text='a class key, a transcript, or (detection, segments) an object {"boxes": [...]} / '
        '{"segments": [...]}',
    )
    borderline = serializers.BooleanField(required=False, default=False)
    borderline_with = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="multi-class projects: the other class"
    )
    uncertain = serializers.BooleanField(required=False, default=False)
    out_of_domain = serializers.BooleanField(required=False, default=False)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    seconds = NumberField(required=False, allow_null=True, default=None, help_text="time on the item")
    guideline = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="the guideline version shown (default: the active one)"
    )


def annotation_submit_data(data) -> dict:
    """``AnnotationSubmitSerializer(data=data)``'s validated data, or the same ValidationError.

    A JSON object is checked field by field with the serializer's own (unbound) field instances, which
    hold no per-request state: the serializer's deep copy of its fields on every answer cost more than
    the checks. Anything else (form data, whose missing and empty fields have rules of their own) goes
    through the serializer. tests/labeling/test_labeling_api.py compares the two on many inputs.
    """
    if type(data) is not dict:
        serializer = AnnotationSubmitSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
    unknown = unknown_fields_error(data, list(AnnotationSubmitSerializer._declared_fields))
    if unknown is not None:
        raise unknown
    validated, errors = {}, {}
    for name, field in AnnotationSubmitSerializer._declared_fields.items():
        if name not in data:
            validated[name] = field.default  # every field is optional, with a plain default
            continue
        try:
            validated[name] = field.run_validation(data[name])
        except serializers.ValidationError as exc:
            errors[name] = exc.detail
    if errors:
        raise serializers.ValidationError(errors)
    return validated


class AnnotationSerializer(ModelSerializer):
    """One current answer. ``item_file``/``item_text``/``item_duration`` let a labeler's "recent answers"
    show and edit it."""

    labeler = serializers.CharField(source="labeler.username", read_only=True)
    guideline = serializers.IntegerField(source="guideline.version", read_only=True, default=None)
    item_file = serializers.SerializerMethodField()
    item_text = serializers.CharField(source="item.text", read_only=True)
    item_duration = serializers.SerializerMethodField()
    value = AnswerValueOutField()

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item",
            "labeler",
            "value",
            "borderline",
            "borderline_with",
            "uncertain",
            "out_of_domain",
            "comment",
            "seconds",
            "guideline",
            "revision",
            "created",
            "updated",
            "item_file",
            "item_text",
            "item_duration",
        ]

    def get_item_file(self, annotation) -> str | None:
        return _item_file_url(self.context["request"], annotation.item)

    def get_item_duration(self, annotation) -> float | None:
        return item_duration(annotation.item, annotation.item.project)


class AnnotationSubmitOutSerializer(serializers.Serializer):
    """The answer just stored: AnnotationSerializer's fields without the item's text and file (the
    caller has them). A plain Serializer: it runs on every answer, and a ModelSerializer rebuilds its
    fields from the model each time."""

    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    labeler = serializers.CharField(source="labeler.username")
    value = AnswerValueOutField()
    borderline = serializers.BooleanField()
    borderline_with = serializers.CharField()
    uncertain = serializers.BooleanField()
    out_of_domain = serializers.BooleanField()
    comment = serializers.CharField()
    seconds = serializers.FloatField(allow_null=True)
    guideline = serializers.IntegerField(source="guideline.version", default=None, allow_null=True)
    revision = serializers.IntegerField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    first_answer = serializers.BooleanField(
        default=None,
        allow_null=True,
        help_text="true when this request stored your first answer on the item; false when it revised your "
        "earlier answer or repeated it unchanged (every successful post answers 201)",
    )


# The labeling loop's two answers, built directly: instantiating a Serializer binds a deep copy of its
# fields each time, which costs more than the rest of the response. They must stay equal to what
# QueueItemSerializer and AnnotationSubmitOutSerializer (the documented schema) answer;
# tests/labeling/test_labeling_api.py compares them.
_datetime = serializers.DateTimeField()


def queue_item_data(request, reservation) -> dict:
    """``QueueItemSerializer(reservation, context={"request": request}).data``."""
    item = reservation.item
    return {
        "id": item.pk,
        "project": reservation.project_id,
        "text": item.text,
        "file": _item_file_url(request, item),
        "duration": item_duration(item, reservation.project),
        "reserved_until": _datetime.to_representation(reservation.expires),
    }


def annotation_submitted_data(annotation) -> dict:
    """``AnnotationSubmitOutSerializer(annotation).data``."""
    guideline = annotation.guideline
    return {
        "id": annotation.pk,
        "item": annotation.item_id,
        "labeler": annotation.labeler.username,
        "value": answer_value(annotation),
        "borderline": bool(annotation.borderline),
        "borderline_with": annotation.borderline_with,
        "uncertain": bool(annotation.uncertain),
        "out_of_domain": bool(annotation.out_of_domain),
        "comment": annotation.comment,
        "seconds": None if annotation.seconds is None else float(annotation.seconds),
        "guideline": None if guideline is None else guideline.version,
        "revision": annotation.revision,
        "created": _datetime.to_representation(annotation.created),
        "updated": _datetime.to_representation(annotation.updated),
        "first_answer": getattr(annotation, "first_answer", None),
    }


class SkipInSerializer(KnownFieldsOnly, serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="why the item is skipped")


class SkipSerializer(ModelSerializer):
    class Meta:
        model = Skip
        fields = ["item", "reason", "created"]


class ProgressMineSerializer(serializers.Serializer):
    today = serializers.IntegerField(help_text="first answers since local midnight")
    total = serializers.IntegerField()
    skipped = serializers.IntegerField()


class ProgressProjectSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    complete = serializers.IntegerField(help_text="items with at least k current answers")
    overlap = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    mine = ProgressMineSerializer()
    project = ProgressProjectSerializer()


class AnnotationSubmitNextSerializer(serializers.Serializer):
    """``?next=1``: the answer stored and the next item the queue reserved (null when none is left)."""

    annotation = AnnotationSubmitOutSerializer()
    next = QueueItemSerializer(allow_null=True)
