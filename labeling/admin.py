import hashlib
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import CASCADE, Exists, OuterRef, ProtectedError, Q, QuerySet
from django.db.models.deletion import Collector
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from labeling.choices import DeliveryStatus, JobKind, JobStatus
from labeling.models import (
    Annotation,
    AnnotationRevision,
    ArchivedSkip,
    DatasetVersion,
    DataSource,
    Guideline,
    Item,
    Job,
    LabelClass,
    Membership,
    Project,
    Reservation,
    Skip,
    Tag,
    TrainingJob,
    VersionArtifact,
    Webhook,
    WebhookDelivery,
)
from labeling.selectors import answers_given, with_purges_counted
from labeling.services import item_deletion
from labeling.services.item_deletion import (
    BuildUnderWay,
    VersionsHoldItems,
    deletion_check,
    deletion_counts,
    items_delete,
    items_delete_start,
)
from labeling.services.webhooks import webhook_events_check, webhook_update, webhook_url_check

# --- fields too large to list or show whole ---

SHOWN_ENTRIES = 20  # of a list; longer ones end with "… and N more"
SHOWN_KEYS = 100  # of an object
SHOWN_CHARACTERS = 500  # of a string


def json_summary(value, *, entries=SHOWN_ENTRIES, keys=SHOWN_KEYS, characters=SHOWN_CHARACTERS):
    """``value`` (decoded JSON) cut to what a page can show: a list longer than ``entries`` keeps its first
    ones and ends with "… and N more", an object of over ``keys`` keys likewise ("…": "and N more keys"),
    a string over ``characters`` its beginning and how long it was; at every depth."""
    if isinstance(value, list):
        shown = [json_summary(v, entries=entries, keys=keys, characters=characters) for v in value[:entries]]
        return shown + ([f"… and {len(value) - entries:,} more"] if len(value) > entries else [])
    if isinstance(value, dict):
        shown = {
            k: json_summary(v, entries=entries, keys=keys, characters=characters) for k, v in list(value.items())[:keys]
        }
        return shown | ({"…": f"and {len(value) - keys:,} more keys"} if len(value) > keys else {})
    if isinstance(value, str) and len(value) > characters:
        return f"{value[:characters]}… ({len(value):,} characters)"
    return value


def json_shown(value) -> str:
    """A JSON field's value on an admin page (HTML): summarised (``json_summary``), indented."""
    return format_html("<pre>{}</pre>", json.dumps(json_summary(value), indent=2, ensure_ascii=False, default=str))


def json_field_shown(field, description=None):
    """A read-only admin field (a method, named in ``fields`` and ``readonly_fields``) showing the JSON field
    ``field`` summarised (``json_shown``)."""

    @admin.display(description=description or field)
    def shown(self, obj):
        return json_shown(getattr(obj, field))

    return shown


class LargeFieldsAdmin(admin.ModelAdmin):
    """An admin whose ``large`` fields are never read for its list (deferred; an object's page reads them
    for that object alone, and shows a JSON one summarised: ``json_field_shown``). A deletion job's
    parameters hold every item id (50,000 of them), a purged version's info every purged one (200,000), a
    text item up to 200,000 characters: read for a list of 100 rows, they made megabytes."""

    large: tuple[str, ...] = ()

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*self.large)


class LabelClassInline(admin.TabularInline):
    """Classes are added, renamed, merged and retired on the taxonomy page, as recorded changes that can be
    undone and that map the answers given with a key that is gone. A key edited, a class retired or
    deleted here recorded nothing, and its answers then counted for nothing in the next version; only
    what the labeling page shows (description, hotkey, colour, order) is edited here."""

    model = LabelClass
    extra = 0
    readonly_fields = ["key", "name", "retired"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "modality", "task_type", "overlap", "created"]
    inlines = [LabelClassInline, MembershipInline]
    raw_id_fields = ["active_guideline", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        """Once made, its task and modality say how every stored answer reads (edited here, class keys
        were read as transcripts), and its active guideline is the latest one published (set back here,
        new answers named an old version): none of them is edited here."""
        return ["modality", "task_type", "active_guideline"] if obj is not None else []


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "planned_amount", "unit", "total_cost", "currency", "status"]
    list_filter = ["kind", "status", "project"]


