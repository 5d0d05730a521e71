"""The review pages keep the SME's decision begun on an item in the tab (sessionStorage), in headless
Chromium: a reload puts it back on the same item (said on the status line, with a button that discards it),
never on another item nor for another user, never sends it; recording or skipping on purpose forgets it."""

import json

import pytest

from labeling.models import Decision, Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from labeling.services.review import decision_record
from tests.browser.test_labeling_page import digits_project
from tests.browser.test_labeling_slips import sign_out
from tests.browser.test_review_flow import transcribed_clip
from tests.browser.test_shape_labeling import image_point, png_bytes, stored
from tests.conftest import SPEECH_CLASSES, make_project, make_user, require_browser, segments_project, wav_bytes
from tests.labeling.version_helpers import labelers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWING = "A box is being drawn: Enter makes it, Esc cancels it; then record."
BACK = "Your decision on this item, not recorded yet, is back as you left it; nothing is sent until you record it."


def disputed_digits(manager, reviewer, labeler, labeler2):
    project, ids = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    items = [Item.objects.get(pk=pk) for pk in ids]
    for item in items:
        annotation_save(item=item, labeler=labeler, value="4")
        annotation_save(item=item, labeler=labeler2, value="9")
    return project, items


def draft_key(project, item, user):
    return f"labelhub.review.{project.pk}.{item.pk}.{user.username}"


def status(page):
    return page.locator("#decision-status").text_content()


def wait_back(page):
    """Wait for the status line to say the draft is back."""
    page.wait_for_function(
        "(text) => document.getElementById('decision-status').textContent.startsWith(text)", arg=BACK
    )


def pressed(page):
    return [b.get_attribute("data-label") for b in page.locator(".class-button[aria-pressed=true]").all()]


def test_a_decision_begun_is_back_after_a_reload_on_its_item_only_and_recording_forgets_it(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, (first, second) = disputed_digits(manager, reviewer, labeler, labeler2)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first.pk}/")
    page.keyboard.press("9")
    page.keyboard.press("u")
    page.keyboard.press("g")
    page.keyboard.press("r")
    page.keyboard.type("closed upper loop")
    page.keyboard.press("Escape")
    kept = stored(page)[draft_key(project, first, reviewer)]
    assert kept["item"] == first.pk and kept["user"] == reviewer.username
    assert kept["state"]["label"] == "9"
    assert kept["state"]["fields"] == {
        "borderline": False,
        "uncertain": True,
        "out_of_domain": False,
        "gold": True,
        "rationale": "closed upper loop",
        "action": "label",
    }

    page.reload()  # an accidental reload: all of it is back, said, and nothing was sent
    wait_back(page)
    assert pressed(page) == ["9"]
    assert page.locator("input[name=uncertain]").is_checked() and page.locator("input[name=gold]").is_checked()
    assert page.locator("#rationale").input_value() == "closed upper loop"
    assert page.locator("#decision-status button").text_content() == "Discard it"
    assert Decision.objects.count() == 0

    # Another item shows none of it; coming back to the first shows it again.
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{second.pk}/")
    page.wait_for_timeout(300)
    assert pressed(page) == [] and page.locator("#rationale").input_value() == "" and status(page) == ""
    page.keyboard.press("4")  # a change to the second item is its own draft
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first.pk}/")
    wait_back(page)
    assert pressed(page) == ["9"] and page.locator("#rationale").input_value() == "closed upper loop"
    assert stored(page)[draft_key(project, second, reviewer)]["state"]["label"] == "4"

    with page.expect_navigation():
        page.keyboard.press("Enter")  # recorded as any decision, then forgotten
    decision = Decision.objects.get(item=first)
    assert (decision.label, decision.uncertain, decision.gold) == ("9", True, True)
    assert decision.rationale == "closed upper loop"
    assert draft_key(project, first, reviewer) not in stored(page)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first.pk}/")
    page.wait_for_timeout(300)
    assert pressed(page) == [] and page.locator("#rationale").input_value() == "" and status(page) == ""

    # Someone else signed in in this tab never sees the reviewer's drafts.
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    sign_out(page, live_server)
    login(page, live_server, colleague)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{second.pk}/")
    page.wait_for_timeout(300)
    assert pressed(page) == [] and status(page) == ""
    assert not any(key.endswith(f".{reviewer.username}") for key in stored(page))
    assert Decision.objects.count() == 1
    assert not page.errors, page.errors


