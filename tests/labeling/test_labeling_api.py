"""The labeling API: next, answers, skips, progress; bad input gets a clear error and changes nothing."""

import pytest

from labeling.models import Annotation, Item, Reservation, Skip
from labeling.services.annotations import MAX_TRANSCRIPT_CHARS
from labeling.services.guidelines import guideline_publish
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import answer_by_others, make_items

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def post_answer(client, item_id, **body):
    return client.post(f"/api/items/{item_id}/annotations/", {"value": "cat", **body}, format="json")


def snapshot():
    """Everything an answer or a skip could change."""
    return (
        list(Annotation.objects.values_list("id", "item_id", "labeler_id", "value", "revision").order_by("id")),
        list(Item.objects.values_list("id", "n_answers").order_by("id")),
        list(Reservation.objects.values_list("labeler_id", "item_id", "expires").order_by("id")),
        list(Skip.objects.values_list("item_id", "labeler_id", "reason").order_by("id")),
    )


def test_next_answers_the_item_then_204_when_nothing_is_left(api, project, labeler):
    (item,) = make_items(project, 1)
    client = api(labeler)
    response = client.get(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200
    assert response.data["id"] == item.pk and response.data["project"] == project.pk
    assert response.data["text"] == item.text and response.data["reserved_until"]
    # Only what labeling needs: no imported label, metadata or file name (a clip's duration bounds segments).
    assert set(response.data) == {"id", "project", "text", "file", "duration", "reserved_until"}
    assert post_answer(client, item.pk).status_code == 201
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 204


def test_submit_then_revise(api, project, labeler):
    (item,) = make_items(project, 1)
    guideline = guideline_publish(project=project, text="# v1")
    client = api(labeler)
    response = post_answer(
        client, item.pk, value="dog", borderline=True, borderline_with="cat", comment="looks like both", seconds=4.2
    )
    assert response.status_code == 201, response.data
    assert response.data["value"] == "dog" and response.data["borderline_with"] == "cat"
    assert response.data["guideline"] == guideline.version and response.data["revision"] == 1
    assert response.data["labeler"] == labeler.username
    response = post_answer(client, item.pk, value="cat", seconds=1.0)
    assert response.status_code == 201 and response.data["revision"] == 2
    annotation = Annotation.objects.get(item=item, labeler=labeler)
    assert annotation.value == "cat" and annotation.revisions.get().value == "dog"
    item.refresh_from_db()
    assert item.n_answers == 1


def test_the_guideline_version_shown_is_stored(api, project, labeler):
    a, b = make_items(project, 2)
    v1 = guideline_publish(project=project, text="v1")
    guideline_publish(project=project, text="v2")
    client = api(labeler)
    assert post_answer(client, a.pk, guideline=v1.version).data["guideline"] == 1
    assert post_answer(client, b.pk).data["guideline"] == 2  # default: the active one
    response = post_answer(client, b.pk, guideline=9)
    assert response.status_code == 400 and "no guideline version 9" in response.data["detail"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"value": "horse"}, "value", "unknown class 'horse'"),
        ({"value": ""}, "value", "needs a class"),
        ({"value": "cat", "borderline": True, "borderline_with": "zebra"}, "borderline_with", "unknown class"),
        ({"value": "cat", "borderline_with": "dog"}, "borderline_with", "only meaningful on a borderline"),
        # a multi-class borderline answer lies between two classes: one alone says nothing of which boundary
        ({"value": "cat", "borderline": True}, "borderline_with", "give the second one in borderline_with"),
        ({"value": "", "borderline": True, "uncertain": True}, "borderline_with", "between two classes"),
        ({"value": "cat", "seconds": -1}, "seconds", "between 0 and 86400"),
        ({"value": "cat", "comment": "x" * 2001}, "comment", "over 2000"),
        ({"value": "cat", "uncertain": "maybe"}, "uncertain", "valid boolean"),
        # a misspelt flag was dropped: the answer stored was plain "cat"
        ({"value": "cat", "boderline": True}, "boderline", "unknown field (the fields here: value, borderline,"),
    ],
)
def test_bad_answers_are_refused_and_change_nothing(api, project, labeler, body, field, words):
    (item,) = make_items(project, 1)
    client = api(labeler)
    client.get(f"/api/projects/{project.pk}/next/")
    before = snapshot()
    response = client.post(f"/api/items/{item.pk}/annotations/", body, format="json")
    assert response.status_code == 400
    assert field in response.data and words in response.data["detail"], response.data
    assert snapshot() == before


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_a_misspelt_field_in_a_form_answer_is_refused_as_in_json(api, project, labeler, encoding):
    # Only JSON was checked: "boderline=true" posted as a form stored a plain "cat", and so did a file
    # attached to the answer.
    from urllib.parse import urlencode

    from django.core.files.uploadedfile import SimpleUploadedFile

    (item,) = make_items(project, 1)
    client = api(labeler)
    url = f"/api/items/{item.pk}/annotations/"
    before = snapshot()
    fields = "value, borderline, borderline_with, uncertain, out_of_domain, comment, seconds, guideline"
    message = f"unknown field (the fields here: {fields})"
    body = {"value": "cat", "boderline": "true"}
    if encoding == "form":
        response = client.post(url, urlencode(body), content_type=FORM)
    else:
        response = client.post(url, {**body, "photo": SimpleUploadedFile("a.png", b"png")}, format="multipart")
    assert response.status_code == 400, response.data
    assert response.data["boderline"] == [message] and "boderline: unknown field" in response.data["detail"]
    if encoding == "multipart":
        assert response.data["photo"] == [message]
    assert snapshot() == before
    # Every problem at once, as for JSON: a bad value next to the unknown field.
    response = client.post(url, urlencode({"seconds": "fast", "boderline": "true"}), content_type=FORM)
    assert set(response.data) == {"detail", "seconds", "boderline"}