def with_delete_action(actions, action):
    """The admin's ``actions`` with Django's "delete selected" (when the user has it) done by ``action``,
    under the same name and description."""
    if "delete_selected" in actions:
        _, name, description = actions["delete_selected"]
        actions["delete_selected"] = (action, name, description)
    return actions


class ItemsDeletionRefused(Exception):
    """The admin deletes none of the items: the error message (``args[0]``, HTML) says why."""


def _by_project(items) -> list[tuple[Project, list[int]]]:
    ids = {}
    for pk, project_id in items.order_by("pk").values_list("pk", "project_id"):
        ids.setdefault(project_id, []).append(pk)
    projects = Project.objects.in_bulk(list(ids))
    return [(projects[project_id], ids[project_id]) for project_id in sorted(ids)]


def _refusal(project, exc, n_items) -> str:
    if isinstance(exc, BuildUnderWay):
        return format_html(
            "a dataset version of {} is being built (job {}); its manifest may name these items: delete them once "
            "it has finished",
            project.name,
            exc.job.pk,
        )
    held = "this item" if n_items == 1 else "{:,} of these items"
    return format_html_join(
        "; ", "{} v{} holds {}", ((project.name, h["version"], held.format(h["items"])) for h in exc.holding)
    )


def _refusal_message(refusals, n_items) -> str:
    """The admin's error message (HTML): each project's refusal, and where each project holding items in
    versions purges them (its Items page, linked, and its deletion API)."""
    text = format_html(
        "Nothing was deleted: {}.", format_html_join("; ", "{}", ((_refusal(p, exc, n_items),) for p, exc in refusals))
    )
    holding = [p for p, exc in refusals if isinstance(exc, VersionsHoldItems)]
    if len(holding) == 1:
        page, api = reverse("items", args=[holding[0].pk]), reverse("api:item-delete", args=[holding[0].pk])
        where = format_html(
            'on the project\'s Items page (<a href="{}">{}</a>: Delete…, then Purge anyway) or with POST {} and',
            page,
            page,
            api,
        )
    elif holding:
        pages = format_html_join(
            ", ",
            '{}: <a href="{}">{}</a>',
            ((p.name, reverse("items", args=[p.pk]), reverse("items", args=[p.pk])) for p in holding),
        )
        apis = format_html_join(", ", "{}: {}", ((p.name, reverse("api:item-delete", args=[p.pk])) for p in holding))
        where = format_html(
            "on each project's Items page (Delete…, then Purge anyway; {}) or with a POST to each project's "
            "deletion API ({}) and",
            pages,
            apis,
        )
    if holding:
        text += format_html(
            " Dataset versions are immutable: leave those items out, or, to delete them anyway (a privacy or "
            'licence removal), purge them {} "purge": true, which also removes their rows from those versions\' '
            "files.",
            where,
        )
    return text


def items_deletion_refused(items) -> str | None:
    """Why the admin may not delete ``items`` (a queryset), as its error message (HTML); None when it may.
    The rules of the app's deletion (``item_deletion``): no item a dataset version holds, none while a version
    of its project is being built."""
    n_items, refusals = items.count(), []
    for project, ids in _by_project(items):
        try:
            deletion_check(project=project, item_ids=ids)
        except (BuildUnderWay, VersionsHoldItems) as exc:
            refusals.append((project, exc))
    return _refusal_message(refusals, n_items) if refusals else None


def items_delete_all(items, user):
    """Delete ``items`` (a queryset, of any projects) as the app does (``item_deletion.items_delete``): with
    their answers, decisions, campaign links and stored files; all of them or, refused, none."""
    n_items, grouped = items.count(), _by_project(items)
    with transaction.atomic():
        for project, ids in grouped:
            try:
                items_delete(project=project, item_ids=ids, user=user)
            except (BuildUnderWay, VersionsHoldItems) as exc:
                raise ItemsDeletionRefused(_refusal_message([(project, exc)], n_items)) from exc


def items_delete_queue(items, user) -> list[tuple[Project, Job, int]]:
    """Queue the deletion of ``items`` (a queryset, of any projects) as the API does with a selection over
    ``REQUEST_ITEMS``: a deletion job per project (``item_deletion.items_delete_start``), recorded together,
    each sent to the worker once they are; answer (project, job, how many items). Each job deletes its
    project's items all or none, under the same rules (a version holding some of them by then fails it,
    naming the versions)."""
    grouped = _by_project(items)
    with transaction.atomic():
        return [
            (project, items_delete_start(project=project, user=user, item_ids=ids, admin_history=True), len(ids))
            for project, ids in grouped
        ]


