"""Pages of the label-consistency workflow (reviewers and managers). Thin: role, selector/service, render.

Writes happen through the JSON API from the pages' small scripts, so pages and machine clients share
one set of rules.
"""

import difflib

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from analysis.api.review import decided_param, iou_param, review_filters
from analysis.metrics.shapes import shape_table, split_merge
from analysis.selectors import review_queue
from analysis.services.consistency import merge_suggestions_for
from analysis.views import _project
from labelhub.params import is_row_id
from labeling.choices import SHAPE_TASKS, DecisionAction, Role
from labeling.markup import markdown_html
from labeling.models import Campaign, Item
from labeling.selectors import (
    answers_by_item,
    archived_answers_by_item,
    class_mapping,
    class_names,
    items_still_to_label,
    revised_answers_by_item,
    skips_by_item,
)
from labeling.services.campaigns import campaign_progress, campaigns_progress
from labeling.services.review import decision_summary
from labeling.services.shape_versions import consensus_for
from labeling.views import box_keys

# The review queue's filters (decided, iou and page change what is shown of the matched items, not which).
FILTER_PARAMS = ("tag", "labeler", "labelers", "since", "guideline", "classes", "items")


@login_required
def review_queue_page(request, project_id):
    from django.core.paginator import Paginator
    from rest_framework.exceptions import ValidationError

    project, membership = _project(request, project_id, Role.REVIEWER)
    shaped = project.task_type in SHAPE_TASKS
    error = None
    iou = 0.5
    item_ids = None  # (a filter that cannot be read leaves no selection)
    try:
        filters, pair, item_ids = review_filters(project, request.GET)
        iou = iou_param(project, request.GET, pair)
        queue = review_queue(
            project=project,
            filters=filters,
            class_pair=pair,
            item_ids=item_ids,
            include_decided=decided_param(request.GET),
            iou=iou,
        )
    except ValidationError as exc:
        error = "; ".join(str(v[0] if isinstance(v, list) else v) for v in exc.detail.values())
        queue = {"rows": [], "counts": {}, "n_items": 0, "n_matched": 0}
    page = Paginator(queue["rows"], 50).get_page(request.GET.get("page"))
    answers = answers_by_item(item_ids=[row["item"] for row in page], project=project if shaped else None)
    if shaped:
        kind = SHAPE_TASKS[project.task_type][1]
        for rows_ in answers.values():
            for a in rows_:
                a["n_shapes"] = len(a["value"].get(kind, [])) if isinstance(a["value"], dict) else 0
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
            # an empty queue says why: the filters match no answered item, or nothing there needs review
            "filtered": any(request.GET.get(k) for k in FILTER_PARAMS),
            "n_matched": queue["n_matched"],
            "params": request.GET,
            "query": query.urlencode(),
            "error": error,
            "shaped": shaped,
            "shape_noun": {"boxes": "boxes", "segments": "segments"}.get(
                SHAPE_TASKS.get(project.task_type, ("", ""))[1]
            ),
            "iou": iou,
            "tags": project.tags.order_by("name"),
            "guidelines": project.guidelines.order_by("version"),
            "classes": project.classes.filter(retired=False),
            "class_names": class_names(project=project, old_keys=True),
            "labelers": project.memberships.filter(role=Role.LABELER).select_related("user").order_by("user__username"),
            "queue_ids": ",".join(str(row["item"]) for row in queue["rows"][:500]),
            # A selection (the error analysis's "review these items", a map's) names the items it holds
            # that need no review, which the queue leaves out: the link's count and the page's agree.
            "quiet": queue.get("quiet", []) if item_ids is not None else [],
        },
    )


