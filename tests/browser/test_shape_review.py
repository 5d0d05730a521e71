"""The SME settles an iguana item in headless Chromium: toggles a labeler's layer with the number keys,
copies a labeler's boxes, clears them, draws the final box with the mouse, sets its class from the
keyboard and records the decision; and on a clip, accepts the consensus with one key."""

import json

import pytest

from labeling.models import Decision, Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_content_security_policy import watch
from tests.browser.test_shape_labeling import TOL, drag, iguana_project, image_point, png_bytes
from tests.conftest import SPEECH_CLASSES, require_browser, segments_project, wav_bytes
from tests.labeling.version_helpers import labelers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def boxes(*shapes):
    """An answer's value of boxes, each given as (x, y, w, h, label)."""
    return json.dumps({"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]})


def review_item(manager, reviewer, name):
    """An iguana project named ``name`` (Iguana on 1, Rock on 2) that ``reviewer`` reviews, with one image
    (s.png) and two labelers, lab0 and lab1, whose boxes the test saves: returns the project, the item and
    the two labelers."""
    project = iguana_project(manager, name)
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item_id,) = items_import(project=project, entries=[ImportEntry(name="s.png", load=png_bytes)]).imported
    alice, bob = labelers(project, 2)
    return project, Item.objects.get(pk=item_id), alice, bob


def layer_shown(page, name):
    return page.evaluate(f"document.querySelector('.layer-svg g[data-layer=\"{name}\"]').style.display !== 'none'")


def test_sme_toggles_layers_draws_the_final_box_and_records_it(live_server, page, login, manager, reviewer):
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Touching (browser)")
    annotation_save(
        item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    )
    annotation_save(item=item, labeler=bob, value=boxes((0.08, 0.2, 0.64, 0.5, "iguana")))

    watch(page)  # the page runs under the Content-Security-Policy without a violation
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert "lab1 drew one box where lab0 drew 2" in page.locator("#review-queue").text_content()
    page.keyboard.press("Enter")  # the queue's first item
    page.wait_for_url(f"**/review/{item.pk}/**")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 3")
    assert page.locator(".box-layer rect.box").count() == 0  # the consensus of one box against two: none
    assert page.locator("#split-notes").text_content().count("split / merge") == 1
    assert page.evaluate("window.__csp") == [] and page.console_csp == []

    page.keyboard.press("1")  # alice's layer off, then on again with its checkbox
    assert not layer_shown(page, "lab0") and layer_shown(page, "lab1")
    assert not page.locator("#layers input[data-layer='0']").is_checked()
    page.locator("#layers input[data-layer='0']").check()
    assert layer_shown(page, "lab0")
    page.keyboard.press("0")  # the consensus layer
    assert not page.locator("#layers input[data-layer='consensus']").is_checked()

    page.keyboard.press("Shift+Digit1")  # start from alice's two boxes ...
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '2'")
    page.keyboard.press("Shift+N")  # ... then clear them and draw the final box by hand
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '0'")
    at = image_point(page)
    drag(page, at(0.2, 0.3), at(0.6, 0.7))
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    page.keyboard.press("k")
    page.keyboard.press("2")  # class key 2 after k: rock (not the layer toggle)
    assert "Rock" in page.locator("#editor-summary").text_content()
    assert layer_shown(page, "lab1")
    page.keyboard.press("g")
    page.keyboard.press("r")
    page.keyboard.type("one stone, not two iguanas")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = Decision.objects.get(item=item)
    (box,) = decision.shapes["boxes"]
    assert box["label"] == "rock" and decision.gold and decision.rationale == "one stone, not two iguanas"
    for field, expected in (("x", 0.2), ("y", 0.3), ("w", 0.4), ("h", 0.4)):
        assert box[field] == pytest.approx(expected, abs=TOL), (field, box)
    # Said on the queue the page moved to, not only on the page that went.
    said = page.get_by_role("status").filter(has_text="Decision recorded")
    said.wait_for()
    assert said.text_content() == f"Decision recorded on item #{item.pk}: 1 box."
    assert not page.errors, page.errors


def test_sme_accepts_the_consensus_of_a_clip_with_one_key(live_server, page, login, manager, reviewer):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=3, freq=300))]
    project, (item,) = segments_project(
        manager, reviewer, "reviewer", clips, name="Speech (browser review)", classes=SPEECH_CLASSES[:1]
    )
    users = labelers(project, 3, prefix="ear")
    for user, (start, end) in zip(users, ((0.5, 2.5), (0.6, 2.4), (1.5, 2.9)), strict=True):
        value = json.dumps({"segments": [{"start": start, "end": end, "label": "speech"}]})
        annotation_save(item=item, labeler=user, value=value)
    watch(page)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('#segment-lanes .lane-segment').length === 4")
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item.pk)
    assert page.evaluate("window.__csp") == [] and page.console_csp == []
    page.keyboard.press("3")  # ear2's lane off
    assert page.locator(".lane[data-layer='ear2']").is_hidden()
    assert page.locator(".lane[data-layer='ear0']").is_visible()
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    with page.expect_navigation():
        page.keyboard.press("c")
    (segment,) = Decision.objects.get(item=item).shapes["segments"]
    # Majority over time: covered by at least two of the three from 0.6 s to 2.5 s.
    assert (segment["start"], segment["end"], segment["label"]) == (pytest.approx(0.6), pytest.approx(2.5), "speech")
    assert not page.errors, page.errors


