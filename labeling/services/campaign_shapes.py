"""Relabel campaigns of detection and segments projects: the campaign's measures in shapes, not strings.

A shapes answer is JSON, so two labelers who drew the same iguana a pixel apart never give equal
values: the classification measures (percent agreement, "the answers differ", "an answer is this
class") mean nothing there. Here, as in the agreement report and dataset versions, shapes match one to
one at IoU ≥ 0.5 with the same class (classes counted as the taxonomy changes say):

* agreement on the campaign's items: the shape F1 of the agreement report (2·Σ matches / Σ shapes over
  every item's labeler pairs), before (at the start) and since;
* new answers against the archived ones: the same F1 over (new answer, archived answer) pairs on the
  same item; an item "changed" when the consensus of its new answers does not match the consensus of
  its archived ones shape for shape; and each side's F1 against gold shapes (an SME's gold decision);
* choosing items: ``disagreement`` = an item whose labelers' shape F1 is below 1, ``class`` = an item
  with a shape of that class in an answer.
"""

import json

from analysis.metrics.shapes import consensus, item_f1, match_shapes, pooled_f1, shape_table
from labeling.choices import SHAPE_TASKS
from labeling.models import Annotation, ArchivedAnnotation
from labeling.selectors import class_mapping, latest_decisions
from labeling.services.shape_versions import mapped_shapes

IOU = 0.5  # as the agreement report's default and dataset versions' consensus


def is_shapes(project) -> bool:
    return project.task_type in SHAPE_TASKS


def shape_kind(project):
    return SHAPE_TASKS[project.task_type][1]


def shape_metric(project) -> str:
    """The agreement measure of a detection or segments project's answers: ``box_f1`` or ``segment_f1``."""
    return "box_f1" if shape_kind(project) == "boxes" else "segment_f1"


def _keys(kind):
    return ("x", "y", "w", "h") if kind == "boxes" else ("start", "end")


def _shapes_of(obj, kind, mapping):
    """The shapes (dicts) of an answer or decision ``{kind: [...]}``, classes counted as ``mapping`` says."""
    return [s for s in mapped_shapes(obj, kind, mapping).get(kind, []) if isinstance(s, dict)]


def _parse(value, kind, mapping):
    """An answer's shapes (classes mapped), or None for a value that is not a shapes answer."""
    try:
        obj = json.loads(value) if value else {kind: []}
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get(kind, []), list):
        return None
    return _shapes_of(obj, kind, mapping)


def _answers(project, rows, mapping=None):
    """``(item, labeler, {kind: shapes})`` of ``(item, labeler, value)`` rows, the last per labeler kept;
    classes through ``mapping`` (default: the project's taxonomy changes)."""
    kind = shape_kind(project)
    mapping = class_mapping(project=project) if mapping is None else mapping
    latest = {}
    for item_id, labeler_id, value in rows:
        shapes = _parse(value, kind, mapping)
        if shapes is not None:
            latest[(item_id, labeler_id)] = {kind: shapes}
    return [(item, labeler, obj) for (item, labeler), obj in latest.items()]


def _f1(a, b, kind):
    """(2·matches, shapes) of two shape lists."""
    keys = _keys(kind)
    matched = match_shapes(
        [[float(s.get(k, "nan")) for k in keys] for s in a],
        [[float(s.get(k, "nan")) for k in keys] for s in b],
        [s.get("label") for s in a],
        [s.get("label") for s in b],
        kind=kind,
        iou=IOU,
    )
    return 2 * len(matched), len(a) + len(b)


def agreement_on(*, project, item_ids, archived_by=None, current=None, mapping=None) -> dict:
    """Shape F1 of the current answers on these items (None without an item with 2+ answers); of the
    answers the campaign ``archived_by`` archived instead, each labeler's as it stood (the latest).
    ``current``: ``(item, labeler, value)`` rows read instead of the current answers (a campaign's round
    on items it handed over, ``campaigns.round_answers``). ``mapping``: the project's ``class_mapping``,
    when the caller has it (default: read here)."""
    if current is not None:
        rows = current
    elif archived_by is None:
        rows = Annotation.objects.filter(item_id__in=item_ids).values_list("item_id", "labeler_id", "value")
    else:
        rows = (
            ArchivedAnnotation.objects.filter(campaign=archived_by, item_id__in=item_ids)
            .order_by("answered", "pk")
            .values_list("item_id", "labeler_id", "value")
        )
    answers = _answers(project, iter(rows) if current is not None else rows.iterator(), mapping)
    value = pooled_f1(shape_table(answers, kind=shape_kind(project)), iou=IOU) if answers else None
    return {"agreement": value, "metric": shape_metric(project), "n_items": len(item_ids), "n_answers": len(answers)}