def test_a_draft_is_discarded_with_its_button_and_forgotten_by_a_skip(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, (first, second) = disputed_digits(manager, reviewer, labeler, labeler2)
    login(page, live_server, reviewer)
    url = f"{live_server.url}/projects/{project.pk}/review/{first.pk}/?queue={first.pk},{second.pk}"
    page.goto(url)
    page.keyboard.press("4")
    page.keyboard.press("s")  # send back for relabeling, instead
    page.keyboard.press("r")
    page.keyboard.type("too faint")
    page.keyboard.press("Escape")
    page.reload()
    wait_back(page)
    assert page.locator("input[name=action][value=relabel]").is_checked()
    page.locator("#decision-status button").click()  # discard: the page as it opened
    assert status(page) == "Discarded: the decision is as the page opened it."
    assert pressed(page) == [] and page.locator("#rationale").input_value() == ""
    assert page.locator("input[name=action][value=label]").is_checked()
    assert draft_key(project, first, reviewer) not in stored(page)
    page.reload()
    page.wait_for_timeout(300)
    assert status(page) == "" and page.locator("#rationale").input_value() == ""

    page.keyboard.press("r")
    page.keyboard.type("skip me")
    page.keyboard.press("Escape")
    assert draft_key(project, first, reviewer) in stored(page)
    with page.expect_navigation():
        page.keyboard.press("n")  # skipped on purpose: what was begun is given up
    assert f"/review/{second.pk}/" in page.url
    assert draft_key(project, first, reviewer) not in stored(page)
    page.goto(url)
    page.wait_for_timeout(300)
    assert status(page) == "" and page.locator("#rationale").input_value() == ""
    assert Decision.objects.count() == 0
    assert not page.errors, page.errors


def test_a_final_transcript_begun_is_back_after_a_reload(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, item_id = transcribed_clip(manager, reviewer, labeler, labeler2, name="Speech (review draft)")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item_id}/")
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("Backspace")
    page.keyboard.type(" station]")
    page.keyboard.press("Escape")
    page.reload()
    wait_back(page)
    assert page.locator("#transcript").input_value() == "nearest gas [unintelligible station]"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert Decision.objects.get(item_id=item_id).label == "nearest gas [unintelligible station]"
    assert not page.errors, page.errors


def boxes(*shapes):
    return json.dumps({"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]})


def disputed_boxes(manager, reviewer, name):
    """A detection project of two scenes, each boxed by alice (an iguana) and bob (a rock elsewhere)."""
    project = make_project(
        manager,
        name=name,
        modality="image",
        task_type="detection",
        classes=[{"key": "iguana", "name": "Iguana", "hotkey": "1"}, {"key": "rock", "name": "Rock", "hotkey": "2"}],
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"s{i}.png", load=lambda i=i: png_bytes(i)) for i in range(2)]
    ).imported
    scenes = [Item.objects.get(pk=pk) for pk in ids]
    alice, bob = labelers(project, 2)
    for each in scenes:
        annotation_save(item=each, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana")))
        annotation_save(item=each, labeler=bob, value=boxes((0.6, 0.2, 0.3, 0.5, "rock")))
    return project, scenes


def test_final_boxes_and_the_box_being_drawn_are_back_after_a_reload_and_skipping_waits_for_the_box(
    live_server, page, login, manager, reviewer
):
    require_browser()
    project, (item, other) = disputed_boxes(manager, reviewer, "Touching, draft (browser)")

    login(page, live_server, reviewer)
    url = f"{live_server.url}/projects/{project.pk}/review/{item.pk}/?queue={item.pk},{other.pk}"
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 2")
    s = max(1, round(2 / (image_point(page).box["width"] / 400)))  # image pixels per arrow press
    page.keyboard.press("Shift+Digit1")  # alice's box as the first final box
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    page.keyboard.press("g")
    page.keyboard.press("r")
    page.keyboard.type("two animals")
    page.keyboard.press("Escape")
    page.keyboard.press("x")  # a second box from the keyboard, begun at (200, 150) ...
    page.keyboard.press("Enter")
    for key in ["Shift+ArrowRight"] * 3 + ["Shift+ArrowDown"] * 2:
        page.keyboard.press(key)
    page.keyboard.press("k")
    page.keyboard.press("2")  # ... a rock
    page.keyboard.press("n")  # skipping now would leave the box behind: it waits, saying so
    assert status(page) == DRAWING
    page.wait_for_timeout(300)
    assert page.url == url
    kept = stored(page)[f"labelhub.review.{project.pk}.{item.pk}.{reviewer.username}"]
    at = {"x": 200 + 30 * s, "y": 150 + 20 * s}
    assert kept["state"]["drawing"] == {"anchor": {"x": 200, "y": 150}, "at": at, "label": "rock"}
    assert [b["label"] for b in kept["state"]["value"]["boxes"]] == ["iguana"]
    assert kept["state"]["fields"]["gold"] is True and kept["state"]["next"] == "rock"

    page.reload()  # an accidental reload mid-draw: the final box, the box being drawn, gold and the rationale
    wait_back(page)
    assert page.locator("#editor-summary").text_content() == "Final: 1 box · drawing box 2: Rock"
    assert page.locator("#undo-status").text_content() == (
        f"The box you were drawing is back: first corner at 200, 150, crosshair at {200 + 30 * s}, {150 + 20 * s}; "
        "Enter makes it, Esc cancels it"
    )
    assert page.locator("input[name=gold]").is_checked() and page.locator("#rationale").input_value() == "two animals"
    assert Decision.objects.count() == 0
    page.locator("#skip-link").click()  # nor does the Skip link
    assert status(page) == DRAWING and page.url == url
    page.keyboard.press("Enter")  # makes the box
    assert page.locator("#editor-summary").text_content() == "Final: 2 boxes · #2 Rock"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = Decision.objects.get(item=item)
    first, second = decision.shapes["boxes"]
    assert first == {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5, "label": "iguana"}
    assert second == {
        "x": 0.5,
        "y": 0.5,
        "w": round(30 * s / 400, 6),
        "h": round(20 * s / 300, 6),
        "label": "rock",
    }
    assert decision.gold and decision.rationale == "two animals"
    assert f"/review/{other.pk}/" in page.url
    assert not any(key.startswith("labelhub.review.") for key in stored(page))
    assert not page.errors, page.errors


def test_a_segments_start_marked_on_the_review_page_is_back_after_a_reload(live_server, page, login, manager, reviewer):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=4, freq=300))]
    project, (item,) = segments_project(
        manager, reviewer, "reviewer", clips, name="Speech (review draft)", classes=SPEECH_CLASSES
    )
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    ready = "(id) => document.getElementById('audio-viewer').dataset.ready === String(id)"
    page.wait_for_function(ready, arg=item.pk)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("ArrowRight")
    mark = page.evaluate("() => document.getElementById('audio').currentTime")
    page.keyboard.press("[")
    kept = stored(page)[f"labelhub.review.{project.pk}.{item.pk}.{reviewer.username}"]
    assert kept["state"]["drawing"] == {"start": pytest.approx(mark), "label": "speech"}

    page.reload()
    page.wait_for_function(ready, arg=item.pk)
    wait_back(page)
    assert page.locator("#undo-status").text_content().startswith(f"The start you marked is back: {mark:.2f} s")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    end = page.evaluate("() => document.getElementById('audio').currentTime")
    page.keyboard.press("]")
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    (segment,) = Decision.objects.get(item=item).shapes["segments"]
    assert (segment["start"], segment["end"], segment["label"]) == (
        pytest.approx(mark, abs=0.002),
        pytest.approx(end, abs=0.002),
        "speech",
    )
    assert not page.errors, page.errors


