"""An item whose file is gone from the media storage (deleted by hand, a bucket restored from an older
backup): the jobs that read the files name the item (id and the name it was imported under). A map goes on
without it and says which items it left out; a training job, which must not quietly train on less than
its version holds, fails naming them, as a version build does; ``upright_image_sizes`` names them."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import override_settings

from analysis.models import Embedding, MapPoint, ModelRun
from analysis.services.embeddings import embeddings_compute
from analysis.services.maps import map_job_run
from analysis.services.training import training_job_run
from labeling.models import Item, Job
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db

IN_MEMORY = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def images(project, n):
    entries = [
        ImportEntry(name=f"photo-{i}.png", load=lambda i=i: png_bytes(seed=i), label=("cat", "dog")[i % 2])
        for i in range(n)
    ]
    items_import(project=project, entries=entries)
    return list(Item.objects.filter(project=project).order_by("id"))


def lose(*items):
    for item in items:
        default_storage.delete(item.file.name)


def start_map(api, manager, project):
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    map_job_run(job_id=body["job"])
    return body, Job.objects.get(pk=body["job"])


def test_a_map_leaves_out_the_items_whose_file_is_gone_and_names_them(api, client, manager, project):
    items = images(project, 14)
    gone = [items[3], items[9]]
    lose(*gone)
    body, job = start_map(api, manager, project)
    assert job.status == "succeeded", job.errors
    assert set(MapPoint.objects.filter(map_id=body["map"]).values_list("item_id", flat=True)) == {
        item.pk for item in items if item not in gone
    }
    named = [(e["item"], e["name"]) for e in job.errors]
    assert named == [(gone[0].pk, "photo-3.png"), (gone[1].pk, "photo-9.png")]
    assert all("no longer in the media storage" in e["reason"] for e in job.errors)
    assert job.result["n_missing_files"] == 2
    # The manager reads it on the map page, under the map.
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/{body['map']}/").content.decode()
    assert "2 items were left out" in page
    assert f"#{gone[0].pk} photo-3.png" in page and f"#{gone[1].pk} photo-9.png" in page


def test_a_map_with_too_few_files_left_fails_naming_the_missing_ones(api, manager, project):
    items = images(project, 11)
    lose(items[0], items[5])
    _, job = start_map(api, manager, project)
    assert job.status == "failed"
    reason = " ".join(e["reason"] for e in job.errors)
    assert "only 9 items have 'image-basic' vectors" in reason
    assert f"item {items[0].pk} (photo-0.png)" in reason and f"item {items[5].pk} (photo-5.png)" in reason


@override_settings(STORAGES=IN_MEMORY)
@pytest.mark.parametrize("processes", [1, 2])
def test_vectors_are_computed_for_the_files_still_there_on_any_storage(project, processes):
    """Object storage (no local path), in the job's process and in worker processes."""
    items = images(project, 5)
    lose(items[1])
    skipped = []
    done = embeddings_compute(
        project=project,
        embedder_name="image-basic",
        items=items,
        batch_size=2,
        processes=processes,
        min_items_for_processes=0,
        missing=skipped,
    )
    assert done == 4 and skipped == [items[1]]
    assert set(Embedding.objects.values_list("item_id", flat=True)) == {i.pk for i in items if i != items[1]}


def test_computing_vectors_without_a_list_for_missing_files_fails_naming_the_item(project):
    items = images(project, 3)
    lose(items[2])
    with pytest.raises(FileNotFoundError, match=rf"item {items[2].pk} \(photo-2\.png\)"):
        embeddings_compute(project=project, embedder_name="image-basic", items=items)


def train(api, manager, project, raises=FileNotFoundError):
    response = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": "latest", "trainer": "logistic_regression"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    with pytest.raises(raises):
        training_job_run(job_id=body["job"])
    return Job.objects.get(pk=body["job"])


def versioned_images(project, manager, n=12):
    items = images(project, n)
    (a,) = labelers(project, 1)
    for i, item in enumerate(items):
        answer(item, a, ("cat", "dog")[i % 2])
    build(project, manager, {"splits": {"train": 0.5, "dev": 0.25, "test": 0.25}})
    return items


def test_training_on_a_version_whose_files_are_gone_fails_naming_the_missing_items(api, manager, project):
    items = versioned_images(project, manager)
    lose(items[2], items[7])
    job = train(api, manager, project)
    assert job.status == "failed" and not ModelRun.objects.exists()
    (error,) = job.errors
    assert f"item {items[2].pk} (photo-2.png)" in error["reason"]
    assert f"item {items[7].pk} (photo-7.png)" in error["reason"]
    assert "no longer in the media storage" in error["reason"]
    assert str(default_storage.location) not in error["reason"]  # no server path


def test_training_names_the_missing_files_of_every_batch_not_only_the_first(api, manager, project, monkeypatch):
    """The trainer reads the files a batch at a time and stopped at the first batch with a missing one: a
    manager restored those, trained again, and learned of the next batch's only then."""
    monkeypatch.setattr("analysis.services.training.EMBED_BATCH", 3)
    items = versioned_images(project, manager)
    lose(items[1], items[5], items[9])  # three different batches
    job = train(api, manager, project)
    assert job.status == "failed"
    (error,) = job.errors
    assert "the files of 3 items" in error["reason"], error["reason"]
    for i in (1, 5, 9):
        assert f"item {items[i].pk} (photo-{i}.png)" in error["reason"]


def test_training_on_a_version_whose_item_was_deleted_fails_naming_it(api, manager, project):
    items = versioned_images(project, manager)
    Item.objects.filter(pk=items[4].pk).delete()
    job = train(api, manager, project, raises=ValidationError)
    assert job.status == "failed"
    (error,) = job.errors
    assert f"item {items[4].pk}" in error["reason"] and "no longer in the project" in error["reason"]


def test_upright_image_sizes_names_the_items_whose_file_is_gone(project):
    items = images(project, 3)
    lose(items[1])
    out = io.StringIO()
    call_command("upright_image_sizes", "--project", str(project.pk), stdout=out)
    text = out.getvalue()
    assert "checked 3 image items" in text and "1 unreadable" in text
    assert f"item {items[1].pk} (photo-1.png): the file is no longer in the media storage" in text
