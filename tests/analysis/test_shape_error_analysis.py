"""Error analysis of detection and segments model runs: mAP@0.5 per slice against the labelers' HLP.

Hand-worked project (classes a, b; three labelers u0, u1, u2; the model names all four items held out):

* ``easy`` — item 1: everyone draws box A (class a); item 2: everyone draws box B (class b). HLP 1.
* ``hard`` — item 3: u0 and u1 draw X (a), u2 draws nothing; item 4: everyone draws Y (a).

References (majority consensus): A, B, X, Y. The model predicts A (0.9), B (0.8), X (0.7), nothing on
item 4. COCO AP at IoU 0.5 averages precision at the 101 recall points 0, 0.01, …, 1:

* hard: class a has 2 references, the model finds 1 at precision 1 → recall points 0..0.50 → 51/101.
  HLP: u0 and u1 against the others' consensus score 1; u2 misses X → 51/101; mean (2 + 51/101) / 3.
* easy: everything found → 1; HLP 1; gap 0.
* all: class a 3 references, 2 found → 67/101; class b 1 → mAP (67/101 + 1) / 2. HLP: u0, u1 1; u2 finds
  2 of 3 a's → (67/101 + 1) / 2; mean of the three.
"""

import json

import pytest

from analysis.services.training import model_run_create
from labeling.models import Tag
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import answer, build, labelers, manifest

pytestmark = pytest.mark.django_db

A = (0.1, 0.1, 0.2, 0.2, "a")
B = (0.5, 0.5, 0.2, 0.2, "b")
X = (0.1, 0.1, 0.3, 0.3, "a")
Y = (0.6, 0.6, 0.3, 0.3, "a")
AP_HALF = 51 / 101
AP_TWO_THIRDS = 67 / 101


def box(shape, confidence=None):
    out = dict(zip(("x", "y", "w", "h", "label"), shape, strict=True))
    if confidence is not None:
        out["confidence"] = confidence
    return out


def boxes(*shapes):
    return json.dumps({"boxes": [box(s) for s in shapes]})


@pytest.fixture
def detection(manager, reviewer):
    project = make_project(
        manager, name="Boxes", modality="image", task_type="detection", classes=[{"key": "a"}, {"key": "b"}]
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    items = make_items(project, 5, stats={"width": 100, "height": 100})
    easy, _ = Tag.objects.get_or_create(project=project, name="easy")
    hard, _ = Tag.objects.get_or_create(project=project, name="hard")
    easy.items.add(*items[:2])
    hard.items.add(*items[2:4])
    u = labelers(project, 3, prefix="u")
    for user in u:
        answer(items[0], user, boxes(A))
        answer(items[1], user, boxes(B))
        answer(items[3], user, boxes(Y))
    answer(items[2], u[0], boxes(X))
    answer(items[2], u[1], boxes(X))
    answer(items[2], u[2], boxes())
    return project, items, u


def predictions(items, per_item):
    return [
        {"item": item.pk, "boxes": [box(s, c) for s, c in shapes]} for item, shapes in zip(items, per_item, strict=True)
    ]


def report(api, user, project, run=None):
    query = f"?model_run={run.pk}" if run else ""
    response = api(user).get(f"/api/projects/{project.pk}/error-analysis/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_hand_worked_map50_hlp_and_gaps_per_slice(api, manager, reviewer, detection):
    project, items, _ = detection
    body = {
        "name": "detector",
        "predictions": predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]),
        "held_out": [i.pk for i in items[:4]],
    }
    response = api(manager).post(f"/api/projects/{project.pk}/model-runs/", body, format="json")
    assert response.status_code == 201, response.json()
    data = report(api, reviewer, project)
    assert data["kind"] == "detection" and data["metric"] == "map50"
    assert data["n_items"] == 4 and data["n_left_out"] == 0 and data["held_out"]["warning"] is None
    rows = {r["slice"]: r for r in data["slices"]}
    hlp_hard = (2 + AP_HALF) / 3
    map_all = (AP_TWO_THIRDS + 1) / 2
    hlp_all = (2 + map_all) / 3
    assert rows["hard"]["map50"] == pytest.approx(AP_HALF)
    assert rows["hard"]["hlp"] == pytest.approx(hlp_hard)
    assert rows["hard"]["gap_to_hlp"] == pytest.approx(hlp_hard - AP_HALF)
    assert rows["hard"]["weighted_gap"] == pytest.approx((hlp_hard - AP_HALF) * 0.5)
    assert rows["easy"]["map50"] == 1.0 and rows["easy"]["hlp"] == 1.0 and rows["easy"]["gap_to_hlp"] == 0.0
    assert rows["all"]["map50"] == pytest.approx(map_all) and rows["all"]["hlp"] == pytest.approx(hlp_all)
    assert rows["all"]["share"] == 1.0 and rows["hard"]["share"] == 0.5
    assert rows["all"]["n_reference"] == 4 and rows["all"]["n_predicted"] == 3
    assert [r["slice"] for r in data["slices"]] == ["hard", "all", "easy"]  # by weighted gap, largest first
    classes = {c["class"]: c for c in data["classes"]}
    assert classes["a"]["ap50"] == pytest.approx(AP_TWO_THIRDS) and classes["a"]["support"] == 3
    assert classes["a"]["hlp"] == pytest.approx((2 + AP_TWO_THIRDS) / 3) and classes["a"]["predicted"] == 2
    assert classes["b"]["ap50"] == 1.0 and classes["b"]["hlp"] == 1.0
    by_labeler = {row["labeler"]: row for row in data["labelers"]}
    assert by_labeler["u0"]["map50"] == 1.0 and by_labeler["u2"]["map50"] == pytest.approx(map_all)
    assert by_labeler["u2"]["n_items"] == 4


