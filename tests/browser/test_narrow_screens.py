"""On a phone-width screen (390 px) the pages do not scroll sideways: wide tables scroll inside their own
box, and the two-column cards stack. The home table was 874 px wide, with the "Start labeling" button off
screen."""

import pytest

from analysis.models import EmbeddingMap
from labeling.choices import Role
from labeling.models import Item, Job
from labeling.services.annotations import annotation_save
from labeling.services.invitations import invitation_create
from tests.browser.test_analysis_pages import labeled_project
from tests.conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = (
    "/",
    "/projects/{pk}/",
    "/projects/{pk}/members/",
    "/projects/{pk}/versions/",
    "/projects/{pk}/agreement/",
    "/projects/{pk}/inventory/",
    "/projects/{pk}/webhooks/",
    "/projects/{pk}/review/",
    "/projects/{pk}/settings/",
)


def test_pages_fit_a_phone_screen(live_server, new_page, login, manager, reviewer):
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    invitation_create(
        project=project, email="new.person@example.com", role="labeler", invited_by=manager, link_for=lambda t: t
    )
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, manager)
    wide = {}
    for path in PAGES:
        url = live_server.url + path.format(pk=project.pk)
        assert page.goto(url).status == 200, url
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            wide[path] = overflow
    assert wide == {}, f"pages wider than the screen, by px: {wide}"


def test_the_settings_page_shows_the_whole_name_and_description(live_server, new_page, login, manager, reviewer):
    """The name box was 20 characters wide: "Handwritten digits (demo)" read "Handwritten digits (demo"."""
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    project.name = "Handwritten digits (demo) — second batch"
    project.description = "1,797 real handwritten digit scans (UCI, bundled with scikit-learn), upscaled to 64x64 PNG."
    project.save(update_fields=["name", "description"])
    page = new_page()
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    for selector in ("#settings-form input[name=name]", "#settings-form textarea[name=description]"):
        box = page.locator(selector)
        cut = box.evaluate("(el) => [el.scrollWidth - el.clientWidth, el.scrollHeight - el.clientHeight]")
        assert cut[0] <= 0 and cut[1] <= 0, (selector, cut)


def test_the_review_queue_with_flagged_answers_fits_a_phone_screen(live_server, new_page, login, manager, reviewer):
    """A flagged answer's spoken word ("uncertain", "out of domain") is a visually hidden span, absolutely
    placed: in the queue's table, which scrolls inside its own box on a phone, it was placed against the page
    instead and the page scrolled sideways by 101 px (the demo's digits queue)."""
    require_browser()
    project, ids = labeled_project(manager, reviewer)
    project.allow_uncertain = True
    project.save(update_fields=["allow_uncertain"])
    rater = project.memberships.filter(role=Role.LABELER).first().user
    for item_id in ids:
        annotation_save(item=Item.objects.get(pk=item_id), labeler=rater, value="cat", uncertain=True, seconds=2.0)
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, reviewer)
    assert page.goto(f"{live_server.url}/projects/{project.pk}/review/").status == 200
    assert page.locator("#review-queue .visually-hidden").count() > 0
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0


# The texts a field cuts short. A select: its choices, when it is narrower than the same select as wide as
# they ask (a copy beside it, out of the flow). A text box: its value or placeholder against the room inside
# it, less the 20 px of the button of its suggestions.
FIELD_TEXT_CUT = """(el) => {
    if (el.tagName === 'SELECT') {
        const copy = el.cloneNode(true);
        copy.removeAttribute('id');
        copy.style.cssText = 'position: absolute; visibility: hidden; width: auto; max-width: none; flex: none';
        el.after(copy);
        const asked = copy.getBoundingClientRect().width;
        copy.remove();
        const width = el.getBoundingClientRect().width;
        return width + 0.5 < asked ? [...el.options].map((o) => [o.text, width, asked]) : [];
    }
    const style = getComputedStyle(el);
    const pen = document.createElement('canvas').getContext('2d');
    pen.font = style.font;
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - (el.list ? 20 : 0);
    const text = el.value || el.placeholder;
    return pen.measureText(text).width > room ? [[text, room]] : [];
}"""


def test_the_labelers_filter_and_the_map_choice_show_their_whole_text_on_a_phone(
    live_server, new_page, login, manager, reviewer
):
    """At 390 px the agreement report's labelers filter ("all, or alice,bob") and the map page's choice of
    map ("#12 image-effnet-lite0 · 2026-12-06 20:17 · succeeded") were cut short: each field takes the
    width of the screen, and a map's choice says its state only when it is not finished."""
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    for embedder, status in (("image-effnet-lite0", "succeeded"), ("image-effnet-basic", "running")):
        job = Job.objects.create(project=project, kind="map", status=status)
        EmbeddingMap.objects.create(project=project, embedder=embedder, job=job, created_by=manager)
    finished = EmbeddingMap.objects.filter(project=project, job__status="succeeded").get()
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    console = []
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    login(page, live_server, manager)
    for path, field in (
        (f"/projects/{project.pk}/agreement/", "input[name=labelers]"),
        (f"/projects/{project.pk}/review/", "select[name=labeler]"),
        (f"/projects/{project.pk}/map/{finished.pk}/", "#map-choice"),
    ):
        assert page.goto(live_server.url + path).status == 200, path
        page.wait_for_load_state("networkidle")  # the map's points: not fetched after the test's end
        assert page.locator(field).evaluate(FIELD_TEXT_CUT) == [], path
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, path
    # the map form's "keep apart" box (a metadata key, its suggestions' button) shows its whole placeholder
    assert page.locator("#map-start input[name=group_by]").evaluate(FIELD_TEXT_CUT) == []
    choices = page.locator("#map-choice option").all_text_contents()
    assert [choice.split(" · ")[0] for choice in choices] == [
        f"#{finished.pk + 1} image-effnet-basic",
        f"#{finished.pk} image-effnet-lite0",
    ]
    assert choices[0].endswith(" · running") and not choices[1].endswith("succeeded")
    assert console == [] and not page.errors, (console, page.errors)


# A text box's placeholder against the room inside it: the placeholder put in as the value (a textarea
# wraps it as it wraps the placeholder), and how far it then overflows the box, sideways and down.
PLACEHOLDER_CUT = """(el) => {
    const typed = el.value;
    el.value = el.placeholder;
    const cut = [el.scrollWidth - el.clientWidth, el.scrollHeight - el.clientHeight];
    el.value = typed;
    return cut;
}"""


def test_the_campaign_forms_item_ids_hint_is_whole_on_a_phone(live_server, new_page, login, manager, reviewer):
    """At 390 px the relabel campaign form's "Item ids" box (two rows) showed "from the map or the review
    queue (the filters below narrow them); or leave" and cut the rest: where the ids come from, and that the
    box may stay empty, were unreadable."""
    require_browser()
    project, _ = labeled_project(manager, reviewer)
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server, reviewer)
    assert page.goto(f"{live_server.url}/projects/{project.pk}/campaigns/").status == 200
    field = page.locator("#campaign-form textarea[name=items]")
    assert max(field.evaluate(PLACEHOLDER_CUT)) <= 0, field.get_attribute("placeholder")
    # what the box takes, said in full: in the placeholder or in a visible help text tied to the box
    said = field.evaluate(
        """(el) => [el.placeholder, ...(el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)
            .map((id) => document.getElementById(id)).filter((help) => help && help.checkVisibility())
            .map((help) => help.innerText)].join(' ')"""
    )
    for words in ("map", "review queue", "filters below narrow them", "leave empty"):
        assert words in said, (words, said)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
