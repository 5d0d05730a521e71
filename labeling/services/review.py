"""Reviewers' (SMEs') decisions on disputed items, guideline notes, examples and transcript conventions."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.metrics.consistency import ConventionError, Conventions
from labelhub.deadlocks import retry_deadlock_once
from labeling.choices import SHAPE_TASKS, DecisionAction, TaskType
from labeling.models import Decision, GuidelineExample, GuidelineNote, Item, TranscriptConventions
from labeling.selectors import class_mapping
from labeling.services.annotations import MAX_TRANSCRIPT_CHARS
from labeling.services.campaigns import campaign_send_back
from labeling.services.items import items_tag
from labeling.services.jobs import project_lock
from labeling.services.shape_versions import consensus_for, decided_shapes
from labeling.services.shapes import shapes_validate

NEEDS_INPUT_TAG = "needs-better-input"
MAX_RATIONALE_CHARS = 5000
UNCHECKED = object()  # decision_record's ``supersedes`` when the caller does not say what it saw


class DecisionConflict(Exception):
    """Another decision was recorded on the item after the one the reviewer saw: nothing was recorded.
    ``current`` is that decision (the item's latest)."""

    def __init__(self, current: Decision):
        self.current = current
        who = current.reviewer.get_username() if current.reviewer else "a reviewer whose account is gone"
        super().__init__(f"item {current.item_id} was decided meanwhile by {who}: {decision_summary(current)}")


# A shape kind's singular: one decided segment reads "1 segment" (it read "1 segments").
ONE_SHAPE = {"boxes": "box", "segments": "segment"}


def decision_summary(decision: Decision, *, names=None) -> str:
    """A decision in a few words: "label '9' (gold)", "3 boxes", "sent back to the labelers". ``names``
    (class key → name, as ``labeling.selectors.class_names`` answers) reads the label by its name."""
    if decision.action != DecisionAction.LABEL:
        return str(decision.get_action_display())
    if isinstance(decision.shapes, dict):
        kind, shapes = next(iter(decision.shapes.items()), ("shapes", []))
        what = f"{len(shapes)} {ONE_SHAPE.get(kind, kind) if len(shapes) == 1 else kind}"  # "1 segment", "2 boxes"
    else:
        what = f"label '{(names or {}).get(decision.label, decision.label)}'" if decision.label else "no label"
    flags = [name for name in ("borderline", "uncertain", "out_of_domain", "gold") if getattr(decision, name)]
    return what + (f" ({', '.join(f.replace('_', ' ') for f in flags)})" if flags else "")


@retry_deadlock_once  # the outermost transaction of its items_tag (and send-back), which leave their retry to it
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
    value=None,
    accept=None,
    supersedes=UNCHECKED,
) -> Decision:
    """Record a reviewer's decision on an item; earlier decisions stay as the audit trail.

    ``action`` "label": a final label (a class key, or a transcript; or a borderline / uncertain /
    out-of-domain verdict), optionally marked gold. The other actions take no label:
    "ambiguous_instructions" opens a guideline note linked to the item, "input_insufficient" tags the
    item for the data team (change x, not y), "relabel" sends it back to the labelers through the
    project's standing "Sent back by reviewers" campaign.

    Detection and segments projects decide shapes, not a label: ``value`` the final ``{"boxes": [...]}``
    (or ``{"segments": [...]}``, an empty list saying "nothing here"), checked as an answer is, or
    ``accept="consensus"`` for the labelers' consensus as a version would ship it. The other actions may
    carry shapes too: "ambiguous_instructions" then attaches the item with them (else with the
    consensus) to the active guideline as a canonical example of the open question.

    "withdrawn" takes back the item's decision in force (with a rationale): the item is undecided again,
    back in the review queue and shipped as its answers resolve it. What the withdrawn decision's action
    did stays (an open question, a tag, a send-back campaign); the decision stays in the history.

    ``supersedes``: the id of the item's latest decision as the reviewer saw it (None: they saw none).
    When another has been recorded since (a second SME deciding the same item at the same time), nothing
    is recorded and DecisionConflict names it; left out, the decision is recorded over whatever is there.
    """
    project = item.project
    conflict = None
    if action == DecisionAction.RELABEL:
        # Sending back locks the project (campaign_send_back), then the item: taken here before the item's
        # lock below, in the order label imports and campaign finishes take them. Taken after, a reviewer
        # waiting for the project while holding the item met one of them holding the project and waiting
        # for the item, and PostgreSQL stopped one (the reviewer got 503).
        project_lock(project.pk)
    # The item's row lock orders two decisions on it at once: the second reads the first's, whether it is
    # another reviewer's (supersedes) or a copy of the same request (a double click, a retry: one decision).
    Item.objects.select_for_update().filter(pk=item.pk).first()
    # the item's latest decision, read once under the lock: what the reviewer saw, the same request again,
    # the decision a withdrawal takes back
    current = item.decisions.select_related("reviewer").order_by("-created", "-id").first()
    if supersedes is not UNCHECKED:
        if current is None and supersedes is not None:
            raise ValidationError({"supersedes": f"decision {supersedes} is not a decision on item {item.pk}"})
        if current is not None and current.pk != supersedes:
            conflict = current  # unless it is this very decision sent again (below)
    if action not in DecisionAction.values:
        raise ValidationError({"action": f"unknown action '{action}' (one of {', '.join(DecisionAction.values)})"})
    if len(rationale or "") > MAX_RATIONALE_CHARS:
        raise ValidationError({"rationale": f"the rationale is over {MAX_RATIONALE_CHARS} characters"})
    shapes = None
    if action == DecisionAction.WITHDRAWN:
        _check_withdrawal(item=item, label=label, gold=gold, value=value, accept=accept, rationale=rationale)
        if borderline or uncertain or out_of_domain:
            raise ValidationError({"action": "a withdrawal takes no borderline / uncertain / out-of-domain mark"})
    elif project.task_type in SHAPE_TASKS:
        shapes = _decision_shapes(
            item=item,
            action=action,
            label=label,
            value=value,
            accept=accept,
            gold=gold,
            flags=(borderline, uncertain, out_of_domain),
        )
    elif value is not None or accept:
        field = "value" if value is not None else "accept"
        raise ValidationError({field: f"a {project.task_type} decision takes a label, not shapes"})
    flagged = borderline or uncertain or out_of_domain
    if project.task_type in SHAPE_TASKS and action == DecisionAction.LABEL:
        pass  # the shapes were checked by _decision_shapes
    elif action == DecisionAction.LABEL:
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
        if len(label or "") > MAX_TRANSCRIPT_CHARS:
            raise ValidationError(
                {"label": f"the transcript is {len(label):,} characters, over the limit of {MAX_TRANSCRIPT_CHARS:,}"}
            )
    else:
        if label or gold:
            raise ValidationError({"action": f"'{action}' takes no label; decide the label or take the action"})
        if not (rationale or "").strip():
            raise ValidationError({"rationale": "say why, so the labelers and the data team know what to change"})
    fields = {
        "action": action,
        "label": label or "",
        "borderline": bool(borderline),
        "uncertain": bool(uncertain),
        "out_of_domain": bool(out_of_domain),
        "gold": bool(gold),
        "rationale": rationale or "",
        "shapes": shapes,
    }
    same = _same_decision(latest=current, reviewer=reviewer, fields=fields)
    if same is not None:
        return same
    if conflict is not None:
        raise DecisionConflict(conflict)
    in_force = current is not None and current.action != DecisionAction.WITHDRAWN
    if action == DecisionAction.WITHDRAWN and not in_force:
        raise ValidationError({"action": f"item {item.pk} has no decision in force to withdraw"})
    decision = Decision.objects.create(item=item, reviewer=reviewer, **fields)
    if action == DecisionAction.AMBIGUOUS_INSTRUCTIONS:
        GuidelineNote.objects.create(project=project, item=item, text=rationale, author=reviewer)
        if project.task_type in SHAPE_TASKS and project.active_guideline_id:
            guideline = project.active_guideline
            try:  # without shapes, the consensus (this decision decides none)
                guideline_example_add(guideline=guideline, item=item, note=rationale, shapes=shapes)
            except ValidationError:
                if shapes is not None:
                    raise
                # nobody answered, or the consensus holds a class retired since: the picture goes without shapes
                GuidelineExample.objects.update_or_create(
                    guideline=guideline, item=item, defaults={"label": "", "note": rationale, "shapes": None}
                )
    elif action == DecisionAction.INPUT_INSUFFICIENT:
        items_tag(project=project, item_ids=[item.pk], tag=NEEDS_INPUT_TAG)
    elif action == DecisionAction.RELABEL:
        campaign_send_back(project=project, item=item, user=reviewer)
    return decision


