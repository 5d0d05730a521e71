"""Projects, their classes and members."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.choices import SHAPE_TASKS, Role, TaskType
from labeling.models import LabelClass, Membership, Project

HOTKEYS = "123456789abcdefghijklmnopqrstuvwxyz"
# A colour-blind-safe palette (Okabe-Ito, then Tableau) handed to classes without a colour.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#9C755F",
]
# Keys the labeling page keeps for itself (skip, borderline, uncertain, out-of-domain, comment...).
RESERVED_HOTKEYS = set("nbuoscr")


def _check_classes(classes, *, task_type):
    keys, hotkeys = set(), set()
    for spec in classes:
        key = spec.get("key", "")
        if key in keys:
            raise ValidationError({"classes": f"class key '{key}' appears twice"})
        keys.add(key)
        hotkey = spec.get("hotkey") or ""
        if hotkey:
            if hotkey in hotkeys:
                raise ValidationError({"classes": f"hotkey '{hotkey}' is used by two classes"})
            if hotkey in RESERVED_HOTKEYS:
                raise ValidationError(
                    {
                        "classes": f"hotkey '{hotkey}' is reserved by the labeling page "
                        f"({''.join(sorted(RESERVED_HOTKEYS))})"
                    }
                )
            hotkeys.add(hotkey)
    if task_type == TaskType.CLASSIFICATION and len(classes) < 2:
        raise ValidationError({"classes": "a classification project needs at least two classes"})
    if task_type in SHAPE_TASKS and not classes:
        raise ValidationError({"classes": f"a {task_type} project needs at least one class"})


def _check_modality(*, modality, task_type):
    """Localized task types are tied to one modality: boxes on images, segments on audio."""
    needed = SHAPE_TASKS.get(task_type, (None,))[0]
    if needed is not None and modality != needed:
        raise ValidationError(
            {"task_type": f"a {task_type} project labels {needed} items, not {modality} (choose modality '{needed}')"}
        )


def _assign_hotkeys(classes):
    taken = {c.get("hotkey") for c in classes if c.get("hotkey")}
    free = iter(k for k in HOTKEYS if k not in taken and k not in RESERVED_HOTKEYS)
    for spec in classes:
        if not spec.get("hotkey"):
            spec["hotkey"] = next(free, "")


@transaction.atomic
def project_create(
    *,
    name,
    modality,
    task_type=TaskType.CLASSIFICATION,
    classes=(),
    options=None,
    overlap=3,
    creator,
    description="",
    transcription_conventions="",
) -> Project:
    """Create a project with its ordered classes; the creator becomes its manager."""
    classes = [dict(c) for c in classes]
    _check_modality(modality=modality, task_type=task_type)
    _check_classes(classes, task_type=task_type)
    _assign_hotkeys(classes)
    options = options or {}
    project = Project(
        name=name,
        description=description,
        modality=modality,
        task_type=task_type,
        allow_borderline=bool(options.get("borderline")),
        allow_uncertain=bool(options.get("uncertain")),
        allow_out_of_domain=bool(options.get("out_of_domain")),
        overlap=overlap,
        created_by=creator,
        transcription_conventions=transcription_conventions,
    )
    project.full_clean()
    project.save()
    rows = []
    for order, spec in enumerate(classes):
        row = LabelClass(
            project=project,
            key=spec["key"],
            name=spec.get("name") or spec["key"],
            description=spec.get("description", ""),
            hotkey=spec.get("hotkey", ""),
            colour=spec.get("colour") or PALETTE[order % len(PALETTE)],
            order=order,
        )
        row.full_clean(exclude=["project"])
        rows.append(row)
    LabelClass.objects.bulk_create(rows)
    Membership.objects.create(project=project, user=creator, role=Role.MANAGER)
    return project


def project_update(*, project, **fields) -> Project:
    """Change a project's name, description, overlap, options or conventions (not its modality)."""
    options = fields.pop("options", None)
    if options is not None:
        for flag in ("borderline", "uncertain", "out_of_domain"):
            if flag in options:
                setattr(project, f"allow_{flag}", bool(options[flag]))
    for name in ("name", "description", "overlap", "transcription_conventions"):
        if name in fields:
            setattr(project, name, fields[name])
    project.full_clean()
    project.save()
    return project


def member_add(*, project, username, role) -> Membership:
    """Give a user a role in the project (or change the role they have)."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"no user named '{username}'"})
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role '{role}' (one of {', '.join(Role.values)})"})
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def classes_changed(*, project_id):
    """Record that a project's classes changed (added, renamed, retired, merged, undone, edited in the
    admin): raise its ``classes_version`` so every process reloads the class keys it cached
    (``labeling.selectors.active_class_keys``), and drop this process's copy at once."""
    from django.db.models import F

    from labeling.selectors import class_keys_forget

    Project.objects.filter(pk=project_id).update(classes_version=F("classes_version") + 1)
    class_keys_forget(project_id=project_id)
