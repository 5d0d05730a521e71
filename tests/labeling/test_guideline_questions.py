"""Reviewers' open questions (raised with "instructions ambiguous") are closed by the guideline version that
answers them, instead of staying open forever."""

from urllib.parse import urlencode

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


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("encoding", ["repeated", "comma-separated", "multipart"])
def test_a_version_published_as_a_form_closes_the_questions_its_resolves_name(
    api, project, reviewer, questions, encoding
):
    # The page's form ticks one "resolves" checkbox per question; posted as a form (or by curl -d
    # "resolves=3,5") its values were refused as "resolves is a list of open question ids", which a form
    # cannot send, and nothing was published.
    ids = [note.pk for note in questions]
    url = f"/api/projects/{project.pk}/guidelines/"
    if encoding == "repeated":
        response = api(reviewer).post(
            url, urlencode([("text", "v1"), *(("resolves", n) for n in ids)]), content_type=FORM
        )
    elif encoding == "comma-separated":
        response = api(reviewer).post(
            url, urlencode({"text": "v1", "resolves": f"{ids[0]}, {ids[1]}"}), content_type=FORM
        )
    else:
        response = api(reviewer).post(url, {"text": "v1", "resolves": ids}, format="multipart")
    assert response.status_code == 201, response.json()
    assert [note.resolved_in.version for note in GuidelineNote.objects.order_by("id")] == [1, 1]


def test_a_form_with_one_resolves_closes_that_question_only(api, project, reviewer, questions):
    answered, still_open = questions
    body = urlencode({"text": "v1", "resolves": answered.pk, "csrfmiddlewaretoken": "x"})
    response = api(reviewer).post(f"/api/projects/{project.pk}/guidelines/", body, content_type=FORM)
    assert response.status_code == 201, response.json()
    answered.refresh_from_db(), still_open.refresh_from_db()
    assert answered.resolved_in.version == 1 and still_open.resolved_in is None


@pytest.mark.parametrize("value", ["all", "3;4", "1.5", "99999999999999999999"])
def test_a_form_resolves_that_is_no_question_id_is_refused_naming_it(api, project, reviewer, questions, value):
    body = urlencode({"text": "v1", "resolves": value})
    response = api(reviewer).post(f"/api/projects/{project.pk}/guidelines/", body, content_type=FORM)
    assert response.status_code == 400
    assert value in response.json()["resolves"][0] and "resolves=3,5" in response.json()["resolves"][0]
    assert not project.guidelines.exists()
    assert not GuidelineNote.objects.filter(resolved_in__isnull=False).exists()


@pytest.mark.parametrize(
    ("encoding", "keep", "carried"),
    [("form", "false", False), ("form", "true", True), ("json", False, False), ("json", True, True)],
)
def test_keep_examples_false_publishes_without_the_examples_as_a_form_too(
    api, project, reviewer, questions, encoding, keep, carried
):
    # A form's keep_examples=false was the text "false", taken as yes: the new version carried the old
    # one's examples it was meant to leave behind.
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/guidelines/"
    assert client.post(url, {"text": "v1"}, format="json").status_code == 201
    example = {"item": questions[0].item_id, "label": "cat", "note": "purrs"}
    assert client.post(f"{url}1/examples/", example, format="json").status_code == 201
    if encoding == "form":
        response = client.post(url, urlencode({"text": "v2", "keep_examples": keep}), content_type=FORM)
    else:
        response = client.post(url, {"text": "v2", "keep_examples": keep}, format="json")
    assert response.status_code == 201, response.json()
    assert [e["item"] for e in response.json()["examples"]] == ([questions[0].item_id] if carried else [])


@pytest.mark.parametrize(("encoding", "keep"), [("form", "maybe"), ("json", "no thanks"), ("json", 2)])
def test_a_keep_examples_that_is_not_yes_or_no_is_refused_and_nothing_published(
    api, project, reviewer, questions, encoding, keep
):
    url = f"/api/projects/{project.pk}/guidelines/"
    if encoding == "form":
        response = api(reviewer).post(url, urlencode({"text": "v1", "keep_examples": keep}), content_type=FORM)
    else:
        response = api(reviewer).post(url, {"text": "v1", "keep_examples": keep}, format="json")
    assert response.status_code == 400 and "keep_examples" in response.json()
    assert not project.guidelines.exists()