@login_required
def review_item_page(request, project_id, item_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    item = Item.objects.filter(project=project, pk=item_id).select_related("source").first()
    if item is None:
        raise Http404("No item with that id in this project.")
    queue = [int(i) for i in request.GET.get("queue", "").split(",") if is_row_id(i)]
    following = [i for i in queue if i != item.pk]
    position = queue.index(item.pk) if item.pk in queue else -1
    next_ids = queue[position + 1 :] if position >= 0 else following
    next_url = None
    if next_ids:
        next_url = reverse("review-item", args=[project.pk, next_ids[0]]) + "?queue=" + ",".join(map(str, next_ids))
    if project.task_type in SHAPE_TASKS:
        return _shape_review_page(request, project, membership, item, next_url, len(next_ids))
    classes = list(project.classes.filter(retired=False))
    key = _page_key_for(classes)
    decisions = list(item.decisions.select_related("reviewer").order_by("-created", "-id"))
    # Classes read by their names, as the buttons, the queue and the agreement page read them; a
    # transcription project's answers are transcripts, shown as typed.
    names = class_names(project=project, old_keys=True) if project.task_type == "classification" else {}
    counts_as = None
    if project.task_type == "classification" and decisions:
        active, mapping = {c.key for c in classes}, class_mapping(project=project)

        def counts_as(key):
            key = key if key in active else mapping.get(key)
            return key if key in active else None

    return render(
        request,
        "labeling/review_item.html",
        {
            "project": project,
            "membership": membership,
            "item": item,
            "answers": answers_by_item(item_ids=[item.pk]).get(item.pk, []),
            "archived": archived_answers_by_item(item_ids=[item.pk]).get(item.pk, []),
            "revised": revised_answers_by_item(item_ids=[item.pk]).get(item.pk, []),
            "skips": skips_by_item(item_ids=[item.pk]).get(item.pk, []),
            "decisions": decisions,
            "latest": _latest_decision(decisions, names, user=request.user, counts_as=counts_as),
            "classes": classes,
            "class_names": names,
            "actions": [
                (value, name, key(letter))
                for (value, name), letter in zip(
                    [a for a in DecisionAction.choices if a[0] not in NOT_ACTIONS], "ais", strict=True
                )
            ],
            "gold_key": key("g"),
            "next_url": next_url,
            "queue_url": reverse("review", args=[project.pk]),
            "remaining": len(next_ids),
        },
    )


# The decision form's "or instead" actions: not the final label (the form itself), nor a withdrawal, offered
# apart where there is a decision in force to withdraw.
NOT_ACTIONS = (DecisionAction.LABEL, DecisionAction.WITHDRAWN)


def _latest_decision(decisions, names=None, *, user, counts_as=None):
    """The item's latest decision in words, shown above the decision form: an SME working down the queue
    sees at once that a colleague has settled the item since the queue was read. ``names``: class key →
    name, to read its label by. ``mine``: ``user`` (the reader) made it, and the page says "you".
    ``counts_as``: a class key → the active class it counts as, or None: ``void`` says the decided class
    counts as none now (a merge undone since), which is why the item is back in the queue. ``withdrawn``:
    the latest decision takes back the one before it, and the item is undecided; ``withdrawn_what`` says
    what that one was."""
    if not decisions:
        return None
    d = decisions[0]
    withdrawn = d.action == DecisionAction.WITHDRAWN
    return {
        "reviewer": d.reviewer.username if d.reviewer else None,
        "mine": d.reviewer_id is not None and d.reviewer_id == user.pk,
        "created": d.created,
        "what": decision_summary(d, names=names),
        "withdrawn": withdrawn,
        "withdrawn_what": decision_summary(decisions[1], names=names) if withdrawn and len(decisions) > 1 else "",
        "void": bool(counts_as and d.action == DecisionAction.LABEL and d.label and counts_as(d.label) is None),
    }


def _page_key_for(classes):
    """The review page's own keys (a, i, s for the actions, g for gold) move to their capital letter
    when a class's hotkey takes the letter: a project whose eleventh class answers to "a" can still mark
    an item "instructions ambiguous" by keyboard."""
    taken = {c.hotkey for c in classes if c.hotkey}
    return lambda letter: letter.upper() if letter in taken else letter


def _pct(value):
    return f"{max(0.0, min(100.0, float(value) * 100)):.3f}%"


def shape_marks(*, project, shapes, duration=None, colours=None, names=None):
    """Shapes as percentages for a picture: boxes as ``left, top, width, height`` of the image, segments
    as ``left, width`` of the clip's time bar (needs ``duration``). Drawn with inline styles, not script.
    ``names`` (class key → name) names each mark's class by its name; without it, by its key."""
    colours = colours or {}
    names = names or {}
    marks = []
    for s in (shapes or {}).get("boxes", []):
        marks.append(
            {
                "label": names.get(s["label"], s["label"]),
                "colour": colours.get(s["label"], "#0b63c5"),
                "style": f"left:{_pct(s['x'])};top:{_pct(s['y'])};width:{_pct(s['w'])};height:{_pct(s['h'])}",
            }
        )
    if duration:
        for s in (shapes or {}).get("segments", []):
            start, end = s["start"] / duration, s["end"] / duration
            marks.append(
                {
                    "label": names.get(s["label"], s["label"]),
                    "colour": colours.get(s["label"], "#0b63c5"),
                    "style": f"left:{_pct(start)};width:{_pct(end - start)}",
                }
            )
    return marks


# Labelers' layers on the shape review page: distinct from one another, in the order labelers are listed.
LAYER_COLOURS = ("#d1495b", "#1f77d0", "#2a9d4b", "#e08a00", "#8e44ad", "#17a2b8", "#b5651d", "#6b7280", "#c2185b")


def _shape_review_page(request, project, membership, item, next_url, remaining):
    """The review page of a detection / segments item: every labeler's shapes as a layer of its own colour
    (toggled by checkbox or number key), their consensus, and the shape editor of the labeling page for the
    final shapes (see static/labelhub/review/shapes_review.js)."""
    from django.templatetags.static import static

    kind = SHAPE_TASKS[project.task_type][1]
    # Shapes reach the page (its layers, the editor) in today's classes: answers and decisions keep the
    # keys they were given, which taxonomy changes may since have renamed or merged away.
    mapping = class_mapping(project=project)

    def mapped(shapes):
        return [{**s, "label": mapping.get(s.get("label"), s.get("label"))} for s in shapes] if mapping else shapes

    answers = answers_by_item(item_ids=[item.pk], project=project).get(item.pk, [])
    layers = []
    for n, a in enumerate(answers):
        shapes = mapped(a["value"].get(kind, [])) if isinstance(a["value"], dict) else []
        a["n_shapes"] = len(shapes)
        layers.append({"name": a["labeler"], "colour": LAYER_COLOURS[n % len(LAYER_COLOURS)], "shapes": shapes})
    # Answers a relabel campaign archived: drawn apart, as earlier evidence, not as layers of the editor;
    # their classes read by name, as the class buttons read them.
    colours = {c.key: c.colour for c in project.classes.all()}
    names = class_names(project=project, old_keys=True)
    archived = archived_answers_by_item(item_ids=[item.pk], project=project).get(item.pk, [])
    for a in archived:
        shapes = a["value"].get(kind, []) if isinstance(a["value"], dict) else []
        a["n_shapes"] = len(shapes)
        a["classes"] = sorted({names.get(s.get("label", ""), s.get("label", "")) for s in shapes})
        a["marks"] = shape_marks(
            project=project,
            shapes={kind: shapes},
            duration=(item.stats or {}).get("duration"),
            colours=colours,
            names=names,
        )
    # Answers their labelers changed since (the current one is in the layers): how many shapes, of which classes.
    revised = revised_answers_by_item(item_ids=[item.pk], project=project).get(item.pk, [])
    for a in revised:
        shapes = a["value"].get(kind, []) if isinstance(a["value"], dict) else []
        a["n_shapes"] = len(shapes)
        a["classes"] = sorted({names.get(s.get("label", ""), s.get("label", "")) for s in shapes})
    consensus = consensus_for(project=project, item_ids=[item.pk]).get(item.pk, {kind: []})
    decisions = list(item.decisions.select_related("reviewer").order_by("-created", "-id"))
    for d in decisions:
        d.n_shapes = len(d.shapes.get(kind, [])) if isinstance(d.shapes, dict) else None
    latest = decisions[0] if decisions else None
    start = latest.shapes if latest is not None and latest.shapes is not None else consensus
    if isinstance(start, dict) and start is not consensus:  # (the consensus is in today's classes already)
        start = {kind: mapped(start.get(kind, []))}
    table = shape_table([(item.pk, layer["name"], {kind: layer["shapes"]}) for layer in layers], kind=kind)
    noun = "box" if kind == "boxes" else "segment"
    splits = [f"{r['one']} drew one {noun} where {r['many']} drew {r['n']}" for r in split_merge(table)]
    classes = project.classes.filter(retired=False)
    # The labeling page's box keys (x draws, h chooses the corner): one habit for both pages. Enter here
    # records the decision, except while a box is being drawn, when it makes the box.
    keys = box_keys(project, classes)
    config = {
        "project": project.pk,  # with the item and the user, names the tab's draft of the decision
        "item": item.pk,
        "kind": kind,
        "taskType": project.task_type,
        "file": reverse("api:item-file", args=[item.pk]) if item.file else None,
        "duration": (item.stats or {}).get("duration"),
        "classes": [{"key": c.key, "name": c.name, "hotkey": c.hotkey, "colour": c.colour} for c in classes],
        "options": {"borderline": project.allow_borderline, "uncertain": project.allow_uncertain},
        "layers": layers,
        "consensus": consensus,
        "start": start,
        "decisionUrl": reverse("api:decision", args=[item.pk]),
        # The latest decision the page shows: one another reviewer records meanwhile is answered 409.
        "latest": latest.pk if latest is not None else None,
        "nextUrl": next_url,
        "queueUrl": reverse("review", args=[project.pk]),
        "drawKey": keys["draw"],
        "cornerKey": keys["corner"],
        "vendor": {
            "wavesurfer": static("vendor/wavesurfer/wavesurfer.esm.js"),
            "regions": static("vendor/wavesurfer/regions.esm.js"),
        },
    }
    return render(
        request,
        "labeling/review_shapes.html",
        {
            "project": project,
            "membership": membership,
            "item": item,
            "kind": kind,
            "noun": noun,
            "answers": answers,
            "archived": archived,
            "revised": revised,
            "skips": skips_by_item(item_ids=[item.pk]).get(item.pk, []),
            "layers": layers,
            "n_consensus": len(consensus.get(kind, [])),
            "splits": splits,
            "decisions": decisions,
            "latest": _latest_decision(decisions, user=request.user),
            "classes": classes,
            "actions": [a for a in DecisionAction.choices if a[0] not in NOT_ACTIONS],
            "next_url": next_url,
            "queue_url": reverse("review", args=[project.pk]),
            "remaining": remaining,
            "draw_key": keys["draw"],
            "corner_key": keys["corner"],
            "config": config,
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
    colours = {c.key: c.colour for c in project.classes.all()}
    names = class_names(project=project)
    examples = [
        {
            "example": e,
            "marks": shape_marks(
                project=project,
                shapes=e.shapes,
                duration=(e.item.stats or {}).get("duration"),
                colours=colours,
                names=names,
            ),
        }
        for e in (shown.examples.all() if shown else [])
    ]
    # The reviewers' questions this version answered: their items were left out of the review queue
    # ("instructions ambiguous") until now, and are relabeled under this text from here.
    answered = (
        list(project.guideline_notes.filter(resolved_in=shown).select_related("author").order_by("pk")) if shown else []
    )
    # An example shows the SME's answer and a question's rationale often states it: a labeler sees either once
    # they have answered its item (one query for both)
    hidden = items_still_to_label(
        project=project,
        membership=membership,
        item_ids=[row["example"].item_id for row in examples] + [n.item_id for n in answered if n.item_id],
    )
    examples = [row for row in examples if row["example"].item_id not in hidden]
    answered = [n for n in answered if n.item_id not in hidden]
    return render(
        request,
        "labeling/guidelines.html",
        {
            "project": project,
            "membership": membership,
            "versions": versions,
            "shown": shown,
            "examples": examples,
            "answered": answered,
            "answered_items": ",".join(dict.fromkeys(str(n.item_id) for n in answered if n.item_id)),
            "class_names": names,
            "shown_html": markdown_html(shown.text, top_heading=3) if shown else "",  # under "Version N"
            "diff": diff,
            "notes": project.guideline_notes.select_related("author", "item").filter(resolved_in__isnull=True)[:50],
            "classes": project.classes.filter(retired=False),
            "shape_kind": SHAPE_TASKS[project.task_type][1] if project.task_type in SHAPE_TASKS else None,
            "can_edit": membership.has_role(Role.REVIEWER),
        },
    )


@login_required
def taxonomy_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    if project.task_type == "transcription":
        raise Http404(
            "A transcription project has no classes to change; its conventions page standardizes transcripts."
        )
    return render(
        request,
        "labeling/taxonomy.html",
        {
            "project": project,
            "membership": membership,
            "classes": project.classes.all(),
            "changes": project.taxonomy_changes.select_related("author", "undone_by").order_by("-number"),
            "suggestions": (
                merge_suggestions_for(project=project)
                if project.task_type == "classification" or project.task_type in SHAPE_TASKS
                else []
            ),
        },
    )


@login_required
def conventions_page(request, project_id):
    project, membership = _project(request, project_id, Role.REVIEWER)
    if project.task_type != "transcription":
        # the menu offers it to transcription projects only; by URL it was a form nothing could save
        raise Http404("Transcript conventions belong to transcription projects; this one is not.")
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
    progress = campaigns_progress(project=project, campaigns=campaigns)
    return render(
        request,
        "labeling/campaigns.html",
        {
            "project": project,
            "membership": membership,
            "campaigns": [(c, progress[c.pk]) for c in campaigns],
            "classes": project.classes.filter(retired=False),
            "tags": project.tags.order_by("name"),
            "guidelines": project.guidelines.order_by("-version"),
            "prefill_items": request.GET.get("items", ""),
            "prefill_guideline": request.GET.get("guideline", ""),
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
