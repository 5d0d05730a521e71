"""Input and output serializers of the labeling API."""

from django.urls import reverse
from rest_framework import serializers

from labeling.choices import Modality, Role, SourceKind, SourceStatus, SourceUnit, TaskType
from labeling.models import DataSource, Item, Job, LabelClass, Membership, Project


class ClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["key", "name", "description", "hotkey", "colour", "retired"]
        read_only_fields = ["retired"]
        extra_kwargs = {"name": {"required": False}, "colour": {"required": False}}


class OptionsSerializer(serializers.Serializer):
    borderline = serializers.BooleanField(required=False, default=False)
    uncertain = serializers.BooleanField(required=False, default=False)
    out_of_domain = serializers.BooleanField(required=False, default=False)


class ProjectOutSerializer(serializers.ModelSerializer):
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
        ]

    def get_active_guideline(self, project) -> int | None:
        return project.active_guideline.version if project.active_guideline_id else None

    def get_role(self, project) -> str | None:
        mine = getattr(project, "my_memberships", None)
        if mine is not None:
            return mine[0].role if mine else (Role.MANAGER if self.context["request"].user.is_superuser else None)
        membership = self.context.get("membership")
        return membership.role if membership else None


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    modality = serializers.ChoiceField(choices=Modality.choices)
    task_type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.CLASSIFICATION)
    classes = ClassSerializer(many=True, required=False, default=list)
    options = OptionsSerializer(required=False, default=dict)
    overlap = serializers.IntegerField(min_value=1, max_value=50, default=3)
    transcription_conventions = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    options = OptionsSerializer(required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=50, required=False)
    transcription_conventions = serializers.CharField(required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role", "created"]
        read_only_fields = ["created"]


class SourceSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    unit = serializers.ChoiceField(choices=SourceUnit.choices, default=SourceUnit.ITEMS)
    status = serializers.ChoiceField(choices=SourceStatus.choices, default=SourceStatus.IDEA)
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


class ItemSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    file = serializers.SerializerMethodField()
    source = serializers.PrimaryKeyRelatedField(read_only=True)
    source_name = serializers.CharField(source="source.name", read_only=True, default=None)

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
        ]

    def get_tags(self, item) -> list[str]:
        return sorted(t.name for t in item.tags.all())

    def get_file(self, item) -> str | None:
        if not item.file:
            return None
        return self.context["request"].build_absolute_uri(reverse("api:item-file", args=[item.pk]))


class LabelerItemSerializer(ItemSerializer):
    """What a labeler may see of an item: no imported label, nothing about other answers."""

    class Meta(ItemSerializer.Meta):
        fields = [f for f in ItemSerializer.Meta.fields if f not in ("label", "sha256")]


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


class JobRefSerializer(serializers.Serializer):
    job = serializers.IntegerField()


class JobSerializer(serializers.ModelSerializer):
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