def _queued_message(queued) -> str:
    total = sum(n for _, _, n in queued)
    jobs = format_html_join(
        "; ",
        '{}: {} items, job {} (follow it at <a href="{}">{}</a> or GET {})',
        (
            (
                project.name,
                f"{n:,}",
                job.pk,
                reverse("admin:labeling_job_change", args=[job.pk]),
                reverse("admin:labeling_job_change", args=[job.pk]),
                reverse("api:job-detail", args=[job.pk]),
            )
            for project, job, n in queued
        ),
    )
    return format_html(
        "{} items queued for deletion: over {} items, a worker deletes them, all or none of each project's; "
        "nothing is deleted until it has run. {}.",
        f"{total:,}",
        f"{item_deletion.REQUEST_ITEMS:,}",
        jobs,
    )


def _perms_lacking(request, admin_site, item_ids) -> set[str]:
    """The admin's models (two relations from the item: answers, and their revisions) whose rows would go
    with ``item_ids`` and that the user may not delete, by verbose name, as Django's confirmation asks."""
    lacking, paths = set(), []
    for relation in Item._meta.related_objects:
        if relation.many_to_many or relation.on_delete is not CASCADE:
            continue
        paths.append((relation.related_model, relation.field.name))
        paths += [
            (inner.related_model, f"{inner.field.name}__{relation.field.name}")
            for inner in relation.related_model._meta.related_objects
            if not inner.many_to_many and inner.on_delete is CASCADE
        ]
    for model, path in paths:
        model_admin = admin_site._registry.get(model)
        if model_admin is None or model_admin.has_delete_permission(request) or model._meta.verbose_name in lacking:
            continue
        if any(model._base_manager.filter(**{f"{path}__in": batch}).exists() for batch in _batches(item_ids)):
            lacking.add(model._meta.verbose_name)
    return lacking


def _batches(ids, size=10000):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def items_deletion_summary(items, request, admin_site):
    """What the admin's "delete selected" confirmation shows, as ``ModelAdmin.get_deleted_objects`` answers
    it: each project's items and, summed, what goes with them (``item_deletion.deletion_counts``), counted by
    the database. Django's own lists every answer, revision, skip and link of every item: with "select all"
    of 50,000 items it loaded hundreds of thousands of rows to draw the page."""
    lines, totals, lacking = [], {}, set()
    for project, ids in _by_project(items):
        counts = deletion_counts(project=project, item_ids=ids)
        lines.append(f"{project.name}: {len(ids):,} item{'s' if len(ids) != 1 else ''}")
        for key, value in counts.items():
            n = sum(entry.get("examples", 0) for entry in value) if key == "guideline_examples" else value
            totals[key] = totals.get(key, 0) + (len(n) if isinstance(n, list) else n)
        lacking |= _perms_lacking(request, admin_site, ids)
    names = {
        "items": "items",
        "answers": "answers",
        "answer_revisions": "superseded answers",
        "archived_answers": "archived answers",
        "decisions": "SME decisions",
        "guideline_examples": "guideline examples",
        "campaigns": "relabel campaigns that lose some of their items",
    }
    summary = {names[key]: f"{totals.get(key, 0):,}" for key in names if key == "items" or totals.get(key)}
    return lines, summary, lacking, []


def selection_key(items) -> str:
    """The items a "select all" selection holds, as its confirmation carries them back: their count and a
    digest of their ids (any item added to or gone from the filter's selection changes it)."""
    digest, count = hashlib.sha256(), 0
    for pk in items.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10000):
        digest.update(b"%d," % pk)
        count += 1
    return f"{count}-{digest.hexdigest()[:32]}"


def _selection_changed(confirmed, now) -> str | None:
    """Why a confirmed "select all" must be confirmed again (its message), or None: the ``selection_key`` its
    confirmation counted is not the filter's ``now``. The confirmation carries back the filter, not the ids:
    an item imported into the filter's selection meanwhile was deleted unseen, beside the items counted."""
    if confirmed == now:
        return None
    then = confirmed.split("-", 1)[0]
    return (
        f"The items this filter selects changed since the confirmation page ({int(then):,} then, "
        f"{int(now.split('-', 1)[0]):,} now): nothing was deleted. Check the counts and confirm again."
        if then.isdigit()
        else "This confirmation did not say which items it counted: nothing was deleted. Check the counts "
        "and confirm again."
    )


