"""The consistency pages render for reviewers and refuse labelers."""

import pytest

from labeling.services.guidelines import guideline_publish
from tests.conftest import make_project
from tests.labeling.test_consistency_loop import scratches  # noqa: F401 - the fixture


@pytest.mark.parametrize("path", ["review/", "guidelines/", "taxonomy/", "campaigns/"])
def test_reviewer_pages_render(client, reviewer, scratches, path):  # noqa: F811
    project, ids, _ = scratches
    guideline_publish(project=project, text="# v1\n* a *scratch* is a line", author=reviewer)
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/{path}")
    assert response.status_code == 200


def test_review_queue_page_lists_disputed_items_and_links_the_review_page(client, reviewer, scratches):  # noqa: F811
    project, ids, _ = scratches
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert 'id="review-queue"' in page and "Review</a>" in page
    item_page = client.get(f"/projects/{project.pk}/review/{ids[0]}/?queue={ids[0]},{ids[1]}").content.decode()
    assert f"/projects/{project.pk}/review/{ids[1]}/" in item_page


def test_taxonomy_page_shows_the_suggested_merge(client, reviewer, scratches):  # noqa: F811
    project, _, _ = scratches
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/taxonomy/").content.decode()
    assert 'data-use-suggestion="deep,shallow"' in page


def test_guidelines_are_readable_by_labelers_but_not_editable(client, labeler, reviewer, project):
    guideline_publish(project=project, text="# Be careful\n<script>alert(1)</script>", author=reviewer)
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert "<h3>Be careful</h3>" in page and "<script>alert(1)" not in page  # under the page's "Version 1"
    assert "guideline-form" not in page
    assert client.get(f"/projects/{project.pk}/review/").status_code == 403
    assert client.get(f"/projects/{project.pk}/taxonomy/").status_code == 403


def _project_nav(page: str) -> str:
    start = page.index('class="project-nav"')
    return page[start : page.index("</nav>", start)]


def test_the_project_navigation_leads_reviewers_to_classes_conventions_and_campaigns(
    client, manager, reviewer, labeler, project
):
    client.force_login(reviewer)
    nav = _project_nav(client.get(f"/projects/{project.pk}/").content.decode())
    assert f'href="/projects/{project.pk}/taxonomy/"' in nav
    assert f'href="/projects/{project.pk}/campaigns/"' in nav
    assert "conventions/" not in nav  # a classification project has classes, not transcript conventions

    speech = make_project(manager, name="Speech", modality="audio", task_type="transcription", classes=[])
    speech.memberships.create(user=reviewer, role="reviewer")
    nav = _project_nav(client.get(f"/projects/{speech.pk}/").content.decode())
    assert f'href="/projects/{speech.pk}/conventions/"' in nav and "taxonomy/" not in nav
    # typed by URL, the page a project's menu does not offer is not found, not a form nothing can save
    assert client.get(f"/projects/{project.pk}/conventions/").status_code == 404
    assert client.get(f"/projects/{speech.pk}/taxonomy/").status_code == 404
    assert client.get(f"/projects/{speech.pk}/conventions/").status_code == 200
    assert client.get(f"/projects/{project.pk}/taxonomy/").status_code == 200

    client.force_login(labeler)
    nav = _project_nav(client.get(f"/projects/{project.pk}/").content.decode())
    assert "taxonomy/" not in nav and "campaigns/" not in nav


def _section(page: str, start: str, end: str) -> str:
    i = page.index(start)
    return page[i : page.index(end, i)]


@pytest.mark.django_db
def test_the_review_page_shows_the_answers_a_campaign_archived_as_earlier_answers(client, manager, reviewer):
    from labeling.services.campaigns import campaign_create
    from labeling.services.projects import member_add
    from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item,) = add_texts(project, ["a purring dog"])
    a, b, c = labelers(project, 3)
    answer(item, a, "cat")
    answer(item, a, "other", comment="on second thought")  # a revision: archived with the answer it became
    answer(item, b, "dog", uncertain=True)
    campaign_create(project=project, name="Purring pets", item_ids=[item.pk], overlap=1, user=manager)
    answer(item, c, "cat")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    current = _section(page, 'id="answers"', "</table>")
    assert "lab2" in current and "lab0" not in current and "lab1" not in current
    earlier = _section(page, 'id="archived-answers"', "</table>")
    rows = earlier.split("<tr data-campaign=")[1:]
    assert len(rows) == 3 and all("Purring pets" in r for r in rows)
    by_value = {r.split("<b>")[1].split("</b>")[0]: r for r in rows}
    assert set(by_value) == {"cat", "other", "dog"}
    assert (
        "lab0" in by_value["other"] and "on second thought" in by_value["other"] and "revised" not in by_value["other"]
    )
    assert "lab0" in by_value["cat"] and "revised" in by_value["cat"]
    assert "lab1" in by_value["dog"] and "uncertain" in by_value["dog"]
    assert "Earlier answers" in page
    # Labelers never see them: the review page is the reviewers', and their API lists their own answers.
    client.force_login(c)
    assert client.get(f"/projects/{project.pk}/review/{item.pk}/").status_code == 403
    mine = client.get(f"/api/projects/{project.pk}/annotations/?item={item.pk}").json()["results"]
    assert [row["value"] for row in mine] == ["cat"]


