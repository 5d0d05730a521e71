"""The labeling page in headless Chromium: keyboard-only image labeling, audio transcription, blindness."""

import json

import pytest

from labeling.demo import _digit_png
from labeling.models import Annotation, Reservation, Skip
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, require_browser, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def digits_project(manager, labelers, n_items=6):
    """A small copy of the demo's digits project: 10 classes (hotkeys 1-9, 0 for zero), every option."""
    from sklearn.datasets import load_digits

    project = make_project(
        manager,
        name="Digits (browser)",
        classes=[{"key": str(d), "name": f"digit {d}", "hotkey": str(d)} for d in [*range(1, 10), 0]],
        options={"borderline": True, "uncertain": True, "out_of_domain": True},
    )
    for user in labelers:
        member_add(project=project, username=user.username, role="labeler")
    guideline_publish(project=project, text="# Digits\n\nPress the digit's key; **b** for a borderline scan.")
    scans = load_digits().data[:n_items]
    entries = [
        ImportEntry(name=f"d{i}.png", load=lambda pixels=pixels: _digit_png(pixels)) for i, pixels in enumerate(scans)
    ]
    assert len(items_items := items_import(project=project, entries=entries).imported) == n_items
    return project, items_items


def shown_item(page, previous=None):
    """Wait for the page to show an item other than ``previous`` (and its image); answer its id."""
    page.wait_for_function(
        """(previous) => {
            const label = document.getElementById("item-label").textContent;
            const img = document.getElementById("image");
            return label.startsWith("item #") && label !== previous && (!img || (img.complete && img.naturalWidth));
        }""",
        arg=f"item #{previous}" if previous else "",
    )
    return int(page.locator("#item-label").text_content().removeprefix("item #"))


def open_recent(page, entries=None):
    """Press ``r`` and wait until the keyboard is on the newest of my recent answers (``entries`` of them)."""
    page.keyboard.press("r")
    page.wait_for_function(
        """(entries) => {
            const buttons = document.querySelectorAll("#recent-list button");
            const all = entries === null || buttons.length === entries;
            return buttons.length && all && document.activeElement === buttons[0];
        }""",
        arg=entries,
    )


def test_labeler_labels_five_digits_with_the_keyboard_and_keeps_progress_on_reload(
    live_server, page, login, manager, labeler
):
    require_browser()
    project, _ = digits_project(manager, [labeler])
    login(page, live_server, labeler)
    assert "Start labeling" in page.content()
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    answered, item = [], None
    for n, keys in enumerate([["3"], ["1", "b", "7"], ["0"], ["9"], ["5", "u"]]):
        item = shown_item(page, previous=item)
        for key in keys:
            page.keyboard.press(key)
        if n == 1:
            assert "Borderline between digit 1 and digit 7" in page.locator("#answer-summary").text_content()
        page.keyboard.press("Enter")
        answered.append(item)
        page.wait_for_function("(n) => document.getElementById('mine-total').textContent === String(n)", arg=n + 1)
    shown_item(page, previous=item)
    stored = {a.item_id: a for a in Annotation.objects.filter(labeler=labeler)}
    assert sorted(stored) == sorted(answered)
    borderline = stored[answered[1]]
    assert (borderline.value, borderline.borderline, borderline.borderline_with) == ("1", True, "7")
    assert stored[answered[2]].value == "0" and stored[answered[4]].uncertain
    assert all(a.guideline and a.guideline.version == 1 for a in stored.values())
    assert all(a.seconds is not None and a.seconds >= 0 for a in stored.values())

    page.reload()
    current = shown_item(page)
    assert current not in answered
    page.wait_for_function("() => document.getElementById('mine-today').textContent === '5'")
    assert page.locator("#mine-total").text_content() == "5"
    assert page.locator("#project-progress").text_content() == "0 / 6"
    open_recent(page, 5)  # my recent answers, newest first
    assert page.locator("#recent-list li").first.text_content().startswith(f"#{answered[-1]}")
    # each answer by its class's name, as the buttons and the saved note say it, not by its key
    recent = page.locator("#recent-list li").all_text_contents()
    assert recent[0] == f"#{answered[4]} · digit 5, uncertain"
    assert recent[3] == f"#{answered[1]} · digit 1 / digit 7 (borderline)"
    # Fix a slip from the keyboard: edit the newest answer to an 8, and come back to the queue's item.
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('item-label').textContent === 'item #{answered[-1]}'")
    page.keyboard.press("8")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('item-label').textContent === 'item #{current}'")
    edited = Annotation.objects.get(labeler=labeler, item_id=answered[-1])
    assert edited.value == "8" and edited.revision == 2
    # A revision is no new answer: my figures stay at five (every stored answer is a 201 now).
    assert page.locator("#mine-today").text_content() == "5"
    assert page.locator("#mine-total").text_content() == "5"
    assert not page.errors, page.errors