def test_a_form_answer_without_unknown_fields_is_stored_csrf_token_and_all(client, project, labeler):
    # A page's form carries its CSRF token: that field is the form's own, not a misspelt one.
    (item,) = make_items(project, 1)
    client.force_login(labeler)
    body = "value=dog&borderline=true&borderline_with=cat&csrfmiddlewaretoken=abc"
    response = client.post(f"/api/items/{item.pk}/annotations/", body, content_type=FORM)
    assert response.status_code == 201, response.json()
    assert Annotation.objects.get(item=item).value == "dog" and Annotation.objects.get(item=item).borderline


def test_borderline_in_a_project_without_that_option_is_refused(api, manager, labeler):
    project = make_project(manager, name="No borderline", options={"uncertain": True})
    member_add(project=project, username=labeler.username, role="labeler")
    (item,) = make_items(project, 1)
    before = snapshot()
    response = post_answer(api(labeler), item.pk, value="cat", borderline=True)
    assert response.status_code == 400
    assert "no borderline option" in response.data["detail"]
    response = post_answer(api(labeler), item.pk, value="cat", out_of_domain=True)
    assert response.status_code == 400 and "no out-of-domain option" in response.data["detail"]
    assert snapshot() == before


def test_binary_project_has_a_middle_borderline_answer(api, manager, labeler):
    project = make_project(
        manager, name="Defects", classes=[{"key": "ok"}, {"key": "defect"}], options={"borderline": True}
    )
    member_add(project=project, username=labeler.username, role="labeler")
    (item,) = make_items(project, 1)
    response = post_answer(api(labeler), item.pk, value="", borderline=True)
    assert response.status_code == 201, response.data
    assert response.data["value"] == "" and response.data["borderline"] is True


def test_an_item_of_another_project_is_404(api, labeler, other_project):
    (item,) = make_items(other_project, 1)
    before = snapshot()
    client = api(labeler)
    assert post_answer(client, item.pk).status_code == 404
    assert client.post(f"/api/items/{item.pk}/skip/", {"reason": "x"}, format="json").status_code == 404
    assert client.get(f"/api/projects/{other_project.pk}/next/").status_code == 404
    assert client.get(f"/api/projects/{other_project.pk}/annotations/").status_code == 404
    assert client.get(f"/api/projects/{other_project.pk}/progress/").status_code == 404
    assert post_answer(client, 987654).status_code == 404
    assert snapshot() == before


