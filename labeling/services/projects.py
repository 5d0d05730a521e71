"""Projects, their classes and members."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.services import username_as_typed
from labeling.choices import SHAPE_TASKS, JobKind, Role, TaskType
from labeling.models import Item, Job, LabelClass, Membership, Project, Reservation
from labeling.selectors import class_keys_forget
from labeling.services import jobs
from labeling.services.guidelines import guideline_publish
from labeling.services.jobs import task_send_on_commit
from labeling.services.versions import storage_delete_tree

HOTKEYS = "1234567890abcdefghijklmnopqrstuvwxyz"
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


def reserved_hotkey_message(hotkey) -> str:
    """Why a class cannot take ``hotkey`` (one of ``RESERVED_HOTKEYS``): at creation and in a taxonomy change."""
    return f"hotkey '{hotkey}' is reserved by the labeling page ({''.join(sorted(RESERVED_HOTKEYS))})"


def _check_classes(classes, *, task_type):
    if len(classes) > settings.LABELHUB_MAX_CLASSES:
        raise ValidationError(
            {
                "classes": f"{len(classes):,} classes, over the limit of {settings.LABELHUB_MAX_CLASSES:,} "
                "(LABELHUB_MAX_CLASSES)"
            }
        )
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
                raise ValidationError({"classes": reserved_hotkey_message(hotkey)})
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
    guideline="",
) -> Project:
    """Create a project with its ordered classes; the creator becomes its manager. A ``guideline`` text
    is published as the project's guideline v1, so the first labelers read instructions from the start."""
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
    if (guideline or "").strip():
        guideline_publish(project=project, text=guideline, author=creator)
    return project


def project_update(*, project, **fields) -> Project:
    """Change a project's name, description, overlap, options or conventions (not its modality)."""
    options = fields.pop("options", None)
    given = []
    if options is not None:
        for flag in ("borderline", "uncertain", "out_of_domain"):
            if flag in options:
                setattr(project, f"allow_{flag}", bool(options[flag]))
                given.append(f"allow_{flag}")
    for name in ("name", "description", "overlap", "transcription_conventions"):
        if name in fields:
            setattr(project, name, fields[name])
            given.append(name)
    project.full_clean()
    # Only the fields given: the row was loaded when the request began, and writing all of it back undid
    # what others changed meanwhile (a guideline published, a class added: classes_version went back).
    if given:
        project.save(update_fields=given)
    return project


def user_find(*, username="", email=""):
    """The user named ``username``, or else the one whose e-mail is ``email`` (ignoring case).

    ValidationError naming the field when there is none, or when several users share the e-mail (then
    only the username says who is meant).
    """
    users = get_user_model().objects
    if username:
        # as given (a name from SSO or the admin may hold anything), else as Django's forms store one: "José"
        # pasted decomposed (NFD) is the account stored composed
        user = users.filter(username=username).first() or users.filter(username=username_as_typed(username)).first()
        if user is None:
            raise ValidationError({"username": f"no user named '{username}'"})
        return user
    if email:
        found = list(users.filter(email__iexact=email.strip())[:2])
        if not found:
            raise ValidationError({"email": f"no user with the e-mail '{email}'"})
        if len(found) > 1:
            raise ValidationError({"email": f"several users have the e-mail '{email}': give the username"})
        return found[0]
    raise ValidationError({"username": "give the username or the e-mail of the user to add"})


def _check_role(role):
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role '{role}' (one of {', '.join(Role.values)})"})


def _keep_a_manager(*, project, membership, new_role=None):
    """ValidationError when ``membership`` is the project's last manager and would stop being one.

    A project without a manager has nobody who can add members, change roles, import or restore it;
    only a superuser could repair it. The project row is locked first (the caller runs in a
    transaction), so two managers demoting each other at once cannot both pass the check.
    """
    if membership.role != Role.MANAGER or new_role == Role.MANAGER:
        return
    Project.objects.select_for_update().filter(pk=project.pk).first()
    others = Membership.objects.filter(project=project, role=Role.MANAGER).exclude(pk=membership.pk)
    if not others.exists():
        raise ValidationError(
            {
                "role": f"{membership.user.username} is the last manager of '{project.name}': make someone else "
                "a manager first"
            }
        )


@transaction.atomic
def member_add(*, project, username="", role, email="") -> Membership:
    """Give a user (by username, or else by e-mail) a role in the project, or change the role they have."""
    return member_add_or_change(project=project, username=username, role=role, email=email)[0]


def member_add_or_change(*, project, username="", role, email="") -> tuple[Membership, bool]:
    """``member_add``, answering (membership, created): created is False when the user was a member
    already and only their role was set."""
    _check_role(role)
    user = user_find(username=username, email=email)
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is not None:
        return member_role_change(membership=membership, role=role), False
    return Membership.objects.create(project=project, user=user, role=role), True


@transaction.atomic
def member_role_change(*, membership, role) -> Membership:
    """Change a member's role; the last manager stays a manager."""
    _check_role(role)
    _keep_a_manager(project=membership.project, membership=membership, new_role=role)
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership) -> None:
    """Take a user out of a project (the last manager stays). Their answers stay, as data the project
    owns; the item they held in the queue is released at once rather than when the hold expires."""
    _keep_a_manager(project=membership.project, membership=membership)
    Reservation.objects.filter(project=membership.project, labeler=membership.user).delete()
    membership.delete()


def project_archive(*, project) -> Project:
    """Archive the project: it leaves labelers' and reviewers' lists and queues; managers still read it
    and can restore it. Nothing is deleted. Archiving an archived project keeps the first date."""
    if project.archived is None:
        project.archived = timezone.now()
        project.save(update_fields=["archived"])
    return project