def test_sme_marks_an_ogg_clip_to_its_end(live_server, page, login, manager, reviewer):
    # The review page's editor bounds segments by the clip's duration as the server measured it, not by
    # Chromium's longer decoding of the Ogg/Vorbis clip (2.136 s against 2.12 s).
    require_browser()
    clips = [("q.ogg", wav_bytes(seconds=2.12, freq=300, fmt="OGG"))]
    project, (item,) = segments_project(
        manager, reviewer, "reviewer", clips, name="Speech, Ogg (browser review)", classes=SPEECH_CLASSES[:1]
    )
    duration = item.stats["duration"]
    (user,) = labelers(project, 1, prefix="ear")
    value = json.dumps({"segments": [{"start": 0.2, "end": 1.0, "label": "speech"}]})
    annotation_save(item=item, labeler=user, value=value)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item.pk)
    page.keyboard.press("Shift+N")  # nothing; then one segment from the middle to past the waveform's end
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '0'")
    wave = page.locator("#waveform").bounding_box()
    middle = wave["y"] + wave["height"] / 2
    sent = []
    page.on("request", lambda r: r.method == "POST" and "/decision/" in r.url and sent.append(r.post_data_json))
    drag(page, (wave["x"] + wave["width"] / 2, middle), (wave["x"] + wave["width"] + 40, middle))
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    page.keyboard.press("}")  # further: it stays at the clip's end
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert [body["value"]["segments"][0]["end"] for body in sent] == [duration]
    (segment,) = Decision.objects.get(item=item).shapes["segments"]
    assert segment["end"] == duration and segment["start"] == pytest.approx(duration / 2, abs=0.1)
    assert not page.errors, page.errors


def test_enter_waits_while_the_smes_segment_start_is_marked(live_server, page, login, manager, reviewer):
    """A start marked with [ and not yet ended with ] is a segment begun: Enter recorded the decision
    without it, unseen (the wait was for a box being drawn only). It now waits, saying why."""
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=3, freq=300))]
    project, (item,) = segments_project(
        manager, reviewer, "reviewer", clips, name="Speech, start marked (browser review)", classes=SPEECH_CLASSES[:1]
    )
    (user,) = labelers(project, 1, prefix="ear")
    annotation_save(
        item=item, labeler=user, value=json.dumps({"segments": [{"start": 0.2, "end": 1.0, "label": "speech"}]})
    )
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item.pk)
    page.keyboard.press("Shift+N")  # nothing final; then a segment from the keyboard
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '0'")
    page.evaluate("document.getElementById('audio').currentTime = 1.5")
    page.keyboard.press("[")
    page.keyboard.press("Enter")  # recording now would drop the start marked: refused, said
    assert page.locator("#decision-status").text_content() == (
        "A segment's start is marked at 1.50 s: ] at the playhead ends it, Esc forgets it; then record."
    )
    page.wait_for_timeout(300)
    assert not Decision.objects.filter(item_id=item.pk).exists() and page.url.endswith(f"/review/{item.pk}/")
    page.evaluate("document.getElementById('audio').currentTime = 2.5")
    page.keyboard.press("]")  # the segment is made: the wait is over
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '1'")
    assert page.locator("#decision-status").text_content() == ""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    (segment,) = Decision.objects.get(item=item).shapes["segments"]
    assert (segment["start"], segment["end"]) == (pytest.approx(1.5, abs=0.02), pytest.approx(2.5, abs=0.02))
    assert not page.errors, page.errors


