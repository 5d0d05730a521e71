"""Reads that several places need: access checks, item lists, inventory totals."""

from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, Func, JSONField, OuterRef, Prefetch, Q, Subquery, TextField, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied, ValidationError

from analysis.metrics.consistency import Conventions
from labelhub import rawsql
from labelhub.params import is_row_id, row_id
from labeling.choices import ROLE_RANK, DecisionAction, JobKind, JobStatus, Role, TaxonomyOp
from labeling.models import (
    Annotation,
    AnnotationRevision,
    ArchivedAnnotation,
    ArchivedSkip,
    CampaignHandover,
    DatasetVersion,
    DataSource,
    Decision,
    Guideline,
    Invitation,
    Item,
    Job,
    LabelClass,
    Membership,
    Project,
    Skip,
    Tag,
    TaxonomyChange,
    TranscriptConventions,
    Webhook,
    WebhookDelivery,
)
from labeling.services.shapes import shapes_value


def membership_for(*, user, project) -> Membership | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Membership(project=project, user=user, role=Role.MANAGER)
    return Membership.objects.filter(project=project, user=user).first()


# Project id -> ((created, classes_version), keys of the active classes): this process's copy, valid
# while the project row says the same version (see Project.classes_version). ``created`` tells apart a
# project whose id was given again (SQLite hands out an id anew when the transaction that used it
# rolled back).
_CLASS_KEYS: dict[int, tuple[tuple, tuple[str, ...]]] = {}


def active_class_keys(*, project) -> list[str]:
    """The keys of the project's active classes, what every answer is checked against.

    Read once per process and project and kept until the project's ``classes_version`` (on the project
    row the request loaded anyway) moves on: the labeling loop no longer reads the class table on each
    answer. A version counter rather than a shared cache, because ``CACHE_URL`` may be each process's
    own memory: the version is in the database every process reads. The keys read after the version
    are never older than it (the project row is loaded first), so a copy is at worst newer.
    """
    version = (project.created, project.classes_version)
    cached = _CLASS_KEYS.get(project.pk)
    if cached is not None and cached[0] == version:
        return list(cached[1])
    sql = f'SELECT key FROM {LabelClass._meta.db_table} WHERE project_id = %s AND NOT retired ORDER BY "order", id'
    with rawsql.hot_cursor() as cursor:
        cursor.execute(sql, [project.pk])
        keys = tuple(row[0] for row in cursor.fetchall())
    _CLASS_KEYS[project.pk] = (version, keys)
    return list(keys)


def class_keys_forget(*, project_id=None):
    """Drop this process's copy of a project's class keys (all projects' with no id)."""
    if project_id is None:
        _CLASS_KEYS.clear()
    else:
        _CLASS_KEYS.pop(project_id, None)


def project_for_user(*, user, project_id, role=Role.LABELER) -> tuple[Project, Membership]:
    """The project if ``user`` is a member with at least ``role``.

    A project the user does not belong to answers 404 (its existence is not revealed); a member
    without the role gets 403.
    """
    try:
        project = Project.objects.get(pk=row_id(project_id))
    except (Project.DoesNotExist, TypeError, ValueError):
        raise Http404("No project with that id among your projects.") from None
    membership = membership_for(user=user, project=project)
    if membership is None:
        raise Http404("No project with that id among your projects.")
    archived_check(project=project, my_role=membership.role)
    if ROLE_RANK[membership.role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in project '{project.name}'; you are {membership.role}.")
    return project, membership


def archived_check(*, project, my_role):
    """PermissionDenied when the project is archived and ``my_role`` is below manager.

    Archiving takes a finished (or abandoned) project out of everyone's way without deleting its
    answers: it leaves labelers' and reviewers' lists and queues, while its managers keep reading it
    and can restore it. A member is told why (403), not told the project is gone (404): they did
    belong to it, and the message says who can bring it back.
    """
    if project.archived is not None and ROLE_RANK[my_role] < ROLE_RANK[Role.MANAGER]:
        raise PermissionDenied(f"Project '{project.name}' is archived; its managers can restore it.")


def member_for(*, project, username) -> Membership:
    """The project's membership of the user named ``username``, or 404."""
    membership = Membership.objects.select_related("user", "project").filter(project=project, user__username=username)
    membership = membership.first()
    if membership is None:
        raise Http404(f"No member named '{username}' in this project.")
    return membership


def item_for_user(*, user, item_id, role=Role.LABELER) -> tuple[Item, Membership]:
    try:
        item = Item.objects.select_related("project", "source").get(pk=row_id(item_id))
    except (Item.DoesNotExist, TypeError, ValueError):
        raise Http404("No item with that id in your projects.") from None
    try:
        _, membership = project_for_user(user=user, project_id=item.project_id, role=role)
    except Http404:
        raise Http404("No item with that id in your projects.") from None
    return item, membership


def job_for_user(*, user, job_id) -> Job:
    """A background job, for the reviewers and managers of its project (a job outside any project: for
    the user who started it).

    A non-member gets the same 404 as for an id that does not exist: job ids are sequential, so not even
    the existence of another project's job is confirmed. A member who may not read it (a labeler: a job's
    errors and result carry what labelers must not see, an import's duplicates naming original files and
    folder labels, a build counting classes, training reporting metrics; a reviewer of an archived
    project) gets 403 saying why, as for the project's other pages, and nothing of the job. No job is
    started by a labeler, so none needs polling by one.
    """
    not_found = "No job with that id among your projects' jobs."
    try:
        job = Job.objects.select_related("project").get(pk=int(job_id))
    except (Job.DoesNotExist, TypeError, ValueError):
        raise Http404(not_found) from None
    if job.project_id is None:
        if job.created_by_id != user.pk and not user.is_superuser:
            raise Http404(not_found)
        return job
    membership = membership_for(user=user, project=job.project)
    if membership is None:
        raise Http404(not_found)
    archived_check(project=job.project, my_role=membership.role)  # an archived project is its managers' only
    if not membership.has_role(JOB_VIEWER_ROLE):
        raise PermissionDenied(
            f"Background jobs are read by the {JOB_VIEWER_ROLE}s and managers of project '{job.project.name}'; "
            f"you are {membership.role}."
        )
    return job


def project_create_allowed(*, user) -> bool:
    """Whether ``user`` may create projects. LABELHUB_PROJECT_CREATORS="staff" (the default): staff users
    and users given the ``labeling.add_project`` permission (directly or through a group), as in other
    team tools; "everyone": any signed-in user."""
    if not user.is_authenticated or not user.is_active:
        return False
    if settings.LABELHUB_PROJECT_CREATORS == "everyone":
        return True
    return user.is_staff or user.has_perm("labeling.add_project")


def project_creators_rule() -> str:
    """Who may create projects here, in words, for the pages that have to say no."""
    if settings.LABELHUB_PROJECT_CREATORS == "everyone":
        return "every signed-in user may create projects"
    return (
        "creating projects is limited to staff users and to users given the “Can add project” right "
        "(LABELHUB_PROJECT_CREATORS=staff)"
    )


def project_create_check(*, user):
    """PermissionDenied unless ``user`` may create projects."""
    if not project_create_allowed(user=user):
        raise PermissionDenied(
            "creating projects is limited to staff and to users given that right: ask an administrator"
        )


# Who reads background jobs (job_for_user) and item tags (tags_visible_to).
JOB_VIEWER_ROLE = Role.REVIEWER
TAG_VIEWER_ROLE = Role.REVIEWER


def tags_visible_to(*, membership) -> bool:
    """Whether a member sees item tags at all: on an item, in lists, or as a filter (``?tag=``).

    The rule is by role, not by tag: reviewers and managers see every tag; labelers see none and
    cannot filter by one. A tag records someone's judgement about items: an SME's review outcome
    (``needs-better-input``), a lasso on the embedding map ("suspect-9-as-4"), a manager's slice at
    import (a folder name, "hard-cases"). Shown to a labeler, any of them can steer a blind answer, the
    same way the imported label and the file name would (the labeler's item view leaves those out too),
    and labeling an item needs none of them. A visibility per tag would still leak as soon as a reviewer
    adds items to an import-time tag, and would fail open for each new way of tagging; a role check
    fails closed. The API's item serializer asks this function; every other place that shows tags or
    filters by one (item list and browser, project overview, review queue, map, reports, exports)
    needs the reviewer role before it reads anything, so a labeler cannot probe which items carry a
    tag. tests/labeling/test_tag_visibility.py reads every page and endpoint as a labeler to hold it.
    """
    return membership is not None and membership.has_role(TAG_VIEWER_ROLE)


def projects_for_user(*, user, archived=None):
    """Projects the user belongs to, with their role and item count, for lists.

    Archived projects are listed only to their managers (``archived`` True: only those, False: none).
    """
    if user.is_superuser:
        projects = Project.objects.all()
    else:
        projects = Project.objects.filter(memberships__user=user).filter(
            Q(archived__isnull=True)
            | Q(pk__in=Membership.objects.filter(user=user, role=Role.MANAGER).values("project_id"))
        )
    if archived is not None:
        projects = projects.filter(archived__isnull=not archived)
    return (
        projects.order_by("name", "id")
        .annotate(n_items=Count("items", distinct=True))
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.filter(user=user), to_attr="my_memberships"),
            "classes",
        )
    )