def project_restore(*, project) -> Project:
    """Bring an archived project back to its members, as it was."""
    if project.archived is not None:
        project.archived = None
        project.save(update_fields=["archived"])
    return project


# --- the stored files of a deleted project or version ------------------------------------------------------
# Nothing in the app deletes a project (it is archived) or a version; the admin does, and the cascade took
# the rows and left every file they had in the media folder or bucket for good. The deletion queues their
# removal by a worker (a project's items may be a million objects) once it commits.


def project_deleting(*, project):
    """Queue the removal of the project's files: its items, its versions' artifacts and the uploads of
    imports that never finished (a finished import removes its own). Called before the rows go, so that
    the import jobs are still there to name their uploads."""
    uploads = Job.objects.filter(project=project, kind=JobKind.IMPORT).values_list("params", flat=True)
    # an upload is kept as imports/<uuid>/<name>: its own folder (never imports/ itself, every upload's)
    folders = {
        str(params["upload"]).rsplit("/", 1)[0]
        for params in uploads
        if isinstance(params, dict)
        and str(params.get("upload", "")).count("/") >= 2
        and str(params["upload"]).startswith("imports/")
    }
    task_send_on_commit("labeling.storage_delete", [f"items/{project.pk}", f"datasets/{project.pk}", *sorted(folders)])
    # its items' files go with the folder: not named one by one as the cascade deletes the items
    if transaction.get_connection().in_atomic_block:
        _file_removals().projects.add(project.pk)


def version_deleted(*, version):
    """Queue the removal of a deleted version's artifacts."""
    if version.storage_prefix:
        task_send_on_commit("labeling.storage_delete", [version.storage_prefix])


def stored_folders_delete(*, folders):
    """Delete every stored file under each of ``folders`` (run by the worker)."""
    for folder in folders:
        storage_delete_tree(folder)


# --- the stored file of a deleted item ---------------------------------------------------------------------
# An item deleted (the admin's page or its delete action, a queryset in a shell) took its row and left its
# file in the media folder or bucket for good; now its file goes too. Its name is its project's and content's
# (items/<project>/<sha[:2]>/<sha><ext>, imports._media_name): another item may name it (the same bytes
# imported again meanwhile: one item per content and project), so a worker removes it once the deletion
# has committed and only if no item of the project holds that content then. The files an item deletion
# leaves are gathered per transaction and sent together: the admin's action deleting a thousand items
# sends one message, not a thousand.

FILES_REMOVE_TASK = "labeling.stored_files_remove"
FILES_PER_MESSAGE = 1000


class _FileRemovals:
    """The item files one transaction deleted, sent to a worker when it commits."""

    def __init__(self):
        self.files = {}  # name -> project id, in the order deleted
        self.projects = set()  # projects deleted in the transaction: their folders go whole
        self.sent = False

    def waiting(self, connection):
        """Whether this transaction's commit will still send them (a rollback drops the callback)."""
        return not self.sent and any(entry[1] == self.send for entry in connection.run_on_commit)

    def send(self):
        self.sent = True
        names = [name for name, project in self.files.items() if project not in self.projects]
        for start in range(0, len(names), FILES_PER_MESSAGE):
            jobs.task_send(FILES_REMOVE_TASK, names[start : start + FILES_PER_MESSAGE])


def _file_removals() -> _FileRemovals:
    connection = transaction.get_connection()
    pending = getattr(connection, "labelhub_file_removals", None)
    if pending is None or not pending.waiting(connection):
        pending = _FileRemovals()
        connection.labelhub_file_removals = pending
        transaction.on_commit(pending.send)
    return pending


def item_deleted(*, item):
    """Queue the removal of a deleted item's file, for when the deletion commits."""
    name = item.file.name if item.file else ""
    if not name:
        return
    if transaction.get_connection().in_atomic_block:
        _file_removals().files.setdefault(name, item.project_id)
    else:  # no transaction: the row is gone already
        jobs.task_send(FILES_REMOVE_TASK, [name])


def stored_files_delete(*, files):
    """Delete the stored item files named in ``files`` that no item names now (run by the worker). A name
    imports make is its project's and content's: an item of that project holding that content (imported
    again since the deletion, the file found there and kept) names it. Checked on the (project, sha256)
    index: a thousand names against 400,000 items, 3 ms, where looking them up by file name scanned the
    table (130 ms, and growing with it)."""
    by_content, others = {}, []
    for name in files:
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "items" and parts[1].isdigit():
            by_content.setdefault(int(parts[1]), {})[name] = parts[3].split(".", 1)[0]
        else:  # not a name imports make: whichever item names it
            others.append(name)
    if others:
        kept = set(Item.objects.filter(file__in=others).values_list("file", flat=True))
        for name in others:
            if name not in kept:
                default_storage.delete(name)
    for project, shas in by_content.items():
        # checked and deleted under the project's files' lock: an import that found one of them stored and
        # reuses it either commits its row first (then it is kept here) or looks again after these deletes
        # and writes it back (jobs.item_files_lock)
        with transaction.atomic():
            jobs.item_files_lock(project, shared=False)
            held = set(
                Item.objects.filter(project_id=project, sha256__in=set(shas.values())).values_list("sha256", flat=True)
            )
            for name, sha in shas.items():
                if sha not in held:
                    default_storage.delete(name)


def classes_changed(*, project_id):
    """Record that a project's classes changed (added, renamed, retired, merged, undone, edited in the
    admin): raise its ``classes_version`` so every process reloads the class keys it cached
    (``labeling.selectors.active_class_keys``), and drop this process's copy at once."""
    from django.db.models import F

    Project.objects.filter(pk=project_id).update(classes_version=F("classes_version") + 1)
    class_keys_forget(project_id=project_id)
