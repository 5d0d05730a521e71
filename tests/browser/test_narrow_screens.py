"""On a phone-width screen (390 px) the pages do not scroll sideways: wide tables scroll inside their own
box, and the two-column cards stack. The home table was 874 px wide, with the "Start labeling" button off
screen."""

import pytest

from labeling.choices import Role
from labeling.models import Item
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
