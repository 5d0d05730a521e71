"""Pages of the measuring domain. Thin: check the role, call a service, render."""

import io
import json
import math

from csp.decorators import csp_update
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import PermissionDenied, ValidationError

from analysis import charts
from analysis.api.agreement import parse_iou, parse_report_params
from analysis.api.drift import drift_report
from analysis.api.error_analysis import parse_fairness
from analysis.api.planning import parse_days
from analysis.charts import fold_matrix, human_number
from analysis.models import EmbeddingMap, MapPoint, ModelRun
from analysis.reports import public_report
from analysis.selectors import (
    NO_SCORES_REASON,
    item_with_answers,
    map_changes_since,
    map_has_scores,
    map_point_columns,
    shapes_of_items,
)
from analysis.services import agreement_report_get
from analysis.services.dashboard import dashboard_build
from analysis.services.error_analysis import error_analysis_compute, model_runs_compare
from analysis.services.maps import map_embedder_choices, map_refusal
from analysis.services.model_runs import model_run_for
from analysis.services.planning import SETTING_FIELDS, planning_compute, planning_settings_update
from labelhub.csvsafe import csv_writer
from labeling.choices import SHAPE_TASKS, Role, SourceStatus
from labeling.models import DatasetVersion, Item
from labeling.selectors import class_names, project_for_user


def _project(request, project_id, role):
    try:
        return project_for_user(user=request.user, project_id=project_id, role=role)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc.detail)) from None


def _heat(value, low=-1.0, high=1.0):
    """A background colour for a heatmap cell: blue for high agreement, red for low, none for None."""
    if value is None:
        return ""
    share = max(0.0, min(1.0, (value - low) / (high - low)))
    hue = 5 + share * 205  # red (5) to blue (210)
    return f"background: hsl({hue:.0f} 70% {92 - 30 * abs(share - 0.5) * 2:.0f}%)"


def _pairwise_matrix(report):
    names = [row["labeler"] for row in report["per_labeler"]]
    lookup = {}
    for pair in report["pairwise"]:
        lookup[(pair["labeler_a"], pair["labeler_b"])] = lookup[(pair["labeler_b"], pair["labeler_a"])] = pair
    rows = []
    for a in names:
        cells = []
        for b in names:
            pair = lookup.get((a, b))
            value = pair["kappa"] if pair else None
            cells.append({"value": value, "n": pair["n_items"] if pair else 0, "self": a == b, "style": _heat(value)})
        rows.append({"labeler": a, "cells": cells})
    return {"names": names, "rows": rows}


MATRIX_LIMIT = 12  # a heatmap shows at most this many classes; the rest are folded into "other (k classes)"


def _confusion_matrix(report, *, noun="classes", names=None):
    """The heatmap of a confusion: classes nobody answered left out, and beyond MATRIX_LIMIT the most
    answered classes with the rest folded into "other (k classes)", so it fits the page. Its classes
    read by their names (``names``: key → name, as the tables beside it name them; the report's own
    ``classes`` when it has them), never by their keys."""
    classes = report["confusion"]["classes"]
    weights = None
    per_class = report.get("per_class") or []
    if [row.get("class") for row in per_class] == list(classes):
        weights = [row["n_answers"] for row in per_class]
    labels, counts, folded = fold_matrix(
        classes, report["confusion"]["counts"], weights=weights, limit=MATRIX_LIMIT, noun=noun
    )
    other = len(labels) - 1 if folded else -1
    if names is None:
        names = {c["key"]: c["name"] for c in report.get("classes") or []}
    labels = [label if i == other else names.get(label, label) for i, label in enumerate(labels)]
    biggest_off = max((counts[i][j] for i in range(len(labels)) for j in range(len(labels)) if i != j), default=0)
    rows = []
    for i, name in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            n = counts[i][j]
            # Pairs within "other" are no agreement: they may be two different folded classes.
            diagonal = i == j and i != other
            share = n / biggest_off if biggest_off and not diagonal else 0
            # No darker than 62 % lightness: the count in the cell keeps 4.5:1 (55 % was 3.9:1).
            style = f"background: hsl(5 75% {97 - 35 * min(share, 1):.0f}%)" if not diagonal and n else ""
            cells.append({"n": n, "text": human_number(n), "diagonal": diagonal, "style": style})
        rows.append({"class": name, "cells": cells, "other": i == other})
    return {"classes": labels, "rows": rows, "folded": folded, "n_classes": len(classes)}


