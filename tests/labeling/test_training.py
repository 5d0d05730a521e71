"""Training jobs (the built-in reference trainer, the external hand-off) and model runs sent back."""

import pytest

from analysis.models import ModelRun, Prediction
from analysis.services import training as training_service
from analysis.services.training import training_job_run
from labeling.models import Job, TrainingJob
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db

WORDS = {"cat": "meow purr whiskers kitten", "dog": "bark woof puppy fetch"}


@pytest.fixture
def versioned(manager, reviewer, labeler):
    from labeling.choices import Role
    from labeling.services.projects import member_add

    project = text_project(manager, classes=("cat", "dog"))
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    texts = [f"{WORDS[('cat', 'dog')[i % 2]]} number {i}" for i in range(80)]
    items = add_texts(project, texts)
    (a,) = labelers(project, 1)
    for i, item in enumerate(items):
        answer(item, a, ("cat", "dog")[i % 2])
    version = build(project, manager, {"splits": {"train": 0.6, "dev": 0.2, "test": 0.2}})
    return project, items, version


def test_reference_trainer_end_to_end(api, manager, reviewer, versioned):
    project, items, version = versioned
    response = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": "latest", "trainer": "logistic_regression"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["version"] == 1
    training_job_run(job_id=body["job"])
    detail = api(reviewer).get(f"/api/projects/{project.pk}/training-jobs/{body['id']}/").json()
    assert detail["status"] == "succeeded", detail["errors"]
    metrics = detail["metrics"]
    assert set(metrics) == {"train", "dev", "test"}
    for split in ("dev", "test"):
        assert metrics[split]["accuracy"] >= 0.9
        classes = {c["class"]: c for c in metrics[split]["classes"]}
        assert set(classes) == {"cat", "dog"}
        assert {"precision", "recall", "f1", "support"} <= set(classes["cat"])
        assert sum(c["support"] for c in classes.values()) == metrics[split]["n"]
    run = ModelRun.objects.get(pk=detail["model_run"])
    assert run.dataset_version == version and run.training_job_id == body["id"]
    assert run.n_predictions == len(items) == Prediction.objects.filter(model_run=run).count()
    assert set(Prediction.objects.filter(model_run=run).values_list("label", flat=True)) == {"cat", "dog"}
    runs = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/").json()
    assert runs["results"][0]["id"] == run.pk and runs["results"][0]["dataset_version"] == 1


def test_retrying_a_succeeded_training_job_names_the_training_job_the_client_retried(api, manager, versioned):
    # It answered "job 2 already succeeded": the id of the background job, which the client never used.
    project, _, _ = versioned
    started = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/", {"version": "latest", "trainer": "logistic_regression"}
    )
    body = started.json()
    assert body["job"] != body["id"]  # the version's build made a job first: the two ids differ
    training_job_run(job_id=body["job"])
    response = api(manager).post(f"/api/projects/{project.pk}/training-jobs/{body['id']}/retry/")
    assert response.status_code == 409
    assert response.json()["detail"] == f"training job {body['id']} already succeeded"


def test_a_training_attempt_taken_over_stores_no_second_model_run(api, manager, versioned, monkeypatch):
    """An attempt that went silent (its worker cut off from the database) is taken over; when it comes back
    and finishes, it used to store its model run beside the new attempt's: two runs of one training job."""
    from django.db.models import F

    project, _, _ = versioned
    body = (
        api(manager)
        .post(
            f"/api/projects/{project.pk}/training-jobs/",
            {"version": "latest", "trainer": "logistic_regression"},
            format="json",
        )
        .json()
    )
    real = training_service._features

    def features_then_taken_over(*args, **kwargs):
        found = real(*args, **kwargs)
        Job.objects.filter(pk=body["job"]).update(attempts=F("attempts") + 1)  # another attempt owns it now
        return found

    monkeypatch.setattr(training_service, "_features", features_then_taken_over)
    training_job_run(job_id=body["job"])
    assert not ModelRun.objects.filter(training_job_id=body["id"]).exists()
    assert Job.objects.get(pk=body["job"]).status == "running"  # the attempt that owns it finishes it


def test_trainer_parameters_are_checked(api, manager, versioned):
    project, _, _ = versioned
    url = f"/api/projects/{project.pk}/training-jobs/"
    response = api(manager).post(url, {"version": 1, "params": {"learning_rate": 0.1}}, format="json")
    assert response.status_code == 400 and "unknown parameters: learning_rate" in response.json()["detail"]
    response = api(manager).post(url, {"version": 9}, format="json")
    assert response.status_code == 400 and "No version '9'" in response.json()["detail"]
    response = api(manager).post(url, {"version": 1, "trainer": "xgboost"}, format="json")
    assert response.status_code == 400
    assert not TrainingJob.objects.exists()


