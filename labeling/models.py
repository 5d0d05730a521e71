"""The labeling domain's data: projects, members, the data inventory, items, guidelines, answers, jobs.

Models hold fields, constraints and small derived properties; every write with a business rule lives
in ``labeling/services``.
"""

import random
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import (
    ROLE_RANK,
    ArtifactFormat,
    CampaignStatus,
    DecisionAction,
    DeliveryStatus,
    JobKind,
    JobStatus,
    Modality,
    Role,
    SourceKind,
    SourceStatus,
    SourceUnit,
    TaskType,
    TaxonomyOp,
    Trainer,
    VersionStatus,
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
    archived = models.DateTimeField(
        null=True, blank=True, help_text="When a manager archived the project: then only its managers open it."
    )
    # Raised by every change of the project's classes (labeling.services.projects.classes_changed): the
    # version a web process's cache of the class keys is checked against, read with the project row
    # that every request loads anyway, so no process answers with keys another one changed.
    classes_version = models.PositiveIntegerField(default=0, editable=False)

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


class Invitation(models.Model):
    """An invitation to join a project with a role, for someone who has no account here yet.

    The link's token is stored only as its SHA-256 digest (a leaked database does not leak working links);
    an invitation is used once, expires, and can be withdrawn. See ``labeling.services.invitations``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.email} as {self.role} in {self.project}"

    def state(self, now=None) -> str:
        """``accepted``, ``withdrawn``, ``expired`` or ``pending``."""
        if self.accepted is not None:
            return "accepted"
        if self.revoked is not None:
            return "withdrawn"
        if self.expires <= (now or timezone.now()):
            return "expired"
        return "pending"


class DataSource(models.Model):
    """An entry of the data inventory: where items come from, how many, at what cost and under which terms."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    # a negative amount or cost made a negative cost per unit that the inventory totals and planning counted
    planned_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=10, choices=SourceUnit.choices, default=SourceUnit.ITEMS)
    total_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    # a three-letter code, stored upper-case (clean()) as the planning settings store theirs: "usd" read as
    # a currency of its own in the totals, and planning in USD left the source out of the data cost
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Za-z]{3}$", "must be a three-letter currency code such as USD")],
    )
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

    def clean(self):
        self.currency = (self.currency or "").upper()

    @property
    def cost_per_unit(self):
        """Total cost divided by the planned amount, or None when nothing is planned."""
        if not self.planned_amount:
            return None
        return (Decimal(self.total_cost) / Decimal(self.planned_amount)).quantize(Decimal("0.0001"))


class Tag(models.Model):
    """A slice: a named subset of a project's items. For reviewers and managers only: labelers never see
    a tag nor filter by one (the rule and its reasons: labeling.selectors.tags_visible_to)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="tag_unique_in_project")]

    def __str__(self):
        return self.name


def new_random_key():
    """A stable per-item random number: the queue's last ordering key (a fixed shuffle of the items).

    A field default, so it is set on every way items are created, bulk_create included.
    """
    return random.randrange(2**31 - 1)


def new_random_keys(n):
    """``n`` values of ``new_random_key`` at once, for rows written without the model (an import's COPY)."""
    return np.random.default_rng().integers(2**31 - 1, size=n).tolist()


class Item(models.Model):
    # Indexes on item rows are kept to those reads need: every imported row updates each of them (about
    # 0.08 s of database CPU per index and 100,000 rows). No index of project alone (the unique
    # constraint and item_queue_level begin with it), none of source on the rows without one, and the
    # label's is a plain one (no second, varchar_pattern_ops index for LIKE, which no query uses).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    source = models.ForeignKey(
        DataSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="items", db_index=False
    )
    file = models.FileField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=300, blank=True)
    label = models.CharField(
        max_length=64, blank=True, help_text="The label the item arrived with (manifest or folder)."
    )
    metadata = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="Input statistics computed at import.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="items")
    # A loose reference, kept by Django (SET_NULL) rather than a database constraint: checking it would
    # cost every imported row a lookup in the job table at commit.
    import_job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # The labeling queue's fields (labeling/services/queue.py). ``n_answers`` counts the item's current
    # annotations; it is kept in the same transaction as every new answer (annotation_save).
    n_answers = models.PositiveIntegerField(default=0)
    priority = models.PositiveSmallIntegerField(
        default=0, help_text="Higher comes first in the labeling queue; an active relabel campaign raises it."
    )
    random_key = models.IntegerField(default=new_random_key, help_text="Stable random order within a queue level.")
    overlap = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Answers this item needs, when a relabel campaign sets its own overlap."
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="item_content_unique_in_project")]
        indexes = [
            # The queue reads "project p, fewer than k answers, normal priority" backwards (most answers,
            # then highest random key); progress counts ranges of n_answers.
            models.Index(fields=["project", "n_answers", "priority", "random_key"], name="item_queue_level"),
            # Campaign items (raised priority, or an overlap of their own) are few: a partial index
            # keeps them out of the way of everything else.
            models.Index(
                fields=["project", "priority", "n_answers", "random_key"],
                name="item_queue_priority",
                condition=Q(priority__gt=0) | Q(overlap__isnull=False),
            ),
            # The names the indexes of ``db_index=True`` had, so that none is rebuilt (migration 0015).
            models.Index(fields=["label"], name="labeling_item_label_fd4cee4a"),
            models.Index(fields=["source"], name="item_source", condition=Q(source__isnull=False)),
        ]

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


