"""A campaign whose items a later campaign took over, in headless Chromium: its page names the later
campaign (a link to it) and keeps its own round's figures, and it can still be finished."""

import pytest

from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.campaigns import campaign_create
from labeling.services.projects import member_add
from tests.conftest import require_browser
from tests.labeling.version_helpers import add_texts, labelers, text_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_earlier_campaigns_page_links_the_later_one_and_keeps_its_round(
    live_server, page, login, manager, reviewer
):
    require_browser()
    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    alice, bob = labelers(project, 2)
    ids = [item.pk for item in add_texts(project, [f"photo {i}" for i in range(4)])]
    pets = campaign_create(project=project, name="Pets", item_ids=ids, overlap=2, user=reviewer)
    for pk in ids:
        for user in (alice, bob):
            annotation_save(item=Item.objects.get(pk=pk), labeler=user, value="cat")
    dogs = campaign_create(project=project, name="Dogs again", item_ids=ids[2:], overlap=2, user=reviewer)
    for pk in ids[2:]:
        annotation_save(item=Item.objects.get(pk=pk), labeler=alice, value="dog")
        annotation_save(item=Item.objects.get(pk=pk), labeler=bob, value="other")

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/campaigns/{pets.pk}/")
    assert page.locator("[data-metric=done]").inner_text() == "2 / 4"
    assert page.locator("[data-metric=handed-over]").inner_text() == "2"
    assert page.locator("[data-metric=after]").inner_text().startswith("100")  # its round, not the later 0 %
    assert "2 items taken over by Dogs again" in page.locator("#handed-over").inner_text()
    page.locator("#handed-over").get_by_role("link", name="Dogs again").click()
    page.wait_for_url(f"**/campaigns/{dogs.pk}/")
    assert "2 items taken over from Pets" in page.locator("#took-over").inner_text()
    assert page.locator("[data-metric=before]").inner_text().startswith("100")  # the earlier round
    page.locator("#took-over").get_by_role("link", name="Pets").click()
    page.wait_for_url(f"**/campaigns/{pets.pk}/")
    page.get_by_role("button", name="Finish the campaign").click()
    page.wait_for_selector("h1 .status.succeeded")
    assert page.locator("[data-metric=after]").inner_text().startswith("100")
    assert page.locator("[data-metric=handed-over]").inner_text() == "2"
    assert not page.errors
