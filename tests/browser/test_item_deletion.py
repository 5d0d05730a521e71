"""A manager deletes items from the item browser (checkboxes, "Delete…", a confirmation showing what would
go and the versions holding them) and an import's items from the import page, with the keyboard."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Annotation, DatasetVersion, GuidelineExample, Item
from labeling.services.guidelines import guideline_publish
from labeling.services.import_jobs import import_job_create, import_job_run
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes, require_browser
from tests.labeling.version_helpers import answer, build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_deletes_selected_items_then_all_matching_purging_a_version(
    live_server, page, login, manager, project, labeler, labeler2
):
    require_browser()
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(4)]
    ).imported
    a, b, c, d = (Item.objects.get(pk=pk) for pk in ids)
    for item in (a, b):
        answer(item, labeler, "cat")
        answer(item, labeler2, "dog")
    answer(c, labeler, "cat")  # the version holds c alone (a and b tie, d has no answer)
    build(project, manager)
    guideline = guideline_publish(project=project, text="Cats have whiskers.", author=manager)
    GuidelineExample.objects.create(guideline=guideline, item=a, label="cat")

    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    page.get_by_label(f"Select item #{a.pk}").check()
    page.get_by_label(f"Select item #{b.pk}").check()
    assert page.locator("#selected-count").inner_text() == "2 items selected"
    page.locator("#delete-selected").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(
        "Deleting takes 2 items, 4 answers, 0 archived answers, 0 SME decisions. Guideline examples that go with"
        f" them: v{guideline.version} (1 example); publish a guideline with other examples first to keep them."
    ).wait_for()
    assert Item.objects.filter(project=project).count() == 4  # the preview changed nothing
    assert page.evaluate("document.activeElement.id") == "delete-confirm"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#deleted-note").filter(has_text="Deleted 2 items.").wait_for()
    assert set(Item.objects.filter(project=project).values_list("pk", flat=True)) == {c.pk, d.pk}
    assert not Annotation.objects.filter(item_id__in=[a.pk, b.pk]).exists()

    page.get_by_label("Select all 2 matching the filter").check()
    page.locator("#delete-selected").focus()
    page.keyboard.press("Enter")
    dialog.get_by_text("version 1 holds 1 of them").wait_for()
    # what a purge would do to the version's files
    assert dialog.locator("#delete-rewrite").inner_text() == (
        "version 1: answers, csv, jsonl, parquet rewritten, imagefolder removed"
    )
    assert page.locator("#delete-confirm").is_disabled()
    assert page.evaluate("document.activeElement.id") == "delete-purge"
    page.keyboard.press("Space")  # "Purge anyway"
    assert page.locator("#delete-confirm").is_enabled()
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#deleted-note").filter(has_text="Deleted 2 items.").wait_for()
    assert not Item.objects.filter(project=project).exists()
    version = DatasetVersion.objects.get(project=project)
    assert version.info["purged"][0]["items"] == [c.pk]
    page.goto(f"{live_server.url}/projects/{project.pk}/versions/1/")
    notice = page.get_by_test_id("purged").inner_text()
    assert notice.startswith(f"1 item purged on {version.info['purged'][0]['at'][:10]} by {manager.username} ")
    assert "1 row removed from this version's files (answers, csv, jsonl, parquet rewritten; imagefolder removed" in (
        notice
    )
    assert page.locator("[data-count=items]").inner_text() == "0"  # it held c alone
    assert page.errors == []


def test_the_import_page_deletes_the_items_of_an_import(live_server, page, login, manager, project):
    require_browser()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"wrong/{i}.png", png_bytes(seed=40 + i))
    job = import_job_create(project=project, user=manager, upload=SimpleUploadedFile("wrong.zip", buffer.getvalue()))
    import_job_run(job_id=job.pk)
    assert Item.objects.filter(project=project).count() == 3

    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    button = page.get_by_role("button", name="Delete the items of this import")
    button.focus()
    page.keyboard.press("Enter")
    page.get_by_role("dialog").get_by_text("Deleting takes 3 items").wait_for()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#deleted-note").filter(has_text="Deleted 3 items.").wait_for()
    assert not Item.objects.filter(project=project).exists()
    assert page.get_by_role("button", name="Delete the items of this import").count() == 0
    assert page.errors == []
