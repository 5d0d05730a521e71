"""The pages labelers and reviewers use for hours, as a keyboard-only or screen-reader user meets them: a focus
ring that can be seen, controls with names, saved answers that are said and not only shown, flags in words."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from labeling.models import Annotation, Item
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_analysis_pages import labeled_project
from tests.browser.test_labeling_page import digits_project, open_recent, shown_item
from tests.browser.test_shape_labeling import (
    detection_project,
    drag,
    image_point,
    open_clip,
    open_detection_page,
    wait_answers,
)
from tests.conftest import make_project, require_browser, segments_project, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def luminance(css):
    """The relative luminance (WCAG 2) of a computed CSS colour: ``rgb(...)`` or ``color(srgb ...)``."""
    if css.startswith("color(srgb"):
        channels = [float(v) for v in css[len("color(srgb") :].strip(" )").split()[:3]]
    else:
        channels = [int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one, other):
    high, low = sorted([luminance(one), luminance(other)], reverse=True)
    return (high + 0.05) / (low + 0.05)


# The focused element's outline colour and the background around it (the nearest opaque one of its parents).
FOCUS_RING = """() => {
    const focused = document.activeElement;
    let around = focused.parentElement;
    while (around && ["rgba(0, 0, 0, 0)", "transparent"].includes(getComputedStyle(around).backgroundColor)) {
        around = around.parentElement;
    }
    const style = getComputedStyle(focused);
    return {outline: style.outlineStyle, ring: style.outlineColor,
            background: around ? getComputedStyle(around).backgroundColor : "rgb(255, 255, 255)"};
}"""


def tab_to(page, selector, presses=60):
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def open_digits_labeling(live_server, page, login, manager, labeler):
    """The labeler on the labeling page of a two-item digits project, its first item shown."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=2)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    return project


def test_the_labeling_pages_focus_ring_stands_out_from_what_surrounds_it(live_server, page, login, manager, labeler):
    """WCAG 1.4.11: a focus indicator has at least 3:1 against the colours next to it. The labeling page's
    pale blue ring was 2.1:1 on its white cards: a low-vision labeler Tabbing to a class lost the focus."""
    open_digits_labeling(live_server, page, login, manager, labeler)
    page.evaluate("document.activeElement.blur()")
    for selector in [".topbar a", ".class-button", "#comment", "#submit"]:
        tab_to(page, selector)
        ring = page.evaluate(FOCUS_RING)
        assert ring["outline"] != "none", selector
        assert contrast(ring["ring"], ring["background"]) >= 3, (selector, ring)


def test_the_zoom_buttons_say_what_they_do(live_server, page, login, manager, labeler):
    """A screen reader named the image viewer's zoom buttons by their signs, "−" and "+"."""
    open_digits_labeling(live_server, page, login, manager, labeler)
    page.get_by_role("button", name="Zoom in", exact=True).click()
    assert page.locator("#zoom-level").text_content() == "125%"
    page.get_by_role("button", name="Zoom out", exact=True).click()
    assert page.locator("#zoom-level").text_content() == "100%"
    assert page.get_by_role("button", name=re.compile(r"^[−+]$")).count() == 0


