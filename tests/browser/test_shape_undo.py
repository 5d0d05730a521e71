"""Undo and redo of the shape editor in headless Chromium: on the labeling page (boxes and segments) and
on the review page (a labeler's boxes copied, a box deleted). Ctrl+Z brings a deleted shape back as it
was, Ctrl+Shift+Z (or Ctrl+Y) deletes it again, a status line names the step, the next item starts with
an empty history, Ctrl+Z in a text box stays the browser's undo of its text, and what is submitted after
an undo is what the editor shows."""

import json

import pytest

from labeling.models import Annotation, Decision
from labeling.services.annotations import annotation_save
from tests.browser.test_labeling_page import shown_item
from tests.browser.test_shape_labeling import (
    assert_box,
    detection_project,
    drag,
    image_point,
    open_clip,
    open_detection_page,
    wait_answers,
)
from tests.browser.test_shape_review import boxes, review_item
from tests.conftest import require_browser, segments_project, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def summary(page, element="answer-summary"):
    return page.locator(f"#{element}").text_content()


def undo_status(page):
    return page.locator("#undo-status").text_content()


def assert_text_undone(page, field, typed):
    """The browser undid (some of) the text typed: how much at a time is Chromium's choice."""
    value = page.locator(field).input_value()
    assert value != typed and typed.startswith(value), value


def box_rects(page):
    """The drawn boxes in the answer's order: (x, y, width, height) in image pixels, and their colour."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.box-layer rect.box')]
            .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
            .map((r) => [
                ['x', 'y', 'width', 'height'].map((k) => Number(r.getAttribute(k))),
                r.style.getPropertyValue('--box'),
            ])"""
    )


REGIONS = """() => {
    const root = document.querySelector('#waveform > div').shadowRoot;
    return [...root.querySelectorAll("[part~='region']")].map((e) => [e.style.left, e.style.right]).sort();
}"""


def regions(page):
    """The waveform's segments (wavesurfer's region elements in its shadow root): left and right, in %."""
    return page.evaluate(REGIONS)


def wait_regions(page, expected):
    """Wait for the waveform to show ``expected`` (wavesurfer adds a region's element a frame later)."""
    page.wait_for_function(f"(expected) => JSON.stringify(({REGIONS})()) === JSON.stringify(expected)", arg=expected)


def test_boxes_undo_a_delete_redo_it_and_submit_what_is_shown(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler)
    item = open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)

    drag(page, at(0.1, 0.1), at(0.3, 0.4))  # box 1: iguana
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # rock for the next box
    drag(page, at(0.5, 0.5), at(0.8, 0.9))  # box 2: rock, selected
    assert "2 boxes · #2 Rock" in summary(page)
    drawn = box_rects(page)

    page.keyboard.press("Delete")
    assert page.locator(".box-layer rect.box").count() == 1
    page.keyboard.press("Control+z")  # the deleted box is back where it was, a rock, selected again
    assert box_rects(page) == drawn
    assert "2 boxes · #2 Rock" in summary(page)
    assert undo_status(page) == "Undid: delete box 2"
    page.keyboard.press("Control+Shift+z")  # and deleted again
    assert box_rects(page) == drawn[:1]
    assert undo_status(page) == "Redid: delete box 2"
    page.keyboard.press("Meta+z")  # Cmd+Z on a Mac
    assert box_rects(page) == drawn
    page.keyboard.press("Control+z")  # further back: box 2 was never drawn
    assert box_rects(page) == drawn[:1] and undo_status(page) == "Undid: draw box 2"
    page.keyboard.press("Control+y")
    assert box_rects(page) == drawn and undo_status(page) == "Redid: draw box 2"

    # In the comment box Ctrl+Z is the browser's undo of the text: the boxes stay.
    page.keyboard.press("c")
    page.keyboard.type("two boxes")
    page.keyboard.press("Control+z")
    assert_text_undone(page, "#comment", "two boxes")
    assert box_rects(page) == drawn and undo_status(page) == "Redid: draw box 2"
    page.keyboard.press("Escape")

    page.keyboard.press("Enter")  # what is shown is what is stored
    wait_answers(page, 1)
    a, b = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert_box(a, {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.3, "label": "iguana"})
    assert_box(b, {"x": 0.5, "y": 0.5, "w": 0.3, "h": 0.4, "label": "rock"})

    # The next item starts with an empty history: Ctrl+Z does nothing there.
    shown_item(page, previous=item)
    assert undo_status(page) == ""
    page.keyboard.press("Control+z")
    assert page.locator(".box-layer rect.box").count() == 0
    assert undo_status(page) == "Nothing to undo"
    assert Annotation.objects.count() == 1  # undo never submits
    assert not page.errors, page.errors


