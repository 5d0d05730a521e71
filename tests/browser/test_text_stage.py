"""A text item is shown the way its length reads best (headless Chromium): a word or a short line large
in the middle of the stage, read at a glance; a passage in the reading column from its top."""

import pytest

from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_labeling_page import shown_item
from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSAGE = "The labeler reads this review from its first line. " * 12 + "\nA second paragraph follows."

LAYOUT = """() => {
  const box = document.getElementById('text-viewer');
  const stage = box.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(box);
  const text = range.getBoundingClientRect();
  return {
    size: parseFloat(getComputedStyle(box).fontSize),
    dx: Math.abs((text.left + text.right) / 2 - (stage.left + stage.right) / 2) / stage.width,
    dy: Math.abs((text.top + text.bottom) / 2 - (stage.top + stage.bottom) / 2) / stage.height,
    top: (text.top - stage.top) / stage.height,
  };
}"""


def test_a_word_is_large_in_the_middle_and_a_passage_starts_at_the_top(live_server, page, login, manager, labeler):
    require_browser()
    project = make_project(
        manager, name="Words", modality="text", classes=[{"key": k, "hotkey": str(i + 1)} for i, k in enumerate("ab")]
    )
    member_add(project=project, username=labeler.username, role="labeler")
    texts = {"a.txt": "trickled", "b.txt": PASSAGE}
    entries = [ImportEntry(name=name, load=lambda t=t: t.encode()) for name, t in texts.items()]
    assert len(items_import(project=project, entries=entries).imported) == 2
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    seen = {}
    item = shown_item(page)
    for _ in range(2):
        text = page.locator("#text-viewer").text_content()
        seen["word" if text == "trickled" else "passage"] = page.evaluate(LAYOUT)
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        if len(seen) < 2:
            item = shown_item(page, previous=item)
    word, passage = seen["word"], seen["passage"]
    assert word["size"] >= 28 and word["dx"] < 0.05 and word["dy"] < 0.05, word
    assert passage["size"] < 20 and passage["top"] < 0.1, passage


def test_the_progress_line_writes_thousands_with_separators(live_server, page, login, manager, labeler):
    """It read "0 / 1200" where the home page and the overview write 1,200."""
    from tests.labeling.queue_helpers import make_items

    require_browser()
    project = make_project(
        manager, name="Many words", modality="text", classes=[{"key": "a", "hotkey": "1"}, {"key": "b", "hotkey": "2"}]
    )
    member_add(project=project, username=labeler.username, role="labeler")
    make_items(project, 1200)
    login(page, live_server, labeler)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_function("() => document.getElementById('project-progress').textContent !== '–'")
    assert page.locator("#project-progress").text_content() == "0 / 1,200"