def test_an_answer_after_k_answers_from_others_is_409_unless_you_hold_the_item(api, project, labeler, labeler2):
    full, held = make_items(project, 2)
    answer_by_others(project, full, project.overlap)
    before = snapshot()
    response = post_answer(api(labeler), full.pk)
    assert response.status_code == 409
    assert f"already has its {project.overlap} answers" in response.data["detail"]
    assert snapshot() == before
    # The holder of a reservation keeps their slot, even if others fill the item meanwhile.
    assert api(labeler2).get(f"/api/projects/{project.pk}/next/").data["id"] == held.pk
    answer_by_others(project, held, project.overlap, prefix="late")
    assert post_answer(api(labeler2), held.pk).status_code == 201


def test_a_transcript_over_the_size_limit_is_refused(api, manager, labeler):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    member_add(project=project, username=labeler.username, role="labeler")
    (item,) = make_items(project, 1)
    client = api(labeler)
    before = snapshot()
    response = post_answer(client, item.pk, value="a" * (MAX_TRANSCRIPT_CHARS + 1))
    assert response.status_code == 400
    assert "over the limit" in response.data["detail"] and "value" in response.data
    assert snapshot() == before
    response = post_answer(client, item.pk, value="  um nearest gas station [unintelligible] ")
    assert response.status_code == 201
    assert response.data["value"] == "  um nearest gas station [unintelligible] "  # kept as typed


def test_skip_needs_a_reason_and_releases_the_item(api, project, labeler):
    (item,) = make_items(project, 1)
    client = api(labeler)
    client.get(f"/api/projects/{project.pk}/next/")
    before = snapshot()
    response = client.post(f"/api/items/{item.pk}/skip/", {"reason": "  "}, format="json")
    assert response.status_code == 400 and "reason" in response.data
    assert snapshot() == before
    response = client.post(f"/api/items/{item.pk}/skip/", {"reason": "too dark"}, format="json")
    assert response.status_code == 201 and response.data["reason"] == "too dark"
    assert Reservation.objects.get(labeler=labeler).item_id is None
    assert client.get(f"/api/projects/{project.pk}/next/").status_code == 204
    assert client.get(f"/api/projects/{project.pk}/progress/").data["mine"]["skipped"] == 1


def test_progress_counts_mine_today_and_the_projects_complete_items(api, project, labeler):
    a, b, c = make_items(project, 3)
    answer_by_others(project, a, project.overlap)
    client = api(labeler)
    post_answer(client, b.pk)
    post_answer(client, b.pk, value="dog")  # a revision is not a second answer
    data = client.get(f"/api/projects/{project.pk}/progress/").data
    assert data["mine"] == {"today": 1, "total": 1, "skipped": 0}
    assert data["project"] == {"items": 3, "complete": 1, "overlap": project.overlap}


def test_an_outsider_cannot_use_the_queue(api, outsider, project):
    make_items(project, 1)
    assert api(outsider).get(f"/api/projects/{project.pk}/next/").status_code == 404
    assert api().get(f"/api/projects/{project.pk}/next/").status_code in (401, 403)


def test_the_labeling_endpoints_are_in_the_openapi_schema(api, labeler):
    schema = api(labeler).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "204" in paths["/api/projects/{project_id}/next/"]["get"]["responses"]
    answer_codes = set(paths["/api/items/{item_id}/annotations/"]["post"]["responses"])
    assert {"201", "409"} <= answer_codes and "200" not in answer_codes  # every stored answer is a 201
    assert "post" in paths["/api/items/{item_id}/skip/"]
    assert "get" in paths["/api/projects/{project_id}/annotations/"]
    assert "get" in paths["/api/projects/{project_id}/progress/"]


