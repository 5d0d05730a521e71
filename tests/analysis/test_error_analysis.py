"""Error analysis against HLP: the slice table, per-class scores, gold, shadow mode, roles, bad input."""

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from analysis.models import ModelRun
from analysis.services.training import model_run_create
from labeling.services.review import decision_record
from tests.analysis.error_analysis_helpers import (
    EXPECTED,
    EXPECTED_ORDER,
    build_error_analysis_project,
    three_labelers,
)
from tests.conftest import png_bytes

# Several imports in one test: on PostgreSQL, labeling.services.imports stages rows in a temporary table
# dropped on commit, which a second import inside the same test transaction would find still there.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built(project, labeler, labeler2):
    return build_error_analysis_project(project, three_labelers(project, labeler, labeler2))


def test_slice_table_is_exactly_the_one_built(api, reviewer, project, built):
    run, _, _ = built
    response = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["model_run"]["id"] == run.pk
    assert [row["slice"] for row in report["slices"]] == EXPECTED_ORDER
    total = EXPECTED["all"][0]
    for row in report["slices"]:
        n, accuracy, hlp = EXPECTED[row["slice"]]
        assert row["n_items"] == n
        assert row["share"] == pytest.approx(n / total)
        assert row["model_accuracy"] == pytest.approx(accuracy)
        assert row["hlp"] == pytest.approx(hlp)
        assert row["gap_to_hlp"] == pytest.approx(hlp - accuracy)
        assert row["weighted_gap"] == pytest.approx((hlp - accuracy) * n / total)
        for key in ("model_accuracy", "hlp", "gap_to_hlp", "weighted_gap"):
            interval = row["intervals"][key]
            assert interval["ci_low"] - 1e-12 <= row[key] <= interval["ci_high"] + 1e-12
    by_slice = {row["slice"]: row for row in report["slices"]}
    assert by_slice["all"]["n_unresolved"] == 1 and by_slice["all"]["n_scored"] == 15
    assert report["n_unresolved"] == 1
    # Where the model beats HLP, the flag and a review link to the suspect items.
    assert by_slice["beats"]["model_beats_hlp"] and not by_slice["clean"]["model_beats_hlp"]
    assert by_slice["beats"]["review_url"].startswith(f"/projects/{project.pk}/review/?items=")
    # Seeded: the same request gives the same intervals.
    again = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/?model_run={run.pk}").json()
    assert again["slices"] == report["slices"]


def test_per_class_scores_and_confusion_match_scikit_learn(api, reviewer, project, built):
    _, truth, predictions = built
    report = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/").json()
    scored = [pk for pk, label in truth.items() if label is not None]
    y_true = [truth[pk] for pk in scored]
    y_pred = [predictions[pk] for pk in scored]
    classes = ["cat", "dog", "other"]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    rows = {row["class"]: row for row in report["classes"]}
    for i, name in enumerate(classes):
        assert rows[name]["support"] == s[i]
        assert rows[name]["recall"] == pytest.approx(r[i]) if s[i] else rows[name]["recall"] is None
        if rows[name]["precision"] is not None:
            assert rows[name]["precision"] == pytest.approx(p[i])
        assert rows[name]["f1"] == pytest.approx(f[i])
    confusion = report["confusion"]
    assert confusion["classes"][:3] == classes
    counts = np.array(confusion["counts"])
    assert counts.sum() == len(scored)
    assert counts[0, 0] == sum(1 for t, q in zip(y_true, y_pred, strict=True) if t == q == "cat")


def test_gold_decision_wins_over_the_majority(api, reviewer, project, built):
    _, truth, predictions = built
    # A noisy item the model got wrong ("cat" where the majority says "dog"): an SME marks cat as gold.
    wrong = next(pk for pk, label in truth.items() if label == "dog" and predictions[pk] == "cat")
    from labeling.models import Item

    decision_record(item=Item.objects.get(pk=wrong), reviewer=reviewer, label="cat", gold=True)
    report = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/").json()
    noisy = next(row for row in report["slices"] if row["slice"] == "noisy")
    assert noisy["model_accuracy"] == pytest.approx(2 / 3)
    assert noisy["n_gold"] == 1 and noisy["hlp_gold"] == pytest.approx(1 / 3)  # one labeler of three said cat


def test_fairness_view_compares_chosen_slices(api, reviewer, project, built):
    report = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/?fairness=clean,noisy").json()
    fairness = report["fairness"]
    assert fairness["slices"] == ["clean", "noisy"]
    assert fairness["accuracy_spread"] == pytest.approx(0.7 - 1 / 3)
    assert fairness["worst"] == "noisy"
    clean = next(r for r in fairness["rows"] if r["slice"] == "clean")
    assert clean["recall"]["cat"] == pytest.approx(4 / 5) and clean["recall"]["dog"] == pytest.approx(3 / 5)