def test_the_labelers_hlp_is_the_agreement_reports_per_labeler_map50(api, manager, reviewer, detection):
    project, items, _ = detection
    model_run_create(
        project=project,
        name="m",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:4]],
    )
    data = report(api, reviewer, project)
    agreement = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    by_name = {row["labeler"]: row for row in agreement["per_labeler"]}
    assert len(data["labelers"]) == 3
    for row in data["labelers"]:
        assert by_name[row["labeler"]]["map50"] == pytest.approx(row["map50"])


def test_a_perfect_model_scores_one_and_beats_nobody(api, reviewer, detection):
    project, items, _ = detection
    model_run_create(
        project=project,
        name="perfect",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:4]],
    )
    data = report(api, reviewer, project)
    for row in data["slices"]:
        assert row["map50"] == 1.0, row
    hard = next(r for r in data["slices"] if r["slice"] == "hard")
    # Better than the labelers on the hard items: the humans' shapes are the suspects.
    assert hard["model_beats_hlp"] and str(items[2].pk) in hard["review_url"]


def half_run(project, items):
    """A run that finds A and Y (class a: 2 of 3 references; class b: none of 1), misses X and B, and sends a
    false positive of class a on item 2 (0.95)."""
    return model_run_create(
        project=project,
        name="half",
        predictions=predictions(items[:4], [[(A, 0.9)], [((0.0, 0.0, 0.1, 0.1, "a"), 0.95)], [], [(Y, 0.5)]]),
        held_out=[i.pk for i in items[:4]],
    )


def test_a_model_missing_half_the_boxes_scores_the_hand_computed_ap(api, reviewer, detection):
    project, items, _ = detection
    # Finds A and Y (class a: 2 of 3 references; class b: none of 1) with a false positive on item 2.
    half_run(project, items)
    data = report(api, reviewer, project)
    overall = next(r for r in data["slices"] if r["slice"] == "all")
    # Class a, by confidence: FP (0.95), TP A (0.9), TP Y (0.5) → precision 1/2, 2/3 at recall 1/3, 2/3;
    # the envelope gives 2/3 up to recall 2/3 → 67 of 101 points × 2/3. Class b: 0.
    ap_a = 67 / 101 * 2 / 3
    assert overall["map50"] == pytest.approx((ap_a + 0.0) / 2)
    classes = {c["class"]: c for c in data["classes"]}
    assert classes["a"]["ap50"] == pytest.approx(ap_a) and classes["b"]["ap50"] == 0.0


