import csv

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete

from labeling.inputs import csv_field_limit


def _class_saved_or_deleted(sender, instance, **kwargs):
    """A class edited one row at a time (the admin, a service's save()) counts as a change of the
    project's classes; the services that update rows in bulk call classes_changed themselves."""
    from labeling.services.projects import classes_changed  # apps.py loads before the models: import on use

    classes_changed(project_id=instance.project_id)


def _project_deleting(sender, instance, **kwargs):
    from labeling.services.projects import project_deleting

    project_deleting(project=instance)


def _item_deleted(sender, instance, **kwargs):
    from labeling.services.projects import item_deleted

    item_deleted(item=instance)


def _version_deleted(sender, instance, **kwargs):
    from labeling.services.projects import version_deleted

    version_deleted(version=instance)


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Models load once the app registry is ready, not with apps.py.
        from labeling.models import DatasetVersion, Item, LabelClass, Project

        # Python's csv refuses a field over 131,072 characters (process-wide): a CSV manifest or a Hugging
        # Face metadata.csv holding a text item the app allows failed its import. Raised once, here, to
        # the text limit, never lowered (the readers name the line of a field longer than that).
        csv.field_size_limit(max(csv.field_size_limit(), csv_field_limit()))

        post_save.connect(_class_saved_or_deleted, sender=LabelClass, dispatch_uid="labeling-class-saved")
        post_delete.connect(_class_saved_or_deleted, sender=LabelClass, dispatch_uid="labeling-class-deleted")
        # A project, version or item deleted (the admin) takes its stored files with it, once no item names
        # them: labeling.services.projects.
        pre_delete.connect(_project_deleting, sender=Project, dispatch_uid="labeling-project-deleting")
        post_delete.connect(_version_deleted, sender=DatasetVersion, dispatch_uid="labeling-version-deleted")
        post_delete.connect(_item_deleted, sender=Item, dispatch_uid="labeling-item-deleted")
