"""The labeling page on a phone and a tablet: a touch screen and no keyboard (Chromium's touch emulation, the
fingers' touches sent as the screen sends them). Every edit a key makes has a tap or a drag too."""

import json
import time

import pytest

from labeling.models import Annotation
from tests.browser.test_labeling_page import digits_project, shown_item
from tests.browser.test_shape_labeling import (
    detection_project,
    open_clip,
    open_detection_page,
    wait_answers,
    wait_still,
)
from tests.conftest import require_browser, segments_project, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "has_touch": True,
    "is_mobile": True,
}
TABLET = {**PHONE, "viewport": {"width": 820, "height": 1180}, "device_scale_factor": 2}


class Fingers:
    """Touches sent through the DevTools protocol, as a touch screen sends them: pointer events of type touch."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)

    def send(self, kind, points):
        touches = [{"x": x, "y": y, "id": i, "radiusX": 5, "radiusY": 5, "force": 1} for i, (x, y) in points]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touches})

    def drag(self, start, end, steps=8, hold=0.0):
        """One finger from ``start`` to ``end`` at a finger's pace; ``hold``: seconds it rests before moving
        (wavesurfer waits 100 ms on a touch screen before a drag counts, so that a finger scrolling the page
        draws nothing). Chromium takes a drag of a few milliseconds for a fling, and swallows a tap that
        follows it within half a second: no finger is that fast."""
        self.send("touchStart", [(0, start)])
        time.sleep(hold)
        for k in range(1, steps + 1):
            f = k / steps
            self.send("touchMove", [(0, (start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f))])
            time.sleep(0.03)
        self.send("touchEnd", [])
        time.sleep(0.6)  # the finger lifts and goes to the next thing it touches

    def pinch(self, centre, apart, to_apart, steps=8):
        """Two fingers round ``centre`` spread from ``apart`` to ``to_apart`` px (diagonally). The first
        lands and moves a little before the second, as fingers do."""
        cx, cy = centre
        a = (cx - apart / 2, cy - apart / 2)
        self.send("touchStart", [(0, a)])
        a = (a[0] - 6, a[1] - 6)
        self.send("touchMove", [(0, a)])
        self.send("touchStart", [(0, a), (1, (cx + apart / 2, cy + apart / 2))])
        for k in range(1, steps + 1):
            half = (apart + (to_apart - apart) * k / steps) / 2
            self.send("touchMove", [(0, (cx - half, cy - half)), (1, (cx + half, cy + half))])
            time.sleep(0.03)
        self.send("touchEnd", [(0, (cx - to_apart / 2, cy - to_apart / 2))])
        self.send("touchEnd", [])
        time.sleep(0.6)


def image_at(page):
    box = page.locator("#image").bounding_box()
    return lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def boxes_drawn(page):
    return page.locator(".box-layer .box").count()


def stored(project, labeler):
    return json.loads(Annotation.objects.get(item__project=project, labeler=labeler).value)


def test_the_image_to_box_is_as_wide_as_the_phone(live_server, new_page, login, manager, labeler):
    """The tools under the image (zoom, brightness, contrast, the hints) took the stage's height: on a 390 px
    phone the labeler drew boxes on an image 146 px tall, with 230 px of the screen's width unused."""
    require_browser()
    page = new_page(**PHONE)
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    wait_still(page)
    image = page.locator("#image").bounding_box()
    assert image["width"] >= 300, image  # 400 × 300 px: as wide as the viewer, less its margins


def test_a_finger_a_little_off_a_corner_resizes_the_box(live_server, new_page, login, manager, labeler):
    """A handle is 9 px: a finger that lands 8 px off the corner it aims at drew a second box over it."""
    require_browser()
    page = new_page(**PHONE)
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    page.locator("#image-viewer").scroll_into_view_if_needed()
    wait_still(page)
    at = image_at(page)
    fingers = Fingers(page)
    fingers.drag(at(0.2, 0.2), at(0.5, 0.5))
    assert boxes_drawn(page) == 1
    corner = page.locator(".handle-se").bounding_box()
    x, y = corner["x"] + corner["width"] / 2 + 8, corner["y"] + corner["height"] / 2 + 8  # outside the box
    fingers.drag((x, y), at(0.7, 0.8))
    assert boxes_drawn(page) == 1
    page.tap("#submit")
    wait_answers(page, 1)
    [box] = stored(project, labeler)["boxes"]
    assert box["x"] == pytest.approx(0.2, abs=0.02) and box["y"] == pytest.approx(0.2, abs=0.02)
    assert box["x"] + box["w"] == pytest.approx(0.7, abs=0.03) and box["y"] + box["h"] == pytest.approx(0.8, abs=0.03)


