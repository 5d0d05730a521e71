"""Builders for the dataset-version tests: a project with items and answers, and a build run in-process."""

from django.contrib.auth import get_user_model

from labeling.choices import Role
from labeling.models import DatasetVersion, Item, Job
from labeling.services.annotations import annotation_save
from labeling.services.projects import member_add
from labeling.services.versions import version_build_run, version_build_start
from tests.conftest import make_project


def text_project(manager, *, name="Reviews", classes=("cat", "dog", "other"), **kwargs):
    options = {"borderline": True, "uncertain": True, "out_of_domain": True}
    return make_project(
        manager, name=name, modality="text", classes=[{"key": k} for k in classes], options=options, **kwargs
    )


def add_texts(project, texts, *, tags=(), source=None):
    """Text items straight into the table (the import path's PostgreSQL COPY cannot run twice in one test
    transaction), with their tags; answered in the given order."""
    import hashlib

    from labeling.models import Tag

    items = Item.objects.bulk_create(
        [Item(project=project, text=t, sha256=hashlib.sha256(t.encode()).hexdigest(), source=source) for t in texts]
    )
    items = list(Item.objects.filter(project=project, sha256__in=[i.sha256 for i in items]).order_by("pk"))
    for name in tags:
        tag, _ = Tag.objects.get_or_create(project=project, name=name)
        tag.items.add(*items)
    return items


def labelers(project, n, prefix="lab"):
    users = []
    for i in range(n):
        user, _ = get_user_model().objects.get_or_create(username=f"{prefix}{i}")
        member_add(project=project, username=user.username, role=Role.LABELER)
        users.append(user)
    return users


def answer(item, user, value="", **flags):
    annotation_save(item=item, labeler=user, value=value, **flags)


def build(project, user, recipe=None) -> DatasetVersion:
    """Start a build and run it here (no worker): the version it published."""
    job = version_build_start(project=project, user=user, recipe=recipe or {})
    version_build_run(job_id=job.pk)
    job = Job.objects.get(pk=job.pk)
    assert job.status == "succeeded", job.errors
    return DatasetVersion.objects.get(project=project, number=job.result["version"])


def manifest(version):
    import json

    from labeling.services.versions import version_manifest_chunks

    data = b"".join(version_manifest_chunks(version=version)).decode()
    return [json.loads(line) for line in data.split("\n")[:-1]]
