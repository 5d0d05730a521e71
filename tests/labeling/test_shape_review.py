"""Reviewing localized answers (the iguana item): decisions that carry shapes, the queue ordered by shape
disagreement with split/merge items named, versions that ship the decided shapes, guideline examples that
keep their shapes, and the review page of a detection and a segments project."""

import csv
import io
import json

import pytest

from labeling.models import DatasetVersion, Decision, GuidelineExample, GuidelineNote
from labeling.services.guidelines import guideline_publish
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.test_versions_api import run_build
from tests.labeling.version_helpers import answer, labelers, manifest

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]


def boxes(*shapes):
    return {"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]}


@pytest.fixture
def iguanas(manager, reviewer):
    """Three images, two labelers (alice, bob).
    Image 1, the iguana item: alice boxes two touching iguanas, bob one box round both (split/merge).
    Image 2: both box the rock, bob's box a little off (IoU 0.67: a match at 0.5, not at 0.9); alice
    also boxes a pebble bob leaves out (F1 2/3).
    Image 3: both agree exactly."""
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=reviewer.username, role="reviewer")
    iguana, rock, same = make_items(project, 3, stats={"width": 200, "height": 100})
    alice, bob = labelers(project, 2)
    alice.username, bob.username = "alice", "bob"
    alice.save()
    bob.save()
    answer(iguana, alice, json.dumps(boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))))
    answer(iguana, bob, json.dumps(boxes((0.08, 0.2, 0.64, 0.5, "iguana"))))  # IoU 0.47 with each of alice's
    answer(rock, alice, json.dumps(boxes((0.5, 0.5, 0.25, 0.4, "rock"), (0.0, 0.0, 0.1, 0.1, "rock"))))
    answer(rock, bob, json.dumps(boxes((0.55, 0.5, 0.25, 0.4, "rock"))))
    answer(same, alice, json.dumps(boxes((0.2, 0.2, 0.2, 0.2, "rock"))))
    answer(same, bob, json.dumps(boxes((0.2, 0.2, 0.2, 0.2, "rock"))))
    return project, (iguana, rock, same), (alice, bob)


def decide(api, user, item, body):
    return api(user).post(f"/api/items/{item.pk}/decision/", body, format="json")


