"""Taxonomy changes: add, rename, retire and merge classes as recorded, undoable operations.

Answers are never rewritten. A change edits the project's class list (LabelClass rows) and is recorded
with what it did (``effect``), so undo can put the classes back. Reports and exports read answers
through ``labeling.selectors.class_mapping``, which composes the active changes into old key → key.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labeling.choices import SHAPE_TASKS, TaxonomyOp
from labeling.models import LabelClass, Project, TaxonomyChange, class_key_validator
from labeling.selectors import class_mapping
from labeling.services.projects import HOTKEYS, PALETTE, RESERVED_HOTKEYS, classes_changed, reserved_hotkey_message

FLAG_KEYS = {"borderline", "uncertain", "out_of_domain"}


def _check_key(key, field="key"):
    if not isinstance(key, str) or not key:
        raise ValidationError({field: "a class key is required"})
    try:
        class_key_validator(key)
    except ValidationError as exc:
        raise ValidationError({field: f"'{key}': {' '.join(exc.messages)}"}) from None
    if key in FLAG_KEYS:
        raise ValidationError({field: f"'{key}' is reserved for the answer flags"})


def _check_name(name, field="name"):
    """A class name as LabelClass holds it (at most 200 characters); "" when none is given."""
    name = "" if name is None else name
    if not isinstance(name, str):  # an empty list or object too: it read as "no name given"
        raise ValidationError({field: "a class name is text"})
    limit = LabelClass._meta.get_field("name").max_length
    if len(name) > limit:
        raise ValidationError({field: f"a class name has at most {limit} characters, not {len(name):,}"})
    return name


def _check_hotkey(hotkey):
    hotkey = "" if hotkey is None else hotkey
    if not isinstance(hotkey, str) or len(hotkey) > 1:
        raise ValidationError({"hotkey": "a hotkey is one character (or none)"})
    if hotkey in RESERVED_HOTKEYS:
        raise ValidationError({"hotkey": reserved_hotkey_message(hotkey)})
    return hotkey


def _check_text(value, field):
    """A free-text field (a description): "" when none is given; a list or an object is refused (it was
    stored as its Python spelling)."""
    value = "" if value is None else value
    if not isinstance(value, str):
        raise ValidationError({field: f"{field} is text, not {type(value).__name__}"})
    return value


def _check_known(key, active, field="key"):
    # A list or an object here was a 500 (unhashable), a number was "unknown class '3'" already.
    if isinstance(key, list | dict):
        raise ValidationError({field: f"a class key is text, not {type(key).__name__}"})
    if key not in active:
        raise ValidationError({field: f"unknown class '{key}'"})


def taxonomy_validate(*, project, op, payload):
    """Check a change against the project's current classes; answer the normalized payload.

    Raises ValidationError naming the problem (merging a class into itself, renaming to a key that
    exists, an unknown class, ...). Nothing is changed.
    """
    classes = {c.key: c for c in project.classes.all()}
    active = {k for k, c in classes.items() if not c.retired}
    if op == TaxonomyOp.MERGE:
        merged = payload.get("classes")
        into = payload.get("into")
        if not isinstance(merged, list) or not merged:
            raise ValidationError(
                {"classes": "name the classes to merge (their keys, comma-separated) and the class they go into"}
            )
        _check_key(into, "into")
        if not all(isinstance(key, str) for key in merged):
            raise ValidationError({"classes": "each class to merge is a class key (text)"})
        if len(set(merged)) != len(merged):
            raise ValidationError({"classes": "a class is listed twice"})
        for key in merged:
            if key not in active:
                raise ValidationError({"classes": f"unknown class '{key}'"})
        sources = [k for k in merged if k != into]
        if not sources:
            raise ValidationError({"into": f"merging '{into}' into itself changes nothing"})
        if into in classes and into not in active and into in class_mapping(project=project):
            # its answers already count as another class: merging into it would fork that class
            raise ValidationError({"into": f"'{into}' was merged into another class; merge into that one"})
        # the merged class's name: the one given, else the name of the class merged into (a new one: its key)
        name = _check_name(payload.get("name")) or (classes[into].name if into in classes else "") or into
        return {"classes": merged, "into": into, "name": name}
    if op == TaxonomyOp.RENAME:
        key, new_key = payload.get("key"), payload.get("new_key")
        _check_known(key, active)
        if new_key is not None and not isinstance(new_key, str):  # [] read as "keep the key"
            raise ValidationError({"new_key": f"a class key is text, not {type(new_key).__name__}"})
        new_key = new_key or key
        _check_key(new_key, "new_key")
        if new_key != key and new_key in classes:
            raise ValidationError({"new_key": f"a class '{new_key}' already exists"})
        new_name = _check_name(payload.get("new_name"), "new_name")
        if new_key == key and not new_name:
            raise ValidationError({"new_key": "a rename needs a new key or a new name"})
        return {"key": key, "new_key": new_key, "new_name": new_name or classes[key].name}
    if op == TaxonomyOp.ADD:
        key = payload.get("key")
        _check_key(key)
        if key in classes:
            raise ValidationError({"key": f"a class '{key}' already exists"})
        if len(active) >= settings.LABELHUB_MAX_CLASSES:
            raise ValidationError(
                {
                    "key": f"the project has {len(active):,} classes, the limit (LABELHUB_MAX_CLASSES): retire one "
                    "before adding another"
                }
            )
        name = _check_name(payload.get("name"))
        hotkey = _check_hotkey(payload.get("hotkey"))
        if hotkey and any(c.hotkey == hotkey for c in classes.values() if not c.retired):
            raise ValidationError({"hotkey": f"hotkey '{hotkey}' is taken"})
        if not hotkey:
            # The Classes page asks for none: without one, keyboard-only labelers could not choose the class.
            # The next key no class holds, retired ones included (an undone retirement brings its key back).
            taken = {c.hotkey for c in classes.values()}
            hotkey = next((k for k in HOTKEYS if k not in taken and k not in RESERVED_HOTKEYS), "")
        return {
            "key": key,
            "name": name or key,
            "description": _check_text(payload.get("description"), "description"),
            "hotkey": hotkey,
        }
    if op == TaxonomyOp.RETIRE:
        key = payload.get("key")
        _check_known(key, active)
        if project.task_type in SHAPE_TASKS and len(active) <= 1:
            raise ValidationError({"key": "a project keeps at least one class"})
        if project.task_type not in SHAPE_TASKS and len(active) <= 2:
            raise ValidationError({"key": "a classification project keeps at least two classes"})
        return {"key": key}
    raise ValidationError({"op": f"unknown operation '{op}' (one of {', '.join(TaxonomyOp.values)})"})


def _next_order(project):
    return (project.classes.aggregate(m=Max("order"))["m"] or 0) + 1


@transaction.atomic
def taxonomy_apply(*, project, op, payload, reason="", author=None) -> TaxonomyChange:
    """Validate and apply a change; answer the recorded change."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one change at a time per project
    payload = taxonomy_validate(project=project, op=op, payload=payload)
    effect = {}
    if op == TaxonomyOp.MERGE:
        into = payload["into"]
        target = project.classes.filter(key=into).first()
        if target is None:
            target = LabelClass.objects.create(
                project=project,
                key=into,
                name=payload["name"],
                order=_next_order(project),
                colour=PALETTE[project.classes.count() % len(PALETTE)],
            )
            effect["created"] = into
        elif target.retired:
            # a merge undone and made again, or a retired class taken up again: it is active again, and
            # undo retires it once more
            target.retired = False
            target.save(update_fields=["retired"])
            effect["unretired"] = into
        if target.name != payload["name"]:  # a name given for the merged class; undo gives the old one back
            effect["renamed"] = target.name
            target.name = payload["name"]
            target.save(update_fields=["name"])
        sources = [k for k in payload["classes"] if k != into]
        # The merged class takes the first source's hotkey if it has none, so the keyboard layout stays.
        if not target.hotkey:
            first = project.classes.get(key=sources[0])
            effect["hotkey_moved"] = [first.key, first.hotkey]
            target.hotkey, first.hotkey = first.hotkey, ""
            first.save(update_fields=["hotkey"])
            target.save(update_fields=["hotkey"])
        project.classes.filter(key__in=sources).update(retired=True)
        effect["retired"] = sources
    elif op == TaxonomyOp.RENAME:
        row = project.classes.get(key=payload["key"])
        effect["old"] = {"key": row.key, "name": row.name}
        row.key, row.name = payload["new_key"], payload["new_name"]
        row.save(update_fields=["key", "name"])
    elif op == TaxonomyOp.ADD:
        LabelClass.objects.create(
            project=project,
            key=payload["key"],
            name=payload["name"],
            description=payload["description"],
            hotkey=payload["hotkey"],
            order=_next_order(project),
            colour=PALETTE[project.classes.count() % len(PALETTE)],
        )
    elif op == TaxonomyOp.RETIRE:
        project.classes.filter(key=payload["key"]).update(retired=True)
    classes_changed(project_id=project.pk)
    number = (project.taxonomy_changes.aggregate(m=Max("number"))["m"] or 0) + 1
    return TaxonomyChange.objects.create(
        project=project, number=number, op=op, payload=payload, reason=reason, effect=effect, author=author
    )


