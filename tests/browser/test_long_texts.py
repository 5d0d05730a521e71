"""A long text item (20,000 characters, or one unbroken token as long) keeps the pages around it usable,
and is shown with its own spaces and line breaks (headless Chromium)."""

import pytest

from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSAGE = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 400)[:20_000]
TOKEN = "x" * 20_000
LAID_OUT = "  a poem\n\tindented  twice\nend"


def _text_project(manager, texts):
    project = make_project(manager, name="Reviews", modality="text")
    entries = [ImportEntry(name=name, load=lambda t=t: t.encode()) for name, t in texts.items()]
    assert len(items_import(project=project, entries=entries).imported) == len(texts)
    return project, {i.original_name: i for i in Item.objects.filter(project=project)}


def test_the_answers_under_a_long_text_on_the_review_page_are_on_the_first_screen(
    live_server, page, login, manager, labeler, labeler2
):
    """A 20,000-character text filled 6,000 px of the review page: the labelers' answers the reviewer
    decides between were under all of it."""
    require_browser()
    project, items = _text_project(manager, {"long.txt": PASSAGE, "token.txt": TOKEN})
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role="labeler")
    for item in items.values():
        annotation_save(item=item, labeler=labeler, value="cat")
        annotation_save(item=item, labeler=labeler2, value="dog")
    login(page, live_server, manager)
    page.set_viewport_size({"width": 1280, "height": 800})
    for name in ("long.txt", "token.txt"):
        page.goto(f"{live_server.url}/projects/{project.pk}/review/{items[name].pk}/")
        answers = page.locator("#answers").bounding_box()
        assert answers["y"] + answers["height"] <= 800, (name, answers)
        # the whole text is still there, in a box that scrolls, and the page does not scroll sideways
        assert len(page.locator(".review-text").text_content()) == 20_000
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name


def test_the_review_page_shows_a_texts_own_spaces_and_line_breaks(live_server, page, login, manager, labeler):
    """The labeling page keeps a text's spaces, tabs and line breaks; the review page collapsed them (a
    leading indent, two spaces, a tab) into single spaces."""
    require_browser()
    project, items = _text_project(manager, {"poem.txt": LAID_OUT})
    member_add(project=project, username=labeler.username, role="labeler")
    annotation_save(item=items["poem.txt"], labeler=labeler, value="cat")
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/{items['poem.txt'].pk}/")
    assert page.locator(".review-text").inner_text() == LAID_OUT


def test_a_long_unbroken_text_stays_in_its_card_on_the_items_page(live_server, page, login, manager):
    """A 20,000-character token (a URL, a hash, base64) ran out of its card over the next one, and the
    items page scrolled sideways."""
    require_browser()
    project, items = _text_project(manager, {"token.txt": TOKEN, "short.txt": "a short one"})
    login(page, live_server, manager)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    card = page.locator(f'.item-card[data-item="{items["token.txt"].pk}"]')
    text = card.locator("blockquote").bounding_box()
    box = card.bounding_box()
    assert text["x"] + text["width"] <= box["x"] + box["width"], (text, box)


def test_the_maps_item_card_keeps_a_long_text_in_a_box_that_scrolls(live_server, page, login, manager):
    """The map's card of a selected item held the whole text: a 20,000-character one made the page 8,000 px
    tall (its answers under it), an unbroken one 178,000 px wide; its spaces and line breaks were collapsed."""
    from analysis.services.maps import map_create, map_job_run

    require_browser()
    texts = {f"t{i}.txt": f"word {i} of {i % 5}" for i in range(12)}
    project, items = _text_project(manager, {**texts, "long.txt": PASSAGE, "token.txt": TOKEN, "poem.txt": LAID_OUT})
    emap = map_create(project=project, embedder="text-tfidf", user=manager)
    map_job_run(job_id=emap.job_id)
    login(page, live_server, manager)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    for name in ("long.txt", "token.txt", "poem.txt"):
        page.evaluate(
            "(id) => { const m = window.labelhubMap; m.scatterplot.select([[...m.data.item].indexOf(id)]); }",
            items[name].pk,
        )
        page.wait_for_function(
            "(id) => document.getElementById('item-title').textContent.startsWith(`#${id} `)", arg=items[name].pk
        )
        shown = page.locator("#item-media blockquote")
        assert shown.text_content() == items[name].text
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name
        assert shown.bounding_box()["height"] <= 400, name
    assert shown.inner_text() == LAID_OUT


def test_on_a_phone_the_answer_buttons_follow_a_long_text_within_the_first_screen(live_server, page, login, manager):
    """Under 900 px the labeling page is one column as tall as what it holds: a 20,000-character text made
    the stage 15,000 px tall and put the class buttons below all of it."""
    require_browser()
    project, _ = _text_project(manager, {"long.txt": PASSAGE})
    login(page, live_server, manager)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_function("() => document.getElementById('text-viewer').textContent.length === 20000")
    buttons = page.locator(".class-button").first.bounding_box()
    assert buttons["y"] + buttons["height"] <= 844, buttons
    # the text scrolls in its box, from the keyboard too
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.getElementById('text-viewer').scrollTop > 0")