def queue(api, user, project, query=""):
    response = api(user).get(f"/api/projects/{project.pk}/review-queue/{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_queue_puts_the_split_merge_item_first_and_names_who_drew_what(api, reviewer, iguanas):
    project, (iguana, rock, same), _ = iguanas
    data = queue(api, reviewer, project)
    rows = data["results"]
    assert [r["item"] for r in rows] == [iguana.pk, rock.pk]  # the agreed item is not queued
    first = rows[0]
    assert first["reasons"] == ["disagreement", "split_merge"]
    assert first["disagreement"] == 1.0 and first["f1"] == 0.0
    assert [s["text"] for s in first["split_merge"]] == ["bob drew one box where alice drew 2"]
    assert {a["labeler"]: len(a["value"]["boxes"]) for a in first["answers"]} == {"alice": 2, "bob": 1}
    assert rows[1]["reasons"] == ["disagreement"] and rows[1]["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["counts"] == {"disagreement": 2, "split_merge": 1, "flagged": 0}


def test_queue_iou_parameter_changes_what_counts_as_agreement(api, reviewer, iguanas):
    project, (iguana, rock, _), _ = iguanas
    loose = {r["item"]: r for r in queue(api, reviewer, project, "?iou=0.5")["results"]}
    strict = {r["item"]: r for r in queue(api, reviewer, project, "?iou=0.9")["results"]}
    assert loose[rock.pk]["disagreement"] == pytest.approx(1 / 3, abs=1e-4)  # the rocks match at 0.5
    assert strict[rock.pk]["disagreement"] == 1.0
    # Equal disagreement: the split/merge item first.
    assert [r["item"] for r in queue(api, reviewer, project, "?iou=0.9")["results"]] == [iguana.pk, rock.pk]
    bad = api(reviewer).get(f"/api/projects/{project.pk}/review-queue/?iou=2")
    assert bad.status_code == 400 and "iou" in bad.json()
    pair = api(reviewer).get(f"/api/projects/{project.pk}/review-queue/?classes=iguana,rock")
    assert pair.status_code == 400 and "classes" in pair.json()


def test_decision_stores_the_final_boxes_and_the_item_leaves_the_queue(api, reviewer, iguanas):
    project, (iguana, _, _), _ = iguanas
    final = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    response = decide(api, reviewer, iguana, {"value": final, "rationale": "two touching: two boxes", "gold": True})
    assert response.status_code == 201, response.json()
    assert response.json()["value"] == final
    stored = Decision.objects.get(item=iguana)
    assert stored.shapes == final and stored.gold and stored.label == ""
    assert iguana.pk not in [r["item"] for r in queue(api, reviewer, project)["results"]]
    decided = {r["item"]: r for r in queue(api, reviewer, project, "?decided=true")["results"]}
    assert decided[iguana.pk]["decision"] == final
    listed = api(reviewer).get(f"/api/items/{iguana.pk}/decision/").json()
    assert listed["results"][0]["value"] == final


def test_a_new_answer_brings_a_decided_item_back(api, reviewer, iguanas):
    project, (iguana, _, _), (alice, _) = iguanas
    assert decide(api, reviewer, iguana, {"accept": "consensus"}).status_code == 201
    assert iguana.pk not in [r["item"] for r in queue(api, reviewer, project)["results"]]
    answer(iguana, alice, json.dumps(boxes((0.1, 0.2, 0.31, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))))
    assert iguana.pk in [r["item"] for r in queue(api, reviewer, project)["results"]]


def test_accepting_the_consensus_records_what_the_server_computed(api, reviewer, iguanas):
    _, (_, rock, _), _ = iguanas
    response = decide(api, reviewer, rock, {"accept": "consensus"})
    assert response.status_code == 201, response.json()
    (shape,) = Decision.objects.get(item=rock).shapes["boxes"]
    assert shape["label"] == "rock" and "support" not in shape
    assert shape["x"] == pytest.approx(0.525) and shape["w"] == pytest.approx(0.25)


def test_nothing_here_is_an_explicit_empty_decision(api, reviewer, iguanas):
    _, (_, rock, _), _ = iguanas
    assert decide(api, reviewer, rock, {"value": {"boxes": []}}).status_code == 201
    assert Decision.objects.get(item=rock).shapes == {"boxes": []}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"value": boxes((0.9, 0.2, 0.3, 0.5, "iguana"))}, "value", "boxes[0]: x + w = 1.2 is outside the image"),
        ({"value": boxes((0.1, 0.2, 0.3, 0.5, "lizard"))}, "value", 'boxes[0]: unknown class "lizard"'),
        ({"value": {"segments": []}}, "value", '{"boxes": [...]}'),
        ({}, "value", 'accept: "consensus"'),
        ({"label": "iguana"}, "label", "not a label"),
        ({"accept": "majority"}, "accept", ""),
        ({"accept": "consensus", "value": {"boxes": []}}, "accept", "not both"),
        ({"value": {"boxes": []}, "borderline": True}, "value", "not the item"),
    ],
)
def test_bad_decision_shapes_answer_400_naming_the_shape(api, reviewer, iguanas, body, field, words):
    _, (iguana, _, _), _ = iguanas
    response = decide(api, reviewer, iguana, body)
    assert response.status_code == 400
    assert field in response.json() and words in json.dumps(response.json()[field]) + response.json()["detail"]
    assert not Decision.objects.filter(item=iguana).exists()


def test_labelers_cannot_decide_or_read_the_queue(api, iguanas):
    project, (iguana, _, _), (alice, _) = iguanas
    assert decide(api, alice, iguana, {"accept": "consensus"}).status_code == 403
    assert api(alice).get(f"/api/projects/{project.pk}/review-queue/").status_code == 403
    assert not Decision.objects.exists()


