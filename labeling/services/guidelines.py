"""Labeling guidelines: versioned markdown instructions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from labeling.models import Guideline, GuidelineNote, Project


def guideline_published_already(*, project, text, author=None, resolves=()) -> Guideline | None:
    """The active version when it is what publishing ``text`` by ``author`` (closing ``resolves``) would
    make, else None.

    A client whose answer was lost publishes again: that made a second version with the same text (a
    notice to every labeler, answers split between two versions of one instruction), or, with
    ``resolves``, a 400 since the first had closed those questions. The API answers the active version
    instead; an older version's text published again (going back) is still a new version.
    """
    active = Guideline.objects.filter(pk=project.active_guideline_id).first() if project.active_guideline_id else None
    if active is None or active.text != text or active.author_id != (author.pk if author is not None else None):
        return None
    closed = set(GuidelineNote.objects.filter(project=project, resolved_in=active).values_list("pk", flat=True))
    return active if set(resolves or ()) <= closed else None


@transaction.atomic
def guideline_publish(*, project, text, author=None, resolves=()) -> Guideline:
    """Publish the next version of the project's guideline and make it the active one.

    ``resolves``: ids of the project's open questions from reviewers (guideline notes, raised with
    "instructions ambiguous") that this version answers; they leave the open questions, marked as resolved
    in it. An id that is no open question of the project is refused and nothing is published."""
    if not (text or "").strip():
        raise ValidationError({"text": "a guideline needs some text"})
    if len(text) > settings.LABELHUB_MAX_GUIDELINE_CHARS:
        raise ValidationError(
            {
                "text": f"the guideline is {len(text):,} characters, over the limit of "
                f"{settings.LABELHUB_MAX_GUIDELINE_CHARS:,} (LABELHUB_MAX_GUIDELINE_CHARS): link long material"
            }
        )
    resolves = list(dict.fromkeys(resolves or ()))
    if resolves:
        open_ids = set(
            GuidelineNote.objects.filter(project=project, pk__in=resolves, resolved_in__isnull=True).values_list(
                "pk", flat=True
            )
        )
        unknown = [str(n) for n in resolves if n not in open_ids]
        if unknown:
            raise ValidationError({"resolves": f"not an open question of this project: {', '.join(unknown)}"})
    # Lock the project row so two publishers cannot both take the same version number.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    last = Guideline.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
    guideline = Guideline.objects.create(project=project, version=last + 1, text=text, author=author)
    Project.objects.filter(pk=project.pk).update(active_guideline=guideline)
    project.active_guideline = guideline
    if resolves:
        GuidelineNote.objects.filter(pk__in=resolves).update(resolved_in=guideline)
    return guideline
