"""Relabel campaigns never lose evidence: archived answers keep counting, a labeler who shares no item
with anyone still counts under Dawid-Skene, and every item a version leaves out is counted and named."""

import pytest

from labeling.models import Item
from labeling.services.campaigns import campaign_create
from tests.conftest import make_project
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

pytestmark = pytest.mark.django_db

TRUTH = ["cat", "dog", "other"]


@pytest.fixture
def relabeled(manager):
    """30 texts answered by three labelers (the third wrong on every fifth item), then a campaign of
    overlap 1 on six items that only a new labeler answers, rightly."""
    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(30)])
    a, b, c, newcomer = labelers(project, 4)
    truth = [TRUTH[i % 3] for i in range(30)]
    for i, item in enumerate(items):
        answer(item, a, truth[i])
        answer(item, b, truth[i])
        answer(item, c, TRUTH[(i + 1) % 3] if i % 5 == 0 else truth[i])
    chosen = [item.pk for item in items[:6]]
    campaign_create(project=project, name="again", item_ids=chosen, overlap=1, user=manager)
    for item in items[:6]:
        answer(item, newcomer, truth[items.index(item)])
    return project, items, truth, chosen


@pytest.mark.parametrize(
    "recipe", [{}, {"consensus": "dawid_skene"}, {"consensus": "dawid_skene", "archived_weight": 0}]
)
def test_items_relabeled_with_overlap_1_stay_in_the_next_version_with_the_right_label(relabeled, manager, recipe):
    project, items, truth, chosen = relabeled
    version = build(project, manager, recipe)
    rows = {r["item"]: r for r in manifest(version)}
    for i, item in enumerate(items):
        assert rows[item.pk]["label"] == truth[i], (i, rows.get(item.pk))
    assert version.counts["left_out_total"] == 0


def test_archived_answers_still_count_at_their_weight(manager):
    project = text_project(manager)
    (item,) = add_texts(project, ["a scratch"])
    a, b, c, d = labelers(project, 4)
    answer(item, a, "dog")
    answer(item, b, "dog")
    answer(item, c, "cat")
    campaign_create(project=project, name="again", item_ids=[item.pk], overlap=1, user=manager)
    # Archived answers alone (no new answer yet) keep the item in the version.
    assert manifest(build(project, manager))[0]["label"] == "dog"
    # Archived dog 2 × 0.4 = 0.8 against cat 0.4 + 1 = 1.4: the new answer and the archived one agree.
    answer(item, d, "cat")
    row = manifest(build(project, manager))[0]
    assert row["label"] == "cat" and row["agreement"] == pytest.approx(1.4 / 2.2, abs=1e-4)
    # Weight 0: only the new answer counts.
    assert manifest(build(project, manager, {"archived_weight": 0}))[0]["agreement"] == 1.0


def test_archived_answers_follow_the_guideline_filter(manager, reviewer):
    from labeling.services.guidelines import guideline_publish

    project = text_project(manager)
    (item,) = add_texts(project, ["a scratch"])
    a, b = labelers(project, 2)
    guideline_publish(project=project, text="v1", author=reviewer)
    answer(item, a, "dog")
    campaign_create(project=project, name="again", item_ids=[item.pk], overlap=1, user=manager)
    guideline_publish(project=project, text="v2", author=reviewer)
    answer(Item.objects.get(pk=item.pk), b, "cat")
    assert manifest(build(project, manager, {"filters": {"guideline": 1}}))[0]["label"] == "dog"
    assert manifest(build(project, manager, {"filters": {"guideline": 2}}))[0]["label"] == "cat"


def test_a_version_names_the_items_it_leaves_out(manager):
    project = text_project(manager)
    (item,) = add_texts(project, ["a scratch"])
    (a,) = labelers(project, 1)
    answer(item, a, "dog")
    campaign_create(project=project, name="again", item_ids=[item.pk], overlap=1, user=manager)
    version = build(project, manager, {"archived_weight": 0})
    assert manifest(version) == []
    assert version.counts["left_out"]["unlabeled"] == 1 and version.counts["left_out_items"] == {"unlabeled": [item.pk]}


def test_bad_archived_weight_is_refused(api, manager):
    project = text_project(manager)
    response = api(manager).post(
        f"/api/projects/{project.pk}/versions/", {"recipe": {"archived_weight": 2}}, format="json"
    )
    assert response.status_code == 400 and "archived_weight" in str(response.json())


def test_needs_review_rows_are_counted_and_named(client, manager):
    project = text_project(manager)
    items = add_texts(project, ["x", "y", "z"])
    a, b = labelers(project, 2)
    answer(items[0], a, "cat")
    answer(items[0], b, "dog")
    answer(items[1], a, "cat")
    version = build(project, manager, {"unresolved": "needs_review"})
    assert version.counts["needs_review"] == 1
    assert version.counts["needs_review_items"] == {"tie": [items[0].pk]}
    assert version.counts["left_out_items"] == {"unlabeled": [items[2].pk]}
    assert version.counts["left_out_total"] == 1
    version = build(project, manager)
    assert version.counts["left_out_items"] == {"tie": [items[0].pk], "unlabeled": [items[2].pk]}
    assert version.counts["left_out_total"] == 2
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/{version.number}/").content.decode()
    assert 'data-left-out="tie"' in page and f"#{items[0].pk}" in page


