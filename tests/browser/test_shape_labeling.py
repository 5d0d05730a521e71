"""The labeling page of detection and segments projects in headless Chromium: boxes drawn, moved,
resized and deleted with the mouse and the keyboard; segments made on the waveform and adjusted from
the keyboard; "nothing here"; a server refusal shown to the labeler."""

import io
import json

import pytest

from labeling.models import Annotation, LabelClass
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_labeling_page import open_recent, shown_item
from tests.conftest import make_project, require_browser, segments_project, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOL = 0.012  # a box corner lands within a pixel or two of where the mouse was (about 1/400 of the image)


def png_bytes(n=0, width=400, height=300):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (200, 210, 190))
    ImageDraw.Draw(image).ellipse((60 + 20 * n, 40, 180, 140), fill=(40, 120, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def iguana_project(manager, name, *, rock_hotkey="2", **fields):
    """A detection project of images named ``name``, of two classes: Iguana (hotkey 1) and Rock
    (``rock_hotkey``); ``fields`` go to ``make_project`` (its options, say)."""
    return make_project(
        manager,
        name=name,
        modality="image",
        task_type="detection",
        classes=[
            {"key": "iguana", "name": "Iguana", "hotkey": "1"},
            {"key": "rock", "name": "Rock", "hotkey": rock_hotkey},
        ],
        **fields,
    )


def detection_project(manager, labeler, n_items=2):
    project = iguana_project(manager, "Iguanas (browser)", options={"borderline": True})
    member_add(project=project, username=labeler.username, role="labeler")
    entries = [ImportEntry(name=f"scene{i}.png", load=lambda i=i: png_bytes(i)) for i in range(n_items)]
    assert len(items_import(project=project, entries=entries).imported) == n_items
    return project


def open_detection_page(page, live_server, login, labeler, project):
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.wait_for_function("() => document.querySelector('.box-layer g[transform]')")
    return item


def wait_still(page):
    """Wait until the image stays where it is over a few frames. A line of text that appears under the
    image (or goes) resizes the viewer, whose ResizeObserver fits the image again at the next frame: a
    point measured before that is off the image's new place."""
    page.wait_for_function(
        """() => new Promise((done) => {
            const box = () => JSON.stringify(document.getElementById('image').getBoundingClientRect());
            const first = box();
            const later = (n, then) => (n ? requestAnimationFrame(() => later(n - 1, then)) : then());
            later(3, () => done(box() === first));
        })"""
    )


def image_point(page):
    """``at(fx, fy)``: the page coordinates of a point of the image given as fractions."""
    box = page.locator("#image").bounding_box()

    def at(fx, fy):
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    at.box = box
    return at


def open_clip(page, live_server, project):
    """Open the labeling page of a segments project (signed in) and wait for the shown clip's waveform:
    answers (item id, ``at(fraction)``: the page coordinates of that fraction of the waveform's width)."""
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item)
    wave = page.locator("#waveform").bounding_box()

    def at(fraction):
        return wave["x"] + fraction * wave["width"], wave["y"] + wave["height"] / 2

    at.box = wave
    return item, at


def drag(page, start, end, steps=6):
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def wait_answers(page, n):
    page.wait_for_function("(n) => document.getElementById('mine-total').textContent === String(n)", arg=n)


def assert_box(stored, expected):
    for field in ("x", "y", "w", "h"):
        assert stored[field] == pytest.approx(expected[field], abs=TOL), (field, stored, expected)
    for key in ("label", "borderline"):
        assert stored.get(key) == expected.get(key), (key, stored, expected)


def test_labeler_draws_moves_resizes_deletes_and_nudges_boxes(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler)
    item = open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)

    drag(page, at(0.1, 0.1), at(0.3, 0.4))  # A: the first class until another is chosen
    page.keyboard.press("2")  # A becomes a rock; rock sticks for the next boxes
    drag(page, at(0.5, 0.5), at(0.8, 0.9))  # B
    drag(page, at(0.05, 0.6), at(0.2, 0.8))  # C
    assert page.locator(".box-layer rect.box").count() == 3
    assert "3 boxes" in page.locator("#answer-summary").text_content()

    drag(page, at(0.2, 0.25), at(0.3, 0.3))  # move A by its body: +0.1, +0.05
    page.mouse.click(*at(0.65, 0.7))  # select B, then pull its bottom-right corner
    drag(page, at(0.8, 0.9), at(0.9, 0.95))
    page.keyboard.press("Tab")  # B -> C
    page.keyboard.press("Delete")
    assert page.locator(".box-layer rect.box").count() == 2
    page.keyboard.press("Tab")  # nothing selected -> the first box, A
    page.keyboard.press("1")  # back to iguana
    for key in ["ArrowRight"] * 3 + ["Shift+ArrowDown"] * 2:
        page.keyboard.press(key)
    page.keyboard.press("b")
    assert "#1 Iguana (borderline)" in page.locator("#answer-summary").text_content()
    # Zoom and pan carry the boxes: the selected box stays over the same part of the image.
    before = page.locator(".box-layer rect.selected").bounding_box()
    page.keyboard.press("+")
    zoomed = page.locator(".box-layer rect.selected").bounding_box()
    assert zoomed["width"] == pytest.approx(before["width"] * 1.25, rel=0.02)
    page.keyboard.press("\\")

    page.keyboard.press("Enter")
    wait_answers(page, 1)
    value = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)
    step_x, step_y = 2 / at.box["width"], 2 / at.box["height"]  # an arrow press moves 2 screen pixels
    a, b = value["boxes"]
    assert_box(
        a, {"x": 0.2 + 3 * step_x, "y": 0.15, "w": 0.2, "h": 0.3 + 2 * step_y, "label": "iguana", "borderline": True}
    )
    assert_box(b, {"x": 0.5, "y": 0.5, "w": 0.4, "h": 0.45, "label": "rock"})
    # The next item starts empty, with the last class chosen (1: iguana) still chosen.
    shown_item(page, previous=item)
    assert page.locator(".box-layer rect.box").count() == 0
    assert page.locator(".class-button[data-key=iguana]").get_attribute("aria-pressed") == "true"
    assert "next: Iguana" in page.locator("#answer-summary").text_content()
    assert not page.errors, page.errors