def test_a_tap_deletes_the_selected_box_and_undoes(live_server, new_page, login, manager, labeler):
    """Only the Delete key removed a box, and only Ctrl+Z undid: on a phone a box drawn wrong stayed."""
    require_browser()
    page = new_page(**PHONE)
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    page.locator("#image-viewer").scroll_into_view_if_needed()
    wait_still(page)
    at = image_at(page)
    fingers = Fingers(page)
    fingers.drag(at(0.1, 0.1), at(0.3, 0.3))
    fingers.drag(at(0.6, 0.6), at(0.9, 0.9))
    assert boxes_drawn(page) == 2
    page.tap("#delete-shape")
    assert boxes_drawn(page) == 1
    assert page.locator("#delete-shape").is_disabled()  # nothing selected now
    page.tap("#undo-shape")
    assert boxes_drawn(page) == 2
    page.tap("#delete-shape")  # the box undone comes back selected
    page.tap("#submit")
    wait_answers(page, 1)
    [box] = stored(project, labeler)["boxes"]
    assert box["x"] == pytest.approx(0.1, abs=0.02) and box["w"] == pytest.approx(0.2, abs=0.03)


def test_a_tap_deletes_the_selected_segment(live_server, new_page, login, manager, labeler):
    require_browser()
    page = new_page(**TABLET)
    clips = [("talk.wav", wav_bytes(seconds=4.0))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech (touch)")
    login(page, live_server, labeler)
    _, at = open_clip(page, live_server, project)
    fingers = Fingers(page)
    fingers.drag(at(0.1), at(0.3), hold=0.15)
    fingers.drag(at(0.6), at(0.8), hold=0.15)
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('2 segments')")
    page.tap("#delete-shape")
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment ')")
    page.tap("#submit")
    wait_answers(page, 1)
    [segment] = stored(project, labeler)["segments"]
    assert segment["start"] == pytest.approx(0.4, abs=0.1) and segment["end"] == pytest.approx(1.2, abs=0.1)


@pytest.mark.parametrize("device", [PHONE, TABLET], ids=["phone", "tablet"])
def test_two_fingers_zoom_the_image_and_draw_no_box(live_server, new_page, login, manager, labeler, device):
    """A pinch drew boxes (each finger began one; one was left 8 px wide) and never zoomed: the image's own
    pinch is off (touch-action: none) so that a finger draws. Two fingers now zoom and pan."""
    require_browser()
    page = new_page(**device)
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    page.locator("#image-viewer").scroll_into_view_if_needed()
    wait_still(page)
    at = image_at(page)
    fingers = Fingers(page)
    fingers.pinch(at(0.5, 0.5), 40, 160)
    assert boxes_drawn(page) == 0
    assert page.locator("#zoom-level").text_content() not in ("100%", "")
    zoomed = int(page.locator("#zoom-level").text_content().rstrip("%"))
    assert zoomed >= 200, zoomed
    # Zoomed in, a finger still draws, in the image's own pixels.
    at = image_at(page)
    fingers.drag(at(0.45, 0.45), at(0.55, 0.55))
    page.tap("#submit")
    wait_answers(page, 1)
    [box] = stored(project, labeler)["boxes"]
    assert box["x"] == pytest.approx(0.45, abs=0.01) and box["w"] == pytest.approx(0.1, abs=0.01)


def test_an_answer_reopened_from_the_list_is_left_with_a_tap(live_server, new_page, login, manager, labeler):
    """Only Esc went back to the queue from an answer reopened to look at it: with no keyboard, the labeler
    had to save it again (or reload) to go on."""
    require_browser()
    page = new_page(**PHONE)
    project, _ = digits_project(manager, [labeler])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    first = shown_item(page)
    page.tap(".class-button[data-key='3']")
    page.tap("#submit")
    second = shown_item(page, previous=first)
    page.tap(".class-button[data-key='5']")  # an answer begun on the next item
    page.tap("#tab-recent")
    page.locator("#recent-list button").first.tap()
    page.wait_for_function("(id) => document.getElementById('item-label').textContent === `item #${id}`", arg=first)
    assert page.locator("#edit-banner").is_visible()
    page.tap("#edit-back")
    assert shown_item(page) == second
    assert page.locator("#edit-banner").is_hidden()
    assert page.locator(".class-button[aria-pressed=true]").get_attribute("data-key") == "5"
    assert Annotation.objects.get(item_id=first, labeler=labeler).revision == 1  # not saved again