def test_fairness_reads_the_pages_checkboxes_as_the_page_does_and_names_an_unknown_slice(
    api, client, reviewer, project, built
):
    """The page sends its checkboxes as ``fairness=clean&fairness=noisy``; the API read the last alone
    (its URL pasted into a script compared one slice), and dropped a tag the project has not
    (``fairness=clean,nosie``) without a word."""
    url = f"/api/projects/{project.pk}/error-analysis/"
    repeated = api(reviewer).get(url + "?fairness=clean&fairness=noisy").json()["fairness"]
    assert repeated["slices"] == ["clean", "noisy"] and repeated["worst"] == "noisy"
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/error-analysis/?fairness=clean&fairness=noisy").content.decode()
    assert 'data-fairness="clean"' in page and 'data-fairness="noisy"' in page
    response = api(reviewer).get(url + "?fairness=clean,nosie")
    assert response.status_code == 400 and "nosie" in response.json()["fairness"][0]


def test_shadow_mode_compares_two_runs_on_the_same_items(api, reviewer, project, built):
    old, truth, predictions = built
    # The new model fixes the three wrong "clean" items and keeps the rest.
    fixed = {
        pk: (truth[pk] if truth[pk] and predictions[pk] == "other" else label) for pk, label in predictions.items()
    }
    new = model_run_create(
        project=project, name="resnet-v2", predictions=[{"item": k, "label": v} for k, v in fixed.items()]
    )
    response = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/?a={old.pk}&b={new.pk}")
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["n_common"] == 16 and out["n_scored"] == 15
    assert out["accuracy_a"]["value"] == pytest.approx(10 / 15)
    assert out["accuracy_b"]["value"] == pytest.approx(13 / 15)
    assert out["difference"]["value"] == pytest.approx(3 / 15)
    assert out["switches"] == {"both_right": 10, "only_a": 0, "only_b": 3, "both_wrong": 2}
    assert out["n_changed"] == 3 and {c["b"] for c in out["changed"]} <= {"cat", "dog"}
    assert out["human_agreement"]["b"] > out["human_agreement"]["a"]
    # Defaults: the latest run (b) against the one before (a).
    default = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/").json()
    assert default["a"]["id"] == old.pk and default["b"]["id"] == new.pk
    same = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/?a={old.pk}&b={old.pk}")
    assert same.status_code == 400


def test_roles_labelers_403_and_non_members_404(api, labeler, outsider, project, built):
    for path in ("error-analysis/", "model-runs/compare/"):
        assert api(labeler).get(f"/api/projects/{project.pk}/{path}").status_code == 403
        assert api(outsider).get(f"/api/projects/{project.pk}/{path}").status_code == 404
    assert api().get(f"/api/projects/{project.pk}/error-analysis/").status_code in (401, 403)


def test_a_model_run_of_another_project_is_not_found(api, reviewer, project, built, other_project, outsider):
    from labeling.services.imports import ImportEntry, items_import

    ids = items_import(
        project=other_project, entries=[ImportEntry(name="x.png", load=lambda: png_bytes(seed=9))]
    ).imported
    foreign = model_run_create(project=other_project, name="theirs", predictions=[{"item": ids[0], "label": "cat"}])
    response = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/?model_run={foreign.pk}")
    assert response.status_code == 404
    assert "model run" in response.json()["detail"]
    # a malformed id is refused naming the parameter (as a map's is), an id of no run here is not found
    for path, name in (("error-analysis/?model_run=abc", "model_run"), ("model-runs/compare/?a=1.5", "a")):
        malformed = api(reviewer).get(f"/api/projects/{project.pk}/{path}")
        assert malformed.status_code == 400 and name in malformed.json(), malformed.content
    compare = api(reviewer).get(f"/api/projects/{project.pk}/model-runs/compare/?a={foreign.pk}")
    assert compare.status_code == 404


def test_no_model_run_yet_is_a_clear_404(api, reviewer, project):
    response = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/")
    assert response.status_code == 404
    assert "no model run" in response.json()["detail"].lower()


