"""Changes to existing items."""

from django.core.exceptions import ValidationError
from django.db import transaction

from labelhub.deadlocks import retry_deadlock_once
from labeling.models import Item, Tag
from labeling.selectors import project_item_ids


@retry_deadlock_once  # its links key-share-lock their items at commit; an answer (?next=1) may lock two the other way
@transaction.atomic
def items_tag(*, project, item_ids, tag) -> int:
    """Add ``tag`` (a slice) to the given items of the project; answers how many items carry it now.

    Every id must be an item of the project; otherwise nothing is tagged and the error names them.
    The links are stored in id order: two overlapping selections tagged at once stored theirs in the
    order of a set of ids, which differs with the set's size, each stored one link and waited for the
    other's, and the database stopped one of them (503).
    """
    if not tag or len(tag) > 100:
        raise ValidationError({"tag": "a tag is 1-100 characters"})
    ids = set(item_ids)
    found = project_item_ids(project=project, item_ids=ids)
    missing = sorted(ids - found)
    if missing:
        raise ValidationError({"items": f"not items of this project: {', '.join(map(str, missing[:20]))}"})
    row, _ = Tag.objects.get_or_create(project=project, name=tag)
    through = Item.tags.through
    through.objects.bulk_create(
        [through(item_id=i, tag_id=row.pk) for i in sorted(found)], ignore_conflicts=True, batch_size=5000
    )
    return through.objects.filter(tag=row).count()
