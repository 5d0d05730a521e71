"""The reviewer of a transcription project previews and saves transcript conventions in headless
Chromium: labelers' transcripts are shown as text, whatever they hold, and a tag line the form cannot read
is named instead of dropped."""

import pytest

from labeling.choices import Role
from labeling.models import Item, TranscriptConventions
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_content_security_policy import watch
from tests.conftest import make_project, make_user, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a labeler typed: a non-speech tag in angle brackets, and markup that must stay text.
TYPED = 'um <laugh> yes <a href="https://example.com/">a link</a> please'


def speech_project(manager, reviewer):
    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item_id,) = items_import(project=project, entries=[ImportEntry(name="c", text="clip")]).imported
    item = Item.objects.get(pk=item_id)
    annotation_save(item=item, labeler=make_user("t1"), value=TYPED)
    annotation_save(item=item, labeler=make_user("t2"), value="Umm, yes please")
    return project


def test_the_preview_shows_transcripts_as_text(live_server, page, login, manager, reviewer):
    require_browser()
    project = speech_project(manager, reviewer)
    watch(page)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/conventions/")
    page.fill("input[name=fillers]", "um, umm")
    page.fill("textarea[name=rules]", r"\byes\b => yeah")
    page.click("#conventions-preview")
    page.locator("#conventions-examples-hint").wait_for(state="detached")  # the preview's examples replace it
    examples = page.locator("#conventions-examples li")
    examples.first.wait_for()
    texts = examples.all_inner_texts()
    assert any(TYPED in text and "<laugh>" in text for text in texts), texts
    assert page.locator("#conventions-examples a, #conventions-examples laugh").count() == 0
    assert page.evaluate("window.__csp") == [] and page.errors == []


def test_a_tag_line_without_an_arrow_is_named_and_nothing_is_saved(live_server, page, login, manager, reviewer):
    require_browser()
    project = speech_project(manager, reviewer)
    login(page, live_server, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/conventions/")
    page.fill("textarea[name=tags]", "[inaudible] => [unintelligible]\n[unintelligible]")
    page.click("button[type=submit]")
    result = page.locator("#conventions-result")
    result.filter(has_text="no '=>'").wait_for()
    assert "Tags: '[unintelligible]' has no '=>'" in result.inner_text()
    assert "error" in result.get_attribute("class")
    assert not TranscriptConventions.objects.filter(project=project).exists()
    assert page.errors == []
