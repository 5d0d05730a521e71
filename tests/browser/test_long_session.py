"""The labeling page over a long session, in headless Chromium: what a handful of answers never shows (requests
that pile up, storage that fills, the queue that runs dry and fills again)."""

import time

import pytest

from labeling.api import labeling as labeling_api
from labeling.services.projects import member_add
from tests.browser.test_labeling_page import digits_project, shown_item
from tests.browser.test_labeling_slips import until
from tests.browser.test_shape_labeling import wait_answers
from tests.conftest import make_project, require_browser, segments_project, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def words_project(manager, labeler, n_items):
    """A text project of ``n_items`` short texts and three classes (hotkeys 1-3)."""
    from labeling.services.imports import ImportEntry, items_import

    project = make_project(
        manager, name="Words", modality="text", classes=[{"key": k, "hotkey": str(i + 1)} for i, k in enumerate("abc")]
    )
    member_add(project=project, username=labeler.username, role="labeler")
    entries = [ImportEntry(name=f"w{i}.txt", load=lambda i=i: f"word number {i}".encode()) for i in range(n_items)]
    assert len(items_import(project=project, entries=entries).imported) == n_items
    return project


def watch_requests(page, matches):
    """Count the page's requests ``matches`` picks: answers {"sent": n, "open": n, "most_open": n}."""
    seen = {"sent": 0, "open": 0, "most_open": 0}

    def sent(request):
        if matches(request.url):
            seen["sent"] += 1
            seen["open"] += 1
            seen["most_open"] = max(seen["most_open"], seen["open"])

    def done(request):
        if matches(request.url):
            seen["open"] -= 1

    page.on("request", sent)
    page.on("requestfinished", done)
    page.on("requestfailed", done)
    return seen


def test_a_fast_labeler_on_a_slow_server_has_one_look_at_the_figures_on_its_way(
    live_server, page, login, manager, labeler, monkeypatch
):
    """The page asks for the project's figures every ten answers, and asks again when an answer was saved
    while they were counted. Each ask started a loop of its own that lived until a count crossed no answer:
    with a labeler quicker than the count (a large project's figures take a while), the loops piled up, one
    more every ten answers, each asking again after every answer: after 300 answers, 17 requests were open
    at once and every answer cost 17 counts of the project."""
    require_browser()
    n = 60
    project = words_project(manager, labeler, n + 2)
    counted = labeling_api.ProgressApi.get

    def slow_count(self, request, project_id):
        time.sleep(0.4)  # a large project's figures
        return counted(self, request, project_id)

    monkeypatch.setattr(labeling_api.ProgressApi, "get", slow_count)
    login(page, live_server, labeler)
    progress = watch_requests(page, lambda url: url.endswith("/progress/"))
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    for i in range(n):
        page.keyboard.press(str(1 + i % 3))
        page.keyboard.press("Enter")
        item = shown_item(page, previous=item)
    wait_answers(page, n)
    page.wait_for_function("() => document.getElementById('mine-today').textContent === '60'")
    assert progress["most_open"] == 1, progress  # one look at a time (it was 7 here, and growing)
    until_settled = time.monotonic() + 5
    while progress["open"] and time.monotonic() < until_settled:
        page.wait_for_timeout(100)
    assert progress["open"] == 0, progress  # none left asking again and again (6 were, answers done)
    assert not page.errors, page.errors


def test_items_that_arrive_after_the_queue_ran_dry_are_shown_without_a_reload(
    live_server, page, login, manager, labeler
):
    """The page said "Nothing is left" however many items were imported since: a labeler who waited on it
    for the next batch waited until they thought of reloading. The page now looks every minute while the
    labeler is at it (and on coming back to the tab), and shows the next item as soon as there is one."""
    from labeling.services.imports import ImportEntry, items_import

    require_browser()
    project = words_project(manager, labeler, 2)
    page.clock.install()  # the page's minutes pass at the test's word
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = None
    for _ in range(2):
        item = shown_item(page, previous=item)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
    message = page.locator("#stage-message")
    message.filter(has_text="Nothing is left").wait_for()
    page.clock.fast_forward(61_000)  # a minute with nothing new: still nothing
    page.wait_for_timeout(300)
    assert message.is_visible() and page.locator("#item-label").text_content() == ""
    # no item, no clock ticking on it and no summary of the last one's answer
    assert page.locator("#timer").is_hidden() and page.locator("#answer-summary").text_content() == ""

    entries = [ImportEntry(name=f"late{i}.txt", load=lambda i=i: f"late word {i}".encode()) for i in range(2)]
    late = items_import(project=project, entries=entries).imported
    page.clock.fast_forward(61_000)
    item = shown_item(page, previous=item)
    assert item in late and message.is_hidden() and page.locator("#timer").is_visible()
    assert page.locator("#saved-note").text_content() == f"New items arrived: item #{item} is shown."
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    item = shown_item(page, previous=item)
    assert item in late
    wait_answers(page, 3)

    # Its last answer runs the queue dry again; "Look now" asks at once.
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    message.filter(has_text="Nothing is left").wait_for()
    entries = [ImportEntry(name="later.txt", load=lambda: b"a later word")]
    (later,) = items_import(project=project, entries=entries).imported
    page.get_by_role("button", name="Look now").click()
    assert shown_item(page, previous=item) == later
    assert not page.errors, page.errors