def source_named(*, project, value):
    """The project's source ``value`` names: its id, else its name (a source may be named "2024", which a
    filter read as an id alone and matched nothing); None when it names none."""
    sources = project.sources.all()
    found = sources.filter(pk=int(value)).first() if is_row_id(value) else None
    return found or sources.filter(name=str(value)).first()


def source_check(*, project, value, field="source"):
    """The project's source ``value`` names (``source_named``), or a refusal naming it under ``field``: an
    upload's source and a campaign's (or deletion's) filter name an unknown one alike."""
    found = source_named(project=project, value=value)
    if found is None:
        raise ValidationError({field: f"unknown source '{value}' (not a source of this project)"})
    return found


def tag_check(*, project, name, field="tag"):
    """Refuse a filter's tag the project does not have, by name, under ``field``: an unknown slice made a
    report, a review queue or a campaign of 0 items without a word. The agreement and review filters and
    the campaign filters share it."""
    if name and not project.tags.filter(name=name).exists():
        raise ValidationError({field: f"'{name}' is not a tag of this project"})


def known_labelers(*, project, wanted) -> dict[str, int]:
    """Username → id of the users ``wanted`` (names or ids) names whom a filter may choose: the project's
    members and those whose answers it holds, current or archived by a relabel campaign (archived answers
    count until relabeled). A removed labeler's answers stay and the reports list them, but their name was
    refused as "not a member", so their row could not be chosen."""
    ids = [int(name) for name in wanted if is_row_id(name)]
    member = Membership.objects.filter(project=project, user_id=OuterRef("pk"))
    answered = Annotation.objects.filter(item__project=project, labeler_id=OuterRef("pk"))
    archived = ArchivedAnnotation.objects.filter(item__project=project, labeler_id=OuterRef("pk"))
    users = get_user_model().objects.filter(Q(username__in=wanted) | Q(pk__in=ids))
    return dict(users.filter(Exists(member) | Exists(answered) | Exists(archived)).values_list("username", "pk"))


def unknown_labeler_message(name) -> str:
    return f"'{name}' is not a member of this project and gave no answer in it"


def current_skips():
    """The skips that hold on the outer query's item, for Exists and Subquery: Skip rows only. A skip a
    relabel campaign (or a reviewers' send-back) archived is ArchivedSkip, history that no longer holds."""
    return Skip.objects.filter(item=OuterRef("pk")).order_by()


def items_list(*, project, tag=None, source=None, label=None, annotated=None, skipped=None):
    """A project's items, filtered; ``label`` matches the imported label; ``annotated`` whether any
    labeler has answered; ``skipped`` whether a labeler's skip holds on it (true: at least one; false:
    none). Each item carries ``n_skips``, how many labelers' skips hold on it (archived skips not
    counted), read by a subquery in the same statement: no query per item."""
    n_skips = current_skips().values("item").annotate(n=Count("pk")).values("n")
    items = (
        Item.objects.filter(project=project)
        .select_related("source")
        .prefetch_related("tags")
        .annotate(n_skips=Coalesce(Subquery(n_skips), Value(0)))
    )
    if skipped is not None:
        items = items.filter(Exists(current_skips())) if skipped else items.filter(~Exists(current_skips()))
    if tag:
        items = items.filter(tags__name=tag)
    if source:
        found = source_named(project=project, value=source)
        items = items.filter(source=found) if found else items.none()
    if label:
        items = items.filter(label=label)
    if annotated is not None:
        annotated_ids = Item.objects.filter(project=project, annotations__isnull=False).values("pk")
        items = items.filter(pk__in=annotated_ids) if annotated else items.exclude(pk__in=annotated_ids)
    return items.order_by("id")


