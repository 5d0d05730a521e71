"""Relabel campaigns: send chosen items back to the labelers, first in the queue, under a guideline version.

Starting a campaign archives the items' current answers (ArchivedAnnotation, with their revisions),
so every labeler — those who answered before included — can answer again under the new instructions,
and agreement on the same items can be compared before and after. It archives their skips too
(ArchivedSkip): a labeler who skipped an item before ("image too dark", "can't tell borderline from 1"),
often the very reason the guideline or the input was fixed, is offered it again, and the reason stays
for the reviewers; a skip made during the campaign holds.

A campaign may take items another campaign holds, active or finished: it takes them over
(CampaignHandover). What it archives on them is the earlier campaign's round, which the earlier campaign's
figures go on reading (``round_answers``): each campaign's page tells what that campaign did, and the later
round's answers never count as the earlier campaign's (a finished campaign's page no more than an active
one's).
"""

import contextlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max
from django.utils import timezone

from analysis.metrics.consistency import pair_agreement
from labelhub.deadlocks import retry_deadlock_once
from labelhub.params import parse_yes_no
from labeling.choices import CampaignStatus, TaskType
from labeling.models import (
    Annotation,
    AnnotationRevision,
    ArchivedAnnotation,
    ArchivedSkip,
    Campaign,
    CampaignHandover,
    Item,
    Reservation,
    Skip,
)
from labeling.selectors import (
    archived_as_they_stood,
    class_mapping,
    current_skips,
    gold_labels,
    known_labelers,
    project_item_ids,
    source_check,
    tag_check,
    unknown_labeler_message,
)
from labeling.services import campaign_shapes
from labeling.services.jobs import project_lock
from labeling.services.recipes import FLAGS, recipe_parse
from labeling.services.resolution import transcript_normalizer

SEND_BACK_NAME = "Sent back by reviewers"
FILTER_FIELDS = {"class", "tag", "labeler", "disagreement", "source", "items", "skipped"}
MAX_ITEMS = 200_000


class CampaignConflict(Exception):
    """Another campaign sent some of a campaign's items back while it was being started (after its items
    were chosen and their agreement measured, before it locked them): nothing of it is made. ``campaigns``:
    the campaigns that took them."""

    def __init__(self, message, campaigns):
        super().__init__(message)
        self.campaigns = campaigns


