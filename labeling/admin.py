from django.contrib import admin

from labeling.models import (
    Annotation,
    AnnotationRevision,
    DataSource,
    Guideline,
    Item,
    Job,
    LabelClass,
    Membership,
    Project,
    Tag,
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