def inventory_summary(*, project, within_days=None):
    """Totals of the project's sources: by kind, overall, and what is available within k days.

    "Within k days" sums the planned amounts (per unit) and costs of sources that are available now or
    whose turnaround is at most k days; retired sources never count.
    """
    sources = list(DataSource.objects.filter(project=project).annotate(n_items=Count("items")).order_by("kind", "name"))
    by_kind = {}
    totals = {}
    for source in sources:
        kind = by_kind.setdefault(
            source.kind,
            {"kind": source.kind, "name": source.get_kind_display(), "amount": {}, "cost": {}, "n_sources": 0},
        )
        kind["n_sources"] += 1
        kind["amount"][source.unit] = kind["amount"].get(source.unit, Decimal(0)) + source.planned_amount
        kind["cost"][source.currency] = kind["cost"].get(source.currency, Decimal(0)) + source.total_cost
        totals.setdefault("amount", {}).setdefault(source.unit, Decimal(0))
        totals["amount"][source.unit] += source.planned_amount
        totals.setdefault("cost", {}).setdefault(source.currency, Decimal(0))
        totals["cost"][source.currency] += source.total_cost
    within = None
    if within_days is not None:
        reachable = [
            s
            for s in sources
            if s.status != "retired"
            and (s.status == "available" or (s.turnaround_days is not None and s.turnaround_days <= within_days))
        ]
        within = {"days": within_days, "sources": [s.name for s in reachable], "amount": {}, "cost": {}}
        for s in reachable:
            within["amount"][s.unit] = within["amount"].get(s.unit, Decimal(0)) + s.planned_amount
            within["cost"][s.currency] = within["cost"].get(s.currency, Decimal(0)) + s.total_cost
    # Amounts and costs as (unit, value) pairs: templates cannot iterate a dict whose key is "items".
    for group in [*by_kind.values(), totals, within or {}]:
        for key in ("amount", "cost"):
            if key in group:
                group[key] = sorted(group[key].items())
    return {"sources": sources, "by_kind": list(by_kind.values()), "totals": totals, "within": within}


def project_overview(*, project):
    """Counts for the project overview page."""
    items = Item.objects.filter(project=project)
    return {
        "n_items": items.count(),
        "n_annotated": items.filter(annotations__isnull=False).distinct().count(),
        "n_annotations": project.items.aggregate(n=Count("annotations"))["n"],
        "tags": Tag.objects.filter(project=project).annotate(n=Count("items")).order_by("-n", "name"),
        "sources": DataSource.objects.filter(project=project).annotate(n=Count("items")),
        "jobs": Job.objects.filter(project=project).order_by("-created")[:10],
        "members": project.memberships.select_related("user").order_by("role", "user__username"),
        # An item's own overlap (a relabel campaign's) wins, as on the labeling page.
        "complete": items.annotate(n=Count("annotations"))
        .filter(n__gte=Coalesce(F("overlap"), Value(project.overlap)))
        .count(),
        "unsourced": items.filter(Q(source__isnull=True)).count(),
    }


# --- Labeling: the queue's hot path, progress, answers -------------------------------------------------


def _role_check(*, user, project, my_role, role, not_found) -> Membership:
    if user.is_superuser:
        my_role = Role.MANAGER
    if my_role is None:
        raise Http404(not_found)
    archived_check(project=project, my_role=my_role)
    if ROLE_RANK[my_role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in project '{project.name}'; you are {my_role}.")
    return Membership(project=project, user=user, role=my_role)


def labeling_project_for(*, user, project_id, role=Role.LABELER) -> tuple[Project, Membership]:
    """``project_for_user`` in one query, for the labeling endpoints that run on every answer.

    Same contract: 404 for a project the user does not belong to, 403 without the role. The membership
    answered is an unsaved instance carrying the role.
    """
    not_found = "No project with that id among your projects."
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        raise Http404(not_found) from None
    sql = f"""
        SELECT {rawsql.select_list(Project, "p")}, m.role
        FROM {Project._meta.db_table} p
        LEFT JOIN {Membership._meta.db_table} m ON m.project_id = p.id AND m.user_id = %(user)s
        WHERE p.id = %(project)s
    """
    row = rawsql.fetch_one(sql, {"user": user.pk, "project": project_id})
    if row is None:
        raise Http404(not_found)
    project = rawsql.instance(Project, None, row[:-1])
    return project, _role_check(user=user, project=project, my_role=row[-1], role=role, not_found=not_found)


# What answering or skipping needs of an item, its project and the active guideline.
LABELING_ITEM_FIELDS = ("id", "project_id", "n_answers", "overlap")
LABELING_PROJECT_FIELDS = (
    "id",
    "name",
    "task_type",
    "allow_borderline",
    "allow_uncertain",
    "allow_out_of_domain",
    "overlap",
    "active_guideline_id",
    "archived",
    "created",
    "classes_version",  # with "created": the version of the class keys cached (active_class_keys)
)
LABELING_GUIDELINE_FIELDS = ("id", "project_id", "version")


def labeling_item_for(*, user, item_id, role=Role.LABELER, lock=False) -> tuple[Item, Membership]:
    """``item_for_user`` in one query: the item with its project and active guideline loaded (the
    fields in LABELING_*_FIELDS: what an answer or a skip needs; others load on access), or 404 when it
    is not in one of the user's projects.

    ``lock=True`` (inside a transaction): the same query also locks the item's row, waiting for it, as
    the queue's answer does before it reads the slots (``labeling.services.queue``), so that answer
    needs no locking statement of its own; ``n_answers`` and ``overlap`` are then the row's latest
    version. Only a member's (or a superuser's) item is locked: anyone else gets the 404 without it.
    """
    not_found = "No item with that id in your projects."
    try:
        item_id = row_id(item_id)
    except (TypeError, ValueError):
        raise Http404(not_found) from None
    sql = f"""
        SELECT {rawsql.select_list(Item, "i", LABELING_ITEM_FIELDS)},
               {rawsql.select_list(Project, "p", LABELING_PROJECT_FIELDS)},
               {rawsql.select_list(Guideline, "g", LABELING_GUIDELINE_FIELDS)},
               m.role
        FROM {Item._meta.db_table} i
        JOIN {Project._meta.db_table} p ON p.id = i.project_id
        LEFT JOIN {Guideline._meta.db_table} g ON g.id = p.active_guideline_id
        LEFT JOIN {Membership._meta.db_table} m ON m.project_id = i.project_id AND m.user_id = %(user)s
        WHERE i.id = %(item)s
    """
    params = {"user": user.pk, "item": item_id}
    if lock:
        sql += " AND (m.role IS NOT NULL OR %(superuser)s)"
        params["superuser"] = bool(user.is_superuser)
        if connection.features.has_select_for_update_of:  # SQLite: writers are serialized, no row locks
            sql += " FOR UPDATE OF i"
    row = rawsql.fetch_one(sql, params)
    if row is None:
        raise Http404(not_found)
    a, b = len(LABELING_ITEM_FIELDS), len(LABELING_ITEM_FIELDS) + len(LABELING_PROJECT_FIELDS)
    item = rawsql.instance(Item, LABELING_ITEM_FIELDS, row[:a])
    item.project = project = rawsql.instance(Project, LABELING_PROJECT_FIELDS, row[a:b])
    project.active_guideline = rawsql.instance(Guideline, LABELING_GUIDELINE_FIELDS, row[b:-1])
    membership = _role_check(user=user, project=project, my_role=row[-1], role=role, not_found=not_found)
    return item, membership


def _today_start():
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def labeling_progress(*, project, labeler) -> dict:
    """A labeler's progress in a project and the project's own, for the labeling page.

    Answers ``{"mine": {"today", "total", "skipped"}, "project": {"items", "complete", "overlap"}}``:
    ``today`` counts first answers given since local midnight (revisions do not count again);
    ``complete`` counts items with at least k current answers (k: the item's own overlap, if a relabel
    campaign set one, else the project's). Nothing about other labelers' answers.
    """
    mine = Annotation.objects.filter(labeler=labeler, item__project=project).aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(created__gte=_today_start()))
    )
    k = Coalesce(F("overlap"), Value(project.overlap))  # an item's own overlap (a campaign's) wins
    items = Item.objects.filter(project=project).aggregate(
        items=Count("pk"), complete=Count("pk", filter=Q(n_answers__gte=k))
    )
    return {
        "mine": {**mine, "skipped": Skip.objects.filter(labeler=labeler, item__project=project).count()},
        "project": {**items, "overlap": project.overlap},
    }


