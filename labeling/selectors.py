"""Reads that several places need: access checks, item lists, inventory totals."""

from decimal import Decimal

from django.db.models import Count, Prefetch, Q
from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from labeling.choices import ROLE_RANK, Role
from labeling.models import DataSource, Item, Job, Membership, Project, Tag


def membership_for(*, user, project) -> Membership | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Membership(project=project, user=user, role=Role.MANAGER)
    return Membership.objects.filter(project=project, user=user).first()


def project_for_user(*, user, project_id, role=Role.LABELER) -> tuple[Project, Membership]:
    """The project if ``user`` is a member with at least ``role``.

    A project the user does not belong to answers 404 (its existence is not revealed); a member
    without the role gets 403.
    """
    try:
        project = Project.objects.get(pk=int(project_id))
    except (Project.DoesNotExist, TypeError, ValueError):
        raise Http404("No project with that id among your projects.") from None
    membership = membership_for(user=user, project=project)
    if membership is None:
        raise Http404("No project with that id among your projects.")
    if ROLE_RANK[membership.role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in project '{project.name}'; you are {membership.role}.")
    return project, membership


def item_for_user(*, user, item_id, role=Role.LABELER) -> tuple[Item, Membership]:
    try:
        item = Item.objects.select_related("project", "source").get(pk=int(item_id))
    except (Item.DoesNotExist, TypeError, ValueError):
        raise Http404("No item with that id in your projects.") from None
    try:
        _, membership = project_for_user(user=user, project_id=item.project_id, role=role)
    except Http404:
        raise Http404("No item with that id in your projects.") from None
    return item, membership


def job_for_user(*, user, job_id) -> Job:
    try:
        job = Job.objects.get(pk=int(job_id))
    except (Job.DoesNotExist, TypeError, ValueError):
        raise Http404("No job with that id.") from None
    if job.project_id is None:
        if job.created_by_id != user.pk and not user.is_superuser:
            raise Http404("No job with that id.")
    else:
        try:
            project_for_user(user=user, project_id=job.project_id)
        except Http404:
            raise Http404("No job with that id.") from None
    return job


def projects_for_user(*, user):
    """Projects the user belongs to, with their role and item count, for lists."""
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    return projects.order_by("name", "id").annotate(n_items=Count("items", distinct=True)).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.filter(user=user), to_attr="my_memberships"),
        "classes",
    )


def items_list(*, project, tag=None, source=None, label=None, annotated=None):
    """A project's items, filtered; ``label`` matches the imported label; ``annotated`` whether any
    labeler has answered."""
    items = Item.objects.filter(project=project).select_related("source").prefetch_related("tags")
    if tag:
        items = items.filter(tags__name=tag)
    if source:
        items = items.filter(source_id=source) if str(source).isdigit() else items.filter(source__name=source)
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
        kind = by_kind.setdefault(source.kind, {"kind": source.kind, "amount": {}, "cost": {}, "n_sources": 0})
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
        "complete": items.annotate(n=Count("annotations")).filter(n__gte=project.overlap).count(),
        "unsourced": items.filter(Q(source__isnull=True)).count(),
    }
