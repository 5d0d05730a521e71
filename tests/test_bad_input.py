"""Input any member can send answers 400 in the API's error shape (or a 400 page), never a 500.

Each case was a 500 once (issue 14, point 8); on PostgreSQL a NUL character fails at the database.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Campaign, Guideline, TaxonomyChange
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api, manager):
    client = api(manager)
    client.raise_request_exception = False  # a 500 must show as a 500 here, not as an exception
    return client


def assert_refused(response, field, words):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert field in body, body
    assert words in body["detail"] and field in body["detail"], body


def test_options_on_campaign_finish_describes_the_endpoint(client, project):
    response = client.options(f"/api/projects/{project.pk}/campaigns/1/finish/")
    assert response.status_code == 200
    assert "POST" in response["Allow"]


def test_options_on_taxonomy_undo_describes_the_endpoint(client, project):
    response = client.options(f"/api/projects/{project.pk}/taxonomy-changes/1/undo/")
    assert response.status_code == 200
    assert "POST" in response["Allow"]


def test_campaign_filter_sent_as_form_text_is_refused(client, project):
    response = client.post(f"/api/projects/{project.pk}/campaigns/", {"name": "again", "filter": "abc"})
    assert_refused(response, "filter", "dictionary")
    assert not Campaign.objects.exists()


def test_campaign_filter_sent_as_multipart_text_is_refused(client, project):
    response = client.post(
        f"/api/projects/{project.pk}/campaigns/", {"name": "again", "filter": "abc"}, format="multipart"
    )
    assert_refused(response, "filter", "dictionary")


def test_campaign_filter_with_a_list_value_is_refused(client, project):
    response = client.post(
        f"/api/projects/{project.pk}/campaigns/", {"name": "again", "filter": {"tag": ["a"]}}, format="json"
    )
    assert_refused(response, "filter", "single value")


def test_nul_in_guideline_text_is_refused(client, project):
    response = client.post(f"/api/projects/{project.pk}/guidelines/", {"text": "Cats\x00 first"}, format="json")
    assert_refused(response, "text", "NUL")
    assert not Guideline.objects.filter(project=project).exists()


def test_nul_in_guideline_text_sent_as_a_form_is_refused(client, project):
    response = client.post(f"/api/projects/{project.pk}/guidelines/", {"text": "Cats\x00 first"})
    assert_refused(response, "text", "NUL")


def test_nul_in_campaign_name_is_refused(client, project):
    body = {"name": "again\x00", "filter": {"tag": "night"}}
    response = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert_refused(response, "name", "NUL")


def test_nul_in_taxonomy_class_name_is_refused(client, project):
    body = {"op": "add", "key": "bird", "name": "Bird\x00"}
    response = client.post(f"/api/projects/{project.pk}/taxonomy-changes/", body, format="json")
    assert_refused(response, "name", "NUL")
    assert not TaxonomyChange.objects.exists()


def test_nul_in_embedding_model_name_is_refused(client, project):
    body = {"model": "mine\x00", "vectors": [{"item": 1, "vector": [0.5, 0.5]}]}
    response = client.post(f"/api/projects/{project.pk}/embeddings/", body, format="json")
    assert_refused(response, "model", "NUL")


def test_nul_deep_inside_a_body_is_named_by_its_path(client, project):
    body = {"name": "again", "filter": {"tag": "night\x00"}}
    response = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert_refused(response, "filter.tag", "NUL")


def test_escaped_backslash_before_u0000_is_ordinary_text(client, project):
    # The JSON text "\\u0000" is a backslash followed by "u0000", not a NUL character.
    response = client.post(
        f"/api/projects/{project.pk}/guidelines/", '{"text": "a \\\\u0000 b"}', content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["text"] == "a \\u0000 b"


@pytest.mark.parametrize("param", ["tag", "source", "label", "labeler"])
@pytest.mark.parametrize("path", ["items/", "review-queue/", "agreement/"])
def test_nul_in_an_api_query_parameter_is_refused(client, project, param, path):
    response = client.get(f"/api/projects/{project.pk}/{path}?{param}=night%00")
    assert_refused(response, param, "NUL")


@pytest.mark.parametrize("param", ["tag", "source", "label", "labeler"])
@pytest.mark.parametrize("path", ["items/", "review/", "agreement/"])
def test_nul_in_a_page_query_parameter_is_a_400_page(client, manager, project, param, path):
    client.force_login(manager)
    response = client.get(f"/projects/{project.pk}/{path}?{param}=night%00")
    assert response.status_code == 400
    text = response.content.decode()
    assert param in text and "NUL" in text and 'href="/"' in text


def test_nul_in_an_api_path_is_refused(client, project):
    response = client.get(f"/api/projects/{project.pk}/versions/v%00/")
    assert_refused(response, "path", "NUL")


def test_deeply_nested_json_is_refused(client, project):
    response = client.post(f"/api/projects/{project.pk}/campaigns/", "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


def test_nesting_within_the_limit_still_parses(client, project):
    nested = "[" * 60 + "]" * 60
    response = client.post(
        f"/api/projects/{project.pk}/campaigns/",
        '{"name": "deep", "items": '
        + nested
        + ', "note": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        content_type="application/json",
    )
    # Parsed (brackets inside strings are text); refused by the serializer for what it says, not its depth.
    assert response.status_code == 400
    assert "nested" not in response.json()["detail"] and "items" in response.json()


# Found by the Schemathesis run (tests/api/test_openapi_fuzz.py).


def test_item_id_beyond_64_bits_in_a_campaign_is_refused(client, project):
    body = {"name": "again", "items": [2**70]}
    response = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert_refused(response, "items", "not items of this project")


def test_item_id_beyond_64_bits_in_a_map_selection_is_refused(client, project):
    body = {"items": [2**70], "action": "tag", "tag": "odd"}
    response = client.post(f"/api/projects/{project.pk}/selection/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert "items" in response.json()


def test_item_id_beyond_64_bits_in_the_answer_list_is_refused(client, project):
    response = client.get(f"/api/projects/{project.pk}/annotations/?item={2**70}")
    assert_refused(response, "item", "out of range")


def test_an_item_id_beyond_64_bits_in_the_path_is_a_404(api, labeler, project):
    """Found by Schemathesis: the answer endpoint's hand-written lookup passed the id to the driver."""
    huge = 2**100
    response = api(labeler).post(f"/api/items/{huge}/annotations/", {"value": "cat"}, format="json")
    assert response.status_code == 404 and "No item with that id" in response.json()["detail"]
    assert api(labeler).get(f"/api/projects/{huge}/").status_code == 404