def test_a_saved_answer_and_a_skip_are_said_in_a_status_region(live_server, page, login, manager, labeler):
    """The next item replaced the one answered without a word: a screen-reader labeler never heard that the
    answer was saved (the "Sending…" note is cleared as the next item comes)."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    # The region is there, empty, before it speaks: one that appears with its words is often not read out.
    assert page.get_by_role("status").and_(page.locator("#saved-note")).count() == 1
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    following = shown_item(page, previous=item)
    status = page.get_by_role("status").filter(has_text="Saved")
    assert status.text_content() == f"Saved your answer to item #{item}: digit 3."
    assert status.is_visible()
    page.keyboard.press("s")
    page.keyboard.press("1")  # the first reason
    shown_item(page, previous=following)
    assert page.get_by_role("status").filter(has_text="Skipped").text_content() == f"Skipped item #{following}."
    assert not page.errors


def test_the_review_queue_says_borderline_uncertain_and_out_of_domain_in_words(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """The queue marked flagged answers with ~ ? ∅ alone: unexplained on the screen, and read by a screen
    reader as punctuation, or not at all."""
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    disputed = Item.objects.get(pk=items[0])
    annotation_save(item=disputed, labeler=labeler, value="4", borderline=True, borderline_with="9", uncertain=True)
    annotation_save(item=disputed, labeler=labeler2, value="9", out_of_domain=True)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    answers = page.locator(f"#review-queue tr[data-item='{disputed.pk}'] td").nth(5)
    snapshot = answers.aria_snapshot()
    assert f"{labeler.username}: digit 4 borderline uncertain" in snapshot  # the class by its name
    assert f"{labeler2.username}: digit 9 out of domain" in snapshot
    assert "~" not in snapshot and "∅" not in snapshot
    assert "~ borderline · ? uncertain · ∅ out of domain" in page.locator("main").inner_text()


def open_disputed_item(live_server, page, login, manager, reviewer, labeler, labeler2):
    """The reviewer on the review page of an item two labelers answered 4 and 9."""
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    disputed = Item.objects.get(pk=items[0])
    annotation_save(item=disputed, labeler=labeler, value="4")
    annotation_save(item=disputed, labeler=labeler2, value="9")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{disputed.pk}/")


def test_the_reviewers_class_buttons_are_a_group_of_toggle_buttons(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """The final label's buttons sat in a "radiogroup" that held no radios: a screen reader announced a radio
    group whose arrows did nothing. They are a group of buttons that show which one is pressed."""
    open_disputed_item(live_server, page, login, manager, reviewer, labeler, labeler2)
    assert page.get_by_role("radiogroup").count() == 0
    group = page.get_by_role("group", name="Final label")
    page.keyboard.press("9")
    assert group.get_by_role("button", name="9 digit 9", pressed=True).count() == 1
    assert group.get_by_role("button", pressed=False).count() == 9


def test_each_box_says_its_class_in_words_not_by_colour_alone(live_server, page, login, manager, labeler):
    """A box's class was its colour alone: a labeler who tells red from green poorly had to Tab to every box
    to learn its class. Each box now carries its class's name, the same size at any zoom."""
    require_browser()
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    drag(page, at(0.1, 0.1), at(0.4, 0.4))
    page.keyboard.press("2")  # the selected box becomes a rock
    drag(page, at(0.5, 0.5), at(0.9, 0.9))
    page.keyboard.press("1")  # the second one an iguana
    tags = page.locator(".box-layer .box-tag")
    assert tags.all_text_contents() == ["Rock", "Iguana"]
    assert all(tag.is_visible() for tag in tags.all())
    height = tags.first.bounding_box()["height"]
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert tags.first.bounding_box()["height"] == pytest.approx(height, rel=0.1)  # the same size zoomed in
    page.keyboard.press("Tab")  # box 1
    page.keyboard.press("Delete")
    assert tags.all_text_contents() == ["Iguana"]
    # The drawing itself is no unnamed picture to a screen reader: the summary says the boxes in words.
    assert "img" not in page.locator("#stage").aria_snapshot().replace('img "the item to label"', "")
    assert not page.errors


# The text of every cell of the page's heatmaps, with its colour and the cell's background colour.
HEATMAP_CELLS = """() => [...document.querySelectorAll('.heatmap td')]
    .filter((td) => td.textContent.trim())
    .map((td) => {
        const style = getComputedStyle(td);
        return {text: td.textContent.trim(), colour: style.color, background: style.backgroundColor};
    })"""


def test_the_counts_in_the_confusion_heatmap_are_readable_on_its_darkest_red(
    live_server, page, login, manager, reviewer
):
    """The most confused pair's cell was so dark a red that its count was 3.9:1 against it (WCAG asks 4.5:1):
    the very number an SME looks for was the hardest to read at low vision."""
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    cells = [cell for cell in page.evaluate(HEATMAP_CELLS) if cell["background"] != "rgba(0, 0, 0, 0)"]
    assert cells
    for cell in cells:
        assert contrast(cell["colour"], cell["background"]) >= 4.5, cell


def test_with_boxes_drawn_tab_still_moves_on_from_a_focused_control(live_server, page, login, manager, labeler):
    """Once an item had a box, Tab cycled the boxes wherever the focus was: a keyboard-only labeler on the
    Submit button could never Tab on to the help, the guideline or the links. From a control, Tab moves on
    through the page; with no control focused it still selects the next box."""
    require_browser()
    project = detection_project(manager, labeler)
    open_detection_page(page, live_server, login, labeler, project)
    at = image_point(page)
    drag(page, at(0.1, 0.1), at(0.4, 0.4))
    drag(page, at(0.5, 0.5), at(0.9, 0.9))
    page.keyboard.press("Escape")  # no box selected, no control focused
    page.keyboard.press("Tab")
    assert page.locator("#undo-status").text_content().startswith("box 1 of 2")
    page.keyboard.press("c")  # the comment box, then on with Tab
    focused = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
    assert focused == ["submit", "nothing-button", "skip-button"]
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "nothing-button"
    assert page.locator("#undo-status").text_content().startswith("box 1 of 2")  # the selection stayed
    assert not page.errors


