"""Pages. Thin: check the role, call a selector or service, render."""

import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from rest_framework.exceptions import PermissionDenied

from labelhub.params import parse_yes_no
from labeling.choices import SHAPE_TASKS, Role, TaskType
from labeling.forms import SourceForm
from labeling.markup import markdown_html
from labeling.selectors import (
    archived_memberships,
    class_mapping,
    current_skips_by_item,
    inventory_summary,
    items_list,
    labeler_last_guideline_version,
    project_create_allowed,
    project_creators_rule,
    project_for_user,
    project_overview,
    projects_with_progress,
    recent_imports,
)
from labeling.services.annotations import MAX_COMMENT_CHARS, MAX_TRANSCRIPT_CHARS
from labeling.services.queue import reservation_seconds
from labeling.services.sources import source_create, source_update

SKIP_REASONS = [
    "I cannot see or hear it properly",
    "I am not sure what the answer is",
    "Offensive, personal or sensitive content",
    "The item is broken or empty",
]
# The key that starts a box from the keyboard on a detection project's labeling page (a crosshair the
# arrows move). Class keys come first on that page, so a project whose class took x draws with Shift+X.
BOX_DRAW_KEYS = ("x", "X")
# The key that chooses which corner of the selected box Shift+arrows move (bottom-right, bottom-left,
# top-left, top-right in turn): h, for the handle the mouse would drag; Shift+H when a class has h.
BOX_CORNER_KEYS = ("h", "H")


def box_keys(project, classes):
    """The detection keys of a project's labeling page, which its review page uses too (one habit for
    both pages): {"draw": ..., "corner": ...}, each the first of its spellings no class of the project
    uses; "" when the project draws no boxes or its classes took both spellings (the mouse then draws,
    and Shift+arrows move the right and bottom edges only)."""
    if project.task_type != TaskType.DETECTION:
        return {"draw": "", "corner": ""}
    taken = {c.hotkey for c in classes}
    return {
        name: next((key for key in keys if key not in taken), "")
        for name, keys in (("draw", BOX_DRAW_KEYS), ("corner", BOX_CORNER_KEYS))
    }


def _project(request, project_id, role=Role.LABELER):
    """Like project_for_user, with Django's PermissionDenied so pages answer a 403 page."""
    try:
        return project_for_user(user=request.user, project_id=project_id, role=role)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc.detail)) from None


@login_required
def home(request):
    """The labeler home: each project with the user's own progress and the project's, and a way in; with
    no project yet, the first-run steps (create a project, import, label) or whom to ask; a member whose
    projects are all archived is told so, not that they belong to none."""
    projects = projects_with_progress(user=request.user)
    archived = [] if projects else archived_memberships(user=request.user)
    return render(
        request,
        "labeling/home.html",
        {
            "projects": projects,
            "archived": archived,
            "can_create": project_create_allowed(user=request.user),
            "creators_rule": project_creators_rule(),
        },
    )


@login_required
def label(request, project_id):
    """The labeling page: a shell the page's script fills item after item through the labeling API."""
    project, membership = _project(request, project_id)
    classes = project.active_classes()
    guideline = project.active_guideline
    keys = box_keys(project, classes)
    config = {
        "project": {
            "id": project.pk,
            "name": project.name,
            "modality": project.modality,
            "taskType": project.task_type,
            "overlap": project.overlap,
            "binary": project.is_binary,
            "options": project.options,
        },
        "classes": [{"key": c.key, "name": c.name, "hotkey": c.hotkey, "colour": c.colour} for c in classes],
        # Old class key -> today's: a reopened answer's shapes are shown and saved in today's classes.
        "classMap": class_mapping(project=project) if project.task_type in SHAPE_TASKS else {},
        "guideline": guideline.version if guideline else None,
        # Whose page this is: an answer is never sent after someone else signed in in another tab.
        "user": request.user.get_username(),
        "urls": {
            "next": reverse("api:queue-next", args=[project.pk]),
            "progress": reverse("api:progress", args=[project.pk]),
            "project": reverse("api:project-detail", args=[project.pk]),
            "recent": reverse("api:annotation-list", args=[project.pk]) + "?mine=1&page_size=10",
            "submit": reverse("api:annotation-submit", args=[0]),
            "skip": reverse("api:item-skip", args=[0]),
            "home": reverse("home"),
            "login": reverse("login") + "?next=" + reverse("home"),
        },
        "vendor": {
            "wavesurfer": static("vendor/wavesurfer/wavesurfer.esm.js"),
            "regions": static("vendor/wavesurfer/regions.esm.js"),
        },
        "reservationSeconds": reservation_seconds(),
        "maxTranscript": MAX_TRANSCRIPT_CHARS,
        "maxComment": MAX_COMMENT_CHARS,
        "skipReasons": SKIP_REASONS,
        "drawKey": keys["draw"],
        "cornerKey": keys["corner"],
    }
    last_version = labeler_last_guideline_version(project=project, labeler=request.user) if guideline else None
    return render(
        request,
        "labeling/label.html",
        {
            "guideline_changed_from": last_version if last_version and last_version < guideline.version else None,
            "project": project,
            "membership": membership,
            "classes": classes,
            "is_transcription": project.task_type == TaskType.TRANSCRIPTION,
            # Detection / segments: "box" or "segment", the shape the page draws.
            "shape": {"boxes": "box", "segments": "segment"}.get(SHAPE_TASKS.get(project.task_type, ("", ""))[1], ""),
            "guideline": guideline,
            "guideline_html": markdown_html(guideline.text) if guideline else "",
            "conventions_html": markdown_html(project.transcription_conventions, top_heading=4),  # under its h3
            "skip_reasons": SKIP_REASONS,
            "draw_key": keys["draw"],
            "corner_key": keys["corner"],
            "config": config,
        },
    )