class AnswerFlags(models.Model):
    """The marks every answer-shaped row carries beside its label: labelers' answers (current, superseded,
    archived) and reviewers' decisions alike."""

    borderline = models.BooleanField(default=False)
    uncertain = models.BooleanField(default=False)
    out_of_domain = models.BooleanField(default=False)

    class Meta:
        abstract = True


class AnswerFields(AnswerFlags):
    """A labeler's answer as stored: Annotation (current), AnnotationRevision (superseded) and
    ArchivedAnnotation (taken out of play by a campaign) hold the same fields, so one is copied into
    another field by field."""

    value = models.TextField(blank=True)
    borderline_with = models.CharField(max_length=64, blank=True)
    comment = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    guideline = models.ForeignKey("Guideline", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True


class Annotation(AnswerFields):
    """A labeler's current answer for an item. Earlier answers are kept in AnnotationRevision."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    # PROTECT: an account that answered is deactivated, never deleted; deleting it took its answers (and
    # their revisions) away, and with them the labels later versions ship and the agreement history.
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    value = models.TextField(blank=True, help_text="A class key, or a transcript.")
    borderline_with = models.CharField(
        max_length=64, blank=True, help_text="For multi-class projects: the other class of a borderline answer."
    )
    revision = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["item", "created"]
        constraints = [models.UniqueConstraint(fields=["item", "labeler"], name="one_current_answer")]
        indexes = [models.Index(fields=["labeler", "updated"])]

    def __str__(self):
        return f"{self.labeler} on {self.item_id}: {self.value}"


class Reservation(models.Model):
    """The item the labeling queue handed a labeler in a project, held for them until ``expires``.

    One row per labeler and project: a labeler holds at most one item of a project at a time, and the
    row is reused from item to item. ``item`` is empty once the answer or the skip released it. An
    active reservation (``item`` set, ``expires`` in the future) takes one of the item's k slots.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations")
    expires = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["labeler", "project"], name="one_reservation_per_project")]
        indexes = [models.Index(fields=["item", "expires"], name="reservation_item_expires")]

    def __str__(self):
        return f"{self.labeler} holds {self.item_id} until {self.expires:%H:%M:%S}"


class Skip(models.Model):
    """A labeler passed on an item, with a reason; the queue never offers it to them again, until a relabel
    campaign (or a reviewer's send-back) sends the item back: the skip then moves to ArchivedSkip."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="skips")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    reason = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["item", "labeler"], name="one_skip_per_labeler")]

    def __str__(self):
        return f"{self.labeler} skipped {self.item_id}: {self.reason}"


class AnnotationRevision(AnswerFields):
    """A superseded answer, kept so every change of mind stays auditable."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
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
    heartbeat = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running it (jobs that report one)."
    )
    queued = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its task was last sent to the broker; a job queued far longer lost its message.",
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status})"