def test_class_rows_give_precision_recall_and_f1_as_classification_runs_do(api, reviewer, detection):
    """The public contract's error analysis lists per class `precision`, `recall` and `f1`, whatever the
    task: a training job reads them for detection runs too. Of every shape the run sent, those matched one
    to one to a reference shape of the same class at IoU >= 0.5 are right."""
    project, items, _ = detection
    # As above: A and Y found, a false positive of class a on item 2 (0.95), X and B missed.
    half_run(project, items)
    classes = {c["class"]: c for c in report(api, reviewer, project)["classes"]}
    a, b = classes["a"], classes["b"]
    assert (a["support"], a["predicted"]) == (3, 3)
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == pytest.approx(2 / 3)
    assert a["f1"] == pytest.approx(2 / 3)
    # b: one reference, never predicted: no precision, recall and F1 0 (as a classification run's class)
    assert (b["support"], b["predicted"]) == (1, 0)
    assert b["precision"] is None and b["recall"] == 0.0 and b["f1"] == 0.0


def test_the_pages_class_rows_show_precision_recall_and_f1(client, reviewer, detection):
    """The API gave a detection run's classes precision, recall and F1, the page only AP: a manager
    reading the page could not see that class b was never found. As above, by hand: a 2/3, 2/3, 2/3;
    b no precision (nothing predicted), recall 0, F1 0."""
    import re

    project, items, _ = detection
    half_run(project, items)
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    shown = {}
    for key in ("a", "b"):
        row = html.split(f'<tr data-class="{key}"', 1)[1].split("</tr>", 1)[0]
        shown[key] = [re.search(rf'data-measure="{m}">([^<]*)<', row).group(1) for m in ("precision", "recall", "f1")]
    assert shown == {"a": ["0.667", "0.667", "0.667"], "b": ["—", "0.000", "0.000"]}
    assert '<th class="num">Precision</th>' in html


