"""A request sent again because its answer was lost (a timeout, a dropped connection) must not store its
work twice: the same model run pushed twice is one run."""

import pytest

from analysis.models import ModelRun, Prediction
from tests.labeling.version_helpers import add_texts, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def texts(manager):
    project = text_project(manager, classes=("cat", "dog"))
    return project, add_texts(project, [f"text {i}" for i in range(6)])


def test_a_model_run_pushed_again_is_stored_once(api, manager, texts):
    project, items = texts
    url = f"/api/projects/{project.pk}/model-runs/"
    body = {
        "name": "resnet-7",
        "held_out": [items[0].pk],
        "predictions": [{"item": item.pk, "label": "cat", "confidence": 0.75} for item in items],
    }
    first = api(manager).post(url, body, format="json")
    assert first.status_code == 201, first.json()
    again = api(manager).post(url, body, format="json")  # the client never saw the 201 and retries
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert ModelRun.objects.filter(project=project).count() == 1
    assert Prediction.objects.filter(model_run__project=project).count() == len(items)
    # Any difference (a prediction, the name) is another run, stored as before.
    changed = {**body, "predictions": [{**body["predictions"][0], "label": "dog"}, *body["predictions"][1:]]}
    assert api(manager).post(url, changed, format="json").status_code == 201
    assert api(manager).post(url, {**body, "name": "resnet-8"}, format="json").status_code == 201
    assert ModelRun.objects.filter(project=project).count() == 3
