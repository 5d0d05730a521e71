from django.contrib import admin

from labeling.models import (
    Annotation,
    AnnotationRevision,
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


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "modality", "task_type", "overlap", "created"]
    inlines = [LabelClassInline, MembershipInline]
    raw_id_fields = ["active_guideline", "created_by"]


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "planned_amount", "unit", "total_cost", "currency", "status"]
    list_filter = ["kind", "status", "project"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "original_name", "label", "source", "created"]
    list_filter = ["project"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["source", "import_job"]
    filter_horizontal = ["tags"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "labeler", "value", "borderline", "uncertain", "out_of_domain", "updated"]
    list_filter = ["item__project"]
    raw_id_fields = ["item", "labeler", "guideline"]


admin.site.register(AnnotationRevision)
admin.site.register(Guideline)
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
    list_display = ["project", "number", "status", "content_hash", "created"]
    list_filter = ["project"]
    raw_id_fields = ["parent", "job", "created_by"]
    inlines = [VersionArtifactInline]


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