def test_classification_decisions_refuse_shapes(api, project, reviewer):
    (item,) = make_items(project, 1)
    response = decide(api, reviewer, item, {"label": "cat", "value": {"boxes": []}})
    assert response.status_code == 400 and "value" in response.json()


def test_the_version_ships_the_decided_boxes(api, manager, reviewer, iguanas):
    project, (iguana, rock, _), _ = iguanas
    final = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    assert decide(api, reviewer, iguana, {"value": final, "gold": True}).status_code == 201
    run_build(api, manager, project, {"splits": {"train": 1.0, "dev": 0.0, "test": 0.0}})
    version = DatasetVersion.objects.get(project=project, number=1)
    rows = {r["item"]: r for r in manifest(version)}
    shipped = rows[iguana.pk]["label"]["boxes"]
    assert [(s["x"], s["w"], s["support"], s["decided"]) for s in shipped] == [(0.1, 0.3, 1, True), (0.4, 0.3, 1, True)]
    assert rows[iguana.pk]["resolved_by"] == "decision" and rows[rock.pk]["resolved_by"] == "majority"
    assert version.counts["resolved_by"] == {"decision": 1, "majority": 2}
    # Without decisions the consensus of one box each (support 1 of 2: below a majority) is empty.
    run_build(api, manager, project, {"use_decisions": False})
    again = {r["item"]: r for r in manifest(DatasetVersion.objects.get(project=project, number=2))}
    assert again[iguana.pk]["label"] == {"boxes": []}


def test_gold_decision_shapes_score_the_labelers(api, manager, reviewer, iguanas):
    project, (iguana, rock, _), _ = iguanas
    final = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    assert decide(api, reviewer, iguana, {"value": final, "gold": True}).status_code == 201
    assert decide(api, reviewer, rock, {"accept": "consensus"}).status_code == 201  # not gold: no score
    report = api(manager).get(f"/api/projects/{project.pk}/agreement/").json()
    scores = {row["labeler"]: (row["gold_f1"], row["n_gold"]) for row in report["per_labeler"]}
    assert scores == {"alice": (1.0, 1), "bob": (0.0, 1)}  # alice drew the two iguanas, bob one box round both
    assert report["n_gold_items"] == 1
    # the CSV download carries them too
    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    rows = list(csv.reader(io.StringIO(client.get(f"/projects/{project.pk}/agreement.csv").content.decode())))
    assert ["labeler", "alice", "gold_f1", "1.0", "", ""] in rows and ["labeler", "bob", "n_gold", "1", "", ""] in rows
    assert ["headline", "project", "n_gold_items", "1", "", ""] in rows
    # after a rename the gold shapes count in the new class, as the answers do: the same scores
    from labeling.services.taxonomy import taxonomy_apply

    taxonomy_apply(project=project, op="rename", payload={"key": "iguana", "new_key": "reptile"})
    report = api(manager).get(f"/api/projects/{project.pk}/agreement/").json()
    assert {row["labeler"]: (row["gold_f1"], row["n_gold"]) for row in report["per_labeler"]} == scores


def test_instructions_ambiguous_attaches_the_picture_with_its_shapes_to_the_guideline(api, manager, reviewer, iguanas):
    project, (iguana, _, _), _ = iguanas
    guideline_publish(project=project, text="Box every iguana.", author=manager)
    two = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    response = decide(
        api,
        reviewer,
        iguana,
        {"action": "ambiguous_instructions", "rationale": "two iguanas touching: two boxes", "value": two},
    )
    assert response.status_code == 201, response.json()
    assert GuidelineNote.objects.get(item=iguana).text == "two iguanas touching: two boxes"
    example = GuidelineExample.objects.get(item=iguana)
    assert example.shapes == two and example.note == "two iguanas touching: two boxes"
    listed = api(reviewer).get(f"/api/projects/{project.pk}/guidelines/").json()["results"][0]["examples"]
    assert listed == [{"item": iguana.pk, "label": "", "note": "two iguanas touching: two boxes", "value": two}]
    from django.test import Client  # the guideline page draws the boxes over the picture

    client = Client()
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert html.count('class="example-box"') == 2 and "two iguanas touching" in html