def test_the_version_page_says_when_it_names_only_the_first_of_many_left_out_items(client, manager):
    from labeling.services.versions import NAMED_ITEMS

    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(NAMED_ITEMS + 21)])
    (a,) = labelers(project, 1)
    answer(items[0], a, "cat")
    version = build(project, manager)
    assert version.counts["left_out"]["unlabeled"] == NAMED_ITEMS + 20
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/{version.number}/").content.decode()
    named = page[page.index('data-left-out="unlabeled"') :].split("</p>")[0]
    assert f"unlabeled (the first {NAMED_ITEMS} of {NAMED_ITEMS + 20}):" in named
    assert named.count('class="chip light"') == NAMED_ITEMS
    # the reasons read as words, never as identifiers
    assert '<th scope="row">low agreement</th>' in page and "low_agreement" not in page


def test_a_campaign_of_overlap_1_shows_before_and_after_against_the_archive_and_gold(api, client, manager, reviewer):
    from labeling.services.projects import member_add
    from labeling.services.review import decision_record

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role="reviewer")
    items = add_texts(project, [f"t{i}" for i in range(4)])
    a, b, newcomer = labelers(project, 3)
    for item in items:  # a says dog, b says cat; the truth is cat
        answer(item, a, "dog")
        answer(item, b, "cat")
        decision_record(item=item, reviewer=reviewer, label="cat", gold=True)
    client = api(reviewer)
    body = {"name": "again", "items": [i.pk for i in items], "overlap": 1}
    campaign = client.post(f"/api/projects/{project.pk}/campaigns/", body, format="json").json()
    for item in items[:3]:
        answer(Item.objects.get(pk=item.pk), newcomer, "cat")
    progress = client.get(f"/api/projects/{project.pk}/campaigns/{campaign['id']}/").json()["progress"]
    assert progress["after"]["percent_agreement"] is None  # one answer per item: nothing to agree with
    versus = progress["versus_archived"]
    assert versus["agreement"] == 0.5 and versus["n_pairs"] == 6
    assert versus["changed"] == 3 and versus["n_compared"] == 3  # a tie before, cat after
    assert versus["gold"] == {"before": 0.5, "after": 1.0, "n_items": 4}
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/{campaign['id']}/")
    assert page.status_code == 200 and b'data-metric="gold"' in page.content


def test_one_new_answer_outweighs_two_archived_ones_that_agree(manager):
    project = text_project(manager)
    (item,) = add_texts(project, ["a scratch"])
    a, b, c = labelers(project, 3)
    answer(item, a, "dog")
    answer(item, b, "dog")
    campaign_create(project=project, name="again", item_ids=[item.pk], overlap=1, user=manager)
    answer(item, c, "cat")
    assert manifest(build(project, manager))[0]["label"] == "cat"


def test_a_campaign_compares_answers_as_versions_do_classes_merged_transcripts_normalized(api, manager, reviewer):
    """After "deep" is merged into "scratch", an item answered deep and scratch is agreement, not a
    disagreement the campaign's filter picks, and an item answered only deep is one of the scratches;
    transcripts "Yes, please." and "yes please" agree too."""
    from labeling.services.campaigns import campaign_items_for, campaign_progress
    from labeling.services.taxonomy import taxonomy_apply

    project = text_project(manager, classes=("deep", "scratch", "dent"))
    merged, split, old = add_texts(project, ["a", "b", "c"])
    a, b = labelers(project, 2)
    answer(old, a, "deep")
    answer(merged, a, "deep")
    answer(merged, b, "scratch")
    answer(split, a, "dent")
    answer(split, b, "scratch")
    taxonomy_apply(project=project, op="merge", payload={"classes": ["deep", "scratch"], "into": "scratch"})
    assert campaign_items_for(project=project, filter={"disagreement": True}) == [split.pk]
    assert campaign_items_for(project=project, filter={"class": "scratch"}) == [merged.pk, split.pk, old.pk]
    campaign = campaign_create(project=project, name="all", item_ids=[merged.pk, split.pk], user=manager)
    assert campaign.before["agreement"] == 0.5  # the merged pair agrees, the other does not

    spoken = make_project(manager, name="Calls", modality="text", task_type="transcription")
    (call,) = add_texts(spoken, ["a call"])
    c, d = labelers(spoken, 2, prefix="ear")
    answer(call, c, "Yes, please.")
    answer(call, d, "yes  please")
    assert campaign_items_for(project=spoken, filter={"disagreement": True}) == []
    again = campaign_create(project=spoken, name="calls", item_ids=[call.pk], user=manager)
    assert again.before["agreement"] == 1.0
    assert campaign_progress(campaign=again)["metric"] == "percent agreement"