FILL_STORAGE = """(user) => {
    // review drafts of another project, the biggest (and oldest) first, until the tab's storage is full
    let n = 0;
    for (let size = 100000; size >= 1; size = Math.floor(size / 2)) {
        const state = "x".repeat(size);
        try {
            for (;;) {
                const record = { item: n, user, saved: 1000 + n, state };
                sessionStorage.setItem(`labelhub.review.999.${n}.${user}`, JSON.stringify(record));
                n++;
            }
        } catch (error) {
            if (error.name !== "QuotaExceededError") throw error;
        }
    }
    return n;
}"""


def test_a_tab_whose_storage_is_full_still_keeps_the_answer_begun(live_server, page, login, manager, labeler):
    """A tab's sessionStorage holds about 5 million characters. Full (review drafts of dense scenes, up to 50 a
    project), it kept no draft of the labeling page's answer, silently: a reload lost it. The oldest drafts now
    make room for the one in hand."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=4)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    kept = page.evaluate(FILL_STORAGE, labeler.username)
    for key in ("b", "4", "9"):
        page.keyboard.press(key)
    page.keyboard.press("c")
    page.keyboard.type("two loops")
    page.reload()
    assert shown_item(page) == item
    assert (
        page.locator("#draft-note").text_content() == "Your answer to this item, not sent yet, is back as you left it."
    )
    assert page.locator("#answer-summary").text_content() == "Borderline between digit 4 and digit 9"
    assert page.locator("#comment").input_value() == "two loops"
    drafts = page.evaluate("() => Object.keys(sessionStorage).filter((key) => key.startsWith('labelhub.review.999.'))")
    assert len(drafts) == kept - 1  # the oldest one made room; the others are kept
    assert f"labelhub.review.999.0.{labeler.username}" not in drafts
    page.keyboard.press("Enter")
    shown_item(page, previous=item)
    assert not page.errors, page.errors


def test_a_browser_that_keeps_no_site_data_labels_on(live_server, page, login, manager, labeler):
    """A browser set to keep no site data refuses the page its storage (reading localStorage throws): the
    labeling page stopped at "Loading the next item…"."""
    require_browser()
    project, _ = digits_project(manager, [labeler], n_items=3)
    page.add_init_script(
        """for (const name of ["localStorage", "sessionStorage"]) {
            const refuse = () => { throw new DOMException("Access is denied", "SecurityError"); };
            Object.defineProperty(window, name, { get: refuse });
        }"""
    )
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.locator("#one-key").check()
    page.keyboard.press("4")
    shown_item(page, previous=item)
    wait_answers(page, 1)
    assert not page.errors, page.errors


@pytest.mark.parametrize("length_known", [True, False], ids=["length known", "length unknown"])
def test_the_audio_clips_of_items_answered_are_let_go(live_server, page, login, manager, labeler, length_known):
    """Wavesurfer fetches each clip as a blob and kept a handle on it for every clip it loaded while it waited
    for the clip's metadata: the browser held every clip of the session (0.9 MB more an item with 30 s clips,
    130 MB after 150 items). Given each clip's length, it waits for nothing and keeps only the clip shown; a
    clip whose length the server does not know (an item stored without it) is let go once loaded."""
    require_browser()
    n = 16
    clips = [(f"c{i}.wav", wav_bytes(seconds=0.5, freq=300 + 10 * i)) for i in range(n + 1)]
    project, items = segments_project(manager, labeler, "labeler", clips, name="Speech (long session)")
    if not length_known:
        for item in items:
            item.stats.pop("duration")
            item.save(update_fields=["stats"])
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    cdp = page.context.new_cdp_session(page)

    def blobs_alive():
        cdp.send("HeapProfiler.collectGarbage")
        prototype = cdp.send("Runtime.evaluate", {"expression": "Blob.prototype"})["result"]["objectId"]
        found = cdp.send("Runtime.queryObjects", {"prototypeObjectId": prototype})["objects"]["objectId"]
        count = cdp.send(
            "Runtime.callFunctionOn",
            {"objectId": found, "functionDeclaration": "function () { return this.length; }", "returnByValue": True},
        )
        return count["result"]["value"]

    item = None
    for _ in range(n):
        item = shown_item(page, previous=item)
        page.wait_for_function("(id) => document.getElementById('audio-viewer').dataset.ready === String(id)", arg=item)
        page.keyboard.press("Shift+N")  # nothing here
    shown_item(page, previous=item)
    wait_answers(page, n)
    assert blobs_alive() <= 2  # the clip shown (and the one before, while it is let go)
    assert not page.errors, page.errors


def test_a_clip_listened_to_for_minutes_keeps_its_hold(live_server, page, login, manager, labeler):
    """The queue holds the item shown for five minutes, and the page renews the hold while the labeler is at
    it, which it judged by keys and clicks alone: a labeler listening to a long recording without touching
    the keyboard lost the hold some eight minutes in, and the item could go to someone else."""
    from labeling.services.imports import ImportEntry, items_import

    require_browser()
    project = make_project(manager, name="Long recordings", modality="audio", task_type="transcription")
    member_add(project=project, username=labeler.username, role="labeler")
    items_import(project=project, entries=[ImportEntry(name="talk.wav", load=lambda: wav_bytes(seconds=30))])
    page.clock.install()  # the page's minutes pass at the test's word
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    asked = watch_requests(page, lambda url: "/next/" in url)
    page.locator("#transcript").press("Control+ ")  # play; the last key pressed
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0.2")
    page.clock.fast_forward(100_000)  # listening: the hold has more than 2.5 minutes left, nothing asked
    page.wait_for_function("() => !document.getElementById('audio').paused")
    page.wait_for_timeout(600)  # the clip plays on (the page hears it now, at the page's 100 s)
    assert asked["sent"] == 0
    page.clock.fast_forward(100_000)  # 200 s in: the hold is near its end, and the labeler still listens
    until(page, lambda: asked["sent"])
    assert asked["sent"] == 1  # the hold renewed
    assert page.locator("#item-label").text_content() == f"item #{item}"
    assert not page.errors, page.errors


def lapse_hold(labeler):
    """The labeler's hold ends now, as five minutes away from the page end it."""
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Reservation

    Reservation.objects.filter(labeler=labeler).update(expires=timezone.now() - timedelta(seconds=1))


