"""Pages of the label-consistency workflow (reviewers and managers). Thin: role, selector/service, render.

Writes happen through the JSON API from the pages' small scripts, so pages and machine clients share
one set of rules.
"""

import difflib

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from labeling.api.review import decided_param, review_filters
from labeling.choices import Role
from labeling.markup import markdown_html
from labeling.models import Campaign, DecisionAction, Item
from labeling.selectors import answers_by_item
from labeling.services.campaigns import campaign_progress
from labeling.services.consistency import merge_suggestions_for
from labeling.views import _project


@login_required
def review_queue_page(request, project_id):
    from django.core.paginator import Paginator
    from rest_framework.exceptions import ValidationError

    from analysis.selectors import review_queue

    project, membership = _project(request, project_id, Role.REVIEWER)
    error = None
    try:
        filters, pair, item_ids = review_filters(project, request.GET)
        queue = review_queue(
            project=project,
            filters=filters,
            class_pair=pair,
            item_ids=item_ids,
            include_decided=decided_param(request.GET),
        )
    except ValidationError as exc:
        error = "; ".join(str(v[0] if isinstance(v, list) else v) for v in exc.detail.values())
        queue = {"rows": [], "counts": {}, "n_items": 0}
    page = Paginator(queue["rows"], 50).get_page(request.GET.get("page"))
    answers = answers_by_item(item_ids=[row["item"] for row in page])
    rows = [{**row, "answers": answers.get(row["item"], [])} for row in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "labeling/review_queue.html",
        {
            "project": project,
            "membership": membership,
            "rows": rows,
            "page": page,
            "counts": queue["counts"],
            "n_items": queue["n_items"],
            "params": request.GET,
            "query": query.urlencode(),
            "error": error,
            "tags": project.tags.order_by("name"),
            "guidelines": project.guidelines.order_by("version"),
            "classes": project.classes.filter(retired=False),
            "labelers": project.memberships.filter(role=Role.LABELER).select_related("user").order_by("user__username"),
            "queue_ids": ",".join(str(row["item"]) for row in queue["rows"][:500]),
        },
    )


@login_required
def review_item_page(request, project_id, item_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    item = Item.objects.filter(project=project, pk=item_id).select_related("source").first()
    if item is None:
        raise Http404("No item with that id in this project.")
    queue = [int(i) for i in request.GET.get("queue", "").split(",") if i.isdigit()]
    following = [i for i in queue if i != item.pk]
    position = queue.index(item.pk) if item.pk in queue else -1
    next_ids = queue[position + 1 :] if position >= 0 else following
    next_url = None
    if next_ids:
        next_url = reverse("review-item", args=[project.pk, next_ids[0]]) + "?queue=" + ",".join(map(str, next_ids))
    return render(
        request,
        "labeling/review_item.html",
        {
            "project": project,
            "membership": membership,
            "item": item,
            "answers": answers_by_item(item_ids=[item.pk]).get(item.pk, []),
            "decisions": item.decisions.select_related("reviewer").order_by("-created"),
            "classes": project.classes.filter(retired=False),
            "actions": [a for a in DecisionAction.choices if a[0] != DecisionAction.LABEL],
            "next_url": next_url,
            "queue_url": reverse("review", args=[project.pk]),
            "remaining": len(next_ids),
        },
    )


@login_required
def guidelines_page(request, project_id):
    project, membership = _project(request, project_id, Role.LABELER)
    versions = list(project.guidelines.select_related("author").prefetch_related("examples__item").order_by("-version"))
    shown = versions[0] if versions else None
    if request.GET.get("version"):
        shown = next((g for g in versions if str(g.version) == request.GET["version"]), None)
        if shown is None:
            raise Http404("No such guideline version.")
    diff = None
    if shown and request.GET.get("diff"):
        older = next((g for g in versions if str(g.version) == request.GET["diff"]), None)
        if older:
            diff = list(
                difflib.unified_diff(
                    older.text.splitlines(),
                    shown.text.splitlines(),
                    f"v{older.version}",
                    f"v{shown.version}",
                    lineterm="",
                )
            )
    return render(
        request,
        "labeling/guidelines.html",
        {
            "project": project,
            "membership": membership,
            "versions": versions,
            "shown": shown,
            "shown_html": markdown_html(shown.text) if shown else "",
            "diff": diff,
            "notes": project.guideline_notes.select_related("author", "item").filter(resolved_in__isnull=True)[:50],
            "classes": project.classes.filter(retired=False),
            "can_edit": membership.has_role(Role.REVIEWER),
        },
    )


@login_required
def taxonomy_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    return render(
        request,
        "labeling/taxonomy.html",
        {
            "project": project,
            "membership": membership,
            "classes": project.classes.all(),
            "changes": project.taxonomy_changes.select_related("author", "undone_by").order_by("-number"),
            "suggestions": merge_suggestions_for(project=project) if project.task_type == "classification" else [],
        },
    )


@login_required
def conventions_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    row = getattr(project, "conventions", None)
    return render(
        request,
        "labeling/conventions.html",
        {
            "project": project,
            "membership": membership,
            "rules": row.rules if row else {},
            "updated": row.updated if row else None,
        },
    )


@login_required
def campaigns_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    campaigns = list(project.campaigns.select_related("guideline", "created_by").order_by("-created"))
    return render(
        request,
        "labeling/campaigns.html",
        {
            "project": project,
            "membership": membership,
            "campaigns": [(c, campaign_progress(campaign=c)) for c in campaigns],
            "classes": project.classes.filter(retired=False),
            "tags": project.tags.order_by("name"),
            "guidelines": project.guidelines.order_by("-version"),
            "prefill_items": request.GET.get("items", ""),
        },
    )


@login_required
def campaign_page(request, project_id, campaign_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    campaign = Campaign.objects.filter(project=project, pk=campaign_id).select_related("guideline").first()
    if campaign is None:
        raise Http404("No campaign with that id in this project.")
    return render(
        request,
        "labeling/campaign.html",
        {
            "project": project,
            "membership": membership,
            "campaign": campaign,
            "progress": campaign_progress(campaign=campaign),
            "items": campaign.items.order_by("pk")[:200],
        },
    )