def test_a_segments_runs_class_rows_give_precision_recall_and_f1(api, manager, reviewer):
    project = make_project(
        manager, name="Speech", modality="audio", task_type="segments", classes=[{"key": "speech"}, {"key": "noise"}]
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    items = make_items(project, 1, stats={"duration": 3.0})
    for user in labelers(project, 2, prefix="s"):
        answer(items[0], user, json.dumps({"segments": [{"start": 0.5, "end": 2.0, "label": "speech"}]}))
    # One right (IoU 1.45 / 1.5), one of the wrong class where the speech is: speech 1 of 1, noise 0 of 1.
    shapes = [
        {"start": 0.55, "end": 2.0, "label": "speech", "confidence": 0.9},
        {"start": 0.5, "end": 2.0, "label": "noise", "confidence": 0.4},
    ]
    model_run_create(
        project=project, name="vad", predictions=[{"item": items[0].pk, "segments": shapes}], held_out=[items[0].pk]
    )
    classes = {c["class"]: c for c in report(api, reviewer, project)["classes"]}
    assert classes["speech"]["precision"] == 1.0 and classes["speech"]["recall"] == 1.0
    assert classes["speech"]["f1"] == 1.0
    assert classes["noise"]["precision"] == 0.0 and classes["noise"]["recall"] is None
    assert classes["noise"]["f1"] == 0.0


def test_only_items_outside_the_train_split_are_compared(api, manager, reviewer, detection):
    project, items, _ = detection
    from labeling.services.exports import split_codes

    # A salt that puts some of the four answered items in train and some not (their hashes are fixed).
    salt = next(
        str(k)
        for k in range(200)
        if 0 < (split_codes([i.sha256 for i in items[:4]], train=0.5, dev=0.25, salt=str(k)) == 0).sum() < 4
    )
    version = build(project, manager, {"splits": {"train": 0.5, "dev": 0.25, "test": 0.25, "salt": salt}})
    split = {row["item"]: row["split"] for row in manifest(version)}
    n_train = sum(s == "train" for s in split.values())
    assert 0 < n_train < 4
    perfect = {items[0].pk: [(A, 0.9)], items[1].pk: [(B, 0.9)], items[2].pk: [(X, 0.9)], items[3].pk: [(Y, 0.9)]}
    # Perfect on its train items, empty-handed elsewhere: honestly 0, not the train share.
    per_item = [perfect[i.pk] if split[i.pk] == "train" else [] for i in items[:4]]
    response = api(manager).post(
        f"/api/projects/{project.pk}/model-runs/",
        {"name": "memorizer", "dataset_version": "1", "predictions": predictions(items[:4], per_item)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert set(response.json()["metrics"]) <= {"train", "dev", "test"}
    assert response.json()["metrics"]["train"]["map50"] == 1.0
    data = report(api, reviewer, project)
    assert data["n_left_out"] == n_train and data["n_items"] == 4 - n_train
    assert next(r for r in data["slices"] if r["slice"] == "all")["map50"] == 0.0


def test_unanswered_items_are_unresolved_and_a_run_naming_nothing_warns(api, reviewer, detection):
    project, items, _ = detection
    model_run_create(project=project, name="m", predictions=predictions(items, [[(A, 0.9)], [], [], [], [(A, 0.9)]]))
    data = report(api, reviewer, project)
    assert (
        data["n_items"] == 5 and data["n_unresolved"] == 1 and "names no dataset version" in data["held_out"]["warning"]
    )


def test_bad_predictions_answer_400_naming_the_box(api, manager, detection):
    project, items, _ = detection
    url = f"/api/projects/{project.pk}/model-runs/"
    pk = items[0].pk
    good = box(A, 0.5)
    cases = [
        ([{"item": pk, "boxes": [good, {**good, "x": 0.9}]}], f"entry 0 (item {pk}): boxes[1]: x + w = 1.1 is outside"),
        ([{"item": pk, "boxes": [box(A)]}], "boxes[0]: confidence must be a number between 0 and 1"),
        ([{"item": pk, "boxes": [{**good, "confidence": 1.5}]}], "boxes[0]: confidence must be a number between 0"),
        ([{"item": pk, "boxes": [{**good, "label": "c"}]}], 'boxes[0]: unknown class "c"'),
        ([{"item": pk, "boxes": [{**good, "w": 0}]}], "boxes[0]: the size w = 0"),
        ([{"item": pk, "boxes": [{**good, "borderline": True}]}], "boxes[0]: unknown field 'borderline'"),
        ([{"item": pk, "boxes": "A"}], "boxes must be a list"),
        ([{"item": pk, "label": "a"}], "each prediction needs 'item' and 'boxes'"),
        ([{"item": pk, "boxes": [], "confidence": 0.3}], "unknown fields confidence"),
    ]
    for preds, message in cases:
        response = api(manager).post(url, {"name": "m", "predictions": preds}, format="json")
        assert response.status_code == 400, preds
        assert message in response.json()["detail"], (message, response.json())
    ok = api(manager).post(url, {"name": "m", "predictions": [{"item": pk, "boxes": [good]}]}, format="json")
    assert ok.status_code == 201


def test_the_page_renders_map50_for_detection_projects(client, reviewer, detection):
    project, items, u = detection
    first = model_run_create(
        project=project,
        name="detector",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]),
        held_out=[i.pk for i in items[:4]],
    )
    second = model_run_create(
        project=project,
        name="detector 2",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:3]],
    )
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/error-analysis/?model_run={first.pk}").content.decode()
    assert "Model mAP@0.5" in html and f'data-measure="map50">{AP_HALF:.3f}' in html
    assert 'data-slice="hard"' in html and 'data-class="a"' in html and 'data-labeler="u2"' in html
    compared = client.get(
        f"/projects/{project.pk}/error-analysis/?model_run={second.pk}&compare={first.pk}"
    ).content.decode()
    assert 'id="comparison"' in compared and 'data-metric="map50_b"' in compared
    assert '<b data-metric="comparison_n_left_out">1</b>' in compared  # item 4: not named held out by the second
    dashboard = client.get(f"/projects/{project.pk}/dashboard/")
    assert dashboard.status_code == 200 and 'data-metric="map50"' in dashboard.content.decode()
    client.force_login(u[0])  # a labeler of the project
    assert client.get(f"/projects/{project.pk}/error-analysis/").status_code == 403