def test_a_superseded_guideline_version_keeps_its_examples_as_published(api, project, reviewer, questions):
    """Answers name the guideline version they were given under: an example added to or changed on v1
    after v2 was published rewrote what v1 showed its labelers."""
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/guidelines/"
    assert client.post(url, {"text": "v1"}, format="json").status_code == 201
    first, second = (q.item_id for q in questions)
    assert client.post(f"{url}1/examples/", {"item": first, "label": "cat"}, format="json").status_code == 201
    assert client.post(url, {"text": "v2"}, format="json").status_code == 201

    for example in ({"item": first, "label": "dog"}, {"item": second, "label": "dog"}):
        response = client.post(f"{url}1/examples/", example, format="json")
        assert response.status_code == 400
        assert response.json()["guideline"] == [
            "guideline v1 was superseded by v2: its examples stay as its labelers saw them; add this one to v2"
        ]
    versions = {g["version"]: g["examples"] for g in client.get(url).json()["results"]}
    assert versions[1] == [{"item": first, "label": "cat", "note": ""}]
    assert client.post(f"{url}2/examples/", {"item": first, "label": "dog"}, format="json").status_code == 201


def test_a_version_published_again_is_the_version_it_published(api, project, reviewer, questions):
    """A script that lost the 201 retries: no second version of the same text (a notice to every labeler,
    answers split across two versions), and the questions it closed are no "not an open question" 400."""
    answered, still_open = questions
    url = f"/api/projects/{project.pk}/guidelines/"
    body = {"text": "# v1\n\nA purr makes a cat.", "resolves": [answered.pk]}
    first = api(reviewer).post(url, body, format="json")
    assert first.status_code == 201
    again = api(reviewer).post(url, body, format="json")
    assert again.status_code == 200, again.json()
    assert again.json()["version"] == first.json()["version"] and project.guidelines.count() == 1
    # The same text closing a question still open is a new version, as another text is.
    more = api(reviewer).post(url, {**body, "resolves": [still_open.pk]}, format="json")
    assert more.status_code == 201 and more.json()["version"] == 2
    assert api(reviewer).post(url, {"text": "# v3"}, format="json").json()["version"] == 3


@pytest.mark.parametrize("supersedes", [False, True])
def test_a_decision_sent_again_is_recorded_and_acted_on_once(api, project, reviewer, supersedes):
    """A script that lost the 201 retries: one decision, one open question for the guideline; with
    supersedes, no 409 naming the reviewer's own decision as another's."""
    (item,) = add_texts(project, ["a purring bark"])
    body = {"action": "ambiguous_instructions", "rationale": "is a purr a cat?"}
    if supersedes:
        body["supersedes"] = None
    url = f"/api/items/{item.pk}/decision/"
    first = api(reviewer).post(url, body, format="json")
    assert first.status_code == 201, first.json()
    again = api(reviewer).post(url, body, format="json")
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == first.json()["id"]
    assert item.decisions.count() == 1 and GuidelineNote.objects.filter(item=item).count() == 1
    other = api(reviewer).post(
        url, {**body, "rationale": "and a bark?", "supersedes": first.json()["id"]}, format="json"
    )
    assert other.status_code == 201 and item.decisions.count() == 2  # another decision is recorded


@pytest.mark.django_db(transaction=True)
def test_a_decision_sent_twice_at_once_is_recorded_and_acted_on_once(api, project, reviewer):
    """Without supersedes, nothing ordered two copies of one decision arriving at once (a double click, a
    retry while the first was on its way): both found no such decision and both recorded theirs (12
    parallel requests through PgBouncer recorded 3), each opening its own question for the guideline."""
    import threading

    from labeling.models import Decision
    from tests.concurrency import in_a_thread, run_together, skip_unless_postgresql, slow_inserts

    skip_unless_postgresql()
    (item,) = add_texts(project, ["a purring bark"])
    body = {"action": "ambiguous_instructions", "rationale": "is a purr a cat?"}
    both_ready, statuses, errors = threading.Barrier(2), [], []

    def decide():
        both_ready.wait(timeout=10)
        statuses.append(api(reviewer).post(f"/api/items/{item.pk}/decision/", body, format="json").status_code)

    # each decision row takes half a second to insert: the two requests meet
    with slow_inserts(Decision._meta.db_table):
        still_running = run_together([in_a_thread(decide, errors=errors) for _ in range(2)])
    assert not still_running and not errors, errors
    assert sorted(statuses) == [200, 201]
    assert item.decisions.count() == 1 and GuidelineNote.objects.filter(item=item).count() == 1
