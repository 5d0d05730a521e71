"""Error analysis grades a model only on items it did not train on (issue 15, point 1).

The project: 40 text items, two labelers who agree on every one (HLP 1), a version with a 50/25/25
split. The "memorizer" model is right on every train item and wrong on every other: graded on all its
predictions it would score the train share; graded honestly it scores 0.
"""

import pytest

from analysis.services.training import model_run_create, training_job_run
from labeling.choices import Role
from labeling.services.projects import member_add
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

pytestmark = pytest.mark.django_db

CLASSES = ("cat", "dog")
WORDS = {"cat": "meow purr whiskers kitten", "dog": "bark woof puppy fetch"}


@pytest.fixture
def setup(manager, reviewer):
    project = text_project(manager, classes=CLASSES)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    items = add_texts(project, [f"{WORDS[CLASSES[i % 2]]} number {i}" for i in range(40)])
    truth = {item.pk: CLASSES[i % 2] for i, item in enumerate(items)}
    a, b = labelers(project, 2)
    for item in items:
        answer(item, a, truth[item.pk])
        answer(item, b, truth[item.pk])
    version = build(project, manager, {"splits": {"train": 0.5, "dev": 0.25, "test": 0.25}})
    split = {row["item"]: row["split"] for row in manifest(version)}
    assert 0 < sum(s == "train" for s in split.values()) < len(items)
    return project, items, truth, version, split, (a, b)


def other(label):
    return "dog" if label == "cat" else "cat"


def memorizer(truth, split):
    """Right on the train split, wrong elsewhere."""
    return [
        {"item": pk, "label": label if split[pk] == "train" else other(label), "confidence": 0.9}
        for pk, label in truth.items()
    ]


def report(api, user, project, run=None):
    query = f"?model_run={run.pk}" if run else ""
    response = api(user).get(f"/api/projects/{project.pk}/error-analysis/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def overall(data):
    return next(r for r in data["slices"] if r["slice"] == "all")


def test_a_run_on_a_version_is_graded_without_its_train_split(api, manager, reviewer, setup):
    project, items, truth, version, split, (a, b) = setup
    n_train = sum(s == "train" for s in split.values())
    run = model_run_create(
        project=project, name="memorizer", predictions=memorizer(truth, split), dataset_version=version
    )
    data = report(api, reviewer, project, run)
    assert data["n_predictions"] == 40
    assert data["n_left_out"] == n_train and data["held_out"]["n_train"] == n_train
    assert data["held_out"]["basis"] == "dataset_version" and data["held_out"]["warning"] is None
    assert data["n_items"] == 40 - n_train
    # Graded on all predictions this model would score n_train / 40 and look close to HLP.
    assert overall(data)["model_accuracy"] == 0.0 and overall(data)["hlp"] == 1.0
    assert overall(data)["gap_to_hlp"] == 1.0 and not overall(data)["model_beats_hlp"]
    # Items the version does not hold (imported after it) were never trained on: they are compared.
    new = add_texts(project, ["meow purr later", "bark woof later"])
    for item, label in zip(new, CLASSES, strict=True):
        answer(item, a, label)
        answer(item, b, label)
    predictions = memorizer(truth, split) + [{"item": i.pk, "label": lab} for i, lab in zip(new, CLASSES, strict=True)]
    run2 = model_run_create(project=project, name="later", predictions=predictions, dataset_version=version)
    data = report(api, reviewer, project, run2)
    assert data["n_items"] == 40 - n_train + 2 and data["n_left_out"] == n_train
    assert overall(data)["model_accuracy"] == pytest.approx(2 / (40 - n_train + 2))


def test_every_prediction_records_its_split_in_the_version(setup):
    project, _, truth, version, split, _ = setup
    run = model_run_create(project=project, name="m", predictions=memorizer(truth, split), dataset_version=version)
    stored = dict(run.predictions.values_list("item_id", "split"))
    assert stored == split


def test_the_built_in_trainer_is_graded_on_held_out_items_only(api, manager, reviewer, setup):
    project, _, _, version, split, _ = setup
    response = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/", {"version": 1, "trainer": "logistic_regression"}, format="json"
    )
    training_job_run(job_id=response.json()["job"])
    detail = api(reviewer).get(f"/api/projects/{project.pk}/training-jobs/{response.json()['id']}/").json()
    assert detail["status"] == "succeeded", detail["errors"]
    data = report(api, reviewer, project)
    assert data["model_run"]["id"] == detail["model_run"]
    n_train = version.counts["splits"]["train"]
    assert data["n_left_out"] == n_train == sum(s == "train" for s in split.values())
    assert data["n_items"] == version.counts["splits"]["dev"] + version.counts["splits"]["test"]
    assert data["held_out"]["warning"] is None