def test_a_draft_put_back_says_a_decision_was_recorded_on_the_item_since(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    project, (item, _) = disputed_digits(manager, reviewer, labeler, labeler2)
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.keyboard.press("4")
    page.keyboard.press("r")
    page.keyboard.type("an open loop")
    page.keyboard.press("Escape")
    page.reload()
    wait_back(page)
    assert "since" not in status(page)
    decision_record(item=item, reviewer=colleague, label="9", rationale="closed loop", supersedes=None)
    page.reload()  # the draft is back, and the decision recorded meanwhile is named as above it
    wait_back(page)
    since = "A decision was recorded on this item since (see above): recording yours puts it over that one."
    assert since in status(page)  # (before its Discard button)
    assert "Decided already by reviewer2" in page.locator("#latest-decision").text_content()
    assert pressed(page) == ["4"] and page.locator("#rationale").input_value() == "an open loop"
    with page.expect_navigation():
        page.keyboard.press("Enter")  # recorded over it, knowingly: no 409
    assert list(Decision.objects.order_by("id").values_list("reviewer__username", "label")) == [
        ("reviewer2", "9"),
        ("reviewer1", "4"),
    ]
    assert not page.errors, page.errors


def held_clip(page, item):
    """Hold the page's requests for ``item``'s clip (the audio element's and the waveform's) until the
    ``release()`` answered is called: the segments review page's editor waits for the clip to be decoded."""
    held, holding = [], [True]

    def handle(route):
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    def release():
        holding[0] = False
        for route in held:
            route.continue_()
        held.clear()

    page.route(lambda url: url.endswith(f"/api/items/{item.pk}/file"), handle)
    return release


def test_a_segments_decision_begun_before_the_clip_is_decoded_is_kept_and_wins_over_the_draft_put_back(
    live_server, page, login, manager, reviewer
):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=4, freq=300))]
    project, (item,) = segments_project(
        manager, reviewer, "reviewer", clips, name="Speech (early draft)", classes=SPEECH_CLASSES
    )
    ear0, ear1 = labelers(project, 2, prefix="ear")
    annotation_save(
        item=item, labeler=ear0, value=json.dumps({"segments": [{"start": 0.5, "end": 1.5, "label": "speech"}]})
    )
    two = [{"start": 0.2, "end": 0.9, "label": "speech"}, {"start": 2.0, "end": 3.5, "label": "speech"}]
    annotation_save(item=item, labeler=ear1, value=json.dumps({"segments": two}))
    key = f"labelhub.review.{project.pk}.{item.pk}.{reviewer.username}"
    url = f"{live_server.url}/projects/{project.pk}/review/{item.pk}/"
    ready = "(id) => document.getElementById('audio-viewer').dataset.ready === String(id)"
    lanes = "() => document.querySelectorAll('#segment-lanes .lane-segment').length >= 3"
    login(page, live_server, reviewer)

    # The SME copies ear1's segments, marks gold and writes a rationale while the clip is still on its way.
    release = held_clip(page, item)
    page.goto(url)
    page.wait_for_function(lanes)  # the page's keys work
    page.keyboard.press("Shift+Digit2")
    page.keyboard.press("g")
    page.keyboard.press("r")
    page.keyboard.type("two turns")
    page.keyboard.press("Escape")
    kept = stored(page).get(key)  # a reload now would keep it
    assert kept is not None, "what the SME did before the clip was decoded is no draft"
    assert kept["state"]["value"] == {"segments": two}
    assert kept["state"]["fields"]["gold"] is True and kept["state"]["fields"]["rationale"] == "two turns"
    assert page.locator("#editor-summary").text_content().startswith("Final: 2 segments (drawn once the clip")
    release()
    page.wait_for_function(ready, arg=item.pk)
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '2'")
    assert stored(page)[key]["state"] == kept["state"]

    # Reloaded, with the clip slow again: the draft is back, and a copy made before the clip is decoded is
    # what the final segments are (the draft's arriving later does not undo it).
    release = held_clip(page, item)
    page.reload()
    wait_back(page)
    assert page.locator("input[name=gold]").is_checked()
    assert page.locator("#rationale").input_value() == "two turns"
    page.keyboard.press("Shift+Digit1")
    assert stored(page)[key]["state"]["value"] == {"segments": [{"start": 0.5, "end": 1.5, "label": "speech"}]}
    page.keyboard.press("Control+z")  # undone: the draft's segments, not none
    assert stored(page)[key]["state"]["value"] == {"segments": two}
    page.keyboard.press("Control+Shift+z")
    release()
    page.wait_for_function(ready, arg=item.pk)
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    assert stored(page)[key]["state"]["value"] == {"segments": [{"start": 0.5, "end": 1.5, "label": "speech"}]}
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = Decision.objects.get(item=item)
    assert decision.shapes == {"segments": [{"start": 0.5, "end": 1.5, "label": "speech"}]}
    assert decision.gold and decision.rationale == "two turns"
    assert not page.errors, page.errors