@admin.action(permissions=["delete"], description=delete_selected.short_description)
def delete_selected_items(modeladmin, request, queryset):
    """Django's "delete selected" (its confirmation page first), refused with an error message, nothing
    deleted, when the app's deletion refuses the items. Over ``REQUEST_ITEMS`` items, confirming queues a
    deletion job per project, as the API does, instead of deleting them in the request.

    The confirmation shows counts (``items_deletion_summary``), and for a "select all N" selection carries
    ``select_across`` back instead of every id: the form had a field per item, and past
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (1,000) confirming answered 400."""
    refused = items_deletion_refused(queryset)
    as_job = queryset.count() > item_deletion.REQUEST_ITEMS
    across = forms.BooleanField(required=False).to_python(request.POST.get("select_across"))
    selection = selection_key(queryset) if across else ""  # a selection of ids confirms the ids themselves
    changed = across and request.POST.get("post") and _selection_changed(request.POST.get("selection", ""), selection)
    if changed:  # the confirmation page again, with the counts of now
        request.POST = request.POST.copy()
        del request.POST["post"]
        modeladmin.message_user(request, changed, messages.WARNING)
    if refused is None and as_job and request.POST.get("post"):
        if _perms_lacking(request, modeladmin.admin_site, list(queryset.values_list("pk", flat=True))):
            raise PermissionDenied
        modeladmin.message_user(request, _queued_message(items_delete_queue(queryset, request.user)), messages.SUCCESS)
        return None
    if refused is None:
        try:
            with transaction.atomic():  # its log entries too
                response = delete_selected(modeladmin, request, queryset)
        except ItemsDeletionRefused as exc:  # a version published since the check
            refused = exc.args[0]
        else:
            if isinstance(response, TemplateResponse):  # the confirmation page
                selected = queryset.values_list("pk", flat=True)
                response.context_data.update(
                    select_across=across,
                    selection=selection,
                    selected_ids=list(selected[:1] if across else selected),
                    as_job=as_job,
                    request_items=f"{item_deletion.REQUEST_ITEMS:,}",
                )
            return response
    modeladmin.message_user(request, refused, messages.ERROR)
    return None


