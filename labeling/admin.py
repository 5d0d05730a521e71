from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import CASCADE, QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

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
from labeling.selectors import answers_given
from labeling.services import item_deletion
from labeling.services.item_deletion import (
    BuildUnderWay,
    VersionsHoldItems,
    deletion_check,
    deletion_counts,
    items_delete,
    items_delete_start,
)


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
            (project, items_delete_start(project=project, user=user, item_ids=ids), len(ids))
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
                across = forms.BooleanField(required=False).to_python(request.POST.get("select_across"))
                selected = queryset.values_list("pk", flat=True)
                response.context_data.update(
                    select_across=across,
                    selected_ids=list(selected[:1] if across else selected),
                    as_job=as_job,
                    request_items=f"{item_deletion.REQUEST_ITEMS:,}",
                )
            return response
    modeladmin.message_user(request, refused, messages.ERROR)
    return None


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
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
    readonly_fields = ["project", "file", "text", "sha256", "label", "stats", "import_job", "n_answers", "random_key"]
    list_filter = ["project"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["source", "import_job"]
    filter_horizontal = ["tags"]
    delete_selected_confirmation_template = "admin/labeling/item/delete_selected_confirmation.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (delete_selected_items, name, description)
        return actions

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


class EvidenceAdmin(admin.ModelAdmin):
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


@admin.register(Annotation)
class AnnotationAdmin(EvidenceAdmin):
    list_display = ["id", "item", "labeler", "value", "borderline", "uncertain", "out_of_domain", "updated"]
    list_filter = ["item__project"]
    raw_id_fields = ["item", "labeler", "guideline"]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(EvidenceAdmin):
    list_display = ["id", "annotation", "revision", "value", "answered"]
    raw_id_fields = ["annotation", "guideline"]


@admin.register(Guideline)
class GuidelineAdmin(EvidenceAdmin):
    list_display = ["project", "version", "author", "created"]
    list_filter = ["project"]


admin.site.register(Tag)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "project", "processed", "total", "created", "finished"]
    list_filter = ["kind", "status"]


# --- dataset versions, webhooks, training jobs ---


class VersionArtifactInline(admin.TabularInline):
    model = VersionArtifact
    extra = 0
    readonly_fields = ["format", "name", "size", "sha256", "n_rows"]
    can_delete = False


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    """Shown and deleted (with its files), never added or edited: a content_hash, counts or storage folder
    edited here no longer described the version's files, or named another version's."""

    list_display = ["project", "number", "status", "content_hash", "created"]
    list_filter = ["project"]
    raw_id_fields = ["parent", "job", "created_by"]
    inlines = [VersionArtifactInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "url", "active", "created"]
    list_filter = ["project", "active"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "webhook", "event", "status", "attempts", "response_status", "created"]
    list_filter = ["status", "event"]
    raw_id_fields = ["webhook"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "trainer", "created"]
    list_filter = ["trainer", "project"]
    raw_id_fields = ["version", "job", "created_by"]


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
