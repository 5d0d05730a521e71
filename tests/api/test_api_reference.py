"""docs/api.md, the API reference in the repository, lists exactly the operations the schema has."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_operations(text: str) -> set[tuple[str, str]]:
    return {
        (method, _normalise(path)) for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`\s?]*)", text)
    }


def test_the_reference_parser_sees_operations_and_ignores_prose():
    text = "- `GET /api/projects/{project_id}/` — a project.\nSee `GET /api/jobs/{job}/`; not GET /api/x/."
    assert documented_operations(text) == {("GET", "/api/projects/{}/"), ("GET", "/api/jobs/{}/")}


def test_docs_api_md_lists_every_operation_of_the_schema_and_no_other(api, manager):
    schema = api(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    served = {
        (method.upper(), _normalise(path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method.upper() in METHODS
    }
    documented = documented_operations(REFERENCE.read_text())
    assert sorted(served - documented) == [], "operations missing from docs/api.md"
    assert sorted(documented - served) == [], "docs/api.md lists operations the server does not have"


def test_the_readme_links_only_files_a_clone_has_and_says_how_to_change_the_port():
    root = REFERENCE.parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    local = [t for t in re.findall(r"\]\(([^)#\s]+)", readme) if "://" not in t and not t.startswith("mailto:")]
    assert "docs/api.md" in local
    assert [t for t in local if not (root / t).exists()] == []
    assert "../shared" not in readme and "PORT=" in readme