def _per_class_rows(report, *, noun="classes"):
    """The per-class table: a transcription report lists only the transcripts given (never one with 0
    answers) and, beyond MATRIX_LIMIT, the most given with the rest summed in one "other" row."""
    rows = report["per_class"]
    if not report.get("transcripts"):
        return rows, None
    rows = [row for row in rows if row["n_answers"]]
    if len(rows) <= MATRIX_LIMIT:
        return rows, None
    top = sorted(rows, key=lambda r: -r["n_answers"])[:MATRIX_LIMIT]
    rest = [row for row in rows if row not in top]
    return top, {"name": f"other ({len(rest)} {noun})", "n_answers": sum(r["n_answers"] for r in rest)}


def _time_chart(report, width=640, height=160, pad=28, left=56):
    """The over-time line of percent agreement, its axis in percent (0 % to 100 %): ``left`` leaves the
    tick labels room, right-aligned before the first point rather than under it."""
    points = report["over_time"]["points"]
    if not points:
        return None
    n = len(points)
    xs = [left + (width - left - pad) * (i / max(n - 1, 1)) for i in range(n)]
    ys = [height - pad - (height - 2 * pad) * p["percent_agreement"] for p in points]
    return {
        "width": width,
        "height": height,
        "path": " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        ),
        "dots": [{"x": x, "y": y, "p": p} for x, y, p in zip(xs, ys, points, strict=True)],
        "y0": height - pad,
        "y1": pad,
        "x0": left,
        "tick_x": left - 10,  # the ticks' right edge, clear of the first point's dot (radius 3.5)
        "x_last": width - pad,
    }


SPLIT_MERGE_PICTURES = 12  # split/merge items drawn on the page (the JSON and CSV list all of them)


def _shape_rects(kind, shapes, duration, lane):
    """Shapes as rectangles in a 1 × 1 viewBox: boxes where they are on the image; segments as bars on
    the time axis, in the upper (lane 0) or lower (lane 1) half."""
    rects = []
    for shape in shapes:
        if kind == "boxes":
            rect = {"x": shape.get("x"), "y": shape.get("y"), "w": shape.get("w"), "h": shape.get("h")}
        else:
            start, end = shape.get("start") or 0.0, shape.get("end") or 0.0
            rect = {"x": start / duration, "y": 0.08 + 0.46 * lane, "w": (end - start) / duration, "h": 0.38}
            rect["title"] = f"{start:g}–{end:g} s"
        if None in rect.values():
            continue
        rects.append({**rect, "label": shape.get("label", "")})
    return rects


def _split_merge_pictures(project, report):
    """The first split/merge items with what to draw: the image (or a time bar) and both labelers' shapes."""
    rows = report.get("split_merge", [])[:SPLIT_MERGE_PICTURES]
    if not rows:
        return []
    kind = report["task"]
    items = shapes_of_items(project=project, item_ids={row["item"] for row in rows})
    pictures = []
    for row in rows:
        item = items.get(row["item"])
        if item is None:
            continue
        one, many = item["shapes"].get(row["one"], []), item["shapes"].get(row["many"], [])
        duration = 1.0
        if kind == "segments":
            ends = [s.get("end") or 0.0 for s in one + many]
            duration = max([item["duration"] or 0.0, *ends]) or 1.0
        pictures.append(
            {
                **row,
                "name": item["name"],
                "file": item["file"],
                "duration": duration,
                "one_rects": _shape_rects(kind, one, duration, 0),
                "many_rects": _shape_rects(kind, many, duration, 1),
            }
        )
    return pictures


def _report_computed(report):
    """When the report was computed, as a datetime the page shows as its other pages show times (its ISO
    text read 'Cached 2026-12-06T01:20:32.'), to the second for its <time> element's datetime."""
    moment = parse_datetime(report.get("computed") or "") if report else None
    return moment.replace(microsecond=0) if moment else None