def test_image_view_zooms_and_adjusts_brightness_for_display_only(live_server, page, login, manager, labeler):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=1)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    for key in ["+", "+", "]", "]", "}", "ArrowLeft"]:
        page.keyboard.press(key)
    style = page.locator("#image").get_attribute("style")
    assert "brightness(1.2)" in style and "contrast(1.1)" in style and "scale(" in style
    assert page.locator("#zoom-level").text_content() == "156%"
    page.keyboard.press("\\")
    assert page.locator("#zoom-level").text_content() == "100%"
    assert "brightness(1)" in page.locator("#image").get_attribute("style")


def test_audio_clip_plays_and_receives_a_transcript(live_server, page, login, manager, labeler):
    require_browser()
    project = make_project(
        manager,
        name="Speech (browser)",
        modality="audio",
        task_type="transcription",
        options={"uncertain": True},
        transcription_conventions="- fillers: write `um`",
    )
    member_add(project=project, username=labeler.username, role="labeler")
    entries = [
        ImportEntry(name=f"q{i}.wav", load=lambda i=i: wav_bytes(seconds=3, freq=300 + 50 * i)) for i in range(2)
    ]
    items_import(project=project, entries=entries)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    assert "fillers: write" in page.locator(".conventions").text_content()
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'transcript'")
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    page.keyboard.press("Control+Space")  # play without leaving the transcript box
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0")
    page.keyboard.press("Control+Space")
    assert page.evaluate("document.getElementById('audio').paused")
    page.keyboard.type("um nearest gas station ")
    page.keyboard.press("Control+i")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('mine-total').textContent === '1'")
    answer = Annotation.objects.get(labeler=labeler, item_id=item)
    assert answer.value == "um nearest gas station [unintelligible]"
    assert not page.errors, page.errors


def test_second_labeler_never_sees_the_first_labelers_answer(live_server, new_page, login, manager, labeler, labeler2):
    require_browser()
    project, _ = digits_project(manager, [labeler, labeler2], n_items=3)
    marker = "only-the-first-labeler-wrote-this"
    first = login(new_page(), live_server, labeler)
    first.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(first)
    first.keyboard.press("c")
    first.keyboard.type(marker)
    first.keyboard.press("Escape")
    first.keyboard.press("4")
    first.keyboard.press("Enter")
    first.wait_for_function("() => document.getElementById('mine-total').textContent === '1'")
    assert Annotation.objects.get(labeler=labeler, item_id=item).comment == marker
    # The first labeler leaves (their hold on the next item ends), so the queue sends the second labeler
    # to the item closest to completion: the one the first labeler answered.
    Reservation.objects.filter(labeler=labeler).delete()

    second = new_page()
    bodies = []

    def keep(response):
        if "/api/" in response.url:
            try:
                bodies.append(response.text())
            except Exception:  # noqa: BLE001 - bodies of redirects and 204s are not available
                bodies.append("")

    second.on("response", keep)
    login(second, live_server, labeler2)
    second.goto(f"{live_server.url}/projects/{project.pk}/label/")
    assert shown_item(second) == item  # the item closest to completion: the one the first labeler answered
    second.keyboard.press("r")
    second.locator("#recent-list li.empty").wait_for()  # my recent answers (none yet) have arrived
    api = second.request.get(f"{live_server.url}/api/projects/{project.pk}/annotations/?labeler={labeler.username}")
    bodies.append(api.text())
    assert json.loads(api.text())["count"] == 0
    dom = second.content()
    for text in [dom, *bodies]:
        assert marker not in text and labeler.username not in text
    assert any('"id"' in body for body in bodies)  # the responses were captured


