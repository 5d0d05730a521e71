"""A JSON body that is no object (``null``, ``[]``, ``"text"``, ``1``, ``true``), sent to an operation that
takes a JSON object, is refused with a 400 saying so, and nothing stored changes.

``null`` to ``POST .../versions/`` built a version with the default recipe, as ``{}`` does; elsewhere such a
body got an answer naming something else ("No data provided", "op: unknown operation 'None'", "item: not
an item of this project", "text: the guideline's markdown text is required").

The operations are read from the OpenAPI schema, so an endpoint added later is covered as it is added.
``NON_OBJECT_BODIES`` names the operations whose JSON body is a list or a scalar (none today): their view
sets ``json_body_any_value`` (``labelhub.parsers``), and their schema documents that body.
"""

import json
from functools import cache

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from labeling.choices import Role
from labeling.models import Item, Membership
from tests.api.seed import seed_project
from tests.conftest import make_project, png_bytes

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch")
JSON = "application/json"

# "METHOD /path" (as in the schema): what its JSON body is, when it is not an object.
NON_OBJECT_BODIES = {}

# Each body, and how the refusal names it.
BODIES = {"null": "null", "[]": "an array", '"text"': "a string", "1": "a number", "true": "true"}


@cache
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def json_body_schema(operation):
    """The schema of an operation's JSON body (a component's, for a reference), else None."""
    content = (operation.get("requestBody") or {}).get("content", {})
    if JSON not in content:
        return None
    body = content[JSON]["schema"]
    if "$ref" in body:
        body = schema()["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return body


def json_body_operations():
    """``"METHOD /path"`` of every write operation that takes a JSON body."""
    return [
        f"{method.upper()} {path}"
        for path, operations in schema()["paths"].items()
        for method, operation in operations.items()
        if method in WRITES and json_body_schema(operation) is not None
    ]


def object_body_operations():
    return [label for label in json_body_operations() if label not in NON_OBJECT_BODIES]


def stored_rows():
    """Every row of every table the app owns."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def test_the_operations_taking_no_object_are_the_listed_ones():
    documented = {}
    for label in json_body_operations():
        method, path = label.split(" ", 1)
        body = json_body_schema(schema()["paths"][path][method.lower()])
        if body.get("type") != "object":
            documented[label] = body
    assert set(documented) == set(NON_OBJECT_BODIES), documented
    opted_out = {
        f"{method} {path}"
        for path, _, method, view in EndpointEnumerator().get_api_endpoints()
        if method.lower() in WRITES and getattr(getattr(view, "cls", None), "json_body_any_value", False)
    }
    assert opted_out == set(NON_OBJECT_BODIES)
    # Every write operation the schema says takes JSON is swept below (more than two dozen today).
    assert len(object_body_operations()) >= 25


@pytest.mark.parametrize("operation", object_body_operations())
def test_a_json_body_that_is_no_object_is_refused_naming_it_and_nothing_changes(manager, operation):
    method, path = operation.split(" ", 1)
    seeded = seed_project(manager)
    labeler = Membership.objects.filter(project=seeded["project"], role=Role.LABELER).order_by("pk").first()
    ids = {**seeded["path"], "username": labeler.user.username}
    url = path.format(**{name: ids[name] for name in ids if "{" + name + "}" in path})
    assert "{" not in url, f"{operation}: give tests/api/seed.py an id for its path"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {seeded['token']}")  # the project's manager: may write anywhere
    client.raise_request_exception = False
    assert client.get("/api/projects/").status_code == 200  # the token's last use is written now, not below
    problems = []
    for body, kind in BODIES.items():
        before = stored_rows()
        response = client.generic(method, url, body, content_type=JSON)
        answer = response.json() if response["Content-Type"].startswith(JSON) else {}
        message = f"the request body must be a JSON object, not {kind}"
        refused = response.status_code == 400 and answer.get("non_field_errors") == [message]
        if not (refused and message in answer["detail"]):
            problems.append(f"{body}: {response.status_code} {answer or response.content[:200]}")
        changed = [table for table, rows in stored_rows().items() if rows != before[table]]
        if changed:
            problems.append(f"{body}: changed {', '.join(changed)}")
    assert not problems, f"{operation}:\n" + "\n".join(problems)


def test_a_version_built_from_null_is_refused_and_from_an_empty_object_uses_the_defaults(api, manager, project):
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/"
    refused = client.post(url, "null", content_type=JSON)
    assert refused.status_code == 400
    assert refused.json()["detail"] == "Invalid input: the request body must be a JSON object, not null"
    assert not project.jobs.exists()
    assert client.post(url, "{}", content_type=JSON).status_code == 202
    assert client.post(url, "", content_type=JSON).status_code == 200  # no body: {} (that build, under way)
    assert project.jobs.count() == 1


def test_form_and_multipart_bodies_are_read_as_before(api, manager, project):
    # Only JSON bodies are checked: a form's or a multipart body's fields are always an object of fields.
    client = api(manager)
    form = "min_answers=1&formats=csv"
    build = client.post(f"/api/projects/{project.pk}/versions/", form, content_type="application/x-www-form-urlencoded")
    assert build.status_code == 202, build.json()
    files = {"files": [SimpleUploadedFile("a.png", png_bytes())], "tags": "null"}
    upload = client.post(f"/api/projects/{project.pk}/items/", files, format="multipart")
    assert upload.status_code == 201, upload.json()
    assert len(upload.json()["imported"]) == 1
    texts = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    manifest = SimpleUploadedFile("batch.jsonl", b'{"text": "great product"}\n')
    queued = client.post(f"/api/projects/{texts.pk}/imports/", {"file": manifest, "tags": "[]"}, format="multipart")
    assert queued.status_code == 202, queued.json()
    assert Item.objects.filter(project=project).count() == 1


class TakesAList(APIView):
    authentication_classes = ()
    permission_classes = ()
    json_body_any_value = True

    def post(self, request):
        return Response({"got": request.data})


class TakesAnObject(TakesAList):
    json_body_any_value = False


def test_a_view_may_take_any_json_value_when_it_says_so():
    factory = APIRequestFactory()
    for body in ([1, 2], "text", None, 3, True, {"a": 1}):
        request = factory.post("/", json.dumps(body), content_type=JSON)
        assert TakesAList.as_view()(request).data == {"got": body}
    refused = TakesAnObject.as_view()(factory.post("/", "[1, 2]", content_type=JSON))
    assert refused.status_code == 400
    assert refused.data["non_field_errors"] == ["the request body must be a JSON object, not an array"]