# Found by an audit that sent every endpoint well-formed values no row or calendar has: each was a 500.


@pytest.mark.parametrize("since", ["2020-13-45", "2020-02-30", "2020-01-01T25:00"])
@pytest.mark.parametrize("path", ["agreement/", "review-queue/"])
def test_a_day_the_calendar_lacks_in_since_is_refused(client, project, path, since):
    response = client.get(f"/api/projects/{project.pk}/{path}?since={since}")
    assert_refused(response, "since", f"'{since}' is not a date")


@pytest.mark.parametrize("path", ["agreement/", "review/"])
def test_a_day_the_calendar_lacks_on_a_page_is_named_there(client, manager, project, path):
    client.force_login(manager)
    response = client.get(f"/projects/{project.pk}/{path}?since=2020-02-30")
    assert response.status_code in (200, 400)  # the form, with the problem beside it, or a 400 page
    assert "2020-02-30&#x27; is not a date" in response.content.decode()


def test_a_day_the_calendar_lacks_in_a_drift_window_is_refused(client, project):
    query = "baseline_from=2020-02-30&baseline_to=2020-03-01&current_from=2020-03-01&current_to=2020-04-01"
    response = client.get(f"/api/projects/{project.pk}/drift/?{query}")
    assert_refused(response, "baseline_from", "'2020-02-30' is not a date")


def test_an_item_id_beyond_64_bits_in_the_review_queue_is_refused(client, project):
    response = client.get(f"/api/projects/{project.pk}/review-queue/?items=1,{2**70}")
    assert_refused(response, "items", "item ids")


def test_a_source_id_beyond_64_bits_lists_no_items(client, manager, project):
    from labeling.models import Item

    Item.objects.create(project=project, text="kept")
    response = client.get(f"/api/projects/{project.pk}/items/?source={2**70}")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == []
    client.force_login(manager)
    assert client.get(f"/projects/{project.pk}/items/?source={2**70}").status_code == 200


def test_a_source_id_beyond_64_bits_in_a_campaign_filter_is_no_source(client, project):
    body = {"name": "again", "filter": {"source": str(2**70)}}
    response = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert f"unknown source '{2**70}' (not a source of this project)" in response.json()["detail"]
    assert not Campaign.objects.exists()


def test_an_item_id_beyond_64_bits_on_the_review_page_is_named(client, manager, project):
    client.force_login(manager)
    response = client.get(f"/projects/{project.pk}/review/?items={2**70}")
    assert response.status_code in (200, 400)  # the queue's form, with the problem beside it, or a 400 page
    assert "item ids" in response.content.decode()