def archived_memberships(*, user) -> list[Project]:
    """The archived projects the user belongs to below manager (not listed to them: ``projects_for_user``)."""
    return list(
        Project.objects.filter(memberships__user=user, archived__isnull=False)
        .exclude(pk__in=Membership.objects.filter(user=user, role=Role.MANAGER).values("project_id"))
        .order_by("name", "id")
        .distinct()
    )


def projects_with_progress(*, user) -> list[Project]:
    """The user's projects (as ``projects_for_user``), each with ``mine_today``, ``mine_total``,
    ``n_complete`` (items with k answers) and ``percent_complete``: the labeler home. Three queries
    whatever the number of projects."""
    projects = list(projects_for_user(user=user))
    ids = [p.pk for p in projects]
    mine = {
        row["item__project"]: row
        for row in Annotation.objects.filter(labeler=user, item__project__in=ids)
        .values("item__project")
        .annotate(total=Count("pk"), today=Count("pk", filter=Q(created__gte=_today_start())))
    }
    complete = dict(
        Item.objects.filter(project__in=ids, n_answers__gte=Coalesce(F("overlap"), F("project__overlap")))
        .values("project")
        .annotate(n=Count("pk"))
        .values_list("project", "n")
    )
    for project in projects:
        row = mine.get(project.pk, {})
        project.mine_today, project.mine_total = row.get("today", 0), row.get("total", 0)
        project.n_complete = complete.get(project.pk, 0)
        project.percent_complete = round(100 * project.n_complete / project.n_items) if project.n_items else 0
    return projects


# What the answers list shows of an answer and the rows it joins: the user's name only (never the password
# hash or e-mail), the item's file name and text (its link and "recent answers"), and the project's task
# type (a localized answer's value is an object) — not the items' metadata, stats or the project's options.
ANNOTATION_LIST_FIELDS = (
    "id",
    "item_id",
    "labeler_id",
    "value",
    "borderline",
    "borderline_with",
    "uncertain",
    "out_of_domain",
    "comment",
    "seconds",
    "guideline_id",
    "revision",
    "created",
    "updated",
    "labeler__username",
    "item__file",
    "item__text",
    "item__stats",
    "item__project__task_type",
    "guideline__version",
)


def annotations_list(*, project, labeler=None, username=None, item=None):
    """A project's current answers, newest change first; ``labeler`` (a user), ``username`` and ``item``
    (an id) filter. Keyset pages (``labelhub.api.KeysetPagination``) order it by id instead.

    Callers decide who may see whose answers: labelers only ever get ``labeler=themselves``.
    """
    annotations = (
        Annotation.objects.filter(item__project=project)
        .select_related("labeler", "item__project", "guideline")
        .only(*ANNOTATION_LIST_FIELDS)
    )
    if labeler is not None:
        annotations = annotations.filter(labeler=labeler)
    if username is not None:
        annotations = annotations.filter(labeler__username=username)
    if item is not None:
        annotations = annotations.filter(item_id=item)
    return annotations.order_by("-updated", "-id")


def answerer_known(*, project, username) -> bool:
    """Whether ``username`` is a member of the project or has answered in it (a removed labeler's answers
    stay): the names an answers filter can mean."""
    return (
        Membership.objects.filter(project=project, user__username=username).exists()
        or Annotation.objects.filter(item__project=project, labeler__username=username).exists()
    )


# The columns of an answers export, in order (``GET /api/projects/{id}/annotations/export``, a version's
# answers.jsonl).
ANSWER_EXPORT_FIELDS = (
    "item",
    "labeler",
    "value",
    "borderline",
    "borderline_with",
    "uncertain",
    "out_of_domain",
    "comment",
    "seconds",
    "guideline",
    "created",
)
ANSWER_EXPORT_BATCH = 5_000


def project_answers(*, project):
    """Every current answer of the project (an export's rows; callers check the reader's role)."""
    return Annotation.objects.filter(item__project=project)


def answer_export_batches(*, answers, batch=ANSWER_EXPORT_BATCH):
    """``answers`` (an Annotation queryset) as lists of tuples in ``ANSWER_EXPORT_FIELDS`` order, in id
    order, ``batch`` rows at a time.

    Each batch is its own query, ``WHERE id > last ORDER BY id LIMIT batch`` (keyset): no server-side
    cursor is held between batches, so a streamed export works behind PgBouncer in transaction mode and
    each batch costs the same however far in it is. Inside a transaction (a version build's snapshot) the
    batches read one state; outside, every answer that exists when the export starts is read exactly once
    (in the state its batch saw). Only the named columns are read: the labeler's username, the guideline's
    version number.
    """
    answers = answers.order_by("id").values_list(
        "id",
        "item_id",
        "labeler__username",
        "value",
        "borderline",
        "borderline_with",
        "uncertain",
        "out_of_domain",
        "comment",
        "seconds",
        "guideline__version",
        "created",
    )
    last = 0
    while True:
        rows = list(answers.filter(id__gt=last)[:batch])
        if not rows:
            return
        last = rows[-1][0]
        yield [row[1:] for row in rows]
        if len(rows) < batch:
            return