@login_required
def agreement_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    error = None
    report, job = None, None
    try:
        filters, policy = parse_report_params(project, request.GET)
        iou = parse_iou(project, request.GET)
        report, job = agreement_report_get(project=project, filters=filters, policy=policy, iou=iou, user=request.user)
    except ValidationError as exc:
        error = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in exc.detail.items())
    context = {
        "project": project,
        "membership": membership,
        "report": report,
        "computed": _report_computed(report),
        "job": job,
        "error": error,
        "query": request.GET.urlencode(),
        "params": request.GET,
        "tags": project.tags.order_by("name"),
        "guidelines": project.guidelines.order_by("version"),
        "members": project.memberships.filter(role=Role.LABELER).select_related("user").order_by("user__username"),
        "chosen_labelers": set((request.GET.get("labelers") or "").split(",")),
        "localized": project.task_type in SHAPE_TASKS,
    }
    if report and filters.labelers:
        # a chosen labeler with no answer under the filters is in no table: say so rather than leave them out
        counted = {row.get("labeler_id") for row in report.get("per_labeler", [])}
        silent = [pk for pk in filters.labelers if pk not in counted]
        names = dict(get_user_model().objects.filter(pk__in=silent).values_list("pk", "username"))
        context["labelers_without_answers"] = [names.get(pk, str(pk)) for pk in silent]
    if report and report.get("task"):
        context["f1_metric"] = report.get(report["f1_key"])
        context["split_merge_pictures"] = _split_merge_pictures(project, report)
    elif report:
        noun = "transcripts" if report.get("transcripts") else "classes"
        context["pairwise_matrix"] = _pairwise_matrix(report)
        context["confusion_matrix"] = _confusion_matrix(report, noun=noun)
        context["per_class_rows"], context["per_class_other"] = _per_class_rows(report, noun=noun)
        context["time_chart"] = _time_chart(report)
    return render(request, "analysis/agreement.html", context)


def shape_report_csv_rows(report):
    """A detection / segments report as the same long-format rows as :func:`report_csv_rows`."""
    rows = [("section", "subject", "measure", "value", "ci_low", "ci_high")]
    f1_key = report["f1_key"]
    metric = report.get(f1_key)
    rows.append(
        (
            "headline",
            "project",
            f1_key,
            *((metric["value"], metric["ci_low"], metric["ci_high"]) if metric else ("", "", "")),
        )
    )
    for key in ("mean_iou", "iou", "n_items", "n_annotations", "n_shapes", "n_compared_items", "n_gold_items"):
        rows.append(("headline", "project", key, report.get(key), "", ""))
    rows += _filter_rows(report)
    for row in report["per_class"]:
        for measure in ("n_shapes", "f1", "mean_iou"):
            rows.append(("class", row["class"], measure, row[measure], "", ""))
    for row in report["per_labeler"]:
        for measure in (
            "n_answers",
            "n_shapes",
            "n_shared",
            "f1",
            "mean_iou",
            "map50",
            "median_seconds",
            "gold_f1",
            "n_gold",
        ):
            rows.append(("labeler", row["labeler"], measure, row.get(measure), "", ""))
    for row in report["by_guideline"]:
        f1 = row["f1"]
        rows.append(
            (
                "guideline",
                row["guideline"],
                f1_key,
                *((f1["value"], f1["ci_low"], f1["ci_high"]) if f1 else ("", "", "")),
            )
        )
        rows.append(("guideline", row["guideline"], "mean_iou", row["mean_iou"], "", ""))
    for row in report["split_merge"]:
        rows.append(("split_merge", row["item"], f"{row['one']}|{row['many']}", row["n"], "", ""))
    return rows


def report_csv_rows(report):
    """The report as long-format rows (section, subject, measure, value, ci_low, ci_high)."""
    if report.get("task"):
        return shape_report_csv_rows(report)
    rows = [("section", "subject", "measure", "value", "ci_low", "ci_high")]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp"):
        metric = report.get(key)
        values = (metric["value"], metric["ci_low"], metric["ci_high"]) if metric else ("", "", "")
        rows.append(("headline", "project", key, *values))
    for key in ("n_items", "n_compared_items", "fleiss_items", "fleiss_answers_each", "n_annotations", "n_labelers"):
        rows.append(("headline", "project", key, report.get(key), "", ""))
    rows += _filter_rows(report)
    for row in report["per_class"]:
        for measure in ("n_answers", "specific_agreement", "fleiss_kappa", "gold_accuracy"):
            rows.append(("class", row["class"], measure, row[measure], "", ""))
    for row in report["per_labeler"]:
        for measure, value in row.items():
            if measure not in ("labeler", "labeler_id"):
                rows.append(("labeler", row["labeler"], measure, value, "", ""))
    for pair in report["pairwise"]:
        rows.append(("pairwise", f"{pair['labeler_a']}|{pair['labeler_b']}", "cohen_kappa", pair["kappa"], "", ""))
    classes = report["confusion"]["classes"]
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            rows.append(("confusion", f"{a}|{b}", "pairs", report["confusion"]["counts"][i][j], "", ""))
    for point in report["over_time"]["points"]:
        rows.append(("over_time", point["start"], "n_items", point.get("n_items"), "", ""))
        rows.append(("over_time", point["start"], "percent_agreement", point["percent_agreement"], "", ""))
    for row in report["by_guideline"]:
        # the page's columns: items, compared (2+ answers), percent agreement, alpha
        for measure in ("n_items", "n_compared", "percent_agreement", "krippendorff_alpha"):
            rows.append(("guideline", row["guideline"], measure, row.get(measure), "", ""))
    return rows


