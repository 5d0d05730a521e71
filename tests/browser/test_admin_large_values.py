"""In the Django admin, a version purged of 200,000 items shows its purge as a count, and its deletion's
confirmation counts what goes with it; a job is shown, not edited, and one still queued is not deleted."""

import pytest

from labeling.models import DatasetVersion, Job
from tests.conftest import require_browser
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_manager(manager):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    return manager


def test_a_purged_version_in_the_admin_counts_its_purged_items_and_is_deleted_from_there(
    live_server, page, login, admin_manager
):
    require_browser()
    project = text_project(admin_manager)
    (item,) = add_texts(project, ["one"])
    answer(item, labelers(project, 1)[0], "cat")
    version = build(project, admin_manager)
    purge = {"items": list(range(1, 200_001)), "at": "2026-12-01T10:00:00+00:00", "by": "manager", "rows": 200_000}
    DatasetVersion.objects.filter(pk=version.pk).update(info={**version.info, "purged": [purge]})
    login(page, live_server, admin_manager)
    page.goto(f"{live_server.url}/admin/labeling/datasetversion/{version.pk}/change/")
    info = page.locator(".field-info_shown .readonly").inner_text()
    assert '"items": 200000' in info and '"by": "manager"' in info
    assert page.get_by_role("button", name="Save").count() == 0
    assert len(page.content()) < 60_000
    with page.expect_navigation():
        page.get_by_role("link", name="Delete").click()
    page.get_by_text(f"Version artifacts: {version.artifacts.count()}").wait_for()
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, I’m sure").click()
    assert "was deleted successfully" in page.locator(".messagelist .success").inner_text()
    assert not DatasetVersion.objects.filter(pk=version.pk).exists()


def test_a_queued_jobs_admin_page_has_neither_save_nor_delete_and_shows_its_ids_summarised(
    live_server, page, login, admin_manager
):
    require_browser()
    project = text_project(admin_manager)
    job = Job.objects.create(kind="deletion", project=project, params={"items": list(range(1, 50_001))})
    login(page, live_server, admin_manager)
    page.goto(f"{live_server.url}/admin/labeling/job/{job.pk}/change/")
    params = page.locator(".field-params_shown .readonly").inner_text()
    assert "… and 49,980 more" in params and "50000" not in params
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_role("link", name="Delete").count() == 0
    page.goto(f"{live_server.url}/admin/labeling/job/{job.pk}/delete/")  # typed in: refused, said why
    assert f"Nothing was deleted: job {job.pk} is queued" in page.locator(".messagelist .error").inner_text()
    assert Job.objects.filter(pk=job.pk).exists()
