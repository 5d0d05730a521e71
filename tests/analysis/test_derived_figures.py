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


@pytest.mark.django_db(transaction=True)  # the image import stages rows in a temporary table
def test_shadow_mode_counts_a_merged_class_as_the_same_prediction(manager, project, labeler, labeler2):
    """A run made before 'dog' was merged into 'cat' predicts 'dog' where the next run predicts 'cat':
    both are scored as 'cat', so the two runs agree on those items and nothing changed between them."""
    from analysis.services.error_analysis import model_runs_compare
    from analysis.services.training import model_run_create
    from labeling.services.taxonomy import taxonomy_apply
    from tests.analysis.error_analysis_helpers import build_error_analysis_project, three_labelers

    run_a, truth, predictions = build_error_analysis_project(project, three_labelers(project, labeler, labeler2))
    taxonomy_apply(project=project, op="merge", payload={"classes": ["cat", "dog"], "into": "cat"}, author=manager)
    merged = {pk: "cat" if label == "dog" else label for pk, label in predictions.items()}
    run_b = model_run_create(
        project=project, name="after-merge", predictions=[{"item": pk, "label": lb} for pk, lb in merged.items()]
    )

    # By hand: what each run predicts once 'dog' counts as 'cat'.
    same = [merged[pk] == ("cat" if label == "dog" else label) for pk, label in predictions.items()]
    assert any(a != b for a, b in zip(predictions.values(), merged.values(), strict=True))

    data = model_runs_compare(project=project, run_a=run_a, run_b=run_b)
    assert data["switches"]["only_a"] == data["switches"]["only_b"] == 0
    assert data["accuracy_a"]["value"] == data["accuracy_b"]["value"]
    assert data["model_agreement"] == sum(same) / len(same) == 1.0
    assert data["n_changed"] == 0 and data["changed"] == []