def test_nothing_here_is_an_explicit_empty_answer(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler)
    item = open_detection_page(page, live_server, login, labeler, project)
    page.keyboard.press("Enter")  # nothing drawn: Enter alone does not answer
    assert "Nothing is drawn" in page.locator("#answer-error").text_content()
    assert not Annotation.objects.exists()
    page.keyboard.press("Shift+N")
    wait_answers(page, 1)
    assert json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value) == {"boxes": []}
    page.keyboard.press("r")
    assert "nothing here" in page.locator("#recent-list li").first.text_content()


def test_n_with_caps_lock_on_sends_the_boxes_drawn_not_nothing_here(live_server, page, login, manager, labeler):
    """With Caps Lock on, n (submit) arrives as "N" without Shift: it sent "nothing here" and wiped the
    boxes drawn. Only Shift+N is "nothing here"; a capital N without Shift submits as n does."""
    require_browser()
    project = detection_project(manager, labeler)
    item = open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    drag(page, at(0.2, 0.2), at(0.5, 0.6))
    page.keyboard.press("N")  # Caps Lock's n: the key "N", no Shift
    wait_answers(page, 1)
    (box,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert_box(box, {"x": 0.2, "y": 0.2, "w": 0.3, "h": 0.4, "label": "iguana"})
    following = shown_item(page, previous=item)
    page.keyboard.press("Shift+N")  # still "nothing here"
    wait_answers(page, 2)
    assert json.loads(Annotation.objects.get(item_id=following, labeler=labeler).value) == {"boxes": []}
    assert not page.errors, page.errors


def test_an_answer_sent_before_my_recent_answers_arrive_stays_in_the_list(
    live_server, page, login, api, manager, labeler
):
    require_browser()
    project = detection_project(manager, labeler)
    earlier = project.items.order_by("id").first()
    body = {"value": {"boxes": [{"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "iguana"}]}}
    assert api(labeler).post(f"/api/items/{earlier.pk}/annotations/", body, format="json").status_code == 201
    held = []  # the page's list of my recent answers, answered by the server before the answer below
    page.route(lambda url: "mine=1" in url, lambda route: held.append(route))
    item = open_detection_page(page, live_server, login, labeler, project)
    list_before = held[0].fetch()
    page.keyboard.press("Shift+N")
    wait_answers(page, 2)
    held[0].fulfill(response=list_before)
    page.wait_for_function(f"() => document.getElementById('recent-list').textContent.includes('#{earlier.pk}')")
    page.keyboard.press("r")
    entries = page.locator("#recent-list li").all_text_contents()
    assert len(entries) == 2 and entries[0].startswith(f"#{item}") and "nothing here" in entries[0], entries


def test_an_answer_saved_before_my_progress_arrives_is_counted(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler)
    held = []  # the page's first progress figures, counted by the server before the answer below
    page.route(
        lambda url: url.endswith("/progress/"), lambda route: held.append(route) if not held else route.continue_()
    )
    item = open_detection_page(page, live_server, login, labeler, project)
    figures_before = held[0].fetch()
    page.keyboard.press("Shift+N")
    shown_item(page, previous=item)  # the answer is saved
    held[0].fulfill(response=figures_before)
    wait_answers(page, 1)
    assert page.locator("#mine-today").text_content() == "1"


def test_a_refused_box_is_named_to_the_labeler(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=1)
    open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    page.keyboard.press("2")
    drag(page, at(0.2, 0.2), at(0.4, 0.4))
    LabelClass.objects.filter(project=project, key="rock").update(retired=True)  # retired while the page is open
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('answer-error').textContent.includes('boxes[0]')")
    assert 'unknown class "rock"' in page.locator("#answer-error").text_content()
    assert not Annotation.objects.exists()


def test_labeler_makes_adjusts_and_deletes_segments_on_the_waveform(live_server, page, login, manager, labeler):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=3, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions (browser)")
    login(page, live_server, labeler)
    item, at = open_clip(page, live_server, project)
    drag(page, at(0.1), at(0.4))  # 0.3 s - 1.2 s, speech (the first class)
    drag(page, at(0.6), at(0.9))  # 1.8 s - 2.7 s
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    page.keyboard.press("2")  # the new segment is selected: noise
    for key in ["]", "]", "}"]:  # its start +0.1 s, its end +0.05 s
        page.keyboard.press(key)
    page.keyboard.press("p")  # plays the selected segment from its start
    page.wait_for_function("() => !document.getElementById('audio').paused")
    assert page.evaluate("document.getElementById('audio').currentTime") >= 1.85
    page.keyboard.press("Space")  # the page's play/pause still works
    page.wait_for_function("() => document.getElementById('audio').paused")
    page.keyboard.press("Tab")  # -> the first segment
    page.keyboard.press("Delete")
    assert "1 segment" in page.locator("#answer-summary").text_content()
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (segment,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert segment["label"] == "noise"
    assert segment["start"] == pytest.approx(1.9, abs=0.05)
    assert segment["end"] == pytest.approx(2.75, abs=0.05)
    assert not page.errors, page.errors


def test_a_segment_dragged_on_a_long_clip_spans_the_drag_and_no_more(live_server, page, login, manager, labeler):
    """The regions plugin starts a dragged region 5 px wide at the press and adds the drag to it, so every
    segment drawn with the mouse ended (or, dragged leftwards, ended) 5 px past where the mouse was let go
    or pressed: on a 30 s clip about 0.18 s of the next word, stored and exported. A drag that spans no
    time (straight down) makes no segment."""
    require_browser()
    clips = [("long.wav", wav_bytes(seconds=30, rate=8000, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Long clip (browser)")
    login(page, live_server, labeler)
    item, at = open_clip(page, live_server, project)
    drag(page, at(10 / 30), at(20 / 30), steps=10)  # rightwards: 10 s - 20 s
    drag(page, at(27 / 30), at(23 / 30), steps=10)  # leftwards: 23 s - 27 s
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    x, y = at(5 / 30)
    drag(page, (x, y - 40), (x, y + 40))  # straight down: no time spanned, no segment
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    segments = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    px = 30 / at.box["width"]  # seconds per pixel of the waveform
    assert [s["start"] for s in segments] == pytest.approx([10, 23], abs=1.5 * px), segments
    assert [s["end"] for s in segments] == pytest.approx([20, 27], abs=1.5 * px), segments
    assert not page.errors, page.errors


def test_a_recent_answer_with_200_boxes_is_edited_and_a_drag_redraws_only_its_box(
    live_server, page, login, api, manager, labeler
):
    require_browser()
    project = detection_project(manager, labeler)
    first = project.items.order_by("id").first()
    grid = [
        {"x": round(0.05 * col + 0.005, 6), "y": round(0.1 * row + 0.01, 6), "w": 0.04, "h": 0.08, "label": "iguana"}
        for row in range(10)
        for col in range(20)
    ]
    body = {"value": {"boxes": grid}}
    assert api(labeler).post(f"/api/items/{first.pk}/annotations/", body, format="json").status_code == 201
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    open_recent(page)
    assert "200 boxes" in page.locator("#recent-list li").first.text_content()
    page.keyboard.press("Enter")  # edit it
    page.wait_for_function(f"() => document.getElementById('item-label').textContent === 'item #{first.pk}'")
    # the boxes are laid out in image pixels once the image has loaded (before, they have no size)
    page.wait_for_function(
        """() => {
            const rects = document.querySelectorAll('.box-layer rect.box');
            const img = document.getElementById('image');
            return rects.length === 200 && img.complete && img.naturalWidth
                && Number(rects[0].getAttribute('width')) > 0;
        }"""
    )
    # A drag measured while the page was still laying out the edited answer started beside the box on a
    # loaded CI machine.
    wait_still(page)
    at = image_point(page)
    first_box = page.locator(".box-layer rect.box").first.bounding_box()
    start = (first_box["x"] + first_box["width"] / 2, first_box["y"] + first_box["height"] / 2)
    end = (start[0] + 0.1 * at.box["width"], start[1] + 0.1 * at.box["height"])
    # Count the boxes whose attributes change during the drag, and the longest gap between frames.
    page.evaluate(
        """() => {
            const group = document.querySelector('.box-layer rect.box').parentNode;
            window.touched = new Set();
            const note = (records) => records.forEach((r) => r.type === 'attributes' && window.touched.add(r.target));
            new MutationObserver(note).observe(group, { attributes: true, subtree: true });
            window.frames = [];
            const tick = (t) => { window.frames.push(t); if (window.frames.length < 600) requestAnimationFrame(tick); };
            requestAnimationFrame(tick);
        }"""
    )
    drag(page, start, end, steps=30)  # the first box, by 0.1 and 0.1 of the image
    touched, worst = page.evaluate(
        """() => [window.touched.size,
                  Math.max(...window.frames.slice(1).map((t, i) => t - window.frames[i]))]"""
    )
    print(f"200 boxes: a 30-step drag changed {touched} box(es); longest frame gap {worst:.1f} ms")
    assert touched == 1
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('edit-banner').hidden")
    stored = json.loads(Annotation.objects.get(item=first, labeler=labeler).value)["boxes"]
    assert_box(stored[0], {**grid[0], "x": grid[0]["x"] + 0.1, "y": grid[0]["y"] + 0.1})
    assert stored[1:] == grid[1:]
    assert Annotation.objects.get(item=first, labeler=labeler).revision == 2


def test_an_ogg_clip_is_labeled_to_its_end(live_server, page, login, manager, labeler):
    # Chromium decodes this Ogg/Vorbis clip some milliseconds longer than libsndfile measured it at import;
    # a segment dragged (and pushed with "}") to the waveform's end is stored ending at the clip's end as
    # the server knows it, not refused as "after the clip's end".
    require_browser()
    clips = [("q.ogg", wav_bytes(seconds=2.12, freq=300, fmt="OGG"))]
    project, (clip,) = segments_project(manager, labeler, "labeler", clips, name="Speech regions, Ogg (browser)")
    stored_duration = clip.stats["duration"]
    login(page, live_server, labeler)
    item, at = open_clip(page, live_server, project)
    wave = at.box
    decoded = page.evaluate("document.getElementById('audio').duration")
    print(f"Ogg clip: {stored_duration} s at import, {decoded} s as Chromium decodes it")
    sent = []
    page.on("request", lambda r: r.method == "POST" and "/annotations/" in r.url and sent.append(r.post_data_json))
    drag(page, at(0.5), (wave["x"] + wave["width"] + 40, wave["y"] + wave["height"] / 2))  # past the right edge
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    for _ in range(3):
        page.keyboard.press("}")  # its end, further: it stays at the clip's end
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    assert page.locator("#answer-error").text_content() == ""
    # the page itself sends the clip's end as the server knows it (the server would clamp 50 ms past it)
    assert [body["value"]["segments"][0]["end"] for body in sent] == [stored_duration]
    (segment,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert segment["end"] <= stored_duration
    assert segment["end"] == pytest.approx(stored_duration, abs=0.002)
    assert segment["start"] == pytest.approx(stored_duration / 2, abs=0.1)
    assert not page.errors, page.errors


def test_a_recent_box_answer_reopened_after_a_rename_shows_and_saves_the_new_class(
    live_server, page, login, api, manager, labeler
):
    from labeling.services.taxonomy import taxonomy_apply

    require_browser()
    project = detection_project(manager, labeler)
    first = project.items.order_by("id").first()
    old = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "label": "iguana"}
    assert (
        api(labeler).post(f"/api/items/{first.pk}/annotations/", {"value": {"boxes": [old]}}, format="json").status_code
        == 201
    )
    taxonomy_apply(project=project, op="rename", payload={"key": "iguana", "new_key": "reptile", "new_name": "Reptile"})
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    open_recent(page)
    page.keyboard.press("Enter")  # edit the answer given before the rename
    page.wait_for_function(f"() => document.getElementById('item-label').textContent === 'item #{first.pk}'")
    page.keyboard.press("Tab")  # select its box: the summary names today's class
    assert "#1 Reptile" in page.locator("#answer-summary").text_content()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('edit-banner').hidden")
    assert page.locator("#answer-error").text_content() == ""
    stored = Annotation.objects.get(item=first, labeler=labeler)
    assert json.loads(stored.value) == {"boxes": [{**old, "label": "reptile"}]} and stored.revision == 2
    assert not page.errors, page.errors


def test_the_waveform_is_drawn_as_tall_as_its_box(live_server, page, login, manager, labeler):
    """Where words start and end is read off the waveform: on an 860-pixel window it is drawn over
    the box the page gives it (about a third of the window), not in a 96-pixel strip."""
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=3, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, tall (browser)")
    login(page, live_server, labeler)
    open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    drawn = page.wait_for_function(
        """() => {
          const root = document.querySelector('#waveform > div')?.shadowRoot;
          const canvases = root ? [...root.querySelectorAll('canvas')] : [];
          const heights = canvases.map((c) => c.getBoundingClientRect().height);
          return heights.length && Math.max(...heights);
        }"""
    ).json_value()
    box = page.locator("#waveform").bounding_box()["height"]
    assert box >= 200 and drawn >= box - 2, (drawn, box)


def test_labeler_makes_segments_with_the_keyboard_alone(live_server, page, login, manager, labeler):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=6, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, keyboard (browser)")
    login(page, live_server, labeler)
    item, _ = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("ArrowRight")  # seek to 2 s
    page.keyboard.press("[")  # the start at the playhead
    assert "start at 2.00 s" in page.locator("#undo-status").text_content()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")  # 4.5 s
    page.keyboard.press("]")  # the end: a speech segment (the first class), selected
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    page.keyboard.press("2")  # noise
    page.keyboard.press("Escape")  # none selected: [ and ] make the next one
    page.keyboard.press("Shift+ArrowRight")  # 5 s
    page.keyboard.press("[")
    page.keyboard.press("ArrowRight")  # past the end: the clip's end
    page.keyboard.press("]")
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    page.keyboard.press("Control+z")  # the keyboard's segment is one undo step, as a drawn one
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    first, second = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert (first["label"], first["start"], first["end"]) == (
        "noise",
        pytest.approx(2, abs=0.02),
        pytest.approx(4.5, abs=0.02),
    )
    assert (second["label"], second["start"], second["end"]) == (
        "noise",
        pytest.approx(5, abs=0.02),
        pytest.approx(6, abs=0.02),
    )
    assert not page.errors, page.errors


def status(page):
    return page.locator("#undo-status").text_content()


def crosshair_shown(page):
    return page.evaluate("() => document.querySelector('[data-testid=crosshair]').style.display !== 'none'")


def test_labeler_draws_boxes_with_the_keyboard_alone(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=2)
    item = open_detection_page(page, live_server, login, labeler, project)
    # An arrow press moves the crosshair 2 screen pixels in whole image pixels (at least one), Shift ten times.
    s = max(1, round(2 / (image_point(page).box["width"] / 400)))
    hint = page.locator("#image-tools").text_content()
    assert "or x, arrows and Enter at two corners" in hint

    page.keyboard.press("x")  # a crosshair at the middle of the image (400 x 300)
    assert crosshair_shown(page)
    assert status(page).startswith("Crosshair at 200, 150 of 400 × 300 px")
    for key in ["Shift+ArrowLeft"] * 10 + ["Shift+ArrowUp"] * 5 + ["ArrowRight"] * 3:
        page.keyboard.press(key)
    x0, y0 = 200 - 97 * s, 150 - 50 * s
    assert status(page) == f"Crosshair at {x0}, {y0}"
    page.keyboard.press("Enter")  # the first corner
    for key in ["Shift+ArrowRight"] * 8 + ["Shift+ArrowDown"] * 6 + ["ArrowLeft"] * 2:
        page.keyboard.press(key)
    x1, y1 = x0 + 78 * s, y0 + 60 * s
    assert status(page) == f"Box {x1 - x0} × {y1 - y0} px from {x0}, {y0}"
    page.keyboard.press("n")  # submitting now would drop the box being drawn: refused, said
    assert "A box is being drawn" in page.locator("#answer-error").text_content()
    page.keyboard.press("2")  # the class, while drawing: rock
    assert page.locator("#answer-summary").text_content() == "no boxes · drawing box 1: Rock"
    page.keyboard.press("Enter")  # the box is made, selected
    assert page.locator("#answer-summary").text_content() == "1 box · #1 Rock"
    assert status(page) == f"Drew box 1, Rock: {x1 - x0} × {y1 - y0} px at {x0}, {y0}"
    assert page.locator("#answer-error").text_content() == "" and not crosshair_shown(page)

    # The next box starts where the crosshair was; Tab moves the first corner again.
    page.keyboard.press("x")
    assert status(page).startswith(f"Crosshair at {x1}, {y1} ")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # no size: said, nothing made
    assert status(page).startswith("The box has no width or no height")
    for key in ["Shift+ArrowRight"] * 3 + ["Shift+ArrowDown"] * 2 + ["Tab"] + ["ArrowLeft"] * 5:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.keyboard.press("1")  # the new box is selected: iguana
    assert page.locator("#answer-summary").text_content() == "2 boxes · #2 Iguana"

    # Esc cancels a box begun; Ctrl+Z while drawing drops only that box; the keyboard's box is one undo step.
    page.keyboard.press("x")
    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Escape")
    assert status(page) == "Cancelled the new box" and not crosshair_shown(page)
    page.keyboard.press("x")
    page.keyboard.press("Control+z")
    assert status(page) == "Undid: the box being drawn" and page.locator(".box-layer rect.box").count() == 2
    page.keyboard.press("Control+z")
    assert status(page) == "Undid: set box 2 to Iguana"
    page.keyboard.press("Control+z")
    assert status(page) == "Undid: draw box 2" and page.locator(".box-layer rect.box").count() == 1
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    assert page.locator("#answer-summary").text_content() == "2 boxes · next: Iguana"

    # Tab selects a box and says where it is; b flags it.
    page.keyboard.press("Tab")
    assert status(page) == f"box 1 of 2, Rock: {x1 - x0} × {y1 - y0} px at {x0}, {y0}"
    page.keyboard.press("b")

    # Keys typed in the comment are text, not shortcuts.
    page.keyboard.press("c")
    page.keyboard.type("x marks 2 rocks")
    for key in ["ArrowLeft", "Shift+ArrowLeft", "End"]:
        page.keyboard.press(key)
    page.keyboard.press("Escape")
    assert page.locator("#comment").input_value() == "x marks 2 rocks" and not crosshair_shown(page)
    assert page.locator("#answer-summary").text_content() == "2 boxes · #1 Rock (borderline)"

    # The draft kept in the tab has the keyboard's boxes: a reload puts them back as they were.
    page.wait_for_timeout(300)
    page.reload()
    assert shown_item(page) == item
    page.wait_for_function("() => document.querySelectorAll('.box-layer rect.box').length === 2")
    assert "not sent yet, is back" in page.locator("#draft-note").text_content()
    page.keyboard.press("Enter")
    wait_answers(page, 1)

    # Stored as a drag between the same corners stores it: fractions of the image, rounded to a millionth.
    def fractions(left, top, right, bottom):
        return {
            "x": round(left / 400, 6),
            "y": round(top / 300, 6),
            "w": round((right - left) / 400, 6),
            "h": round((bottom - top) / 300, 6),
        }

    stored = Annotation.objects.get(item_id=item, labeler=labeler)
    a, b = json.loads(stored.value)["boxes"]
    assert a == {**fractions(x0, y0, x1, y1), "label": "rock", "borderline": True}
    assert b == {**fractions(x1 - 5 * s, y1, x1 + 30 * s, y1 + 20 * s), "label": "iguana"}
    assert stored.comment == "x marks 2 rocks"

    # The mouse still draws, and its box has the same fields.
    shown_item(page, previous=item)
    at = image_point(page)
    drag(page, at(0.1, 0.1), at(0.3, 0.4))
    page.keyboard.press("Enter")
    wait_answers(page, 2)
    (mouse,) = json.loads(Annotation.objects.exclude(item_id=item).get(labeler=labeler).value)["boxes"]
    assert list(mouse) == list(b)
    assert not page.errors, page.errors


def test_keyboard_boxes_zoomed_in_keep_the_crosshair_in_view_and_yield_to_a_class_on_x(
    live_server, page, login, manager, labeler
):
    require_browser()
    project = iguana_project(manager, "Iguanas, x is a class (browser)", rock_hotkey="x")
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="scene.png", load=lambda: png_bytes(0, 2000, 1500))])
    item = open_detection_page(page, live_server, login, labeler, project)
    assert "or Shift+X, arrows and Enter at two corners" in page.locator("#image-tools").text_content()
    page.keyboard.press("?")
    assert "Shift+Xa new box from the keyboard" in page.locator("#help-dialog").text_content()
    page.keyboard.press("Escape")
    page.keyboard.press("x")  # the class key: rock, for the next box
    for _ in range(7):
        page.keyboard.press("+")  # zoomed in: 1.25^7, the image far larger than the viewer
    scale = page.locator("#image").bounding_box()["width"] / 2000
    s = max(1, round(2 / scale))
    page.keyboard.press("Shift+X")  # the crosshair at the middle of the view: the image's, zoomed about it
    assert status(page).startswith("Crosshair at 1000, 750 of 2000 × 1500 px")
    page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Shift+ArrowRight")  # far past the viewer's edge: the view follows the crosshair
    page.keyboard.press("Shift+ArrowDown")
    viewer = page.locator("#image-viewer").bounding_box()
    line = page.locator("[data-testid=crosshair] line.line").nth(1).bounding_box()  # the vertical line
    assert viewer["x"] < line["x"] < viewer["x"] + viewer["width"]
    page.keyboard.press("Enter")
    assert page.locator("#answer-summary").text_content() == "1 box · #1 Rock"
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (box,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert box == {
        "x": 0.5,
        "y": 0.5,
        "w": round(400 * s / 2000, 6),
        "h": round(10 * s / 1500, 6),
        "label": "rock",
    }
    assert not page.errors, page.errors


def test_a_reload_mid_draw_puts_the_box_being_drawn_back(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=2)
    item = open_detection_page(page, live_server, login, labeler, project)
    s = max(1, round(2 / (image_point(page).box["width"] / 400)))  # image pixels per arrow press
    page.keyboard.press("x")  # a finished box from (200, 150) ...
    page.keyboard.press("Enter")
    for key in ["Shift+ArrowRight"] * 4 + ["Shift+ArrowDown"] * 3:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    x1, y1 = 200 + 40 * s, 150 + 30 * s
    page.keyboard.press("x")  # ... and a second one begun at its far corner, a rock, not finished
    for key in ["Shift+ArrowLeft"] * 2 + ["Enter", "2"] + ["Shift+ArrowDown"] * 2 + ["ArrowLeft"]:
        page.keyboard.press(key)
    x2, y2 = x1 - 20 * s, y1
    x3, y3 = x2 - s, y2 + 20 * s
    assert status(page) == f"Box {x2 - x3} × {y3 - y2} px from {x3}, {y2}"

    page.reload()  # an accidental reload: the finished box and the one being drawn are back
    assert shown_item(page) == item
    page.wait_for_function("() => document.querySelectorAll('.box-layer rect.box').length === 1")
    assert "with the box you were drawing: Enter makes it, Esc cancels it" in page.locator("#draft-note").text_content()
    assert status(page) == (
        f"The box you were drawing is back: first corner at {x2}, {y2}, crosshair at {x3}, {y3}; "
        "Enter makes it, Esc cancels it"
    )
    assert page.locator("#answer-summary").text_content() == "1 box · drawing box 2: Rock"
    page.wait_for_function("() => document.querySelector('[data-testid=crosshair]').style.display !== 'none'")
    page.keyboard.press("n")  # submitting is refused while it is drawn ...
    assert "A box is being drawn" in page.locator("#answer-error").text_content()
    page.keyboard.press("ArrowLeft")  # ... and it goes on from where it was
    page.keyboard.press("Enter")
    assert page.locator("#answer-summary").text_content() == "2 boxes · #2 Rock"
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    a, b = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert a == {"x": 0.5, "y": 0.5, "w": round(40 * s / 400, 6), "h": round(30 * s / 300, 6), "label": "iguana"}
    x3 -= s
    assert b == {
        "x": round(x3 / 400, 6),
        "y": round(y2 / 300, 6),
        "w": round((x2 - x3) / 400, 6),
        "h": round((y3 - y2) / 300, 6),
        "label": "rock",
    }

    # A box begun and cancelled leaves no draft: the next item's reload shows it fresh, crosshair hidden.
    shown_item(page, previous=item)
    page.keyboard.press("x")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    page.reload()
    shown_item(page)
    assert page.locator("#draft-note").text_content() == "" and not crosshair_shown(page)
    assert page.locator("#answer-summary").text_content().startswith("no boxes")
    assert not page.errors, page.errors


def active_corner(page):
    return page.evaluate(
        "() => [...document.querySelectorAll('.box-layer .handle.active')].map((h) => h.dataset.handle)"
    )


def test_labeler_resizes_a_box_from_any_corner_with_the_keyboard(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=2)
    item = open_detection_page(page, live_server, login, labeler, project)
    hint = page.locator("#image-tools").text_content()
    assert "Shift+arrows resize the selected box from the corner h chooses" in hint
    page.keyboard.press("?")
    help_text = page.locator("#help-dialog").text_content()
    assert "hthe corner of the selected box Shift+arrows move: bottom-right, bottom-left, top-left, top-right" in (
        help_text
    )
    page.keyboard.press("?")

    page.keyboard.press("h")  # nothing selected: said, nothing else
    assert status(page).startswith("No box is selected: Tab selects one")
    wait_still(page)  # the status line under the image has fitted it again
    at = image_point(page)
    step_x, step_y = 2 / at.box["width"], 2 / at.box["height"]  # a Shift+arrow moves an edge 2 screen pixels
    drag(page, at(0.3, 0.3), at(0.6, 0.7))  # selected once drawn
    assert active_corner(page) == ["se"]
    page.keyboard.press("Shift+ArrowRight")  # at first the right edge, as before
    assert status(page).startswith("Resized box 1 from its bottom-right corner: ")
    page.keyboard.press("h")
    assert status(page) == "box 1: Shift+arrows move its bottom-left corner (the left and bottom edges)"
    assert active_corner(page) == ["sw"]
    page.keyboard.press("h")
    assert status(page) == "box 1: Shift+arrows move its top-left corner (the left and top edges)"
    assert active_corner(page) == ["nw"]
    for key in ["Shift+ArrowLeft"] * 3 + ["Shift+ArrowUp"] * 4:  # the left and top edges out
        page.keyboard.press(key)
    assert status(page).startswith("Resized box 1 from its top-left corner: ")
    page.keyboard.press("Tab")  # the one box again: the corner stays chosen
    page.keyboard.press("Shift+ArrowDown")  # the top edge back in by one step
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (box,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    # The bottom and right edges stayed where the drag and the first Shift+arrow put them.
    expected = {"x": 0.3 - 3 * step_x, "y": 0.3 - 3 * step_y, "w": 0.3 + 4 * step_x, "h": 0.4 + 3 * step_y}
    for field, value in expected.items():
        assert box[field] == pytest.approx(value, abs=TOL / 4), (field, box, expected)
    assert box["x"] + box["w"] == pytest.approx(0.6 + step_x, abs=TOL / 4)
    assert box["y"] + box["h"] == pytest.approx(0.7, abs=TOL / 4)

    # The next item starts at the bottom-right corner again; the top-right one pulls the top edge down,
    # never past the bottom edge (the box keeps a screen pixel).
    shown_item(page, previous=item)
    drag(page, at(0.2, 0.2), at(0.4, 0.3))
    assert active_corner(page) == ["se"]
    for _ in range(3):
        page.keyboard.press("h")
    assert active_corner(page) == ["ne"]
    wait_still(page)  # the status line has come back under the image, fitted again
    drawn = page.evaluate(
        "() => Object.fromEntries(['x', 'y', 'width', 'height'].map((a) => "
        "[a, Number(document.querySelector('.box-layer rect.selected').getAttribute(a))]))"
    )
    step_x, step_y = 2 / image_point(page).box["width"], 2 / image_point(page).box["height"]
    for _ in range(30):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Enter")
    wait_answers(page, 2)
    (box,) = json.loads(Annotation.objects.exclude(item_id=item).get(labeler=labeler).value)["boxes"]
    assert box["x"] == pytest.approx(drawn["x"] / 400, abs=1e-6)  # the left edge never moved
    assert box["w"] == pytest.approx(drawn["width"] / 400 + step_x, abs=1e-5)
    bottom = (drawn["y"] + drawn["height"]) / 300
    assert box["y"] + box["h"] == pytest.approx(bottom, abs=1e-5)  # the bottom edge stayed
    assert 0 < box["h"] <= step_y  # the top edge stopped a screen pixel above it
    assert not page.errors, page.errors


def test_a_line_of_text_under_a_zoomed_image_keeps_its_zoom(live_server, page, login, manager, labeler):
    require_browser()
    project = detection_project(manager, labeler, n_items=1)
    open_detection_page(page, live_server, login, labeler, project)
    for key in ["+", "+", "+", "ArrowLeft"]:
        page.keyboard.press(key)
    assert page.locator("#zoom-level").text_content() == "195%"
    before = page.locator("#image").bounding_box()
    stage = page.locator("#image-viewer").bounding_box()["height"]
    page.keyboard.press("Enter")  # nothing drawn: an error line under the image, which gets shorter
    assert "Nothing is drawn" in page.locator("#answer-error").text_content()
    page.wait_for_function("(h) => document.getElementById('image-viewer').clientHeight < h - 1", arg=stage)
    wait_still(page)  # the viewer's ResizeObserver has run
    assert page.locator("#zoom-level").text_content() == "195%"
    assert page.locator("#image").bounding_box() == before  # the picture has not moved under the labeler
    page.keyboard.press("\\")  # fitted again, it fits the smaller viewer
    assert page.locator("#zoom-level").text_content() == "100%"
    assert page.locator("#image").bounding_box()["height"] <= page.locator("#image-viewer").bounding_box()["height"]
    assert not page.errors, page.errors


def stored(page):
    """This tab's sessionStorage as {key: parsed value}."""
    return {key: json.loads(value) for key, value in page.evaluate("() => ({...sessionStorage})").items()}


def test_a_reload_between_the_start_and_end_marks_keeps_the_start(live_server, page, login, manager, labeler):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=6, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, reload (browser)")
    login(page, live_server, labeler)
    item, _ = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("2")  # noise, for the next segment
    page.keyboard.press("ArrowRight")
    mark = page.evaluate("() => document.getElementById('audio').currentTime")
    assert mark > 0
    page.keyboard.press("[")  # a start marked, its end not yet: the tab keeps it
    (draft,) = [v for k, v in stored(page).items() if k == f"labelhub.draft.{project.pk}.{labeler.username}"]
    assert draft["item"] == item and draft["drawing"] == {"start": pytest.approx(mark), "label": "noise"}

    page.reload()  # an accidental reload between [ and ]
    assert shown_item(page) == item
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item)
    note = page.locator("#draft-note").text_content()
    assert f"with the start you marked at {mark:.2f} s: ] at the playhead ends the segment there" in note
    assert status(page).startswith(f"The start you marked is back: {mark:.2f} s")
    assert page.locator("#answer-summary").text_content() == "no segments · next: Noise"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    end = page.evaluate("() => document.getElementById('audio').currentTime")
    page.keyboard.press("]")  # ends the segment begun before the reload
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (segment,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert (segment["start"], segment["end"], segment["label"]) == (
        pytest.approx(mark, abs=0.002),
        pytest.approx(end, abs=0.002),
        "noise",
    )
    assert not page.errors, page.errors


def test_esc_forgets_a_start_marked_and_its_draft(live_server, page, login, manager, labeler):
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=4, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, esc (browser)")
    login(page, live_server, labeler)
    item, _ = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("[")
    assert f"labelhub.draft.{project.pk}.{labeler.username}" in stored(page)
    page.keyboard.press("Escape")
    assert status(page) == "Forgot the start marked"
    assert f"labelhub.draft.{project.pk}.{labeler.username}" not in stored(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("]")  # no start: no segment
    page.reload()
    assert shown_item(page) == item
    assert page.locator("#draft-note").text_content() == ""
    assert page.locator("#answer-summary").text_content().startswith("no segments")
    assert not page.errors, page.errors


def test_the_class_chosen_for_the_next_box_is_kept_through_a_reload(
    live_server, page, login, manager, labeler, labeler2
):
    require_browser()
    project = detection_project(manager, labeler, n_items=2)
    member_add(project=project, username=labeler2.username, role="labeler")
    item = open_detection_page(page, live_server, login, labeler, project)
    assert page.locator("#answer-summary").text_content() == "no boxes · next: Iguana"
    page.keyboard.press("2")  # rock, for the boxes to come; nothing drawn yet
    assert page.locator("#answer-summary").text_content() == "no boxes · next: Rock"
    kept = stored(page)
    assert kept[f"labelhub.next.{project.pk}.{labeler.username}"]["key"] == "rock"
    assert f"labelhub.draft.{project.pk}.{labeler.username}" not in kept  # no answer begun

    page.reload()
    assert shown_item(page) == item
    page.wait_for_function("() => document.querySelector('.box-layer g[transform]')")
    assert page.locator("#answer-summary").text_content() == "no boxes · next: Rock"
    assert page.locator("#draft-note").text_content() == ""
    at = image_point(page)
    drag(page, at(0.2, 0.2), at(0.5, 0.6))
    assert page.locator("#answer-summary").text_content() == "1 box · #1 Rock"
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (box,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert box["label"] == "rock"

    # It sticks across items, as before the reload: the next item, reloaded, draws rocks too.
    second = shown_item(page, previous=item)
    page.reload()
    assert shown_item(page) == second
    assert page.locator("#answer-summary").text_content() == "no boxes · next: Rock"

    # Another labeler signed in in this tab starts from the first class.
    page.goto(f"{live_server.url}/")
    with page.expect_navigation():
        page.locator("form[action='/logout/'] button").click()
    open_detection_page(page, live_server, login, labeler2, project)
    assert page.locator("#answer-summary").text_content() == "no boxes · next: Iguana"
    assert not any(key.endswith(f".{labeler.username}") for key in stored(page))
    assert not page.errors, page.errors


def test_submit_waits_while_a_segment_start_is_marked(live_server, page, login, manager, labeler):
    """A start marked with [ and not yet ended with ] is a segment begun: Enter sent the segments already
    made and dropped it unseen. Submitting waits, saying why, until ] ends it or Esc forgets it."""
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=6, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, start pending (browser)")
    login(page, live_server, labeler)
    item, at = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    drag(page, at(0.05), at(0.25))  # a first segment, about 0.3 to 1.5 s
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    page.keyboard.press("Escape")  # none selected: [ marks the next one's start
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # 4 s
    page.keyboard.press("[")
    page.keyboard.press("Enter")  # sending now would drop the start marked: refused, said
    assert "A segment's start is marked at 4.00 s" in page.locator("#answer-error").text_content()
    assert not Annotation.objects.filter(item_id=item).exists()
    page.keyboard.press("ArrowRight")  # 6 s, the clip's end
    page.keyboard.press("]")  # the segment is made: submit away
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    assert page.locator("#answer-error").text_content() == ""
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    segments = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert [(s["start"], s["end"]) for s in segments][1] == (pytest.approx(4, abs=0.02), pytest.approx(6, abs=0.02))
    assert not page.errors, page.errors


def test_a_box_is_drawn_inside_another_with_shift_drag_and_the_outer_box_stays(
    live_server, page, login, manager, labeler
):
    """A drag that starts on a box moves it; with Shift held it draws a new box there instead: a digit's box
    inside the box round two touching digits, or any box once one covers the whole image (a plain drag
    moved the outer box, and no box could be drawn with the mouse)."""
    require_browser()
    project = detection_project(manager, labeler, n_items=1)
    item = open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    drag(page, at(0.1, 0.1), at(0.9, 0.9))  # the outer box
    page.keyboard.down("Shift")
    drag(page, at(0.3, 0.3), at(0.5, 0.6))  # inside it
    page.keyboard.up("Shift")
    assert page.locator(".box-layer rect.box").count() == 2
    assert "2 boxes · #2" in page.locator("#answer-summary").text_content()
    assert "Shift" in page.locator("#image-tools").text_content()  # the hint says how

    page.keyboard.press("Enter")
    wait_answers(page, 1)
    outer, inner = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["boxes"]
    assert_box(outer, {"x": 0.1, "y": 0.1, "w": 0.8, "h": 0.8, "label": "iguana"})
    assert_box(inner, {"x": 0.3, "y": 0.3, "w": 0.2, "h": 0.3, "label": "iguana"})
    assert not page.errors, page.errors