def _filter_rows(report):
    """What the report counted, as the page's filters chose it: one ``filter`` row per filter set (labelers
    by name, ``|``-joined) and the flagged-answer policy. A CSV of a slice read as the whole project's."""
    filters = report.get("filters") or {}
    names = {row.get("labeler_id"): row["labeler"] for row in report.get("per_labeler", [])}
    rows = []
    for key in ("tag", "labelers", "since", "guideline"):
        value = filters.get(key)
        if value in (None, "", []):
            continue
        if key == "labelers":
            value = "|".join(str(names.get(pk, pk)) for pk in value)
        rows.append(("filter", key, "value", value, "", ""))
    if report.get("policy"):
        rows.append(("filter", "policy", "value", report["policy"], "", ""))
    return rows


@login_required
def agreement_download(request, project_id, fmt):
    project, _ = _project(request, project_id, Role.REVIEWER)
    try:
        filters, policy = parse_report_params(project, request.GET)
        iou = parse_iou(project, request.GET)
    except ValidationError as exc:
        return HttpResponse(str(exc.detail), status=400, content_type="text/plain")
    report, job = agreement_report_get(project=project, filters=filters, policy=policy, iou=iou, user=request.user)
    if report is None:
        return HttpResponse(f"The report is being computed (job {job.pk}); try again shortly.", status=409)
    name = f"agreement-project{project.pk}"
    report = public_report(report)  # as the API answers it: every interval measure an object
    if fmt == "json":
        response = HttpResponse(json.dumps(report, indent=2), content_type="application/json")
    else:
        buffer = io.StringIO()
        # Class keys, usernames and guideline names are people's text: formula cells are neutralised.
        csv_writer(buffer).writerows(("" if v is None else v for v in row) for row in report_csv_rows(report))
        response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


# The map's WebGL library (regl, under regl-scatterplot) compiles its drawing code with Function(): this
# page alone may evaluate strings; every other page keeps script-src 'self'.
@csp_update({"script-src": ["'unsafe-eval'"]})
@login_required
def map_page(request, project_id, map_id=None):
    project, membership = _project(request, project_id, Role.REVIEWER)
    maps = list(EmbeddingMap.objects.filter(project=project).select_related("job")[:20])
    current = next((m for m in maps if m.pk == map_id), None) if map_id else (maps[0] if maps else None)
    if map_id and current is None:
        raise Http404("No map with that id in this project.")
    scored = map_has_scores(current) if current else project.task_type != "transcription"
    # Labels changed since the map read them (an SME settling its cluster): the page says so, since the map
    # still shows them as they were.
    n_changed, n_class_changes = 0, 0
    if current and current.finished:
        changed, n_class_changes = map_changes_since(emap=current)
        if changed:
            points = MapPoint.objects.filter(map=current).values_list("item_id", flat=True)
            n_changed = sum(1 for pk in points.iterator(chunk_size=20000) if pk in changed)
    return render(
        request,
        "analysis/map.html",
        {
            "project": project,
            "membership": membership,
            "maps": maps,
            "current": current,
            "scored": scored,
            # counted on the points, as the label-issue API lists them: an item deleted since the map was
            # made is no longer flagged on it
            "n_flagged": MapPoint.objects.filter(map=current, flagged=True).count() if current else 0,
            "n_changed": n_changed,
            "n_class_changes": n_class_changes,
            "no_scores_reason": NO_SCORES_REASON,
            # The start button is offered only where a map can be made; else the reason is shown.
            "refusal": map_refusal(project=project),
            "embedders": map_embedder_choices(project=project),
            "classes": project.classes.all(),
            # offered to "keep apart items of one ...": the keys of the newest items' metadata
            "metadata_keys": _metadata_keys(project) if membership.role == Role.MANAGER else [],
        },
    )


def _metadata_keys(project, sample: int = 200) -> list[str]:
    newest = Item.objects.filter(project=project).order_by("-id").values_list("metadata", flat=True)[:sample]
    return sorted({key for meta in newest if isinstance(meta, dict) for key in meta})