def test_submit_with_next_answers_and_reserves_in_one_round_trip(api, project, labeler):
    first, second = make_items(project, 2)
    client = api(labeler)
    held = client.get(f"/api/projects/{project.pk}/next/").data["id"]
    response = client.post(f"/api/items/{held}/annotations/?next=1", {"value": "dog"}, format="json")
    assert response.status_code == 201
    assert response.data["annotation"]["value"] == "dog" and response.data["annotation"]["item"] == held
    following = response.data["next"]["id"]
    assert following in {first.pk, second.pk} - {held}
    assert Reservation.objects.get(labeler=labeler).item_id == following
    response = client.post(f"/api/items/{following}/annotations/?next=1", {"value": "cat"}, format="json")
    assert response.status_code == 201 and response.data["next"] is None


def test_submit_with_next_refused_reserves_nothing(api, project, labeler):
    full, other = make_items(project, 2)
    answer_by_others(project, full, project.overlap)
    before = snapshot()
    response = api(labeler).post(f"/api/items/{full.pk}/annotations/?next=1", {"value": "dog"}, format="json")
    assert response.status_code == 409
    assert snapshot() == before


def test_the_loops_answers_match_their_documented_serializers(api, project, labeler, rf):
    """The hot path builds its JSON by hand; it must say exactly what the schema's serializers say."""
    from labeling.api.serializers import (
        AnnotationSubmitOutSerializer,
        QueueItemSerializer,
        annotation_submitted_data,
        queue_item_data,
    )

    guideline_publish(project=project, text="# v1")
    make_items(project, 1)
    make_items(project, 1, start=1, file="items/seven.png")
    client = api(labeler)
    request = rf.get("/")
    response = client.get(f"/api/projects/{project.pk}/next/")
    held = response.data["id"]
    reservation = Reservation.objects.select_related("item").get(labeler=labeler)
    assert response.data == QueueItemSerializer(reservation, context={"request": request}).data
    assert response.data["file"] == f"http://testserver/api/items/{held}/file"  # the highest random key first
    response = client.post(
        f"/api/items/{held}/annotations/?next=1",
        {"value": "dog", "borderline": True, "borderline_with": "cat", "comment": "both", "seconds": 4},
        format="json",
    )
    assert response.status_code == 201
    annotation = Annotation.objects.select_related("labeler", "guideline").get(item_id=held)
    annotation.first_answer = True  # what the view tells the serializers
    assert response.data["annotation"] == AnnotationSubmitOutSerializer(annotation).data
    assert response.data["annotation"] == annotation_submitted_data(annotation)
    reservation = Reservation.objects.select_related("item").get(labeler=labeler)
    assert response.data["next"] == QueueItemSerializer(reservation, context={"request": request}).data
    assert response.data["next"] == queue_item_data(request, reservation)
    assert response.data["next"]["file"] is None


def test_a_bad_or_inactive_token_is_refused(api, project, labeler):
    (item,) = make_items(project, 1)
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 401 and response.data["detail"] == "Invalid token."
    client = api(labeler)
    labeler.is_active = False
    labeler.save()
    response = client.post(f"/api/items/{item.pk}/annotations/", {"value": "cat"}, format="json")
    # Deactivation revokes the account's tokens (accounts.services).
    assert response.status_code == 401 and response.data["detail"] == "Invalid token."
    assert not Annotation.objects.exists()


SUBMIT_BODIES = [
    {},
    {"value": "cat"},
    {"value": "  cat  ", "comment": "  trimmed  ", "borderline_with": " dog "},
    {"value": 7, "seconds": "2.5", "guideline": "3"},
    {"value": None},
    {"value": True},
    {"value": ["cat"]},
    {"value": "a\x00b"},
    {"borderline": "yes", "uncertain": 1, "out_of_domain": "off"},
    {"borderline": "maybe"},
    {"borderline": None},
    {"seconds": None, "guideline": None},
    {"seconds": "fast"},
    {"seconds": float("inf")},
    {"seconds": "1" * 1001},
    {"guideline": 2.0},
    {"guideline": 2.5},
    {"guideline": "two"},
    {"comment": "", "borderline_with": ""},
    {"comment": None},
    {"value": "cat", "unknown": "ignored"},
    ["cat"],
    "cat",
    None,
]


