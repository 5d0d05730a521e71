"""A model run's predictions stored while a campaign locks the same items, on PostgreSQL. A prediction's
foreign key locks its item (key share) when the run commits, one prediction after the other; campaigns
and label imports lock their items in id order (for update). Predictions stored in the order the client
sent them took a higher item's lock, then waited for a lower one the campaign held, while the campaign
waited for the higher: PostgreSQL stopped one of the two (here the campaign, which a reviewer then saw
run again a second later or refused with 503 'try again'; the run, when it was chosen)."""

import pytest

from analysis.models import ModelRun, Prediction
from tests.concurrency import request_while_rows_are_locked, skip_unless_postgresql
from tests.labeling.queue_helpers import make_items


@pytest.mark.django_db(transaction=True)
def test_a_model_run_stored_while_a_campaign_locks_its_items_is_stored(api, manager, project):
    skip_unless_postgresql()
    low, high = make_items(project, 2)
    predictions = [{"item": high.pk, "label": "cat"}, {"item": low.pk, "label": "dog"}]
    # the items locked in id order, as campaign_create, campaign_finish and label imports do; the run's
    # commit waits for the low item
    outcome, still_running = request_while_rows_are_locked(
        lambda: api(manager).post(
            f"/api/projects/{project.pk}/model-runs/",
            {"name": "resnet", "predictions": predictions},
            format="json",
        ),
        first=("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [low.pk]),
        then=("SELECT id FROM labeling_item WHERE id = %s FOR UPDATE", [high.pk]),
    )
    assert not still_running
    assert outcome == {"met": True, "status": 201}
    run = ModelRun.objects.get(project=project)
    assert dict(Prediction.objects.filter(model_run=run).values_list("item_id", "label")) == {
        low.pk: "dog",
        high.pk: "cat",
    }
