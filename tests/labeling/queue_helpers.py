"""Small builders for the labeling-queue tests: items without files, answers by extra labelers."""

from django.contrib.auth import get_user_model

from labeling.choices import Role
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.projects import member_add


def make_items(project, n, *, start=0, **fields):
    """``n`` items straight into the table (no files), random keys 1000+i so the order is known."""
    rows = [
        Item(
            project=project,
            sha256=f"{project.pk:08x}{start + i:056x}",
            text=f"item text {start + i}",
            original_name=f"i{start + i}.txt",
            random_key=1000 + start + i,
            **fields,
        )
        for i in range(n)
    ]
    Item.objects.bulk_create(rows)
    return list(Item.objects.filter(project=project).order_by("-id")[:n])[::-1]


def make_labelers(project, n, prefix="extra"):
    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"{prefix}{i}", password="pw")
        member_add(project=project, username=user.username, role=Role.LABELER)
        users.append(user)
    return users


def answer_by_others(project, item, n, value="cat", prefix="other"):
    """``n`` answers on ``item`` by fresh labelers, through the storage rule (not the queue)."""
    for user in make_labelers(project, n, prefix=f"{prefix}{item.pk}-"):
        annotation_save(item=item, labeler=user, value=value)
    item.refresh_from_db()
    return item