def _check_withdrawal(*, item, label, gold, value, accept, rationale):
    """A withdrawal takes back the item's decision in force, saying why, and decides nothing itself."""
    if label or gold or value is not None or accept:
        raise ValidationError(
            {"action": "a withdrawal takes no label, shapes or gold: it takes back the decision, deciding nothing"}
        )
    if not (rationale or "").strip():
        raise ValidationError({"rationale": "say why the decision is withdrawn, for whoever decides the item next"})


RETRY_SECONDS = 600  # how long after a decision the same one again is taken for a retried request


def _same_decision(*, latest, reviewer, fields):
    """``latest`` (the item's latest decision, or None) when it is this reviewer's, made in the last
    ``RETRY_SECONDS``, with exactly ``fields``, marked ``repeated``; else None.

    A client whose answer was lost sends the decision again: it was recorded twice, and its action taken
    twice (a second open question for the guideline, the item sent back again, archiving the answers given
    since), or, sent with ``supersedes``, refused 409 with the reviewer's own decision as the other's.
    """
    if reviewer is None:
        return None
    if latest is None or latest.reviewer_id != reviewer.pk:
        return None
    if latest.created < timezone.now() - timedelta(seconds=RETRY_SECONDS):
        return None
    if any(getattr(latest, name) != value for name, value in fields.items()):
        return None
    latest.repeated = True
    return latest


