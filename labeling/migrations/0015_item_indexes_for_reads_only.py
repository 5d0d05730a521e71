"""Item indexes kept to those reads need (every imported row updates each of them).

Dropped: the index of ``project`` alone (the unique constraint on (project, sha256) and item_queue_level
begin with project, so every read of a project's items still has an index) and the varchar_pattern_ops
copy of the label index PostgreSQL had for LIKE (no query matches labels by pattern). The source index
becomes partial: rows without a source (most imports) are not in it; ``source_id = x`` and
``source_id IN (...)`` (reads, and the SET NULL when a source is deleted) imply ``IS NOT NULL``, so they
still use it. The plain label index is kept under its name (now declared in Meta.indexes), not rebuilt.
"""

import django.db.models.deletion
from django.db import migrations, models

_DROPPED = {
    # name: the statement that made it, for going back
    "labeling_item_project_id_79d60f44": "CREATE INDEX labeling_item_project_id_79d60f44 ON labeling_item (project_id)",
    "labeling_item_source_id_144c9d88": "CREATE INDEX labeling_item_source_id_144c9d88 ON labeling_item (source_id)",
    "labeling_item_label_fd4cee4a_like": (
        "CREATE INDEX labeling_item_label_fd4cee4a_like ON labeling_item (label varchar_pattern_ops)"
    ),
}


def _drop(apps, schema_editor):
    for name in _DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def _restore(apps, schema_editor):
    for sql in _DROPPED.values():
        if "varchar_pattern_ops" in sql and schema_editor.connection.vendor != "postgresql":
            continue
        schema_editor.execute(sql)


_SOURCE_INDEX = models.Index(condition=models.Q(source__isnull=False), fields=["source"], name="item_source")


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0014_invitation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(_drop, _restore, elidable=False),
                migrations.AddIndex(model_name="item", index=_SOURCE_INDEX),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="item",
                    name="label",
                    field=models.CharField(
                        blank=True, help_text="The label the item arrived with (manifest or folder).", max_length=64
                    ),
                ),
                migrations.AlterField(
                    model_name="item",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="labeling.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="item",
                    name="source",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="items",
                        to="labeling.datasource",
                    ),
                ),
                migrations.AddIndex(
                    model_name="item",
                    index=models.Index(fields=["label"], name="labeling_item_label_fd4cee4a"),
                ),
                migrations.AddIndex(model_name="item", index=_SOURCE_INDEX),
            ],
        ),
    ]