def test_a_new_guideline_version_keeps_the_examples_shapes(api, manager, reviewer, iguanas):
    project, (iguana, _, _), _ = iguanas
    guideline_publish(project=project, text="v1", author=manager)
    decide(api, reviewer, iguana, {"action": "ambiguous_instructions", "rationale": "one or two?"})
    response = api(reviewer).post(f"/api/projects/{project.pk}/guidelines/", {"text": "v2"}, format="json")
    assert response.status_code == 201
    (example,) = response.json()["examples"]
    assert example["value"] == {"boxes": []}  # the consensus of one box against two: nothing agreed


@pytest.fixture
def speech(manager, reviewer):
    project = make_project(
        manager,
        name="Speech",
        modality="audio",
        task_type="segments",
        classes=[{"key": "speech"}, {"key": "noise"}],
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    clip, calm = make_items(project, 2, stats={"duration": 4.0})
    a, b = labelers(project, 2, prefix="ear")
    answer(clip, a, json.dumps({"segments": [{"start": 0.5, "end": 3.0, "label": "speech"}]}))
    answer(
        clip,
        b,
        json.dumps(
            {"segments": [{"start": 0.6, "end": 1.5, "label": "speech"}, {"start": 1.6, "end": 3.0, "label": "speech"}]}
        ),
    )
    answer(calm, a, json.dumps({"segments": []}))
    answer(calm, b, json.dumps({"segments": []}))
    return project, (clip, calm)


def test_segments_queue_and_decision(api, manager, reviewer, speech):
    project, (clip, calm) = speech
    rows = queue(api, reviewer, project)["results"]
    assert [r["item"] for r in rows] == [clip.pk]
    assert rows[0]["split_merge"][0]["text"] == "ear0 drew one segment where ear1 drew 2"
    bad = decide(api, reviewer, clip, {"value": {"segments": [{"start": 0.5, "end": 4.5, "label": "speech"}]}})
    assert bad.status_code == 400 and "segments[0]: end = 4.5 s is after the clip's end" in bad.json()["value"][0]
    final = {"segments": [{"start": 0.5, "end": 3.0, "label": "speech"}]}
    assert decide(api, reviewer, clip, {"value": final}).status_code == 201
    assert queue(api, reviewer, project)["results"] == []
    run_build(api, manager, project)
    rows = {r["item"]: r for r in manifest(DatasetVersion.objects.get(project=project, number=1))}
    assert rows[clip.pk]["label"] == {
        # ear0 drew it; ear1's second segment (1.6-3.0) matches it at IoU 0.56.
        "segments": [{"start": 0.5, "end": 3.0, "label": "speech", "support": 2, "decided": True}]
    }
    assert rows[calm.pk]["label"] == {"segments": []}


def test_review_pages_of_localized_projects_load(manager, reviewer, iguanas, speech):
    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    project, (iguana, _, _), _ = iguanas
    queue_page = client.get(f"/projects/{project.pk}/review/")
    assert queue_page.status_code == 200
    assert "bob drew one box where alice drew 2" in queue_page.content.decode()
    page = client.get(f"/projects/{project.pk}/review/{iguana.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="shape-review"' in html and 'id="review-config"' in html
    assert "Accept consensus" in html and 'data-labeler="alice"' in html
    audio_project, (clip, _) = speech
    page = client.get(f"/projects/{audio_project.pk}/review/{clip.pk}/")
    assert page.status_code == 200 and 'id="waveform"' in page.content.decode()


def test_a_decided_item_s_review_page_lists_its_decisions(manager, reviewer, api, iguanas, speech):
    """It was a 500 on detection projects: the template looked up the decision's segments on boxes."""
    from django.test import Client

    project, (iguana, _, _), _ = iguanas
    final = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    assert decide(api, reviewer, iguana, {"value": final, "rationale": "two touching"}).status_code == 201
    audio_project, (clip, _) = speech
    spoken = {"segments": [{"start": 0.5, "end": 3.0, "label": "speech"}]}
    assert decide(api, reviewer, clip, {"value": spoken, "rationale": "one phrase"}).status_code == 201
    client = Client()
    client.force_login(reviewer)
    for page, text in (
        (f"/projects/{project.pk}/review/{iguana.pk}/", "2 boxes"),
        (f"/projects/{audio_project.pk}/review/{clip.pk}/", "1 segment "),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        decisions = response.content.decode().split('id="decisions"')[1].split("</ul>")[0]
        assert text in decisions and ("two touching" in decisions or "one phrase" in decisions)


def test_a_decision_of_one_shape_reads_one_segment_or_one_box(manager, reviewer, api, iguanas, speech):
    """A clip decided with one segment read "Final label: 1 segments" in its earlier decisions and
    "Decided already by you, …: 1 segments." above the form (and one box "1 boxes")."""
    from django.test import Client

    project, (iguana, _, _), _ = iguanas
    assert (
        decide(api, reviewer, iguana, {"value": boxes((0.1, 0.2, 0.3, 0.5, "iguana")), "rationale": "one"}).status_code
        == 201
    )
    audio_project, (clip, _) = speech
    spoken = {"segments": [{"start": 0.5, "end": 3.0, "label": "speech"}]}
    assert decide(api, reviewer, clip, {"value": spoken, "rationale": "one phrase"}).status_code == 201
    client = Client()
    client.force_login(reviewer)
    for page, one in (
        (f"/projects/{project.pk}/review/{iguana.pk}/", "box"),
        (f"/projects/{audio_project.pk}/review/{clip.pk}/", "segment"),
    ):
        text = client.get(page).content.decode()
        decisions = text.split('id="decisions"')[1].split("</ul>")[0]
        banner = text.split('id="latest-decision"')[1].split("</p>")[0]
        assert f": 1 {one} " in decisions and f": 1 {one}." in banner, (decisions, banner)


@pytest.mark.parametrize("field", ["x", "w"])
def test_a_coordinate_beyond_any_float_is_refused(api, reviewer, labeler, iguanas, field):
    """An integer of 400 digits was a 500 (OverflowError) in answers and decisions."""
    project, (iguana, _, _), _ = iguanas
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "iguana", field: 10**400}  # JSON holds any integer
    response = decide(api, reviewer, iguana, {"value": {"boxes": [box]}})
    assert response.status_code == 400, response.content[:300]
    assert f"boxes[0]: {field} is out of range" in response.json()["value"][0]
    assert not Decision.objects.filter(item=iguana).exists()


def add_example(api, user, project, body, version=1):
    return api(user).post(f"/api/projects/{project.pk}/guidelines/{version}/examples/", body, format="json")


def guideline_html(user, project):
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(f"/projects/{project.pk}/guidelines/")
    assert response.status_code == 200
    return response.content.decode()


def test_an_example_without_shapes_takes_the_items_consensus_or_its_decided_shapes(api, manager, reviewer, iguanas):
    project, (iguana, rock, _), _ = iguanas
    guideline_publish(project=project, text="Box every iguana.", author=manager)
    response = add_example(api, reviewer, project, {"item": rock.pk, "note": "a pebble is no rock"})
    assert response.status_code == 201, response.json()
    (shape,) = response.json()["value"]["boxes"]  # the consensus: the rock both drew, the pebble left out
    assert shape["label"] == "rock" and shape["x"] == pytest.approx(0.525) and "support" not in shape
    assert GuidelineExample.objects.get(item=rock).shapes == response.json()["value"]
    # The reviewer's decided shapes come before the consensus (the consensus of the iguana item is empty).
    two = boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))
    assert decide(api, reviewer, iguana, {"value": two}).status_code == 201
    response = add_example(api, reviewer, project, {"item": iguana.pk, "note": "two touching: two boxes"})
    assert response.status_code == 201 and response.json()["value"] == two
    html = guideline_html(reviewer, project)
    assert html.count('class="example-box"') == 3 and "two touching: two boxes" in html


