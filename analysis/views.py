"""Pages of the measuring domain. Thin: check the role, call a service, render."""

import csv
import io
import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import PermissionDenied, ValidationError

from analysis.api.agreement import parse_report_params
from analysis.services import agreement_report_get
from labeling.choices import Role
from labeling.selectors import project_for_user


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


def _confusion_matrix(report):
    classes = report["confusion"]["classes"]
    counts = report["confusion"]["counts"]
    biggest_off = max((counts[i][j] for i in range(len(classes)) for j in range(len(classes)) if i != j), default=0)
    rows = []
    for i, name in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            n = counts[i][j]
            share = n / biggest_off if biggest_off and i != j else 0
            style = f"background: hsl(5 75% {97 - 42 * share:.0f}%)" if i != j and n else ""
            cells.append({"n": n, "diagonal": i == j, "style": style})
        rows.append({"class": name, "cells": cells})
    return {"classes": classes, "rows": rows}


def _time_chart(report, width=640, height=160, pad=28):
    points = report["over_time"]["points"]
    if not points:
        return None
    n = len(points)
    xs = [pad + (width - 2 * pad) * (i / max(n - 1, 1)) for i in range(n)]
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
        "x_last": width - pad,
    }


@login_required
def agreement_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    error = None
    report, job = None, None
    try:
        filters, policy = parse_report_params(project, request.GET)
        report, job = agreement_report_get(project=project, filters=filters, policy=policy, user=request.user)
    except ValidationError as exc:
        error = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in exc.detail.items())
    context = {
        "project": project,
        "membership": membership,
        "report": report,
        "job": job,
        "error": error,
        "query": request.GET.urlencode(),
        "params": request.GET,
        "tags": project.tags.order_by("name"),
        "guidelines": project.guidelines.order_by("version"),
        "members": project.memberships.filter(role=Role.LABELER).select_related("user").order_by("user__username"),
        "chosen_labelers": set((request.GET.get("labelers") or "").split(",")),
    }
    if report:
        context["pairwise_matrix"] = _pairwise_matrix(report)
        context["confusion_matrix"] = _confusion_matrix(report)
        context["time_chart"] = _time_chart(report)
        context["report_json"] = json.dumps(report)
    return render(request, "analysis/agreement.html", context)


def report_csv_rows(report):
    """The report as long-format rows (section, subject, measure, value, ci_low, ci_high)."""
    rows = [("section", "subject", "measure", "value", "ci_low", "ci_high")]
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp"):
        metric = report.get(key)
        values = (metric["value"], metric["ci_low"], metric["ci_high"]) if metric else ("", "", "")
        rows.append(("headline", "project", key, *values))
    rows.append(("headline", "project", "n_items", report["n_items"], "", ""))
    rows.append(("headline", "project", "n_annotations", report["n_annotations"], "", ""))
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
        rows.append(("over_time", point["start"], "percent_agreement", point["percent_agreement"], "", ""))
    for row in report["by_guideline"]:
        rows.append(("guideline", row["guideline"], "percent_agreement", row["percent_agreement"], "", ""))
        rows.append(("guideline", row["guideline"], "krippendorff_alpha", row["krippendorff_alpha"], "", ""))
    return rows


@login_required
def agreement_download(request, project_id, fmt):
    project, _ = _project(request, project_id, Role.REVIEWER)
    try:
        filters, policy = parse_report_params(project, request.GET)
    except ValidationError as exc:
        return HttpResponse(str(exc.detail), status=400, content_type="text/plain")
    report, job = agreement_report_get(project=project, filters=filters, policy=policy, user=request.user)
    if report is None:
        return HttpResponse(f"The report is being computed (job {job.pk}); try again shortly.", status=409)
    name = f"agreement-project{project.pk}"
    if fmt == "json":
        response = HttpResponse(json.dumps(report, indent=2), content_type="application/json")
    else:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(("" if v is None else v for v in row) for row in report_csv_rows(report))
        response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
