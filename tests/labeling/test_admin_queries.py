"""The admin's item list reads each row's project and source with the rows, not one query per row: a page
of 100 items made about 200 more queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import DataSource
from tests.labeling.version_helpers import add_texts, text_project

pytestmark = pytest.mark.django_db


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/labeling/item/")
    assert response.status_code == 200
    return len(queries.captured_queries)


def test_the_item_list_reads_the_same_number_of_queries_for_more_rows(admin_client, manager):
    project = text_project(manager)
    sources = [DataSource.objects.create(project=project, name=f"batch {i}") for i in range(2)]
    add_texts(project, ["a", "b"], source=sources[0])
    few = _list_queries(admin_client)
    other = text_project(manager, name="Other")
    add_texts(other, [f"text {i}" for i in range(20)], source=DataSource.objects.create(project=other, name="other"))
    add_texts(project, [f"more {i}" for i in range(20)], source=sources[1])
    page = admin_client.get("/admin/labeling/item/").content.decode()
    assert "batch 1" in page and "Other" in page  # the rows show their project and source
    assert _list_queries(admin_client) == few