def _by_item(answers, kind):
    out = {}
    for item, _, obj in answers:
        out.setdefault(item, []).append(obj[kind])
    return out


def _consensus_of(answers, kind):
    return {item: c[kind] for item, c in consensus(shape_table(answers, kind=kind), iou=IOU).items()} if answers else {}


def versus_archived(*, campaign, item_ids, current=None) -> dict:
    """The campaign's new answers against the answers it archived (each labeler's answer as it stood
    at the start), and both against gold shapes; the keys of the classification measure. ``current``: as
    ``agreement_on``'s, the campaign's round read instead of the current answers."""
    project = campaign.project
    kind, mapping = shape_kind(project), class_mapping(project=project)
    archived_rows = (
        ArchivedAnnotation.objects.filter(campaign=campaign, item_id__in=item_ids)
        .order_by("answered", "pk")
        .values_list("item_id", "labeler_id", "value")
    )
    old_answers = _answers(project, archived_rows.iterator(), mapping)
    if current is not None:
        new_rows = iter(current)
    else:
        new_rows = Annotation.objects.filter(item_id__in=item_ids).values_list("item_id", "labeler_id", "value")
        new_rows = new_rows.iterator()
    new_answers = _answers(project, new_rows, mapping)
    old, new = _by_item(old_answers, kind), _by_item(new_answers, kind)

    num = den = pairs = 0
    for item, lists in new.items():
        for a in lists:
            for b in old.get(item, []):
                n, d = _f1(a, b, kind)
                num, den, pairs = num + n, den + d, pairs + 1
    agreement = (num / den if den else 1.0) if pairs else None

    old_cons, new_cons = _consensus_of(old_answers, kind), _consensus_of(new_answers, kind)
    compared = [i for i in new if i in old]
    changed = 0
    for item in compared:
        a, b = new_cons.get(item, []), old_cons.get(item, [])
        n, _ = _f1(a, b, kind)
        changed += n // 2 != max(len(a), len(b))

    wanted = set(item_ids)
    gold = {
        i: _shapes_of(d.shapes, kind, mapping)
        for i, d in latest_decisions(project=project).items()
        if d.gold and d.action == "label" and isinstance(d.shapes, dict) and i in wanted
    }

    def against_gold(by_item):
        n = d = 0
        for item, lists in by_item.items():
            if item in gold:
                for shapes in lists:
                    a, b = _f1(shapes, gold[item], kind)
                    n, d = n + a, d + b
        scored = any(item in gold for item in by_item)
        return (round(n / d, 4) if d else 1.0) if scored else None

    return {
        "agreement": round(agreement, 4) if agreement is not None else None,
        "metric": shape_metric(project),
        "n_pairs": pairs,
        "changed": changed,
        "n_compared": len(compared),
        "gold": {"before": against_gold(old), "after": against_gold(new), "n_items": len(gold)},
    }


def items_with_class(*, project, key, labeler=None) -> set[int]:
    """The project's items with an answer (of the username ``labeler``, when given) holding a shape of
    class ``key`` (or of a class that now counts as it)."""
    mapping = class_mapping(project=project)
    names = [key, *(old for old, new in mapping.items() if new == key)]
    rows = Annotation.objects.filter(item__project=project)
    if labeler:
        rows = rows.filter(labeler__username=labeler)
    matches = rows.none()
    for name in names:  # a cheap prefilter in the database; the parse below decides
        matches = matches | rows.filter(value__contains=json.dumps(name))
    kind = shape_kind(project)
    answers = _answers(project, matches.values_list("item_id", "labeler_id", "value").iterator(), mapping)
    return {item for item, _, obj in answers if any(s["label"] == key for s in obj[kind])}


def items_in_disagreement(*, project, item_ids) -> list[int]:
    """Of ``item_ids``, those whose labelers' shape F1 is below 1 (two or more answers)."""
    rows = Annotation.objects.filter(item_id__in=item_ids).values_list("item_id", "labeler_id", "value")
    answers = _answers(project, rows.iterator())
    if not answers:
        return []
    table = shape_table(answers, kind=shape_kind(project))
    f1 = item_f1(table, iou=IOU)
    return sorted(int(item) for item, value in zip(table.items, f1.tolist(), strict=True) if value < 1.0)