def test_boxes_undo_moves_class_and_flag_changes(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=1)
    item = open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    drag(page, at(0.1, 0.1), at(0.3, 0.4))
    drawn = box_rects(page)
    drag(page, at(0.2, 0.25), at(0.4, 0.45))  # moved by its body
    assert box_rects(page) != drawn
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # nudges in a row: one step
    page.keyboard.press("2")
    page.keyboard.press("b")
    assert "#1 Rock (borderline)" in summary(page)
    page.keyboard.press("Control+z")
    assert "#1 Rock" in summary(page) and "borderline" not in summary(page)
    assert undo_status(page) == "Undid: mark box 1 borderline"
    page.keyboard.press("Control+z")
    assert "#1 Iguana" in summary(page) and undo_status(page) == "Undid: set box 1 to Rock"
    page.keyboard.press("Control+z")
    assert undo_status(page) == "Undid: move box 1"
    page.keyboard.press("Control+z")  # the drag
    assert box_rects(page) == drawn
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (box,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert_box(box, {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.3, "label": "iguana"})
    assert not page.errors, page.errors


def test_segments_undo_a_delete_redo_it_and_submit_what_is_shown(live_server, page, login, manager, labeler):
    require_browser()
    clips = [(f"q{i}.wav", wav_bytes(seconds=3, freq=300 + 50 * i)) for i in range(2)]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, undo (browser)")
    login(page, live_server, labeler)
    item, at = open_clip(page, live_server, project)
    drag(page, at(0.1), at(0.4))  # 0.3 s - 1.2 s, speech
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # noise for the next one
    drag(page, at(0.6), at(0.9))  # 1.8 s - 2.7 s, noise, selected
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    assert "#2 Noise" in summary(page)
    drawn = regions(page)
    assert len(drawn) == 2

    page.keyboard.press("Delete")
    assert summary(page).startswith("1 segment") and len(regions(page)) == 1
    page.keyboard.press("Control+z")
    assert summary(page).startswith("2 segments · #2 Noise")
    wait_regions(page, drawn)
    assert undo_status(page) == "Undid: delete segment 2"
    page.keyboard.press("Control+Shift+z")
    assert summary(page).startswith("1 segment") and undo_status(page) == "Redid: delete segment 2"
    wait_regions(page, drawn[:1])
    page.keyboard.press("Control+z")
    wait_regions(page, drawn)

    page.keyboard.press("]")  # the selected segment's start, later: one step, undone
    page.keyboard.press("Control+z")
    wait_regions(page, drawn)
    assert undo_status(page) == "Undid: move segment 2's start"

    page.keyboard.press("c")  # the comment box's own undo
    page.keyboard.type("noisy")
    page.keyboard.press("Control+z")
    assert_text_undone(page, "#comment", "noisy")
    assert regions(page) == drawn and summary(page).startswith("2 segments")
    page.keyboard.press("Escape")

    page.keyboard.press("Enter")
    wait_answers(page, 1)
    first, second = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert (first["label"], second["label"]) == ("speech", "noise")
    assert first["start"] == pytest.approx(0.3, abs=0.05) and first["end"] == pytest.approx(1.2, abs=0.05)
    assert second["start"] == pytest.approx(1.8, abs=0.05) and second["end"] == pytest.approx(2.7, abs=0.05)

    following = shown_item(page, previous=item)
    page.wait_for_function(
        "(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=following
    )
    assert undo_status(page) == ""
    page.keyboard.press("Control+z")
    assert undo_status(page) == "Nothing to undo"
    assert summary(page).startswith("no segments") and regions(page) == []
    assert Annotation.objects.count() == 1
    assert not page.errors, page.errors


def test_review_page_undoes_a_copy_a_clear_and_a_delete(live_server, page, login, manager, reviewer):
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Touching, undo (browser)")
    two = [(0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "rock")]
    annotation_save(item=item, labeler=alice, value=boxes(*two))
    annotation_save(item=item, labeler=bob, value=boxes((0.08, 0.2, 0.64, 0.5, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 3")
    count = "() => document.getElementById('editor-summary').dataset.count"
    page.wait_for_function(f"{count} === '0'")  # the consensus of one box against two: none

    page.keyboard.press("Shift+Digit1")  # alice's two boxes
    page.wait_for_function(f"{count} === '2'")
    copied = box_rects(page)
    page.keyboard.press("Control+z")
    page.wait_for_function(f"{count} === '0'")
    assert undo_status(page) == "Undid: copy lab0's boxes"
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(f"{count} === '2'")
    assert box_rects(page) == copied and undo_status(page) == "Redid: copy lab0's boxes"

    page.keyboard.press("Shift+N")  # cleared, then back
    page.wait_for_function(f"{count} === '0'")
    page.keyboard.press("Control+z")
    page.wait_for_function(f"{count} === '2'")
    assert undo_status(page) == "Undid: clear the boxes"

    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the rock
    page.keyboard.press("Delete")
    page.wait_for_function(f"{count} === '1'")
    page.keyboard.press("Control+z")
    page.wait_for_function(f"{count} === '2'")
    assert box_rects(page) == copied and "#2 Rock" in summary(page, "editor-summary")

    page.keyboard.press("r")  # the rationale's own undo
    page.keyboard.type("alice was right")
    page.keyboard.press("Control+z")
    assert_text_undone(page, "#rationale", "alice was right")
    assert page.evaluate(count) == "2" and box_rects(page) == copied
    page.locator("#rationale").fill("two animals")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = Decision.objects.get(item=item)
    assert decision.rationale == "two animals"
    stored = decision.shapes["boxes"]
    assert len(stored) == 2
    for got, (x, y, w, h, label) in zip(stored, two, strict=True):
        assert_box(got, {"x": x, "y": y, "w": w, "h": h, "label": label})
    assert not page.errors, page.errors