def test_sme_draws_the_final_box_with_the_keyboard_and_enter_never_records_it_half_drawn(
    live_server, page, login, manager, reviewer
):
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Touching, keyboard (browser)")
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana")))
    annotation_save(item=item, labeler=bob, value=boxes((0.6, 0.2, 0.3, 0.5, "rock")))

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 2")
    assert page.locator("#editor-summary").get_attribute("data-count") == "0"  # no consensus: none to start
    hint = page.locator("#image-tools").text_content()
    assert "or x, arrows and Enter at two corners (that Enter makes the box, never the decision" in hint
    assert "Shift+arrows resize from the corner h chooses" in page.locator("#decision-form").text_content()
    s = max(1, round(2 / (image_point(page).box["width"] / 400)))  # image pixels per arrow press

    page.keyboard.press("x")  # a crosshair at the middle of the image (200, 150)
    for key in ["Shift+ArrowLeft"] * 5 + ["Shift+ArrowUp"] * 3 + ["Enter"] + ["Shift+ArrowRight"] * 9:
        page.keyboard.press(key)
    page.keyboard.press("Shift+ArrowDown")
    for key in ["c", "Shift+N", "Shift+Digit1"]:  # accept, clear, copy: each waits for the box, saying so
        page.keyboard.press(key)
        assert page.locator("#decision-status").text_content() == (
            "A box is being drawn: Enter makes it, Esc cancels it; then record."
        )
    page.locator("#decide").click()  # the button too
    page.keyboard.press("k")
    page.keyboard.press("2")  # its class: rock
    page.keyboard.press("Enter")  # makes the box; records nothing
    assert page.locator("#editor-summary").text_content() == "Final: 1 box · #1 Rock"
    assert page.locator("#decision-status").text_content() == ""
    page.wait_for_timeout(300)
    assert Decision.objects.filter(item_id=item.pk).count() == 0 and page.url.endswith(f"/review/{item.pk}/")

    at = image_point(page)
    page.keyboard.press("h")  # the bottom-left corner: Shift+Left moves the left edge out
    assert page.locator("#undo-status").text_content().startswith("box 1: Shift+arrows move its bottom-left corner")
    page.keyboard.press("Shift+ArrowLeft")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # nothing is being drawn now: Enter records
    (box,) = Decision.objects.get(item_id=item.pk).shapes["boxes"]
    x0, y0, x1, y1 = 200 - 50 * s, 150 - 30 * s, 200 + 40 * s, 150 - 20 * s
    left = x0 / 400 - 2 / at.box["width"]
    assert box["label"] == "rock"
    assert box["x"] == pytest.approx(left, abs=1e-5) and box["w"] == pytest.approx(x1 / 400 - left, abs=1e-5)
    assert (box["y"], box["h"]) == (round(y0 / 300, 6), round((y1 - y0) / 300, 6))
    assert not page.errors, page.errors


