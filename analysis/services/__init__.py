"""Writes and business rules of the measuring domain, one module per concern."""

from analysis.services.agreement import (
    agreement_report_compute,
    agreement_report_get,
    agreement_report_job_run,
    answers_marker,
    class_map_for,
    gold_for,
    report_key,
)

__all__ = [
    "agreement_report_compute",
    "agreement_report_get",
    "agreement_report_job_run",
    "answers_marker",
    "class_map_for",
    "gold_for",
    "report_key",
]