def test_segments_runs_score_map50_on_time_intervals(api, manager, reviewer):
    project = make_project(
        manager, name="Speech", modality="audio", task_type="segments", classes=[{"key": "speech"}, {"key": "noise"}]
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    items = make_items(project, 2, stats={"duration": 3.0})
    u = labelers(project, 2, prefix="s")
    for user in u:
        answer(items[0], user, json.dumps({"segments": [{"start": 0.5, "end": 2.0, "label": "speech"}]}))
        answer(items[1], user, json.dumps({"segments": [{"start": 1.0, "end": 2.5, "label": "speech"}]}))
    url = f"/api/projects/{project.pk}/model-runs/"
    late = {"item": items[0].pk, "segments": [{"start": 0.5, "end": 3.5, "label": "speech", "confidence": 0.9}]}
    response = api(manager).post(url, {"name": "vad", "predictions": [late]}, format="json")
    assert (
        response.status_code == 400 and "segments[0]: end = 3.5 s is after the clip's end" in response.json()["detail"]
    )
    preds = [
        {"item": items[0].pk, "segments": [{"start": 0.55, "end": 2.0, "label": "speech", "confidence": 0.9}]},
        {"item": items[1].pk, "segments": [{"start": 0.0, "end": 0.9, "label": "speech", "confidence": 0.8}]},
    ]
    response = api(manager).post(
        url, {"name": "vad", "predictions": preds, "held_out": [i.pk for i in items]}, format="json"
    )
    assert response.status_code == 201, response.json()
    data = report(api, reviewer, project)
    overall = next(r for r in data["slices"] if r["slice"] == "all")
    # One of two reference segments found (IoU 1.45 / 1.5), at the higher confidence: AP 51/101.
    assert data["kind"] == "segments" and overall["map50"] == pytest.approx(AP_HALF) and overall["hlp"] == 1.0


def test_the_reference_counts_classes_as_the_taxonomy_changes_say(api, reviewer, detection):
    """b merged into a: a model that calls every box a is perfect, against references in today's classes
    (as a dataset version builds them), and no class b is left to score."""
    from labeling.services.taxonomy import taxonomy_apply

    project, items, _ = detection
    taxonomy_apply(project=project, op="merge", payload={"classes": ["a", "b"], "into": "a"})
    merged_b = (*B[:4], "a")
    model_run_create(
        project=project,
        name="after the merge",
        predictions=predictions(items[:4], [[(A, 0.9)], [(merged_b, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:4]],
    )
    data = report(api, reviewer, project)
    assert {r["slice"]: r["map50"] for r in data["slices"]} == {"all": 1.0, "easy": 1.0, "hard": 1.0}
    classes = {c["class"]: c for c in data["classes"] if c["support"]}
    assert list(classes) == ["a"] and classes["a"]["support"] == 4 and classes["a"]["ap50"] == 1.0


def test_a_run_made_before_a_merge_is_scored_in_the_classes_the_merge_made(api, reviewer, detection):
    """A model run stored while b was a class predicts B as b; after b is merged into a, its boxes count
    as a like the labelers' (the reference): the same perfect run, mAP 1 and no class b. Its b boxes were
    scored as b against references of a: a false positive and a missed box each, mAP 76/101."""
    from labeling.services.taxonomy import taxonomy_apply

    project, items, _ = detection
    run = model_run_create(
        project=project,
        name="before the merge",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:4]],
    )
    taxonomy_apply(project=project, op="merge", payload={"classes": ["a", "b"], "into": "a"})
    data = report(api, reviewer, project, run)
    assert {r["slice"]: r["map50"] for r in data["slices"]} == {"all": 1.0, "easy": 1.0, "hard": 1.0}
    classes = {c["class"]: c for c in data["classes"] if c["support"] or c["predicted"]}
    assert list(classes) == ["a"] and classes["a"]["predicted"] == 4 and classes["a"]["ap50"] == 1.0


def test_an_item_an_sme_decided_is_scored_against_the_decided_shapes(api, reviewer, detection):
    """Item 3: u0 and u1 draw X, u2 nothing; the SME decides "nothing here", and a dataset version ships
    it empty. The model's X there is then a false positive, as the version it trained on would score it:
    class a has references A and Y, the model finds A (0.9) then X (0.7) is wrong, Y missed: AP 51/101;
    b 1. The report scored X against the labelers' consensus (found: 67/101 for a)."""
    from labeling.services.review import decision_record

    project, items, _ = detection
    decision_record(item=items[2], reviewer=reviewer, value={"boxes": []})
    version = build(project, reviewer)
    assert {r["item"]: r["label"] for r in manifest(version)}[items[2].pk] == {"boxes": []}
    run = model_run_create(
        project=project,
        name="decided",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]),
        held_out=[i.pk for i in items[:4]],
    )
    data = report(api, reviewer, project, run)
    overall = next(r for r in data["slices"] if r["slice"] == "all")
    assert overall["map50"] == pytest.approx((AP_HALF + 1) / 2)
    assert overall["n_reference"] == 3
    classes = {c["class"]: c for c in data["classes"]}
    assert classes["a"]["ap50"] == pytest.approx(AP_HALF) and classes["a"]["support"] == 2