def test_the_decision_recorded_and_the_next_items_draft_put_back_are_both_said(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """The SME began a decision on the second item, went to the first and recorded it: the page that follows
    (the second item's) put the draft back in the status line the "Decision recorded on item #N." note was
    said in, and only one of the two was left for a screen reader to hear (and to see)."""
    require_browser()
    project, (first, second) = disputed_digits(manager, reviewer, labeler, labeler2)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{second.pk}/")
    page.keyboard.press("9")  # begun here: the tab's draft
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first.pk}/?queue={first.pk},{second.pk}")
    page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # on to the queue's next item, the second
    assert page.locator("#review").get_attribute("data-item") == str(second.pk)
    wait_back(page)
    recorded = page.get_by_role("status").filter(has_text="Decision recorded")
    recorded.wait_for(timeout=5000)
    page.wait_for_timeout(500)  # whichever came second, neither took the other's place
    assert recorded.text_content() == f"Decision recorded on item #{first.pk}."
    assert status(page).startswith(BACK) and page.locator("#decision-status").is_visible()
    assert recorded.is_visible()
    assert pressed(page) == ["9"]
    assert not page.errors, page.errors


def test_the_box_decision_recorded_and_the_next_items_draft_put_back_are_both_said(
    live_server, page, login, manager, reviewer
):
    """The same on the box review page: "Decision recorded on item #N: 1 box." and the next item's draft."""
    require_browser()
    project, (first, second) = disputed_boxes(manager, reviewer, "Two rocks, draft (browser)")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{second.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 2")
    page.keyboard.press("g")  # begun here: gold, the tab's draft
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{first.pk}/?queue={first.pk},{second.pk}")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 2")
    page.keyboard.press("Shift+Digit1")  # alice's box as the final one
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"/review/{second.pk}/" in page.url
    wait_back(page)
    recorded = page.get_by_role("status").filter(has_text="Decision recorded")
    recorded.wait_for(timeout=5000)
    page.wait_for_timeout(500)  # whichever came second, neither took the other's place
    assert recorded.text_content() == f"Decision recorded on item #{first.pk}: 1 box."
    assert status(page).startswith(BACK) and recorded.is_visible()
    assert page.locator("input[name=gold]").is_checked()
    assert not page.errors, page.errors