# The export's JSON Lines, formatted by PostgreSQL (``answer_export_lines``): the same keys, in the same
# order, as ``labeling.services.answer_exports.jsonl_lines`` writes. A timestamp with no microseconds is
# written without them, as Python's isoformat does; a non-finite ``seconds`` is null. The names in braces
# are the columns of ``_EXPORT_LINE_COLUMNS``, compiled by the ORM for the queryset at hand.
_EXPORT_LINE_SQL = """concat(
    '{{"item":', {item},
    ',"labeler":', to_json({labeler}::text),
    ',"value":', to_json({value}),
    ',"borderline":', {borderline}::text,
    ',"borderline_with":', to_json({borderline_with}::text),
    ',"uncertain":', {uncertain}::text,
    ',"out_of_domain":', {out_of_domain}::text,
    ',"comment":', to_json({comment}),
    ',"seconds":', CASE WHEN {seconds} IS NULL OR {seconds} IN ('NaN', 'Infinity', '-Infinity') THEN 'null'
                        WHEN {seconds} = trunc({seconds}) AND abs({seconds}) < 1e16
                            THEN trunc({seconds})::bigint::text || '.0'
                        ELSE {seconds}::text END,
    ',"guideline":', coalesce({guideline}::text, 'null'),
    ',"created":"', to_char({created} AT TIME ZONE 'UTC',
                            CASE WHEN to_char({created}, 'US') = '000000' THEN 'YYYY-MM-DD"T"HH24:MI:SS'
                                 ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US' END),
    'Z"}}', chr(10))"""
_EXPORT_LINE_COLUMNS = {
    "item": "item_id",
    "labeler": "labeler__username",
    "value": "value",
    "borderline": "borderline",
    "borderline_with": "borderline_with",
    "uncertain": "uncertain",
    "out_of_domain": "out_of_domain",
    "comment": "comment",
    "seconds": "seconds",
    "guideline": "guideline__version",
    "created": "created",
}
ANSWER_EXPORT_SQL_BATCH = 20_000


class _ExportLine(Func):
    """An answer's JSON Lines text (``_EXPORT_LINE_SQL``), on PostgreSQL, for any Annotation queryset: the
    ORM resolves the columns (and the joins to the labeler and the guideline) as for ``values_list``."""

    output_field = TextField()

    def __init__(self):
        super().__init__(*(F(path) for path in _EXPORT_LINE_COLUMNS.values()))

    def as_sql(self, compiler, connection, **extra_context):
        columns, params = {}, []
        for name, expression in zip(_EXPORT_LINE_COLUMNS, self.get_source_expressions(), strict=True):
            sql, column_params = compiler.compile(expression)
            assert not column_params, "a column reference has no parameters"
            columns[name] = sql
        return _EXPORT_LINE_SQL.format(**columns), params


def answer_export_line_batches(*, answers, items=False, batch=ANSWER_EXPORT_SQL_BATCH):
    """``answers`` (an Annotation queryset) as lists of rows ``(id, JSON Lines text)``, or with ``items``
    ``(id, item id, JSON Lines text)``, in id order, ``batch`` at a time, each line formatted by PostgreSQL
    (the bytes ``jsonl_lines`` writes). None on other databases (the caller formats the rows of
    ``answer_export_batches``). Keyset batches, as there: no cursor is held between them, and inside a
    transaction (a version build's snapshot) they read one state."""
    if connection.vendor != "postgresql":
        return None
    rows = answers.order_by("id").values_list("id", *(["item_id"] if items else []), _ExportLine())

    def batches():
        last = 0
        while True:
            # the ORM's SQL, its rows fetched whole: the ORM's row iteration would cost more than the rest
            sql, params = rows.filter(id__gt=last)[:batch].query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                found = cursor.fetchall()
            if not found:
                return
            last = found[-1][0]
            yield found
            if len(found) < batch:
                return

    return batches()


def answer_export_lines(*, project, batch=ANSWER_EXPORT_SQL_BATCH):
    """Every current answer of ``project`` as JSON Lines (UTF-8 bytes, one chunk per ``batch`` answers), in
    id order, formatted by PostgreSQL: the Python process only joins the lines, which is what keeps a
    1M-answer export within seconds. None on other databases (the caller formats the rows of
    ``answer_export_batches``).
    """
    batches = answer_export_line_batches(answers=project_answers(project=project), batch=batch)
    if batches is None:
        return None
    return ("".join([row[1] for row in found]).encode("utf-8") for found in batches)


def mapping_with(*, mapping: dict, op, payload) -> dict:
    """``mapping`` (old key → key) extended by one change, for previews and for class_mapping."""
    out = dict(mapping)
    if op == TaxonomyOp.MERGE:
        renames = {k: payload["into"] for k in payload["classes"] if k != payload["into"]}
    elif op == TaxonomyOp.RENAME:
        renames = {payload["key"]: payload["new_key"]} if payload["new_key"] != payload["key"] else {}
    else:
        renames = {}
    for old, new in list(out.items()):
        out[old] = renames.get(new, new)
    for old, new in renames.items():
        out.setdefault(old, new)
    return {k: v for k, v in out.items() if k != v}


def class_mapping(*, project) -> dict[str, str]:
    """Old class key → the key its answers count as now, composed from the active taxonomy changes.

    An undone rename gave its new key back, but answers given under that key while the rename stood
    are answers of the class it renamed: they count as that class now (unless a class holds the key
    again). An undone merge is not such a one-to-one: answers given with a class it created keep that
    (retired) class, since they cannot be split back."""
    mapping = {}
    undone_renames = []
    for change in TaxonomyChange.objects.filter(project=project).order_by("number"):
        if change.undone is None:
            mapping = mapping_with(mapping=mapping, op=change.op, payload=change.payload)
        elif change.op == TaxonomyOp.RENAME and change.payload["new_key"] != change.payload["key"]:
            undone_renames.append(change.payload)
    if undone_renames:
        held = set(LabelClass.objects.filter(project=project).values_list("key", flat=True))
        for payload in undone_renames:
            old, given = payload["key"], payload["new_key"]
            if given not in held and given not in mapping:
                mapping[given] = mapping.get(old, old)
    return mapping


def latest_decisions(*, project):
    """Each decided item's latest decision, as {item id: Decision}."""
    latest = {}
    for decision in Decision.objects.filter(item__project=project).order_by("item_id", "created", "id"):
        latest[decision.item_id] = decision
    return latest


def decided_at(*, project) -> dict:
    """When each item's decision in force was made, as {item id: datetime}: its latest decision's time,
    unless that decision is a withdrawal (the item is undecided again)."""
    latest = {}
    rows = Decision.objects.filter(item__project=project).order_by("item_id", "created", "id")
    for item_id, created, action in rows.values_list("item_id", "created", "action").iterator():
        latest[item_id] = (created, action)
    return {i: created for i, (created, action) in latest.items() if action != DecisionAction.WITHDRAWN}