def test_a_field_s_messages_are_a_list_whatever_the_view_raised(client, project):
    """The README's error shape: ``{"detail": "...", "<field>": [...]}``; a view that raised one sentence
    for a field answered that field as a bare string."""
    body = client.get(f"/api/projects/{project.pk}/review-queue/?classes=a").json()
    assert body["classes"] == ["a class pair is two classes: classes=a,b"]
    assert body["detail"].startswith("Invalid input") or "classes" in body["detail"]


def test_a_json_body_over_the_size_limit_is_a_413_in_the_api_s_shape(client, project, settings):
    # A push of vectors (or any body) over DATA_UPLOAD_MAX_MEMORY_SIZE answered an HTML "Bad Request (400)"
    # page with no reason: a script could not tell that it should send fewer vectors per request.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"model": "mine", "vectors": [{"item": i, "vector": [0.25] * 8} for i in range(100)]}
    response = client.post(f"/api/projects/{project.pk}/embeddings/", body, format="json")
    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "smaller requests" in response.json()["detail"] and "1000 bytes" in response.json()["detail"]


def test_too_many_files_in_one_upload_is_refused_in_the_api_s_shape(client, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [SimpleUploadedFile(f"{i}.txt", b"x") for i in range(5)]
    response = client.post(f"/api/projects/{project.pk}/items/", {"files": files}, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert "more than 3 files" in response.json()["detail"]
    assert "/imports/" in response.json()["detail"]


def test_too_many_form_fields_is_refused_in_the_api_s_shape(client, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    fields = {f"field{i}": "x" for i in range(5)}
    response = client.post(f"/api/projects/{project.pk}/items/", fields, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert "more than 3 fields" in response.json()["detail"]


def test_too_many_query_parameters_are_refused_in_the_api_s_shape(client, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    response = client.get(f"/api/projects/{project.pk}/items/?a=1&b=2&c=3&d=4&e=5")
    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"detail": "The request carries more than 3 fields."}


def test_a_server_error_in_the_api_answers_the_api_s_error_shape(client, project, monkeypatch):
    # Django's "Server Error (500)" HTML page was all a script got: the contract's errors are {"detail"}.
    from labeling.api import projects

    def fail(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(projects, "project_for_user", fail)
    response = client.get(f"/api/projects/{project.pk}/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json" and "detail" in response.json()
    assert "boom" not in response.content.decode()  # nothing of the error itself is shown


def test_a_body_of_a_type_the_endpoint_does_not_take_is_told_what_it_takes(client, project):
    # DRF's 415 named only the type sent; a script posting JSON to the upload endpoint learnt nothing of
    # what to send instead.
    response = client.post(f"/api/projects/{project.pk}/items/", {"files": []}, format="json")
    assert response.status_code == 415
    assert response.json()["detail"] == (
        'Unsupported media type "application/json": this endpoint takes multipart/form-data, '
        "application/x-www-form-urlencoded."
    )


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"op": "add", "key": "bird", "hotkey": "ab"}, "hotkey", "one character"),
        ({"op": "add", "key": "bird", "hotkey": "n"}, "hotkey", "reserved by the labeling page"),
        ({"op": "add", "key": "bird", "name": "B" * 201}, "name", "at most 200 characters"),
        ({"op": "rename", "key": "cat", "new_name": "C" * 201}, "new_name", "at most 200 characters"),
        ({"op": "merge", "classes": ["cat", "dog"], "into": "pet", "name": "P" * 201}, "name", "at most 200"),
    ],
)
def test_a_taxonomy_change_with_a_class_the_classes_cannot_hold_is_refused(client, project, body, field, words):
    # A two-letter hotkey or a 201-character name was a 500 (the database refused it); 'n' was taken,
    # and the labeling page's own 'n' (skip) then answered that class instead.
    response = client.post(f"/api/projects/{project.pk}/taxonomy-changes/", body, format="json")
    assert_refused(response, field, words)
    assert not TaxonomyChange.objects.exists()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/projects/{p}/versions/²/", 404),
        ("/api/projects/{p}/versions/latest/diff?against=²", 400),
        ("/api/projects/{p}/versions/latest/diff?against=latest&limit=²", 400),
        ("/api/projects/{p}/agreement/?labelers=²", 400),
    ],
)
def test_a_superscript_digit_where_a_number_goes_is_refused_not_a_500(client, manager, project, path, status):
    # str.isdigit() takes '²', which int() refuses: each of these was a 500.
    from labeling.services import versions

    job = versions.version_build_start(project=project, user=manager, recipe={})
    versions.version_build_run(job_id=job.pk)
    response = client.get(path.format(p=project.pk))
    assert response.status_code == status, (response.status_code, response.content[:300])


