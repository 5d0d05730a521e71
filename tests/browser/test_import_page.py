"""The Import page's two forms post to the upload endpoints, which refuse a form field they do not take:
each form's fields (its CSRF token and checkbox among them) must be fields those endpoints take."""

import io
import zipfile

import pytest

from labeling.models import Item, Job
from tests.conftest import detection_project, png_bytes, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_import_pages_forms_upload_files_and_queue_a_zip_labeled_by_folder(
    live_server, page, login, manager, project
):
    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    upload = page.locator("#upload-form")
    upload.locator("input[name=files]").set_input_files(
        [{"name": "a.png", "mimeType": "image/png", "buffer": png_bytes(seed=1)}]
    )
    upload.locator("input[name=tags]").fill("night")
    upload.get_by_role("button", name="Upload").click()
    page.locator("#start-labeling").wait_for(state="visible")
    assert page.locator("[data-testid=imported]").inner_text() == "1"
    assert [t.name for t in Item.objects.get(project=project).tags.all()] == ["night"]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cat/b.png", png_bytes(seed=2))
    form = page.locator("#import-form")
    form.locator("input[name=file]").set_input_files(
        {"name": "pets.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()}
    )
    form.locator("input[name=label_from_folder]").check()
    form.get_by_role("button", name="Start import").click()
    page.locator("#progress-text").filter(has_text="queued").wait_for()
    job = Job.objects.get(project=project)
    assert job.params["label_from_folder"] is True and job.params["filename"] == "pets.zip"
    assert page.errors == []


def test_the_same_file_started_twice_on_the_import_page_follows_the_first_import(
    live_server, page, login, manager, project
):
    """A second press of "Start import" (the first seemed to hang on a slow upload) used to queue the same
    file again; the second answer (200) was taken for a failure ("failed", and the job's number as the
    reason). Now the page follows the import already under way and says so."""
    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cat/b.png", png_bytes(seed=2))
    form = page.locator("#import-form")
    form.locator("input[name=file]").set_input_files(
        {"name": "pets.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()}
    )
    form.get_by_role("button", name="Start import").click()
    page.locator("#progress-text").filter(has_text="queued").wait_for()
    first = Job.objects.get(project=project)
    form.get_by_role("button", name="Start import").click()
    report = page.locator("#report")
    report.filter(has_text="already being imported").wait_for()
    assert f"(job {first.pk})" in report.inner_text() and "nothing was queued twice" in report.inner_text()
    page.locator("#progress-text").filter(has_text="queued").wait_for()  # the first job's progress
    assert Job.objects.filter(project=project).count() == 1
    assert page.errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_a_detection_projects_import_form_stays_inside_its_card(live_server, new_page, login, manager, reviewer, width):
    """The long choices of "Existing labels" and "Images without boxes" (a format's files, an export of a
    whole task) sized their selects past the card: the page scrolled sideways by 45 px at 1280 and 298 px on
    a phone, and the end of each choice was off screen."""
    require_browser()
    project = detection_project(manager, reviewer, ["digit"])
    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    card = page.locator("#import-form").bounding_box()
    for name in ("format", "images_without_boxes", "labeler", "tags", "source"):
        field = page.locator(f"#import-form [name={name}]").bounding_box()
        assert field["x"] + field["width"] <= card["x"] + card["width"] + 0.5, name


def test_an_image_given_to_the_manifest_form_is_refused_saying_where_images_go(
    live_server, page, login, manager, project
):
    """An image picked in "Manifest or zip archive" instead of "Upload files" failed its job with the report
    ": the upload cannot be read: 'utf-8' codec can't decode byte 0x89 in position 0: invalid start byte":
    no name before the colon, and nothing a user could act on."""
    from labeling.services.import_jobs import import_job_run

    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    form = page.locator("#import-form")
    form.locator("input[name=file]").set_input_files({"name": "a.png", "mimeType": "image/png", "buffer": png_bytes()})
    form.get_by_role("button", name="Start import").click()
    page.locator("#progress-text").filter(has_text="queued").wait_for()
    import_job_run(job_id=Job.objects.get(project=project).pk)
    page.locator("#progress-text").filter(has_text="failed").wait_for()
    (reason,) = page.locator("ul.rejected li").all_inner_texts()
    assert not reason.startswith(":"), reason
    assert "codec" not in reason and "Upload files" in reason, reason
    # The progress read "failed: 0 / 9" (219360 for a photo): the lines of binary data counted as the
    # manifest's total. A file that is no manifest has no line total.
    assert page.locator("#progress-text").inner_text() == "failed"
    assert Job.objects.get(project=project).total is None
    assert not Item.objects.filter(project=project).exists() and page.errors == []