def test_a_run_without_a_version_compares_the_items_it_names_held_out(api, manager, reviewer, setup):
    project, items, truth, _, _, _ = setup
    held = [i.pk for i in items[:6]]
    predictions = [{"item": pk, "label": label} for pk, label in truth.items()]
    # Wrong on the named items only: the honest score is 0, the inflated one 34/40.
    for p in predictions:
        if p["item"] in held:
            p["label"] = other(p["label"])
    url = f"/api/projects/{project.pk}/model-runs/"
    response = api(manager).post(url, {"name": "named", "predictions": predictions, "held_out": held}, format="json")
    assert response.status_code == 201, response.json()
    data = report(api, reviewer, project)
    assert data["n_items"] == 6 and data["n_left_out"] == 34
    assert data["held_out"] == {"basis": "named", "n_left_out": 34, "n_train": 0, "n_not_named": 34, "warning": None}
    assert overall(data)["model_accuracy"] == 0.0
    # Or per prediction: "split" train / dev / test / held_out; unmarked items are left out too.
    marks = ["train"] * 3 + ["test"] * 2 + ["held_out"] * 2
    marked = [{**p, "split": s} for p, s in zip(predictions, marks, strict=False)] + predictions[len(marks) :]
    response = api(manager).post(url, {"name": "split", "predictions": marked}, format="json")
    assert response.status_code == 201, response.json()
    data = report(api, reviewer, project)
    assert data["n_items"] == 4 and data["held_out"]["n_train"] == 3 and data["held_out"]["n_not_named"] == 33


def test_a_run_that_names_nothing_is_compared_whole_with_a_plain_warning(api, client, manager, reviewer, setup):
    project, _, truth, _, _, _ = setup
    model_run_create(project=project, name="anonymous", predictions=[{"item": k, "label": v} for k, v in truth.items()])
    data = report(api, reviewer, project)
    assert data["n_items"] == 40 and data["n_left_out"] == 0 and data["held_out"]["basis"] == "none"
    assert "names no dataset version and no held-out items" in data["held_out"]["warning"]
    assert "inflated" in data["held_out"]["warning"]
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    assert 'id="held-out-warning"' in html and "names no dataset version and no held-out items" in html
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'id="held-out-warning"' in dashboard


def test_a_run_entirely_on_its_train_split_has_nothing_to_compare(api, reviewer, setup):
    project, _, truth, version, split, _ = setup
    train = [{"item": k, "label": v} for k, v in truth.items() if split[k] == "train"]
    model_run_create(project=project, name="train only", predictions=train, dataset_version=version)
    data = report(api, reviewer, project)
    assert data["n_items"] == 0 and data["n_left_out"] == len(train) and data["slices"] == []
    assert "nothing to compare" in data["held_out"]["warning"]


def test_the_page_says_how_many_items_were_left_out(client, reviewer, setup):
    project, _, truth, version, split, _ = setup
    n_train = sum(s == "train" for s in split.values())
    model_run_create(project=project, name="memorizer", predictions=memorizer(truth, split), dataset_version=version)
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    assert f'data-n-left-out="{n_train}"' in html
    assert f'<b data-metric="n_left_out">{n_train}</b> left out: on the train split of version 1' in html
    assert 'id="held-out-warning"' not in html
    assert '<td class="num" data-measure="model_accuracy">0.000' in html


def test_shadow_mode_leaves_out_what_either_run_trained_on(api, reviewer, setup):
    project, items, truth, version, split, _ = setup
    n_train = sum(s == "train" for s in split.values())
    a = model_run_create(project=project, name="a", predictions=memorizer(truth, split), dataset_version=version)
    b = model_run_create(
        project=project, name="b", predictions=[{"item": k, "label": v} for k, v in truth.items()], held_out=[]
    )
    # b names nothing held out (an empty list) and marks nothing: it is compared whole, with a warning.
    response = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/?a={a.pk}&b={b.pk}")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["n_common"] == 40 - n_train and data["n_left_out"] == n_train
    assert data["accuracy_a"]["value"] == 0.0 and data["accuracy_b"]["value"] == 1.0
    assert "names no dataset version" in data["warning"]
    # b, now with only six items held out: the comparison keeps the items neither trained on.
    held = [i.pk for i in items if split[i.pk] != "train"][:6]
    c = model_run_create(
        project=project, name="c", predictions=[{"item": k, "label": v} for k, v in truth.items()], held_out=held
    )
    data = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/?a={a.pk}&b={c.pk}").json()
    assert data["n_common"] == 6 and data["n_left_out"] == 34 and data["warning"] is None


def test_held_out_input_is_checked(api, manager, setup, other_project):
    project, items, truth, _, _, _ = setup
    url = f"/api/projects/{project.pk}/model-runs/"
    predictions = [{"item": items[0].pk, "label": "cat"}, {"item": items[1].pk, "label": "dog", "split": "train"}]

    def post(**body):
        return api(manager).post(url, {"name": "m", "predictions": predictions, **body}, format="json")

    cases = [
        ({"held_out": [items[5].pk]}, f"items this run does not predict: {items[5].pk}"),
        ({"held_out": [items[1].pk]}, f"items whose prediction says split 'train': {items[1].pk}"),
        ({"held_out": "all"}, "a list of item ids"),
        ({"predictions": [{"item": items[0].pk, "label": "cat", "split": "validation"}]}, "split must be one of"),
    ]
    for body, message in cases:
        response = post(**body)
        assert response.status_code == 400, body
        assert message in str(response.json()), (message, response.json())
    assert post(held_out=[items[0].pk]).status_code == 201