def gold_labels(*, project) -> dict[int, str]:
    """Known correct labels: the latest decision of each item, where a reviewer marked it gold."""
    mapping = class_mapping(project=project)
    return {
        item_id: mapping.get(d.label, d.label)
        for item_id, d in latest_decisions(project=project).items()
        if d.gold and d.action == "label" and d.label
    }


def decided_labels(*, project) -> dict[int, str]:
    """Final labels from reviewers' decisions (gold or not), by item id, through the taxonomy mapping."""
    mapping = class_mapping(project=project)
    return {
        item_id: mapping.get(d.label, d.label)
        for item_id, d in latest_decisions(project=project).items()
        if d.action == "label" and (d.label or d.borderline or d.uncertain or d.out_of_domain)
    }


def transcript_conventions(*, project):
    """The project's transcript conventions (analysis.metrics.consistency.Conventions), or None."""
    row = TranscriptConventions.objects.filter(project=project).first()
    return Conventions.from_dict(row.rules) if row and row.rules else None


# --- Dataset versions and webhooks ------------------------------------------------------------------------


def purged_on(version) -> list[dict]:
    """A version's purges, as its pages and the API show them (never the item ids, which a purge of
    200,000 items would make huge): ``{"items": how many, "date": "YYYY-MM-DD", "at": ISO, "by": username,
    "rows": manifest rows removed, "rewritten": [formats], "removed": [formats]}``. A purge recorded before
    purges rewrote the files has no ``rows`` (null) and empty lists. Read from ``info_counted`` when the
    version was read ``with_purges_counted`` (the API's list, ``version_for``)."""
    return [_purge_shown(p) for p in (listed_info(version) or {}).get("purged", [])]


def _purge_shown(p) -> dict:
    items = p.get("items", [])
    return {
        "items": items if isinstance(items, int) else len(items),
        "date": str(p.get("at", ""))[:10],
        "at": p.get("at", ""),
        "by": p.get("by", ""),
        "rows": p.get("rows"),
        "rewritten": p.get("rewritten", []),
        "removed": p.get("removed", []),
    }


def listed_info(version) -> dict:
    """The version's ``info``; for a version read ``with_purges_counted``, as the database answered it:
    each purge's ``items`` a count instead of the ids."""
    return version.info_counted if hasattr(version, "info_counted") else version.info


class PurgesCounted(Func):
    """A version's ``info`` with each purge's item ids (``info["purged"][n]["items"]``) replaced by how many
    they are, computed by the database: a list of versions then never receives the ids (a purge of 200,000
    items holds 200,000 of them). PostgreSQL and SQLite; elsewhere the whole ``info``."""

    output_field = JSONField()

    def __init__(self, expression="info", **extra):
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra):
        return compiler.compile(self.source_expressions[0])

    def as_postgresql(self, compiler, connection, **extra):
        info, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"CASE WHEN jsonb_typeof({info} -> 'purged') = 'array' THEN jsonb_set({info}, '{{purged}}', COALESCE(("
            "SELECT jsonb_agg(CASE WHEN jsonb_typeof(p) = 'object' THEN (p - 'items') || jsonb_build_object("
            "'items', CASE WHEN jsonb_typeof(p -> 'items') = 'array' THEN jsonb_array_length(p -> 'items') ELSE 0 "
            "END) ELSE p END ORDER BY n) "
            f"FROM jsonb_array_elements({info} -> 'purged') WITH ORDINALITY AS purge(p, n)), '[]'::jsonb)) "
            f"ELSE {info} END"
        )
        return sql, (*params, *params, *params, *params)

    def as_sqlite(self, compiler, connection, **extra):
        info, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"CASE WHEN json_type({info}, '$.purged') = 'array' THEN json_set({info}, '$.purged', json(("
            "SELECT json_group_array(CASE WHEN json_type(purge.value) = 'object' THEN json_set("
            "json_remove(purge.value, '$.items'), '$.items', CASE WHEN json_type(purge.value, '$.items') = 'array' "
            "THEN json_array_length(purge.value, '$.items') ELSE 0 END) ELSE json(purge.value) END) "
            f"FROM (SELECT value FROM json_each({info}, '$.purged') ORDER BY key) AS purge))) "
            f"ELSE {info} END"
        )
        return sql, (*params, *params, *params, *params)


def with_purges_counted(versions):
    """``versions`` (a queryset) reading, instead of each one's ``info``, ``info_counted``: the same with
    each purge's item ids counted by the database (``PurgesCounted``)."""
    return versions.defer("info").annotate(info_counted=PurgesCounted())


def version_for(*, project, ref, name="version"):
    """The project's version ``ref``: a number (``3``) or ``latest``, with its parent, project and artifacts;
    its ``info`` read ``with_purges_counted`` (``listed_info`` reads it; its parent's is not read), so that
    its page, detail, downloads and diff never receive the purged item ids. 404 saying which versions
    exist."""
    versions = DatasetVersion.objects.filter(project=project).select_related("parent", "project")
    versions = with_purges_counted(versions.defer("parent__info").prefetch_related("artifacts"))
    ref = str(ref).strip().lower()
    version = None
    if ref == "latest":
        version = versions.order_by("-number").first()
        if version is None:
            raise Http404(f"Project '{project.name}' has no dataset version yet.")
        return version
    if is_row_id(ref):
        version = versions.filter(number=int(ref)).first()
    if version is None:
        numbers = list(
            DatasetVersion.objects.filter(project=project).order_by("number").values_list("number", flat=True)
        )
        known = f"its versions are {', '.join(map(str, numbers))}" if numbers else "it has no version yet"
        raise Http404(f"No {name} '{ref}' in project '{project.name}' ({known}; or use 'latest').")
    return version


def versions_list(*, project):
    """The project's published versions, newest first, with their parents and artifacts loaded; their
    ``info`` and their parents' not (it holds the ids of the items purged from them, maybe 200,000: the
    API's list reads it through ``with_purges_counted``, the pages not at all)."""
    return (
        DatasetVersion.objects.filter(project=project)
        .select_related("parent", "created_by")
        .defer("info", "parent__info")
        .prefetch_related("artifacts")
        .order_by("-number")
    )


def version_builds(*, project, unfinished_only=False):
    """The project's version-build jobs, newest first (``unfinished_only``: queued, running, failed)."""
    jobs = Job.objects.filter(project=project, kind=JobKind.VERSION).select_related("created_by")
    if unfinished_only:
        jobs = jobs.exclude(status=JobStatus.SUCCEEDED)
    return jobs.order_by("-created", "-id")


def import_job_for(*, project, job_id):
    job = Job.objects.filter(project=project, kind=JobKind.IMPORT, pk=job_id).first()
    if job is None:
        raise Http404("No import job with that id in this project.")
    return job


