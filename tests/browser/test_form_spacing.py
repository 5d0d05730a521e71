"""The relabel campaign form in headless Chromium: its rows of filters and its button are spaced as the
planning page's settings form is. The "Start campaign" button sat right under the row of Guideline and
Overlap, and the two rows of filters touched."""

import pytest

from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The space between each child of a form and the next one below it, in px, top to bottom.
GAPS = """(form) => {
    const blocks = [...form.children].filter((el) => el.matches('.row, button, label') && el.offsetParent);
    const name = (el) => (el.matches('.row') ? 'row' : el.tagName.toLowerCase());
    return blocks.slice(1).map((el, i) => ({
        between: `${name(blocks[i])} / ${name(el)}`,
        gap: Math.round(el.getBoundingClientRect().top - blocks[i].getBoundingClientRect().bottom),
    }));
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_campaign_forms_rows_and_button_are_spaced_as_the_apps_other_forms(
    live_server, new_page, login, manager, width
):
    require_browser()
    project = make_project(manager, name="Campaign form (browser)")
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    console = []
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    login(page, live_server, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/planning/")
    (settings_gap,) = [
        g["gap"] for g in page.locator("form.form-grid").evaluate(GAPS) if g["between"] == "row / button"
    ]
    assert settings_gap >= 5  # .4rem
    page.goto(f"{live_server.url}/projects/{project.pk}/campaigns/")
    gaps = page.locator("#campaign-form").evaluate(GAPS)
    assert [g["between"] for g in gaps] == ["label / label", "label / row", "row / row", "row / button"]
    assert all(g["gap"] >= 5 for g in gaps), (gaps, settings_gap)  # a label's margin, .35rem, or more
    # the second row and the button as far below a row as the settings' Save is
    assert [g["gap"] for g in gaps[-2:]] == [settings_gap, settings_gap], (gaps, settings_gap)
    assert console == [] and not page.errors, (console, page.errors)