@pytest.mark.django_db
def test_a_transcription_review_page_shows_earlier_transcripts_as_text(client, manager, reviewer):
    from labeling.services.campaigns import campaign_create
    from labeling.services.projects import member_add
    from tests.labeling.version_helpers import add_texts, answer, labelers

    project = make_project(manager, name="Queries", modality="text", task_type="transcription", classes=[])
    member_add(project=project, username=reviewer.username, role="reviewer")
    (item,) = add_texts(project, ["weather in <b>paris</b>"])
    (a,) = labelers(project, 1)
    answer(item, a, "weather in <b>paris</b> um")
    campaign_create(project=project, name="Fillers", item_ids=[item.pk], overlap=1, user=manager)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    assert "No answers." in _section(page, 'id="answers"', "</table>")
    earlier = _section(page, 'id="archived-answers"', "</table>")
    assert "Fillers" in earlier and "lab0" in earlier
    assert "weather in &lt;b&gt;paris&lt;/b&gt; um" in earlier and "<b>paris</b>" not in earlier


@pytest.mark.django_db
def test_an_item_no_campaign_sent_back_has_no_earlier_answers_section(client, reviewer, scratches):  # noqa: F811
    project, ids, _ = scratches
    client.force_login(reviewer)
    assert 'id="archived-answers"' not in client.get(f"/projects/{project.pk}/review/{ids[0]}/").content.decode()


def test_the_guideline_pages_examples_name_their_classes_as_the_labeling_page_does(client, manager, reviewer):
    """An example's class chip and its boxes' titles showed the class keys ("pos", "igu") where every other
    page shows the names a labeler reads ("Positive", "Iguana")."""
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import member_add
    from labeling.services.review import guideline_example_add
    from tests.browser.test_shape_labeling import png_bytes

    pages = {}
    for task_type, classes in (
        ("classification", [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}]),
        ("detection", [{"key": "igu", "name": "Iguana"}]),
    ):
        project = make_project(manager, name=task_type, task_type=task_type, classes=classes)
        member_add(project=project, username=reviewer.username, role="reviewer")
        guideline = guideline_publish(project=project, text="# Examples", author=manager)
        (item,) = items_import(project=project, entries=[ImportEntry(name="a.png", load=png_bytes)]).imported
        item = project.items.get(pk=item)
        if task_type == "classification":
            guideline_example_add(guideline=guideline, item=item, label="pos", note="a clear one")
        else:
            box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "label": "igu"}
            guideline_example_add(guideline=guideline, item=item, note="one lizard", shapes={"boxes": [box]})
        client.force_login(reviewer)
        pages[task_type] = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert '<span class="chip">Positive</span>' in pages["classification"]
    assert 'title="Iguana"' in pages["detection"] and 'title="igu"' not in pages["detection"]