def test_explicit_example_shapes_are_checked_as_an_answer(api, manager, reviewer, iguanas):
    project, (iguana, _, _), _ = iguanas
    guideline_publish(project=project, text="v1", author=manager)
    one = boxes((0.08, 0.2, 0.64, 0.5, "iguana"))
    response = add_example(api, reviewer, project, {"item": iguana.pk, "value": one})
    assert response.status_code == 201 and response.json()["value"] == one


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"value": boxes((0.9, 0.2, 0.3, 0.5, "iguana"))}, "value", "boxes[0]: x + w = 1.2 is outside the image"),
        ({"value": boxes((0.1, 0.2, 0.3, 0.5, "lizard"))}, "value", 'boxes[0]: unknown class "lizard"'),
        ({"label": "iguana"}, "label", "not a class"),
        ({"label": "borderline"}, "label", "not a class"),
    ],
)
def test_bad_detection_examples_answer_400_and_store_nothing(api, manager, reviewer, iguanas, body, field, words):
    project, (iguana, _, _), _ = iguanas
    guideline_publish(project=project, text="v1", author=manager)
    response = add_example(api, reviewer, project, {"item": iguana.pk, **body})
    assert response.status_code == 400, response.json()
    assert field in response.json() and words in response.json()[field][0]
    assert not GuidelineExample.objects.exists()