def test_the_dashboards_top_slices_show_the_detection_runs_map50_under_its_name(
    api, client, manager, reviewer, detection
):
    """The dashboard's "what to work on next" table and charts name a detection run's mAP@0.5 as such and
    show it (its column read "Accuracy" and held only "—", its bars were labeled "model accuracy")."""
    project, items, _ = detection
    body = {
        "name": "detector",
        "predictions": predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]),
        "held_out": [i.pk for i in items[:4]],
    }
    assert api(manager).post(f"/api/projects/{project.pk}/model-runs/", body, format="json").status_code == 201
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    table = page[page.index('id="top-slices"') :].split("</table>")[0]
    assert '<th class="num">mAP@0.5</th>' in table and ">Accuracy<" not in table
    hard = table[table.index('data-slice="hard"') :].split("</tr>")[0]
    assert f'data-measure="map50">{AP_HALF:.3f}<' in hard  # by hand: half of class a's boxes found
    charts = page[page.index('id="model-run"') : page.index('id="versions-planning"')]
    assert "model mAP@0.5" in charts and "model accuracy" not in charts


def test_after_a_campaign_the_hlp_reads_one_answer_per_item_and_labeler(api, manager, reviewer, detection):
    """A campaign sends item 3 (u2 drew nothing where u0 and u1 drew X) back: the hard slice's HLP still
    reads its three archived answers, (2 + 51/101) / 3 by hand, not 1 from item 4 alone; when u2 draws
    nothing again, their new answer replaces the archived one (the same HLP), never beside it."""
    from labeling.models import Item
    from labeling.services.campaigns import campaign_create

    project, items, u = detection
    body = {
        "name": "detector",
        "predictions": predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]),
        "held_out": [i.pk for i in items[:4]],
    }
    assert api(manager).post(f"/api/projects/{project.pk}/model-runs/", body, format="json").status_code == 201
    campaign_create(project=project, name="again", item_ids=[items[2].pk], overlap=3, user=manager)
    hard = {r["slice"]: r for r in report(api, reviewer, project)["slices"]}["hard"]
    assert hard["hlp"] == pytest.approx((2 + AP_HALF) / 3) and hard["n_pairable"] == 2
    answer(Item.objects.get(pk=items[2].pk), u[2], boxes())
    hard = {r["slice"]: r for r in report(api, reviewer, project)["slices"]}["hard"]
    assert hard["hlp"] == pytest.approx((2 + AP_HALF) / 3)


