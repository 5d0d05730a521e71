"""A reviewer finds the items labelers skipped, and why, on the item browser; a manager sends exactly those
back in a relabel campaign from the Campaigns page once the guideline is fixed."""

import pytest

from labeling.models import ArchivedSkip, Campaign, Skip
from labeling.services.imports import ImportEntry, items_import
from labeling.services.queue import item_skip
from tests.conftest import png_bytes, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def skipped_items(project, labeler, labeler2):
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(4)]
    ).imported
    dark, cut, *plain = ids
    item_skip(item=project.items.get(pk=dark), labeler=labeler, reason="image too dark")
    item_skip(item=project.items.get(pk=dark), labeler=labeler2, reason="not sure which class")
    item_skip(item=project.items.get(pk=cut), labeler=labeler, reason="half of it is cut off")
    return dark, cut, plain


def test_a_reviewer_filters_the_item_browser_to_the_skipped_items_and_reads_why(
    live_server, page, login, reviewer, project, labeler, labeler2
):
    require_browser()
    dark, cut, plain = skipped_items(project, labeler, labeler2)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    assert page.locator(".item-card").count() == 4

    page.get_by_label("Skipped").select_option("skipped")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()

    assert sorted(int(n) for n in page.locator(".item-card").evaluate_all("cs => cs.map(c => c.dataset.item)")) == [
        dark,
        cut,
    ]
    card = page.locator(f'.item-card[data-item="{dark}"]')
    assert card.get_by_text("Skipped by 2").is_visible()
    reasons = card.locator(".skips li")
    assert reasons.all_inner_texts() == ["labeler1: image too dark", "labeler2: not sure which class"]
    assert reasons.first.is_visible()
    assert page.locator(f'.item-card[data-item="{cut}"] .skips li').inner_text() == "labeler1: half of it is cut off"

    page.get_by_label("Skipped").select_option("not skipped")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert sorted(int(n) for n in page.locator(".item-card").evaluate_all("cs => cs.map(c => c.dataset.item)")) == (
        sorted(plain)
    )
    assert page.locator(".skips").count() == 0
    assert page.errors == []


def test_a_manager_sends_the_skipped_items_back_from_the_campaigns_page(
    live_server, page, login, manager, project, labeler, labeler2
):
    require_browser()
    dark, cut, _ = skipped_items(project, labeler, labeler2)
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/campaigns/")
    page.get_by_label("Name").fill("Guideline v2: the skipped items")
    page.get_by_label("only items labelers skipped").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Start campaign").click()

    campaign = Campaign.objects.get(project=project)
    assert page.url.endswith(f"/campaigns/{campaign.pk}/")
    assert sorted(campaign.items.values_list("pk", flat=True)) == [dark, cut]
    assert campaign.selection["filter"] == {"skipped": True}
    assert not Skip.objects.filter(item__project=project).exists()  # archived: offered again to who skipped
    assert ArchivedSkip.objects.filter(campaign=campaign).count() == 3
    assert page.errors == []