def test_an_item_nobody_answered_or_decided_needs_its_shapes_given(api, manager, reviewer, iguanas):
    project, _, _ = iguanas
    guideline_publish(project=project, text="v1", author=manager)
    (blank,) = make_items(project, 1, start=3, stats={"width": 200, "height": 100})
    response = add_example(api, reviewer, project, {"item": blank.pk})
    assert response.status_code == 400 and "no reviewer decision and no answers" in response.json()["value"][0]
    assert not GuidelineExample.objects.exists()
    assert add_example(api, reviewer, project, {"item": blank.pk, "value": {"boxes": []}}).status_code == 201


def test_a_segments_example_takes_the_clips_consensus_and_is_drawn_on_its_time_bar(api, manager, reviewer, speech):
    project, (clip, _) = speech
    guideline_publish(project=project, text="Mark the speech.", author=manager)
    response = add_example(api, reviewer, project, {"item": clip.pk, "note": "silence around speech is not speech"})
    assert response.status_code == 201, response.json()
    # ear0 drew 0.5-3.0 s, ear1 0.6-1.5 and 1.6-3.0: the majority over time is ear1's two
    assert [(s["start"], s["end"], s["label"]) for s in response.json()["value"]["segments"]] == [
        (0.6, 1.5, "speech"),
        (1.6, 3.0, "speech"),
    ]
    bad = add_example(
        api, reviewer, project, {"item": clip.pk, "value": {"segments": [{"start": 1, "end": 5, "label": "speech"}]}}
    )
    assert bad.status_code == 400 and "segments[0]: end = 5" in bad.json()["value"][0]
    html = guideline_html(reviewer, project)
    assert html.count('class="example-segment"') == 2 and "2 segments" in html


def test_the_example_form_of_a_shape_project_offers_no_class_or_borderline(manager, reviewer, iguanas, speech):
    for project in (iguanas[0], speech[0]):
        guideline_publish(project=project, text="v1", author=manager)
        html = guideline_html(reviewer, project)
        form = html[html.index('id="example-form"') : html.index("</form>", html.index('id="example-form"'))]
        assert 'name="item"' in form and 'name="note"' in form
        assert 'name="label"' not in form and "borderline case" not in form
        assert "consensus" in form