class TestBadModelRunInput:
    """POST /api/projects/{id}/model-runs/ refuses bad predictions with a clear 400 (and stores nothing)."""

    def post(self, api, manager, project, predictions, **extra):
        return api(manager).post(
            f"/api/projects/{project.pk}/model-runs/", {"name": "m", "predictions": predictions, **extra}, format="json"
        )

    def test_unknown_items(self, api, manager, project, built):
        response = self.post(api, manager, project, [{"item": 999999, "label": "cat"}])
        assert response.status_code == 400 and "999999" in response.json()["detail"]

    def test_items_of_another_project(self, api, manager, project, built, other_project):
        from labeling.services.imports import ImportEntry, items_import

        ids = items_import(
            project=other_project, entries=[ImportEntry(name="y.png", load=lambda: png_bytes(seed=8))]
        ).imported
        response = self.post(api, manager, project, [{"item": ids[0], "label": "cat"}])
        assert response.status_code == 400 and "not items of this project" in response.json()["detail"]

    def test_unknown_classes(self, api, manager, project, built):
        _, truth, _ = built
        response = self.post(api, manager, project, [{"item": next(iter(truth)), "label": "jaguar"}])
        assert response.status_code == 400 and "jaguar" in response.json()["detail"]

    def test_an_empty_run(self, api, manager, project, built):
        before = ModelRun.objects.count()
        response = self.post(api, manager, project, [])
        assert response.status_code == 400 and "predictions" in response.json()["detail"]
        assert ModelRun.objects.count() == before

    def test_a_misspelt_field_is_refused_naming_it(self, api, manager, project, built):
        # "heldout" was dropped: the run was stored, and error analysis compared every item, those the
        # model trained on included, instead of the held-out ones the client named.
        _, truth, _ = built
        before = ModelRun.objects.count()
        predictions = [{"item": pk, "label": "cat"} for pk in truth]
        response = self.post(api, manager, project, predictions, heldout=list(truth)[:3])
        assert response.status_code == 400 and response.json()["heldout"] == [
            "unknown field (the fields here: name, dataset_version, training_job, predictions, held_out)"
        ]
        assert ModelRun.objects.count() == before

    def test_a_model_run_for_another_project(self, api, manager, project, outsider, other_project, built):
        _, truth, _ = built
        # A manager of this project cannot post into someone else's project (404), and this project's
        # items cannot be predicted through another project.
        response = api(manager).post(
            f"/api/projects/{other_project.pk}/model-runs/",
            {"name": "m", "predictions": [{"item": next(iter(truth)), "label": "cat"}]},
            format="json",
        )
        assert response.status_code == 404
        response = api(outsider).post(
            f"/api/projects/{other_project.pk}/model-runs/",
            {"name": "m", "predictions": [{"item": next(iter(truth)), "label": "cat"}]},
            format="json",
        )
        assert response.status_code == 400 and "not items of this project" in response.json()["detail"]


def test_error_analysis_page_shows_the_table(client, reviewer, project, built):
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/error-analysis/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-slice="beats"' in html and "beats HLP" in html and "<svg" in html
    old, truth, _ = built
    new = model_run_create(project=project, name="v2", predictions=[{"item": pk, "label": "cat"} for pk in truth])
    compared = client.get(f"/projects/{project.pk}/error-analysis/?model_run={new.pk}&compare={old.pk}")
    assert 'id="comparison"' in compared.content.decode()


def test_error_analysis_page_roles(client, labeler, outsider, project, built):
    client.force_login(labeler)
    assert client.get(f"/projects/{project.pk}/error-analysis/").status_code == 403
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/error-analysis/").status_code == 404


def test_error_analysis_page_without_runs_says_how_to_make_one(client, reviewer, project):
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    assert "No model run yet" in html and "/model-runs/" in html


def test_error_analysis_page_without_runs_links_the_training_page_and_how_to_push_predictions(
    client, reviewer, project
):
    # it named a training job and the API endpoint as text: a dead end with nothing to click
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    empty = html[html.index("No model run yet") :].split("</p>")[0]
    assert f'href="/projects/{project.pk}/training/"' in empty
    assert 'href="/api/docs/#/projects/projects_model_runs_create"' in empty


def test_transcription_projects_compare_normalized_transcripts(api, manager, reviewer, labeler, labeler2):
    from labeling.choices import Role
    from labeling.models import Item
    from labeling.services.annotations import annotation_save
    from labeling.services.imports import ImportEntry, items_import
    from labeling.services.projects import member_add
    from tests.conftest import make_project, wav_bytes

    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role=Role.LABELER)
    ids = items_import(
        project=project,
        entries=[
            ImportEntry(name=f"c{i}.wav", load=lambda f=f: wav_bytes(freq=f), tags=["clean"])
            for i, f in enumerate((300.0, 400.0))
        ],
    ).imported
    items = list(Item.objects.filter(pk__in=ids).order_by("pk"))
    for item, text in zip(items, ("Nearest gas station", "call mom"), strict=True):
        annotation_save(item=item, labeler=labeler, value=text)
        annotation_save(item=item, labeler=labeler2, value=text.lower() + ".")
    model_run_create(
        project=project,
        name="asr",
        predictions=[{"item": items[0].pk, "label": "nearest gas station"}, {"item": items[1].pk, "label": "call tom"}],
    )
    report = api(reviewer).get(f"/api/projects/{project.pk}/error-analysis/").json()
    overall = next(r for r in report["slices"] if r["slice"] == "all")
    assert overall["model_accuracy"] == 0.5 and overall["hlp"] == 1.0
    assert report["classes"] == [] and report["confusion"] is None


def test_the_share_column_says_it_is_a_share_of_the_compared_items(client, reviewer, project, built):
    """The run is compared on its held-out items only: a slice holding all of them showed "Share of data
    1.000" though it is a part of the project. The column says what the share is of."""
    client.force_login(reviewer)
    for path in ("error-analysis/", "dashboard/"):
        html = client.get(f"/projects/{project.pk}/{path}").content.decode()
        assert "Share of compared items</th>" in html and "Share of data" not in html, path
