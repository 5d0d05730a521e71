"""A reviewer settles a disagreement with the keyboard and publishes a guideline; labelers see the notice."""

import pytest

from labeling.models import Decision, Item, LabelClass
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_labeling_page import digits_project, shown_item
from tests.conftest import make_project, require_browser, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_adjudicates_with_the_keyboard_and_publishes_a_guideline_labelers_are_told(
    live_server, new_page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=8)
    member_add(project=project, username=reviewer.username, role="reviewer")
    from labeling.models import Item

    # Two labelers disagree on the first item (a looped 9 or a 4?); the labeler has answered another item.
    disputed = Item.objects.get(pk=items[0])
    annotation_save(item=disputed, labeler=labeler, value="4")
    annotation_save(item=disputed, labeler=labeler2, value="9")
    annotation_save(item=Item.objects.get(pk=items[1]), labeler=labeler, value="1")

    sme = new_page()
    login(sme, live_server, reviewer)
    sme.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert sme.locator(f"#review-queue tr[data-item='{disputed.pk}']").is_visible()
    with sme.expect_navigation():
        sme.keyboard.press("Enter")  # open the first disputed item
    assert f"/review/{disputed.pk}/" in sme.url
    sme.keyboard.press("9")  # the final label
    sme.keyboard.press("g")  # gold
    sme.keyboard.press("r")  # write the rationale
    sme.keyboard.type("closed upper loop: a nine")
    sme.keyboard.press("Escape")
    with sme.expect_navigation():
        sme.keyboard.press("Enter")
    decision = Decision.objects.get(item=disputed)
    assert (decision.label, decision.gold, decision.reviewer_id) == ("9", True, reviewer.pk)
    assert decision.rationale == "closed upper loop: a nine"

    sme.goto(f"{live_server.url}/projects/{project.pk}/guidelines/")
    sme.locator("#guideline-editor").fill("# Digits v2\n\nA closed upper loop makes a **9**, not a 4.")
    with sme.expect_navigation():
        sme.get_by_role("button", name="Publish as v2").click()
    assert "A closed upper loop makes a" in sme.locator("#guideline-text").inner_text()
    assert sme.locator("#guideline-diff").is_visible()

    worker = new_page()
    login(worker, live_server, labeler)
    worker.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(worker)
    notice = worker.locator("#guideline-notice")
    notice.wait_for(state="visible")
    assert "v2" in notice.inner_text()
    assert not sme.errors and not worker.errors


def test_with_a_class_on_a_the_reviewer_still_marks_the_instructions_ambiguous_by_keyboard(
    live_server, new_page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    # An eleventh class takes "a", the review page's key for "instructions ambiguous".
    LabelClass.objects.create(project=project, key="x", name="not a digit", hotkey="a", order=10)
    member_add(project=project, username=reviewer.username, role="reviewer")
    disputed = Item.objects.get(pk=items[0])
    annotation_save(item=disputed, labeler=labeler, value="4")
    annotation_save(item=disputed, labeler=labeler2, value="x")

    sme = new_page()
    login(sme, live_server, reviewer)
    sme.goto(f"{live_server.url}/projects/{project.pk}/review/{disputed.pk}/")
    # The scan is shown in the labeling page's viewer: enlarged to the stage, and zoomed by keyboard.
    sme.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
    natural, shown = sme.locator("#image").evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
    assert shown >= 4 * natural
    sme.keyboard.press("+")
    assert sme.locator("#zoom-level").inner_text() == "125%"
    ambiguous = sme.locator("input[name=action][value=ambiguous_instructions]")
    assert ambiguous.get_attribute("data-hotkey") == "A"
    sme.keyboard.press("Shift+A")
    assert ambiguous.is_checked()
    assert sme.locator("button.class-button[data-label=x]").get_attribute("aria-pressed") == "false"
    # The Enter hint in the filled button is drawn in the button's colour, not white on white.
    hint = sme.locator("#decide kbd").evaluate(
        "k => [getComputedStyle(k).color, getComputedStyle(k).backgroundColor, getComputedStyle(k.parentElement).color]"
    )
    assert hint[0] == hint[2] and hint[1] == "rgba(0, 0, 0, 0)"
    sme.keyboard.press("r")
    sme.keyboard.type("is a scribble a digit?")
    sme.keyboard.press("Escape")
    with sme.expect_navigation():  # to the next item once the decision is recorded
        sme.keyboard.press("Enter")
    decision = Decision.objects.get(item=disputed)
    assert (decision.action, decision.rationale) == ("ambiguous_instructions", "is a scribble a digit?")
    assert not sme.errors


def test_the_review_page_plays_a_clip_in_the_labeling_pages_player(live_server, page, login, manager, reviewer):
    require_browser()
    project = make_project(manager, name="Speech (review)", modality="audio", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item_id,) = items_import(
        project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=3, freq=330))]
    ).imported
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item_id}/")
    page.wait_for_function(f"() => document.getElementById('audio-viewer').dataset.ready === '{item_id}'")
    assert page.locator("#waveform canvas, #waveform div").count() > 0  # the waveform is drawn
    page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0")
    page.keyboard.press("Space")
    assert page.evaluate("document.getElementById('audio').paused")
    page.keyboard.press(".")  # faster, as on the labeling page
    assert page.locator("#speed").input_value() == "1.25"
    assert not page.errors, page.errors


