"""Labeling guidelines: versioned markdown instructions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from labeling.models import Guideline, Project


@transaction.atomic
def guideline_publish(*, project, text, author=None) -> Guideline:
    """Publish the next version of the project's guideline and make it the active one."""
    if not (text or "").strip():
        raise ValidationError({"text": "a guideline needs some text"})
    if len(text) > settings.LABELHUB_MAX_GUIDELINE_CHARS:
        raise ValidationError(
            {
                "text": f"the guideline is {len(text):,} characters, over the limit of "
                f"{settings.LABELHUB_MAX_GUIDELINE_CHARS:,} (LABELHUB_MAX_GUIDELINE_CHARS): link long material"
            }
        )
    # Lock the project row so two publishers cannot both take the same version number.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    last = Guideline.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
    guideline = Guideline.objects.create(project=project, version=last + 1, text=text, author=author)
    Project.objects.filter(pk=project.pk).update(active_guideline=guideline)
    project.active_guideline = guideline
    return guideline
