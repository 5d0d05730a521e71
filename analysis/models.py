"""The measuring domain's stored results."""

from django.conf import settings
from django.db import models

from labeling.models import Job, Project


class AgreementReport(models.Model):
    """A computed agreement report, kept until the project's answers change.

    ``key`` identifies the report's parameters (filters, policy); ``answers_marker`` fingerprints the
    answers it was computed from (their count and latest change), so a new or edited answer makes it
    stale without any signal or hook.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_reports")
    key = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    answers_marker = models.CharField(max_length=100, blank=True)
    data = models.JSONField(null=True, blank=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    computed = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Time the last computation took.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="agreement_report_key_unique")]

    def __str__(self):
        return f"agreement report {self.key[:8]} of {self.project}"


class Embedding(models.Model):
    """One item's vector from one embedder (a built-in featurizer, a local model, or pushed vectors).

    Stored as little-endian float32 bytes; ``dim`` is checked on every write for the same ``model``.
    ``content``: the SHA-256 of the item's content the vector was computed from ('' for pushed vectors):
    a computed vector is kept, and reused by every later map, while it matches the item's ``sha256``.
    """

    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=100)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField()
    content = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "model"], name="one_vector_per_item_and_model")]
        indexes = [models.Index(fields=["model", "item"], name="embedding_model_item")]

    def __str__(self):
        return f"{self.model} vector of item {self.item_id}"


class EmbeddingMap(models.Model):
    """A 2-D map of a project's items, computed by a worker job: with label-issue scores in a
    classification project, with each item's transcript agreement (WER) in a transcription project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="maps")
    embedder = models.CharField(max_length=100)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    n_points = models.PositiveIntegerField(default=0)
    classes = models.JSONField(default=list, help_text="Class keys; point labels index this list.")
    params = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"map {self.pk} of {self.project} ({self.embedder})"