@login_required
def project_detail(request, project_id):
    project, membership = _project(request, project_id)
    context = {"project": project, "membership": membership}
    if membership.has_role(Role.REVIEWER):
        context["overview"] = project_overview(project=project)
    return render(request, "labeling/project_detail.html", context)


@login_required
def inventory(request, project_id):
    project, membership = _project(request, project_id)
    days, days_error = 30, None
    raw = request.GET.get("days", "").strip()
    if raw:
        if raw.isascii() and raw.isdigit():
            days = int(raw)
        else:  # showed the 30-day answer as if it had been asked for
            days_error = f"'{raw}' is not a whole number of days from 0; showing 30"
    form = None
    if membership.has_role(Role.MANAGER):
        form = SourceForm(request.POST or None, project=project)
        if request.method == "POST" and form.is_valid():
            source_create(project=project, **form.cleaned_data)
            return redirect("inventory", project_id=project.pk)
    elif request.method == "POST":
        raise DjangoPermissionDenied("Only managers edit the inventory.")
    summary = inventory_summary(project=project, within_days=days)
    return render(
        request,
        "labeling/inventory.html",
        {
            "project": project,
            "membership": membership,
            "summary": summary,
            "days": days,
            "days_error": days_error,
            "form": form,
        },
    )


@login_required
def source_edit(request, project_id, source_id):
    project, membership = _project(request, project_id, role=Role.MANAGER)
    source = project.sources.filter(pk=source_id).first()
    if source is None:
        raise Http404("No such source in this project.")
    form = SourceForm(request.POST or None, instance=source, project=project)
    if request.method == "POST" and form.is_valid():
        source_update(source=source, **form.cleaned_data)
        return redirect("inventory", project_id=project.pk)
    return render(request, "labeling/source_edit.html", {"project": project, "form": form, "source": source})


@login_required
def item_browser(request, project_id):
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    filters = {k: request.GET.get(k, "") for k in ("tag", "source", "label", "skipped")}
    skipped_error = None
    try:
        skipped = parse_yes_no(filters["skipped"])
    except ValueError as exc:  # said beside the filter, not read as "any" in silence
        skipped, skipped_error, filters["skipped"] = None, f"{exc}; showing every item", ""
    if skipped is not None:
        filters["skipped"] = "true" if skipped else "false"  # as the select names it, and the deletion reads it
    items = items_list(project=project, skipped=skipped, **{k: v or None for k, v in filters.items() if k != "skipped"})
    page = Paginator(items, 48).get_page(request.GET.get("page"))
    # the skips that hold on the page's items, who and why (the count comes with the items): one query
    skips = current_skips_by_item(item_ids=[item.pk for item in page])
    # quoted: a tag such as "cats & dogs" written as it is made the next page read the tag "cats "
    query = urlencode({k: v for k, v in filters.items() if v})
    classes = list(project.classes.all())
    # an imported label read by its class's name, as the filter above names it (the key if retired)
    names = {c.key: c.name or c.key for c in classes}
    for item in page:
        item.label_name = names.get(item.label, item.label)
        item.current_skips = skips.get(item.pk, [])
    return render(
        request,
        "labeling/item_browser.html",
        {
            "project": project,
            "membership": membership,
            "page": page,
            "filters": filters,
            "skipped_error": skipped_error,
            "query": query,
            "tags": project.tags.order_by("name"),
            "sources": project.sources.order_by("name"),
            "classes": classes,
            # managers select items and delete them (static/labelhub/item_delete.js): "all matching" sends
            # these filters, which the deletion API reads as the page does
            "can_delete": membership.has_role(Role.MANAGER),
            "delete_filter_json": json.dumps({k: v for k, v in filters.items() if v}),
        },
    )


@login_required
def import_page(request, project_id):
    project, membership = _project(request, project_id, role=Role.MANAGER)
    return render(
        request,
        "labeling/import.html",
        {
            "project": project,
            "membership": membership,
            "sources": project.sources.order_by("name"),
            "imports": recent_imports(project=project),
        },
    )