@transaction.atomic
def taxonomy_undo(*, change: TaxonomyChange, user=None) -> TaxonomyChange:
    """Reverse a change. Only the latest active change can be undone (later ones build on it)."""
    project = change.project
    Project.objects.select_for_update().filter(pk=project.pk).first()
    change.refresh_from_db()
    if change.undone:
        raise ValidationError({"change": f"change #{change.number} is already undone"})
    later = project.taxonomy_changes.filter(number__gt=change.number, undone__isnull=True).order_by("number")
    if later.exists():
        raise ValidationError({"change": f"undo the later changes first ({', '.join(f'#{c.number}' for c in later)})"})
    payload, effect = change.payload, change.effect
    if change.op == TaxonomyOp.MERGE:
        project.classes.filter(key__in=effect.get("retired", [])).update(retired=False)
        if "renamed" in effect:
            project.classes.filter(key=payload["into"]).update(name=effect["renamed"])
        if "hotkey_moved" in effect:
            key, hotkey = effect["hotkey_moved"]
            project.classes.filter(key=payload["into"]).update(hotkey="")
            project.classes.filter(key=key).update(hotkey=hotkey)
        if effect.get("created") or effect.get("unretired"):
            # Answers given with the merged class since the merge stay; the class is retired, not deleted.
            project.classes.filter(key=effect.get("created") or effect["unretired"]).update(retired=True)
    elif change.op == TaxonomyOp.RENAME:
        project.classes.filter(key=payload["new_key"]).update(key=effect["old"]["key"], name=effect["old"]["name"])
    elif change.op == TaxonomyOp.ADD:
        project.classes.filter(key=payload["key"]).update(retired=True)
    elif change.op == TaxonomyOp.RETIRE:
        project.classes.filter(key=payload["key"]).update(retired=False)
    classes_changed(project_id=project.pk)
    change.undone = timezone.now()
    change.undone_by = user
    change.save(update_fields=["undone", "undone_by"])
    return change