def campaign_items_for(*, project, item_ids=None, filter=None) -> list[int]:  # noqa: A002 - the API's word
    """Item ids chosen by explicit ids (all must be the project's) or by a filter whose fields narrow each
    other: ``items`` (ids), ``class`` (an answer or the imported label is this class), ``tag``, ``source``
    (id or name), ``labeler`` (answered by this username; with ``class``: this labeler gave the class),
    ``disagreement`` (true: the answers differ; false or left out: no restriction), ``skipped`` (true: a
    labeler's skip holds on the item, the items whose guideline or input to fix; false: none does; left
    out: no restriction; a skip an earlier campaign archived no longer holds)."""
    if item_ids is not None:
        ids = []
        for value in item_ids:
            try:
                ids.append(int(value))
            except (TypeError, ValueError):
                raise ValidationError({"items": f"'{value}' is not an item id"}) from None
        ids = list(dict.fromkeys(ids))
        found = project_item_ids(project=project, item_ids=ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError({"items": f"not items of this project: {', '.join(map(str, missing[:20]))}"})
        return ids
    if filter is not None and not isinstance(filter, dict):
        raise ValidationError({"filter": 'an object such as {"tag": "night"}'})
    filter = dict(filter or {})  # noqa: A001
    unknown = set(filter) - FILTER_FIELDS
    if unknown:
        raise ValidationError(
            {"filter": f"unknown filter fields: {', '.join(sorted(unknown))} (use {', '.join(sorted(FILTER_FIELDS))})"}
        )
    for name, value in filter.items():
        if name == "items" and value not in (None, "") and not isinstance(value, list):
            raise ValidationError({"filter": "items is a list of item ids"})
        if name != "items" and not isinstance(value, str | int | float | bool | None):
            raise ValidationError({"filter": f"{name} is a single value, not a list or an object"})
    items = Item.objects.filter(project=project)
    if filter.get("items") not in (None, ""):
        # the ids narrowed by the other fields, as the fields narrow each other: the ids alone were taken,
        # so a map selection with "only where answers differ" relabeled every selected item
        items = items.filter(pk__in=campaign_items_for(project=project, item_ids=filter["items"]))
    try:
        disagreement = parse_yes_no(filter.get("disagreement"))
    except ValueError as exc:
        # the text "false" (a form's filter.disagreement=false) is true to Python: it kept the disagreeing items
        raise ValidationError({"filter": f"disagreement: {exc}"}) from None
    try:
        skipped = parse_yes_no(filter.get("skipped"))
    except ValueError as exc:
        raise ValidationError({"filter": f"skipped: {exc}"}) from None
    # An unknown tag or labeler is named, as the agreement and review filters name them: it made an empty
    # selection, refused as "the selection holds no items".
    tag_check(project=project, name=filter.get("tag"), field="filter")
    labeler = filter.get("labeler")
    if labeler and str(labeler) not in known_labelers(project=project, wanted=[str(labeler)]):
        raise ValidationError({"filter": unknown_labeler_message(labeler)})
    if filter.get("class"):
        key = filter["class"]
        if not project.classes.filter(key=key).exists():
            raise ValidationError({"filter": f"unknown class '{key}'"})
        # the class and the keys the taxonomy changes made it of (merged or renamed into it)
        keys = [key, *(old for old, new in class_mapping(project=project).items() if new == key)]
        labeler = filter.get("labeler") or None
        if campaign_shapes.is_shapes(project):
            answered = campaign_shapes.items_with_class(project=project, key=key, labeler=labeler)
        else:
            answered = Annotation.objects.filter(item__project=project, value__in=keys)
            if labeler:
                answered = answered.filter(labeler__username=labeler)
            answered = answered.values("item_id")
        if labeler:
            # the class this labeler gave: "anyone said it, and they answered the item" relabeled the
            # items where another labeler gave the class and they did not (the imported label is nobody's)
            items = items.filter(pk__in=answered)
        else:
            items = items.filter(pk__in=answered) | items.filter(label__in=keys)
    if filter.get("tag"):
        items = items.filter(tags__name=filter["tag"])
    if filter.get("source"):
        # an unknown one said "the selection holds no items", as an unknown tag did
        items = items.filter(source=source_check(project=project, value=str(filter["source"]), field="filter"))
    if filter.get("labeler"):
        items = items.filter(annotations__labeler__username=filter["labeler"])
    if skipped is not None:
        # false means none (not "no restriction" as disagreement's does): the item browser's "not skipped"
        # reaches here as its "all matching" deletion, which must take the items the page showed
        items = items.filter(Exists(current_skips())) if skipped else items.filter(~Exists(current_skips()))
    ids = list(items.values_list("pk", flat=True).distinct())
    if disagreement and campaign_shapes.is_shapes(project):
        ids = campaign_shapes.items_in_disagreement(project=project, item_ids=ids)
    elif disagreement:
        key = comparable(project)
        values = {}
        for item_id, value, *flags in (
            Annotation.objects.filter(item_id__in=ids).values_list("item_id", "value", *FLAGS)
        ).iterator(chunk_size=10000):
            values.setdefault(item_id, set()).add(flag_of(*flags) or key(value))
        ids = [i for i in ids if len(values.get(i, ())) > 1]
    return sorted(ids)


def flag_of(*flags):
    """The category a flagged answer counts as, given its flags in ``FLAGS`` order (strongest first; None
    for an answer without a flag): its strongest flag, as the agreement report counts it (its "category"
    policy): "borderline" and "deep" disagree, two "uncertain" agree."""
    return next((name for name, on in zip(FLAGS, flags, strict=True) if on), None)


def comparable(project):
    """``value -> value`` as answers are compared: a class as the taxonomy changes count it (after
    merging deep into scratch, "deep" and "scratch" agree), a transcript as a default version normalizes
    it (the project's conventions, then case, punctuation and spaces: "Umm, yes" and "um yes" agree)."""
    if project.task_type == TaskType.TRANSCRIPTION:
        return transcript_normalizer(project=project, policy=recipe_parse(project=project, data={}))
    mapping = class_mapping(project=project)
    return lambda value: mapping.get(value, value)


def handovers_in_effect(campaign) -> dict[int, CampaignHandover]:
    """``{item id: handover}``: the campaign's items a later campaign took over (and it has not taken
    back)."""
    rows = CampaignHandover.objects.filter(campaign=campaign, returned__isnull=True).order_by("pk")
    return {h.item_id: h for h in rows.iterator(chunk_size=10000)}


def round_answers(*, item_ids, handed=None, fields=("value",)) -> list[tuple]:
    """``(item_id, labeler_id, *fields)`` of the answers a campaign's round gave its items: the current
    answers, except on the items it handed over (``handed``, of ``handovers_in_effect``), where its round
    is what the campaign that took them archived, each labeler's answer as it stood then. The later round
    never counts as the earlier campaign's."""
    handed = handed or {}
    own = [i for i in item_ids if i not in handed]
    rows = list(Annotation.objects.filter(item_id__in=own).values_list("item_id", "labeler_id", *fields))
    events = {}
    for h in handed.values():
        events.setdefault((h.taken_by_id, h.archived_after, h.archived_through), []).append(h.item_id)
    for (taker, after, through), ids in sorted(events.items(), key=lambda e: (e[0][0], e[0][1] or 0)):
        archived = ArchivedAnnotation.objects.filter(campaign_id=taker, item_id__in=ids)
        if after is not None:
            archived = archived.filter(pk__gt=after)
        if through is not None:
            archived = archived.filter(pk__lte=through)
        stood = archived_as_they_stood(archived, fields)
        rows.extend((i, labeler, *values) for (_, i, labeler), values in stood.items())
    return rows


def _agreement_on(project, item_ids, archived_by=None, handed=None):
    """Agreement of the current answers on these items (None without an item with 2+ answers): percent
    agreement, or the shape F1 in detection and segments projects; ``agreement`` holds it and ``metric``
    names it. ``archived_by``: of the answers this campaign archived instead, one per item and labeler as
    it stood when the item was sent back. ``handed``: the items a campaign handed over, whose answers are
    its round's, archived by the campaign that took them (``round_answers``)."""
    if campaign_shapes.is_shapes(project):
        current = None
        if archived_by is None and handed:
            current = [row[:3] for row in round_answers(item_ids=item_ids, handed=handed)]
        return campaign_shapes.agreement_on(
            project=project, item_ids=item_ids, archived_by=archived_by, current=current
        )
    key = comparable(project)
    if archived_by is None:
        rows = [row[:1] + row[2:] for row in round_answers(item_ids=item_ids, handed=handed, fields=("value", *FLAGS))]
    else:
        stood = archived_as_they_stood(
            ArchivedAnnotation.objects.filter(campaign=archived_by, item_id__in=item_ids), ("value", *FLAGS)
        )
        rows = [(item_id, *values) for (_, item_id, _), values in sorted(stood.items())]
    return _agreement_of_rows(rows, n_items=len(item_ids), key=key)


def _agreement_of_rows(rows, *, n_items, key):
    """``_agreement_on``'s figures of ``(item_id, value, *FLAGS)`` rows (one per answer), values counted
    through ``key`` (``comparable``). Items are taken in id order, whatever order the rows came in, so that
    the campaigns list and a campaign's page sum the same numbers the same way."""
    by_item = {}
    for item_id, value, *flags in sorted(rows, key=lambda row: row[0]):
        by_item.setdefault(item_id, []).append(flag_of(*flags) or key(value))
    categories = {v: i for i, v in enumerate(sorted({v for vs in by_item.values() for v in vs}))}
    width = max((len(v) for v in by_item.values()), default=0)
    if width < 2:
        n_answers = sum(map(len, by_item.values()))
        return {**_percent(None), "n_items": n_items, "n_answers": n_answers}
    import numpy as np

    codes = np.full((len(by_item), width), -1, dtype=np.int64)
    for row, values in enumerate(by_item.values()):
        codes[row, : len(values)] = [categories[v] for v in values]
    try:
        value = pair_agreement(codes, len(categories))
    except ValueError:
        value = None
    return {**_percent(value), "n_items": n_items, "n_answers": int((codes >= 0).sum())}


def _percent(value):
    return {"agreement": value, "metric": "percent_agreement", "percent_agreement": value}


def _archive(*, campaign, item_ids):
    """Move the items' answers (and their revisions) and skips to the archive; put the items back in the
    queue, to those who skipped them too (the queue reads only Skip rows: its SQL is unchanged)."""
    answers = list(Annotation.objects.filter(item_id__in=item_ids))
    archived = [
        ArchivedAnnotation(
            campaign=campaign,
            item_id=a.item_id,
            labeler_id=a.labeler_id,
            value=a.value,
            borderline=a.borderline,
            borderline_with=a.borderline_with,
            uncertain=a.uncertain,
            out_of_domain=a.out_of_domain,
            comment=a.comment,
            seconds=a.seconds,
            guideline_id=a.guideline_id,
            answered=a.updated,
        )
        for a in answers
    ]
    for r in AnnotationRevision.objects.filter(annotation__item_id__in=item_ids).select_related("annotation"):
        archived.append(
            ArchivedAnnotation(
                campaign=campaign,
                item_id=r.annotation.item_id,
                labeler_id=r.annotation.labeler_id,
                value=r.value,
                borderline=r.borderline,
                borderline_with=r.borderline_with,
                uncertain=r.uncertain,
                out_of_domain=r.out_of_domain,
                comment=r.comment,
                seconds=r.seconds,
                guideline_id=r.guideline_id,
                answered=r.answered,
            )
        )
    ArchivedAnnotation.objects.bulk_create(archived, batch_size=5000)
    Annotation.objects.filter(item_id__in=item_ids).delete()
    skips = Skip.objects.filter(item_id__in=item_ids)
    ArchivedSkip.objects.bulk_create(
        (
            ArchivedSkip(
                campaign=campaign, item_id=s.item_id, labeler_id=s.labeler_id, reason=s.reason, skipped=s.created
            )
            for s in skips.order_by("pk").iterator(chunk_size=5000)
        ),
        batch_size=5000,
    )
    skips.delete()
    Reservation.objects.filter(item_id__in=item_ids).update(item=None)


def campaign_same(*, project, name, item_ids=None, filter=None, overlap=None, guideline=None):  # noqa: A002
    """The project's active campaign this request already made, if any: same name, overlap, guideline,
    filter and (given as ids) items, whoever asked for it.

    A client whose answer was lost sends the request again; a second campaign over the same items archived
    the answers labelers had given since the first and sent the items back twice. So did a second SME
    asking for the campaign a first one had just started (the same name, items, overlap and guideline),
    which is why the maker is not compared. A retry of a filter campaign cannot be told by its items (the
    first one changed the answers the filter reads: a ``disagreement`` filter then finds none), so it is
    told by the filter as stored.
    """
    name = (name or "").strip()
    overlap = project.overlap if overlap in (None, "") else overlap
    with contextlib.suppress(TypeError, ValueError):
        overlap = int(overlap)
    if guideline in (None, ""):
        guideline_id = project.active_guideline.pk if project.active_guideline else None
    else:
        row = project.guidelines.filter(version=guideline).first() if str(guideline).isdigit() else None
        if row is None:
            return None
        guideline_id = row.pk
    wanted = None
    if item_ids is not None:
        try:
            wanted = {int(i) for i in item_ids}
        except (TypeError, ValueError):
            return None
    candidates = Campaign.objects.filter(
        project=project,
        name=name,
        status=CampaignStatus.ACTIVE,
        overlap=overlap,
        guideline_id=guideline_id,
    ).order_by("-created", "-id")
    for campaign in candidates[:5]:
        selection = campaign.selection or {}
        if selection.get("filter", {}) != (filter or {}):
            continue
        if wanted is None:  # by filter (a likeliest_errors filter stores the items it chose: not compared)
            return campaign
        if selection.get("items") and set(campaign.items.values_list("pk", flat=True)) == wanted:
            return campaign
    return None


def campaign_start(
    *,
    project,
    name,
    item_ids=None,
    filter=None,  # noqa: A002 - the API's word
    overlap=None,
    guideline=None,
    user=None,
    choose=None,
) -> tuple[Campaign, bool]:
    """Start a relabel campaign (``campaign_create``) unless the same request made one already: answers
    ``(campaign, created)``, ``created`` False when ``campaign_same`` found the active campaign a copy
    of this request made (a retry whose answer was lost, a double click, another SME asking for the
    same), which nothing changes.

    ``choose``: for a request that names no item ids (a ``likeliest_errors`` filter), called for them
    once no such campaign is found.

    The items are chosen and the request checked (``campaign_prepare``) before the project's row is
    locked: a filter's choice reads the project's answers, and a version build, a guideline publish or a
    taxonomy change of the project waited for it. The row is then locked (NO KEY, as ``campaign_send_back``
    does: reservations are not held up) from a second look for the same campaign to the new one's commit:
    two identical requests at once each looked before either had made its campaign, and both made one,
    sending the items back twice.
    """
    request = {
        "project": project,
        "name": name,
        "item_ids": item_ids,
        "filter": filter,
        "overlap": overlap,
        "guideline": guideline,
    }
    same = campaign_same(**request)  # a retry is answered without choosing its items again
    if same is not None:
        return same, False
    seen = _last_sent_back(project)  # before the choice: what the choice and the measure "before" read
    try:
        chosen = choose() if choose is not None else item_ids
        prepared = campaign_prepare(**{**request, "item_ids": chosen})
    except ValidationError:
        # The same request, sent at the same moment, made its campaign while this one chose: its filter
        # (where answers differ, likeliest errors) then reads the answers that campaign archived, finds
        # no item, and the retry would be refused instead of answered the campaign.
        same = campaign_same(**request)
        if same is not None:
            return same, False
        raise
    return _campaign_start_locked(request=request, prepared=prepared, user=user, seen=seen)


@retry_deadlock_once  # as campaign_create: the project's row first, then the items in id order
@transaction.atomic
def _campaign_start_locked(*, request, prepared, user, seen):
    project = project_lock(request["project"].pk) or request["project"]
    # The project as it stands now: a request naming no guideline (or overlap) takes the active one when
    # the campaign is made, not the one its request read as it began (a guideline published meanwhile).
    request, prepared = {**request, "project": project}, _as_project_stands(project, request, prepared)
    same = campaign_same(**request)
    if same is not None:  # the same request, sent at the same moment, made it while this one waited or chose
        return same, False
    _refuse_items_taken_since(project=project, item_ids=prepared["item_ids"], seen=seen)
    return _campaign_insert(project=project, prepared=prepared, user=user), True


def _as_project_stands(project, request, prepared):
    """``prepared`` with the guideline and overlap a request that names none takes from ``project`` (read
    under its lock)."""
    fresh = {}
    if request["guideline"] in (None, ""):
        fresh["guideline"] = project.active_guideline
    if request["overlap"] in (None, ""):
        fresh["overlap"] = project.overlap
    return {**prepared, **fresh}


def _last_sent_back(project) -> tuple[int, int]:
    """The ids of the project's latest (campaign, item) row and latest archived answer: items sent back
    later have higher ones. Every campaign of a project adds its items and archives their answers under the
    project's lock, so they are committed in id order."""
    joined = Campaign.items.through.objects.filter(campaign__project_id=project.pk).order_by("-pk")
    archived = ArchivedAnnotation.objects.filter(campaign__project_id=project.pk).order_by("-pk")
    return (joined.values_list("pk", flat=True).first() or 0, archived.values_list("pk", flat=True).first() or 0)


def _refuse_items_taken_since(*, project, item_ids, seen):
    """Raise ``CampaignConflict`` when another campaign sent some of ``item_ids`` back after ``seen``
    (``_last_sent_back`` as the items were being chosen): they joined it, or it archived their answers
    (an item "Sent back by reviewers" once more). Under the project's lock.

    Two different campaigns started at the same moment over the same items each chose them, and measured
    their agreement, on the answers the first then archived: the second held them too, with an empty
    archive (its new answers had nothing to be compared with) and an agreement "before" of answers it
    never held. Refused, it can be started again: it then chooses, measures and archives as a campaign
    started after the first does (which may hold items another active campaign holds)."""
    wanted = set(item_ids)
    taken = {}
    joined = Campaign.items.through.objects.filter(campaign__project_id=project.pk, pk__gt=seen[0])
    archived = ArchivedAnnotation.objects.filter(campaign__project_id=project.pk, pk__gt=seen[1])
    for rows in (joined, archived):
        for campaign_id, item_id in rows.values_list("campaign_id", "item_id").iterator(chunk_size=10000):
            if item_id in wanted:
                taken.setdefault(campaign_id, set()).add(item_id)
    if not taken:
        return
    campaigns = list(Campaign.objects.filter(pk__in=taken).order_by("pk"))
    names = " and ".join(f'the campaign "{c.name}" (#{c.pk})' for c in campaigns)
    shown = sorted({i for ids in taken.values() for i in ids})
    listed = ", ".join(map(str, shown[:20])) + (f" and {len(shown) - 20:,} more" if len(shown) > 20 else "")
    item, were, them = ("Item", "was", "it") if len(shown) == 1 else ("Items", "were", "them")
    raise CampaignConflict(
        f"{item} {listed} {were} sent back by {names} while this one was being started: what was answered on "
        f"{them} is archived there. Nothing was started; start this campaign again to send {them} back once "
        f"more, or leave {them} out.",
        campaigns,
    )


def campaign_prepare(*, project, name, item_ids=None, filter=None, overlap=None, guideline=None) -> dict:  # noqa: A002
    """Check a campaign request and choose its items, taking no lock: answers what ``_campaign_insert``
    makes the campaign of (its items, name, overlap, guideline row, selection and the agreement on the
    items before). An empty selection is an error."""
    if not (name or "").strip():
        raise ValidationError({"name": "a campaign needs a name"})
    if item_ids is None and not filter:
        raise ValidationError({"items": "choose the items: a list of ids, or a filter"})
    ids = campaign_items_for(project=project, item_ids=item_ids, filter=filter)
    if not ids:
        raise ValidationError({"items": "the selection holds no items: a campaign needs at least one"})
    if len(ids) > MAX_ITEMS:
        raise ValidationError({"items": f"at most {MAX_ITEMS:,} items per campaign"})
    overlap = project.overlap if overlap in (None, "") else int(overlap)
    if overlap < 1 or overlap > 50:
        raise ValidationError({"overlap": "overlap is between 1 and 50"})
    if guideline in (None, ""):
        guideline_row = project.active_guideline
    else:
        guideline_row = project.guidelines.filter(version=int(guideline)).first()
        if guideline_row is None:
            raise ValidationError({"guideline": f"this project has no guideline version {guideline}"})
    return {
        "item_ids": ids,
        "name": name.strip(),
        "guideline": guideline_row,
        "overlap": overlap,
        "selection": {"items": item_ids is not None, "filter": filter or {}},
        "before": _agreement_on(project, ids),
    }


def _campaign_insert(*, project, prepared, user):
    """The campaign ``campaign_prepare`` checked and chose, with its items sent back (locked in id order)."""
    campaign = Campaign.objects.create(
        project=project,
        name=prepared["name"],
        guideline=prepared["guideline"],
        overlap=prepared["overlap"],
        created_by=user,
        selection=prepared["selection"],
        before=prepared["before"],
    )
    _add_items(campaign=campaign, item_ids=prepared["item_ids"])
    return campaign


@retry_deadlock_once  # it locks its items in id order; a labeler's answer may lock two the other way
@transaction.atomic
def campaign_create(*, project, name, item_ids=None, filter=None, overlap=None, guideline=None, user=None) -> Campaign:  # noqa: A002
    """Start a relabel campaign; answers the campaign. An empty selection is an error and changes nothing.
    (``campaign_start`` answers the campaign an identical request already made instead.)"""
    project = project_lock(project.pk) or project  # every campaign adds its items under it (``_last_sent_back``)
    prepared = campaign_prepare(
        project=project, name=name, item_ids=item_ids, filter=filter, overlap=overlap, guideline=guideline
    )
    return _campaign_insert(project=project, prepared=prepared, user=user)


def _add_items(*, campaign, item_ids):
    # Lock the items first, in id order (two campaigns then never deadlock): every first answer, revision
    # and reservation of an item is written under its row lock (labeling.services.queue), so no answer
    # lands while the archive runs. An answer given between its read of the answers and their deletion
    # was deleted unarchived; one given between the deletion and the reset of n_answers kept its row
    # but was missing from the counter, which the queue trusts for the k slots.
    # The items still there: one deleted since it was chosen broke a foreign key as the campaign committed.
    item_ids = list(
        Item.objects.filter(pk__in=item_ids).order_by("pk").select_for_update().values_list("pk", flat=True)
    )
    if not item_ids:
        raise ValidationError({"items": "the selection holds no items: they were deleted meanwhile"})
    # Newer campaigns come first in the queue: priority grows with each campaign of the project.
    priority = (Campaign.objects.filter(project=campaign.project).aggregate(n=Max("id"))["n"] or 1) % 30000 + 1
    holders = _holders(campaign=campaign, item_ids=item_ids)
    archived_after = _last_archived(campaign)
    campaign.items.add(*item_ids)
    _archive(campaign=campaign, item_ids=item_ids)
    _record_handovers(campaign=campaign, item_ids=item_ids, holders=holders, archived_after=archived_after)
    Item.objects.filter(pk__in=item_ids).update(n_answers=0, priority=priority, overlap=campaign.overlap)


def _last_archived(campaign) -> int:
    return ArchivedAnnotation.objects.filter(campaign=campaign).aggregate(n=Max("id"))["n"] or 0


def _holders(*, campaign, item_ids) -> dict[int, int]:
    """``{item id: campaign id}``: the other campaign each of ``item_ids`` is in the hands of, active or
    finished (the latest to take it, as a campaign that handed it over holds it no more). A finished one
    hands its items over too: its page would otherwise show the later round as its own "after"."""
    rows = Campaign.items.through.objects.filter(
        item_id__in=item_ids, campaign__project_id=campaign.project_id
    ).exclude(campaign=campaign)
    in_effect = CampaignHandover.objects.filter(item_id__in=item_ids, returned__isnull=True)
    handed = set(in_effect.values_list("campaign_id", "item_id"))
    holders = {}
    for campaign_id, item_id in rows.order_by("pk").values_list("campaign_id", "item_id").iterator(chunk_size=10000):
        if (campaign_id, item_id) not in handed:
            holders[item_id] = campaign_id
    return holders


def _record_handovers(*, campaign, item_ids, holders, archived_after):
    """Record which items ``campaign`` took from the campaigns holding them (``holders``), with the
    range of its archived answers that are their round, and take back the items it had handed over
    (reviewers sending an item back again to their standing campaign)."""
    now = timezone.now()
    CampaignHandover.objects.filter(campaign=campaign, item_id__in=item_ids, returned__isnull=True).update(returned=now)
    if not holders:
        return
    through = _last_archived(campaign)
    CampaignHandover.objects.bulk_create(
        (
            CampaignHandover(
                campaign_id=holder,
                taken_by=campaign,
                item_id=item_id,
                archived_after=archived_after,
                archived_through=through,
                created=now,
            )
            for item_id, holder in sorted(holders.items())
        ),
        batch_size=5000,
    )


@transaction.atomic
def campaign_send_back(*, project, item, user=None) -> Campaign:
    """Add one item to the project's standing campaign of items reviewers sent back (created on demand)."""
    # One reviewer at a time looks for (or makes) the standing campaign: two sending items back at once
    # each found none and made one. NO KEY UPDATE: the labelers' reservations, which reference the
    # project, are not held up by it.
    # Its guideline and overlap as the project's row stands under the lock (one published meanwhile).
    current = project_lock(project.pk) or project
    campaign = Campaign.objects.filter(project=project, name=SEND_BACK_NAME, status=CampaignStatus.ACTIVE).first()
    if campaign is None:
        campaign = Campaign.objects.create(
            project=project,
            name=SEND_BACK_NAME,
            guideline=current.active_guideline,
            overlap=current.overlap,
            created_by=user,
            selection={"sent_back": True},
        )
    _add_items(campaign=campaign, item_ids=[item.pk])
    return campaign


@retry_deadlock_once  # its updates lock the items; a labeler's answer (?next=1) may lock two the other way
@transaction.atomic
def campaign_finish(*, campaign) -> Campaign:
    """End a campaign: its items return to the normal queue order and the project's overlap, except those
    another active campaign holds too (items reviewers sent back since, a newer campaign; not one that
    handed them over): they stay in front of the queue, with the overlap of the newest such campaign."""
    # As campaign_send_back does: an item sent back meanwhile is counted as held, not reset after.
    project_lock(campaign.project_id)
    items = Item.objects.filter(campaigns=campaign)
    # Its items first, in id order, as campaign_create and label imports lock theirs, so none of them waits
    # for another in a circle; the updates below would lock them in whatever order the plan reads them.
    list(Item.objects.filter(pk__in=items.values("pk")).order_by("pk").select_for_update().values_list("pk", flat=True))
    others = list(
        Campaign.objects.filter(project_id=campaign.project_id, status=CampaignStatus.ACTIVE)
        .exclude(pk=campaign.pk)
        .order_by("pk")
    )
    # An item another campaign handed over (to this one, or to a later one) is no longer held by it: it
    # counts no answer given on the item now.
    handed = set(
        CampaignHandover.objects.filter(campaign__in=others, item__in=items, returned__isnull=True).values_list(
            "campaign_id", "item_id"
        )
    )
    holder = {}
    pairs = Campaign.items.through.objects.filter(campaign__in=others, item__in=items)
    for other_id, item_id in sorted(pairs.values_list("campaign_id", "item_id")):
        if (other_id, item_id) not in handed:
            holder[item_id] = other_id  # oldest first: the newest campaign's overlap stands
    items.exclude(pk__in=list(holder)).update(priority=0, overlap=None)
    for other in others:
        Item.objects.filter(pk__in=[i for i, c in holder.items() if c == other.pk]).update(overlap=other.overlap)
    campaign.status = CampaignStatus.FINISHED
    campaign.finished = timezone.now()
    campaign.save(update_fields=["status", "finished"])
    return campaign


def campaign_progress(*, campaign) -> dict:
    """Items, how many have their answers again, agreement before and after on the same items, and
    ``versus_archived``: the new answers against the answers the campaign archived, and both against
    gold labels (so a campaign of overlap 1, where the new answers cannot agree among themselves,
    still shows what it changed).

    Items a later campaign took over (while this one was active or after it finished) are counted apart
    (``n_handed_over``,
    ``handed_over`` naming the campaigns that took them): not done nor pending here, and "after" and
    ``versus_archived`` read this campaign's round on them, the answers the later campaign archived, not
    the later round's. ``n_done + n_pending + n_handed_over == n_items``; ``took_over``: the campaigns
    this one took items from."""
    ids = list(campaign.items.values_list("pk", flat=True))
    handed = handovers_in_effect(campaign)
    own = [i for i in ids if i not in handed]
    done = Item.objects.filter(pk__in=own, n_answers__gte=campaign.overlap).count()
    before = campaign.before
    if before and "agreement" not in before:  # recorded before ``agreement`` and ``metric`` existed
        before = {**before, **_percent(before.get("percent_agreement"))}
    if not before or campaign.archived.exists():
        # The answers it archived, counted as the taxonomy and conventions count "after" now: the agreement
        # recorded at the start stayed as counted then, and a class merged while the campaign ran showed a
        # gain (deep and scratch disagreeing before, agreeing after) that no answer had made. Reviewers'
        # standing "Sent back by reviewers" campaign records none at all (its items come one at a time):
        # it read "— before ( answers)" with every answer it archived kept.
        before = _agreement_on(campaign.project, ids, archived_by=campaign)
    shapes = campaign_shapes.is_shapes(campaign.project)
    return {
        "n_items": len(ids),
        "n_done": done,
        "n_handed_over": len(handed),
        "n_pending": len(own) - done,
        "handed_over": _handed_over_to(handed),
        "took_over": _took_over_from(campaign),
        "metric": {"boxes": "box F1", "segments": "segment F1"}[campaign_shapes.shape_kind(campaign.project)]
        if shapes
        else "percent agreement",
        "before": before,
        "after": _agreement_on(campaign.project, ids, handed=handed),
        "versus_archived": (
            campaign_shapes.versus_archived(
                campaign=campaign,
                item_ids=ids,
                current=[row[:3] for row in round_answers(item_ids=ids, handed=handed)] if handed else None,
            )
            if shapes
            else _versus_archived(campaign=campaign, item_ids=ids, handed=handed)
        ),
    }


def campaigns_progress(*, project, campaigns) -> dict[int, dict]:
    """The figures the campaigns list shows of several campaigns of ``project``, in a number of queries
    that does not grow with the campaigns (measured one by one, a project of 50 campaigns took hundreds):
    ``{campaign id: {"n_items", "n_done", "n_handed_over", "n_pending", "metric", "before", "after"}}``,
    each as ``campaign_progress`` counts it. The answers of every listed campaign's items, and the
    archives of those campaigns and of the campaigns that took items over from them, are read once and
    split here."""
    ids = [c.pk for c in campaigns]
    if not ids:
        return {}
    shapes = campaign_shapes.is_shapes(project)
    fields = ("value",) if shapes else ("value", *FLAGS)
    links = Campaign.items.through.objects.filter(campaign_id__in=ids)
    items_of = {pk: [] for pk in ids}
    for campaign_id, item_id in links.order_by("item_id").values_list("campaign_id", "item_id"):
        items_of[campaign_id].append(item_id)
    handed_of = {pk: {} for pk in ids}
    for h in CampaignHandover.objects.filter(campaign_id__in=ids, returned__isnull=True).order_by("pk"):
        handed_of[h.campaign_id][h.item_id] = h
    in_campaigns = links.values("item_id")
    n_answers = dict(Item.objects.filter(pk__in=in_campaigns).values_list("pk", "n_answers"))
    current = {}
    for row in (
        Annotation.objects.filter(item_id__in=in_campaigns).order_by().values_list("item_id", "labeler_id", *fields)
    ):
        current.setdefault(row[0], []).append(row)
    # Archived answers by (campaign, item), oldest first (as ``archived_as_they_stood`` and the shapes
    # measures take the latest per labeler): the listed campaigns' own ("before") and their takers' (the
    # listed campaigns' rounds on the items taken over).
    takers = {h.taken_by_id for handed in handed_of.values() for h in handed.values()}
    archived, archiving = {}, set()
    for row in (
        ArchivedAnnotation.objects.filter(campaign_id__in={*ids, *takers})
        .order_by("answered", "pk")
        .values_list("campaign_id", "item_id", "labeler_id", "pk", *fields)
        .iterator(chunk_size=10000)
    ):
        archived.setdefault(row[:2], []).append(row)
        archiving.add(row[0])

    def as_they_stood(rows):
        """``(item, labeler, *fields)`` of each labeler's latest archived answer of these rows."""
        latest = {}
        for _, item_id, labeler_id, _, *values in rows:
            latest[(item_id, labeler_id)] = (item_id, labeler_id, *values)
        return list(latest.values())

    def round_rows(item_ids, handed):
        """``round_answers`` of the loaded rows."""
        rows = [row for i in item_ids if i not in handed for row in current.get(i, ())]
        for h in handed.values():
            taken = archived.get((h.taken_by_id, h.item_id), ())
            rows.extend(
                as_they_stood(
                    r
                    for r in taken
                    if (h.archived_after is None or r[3] > h.archived_after)
                    and (h.archived_through is None or r[3] <= h.archived_through)
                )
            )
        return rows

    if shapes:
        mapping = class_mapping(project=project)

        def agreement(item_ids, rows):
            return campaign_shapes.agreement_on(
                project=project, item_ids=item_ids, current=[row[:3] for row in rows], mapping=mapping
            )

        metric = {"boxes": "box F1", "segments": "segment F1"}[campaign_shapes.shape_kind(project)]
    else:
        key = comparable(project)

        def agreement(item_ids, rows):
            return _agreement_of_rows([row[:1] + row[2:] for row in rows], n_items=len(item_ids), key=key)

        metric = "percent agreement"
    out = {}
    for campaign in campaigns:
        item_ids, handed = items_of[campaign.pk], handed_of[campaign.pk]
        own = [i for i in item_ids if i not in handed]
        done = sum(n_answers.get(i, 0) >= campaign.overlap for i in own)  # an item deleted meanwhile: not done
        before = campaign.before
        if before and "agreement" not in before:  # as campaign_progress
            before = {**before, **_percent(before.get("percent_agreement"))}
        if not before or campaign.pk in archiving:  # as campaign_progress
            rows = [archived.get((campaign.pk, i), ()) for i in item_ids]
            # shapes: every archived answer, oldest first, as campaign_shapes.agreement_on reads them (the
            # latest that parses counts); classes: each labeler's answer as it stood
            rows = (
                [r[1:3] + r[4:] for rs in rows for r in rs] if shapes else [r for rs in rows for r in as_they_stood(rs)]
            )
            before = agreement(item_ids, rows)
        out[campaign.pk] = {
            "n_items": len(item_ids),
            "n_done": done,
            "n_handed_over": len(handed),
            "n_pending": len(own) - done,
            "metric": metric,
            "before": before,
            "after": agreement(item_ids, round_rows(item_ids, handed)),
        }
    return out


def _handed_over_to(handed) -> list[dict]:
    """The campaigns that took items over, oldest first: ``{"id", "name", "status", "n_items"}``."""
    counts = {}
    for h in handed.values():
        counts[h.taken_by_id] = counts.get(h.taken_by_id, 0) + 1
    rows = Campaign.objects.filter(pk__in=counts).order_by("pk").values_list("pk", "name", "status")
    return [{"id": pk, "name": name, "status": status, "n_items": counts[pk]} for pk, name, status in rows]


def _took_over_from(campaign) -> list[dict]:
    """The campaigns this one took items from (active or finished), oldest first: ``{"id", "name",
    "n_items"}`` (items it still holds or has handed over since: what it took, counted once per campaign
    and item)."""
    rows = (
        CampaignHandover.objects.filter(taken_by=campaign)
        .values("campaign_id", "campaign__name")
        .annotate(n=Count("item_id", distinct=True))
        .order_by("campaign_id")
    )
    return [{"id": r["campaign_id"], "name": r["campaign__name"], "n_items": r["n"]} for r in rows]


def _versus_archived(*, campaign, item_ids, handed=None) -> dict:
    """New answers against the campaign's archived ones (each labeler's answer as it stood at the start,
    not its revisions) and against gold labels.

    ``agreement``: share of (new answer, archived answer) pairs on the same item that agree;
    ``changed``: items whose majority of new answers differs from the archived majority (ties: no
    majority); ``gold``: on items with a gold label, the share of archived answers (``before``) and of
    new answers (``after``) that match it, with ``n_items``.
    """
    from collections import Counter

    key_of = comparable(campaign.project)
    archived, stamp = {}, {}
    for item_id, labeler_id, value, answered, *flags in ArchivedAnnotation.objects.filter(
        campaign=campaign, item_id__in=item_ids
    ).values_list("item_id", "labeler_id", "value", "answered", *FLAGS):
        key = (item_id, labeler_id)
        category = flag_of(*flags) or (key_of(value) if value else None)
        if category is not None and (key not in stamp or answered >= stamp[key]):
            stamp[key] = answered
            archived[key] = category
    old, new = {}, {}
    for (item_id, _), value in archived.items():
        old.setdefault(item_id, []).append(value)
    for item_id, _, value, *flags in round_answers(item_ids=item_ids, handed=handed, fields=("value", *FLAGS)):
        category = flag_of(*flags) or (key_of(value) if value else None)
        if category is not None:
            new.setdefault(item_id, []).append(category)

    def majority(values):
        common = Counter(values).most_common(2)
        return common[0][0] if common and (len(common) == 1 or common[0][1] > common[1][1]) else None

    pairs = agree = changed = compared = 0
    for item_id, values in new.items():
        before = old.get(item_id, [])
        pairs += len(values) * len(before)
        agree += sum(a == b for a in values for b in before)
        if before:
            compared += 1
            changed += majority(values) != majority(before)
    wanted = set(item_ids)
    gold = {i: key_of(g) for i, g in gold_labels(project=campaign.project).items() if i in wanted}

    def accuracy(answers):
        scored = [(v == gold[i]) for i, values in answers.items() if i in gold for v in values]
        return round(sum(scored) / len(scored), 4) if scored else None

    return {
        "agreement": round(agree / pairs, 4) if pairs else None,
        "metric": "percent_agreement",
        "n_pairs": pairs,
        "changed": changed,
        "n_compared": compared,
        "gold": {"before": accuracy(old), "after": accuracy(new), "n_items": len(gold)},
    }