def version_build_for(*, project, job_id):
    job = Job.objects.filter(project=project, kind=JobKind.VERSION, pk=job_id).first()
    if job is None:
        raise Http404("No version build with that id in this project.")
    return job


def webhooks_list(*, project):
    return Webhook.objects.filter(project=project).order_by("id")


def webhook_for(*, project, webhook_id):
    webhook = Webhook.objects.filter(project=project, pk=webhook_id).first()
    if webhook is None:
        raise Http404("No webhook with that id in this project.")
    return webhook


def deliveries_list(*, project, webhook=None):
    """Webhook deliveries of the project (or of one webhook), newest first."""
    deliveries = WebhookDelivery.objects.filter(webhook__project=project).select_related("webhook")
    if webhook is not None:
        deliveries = deliveries.filter(webhook=webhook)
    return deliveries.order_by("-created", "-id")


def labeler_last_guideline_version(*, project, labeler) -> int | None:
    """The guideline version the labeler's most recent answer in the project was given under (None
    when they have not answered, or answered without a guideline): the labeling page tells them when
    the active guideline is newer."""
    return (
        Annotation.objects.filter(labeler=labeler, item__project=project, guideline__isnull=False)
        .order_by("-updated", "-id")
        .values_list("guideline__version", flat=True)
        .first()
    )


def answers_given(*, user_ids) -> dict[int, dict[str, int]]:
    """What each of these accounts answered, in any project: ``{user id: {"answers", "superseded",
    "archived"}}``, only accounts with at least one. Such an account is evidence and is deactivated, not
    deleted (the labeler foreign keys PROTECT): the admin's user page says so instead of failing."""

    def counts(rows, field):
        return dict(rows.values_list(field).annotate(n=Count("pk")).order_by())

    answers = counts(Annotation.objects.filter(labeler_id__in=user_ids), "labeler_id")
    revisions = AnnotationRevision.objects.filter(annotation__labeler_id__in=user_ids)
    superseded = counts(revisions, "annotation__labeler_id")
    archived = counts(ArchivedAnnotation.objects.filter(labeler_id__in=user_ids), "labeler_id")
    return {
        pk: {"answers": answers.get(pk, 0), "superseded": superseded.get(pk, 0), "archived": archived.get(pk, 0)}
        for pk in set(answers) | set(superseded) | set(archived)
    }


# The flags reports and versions may count as classes ("out_of_domain" under a recipe's "class" rule).
FLAG_CLASS_NAMES = {"borderline": "borderline", "uncertain": "uncertain", "out_of_domain": "out of domain"}


def class_names(*, project, old_keys=False) -> dict[str, str]:
    """Class key → the name a person reads it by, for every class of the project (retired ones too; a
    class without a name is its key) and the flags a report or version counts as classes. Pages show
    these; APIs, CSVs and ``data-`` attributes keep the keys.

    ``old_keys``: also the keys a rename took away, which answers and decisions given before it keep,
    read by the name of the class they count as now (the review pages: an answer '7' of a class renamed
    to 'sev' reads "seven", as the decision buttons do, not "7")."""
    names = {c.key: c.name or c.key for c in project.classes.all()}
    if old_keys:
        for old, key in class_mapping(project=project).items():
            if old not in names and key in names:
                names[old] = names[key]
    return {**FLAG_CLASS_NAMES, **names}


ARCHIVED_FIELDS = ("value", "borderline", "uncertain", "out_of_domain")


def archived_as_they_stood(rows, fields=ARCHIVED_FIELDS):
    """Answers a relabel campaign archived, as they stood when it started: of ``rows`` (a queryset of
    ``ArchivedAnnotation``), per (campaign, item, labeler) the latest revision, as
    ``{(campaign_id, item_id, labeler_id): (value, borderline, uncertain, out_of_domain)}`` (or the
    ``fields`` asked for; an answer's earlier revisions are archived with it and do not count)."""
    latest = {}
    columns = ("campaign_id", "item_id", "labeler_id", "answered", *fields)
    for campaign, item, labeler, answered, *rest in rows.values_list(*columns).iterator(chunk_size=10000):
        key = (campaign, item, labeler)
        if key not in latest or answered >= latest[key][0]:
            latest[key] = (answered, *rest)
    return {key: tuple(row[1:]) for key, row in latest.items()}


def archived_still_counting(rows, fields=ARCHIVED_FIELDS):
    """What human agreement reads of the archive: per item and labeler ONE answer counts, the labeler's
    current answer if they have one, else their archived answer as it stood (:func:`archived_as_they_stood`),
    the latest given when several campaigns archived one (each campaign archives the answers given since
    the one before: the newest answer is the newest archive's). Not the campaign with the highest id: the
    reviewers' standing campaign, made early, takes an item back after a later campaign archived its
    older answers, and the older answer counted. Of ``rows`` (``ArchivedAnnotation``), the archived answers
    that count: ``{(item_id, labeler_id): (campaign_id, *fields)}``, none where the labeler has a current
    answer on the item (so one labeler's old and new answers are never a pair of two labelers)."""
    newest = {}
    columns = ("campaign_id", "item_id", "labeler_id", "answered", "pk", *fields)
    for campaign, item, labeler, answered, pk, *values in rows.values_list(*columns).iterator(chunk_size=10000):
        key = (item, labeler)
        if key not in newest or (answered, pk) >= newest[key][0]:
            newest[key] = ((answered, pk), campaign, *values)
    standing = {key: tuple(row[1:]) for key, row in newest.items()}
    if not standing:
        return {}
    answered = Annotation.objects.filter(item_id__in=rows.values("item_id")).values_list("item_id", "labeler_id")
    current = set(answered.iterator(chunk_size=10000))
    return {key: row for key, row in standing.items() if key not in current}


def answers_by_item(*, item_ids, project=None):
    """Every current answer of these items, by item id (reviewers' views: never show it to labelers).

    With ``project`` a detection / segments project, each ``value`` is the shapes object, not its text."""
    out = {}
    answers = Annotation.objects.filter(item_id__in=item_ids).select_related("labeler", "guideline").order_by("created")
    for a in answers:
        out.setdefault(a.item_id, []).append({**_answer_row(a, project), "updated": a.updated})
    return out


def _answer_row(a, project, labeler=None):
    """The fields a current, superseded or archived answer shows a reviewer (``guideline`` loaded, and
    ``labeler``, unless given: a superseded answer's is its annotation's)."""
    return {
        "labeler": (labeler or a.labeler).username,
        "value": shapes_value(project=project, stored=a.value) if project is not None else a.value,
        "borderline": a.borderline,
        "borderline_with": a.borderline_with,
        "uncertain": a.uncertain,
        "out_of_domain": a.out_of_domain,
        "comment": a.comment,
        "seconds": a.seconds,
        "guideline": a.guideline.version if a.guideline else None,
    }