# --- Dataset versions and webhooks (labeling/services), training jobs (analysis/services/training.py) -------


class DatasetVersion(models.Model):
    """An immutable, published dataset: the manifest and artifacts one recipe made from the project's data.

    Rows are created by the build's publish step only, in the same transaction as their artifacts, so a
    version that exists is complete. ``number`` counts 1, 2, 3... per project; ``content_hash`` is the
    SHA-256 of the canonical manifest (the JSON Lines artifact).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=VersionStatus.choices, default=VersionStatus.READY)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy = models.JSONField(default=dict, help_text="The recipe with every default filled in.")
    content_hash = models.CharField(max_length=64)
    counts = models.JSONField(default=dict, blank=True)
    info = models.JSONField(default=dict, blank=True, help_text="Build facts: taxonomy in force, timings.")
    changes = models.JSONField(default=dict, blank=True, help_text="Summary of the diff against the parent.")
    storage_prefix = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="version_number_unique")]

    def __str__(self):
        return f"{self.project} v{self.number}"


class VersionArtifact(models.Model):
    """One file of a version in storage, with its size and SHA-256 checksum."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="artifacts")
    format = models.CharField(max_length=12, choices=ArtifactFormat.choices)
    name = models.CharField(max_length=300, help_text="Storage name.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    n_rows = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "format"]
        constraints = [models.UniqueConstraint(fields=["version", "format"], name="one_artifact_per_format")]

    def __str__(self):
        return f"{self.version} {self.format}"


class Webhook(models.Model):
    """A URL told (HMAC-SHA256 signed with ``secret``) when something happens in the project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64)
    events = models.JSONField(default=list, help_text='Events sent, e.g. ["version.ready"].')
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event sent to one webhook: the payload, every attempt's outcome, and the final status."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The status code and a fixed summary in ``error``: never the receiver's body (it could be anything
    # a manager pointed the URL at).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_attempt = models.DateTimeField(null=True, blank=True)
    next_attempt = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.event} to {self.webhook} ({self.status})"


class TrainingJob(models.Model):
    """A training run on one dataset version: a trainer, its parameters, and the metrics it reported.

    Progress and status live in ``job``; the predictions come back as an ``analysis.ModelRun``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_jobs")
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="training_jobs")
    trainer = models.CharField(max_length=32, choices=Trainer.choices)
    params = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.trainer} on {self.version}"


# --- label consistency: review, guidelines, taxonomy, conventions, campaigns ------------------------


class Decision(AnswerFlags):
    """A reviewer's (SME's) decision on an item, stored apart from the labelers' answers.

    Never edited: a new decision supersedes the earlier ones, which stay as the audit trail.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32, choices=DecisionAction.choices, default=DecisionAction.LABEL)
    # A class key, or a final transcript (as long as an answer's: a class key's 64 characters cut it short).
    label = models.TextField(blank=True)
    gold = models.BooleanField(default=False, help_text="The label is known to be right: it scores labelers.")
    rationale = models.TextField(blank=True)
    shapes = models.JSONField(
        null=True,
        blank=True,
        help_text='Detection / segments projects: the final shapes, {"boxes": [...]} or {"segments": [...]} as an '
        "answer's value (an empty list: nothing here); null for a classification decision.",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["item", "-created", "-id"]

    def __str__(self):
        return f"{self.get_action_display()} on item {self.item_id}: {self.label}"


class GuidelineNote(models.Model):
    """An open question about the instructions, raised by a reviewer from an item."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guideline_notes")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    resolved_in = models.ForeignKey(Guideline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.text[:60]


class GuidelineExample(models.Model):
    """A canonical example item for a class (or for a borderline case) in a guideline version."""

    guideline = models.ForeignKey(Guideline, on_delete=models.CASCADE, related_name="examples")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=64, blank=True, help_text="A class key, or 'borderline'.")
    note = models.TextField(blank=True)
    shapes = models.JSONField(
        null=True,
        blank=True,
        help_text="Detection / segments projects: the shapes drawn over the example's picture, as an answer's value.",
    )

    class Meta:
        ordering = ["guideline", "label", "id"]
        constraints = [models.UniqueConstraint(fields=["guideline", "item"], name="one_example_per_item")]

    def __str__(self):
        return f"example {self.label}: item {self.item_id}"