def test_a_second_campaign_on_the_same_items_keeps_the_first_archive_counting(manager):
    """Two campaigns in a row on one item: the second archives only what was answered since the first;
    the first's archive still counts, each labeler's answer as it stood when each campaign started
    (recipes.py: "Archived answers"), and the item lists both archives' answers."""
    from labeling.models import ArchivedAnnotation
    from labeling.selectors import archived_answers_by_item

    project = text_project(manager)
    (item,) = add_texts(project, ["a scratch"])
    a, b, c = labelers(project, 3)
    answer(item, a, "cat")
    answer(item, b, "dog")
    first = campaign_create(project=project, name="Scratches", item_ids=[item.pk], user=manager)
    answer(item, a, "dog")  # a changes their mind in the first round; b does not answer again
    second = campaign_create(project=project, name="Scratches, v2 guideline", item_ids=[item.pk], user=manager)
    assert sorted(ArchivedAnnotation.objects.filter(campaign=first).values_list("labeler__username", "value")) == [
        ("lab0", "cat"),
        ("lab1", "dog"),
    ]
    assert list(ArchivedAnnotation.objects.filter(campaign=second).values_list("labeler__username", "value")) == [
        ("lab0", "dog")
    ]
    # dog: b's (first) and a's (second) at 0.4 each; cat: a's as the first campaign found it, at 0.4
    row = manifest(build(project, manager))[0]
    assert row["label"] == "dog" and row["agreement"] == pytest.approx(0.8 / 1.2, abs=1e-4)
    answer(item, c, "cat")  # one new answer outweighs them
    assert manifest(build(project, manager))[0]["label"] == "cat"
    listed = archived_answers_by_item(item_ids=[item.pk])[item.pk]
    assert sorted((r["campaign_id"], r["labeler"], r["value"]) for r in listed) == [
        (first.pk, "lab0", "cat"),
        (first.pk, "lab1", "dog"),
        (second.pk, "lab0", "dog"),
    ]


def test_a_class_merged_while_a_campaign_runs_counts_the_same_way_before_and_after(api, manager, reviewer):
    """ "deep" is merged into "scratch" while a campaign relabels an item answered deep and scratch: its
    agreement "before" stayed the 0 % measured when it started, while "after" counted the merge, and the
    page showed 0 % → 100 % for answers that had not changed at all. Both sides are counted as the
    taxonomy stands now (as the new answers against the archived ones already were)."""
    from labeling.services.campaigns import campaign_progress
    from labeling.services.projects import member_add
    from labeling.services.taxonomy import taxonomy_apply

    project = text_project(manager, classes=("deep", "scratch", "dent"))
    member_add(project=project, username=reviewer.username, role="reviewer")
    merged, apart = add_texts(project, ["a", "b"])
    a, b = labelers(project, 2)
    for item in (merged, apart):
        answer(item, a, "deep")
    answer(merged, b, "scratch")
    answer(apart, b, "dent")
    campaign = campaign_create(project=project, name="Scratches", item_ids=[merged.pk, apart.pk], user=manager)
    assert campaign.before["agreement"] == 0.0  # as measured when it started, kept
    taxonomy_apply(project=project, op="merge", payload={"classes": ["deep", "scratch"], "into": "scratch"})
    for item, (first, second) in ((merged, ("deep", "scratch")), (apart, ("deep", "dent"))):
        answer(item, a, first)
        answer(item, b, second)
    progress = campaign_progress(campaign=campaign)
    assert progress["after"]["agreement"] == 0.5
    assert progress["before"]["agreement"] == 0.5 and progress["before"]["n_answers"] == 4
    assert progress["versus_archived"]["agreement"] == 0.75  # (4 + 2) of 8 pairs, under the merge too
    body = api(reviewer).get(f"/api/projects/{project.pk}/campaigns/{campaign.pk}/").json()
    assert body["progress"]["before"]["agreement"] == 0.5


def test_a_campaign_finished_mid_way_keeps_its_archive_counting(manager):
    """Finished before every item was answered again: the items nobody relabeled keep their label from the
    archived answers, and the relabeled ones weigh both."""
    from labeling.services.campaigns import campaign_finish

    project = text_project(manager)
    relabeled, waiting = add_texts(project, ["a purr", "a bark"])
    a, b, c = labelers(project, 3)
    for item, value in ((relabeled, "cat"), (waiting, "dog")):
        answer(item, a, value)
        answer(item, b, value)
    campaign = campaign_create(project=project, name="again", item_ids=[relabeled.pk, waiting.pk], user=manager)
    answer(relabeled, c, "other")
    campaign_finish(campaign=campaign)
    waiting.refresh_from_db()
    assert (waiting.priority, waiting.overlap, waiting.n_answers) == (0, None, 0)
    rows = {r["item"]: r for r in manifest(build(project, manager))}
    assert rows[waiting.pk]["label"] == "dog"
    # other 1 against cat 2 × 0.4
    assert rows[relabeled.pk]["label"] == "other"
    assert rows[relabeled.pk]["agreement"] == pytest.approx(1 / 1.8, abs=1e-4)