def test_a_new_guideline_version_carries_examples_as_they_stand(api, manager, reviewer, iguanas):
    project, (_, rock, _), _ = iguanas
    guideline_publish(project=project, text="v1", author=manager)
    assert add_example(api, reviewer, project, {"item": rock.pk, "note": "the rock"}).status_code == 201
    stored = GuidelineExample.objects.get(item=rock).shapes
    response = api(reviewer).post(f"/api/projects/{project.pk}/guidelines/", {"text": "v2"}, format="json")
    assert response.status_code == 201
    assert response.json()["examples"] == [{"item": rock.pk, "label": "", "note": "the rock", "value": stored}]


def test_the_shape_review_page_draws_the_answers_a_campaign_archived(api, manager, reviewer, iguanas, speech):
    from django.test import Client

    from labeling.services.campaigns import campaign_create

    project, (iguana, _, _), _ = iguanas
    campaign_create(project=project, name="Touching iguanas", item_ids=[iguana.pk], overlap=1, user=manager)
    (carol,) = labelers(project, 1, prefix="carol")
    answer(iguana, carol, json.dumps(boxes((0.1, 0.2, 0.3, 0.5, "iguana"), (0.4, 0.2, 0.3, 0.5, "iguana"))))
    client = Client()
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/review/{iguana.pk}/").content.decode()
    assert 'data-labeler="carol0"' in html and 'data-labeler="alice"' not in html.split('id="archived-answers"')[0]
    earlier = html[html.index('id="archived-answers"') : html.index('id="decision-form"')]
    cards = {c.split('"')[0]: c for c in earlier.split('data-labeler="')[1:]}
    assert set(cards) == {"alice", "bob"}
    assert cards["alice"].count('class="example-box"') == 2 and "2 boxes" in cards["alice"]
    assert cards["bob"].count('class="example-box"') == 1 and "1 box" in cards["bob"]
    # classes by their names, as the class buttons read them (not the keys "iguana", "rock")
    assert all("Touching iguanas" in c and "(Iguana)" in c and 'title="Iguana"' in c for c in cards.values())
    assert 'title="iguana"' not in earlier
    # the editor's layers hold the current answers only
    config = json.loads(html.split('id="review-config" type="application/json">')[1].split("</script>")[0])
    assert [layer["name"] for layer in config["layers"]] == ["carol0"]

    audio, (clip, _) = speech
    campaign_create(project=audio, name="Silence", item_ids=[clip.pk], overlap=1, user=manager)
    html = client.get(f"/projects/{audio.pk}/review/{clip.pk}/").content.decode()
    earlier = html[html.index('id="archived-answers"') : html.index('id="decision-form"')]
    assert earlier.count('class="example-segment"') == 3 and "Silence" in earlier
    assert "2 segments" in earlier and "1 segment" in earlier
    assert "left:12.500%;width:62.500%" in earlier  # ear0's 0.5-3.0 s of a 4 s clip


def test_a_segments_project_s_examples_speak_of_sound_not_boxes_of_digits(manager, reviewer, iguanas, speech):
    """The rationale and guideline example placeholders said "two digits touching: two boxes" on a
    speech project too."""
    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    audio_project, (clip, _) = speech
    guideline_publish(project=audio_project, text="Mark every stretch of speech.", author=manager)
    for path in (f"review/{clip.pk}/", "guidelines/"):
        html = client.get(f"/projects/{audio_project.pk}/{path}").content.decode()
        assert "two digits touching" not in html and "noise, not speech" in html, path
    project, (iguana, _, _), _ = iguanas
    html = client.get(f"/projects/{project.pk}/review/{iguana.pk}/").content.decode()
    assert "two digits touching: two boxes" in html


def test_the_shape_review_page_tells_the_sme_who_decided_the_item_that_the_decision_is_theirs(
    api, client, reviewer, iguanas
):
    project, (iguana, _, _), _ = iguanas
    assert decide(api, reviewer, iguana, {"value": boxes((0.1, 0.2, 0.3, 0.5, "iguana"))}).status_code == 201
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{iguana.pk}/").content.decode()
    banner = page[page.index('id="latest-decision"') :].split("</p>")[0]
    assert "Decided already by you," in banner and "(yours stays in the history)" in banner
