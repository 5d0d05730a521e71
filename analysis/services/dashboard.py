"""The project dashboard: what to work on next, in one read of every measuring feature.

Progress, agreement and HLP (the cached agreement report), the last dataset version, the last model run
against HLP with the top error-analysis rows, drift alerts (the monitor runs here, so a page view is
enough to notice drift; each alert is still sent once), the uncertain / out-of-domain output signal,
and the planning headline. The number of queries does not grow with items, tags or answers.
"""

from django.db.models import Count, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce

from analysis.selectors import AnswerFilters
from analysis.services.agreement import agreement_report_get
from analysis.services.drift import drift_monitor_run, output_signal
from analysis.services.error_analysis import error_analysis_compute
from analysis.services.model_runs import model_run_for
from analysis.services.planning import planning_compute
from labeling.models import Annotation, ArchivedAnnotation, DatasetVersion, Item

TOP_SLICES = 5
PLANNING_DAYS = 30


def _progress(project):
    """Items, items with an answer, complete items and answers, counted as agreement and HLP read the
    answers after a relabel campaign: per item and labeler ONE answer, the current one, else the one a
    campaign archived as it stood (``archived_still_counting``), so the counters never read 0 beside an
    HLP card computed from archived answers. ``n_archived`` of the answers are archived ones, and
    ``answered_archived`` of the items have only archived answers (sent back, not relabeled yet); an item is
    complete only with its own overlap of current answers (a campaign's items need new ones)."""
    archived = ArchivedAnnotation.objects.filter(item__project=project)
    current = Annotation.objects.filter(item_id=OuterRef("item_id"), labeler_id=OuterRef("labeler_id"))
    # An answer's earlier revisions are archived with it: one (item, labeler) pair is one answer.
    standing = archived.filter(~Exists(current)).values("item_id", "labeler_id").distinct()
    was_answered = Exists(archived.filter(item_id=OuterRef("pk")))
    progress = Item.objects.filter(project=project).aggregate(
        items=Count("id"),
        answered=Count("id", filter=Q(n_answers__gte=1) | Q(was_answered)),
        answered_archived=Count("id", filter=Q(n_answers=0) & Q(was_answered)),
        # An item's own overlap (a relabel campaign's) wins, as on the labeling page.
        complete=Count("id", filter=Q(n_answers__gte=Coalesce(F("overlap"), Value(project.overlap)))),
    )
    progress["overlap"] = project.overlap
    progress["n_archived"] = standing.count()
    progress["n_answers"] = Annotation.objects.filter(item__project=project).count() + progress["n_archived"]
    return progress


def _agreement(project, user, n_answers):
    # Answers count those a campaign archived (one per item and labeler, as they stood), as the report
    # reads them: only a project that never had an answer has nothing to measure (and then the answer
    # table is not read for nothing).
    if not n_answers:
        return {"status": "empty", "reasons": {"hlp": "no answers yet"}}
    report, job = agreement_report_get(project=project, filters=AnswerFilters(), user=user)
    if report is None:
        return {"status": "computing", "job": job.pk if job else None}
    return {
        "status": "ready",
        "n_items": report["n_items"],
        "n_annotations": report["n_annotations"],
        "percent_agreement": report.get("percent_agreement"),
        "krippendorff_alpha": report.get("krippendorff_alpha"),
        "hlp": report.get("hlp"),
        # detection / segments: shapes matched one to one (no κ, α or one-number HLP for them)
        "task": report.get("task"),
        "shape_f1": report.get("box_f1") or report.get("segment_f1"),
        "mean_iou": report.get("mean_iou"),
        "iou": report.get("iou"),
        "reasons": report.get("reasons", {}),
    }


def _version(project):
    # its info is left unread: it holds the ids of the items purged from it, maybe 200,000
    version = DatasetVersion.objects.filter(project=project).defer("info").order_by("-number").first()
    if version is None:
        return None
    counts = version.counts or {}
    return {
        "number": version.number,
        "created": version.created.isoformat(),
        "content_hash": version.content_hash,
        "items": counts.get("items"),
        "labeled": counts.get("labeled"),
        "needs_review": counts.get("needs_review"),
    }


def _model_run(project):
    run = model_run_for(project=project)
    if run is None:
        return None, []
    analysis = error_analysis_compute(project=project, model_run=run)
    overall = next((row for row in analysis["slices"] if row["slice"] == "all"), None)
    intervals = overall["intervals"] if overall else {}

    def point(key):  # detection runs have no intervals: the value alone
        value = overall.get(key) if overall else None
        return None if value is None else {"value": value, "ci_low": value, "ci_high": value}

    summary = {
        **analysis["model_run"],
        "metric": analysis["metric"],
        "n_items": analysis["n_items"],
        "n_left_out": analysis["n_left_out"],
        "held_out_warning": analysis["held_out"]["warning"],
        "n_unresolved": analysis["n_unresolved"],
        "model_accuracy": intervals.get("model_accuracy"),
        "map50": point("map50"),
        "hlp": intervals.get("hlp", point("hlp")),
        "gap_to_hlp": intervals.get("gap_to_hlp", point("gap_to_hlp")),
    }
    top = [row for row in analysis["slices"] if row["slice"] != "all"][:TOP_SLICES]
    return summary, top


def dashboard_build(*, project, user=None) -> dict:
    """Every dashboard section as JSON-ready data (the page and ``GET /api/projects/{id}/dashboard/``).

    Answers ``{"progress": {"items", "answered", "complete", "overlap", "n_answers", "n_archived",
    "answered_archived"} (answers, and items with one, count the answers relabel campaigns archived that
    agreement still reads: :func:`_progress`), "agreement": {...} (``status`` "ready" with the metrics and
    intervals, "computing" with a ``job``, or "empty"), "version" (the latest dataset version or None),
    "model_run" (the latest run's accuracy, HLP and gap with intervals, or None), "top_slices" (its top
    tag rows by weighted gap), "drift": {"open", "opened", "window"}, "output_signal", "planning": {...}}``.
    Running it also runs the drift monitor (idempotent).
    """
    progress = _progress(project)
    model_run, top = _model_run(project)
    monitor = drift_monitor_run(project=project)
    window = monitor["comparisons"].get("window")
    planning = planning_compute(project=project, days=PLANNING_DAYS)
    return {
        "project": {"id": project.pk, "name": project.name, "overlap": project.overlap},
        "progress": progress,
        "agreement": _agreement(project, user, progress["n_answers"]),
        "version": _version(project),
        "model_run": model_run,
        "top_slices": top,
        "drift": {
            "open": monitor["open"],
            "opened": monitor["opened"],
            "window": {
                "baseline": window["baseline"],
                "current": window["current"],
                "statistics": [
                    {
                        "statistic": row["statistic"],
                        "psi": row["psi"],
                        "ks_pvalue": row["ks_pvalue"],
                        "drift": row["drift"],
                        "mean": [row["baseline"]["mean"], row["current"]["mean"]],
                    }
                    for row in window["statistics"]
                ],
            }
            if window
            else None,
        },
        "output_signal": output_signal(project=project),
        "planning": {
            "currency": planning["currency"],
            "cost_per_labeled_item": planning["cost_per_labeled_item"],
            "labeled_per_day": planning["throughput"]["labeled_per_day"],
            "horizon": planning["horizon"],
            "curve": planning["curve"],
            # what the cost leaves out (no hourly rate, unpriced sources), as the planning page says it
            "notes": planning["notes"],
        },
    }
