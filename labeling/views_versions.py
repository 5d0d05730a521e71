"""Pages of dataset versions, their changelog and diffs, and webhooks. Thin: check the role, call a
selector or service, render."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labelhub.params import is_row_id
from labeling.choices import SHAPE_TASKS, Role, TaskType
from labeling.models import Item
from labeling.selectors import (
    class_names,
    deliveries_list,
    listed_info,
    purged_on,
    version_build_for,
    version_builds,
    version_for,
    versions_list,
    webhook_for,
    webhooks_list,
)
from labeling.services.versions import (
    JobNotRetryable,
    recipe_changes,
    stale_seconds,
    version_build_retry,
    version_build_start,
    version_diff,
)
from labeling.services.webhooks import webhook_delete, webhook_redeliver, webhook_register, webhook_update
from labeling.version_forms import RecipeForm, WebhookForm
from labeling.views import _project

DIFF_PAGE_ROWS = 500


def _errors(exc):
    if hasattr(exc, "message_dict"):
        return [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
    return list(exc.messages)


@login_required
def versions(request, project_id):
    """The versions list, the builds in progress (or failed), and the build form for managers."""
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    form, errors = None, []
    if membership.has_role(Role.MANAGER):
        form = RecipeForm(request.POST or None, project=project)
        if request.method == "POST" and form.is_valid():
            try:
                job = version_build_start(project=project, user=request.user, recipe=form.recipe())
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.info(request, f"Building a new version (job {job.pk}); it appears here when it is complete.")
                return redirect("versions", project_id=project.pk)
    elif request.method == "POST":
        raise DjangoPermissionDenied("Only managers build versions.")
    return render(
        request,
        "labeling/versions.html",
        {
            "project": project,
            "membership": membership,
            "versions": versions_list(project=project),
            "builds": version_builds(project=project, unfinished_only=True)[:20],
            "form": form,
            "errors": errors,
            "stale_seconds": stale_seconds(),
        },
    )


@login_required
@require_POST
def version_build_retry_view(request, project_id, job_id):
    project, _ = _project(request, project_id, role=Role.MANAGER)
    try:
        version_build_retry(job=version_build_for(project=project, job_id=job_id))
        messages.info(request, f"Build {job_id} is queued again.")
    except JobNotRetryable as exc:
        messages.error(request, str(exc))
    return redirect("versions", project_id=project.pk)


def _distribution(counts, names, order):
    """Items per class, each class read by its name (``names``: key → name, ``class_names``), in ``order``
    (the classes' keys as the page lists them)."""
    classes = counts.get("classes") or {}
    total = sum(classes.values()) or 1
    return [
        {"key": k, "name": names.get(k, k), "n": classes[k], "percent": round(100 * classes[k] / total, 1)}
        for k in order
    ]


def _named_items(named, totals):
    """A reason's named items (the build keeps the first NAMED_ITEMS of each) with how many it holds in
    all, so that the page says "the first 100 of 1,437" instead of passing 100 chips off as all of them."""
    return [
        {"reason": reason, "label": reason.replace("_", " "), "ids": ids, "total": max(totals.get(reason, 0), len(ids))}
        for reason, ids in (named or {}).items()
    ]


@login_required
def version_detail(request, project_id, number):
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    version = version_for(project=project, ref=number)
    split_classes = version.counts.get("split_classes") or {}
    # in the project's class order (PostgreSQL's jsonb keeps a version's counts by key length, "rock" before
    # "iguana"); classes the project no longer holds after them, by key
    order = {key: n for n, key in enumerate(project.classes.values_list("key", flat=True))}
    classes = sorted((version.counts.get("classes") or {}).keys(), key=lambda c: (order.get(c, len(order)), str(c)))
    names = class_names(project=project)
    # A version of a detection or segments project counts shapes; one built before its shapes were counted
    # per split has no split_classes: no table, rather than a table of zeros.
    split_table = (
        [
            {"class": names.get(c, c), "cells": [split_classes.get(s, {}).get(c, 0) for s in ("train", "dev", "test")]}
            for c in classes
        ]
        if split_classes
        else []
    )
    return render(
        request,
        "labeling/version_detail.html",
        {
            "project": project,
            "membership": membership,
            "version": version,
            "distribution": _distribution(version.counts, names, classes),
            "split_table": split_table,
            "left_out_named": _named_items(version.counts.get("left_out_items"), version.counts.get("left_out") or {}),
            "review_named": _named_items(
                version.counts.get("needs_review_items"), version.counts.get("review_reasons") or {}
            ),
            "artifacts": version.artifacts.all(),
            "recipe_changes": recipe_changes(old=version.parent.policy, new=version.policy) if version.parent else [],
            "recipe_json": json.dumps(version.policy, indent=2, sort_keys=True),
            "is_transcription": project.task_type == TaskType.TRANSCRIPTION,
            "counted": SHAPE_TASKS[project.task_type][1].capitalize() if project.task_type in SHAPE_TASKS else "Items",
            "info": listed_info(version) or {},
            "purged": purged_on(version),
        },
    )


@login_required
def version_diff_page(request, project_id, number):
    """What changed between two versions: ``?against=m`` (default: the version's parent)."""
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    version = version_for(project=project, ref=number)
    against_ref = request.GET.get("against") or (version.parent.number if version.parent else None)
    if against_ref is None:
        raise Http404("This is the first version: choose another one to compare with (?against=...).")
    against = version_for(project=project, ref=against_ref)
    if against.pk == version.pk:  # "v2 → v2", every count 0: refused as a bad ``against`` is
        raise Http404(
            f"v{version.number} compared with itself has no changes: choose another version to compare with "
            "(?against=...)."
        )
    diff = version_diff(version=version, against=against, limit=DIFF_PAGE_ROWS)
    # Each item opens its review page, as on the version page; an item deleted since has none to open.
    named = {row["item"] for key in ("relabeled", "added", "removed") for row in diff[key]}
    return render(
        request,
        "labeling/version_diff.html",
        {
            "project": project,
            "membership": membership,
            "version": version,
            "against": against,
            "diff": diff,
            "existing": set(Item.objects.filter(project=project, pk__in=named).values_list("pk", flat=True)),
            "class_names": class_names(project=project),
            "limit": DIFF_PAGE_ROWS,
            "recipe_changes": recipe_changes(old=against.policy, new=version.policy),
            "shape_kind": SHAPE_TASKS[project.task_type][1] if project.task_type in SHAPE_TASKS else "",
            # the versions to compare with: every one but this one
            "all_versions": versions_list(project=project).exclude(pk=version.pk),
        },
    )


@login_required
def version_changelog(request, project_id):
    """Every version against its parent: item changes and recipe changes, newest first."""
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    entries = [
        {
            "version": v,
            "recipe_changes": recipe_changes(old=v.parent.policy, new=v.policy) if v.parent else [],
        }
        for v in versions_list(project=project)
    ]
    return render(
        request, "labeling/version_changelog.html", {"project": project, "membership": membership, "entries": entries}
    )


@login_required
def webhooks(request, project_id):
    """Webhooks (add, disable, delete) and the delivery log. Managers only: secrets are shown."""
    project, membership = _project(request, project_id, role=Role.MANAGER)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_register(project=project, url=form.cleaned_data["url"], user=request.user)
        except ValidationError as exc:
            for message in exc.message_dict.get("url", exc.messages):
                form.add_error("url", message)
        else:
            return redirect("webhooks", project_id=project.pk)
    return render(
        request,
        "labeling/webhooks.html",
        {
            "project": project,
            "membership": membership,
            "webhooks": webhooks_list(project=project),
            "deliveries": deliveries_list(project=project)[:100],
            "form": form,
        },
    )


@login_required
@require_POST
def webhook_action(request, project_id, webhook_id, action):
    project, _ = _project(request, project_id, role=Role.MANAGER)
    webhook = webhook_for(project=project, webhook_id=webhook_id)
    if action == "toggle":
        webhook_update(webhook=webhook, active=not webhook.active)
    elif action == "delete":
        webhook_delete(webhook=webhook)
    elif action == "redeliver":
        delivery_id = request.POST.get("delivery", "")
        # a delivery that is no id ("", "abc") was a 500 from the lookup
        deliveries = deliveries_list(project=project, webhook=webhook)
        delivery = deliveries.filter(pk=delivery_id).first() if is_row_id(delivery_id) else None
        if delivery is None:
            raise Http404("No such delivery.")
        webhook_redeliver(delivery=delivery)
        messages.info(request, "Sent again as a new delivery.")
    else:
        raise Http404("Unknown action.")
    return redirect("webhooks", project_id=project.pk)
