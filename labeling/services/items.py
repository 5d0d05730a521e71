"""Changes to existing items."""

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from labelhub.deadlocks import retry_deadlock_once
from labeling.models import Item, Tag
from labeling.selectors import project_item_ids
from labeling.services.imports import TAG_COMMA


@retry_deadlock_once  # its links key-share-lock their items at commit; an answer (?next=1) may lock two the other way
@transaction.atomic
def items_tag(*, project, item_ids, tag) -> int:
    """Add ``tag`` (a slice) to the given items of the project; answers how many items carry it now.

    Every id must be an item of the project; otherwise nothing is tagged and the error names them.
    The links are stored in id order: two overlapping selections tagged at once stored theirs in the
    order of a set of ids, which differs with the set's size, each stored one link and waited for the
    other's, and the database stopped one of them (503).

    The items are locked (key share, in id order) before the tag and its links: a reviewer's "input
    insufficient" decision locks its item (for update), then tags it with the reserved tag. A selection
    that stored its links first and key-share-locked the items only at commit (their foreign keys) held
    the decided item's link while waiting for the item, and the decision held the item while waiting for
    the link: the database stopped one of them.
    """
    if not tag or len(tag) > 100:
        raise ValidationError({"tag": "a tag is 1-100 characters"})
    if "," in tag:
        raise ValidationError({"tag": f"'{tag}' holds a comma: {TAG_COMMA}"})
    ids = set(item_ids)
    found = project_item_ids(project=project, item_ids=ids)
    missing = sorted(ids - found)
    if missing:
        raise ValidationError({"items": f"not items of this project: {', '.join(map(str, missing[:20]))}"})
    ordered = sorted(found)
    _lock_items(ordered)
    row, _ = Tag.objects.get_or_create(project=project, name=tag)
    through = Item.tags.through
    through.objects.bulk_create(
        [through(item_id=i, tag_id=row.pk) for i in ordered], ignore_conflicts=True, batch_size=5000
    )
    return through.objects.filter(tag=row).count()


def _lock_items(ids):
    """Key-share-lock the items ``ids`` (sorted) as their links' foreign keys would at commit, now: that
    lets an answer update them, and waits only for a transaction holding one for update (a decision, a
    campaign). SQLite's writers take turns: nothing to lock."""
    if connection.vendor != "postgresql" or not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Item._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608 - a table name
            [ids],
        )
