"""The labeling domain's data: projects, members, the data inventory, items, guidelines, answers, jobs.

Models hold fields, constraints and small derived properties; every write with a business rule lives
in ``labeling/services``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from .choices import (
    ROLE_RANK,
    JobKind,
    JobStatus,
    Modality,
    Role,
    SourceKind,
    SourceStatus,
    SourceUnit,
    TaskType,
)

class_key_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    "A class key is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.",
)


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    modality = models.CharField(max_length=16, choices=Modality.choices)
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.CLASSIFICATION)
    allow_borderline = models.BooleanField(default=False)
    allow_uncertain = models.BooleanField(default=False)
    allow_out_of_domain = models.BooleanField(default=False)
    overlap = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    active_guideline = models.ForeignKey(
        "Guideline", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    transcription_conventions = models.TextField(
        blank=True, help_text="Markdown shown beside the transcript box (fillers, tags, case)."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive")]

    def __str__(self):
        return self.name

    @property
    def options(self):
        return {
            "borderline": self.allow_borderline,
            "uncertain": self.allow_uncertain,
            "out_of_domain": self.allow_out_of_domain,
        }

    @property
    def is_binary(self):
        return self.task_type == TaskType.CLASSIFICATION and len(self.active_classes()) == 2

    def active_classes(self):
        return [c for c in self.classes.all() if not c.retired]


class LabelClass(models.Model):
    """One class of a classification project, in the project's order."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="classes")
    key = models.CharField(max_length=64, validators=[class_key_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    hotkey = models.CharField(max_length=1, blank=True)
    colour = models.CharField(max_length=7, blank=True, help_text="#rrggbb")
    order = models.PositiveIntegerField(default=0)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["project", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="class_key_unique_in_project")]

    def __str__(self):
        return f"{self.key} ({self.name})"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user__username"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self):
        return f"{self.user} as {self.role} in {self.project}"

    def has_role(self, role):
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class DataSource(models.Model):
    """An entry of the data inventory: where items come from, how many, at what cost and under which terms."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    planned_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    unit = models.CharField(max_length=10, choices=SourceUnit.choices, default=SourceUnit.ITEMS)
    total_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    turnaround_days = models.PositiveIntegerField(null=True, blank=True)
    quality_notes = models.TextField(blank=True)
    contains_personal_data = models.BooleanField(default=False)
    licence = models.TextField(blank=True, help_text="Licence or consent terms.")
    regulatory_notes = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=SourceStatus.choices, default=SourceStatus.IDEA)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="source_name_unique_in_project")]

    def __str__(self):
        return self.name

    @property
    def cost_per_unit(self):
        """Total cost divided by the planned amount, or None when nothing is planned."""
        if not self.planned_amount:
            return None
        return (Decimal(self.total_cost) / Decimal(self.planned_amount)).quantize(Decimal("0.0001"))


class Tag(models.Model):
    """A slice: a named subset of a project's items."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="tag_unique_in_project")]

    def __str__(self):
        return self.name


class Item(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    source = models.ForeignKey(DataSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    file = models.FileField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=300, blank=True)
    label = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="The label the item arrived with (manifest or folder)."
    )
    metadata = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="Input statistics computed at import.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="items")
    import_job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="item_content_unique_in_project")]

    def __str__(self):
        return self.original_name or f"item {self.pk}"


class Guideline(models.Model):
    """One published version of a project's labeling instructions (markdown)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="guideline_version_unique")]

    def __str__(self):
        return f"{self.project} guideline v{self.version}"


class Annotation(models.Model):
    """A labeler's current answer for an item. Earlier answers are kept in AnnotationRevision."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    value = models.TextField(blank=True, help_text="A class key, or a transcript.")
    borderline = models.BooleanField(default=False)
    borderline_with = models.CharField(
        max_length=64, blank=True, help_text="For multi-class projects: the other class of a borderline answer."
    )
    uncertain = models.BooleanField(default=False)
    out_of_domain = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    guideline = models.ForeignKey(Guideline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revision = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["item", "created"]
        constraints = [models.UniqueConstraint(fields=["item", "labeler"], name="one_current_answer")]
        indexes = [models.Index(fields=["labeler", "updated"])]

    def __str__(self):
        return f"{self.labeler} on {self.item_id}: {self.value}"


class AnnotationRevision(models.Model):
    """A superseded answer, kept so every change of mind stays auditable."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    value = models.TextField(blank=True)
    borderline = models.BooleanField(default=False)
    borderline_with = models.CharField(max_length=64, blank=True)
    uncertain = models.BooleanField(default=False)
    out_of_domain = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    guideline = models.ForeignKey(Guideline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    answered = models.DateTimeField()

    class Meta:
        ordering = ["annotation", "revision"]

    def __str__(self):
        return f"revision {self.revision} of annotation {self.annotation_id}"


class Job(models.Model):
    """A background task's state: the pages and the API poll it; the worker claims and updates it."""

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status})"
