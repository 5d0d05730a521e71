"""Derived figures recomputed by hand from the answers and compared with what the pages and API show."""

import pytest

from analysis.services.dashboard import dashboard_build
from analysis.services.planning import planning_compute
from labeling.models import Item
from labeling.selectors import labeling_progress, project_overview
from labeling.services.campaigns import campaign_create
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


def test_complete_items_count_a_campaigns_own_overlap_everywhere(manager):
    """A relabel campaign of overlap 1 on a project of overlap 3: its items are complete after one new
    answer, as the labeling page counts them; the dashboard, the planning page and the overview agree."""
    project = text_project(manager, overlap=3)
    users = labelers(project, 3)
    items = add_texts(project, [f"text {i}" for i in range(4)])
    for item in items:
        for user in users:
            answer(item, user, "cat")
    campaign_create(project=project, name="Second look", item_ids=[items[0].pk, items[1].pk], overlap=1)
    answer(items[0], users[0], "dog")  # items[0] has its one answer; items[1] none yet

    # By hand: an item is complete when its current answers reach its own overlap (the campaign's), or
    # the project's when it has none.
    rows = Item.objects.filter(project=project).values_list("n_answers", "overlap")
    expected = sum(1 for n, own in rows if n >= (own or project.overlap))
    assert expected == 3
    assert labeling_progress(project=project, labeler=users[0])["project"]["complete"] == expected

    assert dashboard_build(project=project)["progress"]["complete"] == expected
    plan = planning_compute(project=project, days=0)
    assert plan["progress"]["labeled"] == expected and plan["progress"]["backlog"] == 4 - expected
    assert project_overview(project=project)["complete"] == expected
