"""The OpenAPI schema tells the truth about errors, nulls and lists."""

import re

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api, manager):
    response = api(manager).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_the_common_error_answers(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path, codes)
            error = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Version", "parent"),
        ("ModelRun", "dataset_version"),
        ("ModelRun", "training_job"),
        ("TrainingJob", "total"),
        ("MapSummary", "total"),
        ("Annotation", "guideline"),
    ],
)
def test_fields_that_answer_null_are_nullable(schema, component, field):
    assert schema["components"]["schemas"][component]["properties"][field].get("nullable") is True


def test_an_items_decisions_and_a_projects_embedders_are_documented_as_paginated_lists(schema):
    for path in ("/api/items/{item_id}/decision/", "/api/projects/{project_id}/embedders/"):
        answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        paginated = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[-1]]
        assert {"count", "next", "previous", "results"} <= set(paginated["properties"]), path
        assert paginated["properties"]["results"]["type"] == "array"


def test_artifact_downloads_document_their_content_types(schema):
    answer = schema["paths"]["/api/projects/{project_id}/versions/{ref}/download"]["get"]["responses"]["200"]
    assert {"application/vnd.apache.parquet", "text/csv", "application/zip"} <= set(answer["content"])


def test_options_answers_every_api_path_without_a_server_error(api, manager, project, schema):
    client = api(manager)
    client.raise_request_exception = False
    for path in schema["paths"]:
        url = re.sub(r"\{[a-z_]+\}", "1", path.replace("{project_id}", str(project.pk)))
        response = client.options(url)
        assert response.status_code < 500, (url, response.status_code)


def test_every_list_of_numbered_pages_documents_its_paging(schema):
    """A client generated from the schema can walk every numbered list: the review queue, campaigns and
    taxonomy changes answer 50 rows a page with ``next`` like the others, and take ``page`` and
    ``page_size`` (the review queue also names the ``map`` its scores came from)."""
    components = schema["components"]["schemas"]
    lists = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        answer = operations["get"]["responses"]["200"].get("content", {}).get("application/json", {}).get("schema", {})
        body = components[answer["$ref"].split("/")[-1]] if "$ref" in answer else answer
        if "results" not in body.get("properties", {}):
            continue
        lists.append(path)
        parameters = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"}
        assert {"page", "page_size"} <= parameters, (path, parameters)
        assert {"count", "next", "previous"} <= set(body["properties"]), (path, sorted(body["properties"]))
        assert body["properties"]["next"].get("nullable") is True, path
    assert {
        "/api/projects/{project_id}/review-queue/",
        "/api/projects/{project_id}/campaigns/",
        "/api/projects/{project_id}/taxonomy-changes/",
    } <= set(lists)
    queue = components["ReviewQueue"]["properties"]
    assert queue["map"]["nullable"] is True