def back_to_the_tab(page):
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_coming_back_after_the_hold_lapsed_holds_the_item_shown_again_while_it_is_free(
    live_server, page, login, manager, labeler, labeler2
):
    """A labeler away from the tab for more than five minutes came back to an item no longer theirs: the page
    renewed nothing (the queue alone would have handed out another item), and another labeler could take
    the slot while they answered. Coming back now holds the item shown again when it is still free."""
    from django.utils import timezone

    from labeling.models import Annotation, Item, Reservation
    from labeling.services.queue import annotation_submit

    require_browser()
    project, _ = digits_project(manager, [labeler, labeler2], n_items=3)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.keyboard.press("4")  # an answer begun, then the labeler leaves for a long meeting
    lapse_hold(labeler)
    other = Item.objects.filter(project=project).exclude(pk=item).first()
    annotation_submit(item=other, labeler=labeler2, value="7")  # the queue's first item now: one answer more

    back_to_the_tab(page)

    def held_again():
        hold = Reservation.objects.get(labeler=labeler)
        return hold.item_id == item and hold.expires > timezone.now()

    until(page, held_again)
    assert page.locator("#item-label").text_content() == f"item #{item}"
    assert page.locator("#answer-summary").text_content() == "digit 4"
    assert page.locator("#answer-error").text_content() == ""
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    assert list(Annotation.objects.filter(labeler=labeler).values_list("item_id", "value")) == [(item, "4")]
    assert not page.errors, page.errors


