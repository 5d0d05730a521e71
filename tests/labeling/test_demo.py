"""The demo seed: the detection and segments demos are built from data made by others, answered by
simulated labelers who disagree the way real ones do, and seeding again changes nothing."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count

from analysis.selectors import AnswerFilters
from analysis.services.agreement import agreement_report_compute
from analysis.services.error_analysis import error_analysis_compute
from labeling import demo
from labeling.models import Annotation, Guideline, Item, Membership, Project
from labeling.services.queue import queue_next

pytestmark = pytest.mark.django_db


def _quiet(*_args, **_kwargs):
    pass


@pytest.fixture
def users():
    return demo.ensure_users()


@pytest.fixture
def touching(users):
    return demo.seed_touching(users, log=_quiet)


@pytest.fixture
def silence(users):
    return demo.seed_silence(users, log=_quiet)


def _roles(project):
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def test_the_digits_guideline_names_the_keys_the_labeling_page_binds():
    """A labeler reads the guideline beside the buttons: a key it names must be a class's hotkey."""
    line = next(line for line in demo.DIGITS_GUIDELINE.splitlines() if "key" in line)
    named = re.findall(r"\*\*(\w)\*\*", line)
    hotkeys = {c["hotkey"] for c in demo.DIGIT_CLASSES}
    assert named and set(named) <= hotkeys, f"the guideline names {named}, the page binds {sorted(hotkeys)}"


def test_touching_digits_is_a_detection_project_of_answered_scenes(touching):
    assert (touching.modality, touching.task_type) == ("image", "detection")
    assert touching.items.count() == demo.N_SCENES
    answered = Annotation.objects.filter(item__project=touching)
    assert answered.count() == 3 * demo.N_LABELED_SCENES
    assert set(answered.values_list("labeler__username", flat=True)) == {"alice", "bob", "carol"}
    assert touching.items.filter(metadata__touching_pairs__0__isnull=False).count() >= demo.N_SCENES // 2
    assert _roles(touching) == {
        "manager": "manager",
        "sme": "reviewer",
        "alice": "labeler",
        "bob": "labeler",
        "carol": "labeler",
        "dave": "labeler",
    }
    assert "two touching digits: two boxes" in Guideline.objects.get(project=touching).text


def test_speech_in_silence_is_a_segments_project_of_padded_clips(silence):
    assert (silence.modality, silence.task_type) == ("audio", "segments")
    assert silence.items.count() == 32
    assert Annotation.objects.filter(item__project=silence).count() == 3 * demo.N_LABELED_CLIPS
    item = silence.items.order_by("id").first()
    start, end = item.metadata["true_speech"]
    # The added silence is there: the true speech starts after the lead and ends before the tail.
    assert start >= demo.LEAD_SILENCE
    assert item.stats["duration"] - end >= demo.TRAIL_SILENCE
    assert "include at most 0.1 s of silence" in Guideline.objects.get(project=silence).text
    assert _roles(silence)["dave"] == "labeler"


def test_dave_has_a_queue_in_both_new_demos(users, touching, silence):
    for project in (touching, silence):
        assert queue_next(project=project, labeler=users["dave"]) is not None


def test_touching_digits_report_shows_the_one_box_or_two_disagreement(touching):
    report = agreement_report_compute(project=touching, filters=AnswerFilters())
    assert report["box_f1"]["value"] < 1
    assert report["split_merge"], "bob's one box round two digits is a split/merge row"
    assert {row["one"] for row in report["split_merge"]} == {"bob"}
    labelers = {row["labeler"]: row for row in report["per_labeler"]}
    # bob's merged boxes cost him matches; carol's cropped tails cost her overlap.
    assert min(labelers, key=lambda name: labelers[name]["f1"]) == "bob"
    assert min(labelers, key=lambda name: labelers[name]["mean_iou"]) == "carol"


