"""Answers: submitting and revising a labeler's annotation of an item."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from labelhub import rawsql
from labeling.choices import SHAPE_TASKS, TaskType
from labeling.inputs import NUL_HELD
from labeling.models import Annotation, AnnotationRevision, Item
from labeling.selectors import class_mapping
from labeling.services.shapes import shapes_validate

MAX_TRANSCRIPT_CHARS = getattr(settings, "LABELHUB_MAX_TRANSCRIPT_CHARS", 5000)
MAX_COMMENT_CHARS = 2000


def annotation_validate(
    *,
    project,
    value,
    borderline=False,
    borderline_with="",
    uncertain=False,
    out_of_domain=False,
    comment="",
    seconds=None,
    class_keys=None,
    item=None,
):
    """Check an answer against the project's classes and options; raise ValidationError naming the problem.
    Answers the value as stored (a string). ``class_keys``: the keys of the project's active classes,
    when the caller has them (default: read from ``project.active_classes()``). ``item``: the answered
    item (localized answers are checked against its stored size or duration).

    Detection and segments projects take an object of shapes (``labeling.services.shapes``), stored as
    JSON; their borderline and uncertain flags are per shape, so the answer-level borderline is refused.
    Classification and transcription answers are text: an object or list there is refused."""
    errors = {}
    if project.task_type in SHAPE_TASKS:
        if borderline or borderline_with:
            errors["borderline"] = "in a localized project borderline is marked per shape"
        if uncertain and not project.allow_uncertain:
            errors["uncertain"] = "this project has no uncertain option"
        if out_of_domain and not project.allow_out_of_domain:
            errors["out_of_domain"] = "this project has no out-of-domain option"
        if errors:
            raise ValidationError(errors)
        keys = class_keys if class_keys is not None else [c.key for c in project.active_classes()]
        stored = shapes_validate(
            project=project, value=value, class_keys=keys, item=item, old_keys=lambda: class_mapping(project=project)
        )
        _check_extras(comment=comment, seconds=seconds)
        return stored
    if isinstance(value, dict | list):
        raise ValidationError({"value": "Not a valid string."})
    value = "" if value is None else str(value)
    if "\x00" in value:  # an import's (the API refuses NUL in requests): PostgreSQL stores none
        errors["value"] = NUL_HELD
    if borderline and not project.allow_borderline:
        errors["borderline"] = "this project has no borderline option"
    if uncertain and not project.allow_uncertain:
        errors["uncertain"] = "this project has no uncertain option"
    if out_of_domain and not project.allow_out_of_domain:
        errors["out_of_domain"] = "this project has no out-of-domain option"
    flagged = uncertain or out_of_domain
    if project.task_type == TaskType.CLASSIFICATION:
        keys = set(class_keys) if class_keys is not None else {c.key for c in project.active_classes()}
        if value and value not in keys:
            # a key a taxonomy change renamed or merged away (an answer reopened, a page opened before the
            # change) is stored as the class it became, as shapes are and as reports count it anyway
            mapped = class_mapping(project=project).get(value)
            value = mapped if mapped in keys else value
        if value and value not in keys:
            errors["value"] = f"unknown class '{value}' (the project's classes: {', '.join(sorted(keys))})"
        elif not value and not flagged and not (borderline and len(keys) == 2):  # a binary project's middle
            errors["value"] = "an answer needs a class, or an uncertain or out-of-domain flag"
        if borderline and len(keys) > 2 and not borderline_with and "value" not in errors:
            # Only a binary project has one borderline (its middle); in a multi-class project the answer is
            # "between A and B", and with B missing nothing says which boundary the item sits on.
            errors["borderline_with"] = (
                "a borderline answer lies between two classes: give the second one in borderline_with"
                if value
                else "a borderline answer lies between two classes: give them in value and borderline_with"
            )
        elif borderline_with:
            if not borderline:
                errors["borderline_with"] = "borderline_with is only meaningful on a borderline answer"
            elif borderline_with not in keys:
                errors["borderline_with"] = f"unknown class '{borderline_with}'"
            elif borderline_with == value:
                errors["borderline_with"] = "a borderline answer lies between two different classes"
    else:
        if len(value) > MAX_TRANSCRIPT_CHARS:
            errors["value"] = f"the transcript is {len(value):,} characters, over the limit of {MAX_TRANSCRIPT_CHARS:,}"
        elif not value.strip() and not flagged:
            errors["value"] = "a transcript is empty; mark the clip uncertain or out-of-domain instead"
    errors.update(_extra_errors(comment=comment, seconds=seconds))
    if errors:
        raise ValidationError(errors)
    return value


def _extra_errors(*, comment, seconds):
    errors = {}
    if "\x00" in (comment or ""):
        errors["comment"] = NUL_HELD
    if len(comment or "") > MAX_COMMENT_CHARS:
        errors["comment"] = f"the comment is over {MAX_COMMENT_CHARS} characters"
    if seconds is not None and (seconds < 0 or seconds > 24 * 3600):
        errors["seconds"] = "seconds must be between 0 and 86400"
    return errors


def _check_extras(*, comment, seconds):
    errors = _extra_errors(comment=comment, seconds=seconds)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def annotation_save(*, item, labeler, **answer) -> tuple[Annotation, bool]:
    """Store a labeler's answer; a second answer by the same labeler on the item becomes the current
    one and the earlier is kept as a revision (the same answer again changes nothing). Answers
    (annotation, created). ``answer``: the answer's
    fields as ``annotation_store`` takes them (value, borderline, ..., guideline)."""
    return annotation_store(item=item, labeler=labeler, **answer)


def annotation_store(
    *,
    item,
    labeler,
    value,
    borderline=False,
    borderline_with="",
    uncertain=False,
    out_of_domain=False,
    comment="",
    seconds=None,
    guideline=None,
    first_answer=False,
    validated=False,
) -> tuple[Annotation, bool]:
    """``annotation_save`` without a transaction (or savepoint) of its own: for services that already
    hold one, such as the queue's ``annotation_submit``. Call it only inside ``transaction.atomic``.
    ``first_answer=True`` says the caller has checked, holding the item's row lock, that the labeler
    has no answer on the item yet: the lookup of their current answer is skipped. ``validated=True``
    says the caller has passed the answer through ``annotation_validate`` already.

    This is the storage rule only; the labeling queue (``labeling.services.queue.annotation_submit``)
    decides who may answer which item. A first answer adds one to ``Item.n_answers`` in this same
    transaction, so the queue's counter never disagrees with the rows.
    """
    given = {
        "borderline": borderline,
        "borderline_with": borderline_with,
        "uncertain": uncertain,
        "out_of_domain": out_of_domain,
        "comment": comment,
        "seconds": seconds,
    }
    if validated:
        value = "" if value is None else str(value)
    else:
        value = annotation_validate(project=item.project, item=item, value=value, **given)
    if guideline is None:
        guideline = item.project.active_guideline
    # order_by("pk"): the default ordering would join the item table (and lock its row too).
    current = (
        None
        if first_answer
        else Annotation.objects.select_for_update().filter(item=item, labeler=labeler).order_by("pk").first()
    )
    fields = answer_fields(value=value, guideline=guideline, **given)
    if current is None:
        return _insert_first_answer(item=item, labeler=labeler, fields=fields), True
    if _same_answer(current, fields):
        # The same answer sent again (a client retrying a request whose answer it lost): a revision equal
        # to the answer it replaced made a change that never happened (history, "superseded" counts, the
        # answer's last-changed time that version filters read). Nothing is written.
        return current, False
    AnnotationRevision.objects.create(
        annotation=current,
        revision=current.revision,
        answered=current.updated,
        **{k: getattr(current, k) for k in fields},
    )
    for name, val in fields.items():
        setattr(current, name, val)
    current.revision += 1
    current.save()
    return current, False


def _same_answer(current, fields) -> bool:
    """Whether ``fields`` (see ``answer_fields``) are the stored answer ``current`` as it is."""
    guideline = fields["guideline"]
    if current.guideline_id != (guideline.pk if guideline is not None else None):
        return False
    return all(getattr(current, name) == val for name, val in fields.items() if name != "guideline")


# A first answer, written out: it runs on every answer the labeling loop takes, where building the ORM's
# INSERT and UPDATE cost more than running them (see labelhub.rawsql). The counter is added to in SQL
# (n_answers + 1) so concurrent first answers by different labelers add up instead of overwriting.
# The columns and values also make the queue's SLOTS_AND_ANSWER (labeling.services.queue).
FIRST_ANSWER_COLUMNS = """(item_id, labeler_id, value, borderline, borderline_with, uncertain, out_of_domain,
                              comment, seconds, guideline_id, revision, created, updated)"""
FIRST_ANSWER_VALUES = """%(item)s, %(labeler)s, %(value)s, %(borderline)s, %(borderline_with)s, %(uncertain)s,
            %(out_of_domain)s, %(comment)s, %(seconds)s, %(guideline)s, 1, %(created)s, %(created)s"""
INSERT_FIRST_ANSWER = f"""
    INSERT INTO {{annotation}} {FIRST_ANSWER_COLUMNS}
    VALUES ({FIRST_ANSWER_VALUES})
    RETURNING id