def test_coming_back_after_another_labeler_took_the_item_says_so_and_shows_the_next(
    live_server, page, login, manager, labeler, labeler2
):
    """Its hold lapsed, the item went to another labeler: the page kept showing it, and the labeler's answer
    was refused (409) once sent. Coming back now says what happened and shows the next item."""
    from labeling.models import Annotation, Item, Reservation
    from labeling.services.queue import annotation_submit

    require_browser()
    project, _ = digits_project(manager, [labeler, labeler2], n_items=3)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    item = shown_item(page)
    page.keyboard.press("4")
    lapse_hold(labeler)
    Item.objects.filter(pk=item).update(overlap=1)  # one answer fills it
    annotation_submit(item=Item.objects.get(pk=item), labeler=labeler2, value="7")

    back_to_the_tab(page)
    following = shown_item(page, previous=item)
    error = page.locator("#answer-error")
    assert error.text_content() == (
        f"While you were away, your hold on item #{item} lapsed and another labeler took it; the answer you had "
        f"begun on it was not sent. Item #{following} is shown instead."
    )
    assert page.get_by_role("alert").filter(has_text="another labeler took it").count() == 1
    assert page.locator("#answer-summary").text_content() == ""  # nothing of the lost answer carried over
    assert Reservation.objects.get(labeler=labeler).item_id == following
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_answers(page, 1)
    assert list(Annotation.objects.filter(labeler=labeler).values_list("item_id", "value")) == [(following, "2")]
    assert not page.errors, page.errors


def page_holds(page, cdp):
    """The page's DOM nodes and JS event listeners alive after a garbage collection, detached ones too: the
    least of three looks 0.2 s apart (a notice or a request's work in flight holds a few for a moment)."""
    looks = []
    for attempt in range(3):
        if attempt:
            page.wait_for_timeout(200)
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        looks.append((int(metrics["Nodes"]), int(metrics["JSEventListeners"])))
    return min(looks)


def test_the_transcripts_typed_are_let_go_once_sent(live_server, page, login, manager, labeler):
    """Chromium keeps what is typed in a text box in the page's undo history for as long as the box is on
    the page (up to 1,000 steps), each step with the text nodes it changed: emptying the box for the next
    item kept them all, two more DOM nodes each item, with their text (1,349 nodes after 300 transcripts
    against 764 after 10). The transcript and comment boxes typed in are now renewed for the next item."""
    from labeling.services.imports import ImportEntry, items_import

    require_browser()
    n = 40
    project = make_project(manager, name="Speech (long session)", modality="audio", task_type="transcription")
    member_add(project=project, username=labeler.username, role="labeler")
    clips = [
        ImportEntry(name=f"c{i}.wav", load=lambda i=i: wav_bytes(seconds=0.3, freq=300 + 10 * i)) for i in range(n + 1)
    ]
    assert len(items_import(project=project, entries=clips).imported) == n + 1
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    item, held = None, {}
    for i in range(1, n + 1):
        item = shown_item(page, previous=item)
        page.keyboard.type(f"the words of clip {i}")
        if i % 4 == 0:  # now and then a comment too
            page.keyboard.press("Escape")
            page.keyboard.press("c")
            page.keyboard.type("a door slams")
        page.keyboard.press("Enter")
        if i in (12, n):  # from 12: the list of my recent answers is full (10)
            shown_item(page, previous=item)
            held[i] = page_holds(page, cdp)
    wait_answers(page, n)
    (nodes_before, listeners_before), (nodes_after, listeners_after) = held[12], held[n]
    assert nodes_after - nodes_before < 10, held  # 28 items: some 70 nodes more before, none now
    assert listeners_after - listeners_before <= 3, held  # none added an item
    # the boxes still work as boxes: the new item's transcript is typed in, and undone (Chromium makes one
    # or more steps of a word typed), back to the empty box, never to an earlier item's words
    box = page.locator("#transcript")
    box.focus()
    page.keyboard.type("last")
    assert box.input_value() == "last"
    for _ in range(10):  # the renewed box's own steps only: never back to an earlier item's words
        page.keyboard.press("Control+z")
        if box.input_value() == "":
            break
    assert box.input_value() == ""
    page.keyboard.type("the last words")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type("late comment")
    page.keyboard.press("Enter")
    wait_answers(page, n + 1)
    from labeling.models import Annotation

    last = Annotation.objects.filter(labeler=labeler).order_by("-pk").first()
    assert (last.value, last.comment) == ("the last words", "late comment")
    assert not page.errors, page.errors