def transcribed_clip(manager, reviewer, labeler, labeler2, *, name: str):
    """A transcription project with ``reviewer`` as its reviewer and one clip that two labelers
    transcribed differently ("um nearest gas station", "nearest gas [unintelligible]"): (project, item id)."""
    project = make_project(manager, name=name, modality="audio", task_type="transcription")
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item_id,) = items_import(
        project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=1))]
    ).imported
    item = Item.objects.get(pk=item_id)
    annotation_save(item=item, labeler=labeler, value="um nearest gas station")
    annotation_save(item=item, labeler=labeler2, value="nearest gas [unintelligible]")
    return project, item_id


def test_the_final_transcript_starts_from_a_labelers_by_keyboard(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, item_id = transcribed_clip(manager, reviewer, labeler, labeler2, name="Speech (decide)")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item_id}/")
    page.keyboard.press("Shift+Digit2")  # start from the second row's transcript, then edit it
    assert page.locator("#transcript").input_value() == "nearest gas [unintelligible]"
    page.keyboard.press("Backspace")
    page.keyboard.type(" station]")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert Decision.objects.get(item_id=item_id).label == "nearest gas [unintelligible station]"
    assert not page.errors


def test_enter_on_a_focused_button_or_link_presses_it_and_records_only_without_one(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    for pk in items:  # both items disputed, and opened from the queue: the first one's page skips to the other
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler, value="4")
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler2, value="9")
    first, second = items
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first}/?queue={first},{second}")
    nine = page.locator("button.class-button[data-label='9']")

    # Reached from the keyboard, a class, a zoom button and Skip do what they say; none records.
    nine.focus()
    page.keyboard.press("Enter")
    assert nine.get_attribute("aria-pressed") == "true"
    page.locator("#image-tools [data-action=zoom-in]").focus()
    page.keyboard.press("Enter")
    assert page.locator("#zoom-level").inner_text() == "125%"
    assert page.locator("#decision-status").text_content() == ""  # no "saving…": nothing was sent
    page.locator("#skip-link").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"/review/{second}/" in page.url
    assert not Decision.objects.exists()

    # A class clicked with the mouse leaves the focus to the page: the next Enter records it.
    page.locator("button.class-button[data-label='4']").click()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert list(Decision.objects.values_list("item_id", "label")) == [(second, "4")]
    assert not page.errors, page.errors


def test_enter_on_a_focused_link_in_the_review_queue_follows_it_and_opens_the_first_item_only_without_one(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    for pk in items:  # both items disputed: the queue lists two rows
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler, value="4")
        annotation_save(item=Item.objects.get(pk=pk), labeler=labeler2, value="9")
    login(page, live_server, reviewer)
    queue = f"{live_server.url}/projects/{project.pk}/review/"
    opened = []  # every page the browser set out to load, followed or not
    page.on("request", lambda request: request.is_navigation_request() and opened.append(request.url))

    # Reached with Tab, the Guidelines tab and the second row's Review link go where they say.
    tabs = page.get_by_label("Label consistency")
    for link, path in [
        (tabs.get_by_role("link", name="Guidelines"), f"/projects/{project.pk}/guidelines/"),
        (page.locator(f"#review-queue tr[data-item='{items[1]}'] a.button"), f"/review/{items[1]}/"),
    ]:
        page.goto(queue)
        opened.clear()
        link.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert path in page.url
        assert not [url for url in opened if f"/review/{items[0]}/" in url], opened

    # With no link or button focused, Enter still opens the first item.
    page.goto(queue)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"/review/{items[0]}/" in page.url
    assert not page.errors, page.errors


def test_a_reviewer_withdraws_a_decision_and_the_item_is_back_in_the_queue(
    live_server, new_page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    disputed = Item.objects.get(pk=items[0])
    annotation_save(item=disputed, labeler=labeler, value="4")
    annotation_save(item=disputed, labeler=labeler2, value="9")
    Decision.objects.create(item=disputed, reviewer=reviewer, label="9", gold=True, rationale="a nine")

    sme = new_page()
    login(sme, live_server, reviewer)
    sme.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert sme.locator(f"#review-queue tr[data-item='{disputed.pk}']").count() == 0  # decided
    sme.goto(f"{live_server.url}/projects/{project.pk}/review/{disputed.pk}/")
    sme.get_by_label("withdraw the decision in force").check()
    sme.locator("#rationale").fill("the stroke is a 4's, not a loop")
    with sme.expect_navigation():
        sme.locator("#decide").click()
    latest = Decision.objects.filter(item=disputed).order_by("-created", "-id").first()
    assert (latest.action, latest.rationale) == ("withdrawn", "the stroke is a 4's, not a loop")
    # the queue, which says what was done, and holds the item again
    status = sme.get_by_role("status").filter(has_text="Decision withdrawn")
    status.wait_for()
    assert status.text_content() == f"Decision withdrawn on item #{disputed.pk}: it is undecided again."
    assert sme.locator(f"#review-queue tr[data-item='{disputed.pk}']").is_visible()
    sme.goto(f"{live_server.url}/projects/{project.pk}/review/{disputed.pk}/")
    banner = sme.locator("#latest-decision").inner_text()
    assert "Undecided: you withdrew the decision (label 'digit 9' (gold))" in banner
    assert not sme.errors