def _consensus_shapes(item):
    """The labelers' consensus on the item (``support`` dropped): what "accept the consensus" records."""
    kind = SHAPE_TASKS[item.project.task_type][1]
    found = consensus_for(project=item.project, item_ids=[item.pk]).get(item.pk)
    if found is None:
        return None
    return {kind: [{k: v for k, v in shape.items() if k != "support"} for shape in found[kind]]}


def _checked_shapes(*, project, item, value):
    """``value`` checked as an answer's (400 naming the shape, under ``value``), as a stored object."""
    import json

    keys = [c.key for c in project.active_classes()]
    return json.loads(
        shapes_validate(
            project=project, value=value, class_keys=keys, item=item, old_keys=lambda: class_mapping(project=project)
        )
    )


def _decision_shapes(*, item, action, label, value, accept, gold, flags):
    """The final shapes of a detection / segments decision (None for an action without them)."""
    project = item.project
    kind = SHAPE_TASKS[project.task_type][1]
    if label:
        raise ValidationError(
            {
                "label": f"a {project.task_type} decision takes its final shapes as value: "
                f'{{"{kind}": [...]}}, not a label'
            }
        )
    if any(flags):
        raise ValidationError(
            {"value": f"a {project.task_type} decision flags shapes (borderline, uncertain on each), not the item"}
        )
    if value is not None and accept:
        raise ValidationError({"accept": "send the final shapes (value) or accept the consensus, not both"})
    if accept and accept != "consensus":
        raise ValidationError({"accept": f"unknown accept '{accept}': only 'consensus' can be accepted"})
    if action != DecisionAction.LABEL and gold:
        raise ValidationError({"action": f"'{action}' takes no final shapes to be gold; decide the shapes instead"})
    if accept:
        shapes = _consensus_shapes(item)
        if shapes is None:
            raise ValidationError({"accept": "nobody answered this item: there is no consensus to accept"})
        return shapes
    if value is None:
        if action == DecisionAction.LABEL:
            raise ValidationError(
                {
                    "value": f'a {project.task_type} decision needs the final shapes, value: {{"{kind}": [...]}} '
                    '(an empty list: nothing here), or accept: "consensus"'
                }
            )
        return None
    return _checked_shapes(project=project, item=item, value=value)