@login_required
def map_data(request, project_id, map_id):
    """Everything the map page draws, as parallel arrays (one entry per point)."""
    project, _ = _project(request, project_id, Role.REVIEWER)
    return JsonResponse(map_point_columns(project=project, map_id=map_id))


@login_required
def map_item(request, project_id, item_id):
    """An item with every answer, for the map's side panel (reviewers and managers only)."""
    project, _ = _project(request, project_id, Role.REVIEWER)
    return JsonResponse(item_with_answers(project=project, item_id=item_id))


# --- Dashboard, error analysis, planning and drift (issue 8) ---------------------------------------------


def _percent_series(rows, key):
    """A share per row as a percentage: 0.0056 -> 0.56 (the chart's axis and values read in %)."""
    return [(i, (100 * r[key] if r.get(key) is not None else None)) for i, r in enumerate(rows)]


def _nice_ceiling(value):
    """The axis top above ``value``: 1, 2 or 5 times a power of ten (0.56 -> 1, 3 -> 5, 25 -> 50)."""
    if not value or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if value <= m * power * (1 + 1e-9))


def _dashboard_charts(data):
    progress = data["progress"]
    out = {
        "progress": charts.stacked_bar(
            [
                ("complete", progress["complete"], "complete"),
                ("answered, not complete", progress["answered"] - progress["complete"], "partial"),
                ("no answer yet", progress["items"] - progress["answered"], "empty"),
            ],
            total=progress["items"],
            label="items by labeling progress",
        )
    }
    agreement = data["agreement"]
    run = data["model_run"]
    # Detection and segments runs score mAP@0.5 (no intervals): the charts name it so, not "accuracy".
    shapes = bool(run) and run["metric"] == "map50"
    model_name = "model mAP@0.5" if shapes else "model accuracy"
    rows = []
    if agreement.get("status") == "ready":
        rows.append({"label": "humans (project)", "values": {"hlp": agreement.get("hlp")}})
    if run:
        model = run["model_accuracy"] or run.get("map50")  # detection runs: mAP@0.5
        rows.append({"label": f"model: {run['name']}", "values": {"acc": model, "hlp": run["hlp"]}})
    out["hlp"] = charts.interval_bars(
        rows,
        series=[("acc", model_name, "model"), ("hlp", "HLP", "human")],
        label=f"{model_name} against HLP" + ("" if shapes else ", 95 % intervals"),
    )
    if data["top_slices"]:
        out["slices"] = charts.interval_bars(
            [
                {
                    "label": r["slice"],
                    "values": {
                        "acc": r["intervals"].get("model_accuracy", r.get("map50")),
                        "hlp": r["intervals"].get("hlp", r["hlp"]),
                    },
                }
                for r in data["top_slices"]
            ],
            series=[("acc", model_name, "model"), ("hlp", "HLP", "human")],
            label=f"top slices: {model_name} and HLP",
        )
    weeks = data["output_signal"]["weeks"]
    if weeks:
        names = {i: w["week"] for i, w in enumerate(weeks)}
        out["output_signal"] = charts.line_chart(
            [
                {
                    "label": "uncertain",
                    "css": "s1",
                    "points": _percent_series(weeks, "uncertain_share"),
                    "x_names": names,
                },
                {
                    "label": "out of domain",
                    "css": "s2",
                    "points": _percent_series(weeks, "out_of_domain_share"),
                    "x_names": names,
                },
            ],
            y_max=min(
                100.0,
                _nice_ceiling(100 * max(max(w["uncertain_share"] or 0, w["out_of_domain_share"] or 0) for w in weeks)),
            ),
            x_label=f"week of {weeks[0]['week']}",
            x_end=weeks[-1]["week"] if len(weeks) > 1 else "",
            y_label="% of answers:",
            label="uncertain and out-of-domain answers per week",
            x_heading="Week of",
            y_unit=" %",
        )
    curve = data["planning"]["curve"]
    if curve:
        out["planning"] = _planning_chart(curve)
    return out


def _planning_chart(curve):
    return charts.line_chart(
        [
            {"label": "labeled items reachable", "css": "s1", "points": [(p["day"], p["labeled"]) for p in curve]},
            {"label": "items available (supply)", "css": "s3", "points": [(p["day"], p["supply"]) for p in curve]},
        ],
        x_label="days from today",
        y_label="items:",
        label="labeled items reachable per day horizon",
        x_heading="Days from today",
    )


