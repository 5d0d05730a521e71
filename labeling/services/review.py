"""Reviewers' (SMEs') decisions on disputed items, guideline notes, examples and transcript conventions."""

from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.choices import TaskType
from labeling.models import (
    Decision,
    DecisionAction,
    GuidelineExample,
    GuidelineNote,
    TranscriptConventions,
)
from labeling.services.items import items_tag

NEEDS_INPUT_TAG = "needs-better-input"
MAX_RATIONALE_CHARS = 5000


@transaction.atomic
def decision_record(
    *,
    item,
    reviewer,
    label="",
    borderline=False,
    uncertain=False,
    out_of_domain=False,
    gold=False,
    rationale="",
    action=DecisionAction.LABEL,
) -> Decision:
    """Record a reviewer's decision on an item; earlier decisions stay as the audit trail.

    ``action`` "label": a final label (a class key, or a transcript; or a borderline / uncertain /
    out-of-domain verdict), optionally marked gold. The other actions take no label:
    "ambiguous_instructions" opens a guideline note linked to the item, "input_insufficient" tags the
    item for the data team (change x, not y), "relabel" sends it back to the labelers through the
    project's standing "Sent back by reviewers" campaign.
    """
    project = item.project
    if action not in DecisionAction.values:
        raise ValidationError({"action": f"unknown action '{action}' (one of {', '.join(DecisionAction.values)})"})
    if len(rationale or "") > MAX_RATIONALE_CHARS:
        raise ValidationError({"rationale": f"the rationale is over {MAX_RATIONALE_CHARS} characters"})
    flagged = borderline or uncertain or out_of_domain
    if action == DecisionAction.LABEL:
        for flag, given, allowed in (
            ("borderline", borderline, project.allow_borderline),
            ("uncertain", uncertain, project.allow_uncertain),
            ("out_of_domain", out_of_domain, project.allow_out_of_domain),
        ):
            if given and not allowed:
                raise ValidationError({flag: f"this project has no {flag.replace('_', '-')} option"})
        if project.task_type == TaskType.CLASSIFICATION:
            keys = {c.key for c in project.active_classes()}
            if label and label not in keys:
                raise ValidationError(
                    {"label": f"unknown class '{label}' (the project's classes: {', '.join(sorted(keys))})"}
                )
        if not label and not flagged:
            raise ValidationError(
                {"label": "a decision needs a label, or a borderline / uncertain / out-of-domain verdict"}
            )
        if gold and not label:
            raise ValidationError({"gold": "only a decision with a label can be gold"})
    else:
        if label or gold:
            raise ValidationError({"action": f"'{action}' takes no label; decide the label or take the action"})
        if not (rationale or "").strip():
            raise ValidationError({"rationale": "say why, so the labelers and the data team know what to change"})
    decision = Decision.objects.create(
        item=item,
        reviewer=reviewer,
        action=action,
        label=label or "",
        borderline=bool(borderline),
        uncertain=bool(uncertain),
        out_of_domain=bool(out_of_domain),
        gold=bool(gold),
        rationale=rationale or "",
    )
    if action == DecisionAction.AMBIGUOUS_INSTRUCTIONS:
        GuidelineNote.objects.create(project=project, item=item, text=rationale, author=reviewer)
    elif action == DecisionAction.INPUT_INSUFFICIENT:
        items_tag(project=project, item_ids=[item.pk], tag=NEEDS_INPUT_TAG)
    elif action == DecisionAction.RELABEL:
        from labeling.services.campaigns import campaign_send_back

        campaign_send_back(project=project, item=item, user=reviewer)
    return decision


def guideline_example_add(*, guideline, item, label, note="") -> GuidelineExample:
    """Attach an item as a canonical example of a class (or of a borderline case) to a guideline version."""
    project = guideline.project
    if item.project_id != project.pk:
        raise ValidationError({"item": "the item belongs to another project"})
    keys = {c.key for c in project.active_classes()}
    if label != "borderline" and label not in keys:
        raise ValidationError({"label": f"unknown class '{label}' (or 'borderline')"})
    example, _ = GuidelineExample.objects.update_or_create(
        guideline=guideline, item=item, defaults={"label": label, "note": note}
    )
    return example


def conventions_set(*, project, rules: dict, author=None) -> TranscriptConventions:
    """Set a transcription project's conventions (validated: a bad pattern is refused, nothing changes)."""
    from analysis.metrics.consistency import ConventionError, Conventions

    if project.task_type != TaskType.TRANSCRIPTION:
        raise ValidationError({"rules": "transcript conventions belong to transcription projects"})
    try:
        conventions = Conventions.from_dict(rules or {})
    except (ConventionError, TypeError) as exc:
        raise ValidationError({"rules": str(exc)}) from None
    row, _ = TranscriptConventions.objects.update_or_create(
        project=project, defaults={"rules": conventions.as_dict(), "author": author}
    )
    return row
