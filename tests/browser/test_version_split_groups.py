"""A manager keeps the windows of each recording in one split from the versions page's build form, and the
version page says which metadata key its splits followed, and how many of the items it still holds (after
a purge) took their recording's split."""

import hashlib

import pytest

from labeling.models import Item, Job
from labeling.services.item_deletion import items_delete
from labeling.services.versions import version_build_run
from tests.conftest import require_browser
from tests.labeling.version_helpers import answer, labelers, text_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_build_form_keeps_a_recordings_windows_together(live_server, page, login, manager):
    require_browser()
    project = text_project(manager)
    texts = [(f"rec{r}", w) for r in range(3) for w in range(4)]
    Item.objects.bulk_create(
        [
            Item(
                project=project,
                text=f"{rec} window {w}",
                sha256=hashlib.sha256(f"{rec} window {w}".encode()).hexdigest(),
                metadata={"recording": rec},
            )
            for rec, w in texts
        ]
    )
    (a,) = labelers(project, 1)
    for item in Item.objects.filter(project=project):
        answer(item, a, "cat")

    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/")
    page.get_by_label("Keep together by metadata key").fill("recording")
    with page.expect_navigation():
        page.get_by_role("button", name="Build version").click()
    assert "Building a new version" in page.content()
    job = Job.objects.get(project=project, kind="version")
    assert job.params["policy"]["splits"]["group_by"] == "recording"

    version_build_run(job_id=job.pk)  # the worker's part, here
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/")
    assert "split by recording" in page.locator("#versions").inner_text()
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/1/")
    text = page.locator("#split-groups").inner_text()
    assert text == "kept together by metadata recording: 12 items took the split of their recording"

    # a privacy purge of one recording's windows: the page counts the items the version still holds
    gone = list(Item.objects.filter(project=project, metadata__recording="rec0").values_list("pk", flat=True))
    items_delete(project=project, item_ids=gone, purge=True, user=manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/1/")
    text = page.locator("#split-groups").inner_text()
    assert text == "kept together by metadata recording: 8 items took the split of their recording"