def test_the_labeling_page_starts_with_its_own_heading(live_server, page, login, manager, labeler):
    """A screen reader's list of headings began with the guideline's title, in the side panel: the page had
    no heading of its own, and jumping to the first heading skipped the item and the answer."""
    project = open_digits_labeling(live_server, page, login, manager, labeler)
    first = page.get_by_role("heading").first
    assert first.text_content() == f"Label {project.name}"
    assert first.evaluate("(h) => h.tagName") == "H1"
    assert first.evaluate("(h) => h.compareDocumentPosition(document.getElementById('stage'))") == 4  # before it


# Every change of text in a live region (aria-live other than "off", role status or alert) from now on.
SAID = """() => {
    window.said = [];
    const politeness = (node) => {
        const element = node.nodeType === 1 ? node : node.parentElement;
        const region = element?.closest('[aria-live], [role=status], [role=alert]');
        return !region ? 'off' : region.getAttribute('aria-live') || 'polite';
    };
    new MutationObserver((records) => records.forEach((r) => {
        if (politeness(r.target) !== 'off') window.said.push((r.target.textContent || '').trim());
    })).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def test_a_playing_clip_does_not_make_a_screen_reader_read_out_its_clock(live_server, page, login, manager, labeler):
    """The audio player's time sat in the stage, a live region: while a clip played, a screen reader said
    "0:00.3 / 0:03.0", "0:00.5 / 0:03.0"... over the very speech a labeler was transcribing."""
    require_browser()
    project = make_project(manager, name="Speech (browser)", modality="audio", task_type="transcription")
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=3))])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    page.evaluate(SAID)
    page.keyboard.press("Control+Space")  # play, from the transcript box
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1")
    page.keyboard.press("Control+Space")
    assert page.locator("#audio-time").text_content() != "0:00.0 / 0:03.0"  # the clock did run, on the screen
    assert not [text for text in page.evaluate("window.said") if re.search(r"\d:\d\d\.\d", text)]
    assert not page.errors


def test_a_link_on_the_labeling_page_is_followed_with_enter(live_server, page, login, manager, labeler):
    """Enter on the labeling page submitted the answer wherever the focus was, even on a link reached with
    Tab: a keyboard-only labeler could not open the guidelines page, or any link, from there."""
    project = open_digits_labeling(live_server, page, login, manager, labeler)
    page.evaluate("document.activeElement.blur()")
    tab_to(page, ".project-nav a[href$='/guidelines/']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/projects/{project.pk}/guidelines/")


def test_the_first_tab_offers_to_skip_the_top_bar(live_server, page, login, manager, reviewer, labeler, labeler2):
    """On a review page seventeen Tabs (the top bar's links) came before the item: a keyboard-only SME paid
    them on every item. The first Tab now shows a link past them, to the page itself."""
    open_disputed_item(live_server, page, login, manager, reviewer, labeler, labeler2)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    assert skip.evaluate("(link) => link === document.activeElement") and skip.is_visible()
    assert skip.bounding_box()["y"] >= 0  # on the screen, not parked above it
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert page.evaluate("document.activeElement.textContent") == "Disagreements"  # the review tabs, first
    assert "/review/" in page.url and not page.errors


def test_at_200_percent_zoom_the_item_is_no_strip(live_server, page, login, manager, labeler):
    """A low-vision labeler zooming a 1920 × 1080 screen to 200 % (a 960 × 540 page) got the picture to label
    in a strip 130 px high above its tools, where at 100 % it has 500: the page now scrolls instead."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=2)
    page.set_viewport_size({"width": 960, "height": 540})
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    viewer = page.locator("#image-viewer").bounding_box()
    assert viewer["height"] >= 200, viewer
    stage = page.locator("#stage").bounding_box()
    zoom_in = page.get_by_role("button", name="Zoom in").bounding_box()
    assert zoom_in["y"] + zoom_in["height"] <= stage["y"] + stage["height"]  # its tools are not cut off
    assert page.evaluate("document.documentElement.scrollWidth") == 960  # no sideways scrolling


def test_a_guideline_published_while_labeling_is_said_in_a_status_region_there_from_the_start(
    live_server, page, login, manager, labeler
):
    """The "guideline was updated" notice was made with its words already in it: a screen reader often says
    nothing of a region that appears that way, and the labeler went on under the old guideline."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)  # its guideline is v1
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    region = page.get_by_role("status").and_(page.locator("#guideline-updated"))
    assert region.count() == 1
    assert region.text_content() == "" and region.is_hidden()  # sighted labelers see nothing yet
    page.evaluate("document.getElementById('guideline-updated').dataset.fromTheStart = 'yes'")
    guideline_publish(project=project, text="# Digits\n\nA looped 9 is a 9, never a 4.", author=manager)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # back to the tab: the page asks
    page.wait_for_function("() => document.getElementById('guideline-updated').textContent !== ''")
    assert region.get_attribute("data-from-the-start") == "yes"  # the same region, now speaking
    assert "updated to v2 while you were labeling (this page shows v1)" in region.text_content()
    assert region.is_visible()
    assert not page.errors


def buttons_said(page):
    """The names of the buttons in Chromium's accessibility tree (what a screen reader is offered)."""
    nodes = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    return [
        node.get("name", {}).get("value", "")
        for node in nodes
        if not node.get("ignored") and node.get("role", {}).get("value") == "button"
    ]


def test_when_nothing_is_left_tab_skips_the_greyed_out_answer_controls(live_server, page, login, manager, labeler):
    """After "Nothing is left" the answer controls were greyed out but Tab still stopped on each of them (and a
    screen reader offered them): a keyboard labeler pressed a class that answered nothing."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=1)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('stage-message').textContent.startsWith('Nothing is left')")
    page.evaluate("document.activeElement.blur()")
    reached = []
    for _ in range(50):  # more than there are controls on the page: round it and back to the top
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.closest('#answer-form') ? document.activeElement.outerHTML : ''")
        )
    assert [html for html in reached if html] == []
    assert not [name for name in buttons_said(page) if name.startswith("Submit")]  # nor offered to a screen reader

    # Editing a recent answer brings an item back, and its controls with it.
    open_recent(page, entries=1)
    page.keyboard.press("Enter")
    page.locator("#edit-banner").wait_for()
    page.evaluate("document.activeElement.blur()")
    tab_to(page, ".class-button")
    tab_to(page, "#submit")
    assert [name for name in buttons_said(page) if name.startswith("Submit")]
    page.keyboard.press("Escape")  # back to the queue: nothing is left again
    page.locator("#edit-banner").wait_for(state="hidden")
    assert not [name for name in buttons_said(page) if name.startswith("Submit")]
    assert not page.errors


def test_the_agreement_over_time_values_can_be_read_without_hovering_the_chart(
    live_server, page, login, manager, reviewer
):
    """Each day's agreement was only in the tooltip of a dot of an image-role chart: a keyboard or
    screen-reader reviewer could not read a single value of it."""
    require_browser()
    project, ids = labeled_project(manager, reviewer)
    now = timezone.now()
    for days_ago, chunk in ((2, ids[:10]), (1, ids[10:20])):  # three days of answers
        Annotation.objects.filter(item_id__in=chunk).update(updated=now - dt.timedelta(days=days_ago))
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/agreement/")
    tooltips = page.locator("#over-time svg circle title").all_text_contents()
    assert len(tooltips) == 3
    page.evaluate("document.activeElement.blur()")
    tab_to(page, "#over-time summary")
    page.keyboard.press("Enter")
    table = page.get_by_role("table", name="Percent agreement per day")
    rows = table.locator("tbody tr")
    assert rows.first.is_visible()
    said = [
        f"{row.locator('th').inner_text()}: {row.locator('td').nth(0).inner_text()} "
        f"on {row.locator('td').nth(1).inner_text()} items"
        for row in rows.all()
    ]
    assert said == tooltips
    assert not page.errors


def test_the_dashboards_line_charts_values_can_be_read_without_hovering(live_server, page, login, manager, reviewer):
    """The weekly shares of uncertain and out-of-domain answers, and the planning curve, were only in the
    tooltips of an image-role chart's dots, out of reach of the keyboard and of a screen reader."""
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    tooltips = page.locator("#output-signal svg circle title").all_text_contents()
    assert tooltips
    page.evaluate("document.activeElement.blur()")
    tab_to(page, "#output-signal summary")
    page.keyboard.press("Enter")
    table = page.get_by_role("table", name="uncertain and out-of-domain answers per week")
    rows = table.locator("tbody tr").all()
    assert rows and rows[0].is_visible()
    columns = table.locator("thead th").all_inner_texts()[1:]
    assert columns == ["uncertain", "out of domain"]
    said = [
        f"{row.locator('th').inner_text()}: {row.locator('td').nth(j).inner_text()}"
        for j in range(len(columns))
        for row in rows
    ]
    assert said == tooltips  # the first series' dots, then the second's
    if page.locator("#versions-planning svg").count():
        tab_to(page, "#versions-planning summary")
        page.keyboard.press("Enter")
        assert page.get_by_role("table", name="labeled items reachable per day horizon").locator("tbody tr").count()
    assert not page.errors


FOCUSED_NAME = "() => document.activeElement.getAttribute('aria-label') || document.activeElement.tagName"


def test_after_each_answer_the_focus_is_on_the_next_item_and_shows(live_server, page, login, manager, labeler):
    """Each answer sent dropped the focus on the page's body: a screen reader said nothing of the next item,
    no ring showed where the keyboard was, and the next Tab started over at the top bar's links. The focus is
    now on the item shown (the region named "Item"), ringed, and the page's keys still work from there."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=4)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    item = shown_item(page, previous=item)
    assert page.evaluate(FOCUSED_NAME) == "Item"
    ring = page.evaluate(FOCUS_RING)
    assert ring["outline"] != "none"
    assert contrast(ring["ring"], ring["background"]) >= 3, ring
    page.keyboard.press("Tab")  # on into the item's own controls, not back to the top of the page
    assert page.evaluate("document.activeElement.closest('#lab') !== null")
    # A Submit button reached with Tab and pressed puts the focus on the next item too.
    page.keyboard.press("4")
    tab_to(page, "#submit")
    page.keyboard.press("Enter")
    item = shown_item(page, previous=item)
    assert page.evaluate(FOCUSED_NAME) == "Item"
    page.keyboard.press("5")  # the keys answer the item from there
    page.keyboard.press("Enter")
    shown_item(page, previous=item)
    assert [a.value for a in Annotation.objects.filter(labeler=labeler).order_by("pk")] == ["3", "4", "5"]
    assert not page.errors


def test_a_segment_is_moved_whole_with_the_keyboard(live_server, page, login, manager, labeler):
    """The keyboard moved a segment's start ([ ]) and its end ({ }) but never the segment itself: a labeler
    without a mouse moved a well-sized segment by shifting each edge in turn, twice the presses, and its
    length changed on the way. ( and ) now move the selected segment, its length kept, within the clip."""
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=6, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, moved (browser)")
    login(page, live_server, labeler)
    item, _ = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("ArrowRight")  # 2 s
    page.keyboard.press("[")
    page.keyboard.press("ArrowRight")  # 4 s
    page.keyboard.press("]")  # a segment of 2 s - 4 s, selected
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    for _ in range(4):
        page.keyboard.press(")")  # 0.2 s later
    page.keyboard.press("(")  # 0.05 s back
    page.keyboard.press("?")
    assert "move the selected segment" in page.locator("#help-dialog").inner_text()
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (segment,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert (segment["start"], segment["end"]) == (pytest.approx(2.15, abs=0.02), pytest.approx(4.15, abs=0.02))
    assert not page.errors, page.errors


def test_a_segment_moved_with_the_keyboard_stops_at_the_clips_end_and_is_one_undo(
    live_server, page, login, manager, labeler
):
    """Moved past the clip's end, the segment stops there with its length; a run of presses is undone at once."""
    require_browser()
    clips = [("q.wav", wav_bytes(seconds=3, freq=300))]
    project, _ = segments_project(manager, labeler, "labeler", clips, name="Speech regions, to the end (browser)")
    login(page, live_server, labeler)
    item, _ = open_clip(page, live_server, project)
    page.wait_for_function("() => document.getElementById('audio').duration > 0")
    page.keyboard.press("[")  # 0 s
    page.keyboard.press("ArrowRight")  # 2 s
    page.keyboard.press("]")
    page.wait_for_function("() => document.getElementById('answer-summary').textContent.startsWith('1 segment')")
    for _ in range(30):  # 1.5 s later, asked: 1 s is all there is
        page.keyboard.press(")")
    page.keyboard.press("Control+z")
    assert page.locator("#undo-status").text_content().startswith("Undid: move segment 1")
    page.keyboard.press("Control+Shift+z")  # the whole run again, not its last press
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    (segment,) = json.loads(Annotation.objects.get(item_id=item, labeler=labeler).value)["segments"]
    assert (segment["start"], segment["end"]) == (pytest.approx(1, abs=0.02), pytest.approx(3, abs=0.02))
    assert not page.errors, page.errors


def test_a_focused_checkbox_takes_space_and_a_focused_slider_its_arrows(live_server, page, login, manager, labeler):
    """Space and the arrows were the page's wherever the focus was: on a clip's page a keyboard labeler who
    Tabbed to "Answer with the class key alone" and pressed Space played the clip, and the box stayed
    unticked (Enter submits: there was no other key for it); on an image the arrows on the focused
    Brightness slider panned the image and the slider stayed put. A focused control now keeps its own keys."""
    require_browser()
    project = make_project(
        manager,
        name="Birdsong (browser)",
        modality="audio",
        classes=[{"key": "bird", "hotkey": "1"}, {"key": "none", "hotkey": "2"}],
    )
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=2, freq=520))])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    tab_to(page, "#one-key")
    page.keyboard.press("Space")
    assert page.get_by_role("checkbox", name="Answer with the class key alone").is_checked()
    assert page.evaluate("document.getElementById('audio').paused")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Space")  # with no control focused, Space is still play
    page.wait_for_function("() => !document.getElementById('audio').paused")
    assert not page.errors

    digits, _ = digits_project(manager, [labeler], n_items=1)
    page.goto(f"{live_server.url}/projects/{digits.pk}/label/")
    shown_item(page)
    page.keyboard.press("+")  # zoomed in: the arrows pan
    image = page.evaluate("document.getElementById('image').style.transform")
    tab_to(page, "#brightness")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("slider", name="Brightness").input_value() == "1.1"
    assert page.evaluate("document.getElementById('image').style.transform") == image  # not panned
    page.keyboard.press("Escape")  # back to the page's keys (the answer kept)
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.getElementById('image').style.transform") != image
    assert not page.errors