def test_speech_in_silence_report_shows_the_silence_disagreement(silence):
    report = agreement_report_compute(project=silence, filters=AnswerFilters())
    assert report["segment_f1"]["value"] < 1
    assert report["mean_iou"] < 0.95
    labelers = {row["labeler"]: row for row in report["per_labeler"]}
    # bob's generous margins of silence overlap the others least.
    assert min(labelers, key=lambda name: labelers[name]["mean_iou"]) == "bob"


def test_seeding_twice_changes_nothing(monkeypatch):
    # The classic digits and spoken-query demos (unchanged, 1,800 items) are left out for speed.
    monkeypatch.setattr(demo, "seed_digits", lambda users, log: None)
    monkeypatch.setattr(demo, "seed_speech", lambda users, log: None)
    monkeypatch.setattr(demo, "seed_sentiment", lambda users, log: None)
    monkeypatch.setattr(demo, "seed_training_run", lambda project, users, log: None)

    def counts():
        return (
            get_user_model().objects.count(),
            list(Project.objects.order_by("name").values_list("name", "task_type")),
            Item.objects.count(),
            Annotation.objects.count(),
            Membership.objects.count(),
            Guideline.objects.count(),
        )

    demo.seed_demo(log=_quiet)
    first = counts()
    demo.seed_demo(log=_quiet)
    assert counts() == first
    assert [name for name, _ in first[1]] == sorted([demo.TOUCHING_PROJECT, demo.SILENCE_PROJECT])


def test_sme_sees_box_f1_and_split_merge_items_on_the_touching_digits_agreement_page(client, users, touching):
    client.force_login(users["sme"])
    response = client.get(f"/projects/{touching.pk}/agreement/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="split-merge"' in page
    assert "box F1" in page and "bob" in page


def test_dave_opens_the_labeling_page_of_both_new_demos(client, users, touching, silence):
    client.force_login(users["dave"])
    for project in (touching, silence):
        assert client.get(f"/projects/{project.pk}/label/").status_code == 200


@pytest.fixture
def sentiment(users):
    return demo.seed_sentiment(users, log=_quiet)


def test_sentiment_words_is_a_text_project_answered_with_real_raters_ratings(users, sentiment):
    assert (sentiment.modality, sentiment.task_type) == ("text", "classification")
    assert sentiment.items.count() == 300
    word = sentiment.items.get(text="acceptance")  # VADER's raters: [3, 1, 3, 2, 1, 2, 2, 2, 2, 2]
    answers = dict(Annotation.objects.filter(item=word).values_list("labeler__username", "value"))
    assert answers == {"alice": "positive", "bob": "positive", "carol": "positive"}
    assert Annotation.objects.get(item=word, labeler__username="bob").borderline  # bob's rating is +1
    assert queue_next(project=sentiment, labeler=users["dave"]) is not None


def test_sentiment_words_disagree_most_on_the_neutral_borderline(sentiment):
    report = agreement_report_compute(project=sentiment, filters=AnswerFilters())
    assert 0.2 < report["fleiss_kappa"]["value"] < 0.8  # real people: agreement, far from unanimity
    per_class = {row["class"]: row for row in report["per_class"]}
    agreement = {key: per_class[key]["specific_agreement"] for key in ("negative", "neutral", "positive")}
    assert agreement["neutral"] == min(agreement.values())


def test_the_demo_training_run_is_graded_on_held_out_items_only(users, sentiment):
    run = demo.seed_training_run(sentiment, users, log=_quiet)
    splits = dict(run.predictions.values_list("split").annotate(n=Count("id")).values_list("split", "n"))
    assert splits["train"] > 0 and splits.get("dev", 0) + splits.get("test", 0) > 0
    report = error_analysis_compute(project=sentiment, model_run=run)
    # The model is compared with the labelers on the items it did not train on, and says so.
    assert report["n_left_out"] == splits["train"]
    assert report["n_predictions"] == sum(splits.values())
    assert report["held_out"]["basis"] == "dataset_version" and report["held_out"]["warning"] is None
    assert report["n_items"] <= splits.get("dev", 0) + splits.get("test", 0)
