"""The labeling loop's JSON renderer (orjson) writes exactly what DRF's JSONRenderer writes."""

import datetime
import decimal
import json
import uuid

import pytest
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail

from labelhub.renderers import JSONRenderer
from tests.labeling.queue_helpers import make_items

SAMPLES = [
    {"id": 1, "text": "caf\u00e9 \u2603 \U0001f600", "file": None, "ok": True, "n": -(2**63)},
    {"annotation": {"seconds": 3.0, "comment": "", "value": ["a", 1, 2.5]}, "next": None},
    {"text": "line\u2028separator\u2029paragraph", "quote": 'a "b" \\ c\n\t'},
    {"detail": ErrorDetail("unknown class 'x'", code="invalid"), "value": [ErrorDetail("bad", code="invalid")]},
    {"when": datetime.datetime(2026, 12, 4, 17, 0, 0, 123456, tzinfo=datetime.UTC), "day": datetime.date(2026, 1, 2)},
    {"price": decimal.Decimal("1.50"), "key": uuid.UUID(int=7), "big": 2**70},
    {1: "integer key"},
    [],
    "plain",
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_loop_renderer_writes_what_drf_writes(data):
    assert JSONRenderer().render(data, "application/json") == renderers.JSONRenderer().render(data, "application/json")


def test_indented_output_is_drfs():
    data = {"a": [1, 2]}
    media = "application/json; indent=2"
    assert JSONRenderer().render(data, media) == renderers.JSONRenderer().render(data, media)


@pytest.mark.django_db
def test_an_item_text_with_a_line_separator_reaches_the_labeler_intact(api, project, labeler):
    first, second = make_items(project, 2)
    for item in (first, second):
        item.text = f"before\u2028after {item.pk}"
        item.save(update_fields=["text"])
    client = api(labeler)
    response = client.get(f"/api/projects/{project.pk}/next/")
    assert b"\\u2028" in response.content and "\u2028".encode() not in response.content
    held = json.loads(response.content)
    assert held["text"] == f"before\u2028after {held['id']}"
    response = client.post(f"/api/items/{held['id']}/annotations/?next=1", {"value": "cat"}, format="json")
    body = json.loads(response.content)
    assert response.status_code == 201 and body["annotation"]["value"] == "cat"
    assert body["next"]["text"] == f"before\u2028after {body['next']['id']}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/projects/", "/api/projects/{p}/items/", "/api/projects/{p}/members/"])
def test_an_api_list_opened_in_a_browser_is_shown_not_a_500(client, manager, project, path):
    # DRF's browsable page asked each list view for its queryset, to build a filter form LabelHub has
    # no filters for; the views answer their lists without one, and the page was a 500.
    from labeling.services.imports import ImportEntry, items_import
    from tests.conftest import png_bytes

    items_import(project=project, entries=[ImportEntry(name="a<b>.png", load=lambda: png_bytes(seed=1))])
    client.force_login(manager)
    client.raise_request_exception = False
    response = client.get(path.format(p=project.pk), HTTP_ACCEPT="text/html")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/html")
    if "items" in path:
        assert "a&lt;b&gt;.png" in response.content.decode()  # the item's name, escaped