class MapPoint(models.Model):
    """An item on a map: its coordinates, the label it was judged with, and how suspicious that label is
    (classification), or how its transcripts agree (transcription)."""

    map = models.ForeignKey(EmbeddingMap, on_delete=models.CASCADE, related_name="points")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="+")
    x = models.FloatField()
    y = models.FloatField()
    label = models.CharField(max_length=64, blank=True, help_text="The given label (empty: unlabeled).")
    suggested_label = models.CharField(max_length=64, blank=True)
    score = models.FloatField(default=0)
    neighbour_disagreement = models.FloatField(null=True, blank=True)
    self_confidence = models.FloatField(null=True, blank=True)
    flagged = models.BooleanField(default=False)
    cluster = models.IntegerField(null=True, blank=True)
    # Transcription maps: how the item's transcripts agreed when the map was built (after the project's
    # conventions); null on classification maps and on items with fewer than two transcripts.
    wer = models.FloatField(null=True, blank=True, help_text="Mean pairwise word error rate of the transcripts.")
    agreement = models.FloatField(
        null=True, blank=True, help_text="Share of the transcripts equal to the most common one (normalized)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["map", "item"], name="one_point_per_item")]
        indexes = [models.Index(fields=["map", "flagged", "score"], name="mappoint_flagged")]

    def __str__(self):
        return f"item {self.item_id} at ({self.x:.2f}, {self.y:.2f})"


class LabelCluster(models.Model):
    """A suspicious group on a map: "N items labeled A sit among B", with examples of both sides."""

    map = models.ForeignKey(EmbeddingMap, on_delete=models.CASCADE, related_name="clusters")
    index = models.PositiveIntegerField()
    label = models.CharField(max_length=64)
    suggested_label = models.CharField(max_length=64)
    items = models.JSONField(default=list)
    examples = models.JSONField(default=list)
    neighbour_examples = models.JSONField(default=list)
    score = models.FloatField()
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["map", "index"]
        constraints = [models.UniqueConstraint(fields=["map", "index"], name="cluster_index_unique")]

    def __str__(self):
        return self.description or f"cluster {self.index} of map {self.map_id}"

    def describe(self, names=None) -> str:
        """The group in words: "N items labeled A sit among B", by the classes' keys (stored in
        ``description``, as the API gives it) or, given ``names`` (key → name), by their names (pages)."""
        names = names or {}
        return (
            f"{len(self.items)} items labeled {names.get(self.label, self.label)} sit among "
            f"{names.get(self.suggested_label, self.suggested_label)}"
        )


class ModelRun(models.Model):
    """A model's predictions on a project's items: from the built-in trainer or pushed by the team's own.

    ``dataset_version`` names the exact data the model was trained on (when known); ``training_job``
    the LabelHub training job that produced it (when it came from one).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_runs")
    name = models.CharField(max_length=200)
    dataset_version = models.ForeignKey(
        "labeling.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_runs"
    )
    training_job = models.ForeignKey(
        "labeling.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_runs"
    )
    n_predictions = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.name


class Prediction(models.Model):
    """One item's predicted label (a class key, a transcript, or the predicted shapes as JSON in detection
    and segments projects) and the model's confidence in it.

    ``split`` says whether the model saw the item in training: ``train``, or ``dev``/``test``/``held_out``
    (it did not), or empty (not said). Error analysis compares only items the model did not train on.
    """

    model_run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="predictions")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="predictions")
    label = models.TextField()
    confidence = models.FloatField(null=True, blank=True)
    split = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_run", "item"], name="one_prediction_per_item")]

    def __str__(self):
        return f"{self.label} for item {self.item_id}"


# --- Planning settings and drift alerts (analysis/services/planning.py, drift.py) ---


class DriftRule(models.TextChoices):
    BOTH = "both", "PSI and KS must both exceed their thresholds"
    EITHER = "either", "Either PSI or KS exceeding its threshold is enough"


class ProjectPlanning(models.Model):
    """A project's planning and monitoring settings: labor cost, throughput window, drift thresholds.

    Absent until someone changes a default; ``analysis.services.planning.planning_settings_get`` answers
    an unsaved instance with the defaults meanwhile.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="planning")
    hourly_rate = models.DecimalField(
        max_digits=10, decimal_places=2, default=0, help_text="What an hour of labeling costs (in ``currency``)."
    )
    currency = models.CharField(max_length=3, default="USD")
    throughput_weeks = models.PositiveSmallIntegerField(
        default=4, help_text="Labeling throughput is measured over this many recent weeks."
    )
    psi_threshold = models.FloatField(default=0.2)
    ks_pvalue_threshold = models.FloatField(default=0.01)
    missing_share_threshold = models.FloatField(
        default=0.05, help_text="A rise of a statistic's missing share by more than this is drift."
    )
    drift_rule = models.CharField(max_length=8, choices=DriftRule.choices, default=DriftRule.BOTH)
    drift_min_items = models.PositiveIntegerField(
        default=20, help_text="Each side of a comparison needs this many values before it can raise an alert."
    )
    drift_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="Monitoring compares items imported in the last N days..."
    )
    drift_baseline_days = models.PositiveSmallIntegerField(
        default=28, help_text="...with those imported in the M days before them."
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(hourly_rate__gte=0), name="planning_rate_not_negative"),
            models.CheckConstraint(
                condition=models.Q(ks_pvalue_threshold__gt=0, ks_pvalue_threshold__lt=1),
                name="planning_ks_threshold_probability",
            ),
            models.CheckConstraint(condition=models.Q(psi_threshold__gt=0), name="planning_psi_threshold_positive"),
        ]

    def __str__(self):
        return f"planning of {self.project}"


class DriftAlert(models.Model):
    """An input statistic that drifted in a monitored comparison.

    One open alert (``resolved`` empty) per project, comparison kind and statistic: the monitor reopens
    nothing while the drift lasts, closes the alert when a check no longer finds it, and opens a new one
    (with a new notification) if it comes back. ``notified`` records the webhook hand-off, so a page view
    never sends the same alert twice.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="drift_alerts")
    comparison = models.CharField(max_length=16, help_text='"window" (import dates) or "versions".')
    statistic = models.CharField(max_length=64)
    reasons = models.JSONField(default=list)
    detail = models.JSONField(default=dict, help_text="The comparison's sides and the statistic's numbers.")
    psi = models.FloatField(null=True, blank=True)
    ks_pvalue = models.FloatField(null=True, blank=True)
    opened = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()
    resolved = models.DateTimeField(null=True, blank=True)
    notified = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "comparison", "statistic"],
                condition=models.Q(resolved__isnull=True),
                name="one_open_drift_alert",
            )
        ]

    def __str__(self):
        return f"{self.statistic} drift in {self.project} ({self.comparison})"