@admin.register(Item)
class ItemAdmin(LargeFieldsAdmin):
    """What labelers answered (the file or text, its checksum, which keeps its split, the label it came
    with) and the queue's counters are shown, not edited: edited here, the item's answers were given to
    something else, with nothing recorded. Source, tags, name and metadata stay editable.

    Deleted here (its page's Delete, the "delete selected" action), items go through the app's deletion
    (``item_deletion.items_delete``) and its rules: items a dataset version holds are refused, as they are
    while a version of their project is being built, with an error message naming the versions and how
    many of the items each holds, and nothing is deleted. Deleting them anyway is a purge, which rewrites
    the versions' files: the Items page or the API does it, not the admin. A selection over
    ``REQUEST_ITEMS`` items is deleted by a job per project, as the API's is."""

    list_display = ["id", "project", "original_name", "label", "source", "created"]
    list_select_related = ["project", "source"]  # not a query for each row's (200 more a page)
    readonly_fields = ["project", "file", "text", "sha256", "label", "stats", "import_job", "n_answers", "random_key"]
    list_filter = ["project"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["source", "import_job"]
    filter_horizontal = ["tags"]
    delete_selected_confirmation_template = "admin/labeling/item/delete_selected_confirmation.html"
    large = ("text", "metadata", "stats")

    def get_actions(self, request):
        return with_delete_action(super().get_actions(request), delete_selected_items)

    def get_deleted_objects(self, objs, request):
        if isinstance(objs, QuerySet):  # the "delete selected" action: counts, whatever the selection's size
            return items_deletion_summary(objs, request, self.admin_site)
        return super().get_deleted_objects(objs, request)  # an item's own delete page: what goes with it

    def delete_view(self, request, object_id, extra_context=None):
        item = self.get_object(request, unquote(object_id))
        if item is None or not self.has_delete_permission(request, item):
            return super().delete_view(request, object_id, extra_context)
        refused = items_deletion_refused(Item.objects.filter(pk=item.pk))
        if refused is None:
            try:
                return super().delete_view(request, object_id, extra_context)
            except ItemsDeletionRefused as exc:  # a version published since the check
                refused = exc.args[0]
        self.message_user(request, refused, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:labeling_item_change", args=[item.pk]))

    def delete_model(self, request, obj):
        items_delete_all(Item.objects.filter(pk=obj.pk), request.user)

    def delete_queryset(self, request, queryset):
        items_delete_all(queryset, request.user)


class EvidenceAdmin(LargeFieldsAdmin):
    """Rows that are evidence, shown and never written here: an answer edited or deleted in the admin lost
    its earlier value (the app keeps it as a revision) and left the item's answer count wrong, and a
    guideline version edited or deleted here no longer said what its answers were given under. They go
    only with their project or item: the deletion of those in the admin takes them along, so the delete
    permission stays and only their own delete page and action are closed."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied("Answers and guideline versions are deleted only with their project or item.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})


LISTED_CHARACTERS = 100  # of an answer's value in a list


@admin.display(description="value")
def value_listed(answer):
    """An answer's value in a list, its beginning only: a detection or segments answer is the JSON of its
    shapes (up to 500 of them, tens of kB), and a list of 100 such answers drew megabytes."""
    value = answer.value
    return value if len(value) <= LISTED_CHARACTERS else f"{value[:LISTED_CHARACTERS]}… ({len(value):,} characters)"


@admin.register(Annotation)
class AnnotationAdmin(EvidenceAdmin):
    list_display = ["id", "item", "labeler", value_listed, "borderline", "uncertain", "out_of_domain", "updated"]
    list_filter = ["item__project"]
    raw_id_fields = ["item", "labeler", "guideline"]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(EvidenceAdmin):
    list_display = ["id", "annotation", "revision", value_listed, "answered"]
    raw_id_fields = ["annotation", "guideline"]


@admin.register(Guideline)
class GuidelineAdmin(EvidenceAdmin):
    list_display = ["project", "version", "author", "created"]
    list_filter = ["project"]
    large = ("text",)


admin.site.register(Tag)


class RecordAdmin(LargeFieldsAdmin):
    """Rows that record what the worker did or does (jobs, webhook deliveries, training jobs): shown, never
    added or edited (a status set by hand was what the API reported and the worker went by), and deleted
    only when ``deletable`` holds, from their page or with "delete selected", which refuse anything else
    with a message saying why (``undeletable_reason``), nothing deleted. The delete permission itself
    stays: a project deleted here takes its rows, in hand or not."""

    def deletable(self) -> Q:
        """The rows this admin deletes."""
        return Q()

    def undeletable_reason(self, obj) -> str:
        """Why ``obj`` (not ``deletable``) is not deleted, as a message's clause."""
        raise NotImplementedError

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def _deletable(self, obj) -> bool:
        return self.model.objects.filter(self.deletable(), pk=obj.pk).exists()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        shown = {"show_delete": obj is None or self._deletable(obj)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **shown})

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or self._deletable(obj):
            return super().delete_view(request, object_id, extra_context)
        self.message_user(request, f"Nothing was deleted: {self.undeletable_reason(obj)}.", messages.ERROR)
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))

    def get_actions(self, request):
        return with_delete_action(super().get_actions(request), delete_selected_records)

    def delete_model(self, request, obj):
        self.delete_queryset(request, self.model.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        # The rows are locked before they are checked again: a retry queueing a failed job meanwhile waits,
        # then finds it gone, rather than the job being deleted once queued.
        with transaction.atomic():
            ids = list(queryset.select_related(None).select_for_update().values_list("pk", flat=True))
            kept = self.model.objects.filter(pk__in=ids).exclude(self.deletable()).defer(*self.large).first()
            if kept is not None:
                raise PermissionDenied(self.undeletable_reason(kept))
            self.model.objects.filter(pk__in=ids).defer(*self.large).delete()


@admin.action(permissions=["delete"], description=delete_selected.short_description)
def delete_selected_records(modeladmin, request, queryset):
    """Django's "delete selected", refused, nothing deleted, when the selection holds a row the admin does
    not delete (``RecordAdmin.deletable``)."""
    kept = queryset.exclude(modeladmin.deletable()).select_related(None).order_by("pk")
    if kept.exists():
        reasons = [modeladmin.undeletable_reason(obj) for obj in kept[:5]]
        more = kept.count() - len(reasons)
        modeladmin.message_user(
            request,
            "Nothing was deleted: " + "; ".join(reasons) + (f"; and {more:,} more" if more > 0 else "") + ".",
            messages.ERROR,
        )
        return None
    return delete_selected(modeladmin, request, queryset)


def _job_deletable() -> Q:
    """Jobs the admin deletes: finished ones, but failed imports. A job queued or running is the worker's
    work in hand: deleted, its claim found nothing (the work was dropped), a running import went on storing
    items that name a job that is gone, a build failed at publish, a deletion's or training's end was
    written nowhere, and while a build runs, deleting items waits for it (``BuildUnderWay``): with its job
    gone, items could be deleted that its manifest names. A failed import keeps its upload for a retry, and
    its job is what names the upload (a project deleted removes it through it): deleted, the upload stayed
    in the media folder or bucket for good. Nor a finished import whose items still name it: deleted, their
    ``import_job`` was cleared, and the Import page's "Delete the items of this import" no longer found them."""
    names_items = Q(kind=JobKind.IMPORT) & Q(Exists(Item.objects.filter(import_job=OuterRef("pk"))))
    return (Q(status=JobStatus.SUCCEEDED) | (Q(status=JobStatus.FAILED) & ~Q(kind=JobKind.IMPORT))) & ~names_items


def _job_undeletable_reason(job) -> str:
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return f"job {job.pk} is {job.status}: only finished jobs are deleted, the worker's work is not taken from it"
    if job.status == JobStatus.FAILED:
        return (
            f"job {job.pk} is a failed import: it keeps its upload for a retry, and deleting it would leave the "
            "upload stored for good (it goes with its project)"
        )
    n = Item.objects.filter(import_job=job).count()
    return (
        f"job {job.pk} is an import whose {n:,} item{'s' if n != 1 else ''} still name it: the Import page's "
        '"Delete the items of this import" finds them by it; delete them there first, or keep the job'
    )


@admin.register(Job)
class JobAdmin(RecordAdmin):
    """Jobs are the record of what the worker did and does: shown, never added or edited (a queued deletion
    set to succeeded here was reported done by ``GET /api/jobs/{id}/`` without having run, a failed one set
    to running was never retried). Deleted only once finished (``_job_deletable``)."""

    list_display = ["id", "kind", "status", "project", "processed", "total", "created", "finished"]
    list_filter = ["kind", "status"]
    list_select_related = ["project"]
    large = ("params", "errors", "result")
    fields = [
        "kind",
        "status",
        "project",
        "created_by",
        "params_shown",
        "processed",
        "total",
        "errors_shown",
        "result_shown",
        "attempts",
        "created",
        "started",
        "finished",
        "heartbeat",
        "queued",
    ]
    readonly_fields = fields
    params_shown = json_field_shown("params")
    errors_shown = json_field_shown("errors")
    result_shown = json_field_shown("result")

    def deletable(self) -> Q:
        return _job_deletable()

    def undeletable_reason(self, obj) -> str:
        return _job_undeletable_reason(obj)


# --- dataset versions, webhooks, training jobs ---


# A version's fields that grow with its data: its info records each purge's item ids (200,000 for one that large).
VERSION_LARGE_FIELDS = ("policy", "counts", "info", "changes")


def with_version(queryset, path="version"):
    """``queryset`` reading with each row the version at ``path`` (and its project, which names it), without
    the version's large fields."""
    return queryset.select_related(f"{path}__project").defer(*(f"{path}__{name}" for name in VERSION_LARGE_FIELDS))


class VersionArtifactInline(admin.TabularInline):
    model = VersionArtifact
    extra = 0
    readonly_fields = ["format", "name", "size", "sha256", "n_rows"]
    can_delete = False

    def get_queryset(self, request):
        return with_version(super().get_queryset(request))  # each row is named after its version


@admin.register(DatasetVersion)
class DatasetVersionAdmin(LargeFieldsAdmin):
    """Shown and deleted (with its files), never added or edited: a content_hash, counts or storage folder
    edited here no longer described the version's files, or named another version's.

    Its ``info`` records each purge's item ids (200,000 for a purge that large): the list never reads it,
    and the version's page reads it with each purge's ids counted by the database (``with_purges_counted``,
    as the app's own pages do), the rest summarised."""

    list_display = ["project", "number", "status", "content_hash", "created"]
    list_filter = ["project"]
    list_select_related = ["project"]
    inlines = [VersionArtifactInline]
    large = VERSION_LARGE_FIELDS
    fields = [
        "project",
        "number",
        "status",
        "parent",
        "job",
        "policy_shown",
        "content_hash",
        "counts_shown",
        "info_shown",
        "changes_shown",
        "storage_prefix",
        "created_by",
        "created",
    ]
    readonly_fields = fields
    policy_shown = json_field_shown("policy")
    counts_shown = json_field_shown("counts")
    changes_shown = json_field_shown("changes")

    def get_queryset(self, request):
        return with_version(super().get_queryset(request), "parent")  # the page names its parent

    def get_deleted_objects(self, objs, request):
        """The deletion's confirmation: the versions, and how many rows of each kind go with them (their
        files' rows, training jobs), counted. Django's lists every row with its version joined to it: a
        purged version's info, 200,000 item ids, was read once per file and per training job."""
        collector = Collector(using=router.db_for_write(DatasetVersion))
        try:
            collector.collect(objs)
        except ProtectedError as exc:
            return [], {}, set(), [str(obj) for obj in exc.protected_objects]
        counts, lacking = {}, set()
        rows = [(model, len(found)) for model, found in collector.data.items()]
        rows += [(qs.model, qs.count()) for qs in collector.fast_deletes]
        for model, n in rows:
            if n:
                counts[model._meta.verbose_name_plural] = counts.get(model._meta.verbose_name_plural, 0) + n
            model_admin = self.admin_site._registry.get(model)
            if n and model_admin is not None and not model_admin.has_delete_permission(request):
                lacking.add(model._meta.verbose_name)
        versions = [f"{capfirst(DatasetVersion._meta.verbose_name)}: {version}" for version in objs]
        return versions, counts, lacking, []

    @admin.display(description="info")
    def info_shown(self, obj):
        counted = with_purges_counted(DatasetVersion.objects.filter(pk=obj.pk)).values_list("info_counted", flat=True)
        return json_shown(counted.first())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class WebhookAdminForm(forms.ModelForm):
    """A webhook's form without its secret: it signs the deliveries, and whoever reads it (on this page or in
    its HTML) can forge a delivery the receiver trusts. As in the app, the secret is made at random, never
    typed in, and ``new_secret`` replaces it (``webhook_update``)."""

    new_secret = forms.BooleanField(
        required=False,
        label="Replace the secret",
        help_text="Sign deliveries with a new random secret from now on. It is not shown here: the project's "
        "managers read it on its Webhooks page, and the receiver must be given it.",
    )

    # text, checked by ``clean_url`` as the app checks it (a URL field would put "http://" before a URL
    # without a scheme, which the app refuses)
    url = forms.CharField(max_length=500)

    class Meta:
        model = Webhook
        fields = ["project", "url", "events", "active"]  # never the secret

    def clean_url(self):
        """The app's check (``webhook_url_check``): an http(s) URL whose host is no loopback, private or
        link-local address. Saved here unchecked, an internal address waited for the delivery's check."""
        return self._checked(webhook_url_check, "url")

    def clean_events(self):
        """A non-empty list of known events (``webhook_events_check``): saved empty here, the webhook was sent
        nothing."""
        return self._checked(webhook_events_check, "events")

    def _checked(self, check, name):
        try:
            return check(self.cleaned_data.get(name))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get(name, exc.messages)) from None


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Webhooks, never with their secret (``WebhookAdminForm``): one added here gets a random secret, and
    "Replace the secret" makes a new one; the project's managers read it on its Webhooks page."""

    form = WebhookAdminForm
    exclude = ["secret"]
    list_display = ["id", "project", "url", "active", "created"]
    list_filter = ["project", "active"]
    list_select_related = ["project"]
    readonly_fields = ["created_by", "created"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None or not self.has_change_permission(request, obj):  # a new one gets a new secret anyway
            fields = [name for name in fields if name != "new_secret"]
        return fields

    def save_model(self, request, obj, form, change):
        replaced = not change or form.cleaned_data.get("new_secret", False)
        if not change:
            obj.created_by = request.user
        webhook_update(webhook=obj, new_secret=replaced)
        if replaced:
            page = reverse("webhooks", args=[obj.project_id])
            self.message_user(
                request,
                format_html(
                    "{} A new secret signs its deliveries from now on: the project's managers read it on its "
                    '<a href="{}">Webhooks page</a> ({}), and its receiver must be given it to check signatures.',
                    f"Webhook {obj.pk}:",
                    page,
                    page,
                ),
                messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    """Deliveries are the record of what was sent and how the receiver answered: shown, never added or
    edited (a status set by hand here was what the delivery log and the API reported). Deleted only once
    finished: a pending or retrying one is the worker's work in hand, and deleted, its event was never
    sent."""

    list_display = ["id", "webhook", "event", "status", "attempts", "response_status", "created"]
    list_filter = ["status", "event"]
    list_select_related = ["webhook"]
    large = ("payload",)
    fields = [
        "webhook",
        "event",
        "payload_shown",
        "status",
        "attempts",
        "response_status",
        "error",
        "created",
        "last_attempt",
        "next_attempt",
    ]
    readonly_fields = fields
    payload_shown = json_field_shown("payload")

    def deletable(self) -> Q:
        return Q(status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED])

    def undeletable_reason(self, obj) -> str:
        return (
            f"delivery {obj.pk} is {obj.status}: only finished deliveries are deleted, the worker is still sending it"
        )


@admin.register(TrainingJob)
class TrainingJobAdmin(RecordAdmin):
    """A training run: shown, never added or edited (its version changed, the metrics described another
    version's splits), and deleted only once its job has finished (while queued or running, the worker
    looks it up to train and found nothing: its job stayed running). The metrics a run reported (per split
    and class: thousands of numbers with many classes) are shown summarised, and the version it trained on
    is read without its large fields (a purge's 200,000 item ids). The list reads neither the metrics, the
    parameters nor the versions' large fields."""

    list_display = ["id", "project", "version", "trainer", "created"]
    list_filter = ["trainer", "project"]
    list_select_related = ["project"]
    large = ("params", "metrics")
    fields = ["project", "version", "trainer", "params_shown", "job", "metrics_shown", "created_by", "created"]
    readonly_fields = fields
    params_shown = json_field_shown("params")
    metrics_shown = json_field_shown("metrics")

    def get_queryset(self, request):
        return with_version(super().get_queryset(request))

    def deletable(self) -> Q:
        return Q(job__isnull=True) | Q(job__status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED])

    def undeletable_reason(self, obj) -> str:
        return (
            f"training job {obj.pk} is {obj.job.status} (job {obj.job_id}): only finished training jobs are "
            "deleted, the worker's work is not taken from it"
        )


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["labeler", "project", "item", "expires"]
    list_filter = ["project"]
    raw_id_fields = ["labeler", "project", "item"]