def test_skip_with_a_reason_from_the_keyboard(live_server, page, login, manager, labeler):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    first = shown_item(page)
    page.keyboard.press("s")
    page.keyboard.press("2")  # "I am not sure what the answer is"
    second = shown_item(page, previous=first)
    page.keyboard.press("s")
    page.keyboard.press("5")  # other: write a reason
    page.keyboard.type("scan cut off at the top")
    page.keyboard.press("Enter")
    shown_item(page, previous=second)
    reasons = dict(Skip.objects.filter(labeler=labeler).values_list("item_id", "reason"))
    assert reasons == {first: "I am not sure what the answer is", second: "scan cut off at the top"}
    assert not page.errors, page.errors


def test_the_key_help_opens_and_closes_with_the_question_mark(live_server, page, login, manager, labeler):
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=1)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    shown_item(page)
    page.keyboard.press("?")
    assert page.evaluate("document.getElementById('help-dialog').open")
    page.keyboard.press("?")  # closes it (it opened again at once: the page's own ? saw the key too)
    assert not page.evaluate("document.getElementById('help-dialog').open")
    page.keyboard.press("7")  # the keys are the page's again
    assert page.locator("#answer-summary").text_content() == "digit 7"
    assert not page.errors, page.errors


def test_a_drag_on_a_transcription_clips_waveform_loops_that_stretch_and_a_click_seeks(
    live_server, page, login, manager, labeler
):
    """The page says "drag on the waveform" makes a loop; the waveform took every drag as a seek, so no loop
    was ever made with the mouse. A loop spans the drag (not 5 px more), and playing stays inside it."""
    require_browser()
    project = make_project(manager, name="Long queries (browser)", modality="audio", task_type="transcription")
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="q.wav", load=lambda: wav_bytes(seconds=30, rate=8000))])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item)
    wave = page.locator("#waveform").bounding_box()
    y = wave["y"] + wave["height"] / 2

    def x(seconds):
        return wave["x"] + seconds / 30 * wave["width"]

    page.mouse.move(x(10), y)
    page.mouse.down()
    page.mouse.move(x(20), y, steps=10)
    page.mouse.up()
    loop = page.locator("#loop-state")
    assert loop.is_visible()
    start, end = (float(t.split(":")[1]) for t in loop.text_content().removeprefix("loop ").split("–"))
    px = 30 / wave["width"]  # seconds per pixel
    assert (start, end) == (pytest.approx(10, abs=max(0.1, 1.5 * px)), pytest.approx(20, abs=max(0.1, 1.5 * px)))
    assert page.evaluate("document.getElementById('audio').currentTime") < 1  # a drag is not a seek

    page.evaluate("document.getElementById('audio').currentTime = 19.5")
    page.keyboard.press("Control+Space")  # play: at the loop's end it goes back to its start
    page.wait_for_function(
        "() => { const a = document.getElementById('audio'); return a.currentTime > 10 && a.currentTime < 12; }"
    )
    page.keyboard.press("Control+Space")

    page.evaluate("document.getElementById('transcript').blur()")  # the player's keys, not the transcript's
    page.keyboard.press("\\")  # no loop
    assert not loop.is_visible()
    page.mouse.click(x(25), y)  # a click seeks
    page.wait_for_function("() => Math.abs(document.getElementById('audio').currentTime - 25) < 0.5")
    assert not loop.is_visible() and not page.errors, page.errors
