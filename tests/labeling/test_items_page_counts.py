"""The items page writes its counts as the other pages do."""

import pytest

from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import text_project

pytestmark = pytest.mark.django_db


def test_the_items_page_counts_with_thousands_separators(client, manager):
    """ "Items (1,200)", as the dashboard and the inventory write counts (it read "Items (1200)")."""
    project = text_project(manager)
    make_items(project, 1200)
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/items/").content.decode()
    assert '<h1>Items <span class="muted">(1,200)</span></h1>' in page
    assert "Select all 1,200 matching the filter" in page