class TaxonomyChange(models.Model):
    """A recorded change of a project's classes. Raw answers are never rewritten: reports and exports
    map answers through the active changes (labeling.selectors.class_mapping), and a change can be undone."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="taxonomy_changes")
    number = models.PositiveIntegerField()
    op = models.CharField(max_length=10, choices=TaxonomyOp.choices)
    payload = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    effect = models.JSONField(default=dict, blank=True, help_text="What applying did, so undo can reverse it.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    undone = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["project", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="taxonomy_change_number_unique")]

    def __str__(self):
        return f"#{self.number} {self.op} {self.payload}"


class TranscriptConventions(models.Model):
    """A transcription project's conventions (analysis.metrics.consistency.Conventions as a dict),
    applied in agreement and exports, never to the stored raw answers."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="conventions")
    rules = models.JSONField(default=dict)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated = models.DateTimeField(auto_now=True)
    history = models.JSONField(
        default=list,
        blank=True,
        help_text='The conventions these replaced, oldest first: {"rules", "author" (a username), "since", "until"}.',
    )

    def __str__(self):
        return f"conventions of {self.project}"


class Campaign(models.Model):
    """A relabel campaign: chosen items go back to the labelers first, under a (new) guideline version.

    Their answers from before the campaign are archived (ArchivedAnnotation), so agreement before and
    after can be compared on the same items. Items a later campaign takes while this one is active are
    handed over (CampaignHandover).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    guideline = models.ForeignKey(Guideline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    overlap = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE)
    selection = models.JSONField(default=dict, blank=True, help_text="How the items were chosen.")
    before = models.JSONField(default=dict, blank=True, help_text="Agreement on the items before the campaign.")
    items = models.ManyToManyField(Item, related_name="campaigns", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.name


class CampaignHandover(models.Model):
    """An item a later campaign took from an active campaign that held it (a campaign, or reviewers
    sending the item back, taking items another campaign still runs on). The later campaign archived the
    answers that were current then: the earlier campaign's round on the item, which its page keeps
    showing as its own (``archived_after`` < id <= ``archived_through`` of the later campaign's archived
    answers on the item; both None for handovers recorded from the history, when every archived answer of
    the later campaign on the item counts). ``returned``: when the earlier campaign took the item back
    (reviewers sent it back again to their standing campaign), from then on its own again."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="handovers")
    taken_by = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="takeovers")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    archived_after = models.BigIntegerField(null=True, blank=True)
    archived_through = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    returned = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "item", "created"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "item"], condition=Q(returned__isnull=True), name="one_handover_in_effect"
            )
        ]

    def __str__(self):
        return f"item {self.item_id} of campaign {self.campaign_id} taken over by {self.taken_by_id}"


class ArchivedSkip(models.Model):
    """A skip made before a relabel campaign sent its item back (a reviewer's send-back included): the
    campaign offers the item to that labeler again, since the guideline or the input may have been fixed
    because of it, and the reason stays as evidence for the reviewers. A skip made during the campaign is
    a Skip, and holds."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="archived_skips")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")  # as Skip's
    reason = models.CharField(max_length=500)
    skipped = models.DateTimeField(help_text="When the labeler skipped the item (the skip's own time).")

    class Meta:
        ordering = ["campaign", "item", "skipped"]

    def __str__(self):
        return f"{self.labeler} skipped {self.item_id} before campaign {self.campaign_id}: {self.reason}"


class ArchivedAnnotation(AnswerFields):
    """An answer taken out of play when its item entered a relabel campaign (kept for audit and for
    agreement before the campaign)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="archived")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")  # as Annotation's
    answered = models.DateTimeField()

    class Meta:
        ordering = ["campaign", "item", "answered"]

    def __str__(self):
        return f"archived answer of {self.labeler_id} on {self.item_id}"