def archived_answers_by_item(*, item_ids, project=None):
    """The answers relabel campaigns archived on these items, by item id, newest first (reviewers' views:
    never show them to labelers): the evidence versions still weigh beside the new answers.

    Each row names its campaign and when it was answered; ``revised`` marks an answer its labeler later
    changed before the same campaign archived both (a version counts the labeler's latest archived answer).
    ``round_of``: the campaign whose round the answer was, when the archiving campaign took the item over
    from it (CampaignHandover), else None.
    With ``project`` a detection / segments project, each ``value`` is the shapes object, not its text."""
    rows = (
        ArchivedAnnotation.objects.filter(item_id__in=item_ids)
        .select_related("labeler", "guideline", "campaign")
        .order_by("-answered", "-pk")
    )
    handovers = {}
    for h in CampaignHandover.objects.filter(item_id__in=item_ids).select_related("campaign"):
        handovers.setdefault((h.item_id, h.taken_by_id), []).append(h)

    def round_of(a):
        for h in handovers.get((a.item_id, a.campaign_id), ()):
            if (h.archived_after is None or a.pk > h.archived_after) and (
                h.archived_through is None or a.pk <= h.archived_through
            ):
                return h.campaign.name
        return None

    out, latest = {}, set()
    for a in rows:
        key = (a.item_id, a.campaign_id, a.labeler_id)
        out.setdefault(a.item_id, []).append(
            {
                "campaign": a.campaign.name,
                "campaign_id": a.campaign_id,
                "round_of": round_of(a),
                **_answer_row(a, project),
                "answered": a.answered,
                "revised": key in latest,
            }
        )
        latest.add(key)
    return out


def revised_answers_by_item(*, item_ids, project=None):
    """Labelers' superseded answers on these items (AnnotationRevision: a labeler changed their mind), by
    item id, newest first (reviewers' views: never show them to labelers). Each row as a current answer's,
    with ``revision`` (its number; the current answer has the next) and ``answered`` (when it was given).
    With ``project`` a detection / segments project, each ``value`` is the shapes object, not its text."""
    rows = (
        AnnotationRevision.objects.filter(annotation__item_id__in=item_ids)
        .select_related("annotation__labeler", "guideline")
        .order_by("-answered", "-pk")
    )
    out = {}
    for r in rows:
        out.setdefault(r.annotation.item_id, []).append(
            {**_answer_row(r, project, labeler=r.annotation.labeler), "revision": r.revision, "answered": r.answered}
        )
    return out


def skips_by_item(*, item_ids):
    """Who skipped these items and why, by item id, newest first (reviewers' views: a skip reason is
    evidence of an unclear guideline or a bad input). Each row: ``labeler``, ``reason``, ``skipped`` (when)
    and ``campaign`` / ``campaign_id``: None for a skip that holds (made since the item was last sent back),
    else the relabel campaign that sent the item back after it (its labeler was offered the item again)."""
    rows = [
        (s.item_id, {"labeler": s.labeler.username, "reason": s.reason, "skipped": s.created, "campaign": None})
        for s in Skip.objects.filter(item_id__in=item_ids).select_related("labeler").order_by()
    ]
    rows += [
        (s.item_id, {"labeler": s.labeler.username, "reason": s.reason, "skipped": s.skipped, "campaign": s.campaign})
        for s in ArchivedSkip.objects.filter(item_id__in=item_ids).select_related("labeler", "campaign").order_by()
    ]
    out = {}
    for item_id, row in sorted(rows, key=lambda pair: pair[1]["skipped"], reverse=True):
        out.setdefault(item_id, []).append(row)
    return out


def current_skips_by_item(*, item_ids) -> dict[int, list[dict]]:
    """Who skipped these items and why, for the skips that hold (not those a relabel campaign archived),
    by item id, oldest first: ``{"labeler": username, "reason", "skipped": when}``. One query whatever
    the number of items (the item browser's page of cards)."""
    out = {}
    rows = Skip.objects.filter(item_id__in=item_ids).order_by("created", "id")
    for item_id, labeler, reason, created in rows.values_list("item_id", "labeler__username", "reason", "created"):
        out.setdefault(item_id, []).append({"labeler": labeler, "reason": reason, "skipped": created})
    return out


def project_item_ids(*, project, item_ids) -> set[int]:
    """Which of ``item_ids`` are items of ``project``.

    A long list is checked against the project's ids in Python rather than as an IN list (over
    SQLite's parameter limit, and slower on PostgreSQL).
    """
    # An id outside the 64-bit range names no row, and the databases refuse to compare with one.
    ids = {i for i in item_ids if -(2**63) <= i < 2**63}
    if len(ids) < 30000:
        return set(Item.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    return set(Item.objects.filter(project=project).values_list("pk", flat=True)) & ids


def invitations_pending(*, project):
    """The project's invitations whose links still work, newest first."""
    return Invitation.objects.filter(
        project=project, accepted=None, revoked=None, expires__gt=timezone.now()
    ).select_related("invited_by")


def recent_imports(*, project, limit=20) -> list[Job]:
    """The project's latest import jobs, each with ``n_items``: how many of the items it made are still
    there (the import page offers to delete them: "undo this import")."""
    jobs = list(Job.objects.filter(project=project, kind=JobKind.IMPORT).order_by("-created", "-id")[:limit])
    counts = dict(
        Item.objects.filter(project=project, import_job_id__in=[j.pk for j in jobs])
        .values_list("import_job_id")
        .annotate(n=Count("pk"))
    )
    for job in jobs:
        job.n_items = counts.get(job.pk, 0)
    return jobs


def items_still_to_label(*, project, membership, item_ids) -> set[int]:
    """The ones of ``item_ids`` the member, a labeler, may still be asked to label: fewer answers than the
    item's k and none, nor a skip, of theirs (empty for reviewers and managers). The guidelines leave out what
    shows the SME's answer on such an item: a canonical example (an item marked "instructions ambiguous"
    becomes one, then is relabeled under the new version) and an answered question's rationale; shown before
    their own answer, they told the labeler what to answer."""
    if membership is None or membership.has_role(Role.REVIEWER) or not item_ids:
        return set()
    user = membership.user_id
    still_open = Q(overlap__isnull=False, n_answers__lt=F("overlap")) | Q(
        overlap__isnull=True, n_answers__lt=project.overlap
    )
    return set(
        Item.objects.filter(project=project, pk__in=item_ids)
        .filter(still_open)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), labeler_id=user)))
        .exclude(Exists(Skip.objects.filter(item=OuterRef("pk"), labeler_id=user)))
        .values_list("pk", flat=True)
    )