"""
COUNT_ANSWER = "UPDATE {item} SET n_answers = n_answers + 1 WHERE id = %(item)s"
# PostgreSQL: both in one statement (one round trip), the UPDATE as a data-modifying WITH clause.
INSERT_AND_COUNT = "WITH answer AS ({insert}), counted AS ({count}) SELECT id FROM answer"


ANSWER_OPTIONS = frozenset({"borderline", "borderline_with", "uncertain", "out_of_domain", "comment", "seconds"})


def answer_fields(*, value, guideline=None, **options):
    """The stored columns of an answer (value already validated), as ``annotation_store`` writes them;
    an option left out (``ANSWER_OPTIONS``) is stored as not given: False, "" or NULL."""
    unknown = options.keys() - ANSWER_OPTIONS
    if unknown:
        raise TypeError(f"answer_fields() got unexpected options: {', '.join(sorted(unknown))}")
    return {
        "value": value,
        "borderline": bool(options.get("borderline")),
        "borderline_with": options.get("borderline_with") or "",
        "uncertain": bool(options.get("uncertain")),
        "out_of_domain": bool(options.get("out_of_domain")),
        "comment": options.get("comment") or "",
        "seconds": options.get("seconds"),
        "guideline": guideline,
    }


def first_answer_params(*, item, labeler, fields):
    """INSERT_FIRST_ANSWER's parameters for ``fields`` (see ``answer_fields``), and the time written."""
    now = timezone.now()
    guideline = fields["guideline"]
    params = {
        **fields,
        "item": item.pk,
        "labeler": labeler.pk,
        "guideline": guideline.pk if guideline is not None else None,
        "created": connection.ops.adapt_datetimefield_value(now),
    }
    return params, now


def first_answer_built(*, pk, item, labeler, fields, now) -> Annotation:
    """The Annotation a first answer inserted as row ``pk`` (no query)."""
    guideline = fields["guideline"]
    values = {**fields, "id": pk, "item_id": item.pk, "labeler_id": labeler.pk, "revision": 1, "created": now}
    values.update(updated=now, guideline_id=guideline.pk if guideline is not None else None)
    del values["guideline"]
    return rawsql.build(Annotation, values, (("item", item), ("labeler", labeler), ("guideline", guideline)))


def _insert_first_answer(*, item, labeler, fields) -> Annotation:
    params, now = first_answer_params(item=item, labeler=labeler, fields=fields)
    insert = INSERT_FIRST_ANSWER.format(annotation=Annotation._meta.db_table)
    count = COUNT_ANSWER.format(item=Item._meta.db_table)
    with rawsql.hot_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(INSERT_AND_COUNT.format(insert=insert, count=count), params)
            pk = cursor.fetchone()[0]
        else:
            cursor.execute(insert, params)
            pk = cursor.fetchone()[0]
            cursor.execute(count, params)
    return first_answer_built(pk=pk, item=item, labeler=labeler, fields=fields, now=now)