def guideline_example_add(*, guideline, item, label="", note="", shapes=None) -> GuidelineExample:
    """Attach an item as a canonical example of a class (or of a borderline case) to a guideline version.

    In detection and segments projects an example is the item with its reference shapes, which the
    guideline page draws over the picture ("two digits touching: two boxes"): ``shapes`` when given (an
    answer's value, checked as one), else the item's reviewer decision (its latest decision's final
    shapes), else its labelers' consensus. An item with neither is refused, and so is a ``label``: a
    class or a borderline verdict belongs to each shape, not to the item.

    Only the project's latest version takes examples: answers name the version they were given under, and
    an example added to or changed on an older one rewrote what that version showed its labelers."""
    project = guideline.project
    if item.project_id != project.pk:
        raise ValidationError({"item": "the item belongs to another project"})
    latest = project.guidelines.order_by("-version").values_list("version", flat=True).first()
    if latest is not None and guideline.version != latest:
        raise ValidationError(
            {
                "guideline": f"guideline v{guideline.version} was superseded by v{latest}: its examples stay as "
                f"its labelers saw them; add this one to v{latest}"
            }
        )
    if project.task_type in SHAPE_TASKS:
        kind = SHAPE_TASKS[project.task_type][1]
        if label:
            raise ValidationError(
                {
                    "label": f"a {project.task_type} example is the item with its {kind} (value: "
                    f'{{"{kind}": [...]}}, or none for its decided or consensus {kind}), not a class'
                }
            )
        if shapes is None:
            shapes = example_reference_shapes(item=item)
        else:
            shapes = _checked_shapes(project=project, item=item, value=shapes)
    else:
        if shapes is not None:
            raise ValidationError({"value": f"a {project.task_type} example takes a class, not shapes"})
        keys = {c.key for c in project.active_classes()}
        if label != "borderline" and label not in keys:
            raise ValidationError({"label": f"unknown class '{label}' (or 'borderline')"})
    example, _ = GuidelineExample.objects.update_or_create(
        guideline=guideline, item=item, defaults={"label": label or "", "note": note, "shapes": shapes}
    )
    return example


def example_reference_shapes(*, item) -> dict:
    """The shapes a detection / segments example of ``item`` shows when none are given: its reviewer
    decision's final shapes (the latest decision, when it decides shapes: what a version ships), else its
    labelers' consensus. Checked against the project's classes today (400 under ``value`` naming the
    shape and where it came from); an item with neither is refused."""
    project = item.project
    kind = SHAPE_TASKS[project.task_type][1]
    decided = decided_shapes(project=project, item_ids=[item.pk]).get(item.pk)
    source, shapes = ("reviewer decision", decided.shapes) if decided is not None else ("consensus", None)
    if decided is None:
        shapes = _consensus_shapes(item)
    if shapes is None:
        raise ValidationError(
            {
                "value": f"item {item.pk} has no reviewer decision and no answers to take its {kind} from: "
                f'give them as value, {{"{kind}": [...]}}'
            }
        )
    try:
        return _checked_shapes(project=project, item=item, value=shapes)
    except ValidationError as exc:
        problems = "; ".join(m for ms in exc.message_dict.values() for m in ms)
        raise ValidationError(
            {"value": f"the item's {source} {kind} cannot be shown ({problems}): give them as value"}
        ) from None


def guideline_examples_carry(*, source, guideline) -> list[GuidelineExample]:
    """Copy ``source``'s canonical examples to ``guideline`` (a new version) as they stand: checked when
    they were added, they are carried, not added again."""
    return GuidelineExample.objects.bulk_create(
        [
            GuidelineExample(guideline=guideline, item_id=e.item_id, label=e.label, note=e.note, shapes=e.shapes)
            for e in source.examples.all()
        ],
        ignore_conflicts=True,
    )


def conventions_set(*, project, rules: dict, author=None) -> TranscriptConventions:
    """Set a transcription project's conventions (validated: a bad pattern is refused, nothing changes);
    the ones they replace are kept in ``history``."""
    if project.task_type != TaskType.TRANSCRIPTION:
        raise ValidationError({"rules": "transcript conventions belong to transcription projects"})
    try:
        conventions = Conventions.from_dict(rules or {})
    except (ConventionError, TypeError) as exc:
        raise ValidationError({"rules": str(exc)}) from None
    rules = conventions.as_dict()
    with transaction.atomic():
        # One change at a time per project (two first sets each found no row and both created one).
        project_lock(project.pk)
        row = TranscriptConventions.objects.filter(project=project).first()
        if row is None:
            return TranscriptConventions.objects.create(project=project, rules=rules, author=author)
        if row.rules == rules:
            return row  # nothing changes: the rules keep their author and date
        # The conventions replaced stay listed: agreement was reported under them, and someone set them.
        earlier = {
            "rules": row.rules,
            "author": row.author.get_username() if row.author else None,
            "since": row.updated.isoformat(),
            "until": timezone.now().isoformat(),
        }
        row.history = [*row.history, earlier]
        row.rules, row.author = rules, author
        row.save()
    return row
