"""The Django admin deletes items as the app does: "Select all N" over the API's limit of 1,000 queues the
API's deletion job (the message links the job), and a refusal across projects links each project's Items
page, where a purge is done."""

import pytest

from labeling.models import Item, Job
from labeling.services import item_deletion
from tests.conftest import require_browser
from tests.labeling.version_helpers import add_texts, answer, build, text_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_manager(manager):
    """The demo's ``manager``: a project manager who is also the Django admin."""
    manager.is_staff = manager.is_superuser = True
    manager.save()
    return manager


def test_select_all_1001_items_in_the_admin_queues_a_deletion_job_the_message_links(
    live_server, page, login, admin_manager
):
    require_browser()
    reviews = text_project(admin_manager, name="Reviews")
    ids = [item.pk for item in add_texts(reviews, [f"word {i}" for i in range(1001)])]
    login(page, live_server, admin_manager)
    page.goto(f"{live_server.url}/admin/labeling/item/?project__id__exact={reviews.pk}")
    page.locator("#action-toggle").check()
    page.get_by_role("button", name="Select all 1001 items").click()
    page.locator("select[name=action]").select_option("delete_selected")
    with page.expect_navigation():
        page.get_by_role("button", name="Go", exact=True).click()
    page.get_by_text("Items: 1,001").wait_for()
    page.get_by_text("Over 1,000 items: confirming queues a deletion job per project").wait_for()
    assert page.locator("input[name=_selected_action]").count() == 1  # not 1,001 fields, which answered 400
    with page.expect_navigation():
        page.get_by_role("button", name="Yes, I’m sure").click()
    message = page.locator(".messagelist .success")
    assert message.inner_text().startswith("1,001 items queued for deletion")
    assert Item.objects.filter(project=reviews).count() == 1001  # nothing deleted in the request
    job = Job.objects.get(kind="deletion", project=reviews)
    item_deletion.items_delete_run(job_id=job.pk)  # the worker
    with page.expect_navigation():
        message.get_by_role("link", name=f"/admin/labeling/job/{job.pk}/change/").click()
    # the job's page shows it, read-only, its 1,001 ids summarised
    assert page.locator(".field-kind .readonly").inner_text() == "Item deletion"
    assert page.locator(".field-status .readonly").inner_text() == "Succeeded"
    params = page.locator(".field-params_shown .readonly").inner_text()
    assert "… and 981 more" in params and f"{max(ids)}" not in params
    assert page.get_by_role("button", name="Save").count() == 0
    assert not Item.objects.filter(project=reviews).exists()


def test_an_admin_refusal_across_projects_links_each_projects_items_page(live_server, page, login, admin_manager):
    require_browser()
    projects, items = [], []
    for name in ("Reviews", "Tweets"):
        project = text_project(admin_manager, name=name)
        (item,) = add_texts(project, [f"{name} good"])
        answer(item, admin_manager, "cat")
        build(project, admin_manager)
        projects.append(project)
        items.append(item)
    login(page, live_server, admin_manager)
    page.goto(f"{live_server.url}/admin/labeling/item/")
    for item in items:
        page.locator(f"input[name=_selected_action][value='{item.pk}']").check()
    page.locator("select[name=action]").select_option("delete_selected")
    with page.expect_navigation():
        page.get_by_role("button", name="Go", exact=True).click()
    error = page.locator(".messagelist .error")
    assert error.inner_text().startswith("Nothing was deleted: Reviews v1 holds 1 of these items; Tweets v1 holds")
    assert Item.objects.filter(pk__in=[i.pk for i in items]).count() == 2
    with page.expect_navigation():
        error.get_by_role("link", name=f"/projects/{projects[1].pk}/items/").click()
    assert page.url.endswith(f"/projects/{projects[1].pk}/items/")
    page.get_by_label(f"Select item #{items[1].pk}").wait_for()