def test_a_withdrawal_begun_on_a_decision_withdrawn_since_says_so_and_enter_decides_the_label(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """The draft put back a withdrawal the page no longer offers: no action was checked, and Enter threw
    (a TypeError in the console), saying nothing, nor did the page say why."""
    require_browser()
    project, (item, _) = disputed_digits(manager, reviewer, labeler, labeler2)
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    decision_record(item=item, reviewer=colleague, label="9", rationale="closed loop", supersedes=None)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.get_by_label("withdraw the decision in force").check()
    page.keyboard.press("r")
    page.keyboard.type("an open loop")
    page.keyboard.press("Escape")
    decision_record(item=item, reviewer=colleague, action="withdrawn", rationale="misread")
    page.reload()
    wait_back(page)
    assert "The decision you were withdrawing is withdrawn already: nothing is left to withdraw." in status(page)
    assert page.locator("input[name=action]:checked").get_attribute("value") == "label"
    assert page.locator("#rationale").input_value() == "an open loop"
    page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert Decision.objects.order_by("-id").values_list("reviewer__username", "action", "label")[0] == (
        "reviewer1",
        "label",
        "4",
    )
    assert not page.errors, page.errors


def test_a_withdrawal_met_by_a_colleague_s_withdrawal_says_nothing_is_left_to_withdraw(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """It said "record it again (Enter) to put it over theirs", and Enter answered that the item has no
    decision in force to withdraw."""
    require_browser()
    project, (item, _) = disputed_digits(manager, reviewer, labeler, labeler2)
    colleague = make_user("reviewer2")
    member_add(project=project, username=colleague.username, role="reviewer")
    decision_record(item=item, reviewer=colleague, label="9", rationale="closed loop", supersedes=None)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.get_by_label("withdraw the decision in force").check()
    page.locator("#rationale").fill("an open loop")
    decision_record(item=item, reviewer=colleague, action="withdrawn", rationale="misread")
    page.locator("#decide").click()
    page.wait_for_function("() => document.getElementById('decision-status').textContent.includes('withdrew')")
    said = status(page)
    assert "reviewer2 withdrew this item's decision meanwhile" in said and "“misread”" in said
    assert "Nothing is left to withdraw: decide the item, or skip it." in said
    assert page.locator("#withdraw").count() == 0
    assert page.locator("input[name=action]:checked").get_attribute("value") == "label"
    assert Decision.objects.filter(item=item).count() == 2  # nothing of reviewer1's recorded
    assert not page.errors, page.errors


def test_a_box_withdrawal_begun_on_a_decision_withdrawn_since_says_so(live_server, page, login, manager, reviewer):
    require_browser()
    project, (scene, _) = disputed_boxes(manager, reviewer, "Withdrawn boxes")
    decision_record(item=scene, reviewer=manager, accept="consensus", rationale="both", supersedes=None)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{scene.pk}/")
    page.get_by_label("withdraw the decision in force").check()
    page.locator("#rationale").fill("the rock is a shadow")
    decision_record(item=scene, reviewer=manager, action="withdrawn", rationale="misread")
    page.reload()
    wait_back(page)
    assert "The decision you were withdrawing is withdrawn already: nothing is left to withdraw." in status(page)
    assert page.locator("input[name=action]:checked").get_attribute("value") == "label"
    assert not page.errors, page.errors
