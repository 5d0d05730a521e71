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


def test_the_import_report_counts_one_duplicate_and_one_answer_in_the_singular(
    live_server, page, login, manager, project
):
    """The upload report read "1 duplicates" (and a labels import's "1 answers added")."""
    import json

    from labeling.services.import_jobs import import_job_run
    from tests.conftest import make_project
    from tests.labeling.test_label_import import ls_annotation, ls_task, ls_user

    require_browser()
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    upload = page.locator("#upload-form")
    report = page.locator("#report p").first
    pngs = [{"name": f"{n}.png", "mimeType": "image/png", "buffer": png_bytes(seed=n)} for n in (1, 2)]
    for files, expected in [
        (pngs, "2 imported · 0 duplicates · 0 rejected"),
        (pngs[:1], "0 imported · 1 duplicate · 0 rejected"),
        (pngs, "0 imported · 2 duplicates · 0 rejected"),
    ]:
        upload.locator("input[name=files]").set_input_files(files)
        upload.get_by_role("button", name="Upload").click()
        report.filter(has_text=expected).wait_for()

    texts = make_project(
        manager, name="Reviews", modality="text", classes=[{"key": "pos", "name": "Positive"}, {"key": "neg"}]
    )
    choice = [{"value": {"choices": ["Positive"]}, "id": "c", "from_name": "s", "to_name": "text", "type": "choices"}]
    export = [ls_task(1, {"text": "Great product"}, [ls_annotation(1, ls_user(1, "a@x.org"), choice)])]
    page.goto(f"{live_server.url}/projects/{texts.pk}/import/")
    form = page.locator("#import-form")
    form.locator("input[name=file]").set_input_files(
        {"name": "export.json", "mimeType": "application/json", "buffer": json.dumps(export).encode()}
    )
    form.locator("select[name=format]").select_option("label_studio")
    form.get_by_role("button", name="Start import").click()
    page.locator("#progress-text").filter(has_text="queued").wait_for()
    import_job_run(job_id=Job.objects.get(project=texts).pk)
    page.locator("#progress-text").filter(has_text="succeeded").wait_for()
    assert page.locator("#report p").nth(0).inner_text() == "1 imported · 0 duplicates · 0 rejected"
    assert page.locator("#report p").nth(1).inner_text() == "1 answer added · 0 revised · 0 unchanged"
    assert page.errors == []


def test_the_import_report_counts_every_duplicate_not_the_ones_listed(
    live_server, page, login, manager, project, monkeypatch
):
    """A job lists its first MAX_LISTED (1000) duplicates; the page counted that list, so a manifest of
    5000 known texts read "1000 duplicates"."""
    from labeling.services import import_jobs
    from labeling.services.import_jobs import import_job_run
    from tests.conftest import make_project

    monkeypatch.setattr(import_jobs, "MAX_LISTED", 2)
    require_browser()
    texts = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    login(page, live_server, manager)
    manifest = b"".join(b'{"text": "review %d"}\n' % n for n in range(3))
    page.goto(f"{live_server.url}/projects/{texts.pk}/import/")
    form = page.locator("#import-form")
    for n, expected in [(1, "3 imported · 0 duplicates · 0 rejected"), (2, "0 imported · 3 duplicates · 0 rejected")]:
        form.locator("input[name=file]").set_input_files(
            {"name": f"reviews{n}.jsonl", "mimeType": "application/jsonl", "buffer": manifest}
        )
        form.get_by_role("button", name="Start import").click()
        page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('queued')")
        import_job_run(job_id=Job.objects.filter(project=texts).latest("pk").pk)
        page.locator("#report p").first.filter(has_text=expected).wait_for()
    assert page.locator("#report li").count() == 2 and page.errors == []
