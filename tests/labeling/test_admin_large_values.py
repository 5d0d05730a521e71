"""The Django admin neither reads nor draws values that grow with the data: a deletion job's parameters
hold every item id (50,000), a purged version's info every purged one (200,000), a text item up to 200,000
characters, a detection answer the JSON of up to 500 boxes. An object's page shows such a JSON value
summarised (a long list: its first 20 entries and "… and N more"); a list page does not read it at all."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.admin import json_summary
from labeling.models import Annotation, DatasetVersion, Guideline, Item, Job, TrainingJob
from labeling.services.guidelines import guideline_publish
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db

MANY = 50_000


def _selects(queries, table, column) -> bool:
    """Whether one of ``queries`` reads ``table.column`` as a column of its rows."""
    pattern = re.compile(rf'"{table}"\."{column}"(, "| FROM)')
    return any(pattern.search(q["sql"]) for q in queries)


def _get(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode()), queries.captured_queries


def test_a_list_longer_than_20_entries_is_its_first_20_and_how_many_more_at_every_depth():
    value = {"items": list(range(MANY)), "purge": False, "nested": [{"ids": list(range(25))}], "text": "x" * 600}
    shown = json_summary(value)
    assert shown["items"] == [*range(20), "… and 49,980 more"]
    assert shown["nested"] == [{"ids": [*range(20), "… and 5 more"]}]
    assert shown["text"] == "x" * 500 + "… (600 characters)"
    assert shown["purge"] is False
    assert json_summary(list(range(20))) == list(range(20))


@pytest.fixture
def big_deletion_job(manager):
    """A queued deletion job whose parameters name 50,000 item ids, as "Select all 50,000" queues one."""
    project = text_project(manager)
    return Job.objects.create(
        kind="deletion", project=project, created_by=manager, params={"items": list(range(1, MANY + 1)), "purge": False}
    )


def test_a_deletion_job_of_50000_items_shows_its_first_ids_and_how_many_more(admin_client, big_deletion_job):
    page, _ = _get(admin_client, f"/admin/labeling/job/{big_deletion_job.pk}/change/")
    assert len(page) < 30_000  # the ids alone were 339 kB
    assert "… and 49,980 more" in page
    assert "\n    20,\n" in page and "\n    21,\n" not in page  # the first 20 ids, one a line


def test_the_job_list_reads_no_parameters_results_or_errors_whatever_the_jobs(admin_client, big_deletion_job, manager):
    page, queries = _get(admin_client, "/admin/labeling/job/")
    assert len(page) < 30_000
    assert str(MANY - 1) not in page
    for column in ("params", "result", "errors"):
        assert not _selects(queries, "labeling_job", column), column
    for name in ("Tweets", "Posts"):  # jobs of more projects cost no more queries
        Job.objects.create(kind="deletion", project=text_project(manager, name=name), params={"items": [1]})
    _, more = _get(admin_client, "/admin/labeling/job/")
    assert len(more) == len(queries)


@pytest.fixture
def purged_version(manager):
    """A version whose info records a purge of 200,000 items, as a purge of that many writes it."""
    project = text_project(manager)
    (item,) = add_texts(project, ["one"])
    answer(item, labelers(project, 1)[0], "cat")
    version = build(project, manager)
    purge = {"items": list(range(1, 200_001)), "at": "2026-12-01T10:00:00+00:00", "by": "manager", "rows": 200_000}
    DatasetVersion.objects.filter(pk=version.pk).update(info={**version.info, "purged": [purge]})
    return version


def test_a_purged_versions_admin_page_counts_its_purged_items_without_reading_them(admin_client, purged_version):
    page, queries = _get(admin_client, f"/admin/labeling/datasetversion/{purged_version.pk}/change/")
    assert len(page) < 40_000  # the ids alone were 1.4 MB
    assert '"items": 200000' in page and '"by": "manager"' in page
    assert "199999" not in page
    assert not _selects(queries, "labeling_datasetversion", "info")  # counted by the database
    page, queries = _get(admin_client, "/admin/labeling/datasetversion/")
    for column in ("info", "policy", "counts", "changes"):
        assert not _selects(queries, "labeling_datasetversion", column), column
    assert f"/admin/labeling/datasetversion/{purged_version.pk}/change/" in page
    child = build(purged_version.project, purged_version.created_by)  # names the purged one as its parent
    page, queries = _get(admin_client, f"/admin/labeling/datasetversion/{child.pk}/change/")
    assert f"{purged_version}" in page and len(page) < 40_000
    assert not _selects(queries, "labeling_datasetversion", "info")


def test_a_purged_version_is_still_deleted_in_the_admin(admin_client, purged_version):
    url = f"/admin/labeling/datasetversion/{purged_version.pk}/delete/"
    TrainingJob.objects.create(project=purged_version.project, version=purged_version, trainer="logistic_regression")
    page, queries = _get(admin_client, url)
    assert not _selects(queries, "labeling_datasetversion", "info")  # not once per file and training job
    assert f"Dataset version: {purged_version}" in page
    n_artifacts = purged_version.artifacts.count()
    assert f"Version artifacts: {n_artifacts}" in page and "Training jobs: 1" in page
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not DatasetVersion.objects.filter(pk=purged_version.pk).exists()


def test_the_item_and_guideline_lists_read_no_text_or_metadata(admin_client, manager):
    project = text_project(manager)
    add_texts(project, ["w" * 200_000])
    Item.objects.filter(project=project).update(metadata={"tokens": list(range(10_000))})
    guideline_publish(project=project, text="g" * 200_000)
    page, queries = _get(admin_client, "/admin/labeling/item/")
    for column in ("text", "metadata", "stats"):
        assert not _selects(queries, "labeling_item", column), column
    assert len(page) < 30_000
    item = Item.objects.get(project=project)
    page, _ = _get(admin_client, f"/admin/labeling/item/{item.pk}/change/")  # its own page reads them
    assert "w" * 1000 in page
    _, queries = _get(admin_client, "/admin/labeling/guideline/")
    assert not _selects(queries, "labeling_guideline", "text")
    guideline = Guideline.objects.get(project=project, text__startswith="g")
    page, _ = _get(admin_client, f"/admin/labeling/guideline/{guideline.pk}/change/")
    assert "g" * 1000 in page


def test_the_answer_list_shows_the_beginning_of_a_long_answer(admin_client, manager):
    project = text_project(manager)
    (item,) = add_texts(project, ["one"])
    long = "word " * 2_000  # as long as a transcript, or the JSON of a few hundred boxes
    Annotation.objects.create(item=item, labeler=labelers(project, 1)[0], value=long)
    page, _ = _get(admin_client, "/admin/labeling/annotation/")
    assert "… (10,000 characters)" in page
    assert long.strip() not in page


def test_a_training_jobs_metrics_are_shown_summarised_and_the_list_reads_none(admin_client, manager, purged_version):
    per_class = {f"class{i}": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3} for i in range(1000)}
    training = TrainingJob.objects.create(
        project=purged_version.project,
        version=purged_version,
        trainer="logistic_regression",
        metrics={"test": {"accuracy": 0.5, "per_class": per_class}},
    )
    _, queries = _get(admin_client, "/admin/labeling/trainingjob/")
    assert not _selects(queries, "labeling_trainingjob", "metrics")
    assert not _selects(queries, "labeling_trainingjob", "params")
    assert not _selects(queries, "labeling_datasetversion", "info")
    page, queries = _get(admin_client, f"/admin/labeling/trainingjob/{training.pk}/change/")
    assert '"accuracy": 0.5' in page and '"…": "and 900 more keys"' in page
    assert "class999" not in page
    assert not _selects(queries, "labeling_datasetversion", "info")  # the version it names, purged
    assert len(page) < 60_000
