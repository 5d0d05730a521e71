"""The data inventory: sources of a project."""

from labeling.models import DataSource

SOURCE_FIELDS = (
    "name",
    "kind",
    "planned_amount",
    "unit",
    "total_cost",
    "currency",
    "turnaround_days",
    "quality_notes",
    "contains_personal_data",
    "licence",
    "regulatory_notes",
    "status",
)


def source_create(*, project, **fields) -> DataSource:
    source = DataSource(project=project, **{k: v for k, v in fields.items() if k in SOURCE_FIELDS})
    source.full_clean()
    source.save()
    return source


def source_update(*, source, **fields) -> DataSource:
    for name, value in fields.items():
        if name in SOURCE_FIELDS:
            setattr(source, name, value)
    source.full_clean()
    source.save()
    return source