def test_external_trainer_is_sent_to_its_queue_and_reports_back(api, manager, versioned, monkeypatch):
    project, items, _ = versioned
    sent = []
    monkeypatch.setattr(training_service, "send_external", lambda payload, queue: sent.append((queue, payload)))
    response = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": 1, "trainer": "external", "params": {"epochs": 3}},
        format="json",
    )
    training_id, job_id = response.json()["id"], response.json()["job"]
    training_job_run(job_id=job_id)
    ((queue, payload),) = sent
    assert queue == "training-external"
    assert payload["version_url"].endswith(f"/api/projects/{project.pk}/versions/1/")
    assert payload["manifest_url"].endswith("/versions/1/manifest") and payload["params"]["epochs"] == 3
    from accounts.models import ApiToken, key_digest

    assert ApiToken.objects.get(digest=key_digest(payload["token"])).user == manager
    detail = api(manager).get(f"/api/projects/{project.pk}/training-jobs/{training_id}/").json()
    assert detail["status"] == "waiting_for_predictions"
    # The team's worker reads the manifest with the token and posts its predictions back.
    client = api(manager)
    lines = b"".join(client.get(payload["manifest_url"]).streaming_content).decode().splitlines()
    assert len(lines) == len(items)
    predictions = [{"item": i.pk, "label": "cat", "confidence": 0.6} for i in items]
    posted = client.post(
        f"/api/projects/{project.pk}/model-runs/",
        {"name": "resnet", "training_job": training_id, "predictions": predictions},
        format="json",
    )
    assert posted.status_code == 201, posted.json()
    assert posted.json()["dataset_version"] == 1 and posted.json()["n_predictions"] == len(items)
    detail = api(manager).get(f"/api/projects/{project.pk}/training-jobs/{training_id}/").json()
    assert detail["status"] == "succeeded" and detail["model_run"] == posted.json()["id"]
    assert detail["metrics"]["test"]["classes"][0]["class"] == "cat"  # scored against the version's labels
    assert Job.objects.get(pk=job_id).status == "succeeded"


def test_model_run_input_is_checked(api, manager, reviewer, labeler, outsider, versioned, other_project):
    from tests.labeling.version_helpers import add_texts as more

    project, items, _ = versioned
    foreign = more(other_project, ["not yours"])[0]
    url = f"/api/projects/{project.pk}/model-runs/"

    def post(predictions, **extra):
        return api(manager).post(url, {"name": "m", "predictions": predictions, **extra}, format="json")

    cases = [
        ([], "a non-empty list"),
        ([{"item": 99999, "label": "cat"}], "not items of this project: 99999"),
        ([{"item": 2**70, "label": "cat"}], f"not items of this project: {2**70}"),  # was a 500
        ([{"item": foreign.pk, "label": "cat"}], f"not items of this project: {foreign.pk}"),
        ([{"item": items[0].pk, "label": "cow"}], "unknown classes: cow"),
        ([{"item": items[0].pk, "label": "cat"}, {"item": items[0].pk, "label": "dog"}], "items predicted twice"),
        ([{"item": items[0].pk, "label": "cat", "confidence": 1.5}], "confidence must be between 0 and 1"),
        ([{"item": items[0].pk}], "needs 'item' and 'label'"),
    ]
    for predictions, message in cases:
        response = post(predictions)
        assert response.status_code == 400, predictions
        assert message in response.json()["detail"], (message, response.json())
    assert post([{"item": items[0].pk, "label": "cat"}], dataset_version="5").status_code == 400
    ok = post([{"item": items[0].pk, "label": "dog", "confidence": 0.9}], dataset_version="1")
    assert ok.status_code == 201 and ok.json()["metrics"]
    assert api(reviewer).post(url, {"name": "m", "predictions": []}, format="json").status_code == 403
    assert api(labeler).get(url).status_code == 403
    assert api(outsider).get(url).status_code == 404
    assert ModelRun.objects.count() == 1


def _train_with(api, manager, reviewer, project, embedder):
    response = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": "latest", "trainer": "logistic_regression", "params": {"embedder": embedder}},
        format="json",
    )
    if response.status_code != 202:
        return response
    body = response.json()
    training_job_run(job_id=body["job"])
    return api(reviewer).get(f"/api/projects/{project.pk}/training-jobs/{body['id']}/").json()


def test_a_pretrained_embedder_that_is_not_installed_is_refused_saying_how_to_install(
    api, manager, reviewer, versioned
):
    project, _, _ = versioned
    response = _train_with(api, manager, reviewer, project, "text-minilm")
    assert response.status_code == 400 and "make embedders" in str(response.json())
    assert not TrainingJob.objects.exists()


