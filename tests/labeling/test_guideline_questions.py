"""Reviewers' open questions (raised with "instructions ambiguous") are closed by the guideline version that
answers them, instead of staying open forever."""

import pytest

from labeling.models import GuidelineNote
from labeling.services.review import decision_record
from tests.labeling.version_helpers import add_texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def questions(project, reviewer):
    a, b = add_texts(project, ["a purring bark", "a barking purr"])
    for item, why in ((a, "is a purr a cat?"), (b, "what of a bark and a purr?")):
        decision_record(item=item, reviewer=reviewer, action="ambiguous_instructions", rationale=why)
    return list(GuidelineNote.objects.order_by("id"))


def test_a_published_version_closes_the_questions_it_answers(api, client, project, reviewer, questions):
    answered, still_open = questions
    url = f"/api/projects/{project.pk}/guidelines/"
    response = api(reviewer).post(
        url, {"text": "# v1\n\nA purr makes a cat.", "resolves": [answered.pk]}, format="json"
    )
    assert response.status_code == 201, response.json()
    answered.refresh_from_db()
    assert answered.resolved_in.version == response.json()["version"]
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    notes = page[page.index('id="notes"') :]
    assert "what of a bark and a purr?" in notes and "is a purr a cat?" not in notes


def test_a_question_that_is_not_open_is_refused_and_nothing_is_published(api, project, reviewer, questions):
    answered, _ = questions
    url = f"/api/projects/{project.pk}/guidelines/"
    api(reviewer).post(url, {"text": "v1", "resolves": [answered.pk]}, format="json")
    again = api(reviewer).post(url, {"text": "v2", "resolves": [answered.pk, 99999]}, format="json")
    assert again.status_code == 400 and "resolves" in again.json()
    assert project.guidelines.count() == 1
    bad = api(reviewer).post(url, {"text": "v2", "resolves": "all"}, format="json")
    assert bad.status_code == 400 and "resolves" in bad.json()
    # a misspelt "resolves" published the version and left the question open without a word
    misspelt = api(reviewer).post(url, {"text": "v2", "resolve": [questions[1].pk]}, format="json")
    assert misspelt.status_code == 400 and "resolve" in misspelt.json()
    assert project.guidelines.count() == 1