def test_after_a_campaign_an_item_not_yet_relabeled_is_scored_against_the_archived_consensus(
    api, manager, reviewer, detection
):
    """A campaign sends item 3 back and nobody has drawn on it again: a dataset version ships the consensus
    of its archived answers (X, ``resolved_by`` archived), yet the error analysis counted it unresolved
    and scored the hard slice on item 4 alone (the model's X unmatched, Y missed: 0). Against what a
    version ships, by hand: X found, Y missed, 51/101, as before the campaign; shadow mode alike."""
    from analysis.services.shape_error_analysis import shape_runs_compare
    from labeling.services.campaigns import campaign_create

    project, items, _ = detection
    campaign_create(project=project, name="again", item_ids=[items[2].pk], overlap=3, user=manager)
    shipped = {r["item"]: r for r in manifest(build(project, reviewer))}[items[2].pk]
    assert shipped["resolved_by"] == "archived" and [b["label"] for b in shipped["label"]["boxes"]] == ["a"]
    per_item = [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], []]
    held_out = [i.pk for i in items[:4]]
    run = model_run_create(project=project, name="m", predictions=predictions(items[:4], per_item), held_out=held_out)
    data = report(api, reviewer, project, run)
    rows = {r["slice"]: r for r in data["slices"]}
    assert data["n_unresolved"] == 0 and rows["hard"]["n_unresolved"] == 0
    assert rows["hard"]["map50"] == pytest.approx(AP_HALF) and rows["hard"]["n_reference"] == 2
    assert rows["all"]["map50"] == pytest.approx((AP_TWO_THIRDS + 1) / 2)
    other = model_run_create(project=project, name="n", predictions=predictions(items[:4], per_item), held_out=held_out)
    compared = shape_runs_compare(project=project, run_a=run, run_b=other)
    assert compared["n_scored"] == 4 and compared["map50_a"] == pytest.approx((AP_TWO_THIRDS + 1) / 2)


def test_after_a_campaign_the_suspect_items_of_an_item_not_yet_relabeled_are_judged_by_its_archived_answers(
    api, manager, reviewer, detection
):
    """A campaign sends item 3 back and nobody has drawn on it again. The hard slice is scored against
    what a version ships (X, the consensus of the archived answers), and a perfect model beats the
    labelers there; the link to the suspect items read current answers only, so item 3, where u2's
    archived answer left X out, was no suspect and the slice had no link. By hand: item 3's archived
    answers disagree (X has the support of 2 of 3), item 4's agree and the model matches its reference."""
    from analysis.services.model_runs import _review_link
    from labeling.services.campaigns import campaign_create

    project, items, _ = detection
    campaign_create(project=project, name="again", item_ids=[items[2].pk], overlap=3, user=manager)
    model_run_create(
        project=project,
        name="perfect",
        predictions=predictions(items[:4], [[(A, 0.9)], [(B, 0.8)], [(X, 0.7)], [(Y, 0.6)]]),
        held_out=[i.pk for i in items[:4]],
    )
    hard = {r["slice"]: r for r in report(api, reviewer, project)["slices"]}["hard"]
    assert hard["map50"] == 1.0 and hard["model_beats_hlp"]
    assert hard["review_url"] == _review_link(project, [items[2].pk])


def test_after_a_campaign_accepting_the_consensus_of_an_item_not_yet_relabeled_records_what_a_version_ships(
    api, manager, reviewer, detection
):
    """An item a campaign sent back and nobody answered again ships the consensus of its archived answers
    (X); "accept the consensus" on it was refused ("nobody answered this item") and its review page
    started from no shapes. It records X, as a version ships it."""
    from labeling.models import Decision
    from labeling.services.campaigns import campaign_create

    project, items, _ = detection
    campaign_create(project=project, name="again", item_ids=[items[2].pk], overlap=3, user=manager)
    shipped = {r["item"]: r for r in manifest(build(project, reviewer))}[items[2].pk]
    assert shipped["resolved_by"] == "archived"
    response = api(reviewer).post(f"/api/items/{items[2].pk}/decision/", {"accept": "consensus"}, format="json")
    assert response.status_code == 201, response.content
    (shape,) = Decision.objects.get(item=items[2]).shapes["boxes"]
    (expected,) = shipped["label"]["boxes"]
    assert shape["label"] == "a" and "support" not in shape
    assert [shape[k] for k in "xywh"] == pytest.approx([expected[k] for k in "xywh"])
    assert [shape[k] for k in "xywh"] == pytest.approx(X[:4])