def test_a_guideline_version_lists_the_questions_it_answered_and_offers_to_relabel_their_items(
    client, project, reviewer, labeler
):
    """An SME's "instructions ambiguous" leaves the item out of the queue until the guideline answers it; the
    version that answers it named nothing of it, so its items were never relabeled under the new text."""
    from labeling.models import Item
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.review import decision_record
    from tests.browser.test_shape_labeling import png_bytes

    guideline_publish(project=project, text="# v1", author=reviewer)
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(i)) for i in range(3)]
    ).imported
    for pk, why in zip(ids[:2], ("a cat toy: cat or other?", "a dog in a cat costume?"), strict=True):
        decision_record(item=Item.objects.get(pk=pk), reviewer=reviewer, action="ambiguous_instructions", rationale=why)
    notes = list(project.guideline_notes.order_by("pk").values_list("pk", flat=True))
    guideline_publish(project=project, text="# v2\nToys are *other*.", author=reviewer, resolves=notes[:1])

    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert 'id="answered"' in page and "a cat toy: cat or other?" in page
    assert f"/projects/{project.pk}/campaigns/?items={ids[0]}&amp;guideline=2" in page  # only the answered one's
    assert "a dog in a cat costume?" in page  # still open, listed below
    form = client.get(f"/projects/{project.pk}/campaigns/?items={ids[0]}&guideline=2").content.decode()
    assert '<option value="2" selected>v2</option>' in form and f">{ids[0]}</textarea>" in form

    page_v1 = client.get(f"/projects/{project.pk}/guidelines/?version=1").content.decode()
    assert 'id="answered"' not in page_v1  # v1 answered nothing

    from tests.labeling.version_helpers import answer

    answer(Item.objects.get(pk=ids[0]), labeler, "other")  # (a question on an item still to label is hidden)
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert "a cat toy: cat or other?" in page and "/campaigns/?items=" not in page  # labelers start no campaign


def test_a_labeler_does_not_see_an_example_of_an_item_they_are_still_to_label(client, api, labeler, reviewer, project):
    """An SME marked a detection item "instructions ambiguous" (it becomes a canonical example with the
    SME's boxes) and relabeled it under the new guideline: the labeler got the item first in the queue
    while the guidelines page, and the guidelines API, showed it with the SME's answer."""
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.review import guideline_example_add
    from tests.conftest import png_bytes
    from tests.labeling.version_helpers import answer

    guideline = guideline_publish(project=project, text="# Examples", author=reviewer)
    (item,) = items_import(project=project, entries=[ImportEntry(name="a.png", load=png_bytes)]).imported
    item = project.items.get(pk=item)
    guideline_example_add(guideline=guideline, item=item, label="dog", note="the SME says dog")

    def shown_to(user):
        client.force_login(user)
        page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
        examples = api(user).get(f"/api/projects/{project.pk}/guidelines/").json()["results"][0]["examples"]
        return f'data-example="{item.pk}"' in page, [e["item"] for e in examples] == [item.pk]

    assert shown_to(labeler) == (False, False)
    assert shown_to(reviewer) == (True, True)  # reviewers see every answer: that is their job
    answer(item, labeler, "cat")
    assert shown_to(labeler) == (True, True)  # answered: the example teaches what the answer should have been


def test_a_labeler_does_not_see_a_reviewers_question_about_an_item_they_are_still_to_label(
    client, labeler, reviewer, project
):
    """An SME's "instructions ambiguous" rationale names the item and often the answer ("the tail makes it a
    dog"); once a version answered it, the guidelines page listed it to every labeler ("Questions v2
    answered"), the item still in their queue for the relabel. Like a canonical example, it shows once they
    have answered the item."""
    from labeling.models import GuidelineNote
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.review import decision_record
    from tests.conftest import png_bytes
    from tests.labeling.version_helpers import answer

    guideline_publish(project=project, text="# Animals", author=reviewer)
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"{n}.png", load=lambda n=n: png_bytes(seed=n)) for n in range(2)]
    ).imported
    asked, other = (project.items.get(pk=pk) for pk in ids)
    ambiguous = "ambiguous_instructions"
    decision_record(item=asked, reviewer=reviewer, action=ambiguous, rationale="the tail makes it a dog")
    answer(other, labeler, "cat")
    decision_record(item=other, reviewer=reviewer, action=ambiguous, rationale="ears of a cat, tail of a dog")

    def page(user):
        client.force_login(user)
        return client.get(f"/projects/{project.pk}/guidelines/").content.decode()

    assert "the tail makes it a dog" not in page(labeler)  # open questions are the reviewers' own
    notes = list(GuidelineNote.objects.filter(project=project).values_list("pk", flat=True))
    guideline_publish(project=project, text="# Animals\n\nA tail decides.", author=reviewer, resolves=notes)
    shown = page(labeler)
    assert "the tail makes it a dog" not in shown and f"item #{asked.pk}" not in shown
    assert "ears of a cat, tail of a dog" in shown  # an item they answered already: the answer teaches
    assert "the tail makes it a dog" in page(reviewer)
    answer(asked, labeler, "dog")
    assert "the tail makes it a dog" in page(labeler)