def test_the_reference_trainer_on_pretrained_text_features(
    api, manager, reviewer, versioned, settings, pretrained_models_dir
):
    settings.LABELHUB_MODELS_DIR = pretrained_models_dir
    project, _, _ = versioned
    detail = _train_with(api, manager, reviewer, project, "text-minilm")
    assert detail["status"] == "succeeded", detail["errors"]
    assert detail["metrics"]["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize(
    "body, field",
    [
        ({"version": 1, "trainr": "external"}, "trainr"),
        ({"version": 1, "parms": {"C": 0.01}}, "parms"),
    ],
)
def test_a_misspelt_field_is_refused_and_nothing_is_trained(api, manager, versioned, body, field):
    # "trainr" or "parms" was dropped: the default logistic regression was queued with its default
    # parameters, a worker's time and a model run the manager never asked for.
    project, _, _ = versioned
    response = api(manager).post(f"/api/projects/{project.pk}/training-jobs/", body, format="json")
    assert response.status_code == 400
    assert response.json()[field] == ["unknown field (the fields here: version, trainer, params)"]
    assert not TrainingJob.objects.exists() and not Job.objects.filter(kind="training").exists()


def test_a_training_request_sent_again_while_it_is_under_way_trains_once(api, manager, versioned):
    """A script that lost the 202 retries: it gets the same training job (200), not a second training."""
    project, _, _ = versioned
    url = f"/api/projects/{project.pk}/training-jobs/"
    body = {"version": "latest", "trainer": "logistic_regression", "params": {"C": 0.5}}
    first = api(manager).post(url, body, format="json")
    assert first.status_code == 202, first.json()
    again = api(manager).post(url, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert TrainingJob.objects.filter(project=project).count() == 1
    assert Job.objects.filter(project=project, kind="training").count() == 1
    other = api(manager).post(url, {**body, "params": {"C": 2.0}}, format="json")  # other parameters: trained
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    training_job_run(job_id=first.json()["job"])
    assert api(manager).post(url, body, format="json").status_code == 202  # finished: the same request trains anew


def test_overview_recent_jobs_link_what_they_made_and_a_finished_build_reads_its_items(api, client, manager, versioned):
    """A finished version build's progress was "0" beside "Succeeded": it reads the items it built, of
    their total. Each job names and links what it made (the version, the training job: whose number
    differs from the job's)."""
    project, _, version = versioned
    body = (
        api(manager)
        .post(f"/api/projects/{project.pk}/training-jobs/", {"version": "latest", "trainer": "logistic_regression"})
        .json()
    )
    training_job_run(job_id=body["job"])
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/").content.decode()
    jobs = html.split("<h2>Recent jobs</h2>")[1].split("</section>")[0]
    build_row = next(row for row in jobs.split("<tr>") if "Dataset version" in row)
    assert f'<a href="/projects/{project.pk}/versions/{version.number}/">v{version.number}</a>' in build_row
    # the build counts the items it read: a finished one reads all of them (it read "0", then "—")
    assert '<td class="num">0</td>' not in build_row and '<td class="num">80 / 80</td>' in build_row
    training_row = next(row for row in jobs.split("<tr>") if "Training" in row)
    link = f'href="/projects/{project.pk}/training/#training-{body["id"]}">training job {body["id"]}</a>'
    assert link in training_row
    training_page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert f'id="training-{body["id"]}"' in training_page


def test_training_page_shows_the_parameters_as_json_not_python(api, client, manager, versioned):
    project, _, _ = versioned
    body = api(manager).post(
        f"/api/projects/{project.pk}/training-jobs/",
        {"version": "latest", "trainer": "logistic_regression", "params": {"C": 0.5}},
        format="json",
    )
    assert body.status_code == 202, body.json()
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/training/").content.decode()
    params = html.split("parameters <code>")[1].split("</code>")[0]
    assert "&quot;C&quot;: 0.5" in params and "&quot;standardize&quot;: false" in params
    assert "None" not in params and "False" not in params and "&#x27;" not in params


def test_a_training_refused_by_its_version_says_why_in_words_not_a_python_list(api, manager, reviewer, labeler):
    project = text_project(manager, classes=("cat", "dog"))
    items = add_texts(project, [f"{WORDS['cat']} number {i}" for i in range(6)])
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, "cat")
    build(project, manager, {"splits": {"train": 1.0}})
    body = (
        api(manager)
        .post(
            f"/api/projects/{project.pk}/training-jobs/",
            {"version": "latest", "trainer": "logistic_regression"},
            format="json",
        )
        .json()
    )
    with pytest.raises(Exception, match="two classes"):
        training_job_run(job_id=body["job"])
    assert Job.objects.get(pk=body["job"]).errors == [
        {"reason": "training failed: version: the train split needs at least two classes to train a classifier"}
    ]


def test_the_training_page_of_a_project_without_a_version_says_one_is_needed_first(client, manager, reviewer, project):
    # a manager saw "No training job yet." and no form, with nothing saying why or what to do
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    hint = page.split('id="no-version"')[1].split("</section>")[0]
    assert "this project has none yet" in hint and "build one on the" in hint
    assert f'href="/projects/{project.pk}/versions/"' in hint
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert "a manager builds one" in page.split('id="no-version"')[1]


def test_the_training_page_with_a_version_shows_the_form_and_no_hint(client, manager, versioned):
    project, _, _ = versioned
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert "Start training" in page and 'id="no-version"' not in page