def test_the_transcript_box_is_named_transcript_and_its_keys_are_its_description(
    live_server, page, login, manager, labeler
):
    """The transcript box's name was its label with every key hint in it ("Transcript Enter submits · Shift+Enter
    new line · Ctrl+Space play/pause · …"): a screen reader read all of it as the box took the focus, item after
    item. Its name is "Transcript"; the hints are its description, there to be asked for."""
    require_browser()
    project = make_project(
        manager,
        name="Speech, named (browser)",
        modality="audio",
        task_type="transcription",
        options={"out_of_domain": True},
    )
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=2, freq=610))])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    box = page.get_by_role("textbox", name="Transcript", exact=True)
    assert box.evaluate("(box) => box === document.activeElement")  # the keyboard is in it, ready to type
    hints = box.evaluate("(box) => document.getElementById(box.getAttribute('aria-describedby')).textContent")
    assert "Enter submits" in hints and "Ctrl+Space play/pause" in hints
    page.keyboard.type("so")  # s (skip) and o (out of domain) are letters here, not the page's keys
    assert box.input_value() == "so"
    assert not page.locator("#skip-dialog").is_visible()
    assert (
        page.locator("#toggle-ood").count() == 0 or page.locator("#toggle-ood").get_attribute("aria-pressed") == "false"
    )
    assert not page.errors


def test_a_recorded_decision_is_said_on_the_page_that_follows(
    live_server, page, login, manager, reviewer, labeler, labeler2
):
    """ "Decision recorded." was written into the review page's status region just before the page moved to the
    next item: the region went with the page, and a screen-reader SME never heard that the decision was kept."""
    require_browser()
    project, items = digits_project(manager, [labeler, labeler2], n_items=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    for item in Item.objects.filter(pk__in=items):
        annotation_save(item=item, labeler=labeler, value="4")
        annotation_save(item=item, labeler=labeler2, value="9")
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # open the first disputed item
    for _ in range(2):
        decided = page.locator("#review").get_attribute("data-item")
        page.keyboard.press("9")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        # The next item's page, or the queue after the last: its region says what was kept.
        status = page.get_by_role("status").filter(has_text="Decision recorded")
        status.wait_for()
        assert status.text_content() == f"Decision recorded on item #{decided}."
    assert page.locator("#review-queue").count() == 1  # the last one was followed by the queue
    assert not page.errors
