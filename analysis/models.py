"""The measuring domain's stored results."""

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
