"""What project members type is shown as text, never run or parsed as markup (headless Chromium)."""

import pytest

from analysis.services.maps import map_create, map_job_run
from labeling.models import LabelClass
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_class_colour_stored_as_markup_stays_out_of_the_maps_legend(live_server, page, login, manager, reviewer):
    require_browser()
    project = make_project(manager, name="Words", modality="text")
    member_add(project=project, username=reviewer.username, role="reviewer")
    items_import(project=project, entries=[ImportEntry(name=f"t{i}", text=f"word {i} of {i % 5}") for i in range(20)])
    # A colour saved before colours were checked (the API took any 7 characters).
    LabelClass.objects.filter(project=project, key="cat").update(colour='"><b>')
    LabelClass.objects.filter(project=project, key="dog").update(colour="#112233")
    emap = map_create(project=project, embedder="text-tfidf", user=manager)
    map_job_run(job_id=emap.job_id)

    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/map/")
    page.wait_for_selector("#map-root[data-ready='true']", timeout=60_000)
    legend = page.locator("#legend")
    assert legend.locator("b").count() == 0, legend.inner_html()
    # the legend reads the classes by name, as every page does
    assert legend.locator("span").all_inner_texts() == ["class cat", "class dog", "class other", "none"]
    swatches = legend.locator("i").evaluate_all("els => els.map((e) => getComputedStyle(e).backgroundColor)")
    assert swatches[1] == "rgb(17, 34, 51)"  # a real colour is still the swatch's
    assert swatches[0] not in ("", "rgba(0, 0, 0, 0)")  # the bad one is replaced by one of the series
    assert not page.errors


# Markup and script a member may type anywhere; none of it may become an element or run. (Guidelines are
# markdown: their HTML is kept once sanitized, an <img src=x> without its handler among it.)
PAYLOAD = (
    '<img src=x onerror="window.__xss=1">"\'><svg onload="window.__xss=2"></script>'
    "<script>window.__xss=3</script>{{7*7}}"
)
FOUND_INJECTED = """() => {
  const found = [...document.querySelectorAll("svg[onload], [onerror], [onload], iframe")]
    .map((e) => e.outerHTML.slice(0, 100));
  for (const s of document.querySelectorAll("script:not([src])")) {
    if (s.type !== "application/json") found.push(s.outerHTML.slice(0, 100));
  }
  for (const a of document.querySelectorAll("a[href]")) {
    if (/^\\s*(javascript|data|vbscript):/i.test(a.getAttribute("href"))) found.push(a.outerHTML);
  }
  return { found, flag: window.__xss ?? null };
}"""


def test_what_members_type_shows_as_text_on_every_page_they_meet_it(
    live_server, browser, login, manager, reviewer, labeler, labeler2
):
    require_browser()
    from labeling.services.annotations import annotation_save
    from labeling.services.campaigns import campaign_create
    from labeling.services.guidelines import guideline_publish
    from labeling.services.review import decision_record
    from labeling.services.sources import source_create

    project = make_project(
        manager,
        name=f"P {PAYLOAD}"[:200],
        modality="text",
        description=f"D {PAYLOAD}",
        classes=[{"key": "pos", "name": f"N {PAYLOAD}"[:200], "description": f"C {PAYLOAD}"}, {"key": "neg"}],
    )
    for user, role in ((reviewer, "reviewer"), (labeler, "labeler"), (labeler2, "labeler")):
        member_add(project=project, username=user.username, role=role)
    source = source_create(project=project, name=f"S {PAYLOAD}"[:200], kind="purchased", quality_notes=PAYLOAD)
    entries = [
        ImportEntry(
            name=f"{i} {PAYLOAD}",
            text=f"text {i} {PAYLOAD}",
            tags=[f"t{i % 2}<img src=x onerror=window.__xss=4>"],
            source=source,
            metadata={"voice": f"v{i % 2} {PAYLOAD}"},
        )
        for i in range(6)
    ]
    ids = items_import(project=project, entries=entries).imported
    from labeling.models import Item

    items = [Item.objects.get(pk=pk) for pk in ids]
    for n, item in enumerate(items[:4]):
        annotation_save(item=item, labeler=labeler, value="pos", comment=f"A {PAYLOAD}")
        annotation_save(item=item, labeler=labeler2, value="neg" if n % 2 else "pos", comment=f"B {PAYLOAD}")
    decision_record(item=items[1], reviewer=reviewer, label="pos", rationale=f"R {PAYLOAD}")
    decision_record(item=items[3], reviewer=reviewer, action="ambiguous_instructions", rationale=f"Q {PAYLOAD}")
    guideline_publish(
        project=project,
        text=f"# G {PAYLOAD}\n\n[link](javascript:window.__xss=5) <a href='javascript:window.__xss=6'>a</a>\n",
        author=manager,
    )
    campaign = campaign_create(project=project, name=f"K {PAYLOAD}"[:200], item_ids=ids[4:], user=manager)

    base = f"{live_server.url}/projects/{project.pk}/"
    pages = {
        reviewer: [
            "",
            "items/",
            "inventory/",
            "review/",
            f"review/{items[1].pk}/",
            f"review/{items[3].pk}/",
            "guidelines/",
            "agreement/",
            "dashboard/",
            "campaigns/",
            f"campaigns/{campaign.pk}/",
        ],
        manager: ["members/", "settings/", f"inventory/{source.pk}/edit/"],
        labeler: ["", "label/"],
    }
    for user, paths in pages.items():
        # The Content-Security-Policy would block inline handlers: bypassed, so that markup that got
        # through would run here and be caught, not only be stopped by the policy.
        context = browser.get().new_context(bypass_csp=True, viewport={"width": 1280, "height": 860})
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
        login(page, live_server, user)
        for path in paths:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            result = page.evaluate(FOUND_INJECTED)
            assert result == {"found": [], "flag": None} and not dialogs, (user.username, path, result, dialogs)
            if path != "settings/":
                assert "onerror" in page.locator("body").inner_text(), (user.username, path)  # shown, as text
        context.close()