@login_required
def dashboard_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    data = dashboard_build(project=project, user=request.user)
    return render(
        request,
        "analysis/dashboard.html",
        {"project": project, "membership": membership, "data": data, "charts": _dashboard_charts(data)},
    )


@login_required
def error_analysis_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    runs = list(ModelRun.objects.filter(project=project).order_by("-created", "-id")[:50])
    run = model_run_for(project=project, run_id=request.GET.get("model_run") or None)
    context = {"project": project, "membership": membership, "runs": runs, "run": run, "params": request.GET}
    if run is not None:
        report = error_analysis_compute(project=project, model_run=run, fairness=parse_fairness(request.GET))
        context["report"] = report
        context["chosen_fairness"] = set(report["fairness"]["slices"])
        # Detection and segments runs score mAP@0.5, without intervals: the bars show the values alone.
        shapes = report["metric"] == "map50"
        model_key, model_name = ("map50", "model mAP@0.5") if shapes else ("model_accuracy", "model accuracy")
        context["slice_chart"] = charts.interval_bars(
            [
                {
                    "label": r["slice"],
                    "values": {
                        "acc": r["intervals"].get(model_key, r.get(model_key)),
                        "hlp": r["intervals"].get("hlp", r["hlp"]),
                    },
                }
                for r in report["slices"]
            ],
            series=[("acc", model_name, "model"), ("hlp", "HLP", "human")],
            label=f"{model_name} and HLP per slice" + ("" if shapes else ", 95 % intervals"),
        )
        gaps = [r["weighted_gap"] for r in report["slices"] if r["weighted_gap"] is not None]
        if gaps:
            top = max(max(abs(g) for g in gaps), 1e-6)
            context["gap_chart"] = charts.interval_bars(
                [
                    {"label": r["slice"], "values": {"w": r["intervals"].get("weighted_gap", r["weighted_gap"])}}
                    for r in report["slices"]
                ],
                series=[("w", "weighted gap", "gap")],
                domain=(min(0.0, min(gaps)), top),
                label="weighted gap per slice",
            )
        context["class_names"] = class_names(project=project)
        if report["confusion"]:
            context["model_confusion"] = _confusion_matrix(
                {"confusion": report["confusion"]}, names=context["class_names"]
            )
        compare_id = request.GET.get("compare")
        if compare_id:
            other = model_run_for(project=project, run_id=compare_id)
            if other.pk != run.pk:
                context["comparison"] = model_runs_compare(project=project, run_a=other, run_b=run)
    return render(request, "analysis/error_analysis.html", context)


@login_required
def planning_page(request, project_id):
    from django.contrib import messages
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.shortcuts import redirect

    project, membership = _project(request, project_id, Role.REVIEWER)
    errors = {}
    if request.method == "POST":
        if not membership.has_role(Role.MANAGER):
            raise DjangoPermissionDenied("Only managers change planning settings.")
        data = {name: request.POST[name].strip() for name in SETTING_FIELDS if request.POST.get(name, "").strip()}
        try:
            planning_settings_update(project=project, data=data)
        except DjangoValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, "Planning settings saved.")
            return redirect("planning", project.pk)
    try:
        days = parse_days(request.GET)
        report = planning_compute(project=project, days=days)
    except (ValidationError, DjangoValidationError):
        days = 30
        report = planning_compute(project=project, days=days)
        errors["days"] = [f"the horizon must be a whole number of days from 0 to 3650; showing {days}"]
    statuses = dict(SourceStatus.choices)  # "Acquiring", as the inventory's sources table reads it
    for source in report["sources"]:
        source["status_name"] = statuses.get(source["status"], source["status"])
    return render(
        request,
        "analysis/planning.html",
        {
            "project": project,
            "membership": membership,
            "report": report,
            "days": days,
            "errors": errors,
            "chart": _planning_chart(report["curve"]),
            "is_manager": membership.has_role(Role.MANAGER),
        },
    )


@login_required
def drift_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    error, report = None, None
    try:
        report = drift_report(project=project, params=request.GET)
    except ValidationError as exc:
        error = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in exc.detail.items())
    if report:
        for row in report["statistics"]:
            row["svg"] = charts.overlaid_histogram(row["histogram"], label=row["statistic"])

    return render(
        request,
        "analysis/drift.html",
        {
            "project": project,
            "membership": membership,
            "report": report,
            "error": error,
            "params": request.GET,
            "versions": DatasetVersion.objects.filter(project=project)
            .order_by("-number")
            .values_list("number", flat=True),
        },
    )