@pytest.mark.parametrize("body", SUBMIT_BODIES)
def test_the_fast_answer_check_says_what_the_serializer_says(body):
    from rest_framework import serializers

    from labeling.api.serializers import AnnotationSubmitSerializer, annotation_submit_data

    serializer = AnnotationSubmitSerializer(data=body)
    try:
        fast = annotation_submit_data(body)
    except serializers.ValidationError as exc:
        assert not serializer.is_valid()
        assert exc.detail == serializer.errors
    else:
        assert serializer.is_valid(), serializer.errors
        assert fast == dict(serializer.validated_data)


def test_a_malformed_answer_names_the_field_and_changes_nothing(api, project, labeler):
    (item,) = make_items(project, 1)
    before = snapshot()
    response = api(labeler).post(
        f"/api/items/{item.pk}/annotations/?next=1", {"value": "cat", "seconds": "fast"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["seconds"] == ["A valid number is required."]
    assert "seconds" in response.data["detail"]
    assert snapshot() == before


def test_the_same_answer_sent_again_is_no_revision(api, project, labeler):
    """A script that lost the 201 retries: the answer stays revision 1, with no history of a change that
    never happened and its last-changed time (version filters read it) kept."""
    (item,) = make_items(project, 1)
    client = api(labeler)
    body = {"value": "dog", "uncertain": True, "comment": "blurry", "seconds": 3.5}
    first = post_answer(client, item.pk, **body)
    assert first.status_code == 201
    answered = Annotation.objects.get(item=item, labeler=labeler).updated
    again = post_answer(client, item.pk, **body)
    assert again.status_code == 201 and again.data["revision"] == 1 and again.data["first_answer"] is False
    annotation = Annotation.objects.get(item=item, labeler=labeler)
    assert annotation.revision == 1 and not annotation.revisions.exists() and annotation.updated == answered
    changed = post_answer(client, item.pk, **{**body, "uncertain": False})  # any difference is a revision
    assert changed.status_code == 201 and changed.data["revision"] == 2


def lapse_the_hold(labeler):
    from datetime import timedelta

    from django.utils import timezone

    Reservation.objects.filter(labeler=labeler).update(expires=timezone.now() - timedelta(seconds=1))


def test_the_item_shown_is_held_again_after_its_hold_lapsed_if_it_is_still_free(api, project, labeler, labeler2):
    """A labeler away from the page long enough for the hold to lapse comes back to the item shown: the
    page asks for it with ?item=, and gets it back while no one took its slot (the queue alone would
    hand out the item closest to completion now, and the page's item was no longer theirs)."""
    other, shown = make_items(project, 2)  # the higher random key first
    client = api(labeler)
    url = f"/api/projects/{project.pk}/next/"
    assert client.get(url).data["id"] == shown.pk
    lapse_the_hold(labeler)
    answer_by_others(project, other, 1)  # meanwhile another item came closer to completion
    back = client.get(url, {"item": shown.pk})
    assert back.status_code == 200 and back.data["id"] == shown.pk
    assert Reservation.objects.get(labeler=labeler).item_id == shown.pk
    assert post_answer(client, shown.pk).status_code == 201
    # Taken meanwhile (k = 1 here: labeler2 answered it): the queue goes on with the next item.
    item = make_items(project, 1, start=10, overlap=1)[0]
    Item.objects.filter(pk=other.pk).update(n_answers=project.overlap)  # out of the way
    assert client.get(url).data["id"] == item.pk
    lapse_the_hold(labeler)
    assert post_answer(api(labeler2), item.pk).status_code == 201
    assert client.get(url, {"item": item.pk}).status_code == 204
    assert api(labeler).get(url, {"item": "x"}).status_code == 400