@admin.register(Skip)
class SkipAdmin(admin.ModelAdmin):
    list_display = ["item", "labeler", "reason", "created"]
    list_filter = ["item__project"]
    raw_id_fields = ["item", "labeler"]


@admin.register(ArchivedSkip)
class ArchivedSkipAdmin(EvidenceAdmin):
    """Skips made before a relabel campaign sent their item back (the labeler was offered it again): their
    reasons are evidence, shown here as the campaign left them."""

    list_display = ["item", "labeler", "reason", "skipped", "campaign"]
    list_filter = ["item__project"]
    raw_id_fields = ["item", "labeler", "campaign"]


# --- accounts ---


def _counted(n, word):
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def answers_given_sentence(user, given) -> str:
    """Why ``user`` cannot be deleted: "lab0 gave 4 answers, 1 superseded answer and 2 archived answers"."""
    parts = [
        _counted(given[key], word)
        for key, word in (("answers", "answer"), ("superseded", "superseded answer"), ("archived", "archived answer"))
        if given[key]
    ]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        f"{user.get_username()} gave {listed}: they are evidence (the labels versions ship, agreement over time), "
        "so deactivate the account instead (untick Active on its page): it can no longer sign in or use a token, "
        "and its answers stay."
    )


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class AccountAdmin(UserAdmin):
    """Django's user admin, except that an account that answered is not deleted (its answers PROTECT it):
    the delete page names what it gave and says to deactivate it, instead of listing every answer."""

    def get_deleted_objects(self, objs, request):
        given = answers_given(user_ids=[user.pk for user in objs])
        if given:
            protected = [answers_given_sentence(user, given[user.pk]) for user in objs if user.pk in given]
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)