def test_a_superscript_digit_in_the_review_queue_is_left_out_not_a_500(reviewer, project):
    from django.test import Client

    from labeling.services.imports import ImportEntry, items_import

    first, second = items_import(
        project=project, entries=[ImportEntry(name=f"{n}.png", load=lambda n=n: png_bytes(seed=n)) for n in (1, 2)]
    ).imported
    browser = Client(raise_request_exception=False)
    browser.force_login(reviewer)
    response = browser.get(f"/projects/{project.pk}/review/{first}/?queue=²,{second}")
    assert response.status_code == 200, response.status_code
    assert f"/review/{second}/?queue={second}" in response.content.decode()  # the next item is still offered


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"op": "rename", "key": ["cat"], "new_name": "Kitty"}, "key"),
        ({"op": "rename", "key": {"a": 1}, "new_name": "Kitty"}, "key"),
        ({"op": "retire", "key": ["cat"]}, "key"),
        ({"op": "merge", "classes": [["cat"], "dog"], "into": "pet"}, "classes"),
        ({"op": "merge", "classes": [{"key": "cat"}, "dog"], "into": "pet"}, "classes"),
        ({"op": "add", "key": "bird", "description": {"a": 1}}, "description"),
        ({"op": "add", "key": "bird", "reason": ["why"]}, "reason"),
        # empty ones, which read as "not given": the rename went on with the old key or name
        ({"op": "rename", "key": "cat", "new_key": [], "new_name": "Kitty"}, "new_key"),
        ({"op": "rename", "key": "cat", "new_key": "kitty", "new_name": {}}, "new_name"),
        ({"op": "add", "key": "bird", "name": []}, "name"),
        ({"op": "add", "key": "bird", "hotkey": []}, "hotkey"),
        ({"op": "merge", "classes": ["cat", "dog"], "into": "pet", "name": {}}, "name"),
    ],
)
@pytest.mark.parametrize("preview", ["", "?preview=1"])
def test_a_taxonomy_change_with_a_list_or_object_for_a_key_or_text_is_refused(client, project, body, field, preview):
    # A list or an object where a class key goes was a 500 (unhashable type); one as a description or a
    # reason was stored as its Python spelling ("{'a': 1}").
    response = client.post(f"/api/projects/{project.pk}/taxonomy-changes/{preview}", body, format="json")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in response.json(), response.json()
    assert not TaxonomyChange.objects.exists()
    assert sorted(project.classes.values_list("key", flat=True)) == ["cat", "dog", "other"]


@pytest.mark.parametrize("value", ["", "abc", "1.5", "²"])
def test_a_delivery_or_invitation_that_is_no_id_in_a_page_form_is_no_such_row(client, manager, project, value):
    # A page form's invitation (Members: withdraw) or delivery (Webhooks: send again) that was not a
    # whole number was a 500 (the database lookup raised ValueError); it is answered as an unknown one.
    from labeling.models import Invitation
    from labeling.services.invitations import invitation_create
    from labeling.services.webhooks import webhook_create

    client.force_login(manager)
    webhook = webhook_create(project=project, url="https://hooks.example.org/x", user=manager)
    response = client.post(f"/projects/{project.pk}/webhooks/{webhook.pk}/redeliver/", {"delivery": value})
    assert response.status_code == 404, (response.status_code, response.content[:300])
    assert not webhook.deliveries.exists()
    invitation_create(
        project=project, email="new@example.org", role="labeler", invited_by=manager, link_for=lambda token: token
    )
    response = client.post(f"/projects/{project.pk}/members/", {"action": "withdraw", "invitation": value}, follow=True)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert "No such invitation in this project." in response.content.decode()
    assert Invitation.objects.filter(email="new@example.org", revoked__isnull=True).exists()


def test_true_or_false_as_an_answer_s_seconds_is_refused_naming_the_field(api, labeler, project):
    # JSON true was read as the number 1 (false as 0): the answer was stored with seconds 1.0.
    from labeling.models import Annotation, Item

    item = Item.objects.create(project=project, text="a note")
    for flag in (True, False):
        body = {"value": "cat", "seconds": flag}
        response = api(labeler).post(f"/api/items/{item.pk}/annotations/", body, format="json")
        assert response.status_code == 400, (response.status_code, response.content[:300])
        assert "seconds" in response.json() and str(flag).lower() in response.json()["detail"]
    assert not Annotation.objects.exists()
    response = api(labeler).post(f"/api/items/{item.pk}/annotations/", {"value": "cat", "seconds": 2.5}, format="json")
    assert response.status_code == 201 and response.json()["seconds"] == 2.5
