"""The SME's review pages in headless Chromium against what happens around a reviewer: a second SME deciding
the same item at the same time, a sign-out and a sign-in again in another tab."""

import pytest

from labeling.models import Decision, Guideline, Item
from labeling.services.annotations import annotation_save
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from tests.browser.test_labeling_page import digits_project
from tests.browser.test_labeling_slips import sign_out
from tests.conftest import make_user, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def disputed_digit(manager, reviewer, labeler, labeler2):
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    item = Item.objects.get(pk=items[0])
    annotation_save(item=item, labeler=labeler, value="4")
    annotation_save(item=item, labeler=labeler2, value="9")
    return project, item


def status_text(page, contains):
    page.wait_for_function(
        "(text) => document.getElementById('decision-status').textContent.includes(text)", arg=contains
    )
    return page.locator("#decision-status").text_content()


def test_a_second_sme_is_shown_the_decision_made_meanwhile_before_recording_over_it(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, item = disputed_digit(manager, reviewer, labeler, labeler2)
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.keyboard.press("4")
    # While this SME looks, a colleague settles the item.
    decision_record(item=item, reviewer=colleague, label="9", rationale="closed loop", supersedes=None)

    page.keyboard.press("Enter")
    said = status_text(page, "meanwhile")
    # the class by its name, as the page's buttons and answers show it (the API's 409 answers its key, "9")
    assert "reviewer2 decided this item meanwhile" in said and "“digit 9”" in said and "closed loop" in said
    assert list(Decision.objects.values_list("reviewer__username", "label")) == [("reviewer2", "9")]
    assert f"/review/{item.pk}/" in page.url

    with page.expect_navigation():
        page.keyboard.press("Enter")  # having read it, the SME records theirs over it
    assert list(Decision.objects.order_by("id").values_list("reviewer__username", "label")) == [
        ("reviewer2", "9"),
        ("reviewer1", "4"),
    ]
    assert not page.errors


def test_a_decision_is_kept_through_a_sign_out_in_another_tab_and_recorded_after_signing_in_again(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, item = disputed_digit(manager, reviewer, labeler, labeler2)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.keyboard.press("9")
    page.keyboard.press("r")
    page.keyboard.type("the upper loop is closed")
    page.keyboard.press("Escape")
    other_tab = page.context.new_page()

    sign_out(other_tab, live_server)
    page.bring_to_front()
    page.keyboard.press("Enter")
    assert "You are signed out" in status_text(page, "stays here")

    login(other_tab, live_server, labeler)  # someone else signs in on this computer: nothing is sent as them
    page.bring_to_front()
    page.keyboard.press("Enter")
    assert "now signed in as labeler1" in status_text(page, "labeler1")
    assert not Decision.objects.exists()

    sign_out(other_tab, live_server)
    login(other_tab, live_server, reviewer)
    page.bring_to_front()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = Decision.objects.get()
    assert (decision.reviewer_id, decision.label, decision.rationale) == (reviewer.pk, "9", "the upper loop is closed")


def test_a_guideline_typed_before_signing_in_again_in_another_tab_is_published(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, _ = disputed_digit(manager, reviewer, labeler, labeler2)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/guidelines/")
    page.locator("#guideline-editor").fill("# Digits v2\n\nA closed upper loop makes a **9**.")
    other_tab = page.context.new_page()
    sign_out(other_tab, live_server)
    login(other_tab, live_server, reviewer)
    page.bring_to_front()
    with page.expect_navigation():
        page.get_by_role("button", name="Publish as v2").click()
    assert Guideline.objects.get(project=project, version=2).text.endswith("makes a **9**.")


def test_on_a_detection_item_accepting_the_consensus_shows_the_boxes_decided_meanwhile(
    live_server, page, login, manager, reviewer
):
    require_browser()
    from labeling.services.imports import ImportEntry, items_import
    from tests.browser.test_shape_labeling import png_bytes
    from tests.browser.test_shape_review import boxes
    from tests.conftest import make_project
    from tests.labeling.version_helpers import labelers

    project = make_project(
        manager, name="Iguanas (browser)", modality="image", task_type="detection",
        classes=[{"key": "iguana", "name": "Iguana", "hotkey": "1"}],
    )  # fmt: skip
    member_add(project=project, username=reviewer.username, role="reviewer")
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    (item_id,) = items_import(project=project, entries=[ImportEntry(name="s.png", load=png_bytes)]).imported
    item = Item.objects.get(pk=item_id)
    alice, bob = labelers(project, 2)
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana")))
    annotation_save(item=item, labeler=bob, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.getElementById('editor-summary').textContent.includes('Final')")
    decision_record(item=item, reviewer=colleague, value={"boxes": []}, rationale="no iguana", supersedes=None)

    page.keyboard.press("c")  # accept the consensus
    said = status_text(page, "meanwhile")
    assert "reviewer2 decided this item meanwhile" in said and "0 boxes" in said and "no iguana" in said
    assert Decision.objects.count() == 1
    with page.expect_navigation():
        page.keyboard.press("c")  # again, having read it: recorded over theirs
    assert list(Decision.objects.order_by("id").values_list("reviewer__username", flat=True)) == [
        "reviewer2",
        "reviewer1",
    ]


def test_one_box_decided_meanwhile_reads_one_box(live_server, page, login, manager, reviewer):
    """The colleague's decision of one box was told as "…meanwhile, at 21:44: 1 boxes"."""
    require_browser()
    from labeling.services.imports import ImportEntry, items_import
    from tests.browser.test_shape_labeling import png_bytes
    from tests.browser.test_shape_review import boxes
    from tests.conftest import make_project
    from tests.labeling.version_helpers import labelers

    project = make_project(
        manager, name="Iguanas (browser)", modality="image", task_type="detection",
        classes=[{"key": "iguana", "name": "Iguana", "hotkey": "1"}],
    )  # fmt: skip
    member_add(project=project, username=reviewer.username, role="reviewer")
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    (item_id,) = items_import(project=project, entries=[ImportEntry(name="s.png", load=png_bytes)]).imported
    item = Item.objects.get(pk=item_id)
    alice, bob = labelers(project, 2)
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana")))
    annotation_save(item=item, labeler=bob, value=boxes((0.5, 0.5, 0.3, 0.4, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.getElementById('editor-summary').textContent.includes('Final')")
    one = {"boxes": [{"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5, "label": "iguana"}]}
    decision_record(item=item, reviewer=colleague, value=one, rationale="one iguana", supersedes=None)

    page.keyboard.press("c")  # accept the consensus
    said = status_text(page, "meanwhile")
    assert ": 1 box — “one iguana”" in said, said