def test_enter_on_a_focused_button_presses_it_and_records_only_without_one(live_server, page, login, manager, reviewer):
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Touching, buttons (browser)")
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.5, 0.2, 0.3, 0.5, "rock")))
    annotation_save(item=item, labeler=bob, value=boxes((0.08, 0.2, 0.64, 0.5, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 3")
    count = "(n) => document.getElementById('editor-summary').dataset.count === n"
    page.keyboard.press("Shift+Digit1")  # alice's two boxes
    page.wait_for_function(count, arg="2")

    # "Nothing here" reached from the keyboard clears the boxes; its Enter records nothing.
    page.locator("#clear-shapes").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(count, arg="0")
    assert page.locator("#decision-status").text_content() == ""  # no "saving…": nothing was sent
    assert page.url.endswith(f"/review/{item.pk}/")

    # Clicked with the mouse, the button leaves the focus to the page: the next Enter records.
    page.keyboard.press("Shift+Digit2")  # bob's box, then cleared with the mouse
    page.wait_for_function(count, arg="1")
    page.locator("#clear-shapes").click()
    page.wait_for_function(count, arg="0")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert Decision.objects.get(item=item).shapes == {"boxes": []}
    assert not page.errors, page.errors


def test_each_labelers_box_says_its_layer_in_words_at_any_zoom(live_server, page, login, manager, reviewer):
    """The layers were told apart by colour alone (a reviewer who tells colours apart poorly could not say
    whose box was whose): each box carries its layer's number, the key that toggles it, side by side where
    boxes lie on one spot, the same size on the screen at any zoom."""
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Numbered layers (browser)")
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.2, 0.5, 0.5, "iguana")))
    annotation_save(item=item, labeler=bob, value=boxes((0.11, 0.2, 0.5, 0.5, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg .layer-tag').length === 3")

    def tags():
        return page.evaluate(
            """() => [...document.querySelectorAll('.layer-svg .layer-tag')].map((t) => {
                const r = t.getBoundingClientRect();
                const box = t.parentNode.querySelector('rect').getBoundingClientRect();
                return {layer: t.parentNode.dataset.layer, text: t.textContent, left: r.left, right: r.right,
                        height: r.height, inside: r.left >= box.left && r.right <= box.right && r.top >= box.top};
            })"""
        )

    first = tags()
    assert [(t["layer"], t["text"]) for t in first] == [("lab0", "1"), ("lab1", "2"), ("consensus", "0")]
    assert all(t["inside"] for t in first)
    assert first[0]["right"] <= first[1]["left"] and first[1]["right"] <= first[2]["left"]  # 1 2 0, apart
    zoom = page.locator("#zoom-level").text_content()
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    page.wait_for_function(f"() => document.getElementById('zoom-level').textContent !== {zoom!r}")
    zoomed = tags()
    for before, after in zip(first, zoomed, strict=True):
        assert after["height"] == pytest.approx(before["height"], abs=1.5)  # not scaled with the image
    page.keyboard.press("1")  # lab0's layer off: its number goes with its box
    assert [t["text"] for t in tags() if t["height"]] == ["2", "0"]
    assert not page.errors


# Every tag written over the image (the layer numbers, the final boxes' class names) as its rectangle on the
# screen, the tags not shown left out.
TAG_RECTS = """() => [...document.querySelectorAll('.layer-svg .layer-tag, .box-layer .box-tag')]
    .filter((t) => t.getClientRects().length && getComputedStyle(t).display !== 'none')
    .map((t) => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, left: r.left, top: r.top, right: r.right, bottom: r.bottom, height: r.height};
    })"""


def test_the_tags_of_boxes_that_share_corners_never_cover_one_another(live_server, new_page, login, manager, reviewer):
    """Boxes that share an edge or a corner wrote their tags on one spot: the name of a box at the image's top
    edge went inside it, onto its layer numbers ("Rock" over "1 2 0"), and a narrow box's numbers ran into
    its neighbour's. Each tag now moves aside (along the edge, a row down, outside the box) and stays inside
    the image, at the default zoom and zoomed in, on a laptop and on a phone, where the item's column was
    35 px wide beside the decision and drew no box at all."""
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Shared corners (browser)")
    scene = [
        (0.0, 0.0, 0.12, 0.15, "rock"),  # two at the top edge, side by side
        (0.12, 0.0, 0.12, 0.15, "iguana"),
        (0.24, 0.15, 0.12, 0.15, "rock"),  # its top-left corner on the second's bottom-right one
        (0.5, 0.4, 0.2, 0.3, "iguana"),  # three sharing the corner (0.7, 0.7)
        (0.7, 0.4, 0.2, 0.3, "rock"),
        (0.5, 0.7, 0.2, 0.2, "rock"),
    ]
    annotation_save(item=item, labeler=alice, value=boxes(*scene))
    annotation_save(item=item, labeler=bob, value=boxes(*[(x + 0.004, y, w, h, label) for x, y, w, h, label in scene]))
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    console = []
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg .layer-tag').length === 18")

    def assert_apart(when):
        tags = page.evaluate(TAG_RECTS)
        # each of the 3 layers' 6 boxes carries its number, each of the 6 final boxes its class
        assert sorted(t["text"] for t in tags) == sorted(["0", "1", "2"] * 6 + ["Iguana"] * 2 + ["Rock"] * 4), when
        image = page.locator("#image").bounding_box()
        for t in tags:
            assert t["height"] >= 12, (when, t)  # readable: as large at any zoom
            inside = (
                t["left"] >= image["x"] - 0.5
                and t["top"] >= image["y"] - 0.5
                and t["right"] <= image["x"] + image["width"] + 0.5
                and t["bottom"] <= image["y"] + image["height"] + 0.5
            )
            assert inside, (when, t, image)
        for i, a in enumerate(tags):
            for b in tags[i + 1 :]:
                apart = (
                    a["right"] <= b["left"] + 0.5
                    or b["right"] <= a["left"] + 0.5
                    or a["bottom"] <= b["top"] + 0.5
                    or b["bottom"] <= a["top"] + 0.5
                )
                assert apart, (when, a, b)

    assert_apart("1280 px, fitted")
    zoom = page.locator("#zoom-level").text_content()
    page.get_by_role("button", name="Zoom in").click()
    page.wait_for_function(f"() => document.getElementById('zoom-level').textContent !== {zoom!r}")
    assert_apart("1280 px, zoomed in")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Fit").click()
    page.wait_for_function(f"() => document.getElementById('zoom-level').textContent === {zoom!r}")
    assert page.locator("#image").bounding_box()["width"] > 300  # the item as wide as the phone allows
    assert_apart("390 px, fitted")
    assert console == [] and not page.errors, (console, page.errors)


def test_n_with_caps_lock_on_never_clears_the_final_boxes(live_server, page, login, manager, reviewer):
    """With Caps Lock on, n (skip) arrives as "N" without Shift: it cleared the final boxes the SME had copied
    or drawn. Only Shift+N clears them; a capital N without Shift is n (here, the only item: nothing to skip to)."""
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Caps Lock (browser)")
    annotation_save(
        item=item, labeler=alice, value=boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    )
    annotation_save(item=item, labeler=bob, value=boxes((0.08, 0.2, 0.64, 0.5, "iguana")))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.layer-svg rect').length === 3")
    page.keyboard.press("Shift+Digit1")  # alice's two boxes as the final ones
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '2'")
    page.keyboard.press("N")  # Caps Lock's n: the key "N", no Shift
    page.wait_for_timeout(300)  # a clear is immediate (no request): it would have shown by now
    assert page.locator("#editor-summary").get_attribute("data-count") == "2"
    page.keyboard.press("Shift+N")  # still clears
    page.wait_for_function("() => document.getElementById('editor-summary').dataset.count === '0'")
    assert not Decision.objects.filter(item=item).exists() and not page.errors, page.errors


def test_tab_goes_through_the_final_boxes_once_then_on_through_the_page(live_server, page, login, manager, reviewer):
    """The final boxes are there from the start (the consensus), and Tab cycled them forever: a keyboard-only
    SME never reached the skip link, the top bar or the decision form (qa20). Tab now selects each box in
    turn, then lets go of them and moves on through the page's controls."""
    require_browser()
    project, item, alice, bob = review_item(manager, reviewer, "Tab out (browser)")
    two = boxes((0.1, 0.1, 0.2, 0.2, "iguana"), (0.6, 0.6, 0.2, 0.2, "rock"))
    annotation_save(item=item, labeler=alice, value=two)
    annotation_save(item=item, labeler=bob, value=two)
    annotation_save(item=item, labeler=alice, value=boxes((0.1, 0.1, 0.2, 0.2, "iguana")))  # a disagreement
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{item.pk}/")
    page.wait_for_function("() => document.querySelectorAll('.box-layer rect.box').length === 1")
    page.keyboard.press("Shift+2")  # lab1's two boxes copied as the final ones
    page.wait_for_function("() => document.querySelectorAll('.box-layer rect.box').length === 2")
    selected = "document.querySelectorAll('.box-layer rect.box.selected').length"
    page.keyboard.press("Tab")
    assert page.evaluate(selected) == 1
    page.keyboard.press("Tab")
    assert page.evaluate(selected) == 1
    page.keyboard.press("Tab")  # past the last box: on to the page
    assert page.evaluate(selected) == 0
    assert page.evaluate("document.activeElement !== document.body")
    for _ in range(60):
        if page.evaluate("document.activeElement.id") == "decide":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "decide"
    assert page.evaluate(selected) == 0  # Tab on a control never went back to the boxes
    assert not page.errors
