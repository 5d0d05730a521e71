from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _class_saved_or_deleted(sender, instance, **kwargs):
    """A class edited one row at a time (the admin, a service's save()) counts as a change of the
    project's classes; the services that update rows in bulk call classes_changed themselves."""
    from labeling.services.projects import classes_changed  # apps.py loads before the models: import on use

    classes_changed(project_id=instance.project_id)


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from labeling.models import LabelClass  # models load once the app registry is ready, not with apps.py

        post_save.connect(_class_saved_or_deleted, sender=LabelClass, dispatch_uid="labeling-class-saved")
        post_delete.connect(_class_saved_or_deleted, sender=LabelClass, dispatch_uid="labeling-class-deleted")
