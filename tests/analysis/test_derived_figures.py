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


def _planned_project(manager, *, hourly_rate):
    """Overlap 2, throughput over 1 week: a source of 100 items for 300 USD (20 imported, 10 of them
    answered twice), a crowd source of 200 items for 2000 USD due in 10 days (none imported yet), answers
    spread over the last 5 days (and two older ones outside the window), with known seconds."""
    from datetime import timedelta

    from django.utils import timezone

    from analysis.models import ProjectPlanning
    from labeling.models import Annotation, DataSource

    project = text_project(manager, overlap=2)
    ProjectPlanning.objects.create(project=project, hourly_rate=hourly_rate, throughput_weeks=1)
    half = DataSource.objects.create(
        project=project, name="half", kind="owned", planned_amount=100, total_cost=300, status="available"
    )
    DataSource.objects.create(
        project=project,
        name="crowd",
        kind="crowdsourced",
        planned_amount=200,
        total_cost=2000,
        turnaround_days=10,
        status="acquiring",
    )
    items = add_texts(project, [f"t{i}" for i in range(20)], source=half)
    users = labelers(project, 2)
    seconds = iter([4, 8, 15, 16, 23, 42, 5, 7, 9, 11, 13, 17, 19, 21, 25, 27, 29, 31, 33, 35, 90, 95])
    for item in items[:10]:
        for user in users:
            answer(item, user, "cat")
    answer(items[10], users[0], "cat")  # one answer of two: not labeled
    now = timezone.now()
    answers = list(Annotation.objects.filter(item__project=project).order_by("pk"))
    for i, a in enumerate(answers):
        a.seconds = next(seconds)
        a.created = now - timedelta(days=5) + timedelta(hours=i) if i < len(answers) - 1 else now - timedelta(days=9)
    Annotation.objects.bulk_update(answers, ["seconds", "created"])
    return project, now, answers


def test_planning_figures_recomputed_by_hand(manager):
    import numpy as np

    project, now, answers = _planned_project(manager, hourly_rate=18)
    plan = planning_compute(project=project, days=30, now=now)

    recent = [a for a in answers if a.created >= now - np.timedelta64(7, "D").item()]
    median = float(np.median([a.seconds for a in recent]))
    assert plan["labor"]["median_seconds"] == pytest.approx(median)
    labor = median * 2 / 3600 * 18  # seconds per answer × overlap, at the hourly rate
    assert plan["labor"]["cost_per_item"] == pytest.approx(labor, rel=1e-3)
    # Throughput: the window's answers over the days since the first of them, ÷ overlap for items.
    span = (now - min(a.created for a in recent)).total_seconds() / 86400
    assert plan["throughput"]["n_answers"] == len(recent) == 20
    assert plan["throughput"]["labeled_per_day"] == pytest.approx(len(recent) / span / 2, abs=0.01)
    # Data cost per item: the sources' costs over the items they bring (100 and 200), not over the
    # items imported so far from one and the items still to come from the other.
    data = (300 + 2000) / (100 + 200)
    assert plan["data_cost_per_item"] == pytest.approx(data, rel=1e-3)
    assert plan["cost_per_labeled_item"] == pytest.approx(labor + data, rel=1e-3)
    assert plan["progress"] == {"items": 20, "labeled": 10, "backlog": 10}


def test_planning_with_a_zero_hourly_rate_and_no_days(manager):
    project, now, _ = _planned_project(manager, hourly_rate=0)
    plan = planning_compute(project=project, days=0, now=now)
    assert plan["labor"]["cost_per_item"] == 0.0
    assert plan["cost_per_labeled_item"] == pytest.approx(2300 / 300, rel=1e-3)
    assert any("hourly rate is 0" in note for note in plan["notes"])
    assert plan["horizon"] == {"days": 0, "labeled": 10, "new_labeled": 0, "cost": 0.0}
    assert plan["curve"] == [{"day": 0, "labeled": 10.0, "supply": 100.0}]


def _error_analysis_by_hand(answers, flags, predictions, tags, classes):
    """Per slice and per class, from the raw answers: counted answers leave borderline and uncertain ones
    out; the resolved label is the strict majority of at least half the counted answers; HLP is the mean
    over items with 2+ counted answers of their share of agreeing ordered pairs."""
    from collections import Counter

    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support

    counted = {i: [v for v, f in zip(vs, flags[i], strict=True) if not f] for i, vs in answers.items()}
    truth, pair = {}, {}
    for i, vs in counted.items():
        c = Counter(vs).most_common()
        top_ok = c and (len(c) == 1 or c[0][1] > c[1][1]) and c[0][1] / len(vs) >= 0.5
        truth[i] = c[0][0] if top_ok else None
        m = len(vs)
        pair[i] = sum(n * (n - 1) for n in Counter(vs).values()) / (m * (m - 1)) if m >= 2 else None
    slices = {"all": list(predictions)}
    for tag, ids in tags.items():
        slices[tag] = [i for i in predictions if i in ids]
    rows = {}
    for name, ids in slices.items():
        scored = [predictions[i] == truth[i] for i in ids if truth[i] is not None]
        hlps = [pair[i] for i in ids if pair[i] is not None]
        acc = float(np.mean(scored)) if scored else None
        hlp = float(np.mean(hlps)) if hlps else None
        gap = None if acc is None or hlp is None else hlp - acc
        share = len(ids) / len(predictions)
        rows[name] = {
            "n_items": len(ids),
            "model_accuracy": acc,
            "hlp": hlp,
            "gap_to_hlp": gap,
            "share": share,
            "weighted_gap": None if gap is None else gap * share,
        }
    scored = [i for i in predictions if truth[i] is not None]
    y_true = [truth[i] for i in scored]
    y_pred = [predictions[i] for i in scored]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=np.nan)
    per_class = {}
    for k, c in enumerate(classes):
        agree = sum(n * (n - 1) for i in scored for v, n in Counter(counted[i]).items() if v == c)
        involved = sum(Counter(counted[i])[c] * (len(counted[i]) - 1) for i in scored)
        per_class[c] = {
            "precision": None if np.isnan(p[k]) else float(p[k]),
            "recall": None if np.isnan(r[k]) else float(r[k]),
            "f1": None if np.isnan(f[k]) else float(f[k]),
            "support": int(s[k]),
            "hlp": agree / involved if involved else None,
        }
    return rows, per_class


def test_error_analysis_recomputed_by_hand(manager):
    """Slices with a class absent, items with one answer, borderline and uncertain answers, an item
    nobody resolves, an empty tag; per class scores against scikit-learn and specific agreement."""
    from analysis.services.error_analysis import error_analysis_compute
    from analysis.services.training import model_run_create
    from labeling.models import Tag

    project = text_project(manager, overlap=3)
    users = labelers(project, 3)
    a = add_texts(project, [f"a{i}" for i in range(6)], tags=["day"])
    b = add_texts(project, [f"b{i}" for i in range(5)], tags=["night"])
    c = add_texts(project, [f"c{i}" for i in range(3)])
    Tag.objects.create(project=project, name="empty")
    plan = {
        # item: [(value, flag), ...] in labeler order; flag: "", "borderline" or "uncertain"
        a[0]: [("cat", ""), ("cat", ""), ("cat", "")],
        a[1]: [("cat", ""), ("dog", ""), ("cat", "")],
        a[2]: [("dog", ""), ("dog", ""), ("cat", "borderline")],
        a[3]: [("dog", "")],
        a[4]: [("cat", ""), ("dog", "")],
        a[5]: [("cat", ""), ("cat", "uncertain"), ("dog", "")],
        b[0]: [("other", ""), ("other", ""), ("cat", "")],
        b[1]: [("other", ""), ("other", ""), ("other", "")],
        b[2]: [("cat", ""), ("other", ""), ("other", "")],
        b[3]: [("cat", "")],
        b[4]: [("other", "borderline"), ("cat", ""), ("cat", "")],
        c[0]: [("cat", ""), ("dog", ""), ("other", "")],
        c[1]: [("dog", ""), ("dog", "")],
        c[2]: [("dog", ""), ("cat", ""), ("dog", "")],
    }
    for item, said in plan.items():
        for user, (value, flag) in zip(users, said, strict=False):
            extra = {"borderline_with": "other" if value != "other" else "cat"} if flag == "borderline" else {}
            answer(item, user, value, **({flag: True} if flag else {}), **extra)
    guess = ["cat", "cat", "dog", "cat", "dog", "cat", "other", "cat", "other", "cat", "cat", "cat", "dog", "dog"]
    predictions = {item.pk: g for item, g in zip(plan, guess, strict=True)}
    run = model_run_create(
        project=project, name="m", predictions=[{"item": pk, "label": g} for pk, g in predictions.items()]
    )
    answers = {item.pk: [v for v, _ in said] for item, said in plan.items()}
    flags = {item.pk: [f for _, f in said] for item, said in plan.items()}
    tags = {"day": {i.pk for i in a}, "night": {i.pk for i in b}, "empty": set()}
    rows, per_class = _error_analysis_by_hand(answers, flags, predictions, tags, ("cat", "dog", "other"))

    report = error_analysis_compute(project=project, model_run=run)
    shown = {row["slice"]: row for row in report["slices"]}
    assert set(shown) == {"all", "day", "night"}  # a tag no predicted item carries is no slice
    for name, want in rows.items():
        if name == "empty":
            continue
        got = shown[name]
        for key, value in want.items():
            assert got[key] == (None if value is None else pytest.approx(value)), (name, key)
    order = sorted((r for r in rows.values() if r["weighted_gap"] is not None), key=lambda r: -r["weighted_gap"])
    assert [row["weighted_gap"] for row in report["slices"]] == [pytest.approx(r["weighted_gap"]) for r in order]
    classes = {row["class"]: row for row in report["classes"]}
    for name, want in per_class.items():
        for key, value in want.items():
            assert classes[name][key] == (None if value is None else pytest.approx(value)), (name, key)
    # Fairness: the tags' accuracies side by side, their spread and the worst one.
    accuracies = {t: rows[t]["model_accuracy"] for t in ("day", "night")}
    fairness = report["fairness"]
    assert fairness["accuracy_spread"] == pytest.approx(max(accuracies.values()) - min(accuracies.values()))
    assert fairness["worst"] == min(accuracies, key=accuracies.get)


def test_agreement_report_per_labeler_table_recomputed_by_hand(manager, reviewer):
    """Each labeler's agreement with the others, with the others' majority, gold accuracy and median
    seconds, from the raw answers; a labeler with one answer, items with one answer."""
    import numpy as np

    from analysis.selectors import AnswerFilters
    from analysis.services.agreement import agreement_report_compute
    from labeling.services.projects import member_add
    from labeling.services.review import decision_record

    project = text_project(manager, overlap=3)
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 4)
    items = add_texts(project, [f"x{i}" for i in range(7)])
    plan = [
        ["cat", "cat", "cat", None],
        ["cat", "dog", "cat", None],
        ["dog", "dog", "cat", "dog"],
        ["cat", "dog", None, None],
        ["other", None, None, None],
        ["dog", "dog", "other", "cat"],
        [None, "cat", "cat", None],
    ]
    seconds = iter(range(3, 100, 4))
    said = {}
    for item, row in zip(items, plan, strict=True):
        for user, value in zip(users, row, strict=True):
            if value is not None:
                s = float(next(seconds))
                answer(item, user, value, seconds=s)
                said[(item.pk, user.pk)] = (value, s)
    gold = {items[1].pk: "dog", items[5].pk: "dog", items[4].pk: "cat"}
    for pk, label in gold.items():
        decision_record(item=next(i for i in items if i.pk == pk), reviewer=reviewer, label=label, gold=True)

    report = agreement_report_compute(project=project, filters=AnswerFilters())
    rows = {row["labeler_id"]: row for row in report["per_labeler"]}
    for user in users:
        mine = {i: v for (i, u), (v, _) in said.items() if u == user.pk}
        agree = pairs = hits = n_majority = 0
        for i, value in mine.items():
            others = [v for (j, u), (v, _) in said.items() if j == i and u != user.pk]
            agree += sum(v == value for v in others)
            pairs += len(others)
            counts = sorted(((others.count(v), v) for v in set(others)), reverse=True)
            if counts and (len(counts) == 1 or counts[0][0] > counts[1][0]):
                n_majority += 1
                hits += counts[0][1] == value
        on_gold = [v == gold[i] for i, v in mine.items() if i in gold]
        row = rows[user.pk]
        assert row["n_answers"] == len(mine)
        assert row["agreement_with_others"] == (pytest.approx(agree / pairs) if pairs else None)
        assert row["agreement_with_majority"] == (pytest.approx(hits / n_majority) if n_majority else None)
        assert row["gold_accuracy"] == (pytest.approx(np.mean(on_gold)) if on_gold else None)
        assert row["n_gold"] == len(on_gold)
        times = [s for (i, u), (_, s) in said.items() if u == user.pk]
        assert row["median_seconds"] == pytest.approx(float(np.median(times)))
    # Per class: specific agreement sum n_c (n_c - 1) / sum n_c (m - 1) over the items, and gold accuracy
    # (the share of answers on items whose gold is the class that say it).
    by_item = {}
    for (i, _), (v, _) in said.items():
        by_item.setdefault(i, []).append(v)
    for row in report["per_class"]:
        c = row["class"]
        agree = sum(vs.count(c) * (vs.count(c) - 1) for vs in by_item.values())
        ends = sum(vs.count(c) * (len(vs) - 1) for vs in by_item.values())
        assert row["specific_agreement"] == (pytest.approx(agree / ends) if ends else None), c
        on_gold = [v == c for i, vs in by_item.items() if gold.get(i) == c for v in vs]
        assert row["gold_accuracy"] == (pytest.approx(np.mean(on_gold)) if on_gold else None), c


def test_version_counts_match_its_manifest_and_the_answers(manager, reviewer):
    """A version's counts (labeled, left out by reason, splits, classes, resolved by) from its manifest
    rows and by hand, after a relabel campaign (archived answers at weight 0.4), a merged class, a
    decision and borderline answers."""
    from collections import Counter

    from labeling.services.projects import member_add
    from labeling.services.review import decision_record
    from labeling.services.taxonomy import taxonomy_apply
    from tests.labeling.version_helpers import build, manifest

    project = text_project(manager, overlap=3, classes=("cat", "dog", "kitten", "other"))
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 3)
    items = add_texts(project, [f"v{i}" for i in range(30)])
    for n, item in enumerate(items):
        values = [("cat", "kitten", "cat"), ("dog", "dog", "cat"), ("cat", "dog", "other"), ("kitten", "cat", "")][
            n % 4
        ]
        for user, value in zip(users, values, strict=True):
            if value:
                answer(item, user, value)
    answer(items[5], users[2], "dog", borderline=True, borderline_with="cat")  # now dog + a borderline: a tie?
    # A campaign of overlap 1 on three items: three archived answers (1.2) against one new answer.
    campaign_create(project=project, name="again", item_ids=[items[0].pk, items[1].pk, items[2].pk], overlap=1)
    answer(items[0], users[0], "dog")  # archived cat/kitten/cat → cat, 1.2 against dog 1.0
    answer(items[1], users[0], "other")  # archived dog dog cat: other 1.0 of 2.2, under half: left out
    decision_record(item=items[2], reviewer=reviewer, label="other")
    taxonomy_apply(project=project, op="merge", payload={"classes": ["cat", "kitten"], "into": "cat"}, author=manager)
    Item.objects.bulk_create([Item(project=project, text="never answered", sha256="0" * 64)])

    version = build(project, manager)
    rows = manifest(version)
    counts = version.counts
    labeled = [r for r in rows if r["label"] is not None]
    assert counts["items"] == len(rows) and counts["labeled"] == len(labeled)
    assert counts["classes"] == dict(Counter(r["label"] for r in labeled))
    assert counts["splits"] == {s: sum(r["split"] == s for r in labeled) for s in ("train", "dev", "test")}
    assert counts["resolved_by"] == dict(Counter(r["resolved_by"] for r in labeled))
    left = {r: n for r, n in counts["left_out"].items() if n}
    assert sum(left.values()) == Item.objects.filter(project=project).count() - len(rows)
    assert left.get("unlabeled") == 1
    by_item = {r["item"]: r for r in rows}
    assert by_item[items[0].pk]["label"] == "cat"  # kitten counts as cat; 3 × 0.4 outweighs one new dog
    assert items[1].pk not in by_item and items[1].pk in counts["left_out_items"]["low_agreement"]
    assert by_item[items[2].pk]["label"] == "other" and by_item[items[2].pk]["resolved_by"] == "decision"
    assert "kitten" not in counts["classes"]


def test_map_cluster_and_flag_counts_match_its_points(api, manager, reviewer):
    """The map's summary (flagged items, clusters), each cluster's items and its description's count
    agree with the map's points; ten copies of one text count as items too."""
    import re

    import numpy as np

    from analysis.models import EmbeddingMap, LabelCluster, MapPoint
    from analysis.services.maps import map_job_run
    from labeling.services.projects import member_add
    from tests.conftest import make_project

    project = make_project(manager, name="Blobs", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    member_add(project=project, username=reviewer.username, role="reviewer")
    rng = np.random.default_rng(0)
    truth = np.array([0] * 60 + [1] * 60)
    given = truth.copy()
    given[60:80] = 0
    items = add_texts(project, [f"doc {i}" for i in range(120)])
    for item, g in zip(items, given, strict=True):
        item.label = "ab"[g]
    Item.objects.bulk_update(items, ["label"])
    centres = np.array([[0.0] * 8, [6.0] * 8])
    vectors = centres[truth] + rng.normal(0, 1, (120, 8))
    vectors[60:80] = centres[1] + np.array([2.5] + [0.0] * 7) + rng.normal(0, 0.4, (20, 8))
    vectors[:10] = vectors[0]  # ten copies of one text, labeled b in blob a
    Item.objects.filter(pk__in=[i.pk for i in items[:10]]).update(label="b")
    rows = [{"item": i.pk, "vector": v.tolist()} for i, v in zip(items, vectors, strict=True)]
    assert api(manager).post(
        f"/api/projects/{project.pk}/embeddings/", {"model": "net", "vectors": rows}, format="json"
    )
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "net"}, format="json").json()
    map_job_run(job_id=body["job"])

    emap = EmbeddingMap.objects.get(pk=body["map"])
    points = MapPoint.objects.filter(map=emap)
    clusters = list(LabelCluster.objects.filter(map=emap))
    assert clusters
    assert emap.summary["n_flagged"] == points.filter(flagged=True).count()
    assert emap.summary["n_clusters"] == len(clusters)
    for cluster in clusters:
        members = set(points.filter(cluster=cluster.index).values_list("item_id", flat=True))
        assert set(cluster.items) == members
        assert not points.filter(item_id__in=members, flagged=False).exists()  # a cluster's items are flagged
        assert int(re.match(r"(\d+) items", cluster.description).group(1)) == len(members)
        assert set(cluster.examples) <= members


def test_campaign_before_and_after_recomputed_by_hand(manager, reviewer):
    """Agreement before and after a relabel campaign, and the new answers against the archived ones and
    gold, from the raw answers: a flagged answer counts as its flag, a merged class as the class it went
    into, an item with one answer adds no pair."""
    from collections import Counter

    import numpy as np

    from labeling.services.campaigns import campaign_progress
    from labeling.services.projects import member_add
    from labeling.services.review import decision_record
    from labeling.services.taxonomy import taxonomy_apply

    def percent(answers):
        shares = [
            sum(n * (n - 1) for n in Counter(vs).values()) / (len(vs) * (len(vs) - 1))
            for vs in answers.values()
            if len(vs) >= 2
        ]
        return float(np.mean(shares)) if shares else None

    def majority(vs):
        c = Counter(vs).most_common(2)
        return c[0][0] if c and (len(c) == 1 or c[0][1] > c[1][1]) else None

    project = text_project(manager, overlap=3, classes=("cat", "dog", "kitten", "other"))
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 3)
    items = add_texts(project, [f"w{i}" for i in range(5)])
    old = {
        items[0]: ["cat", "kitten", "cat"],
        items[1]: ["dog", "dog", ("cat", "uncertain")],
        items[2]: ["cat", "dog", "other"],
        items[3]: ["dog"],
    }
    for item, values in old.items():
        for user, value in zip(users, values, strict=False):
            value, flag = value if isinstance(value, tuple) else (value, "")
            answer(item, user, value, **({flag: True} if flag else {}))
    answer(items[4], users[0], "cat")  # not in the campaign
    taxonomy_apply(project=project, op="merge", payload={"classes": ["cat", "kitten"], "into": "cat"}, author=manager)
    decision_record(item=items[2], reviewer=reviewer, label="other", gold=True)
    decision_record(item=items[1], reviewer=reviewer, label="dog", gold=True)
    chosen = items[:4]
    campaign = campaign_create(project=project, name="again", item_ids=[i.pk for i in chosen], overlap=2)
    new = {items[0]: ["cat", "dog"], items[1]: ["dog", "dog"], items[2]: ["other", "other"], items[3]: ["cat"]}
    for item, values in new.items():
        for user, value in zip(users, values, strict=False):
            answer(item, user, value)

    def category(value):
        return value[1] if isinstance(value, tuple) else {"kitten": "cat"}.get(value, value)

    before = {i.pk: [category(v) for v in vs] for i, vs in old.items()}
    after = {i.pk: list(vs) for i, vs in new.items()}
    progress = campaign_progress(campaign=campaign)
    assert progress["n_items"] == 4 and progress["n_done"] == 3  # items[3] has one of its two answers
    assert progress["before"]["agreement"] == pytest.approx(percent(before))
    assert progress["after"]["agreement"] == pytest.approx(percent(after))
    versus = progress["versus_archived"]
    pairs = sum(len(after[i]) * len(before[i]) for i in after)
    agree = sum(a == b for i in after for a in after[i] for b in before[i])
    assert versus["n_pairs"] == pairs and versus["agreement"] == pytest.approx(agree / pairs, abs=1e-4)
    assert versus["changed"] == sum(majority(after[i]) != majority(before[i]) for i in after)
    gold = {items[2].pk: "other", items[1].pk: "dog"}
    for side, answers in (("before", before), ("after", after)):
        hits = [v == gold[i] for i, vs in answers.items() if i in gold for v in vs]
        assert versus["gold"][side] == pytest.approx(np.mean(hits), abs=1e-4), side


def test_the_review_queue_ships_what_a_version_ships_after_a_campaign(manager):
    """After a relabel campaign the review queue's ``shipped`` is the label a default version ships: the
    archived answers count at the recipe's weight (cat, cat, cat archived against one new dog and one new
    cat is cat, not a tie), and a plurality under half the weight ships nothing."""
    from analysis.selectors import review_queue
    from tests.labeling.version_helpers import build, manifest

    project = text_project(manager, overlap=3, classes=("cat", "dog", "other", "bird", "fish"))
    users = labelers(project, 5)
    items = add_texts(project, [f"q{i}" for i in range(4)])
    for item in items[:2]:
        for user in users[:3]:
            answer(item, user, "cat")
    for user, value in zip(users, ["cat", "cat", "dog", "other", "bird"], strict=True):
        answer(items[2], user, value)  # cat is 2 of 5: under half
    for user, value in zip(users, ["cat", "cat", "dog"], strict=False):
        answer(items[3], user, value)
    campaign_create(project=project, name="again", item_ids=[items[0].pk, items[1].pk], overlap=2)
    answer(items[0], users[0], "dog")
    answer(items[0], users[1], "cat")
    answer(items[1], users[3], "dog")
    answer(items[1], users[4], "dog")  # dog 2.0 against cat 1.2

    shipped = {r["item"]: r["label"] for r in manifest(build(project, manager))}
    rows = {row["item"]: row for row in review_queue(project=project)["rows"]}
    assert {items[0].pk, items[2].pk, items[3].pk} <= set(rows)  # their answers disagree
    for pk, row in rows.items():
        assert row["shipped"] == shipped.get(pk), pk
    assert rows[items[0].pk]["shipped"] == "cat" and rows[items[2].pk]["shipped"] is None


def test_planning_throughput_keeps_the_answers_a_campaign_archived(manager):
    """Answers a relabel campaign archived were labeling work done in the window: the throughput and the
    median seconds per answer count them (once each, not their earlier revisions)."""
    from datetime import timedelta

    import numpy as np
    from django.utils import timezone

    from analysis.models import ProjectPlanning
    from labeling.models import Annotation

    project = text_project(manager, overlap=2)
    ProjectPlanning.objects.create(project=project, hourly_rate=0, throughput_weeks=1)
    users = labelers(project, 2)
    items = add_texts(project, [f"r{i}" for i in range(10)])
    for n, item in enumerate(items):
        for user in users:
            answer(item, user, "cat", seconds=10.0 + n)
    answer(items[0], users[0], "dog", seconds=99.0)  # a revision: still one answer
    now = timezone.now()
    Annotation.objects.filter(item__project=project).update(created=now - timedelta(days=4))
    given = [(a.item_id, a.labeler_id, a.seconds) for a in Annotation.objects.filter(item__project=project)]
    before = planning_compute(project=project, days=0, now=now)["throughput"]
    campaign_create(project=project, name="again", item_ids=[i.pk for i in items[:5]], overlap=2)
    after = planning_compute(project=project, days=0, now=now)

    # By hand: 20 answers over the 4 days since the first of them, 10 labeled items a day ÷ 2.
    assert before["n_answers"] == after["throughput"]["n_answers"] == len(given) == 20
    assert after["throughput"]["labeled_per_day"] == pytest.approx(20 / 4 / 2, abs=0.01)
    assert after["labor"]["median_seconds"] == pytest.approx(float(np.median([s for *_, s in given])))


def test_the_output_signal_keeps_the_uncertain_answers_a_campaign_archived(manager):
    """A campaign that relabels the items labelers were unsure of archives those answers: the weekly
    share of uncertain answers on the dashboard still counts them, so relabeling does not make the
    past look surer."""
    from analysis.services.drift import output_signal

    project = text_project(manager, overlap=2)
    users = labelers(project, 2)
    items = add_texts(project, [f"u{i}" for i in range(6)])
    for n, item in enumerate(items):
        answer(item, users[0], "cat", uncertain=n < 2)
        answer(item, users[1], "cat", out_of_domain=n == 5)
    weeks = output_signal(project=project)["weeks"]
    assert sum(w["n_answers"] for w in weeks) == 12 and sum(w["uncertain"] for w in weeks) == 2
    campaign_create(project=project, name="unsure ones", item_ids=[items[0].pk, items[1].pk], overlap=2)
    answer(items[0], users[1], "dog")
    weeks = output_signal(project=project)["weeks"]
    # By hand: 12 answers given before the campaign (2 uncertain, 1 out of domain) and one after.
    assert sum(w["n_answers"] for w in weeks) == 13
    assert sum(w["uncertain"] for w in weeks) == 2 and sum(w["out_of_domain"] for w in weeks) == 1


def test_version_diff_counts_match_the_two_manifests(manager):
    """Added, removed and relabeled items and the per-class change between two versions, from their
    manifests by hand, across a merge of two classes and new answers."""
    from collections import Counter

    from labeling.services.taxonomy import taxonomy_apply
    from labeling.services.versions import version_diff
    from tests.labeling.version_helpers import build, manifest

    project = text_project(manager, overlap=1, classes=("cat", "dog", "kitten"))
    users = labelers(project, 2)
    items = add_texts(project, [f"d{i}" for i in range(8)])
    for item, value in zip(items[:6], ["cat", "kitten", "kitten", "dog", "dog", "cat"], strict=True):
        answer(item, users[0], value)
    answer(items[5], users[1], "dog")  # a tie: left out of the first version
    v1 = build(project, manager)
    taxonomy_apply(project=project, op="merge", payload={"classes": ["cat", "kitten"], "into": "cat"}, author=manager)
    answer(items[3], users[1], "cat")  # dog/cat tie now: left out
    answer(items[6], users[0], "dog")  # new
    v2 = build(project, manager)

    before = {r["item"]: r["label"] for r in manifest(v1)}
    after = {r["item"]: r["label"] for r in manifest(v2)}
    diff = version_diff(version=v2, against=v1)
    assert diff["n_added"] == len(set(after) - set(before))
    assert diff["n_removed"] == len(set(before) - set(after))
    relabeled = {i for i in set(before) & set(after) if before[i] != after[i]}
    assert diff["n_relabeled"] == len(relabeled)
    counts_before, counts_after = Counter(before.values()), Counter(after.values())
    rows = {row["class"]: row for row in diff["classes"]}
    for name in set(counts_before) | set(counts_after):
        assert (rows[name]["before"], rows[name]["after"]) == (counts_before[name], counts_after[name]), name


def _one_answer_each(current, archived):
    """Per item and labeler ONE answer: the current one, else the archived one of the latest campaign."""
    human = {}
    for _, item, labeler, value in sorted(archived):
        human[(item, labeler)] = value  # a later campaign's replaces an earlier one's
    human.update(current)
    by_item = {}
    for (item, _), value in sorted(human.items()):
        by_item.setdefault(item, []).append(value)
    return by_item


def _pair_share(values):
    from collections import Counter

    m = len(values)
    return sum(n * (n - 1) for n in Counter(values).values()) / (m * (m - 1))


@pytest.fixture
def relabeled_project(manager, reviewer):
    """Six items answered by three labelers; a campaign archives the four that disagree, two labelers
    give new answers (one where their archived answer said otherwise), a second campaign archives one
    new answer again; two gold decisions. Returns the project, its items, the current and archived
    answers as plain values ({(item, labeler): value} and {(campaign, item, labeler, value)}) and gold."""
    from labeling.services.projects import member_add
    from labeling.services.review import decision_record

    project = text_project(manager, overlap=3)
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 4)
    items = add_texts(project, [f"h{i}" for i in range(3)], tags=["day"]) + add_texts(
        project, [f"h{i}" for i in range(3, 6)]
    )
    first = [
        ("cat", "cat", "cat"),
        ("cat", "dog", "cat"),
        ("dog", "dog", "cat"),
        ("cat", "dog", "other"),
        ("dog", "dog", "dog"),
        ("cat", "cat", "dog"),
    ]
    current = {}
    for item, values in zip(items, first, strict=True):
        for user, value in zip(users, values, strict=False):
            answer(item, user, value)
            current[(item.pk, user.pk)] = value
    chosen = {items[i].pk for i in (1, 2, 3, 5)}
    campaign_create(project=project, name="again", item_ids=sorted(chosen), overlap=2, user=manager)
    archived = {(1, i, u, v) for (i, u), v in current.items() if i in chosen}
    current = {key: v for key, v in current.items() if key[0] not in chosen}
    for item, user, value in [(1, 0, "dog"), (1, 3, "dog"), (2, 2, "dog"), (5, 1, "dog")]:
        answer(Item.objects.get(pk=items[item].pk), users[user], value)
        current[(items[item].pk, users[user].pk)] = value
    # A second campaign on the last item archives lab1's new "dog" (their first campaign's answer said cat).
    campaign_create(project=project, name="once more", item_ids=[items[5].pk], overlap=2, user=manager)
    archived.add((2, items[5].pk, users[1].pk, current.pop((items[5].pk, users[1].pk))))
    gold = {items[2].pk: "dog", items[3].pk: "cat"}
    for pk, label in gold.items():
        decision_record(item=Item.objects.get(pk=pk), reviewer=reviewer, label=label, gold=True)
    return project, items, current, archived, gold


def test_hlp_reads_one_answer_per_item_and_labeler_after_a_campaign(relabeled_project):
    """Error analysis (per slice, gold agreement, per class) and the dashboard's model HLP, by hand: a
    labeler's archived answer and their new one on the same item are never a pair of two labelers; where
    a labeler has no new answer, their archived answer as it stood counts (the latest campaign's)."""
    from collections import Counter

    import numpy as np

    from analysis.services.error_analysis import error_analysis_compute
    from analysis.services.training import model_run_create

    project, items, current, archived, gold = relabeled_project
    human = _one_answer_each(current, archived)
    guess = ["cat", "dog", "dog", "cat", "dog", "cat"]
    predictions = {item.pk: g for item, g in zip(items, guess, strict=True)}
    run = model_run_create(
        project=project, name="m", predictions=[{"item": pk, "label": g} for pk, g in predictions.items()]
    )

    # The label a model is judged against: gold, else the version's weighted majority (every archived
    # answer at 0.4, every current one at 1), at least half the weight.
    truth = {}
    for item in items:
        weights = Counter()
        for (i, _), v in current.items():
            if i == item.pk:
                weights[v] += 1
        for _, i, _, v in archived:
            if i == item.pk:
                weights[v] += 0.4
        top = weights.most_common(2)
        ok = len(top) == 1 or top[0][1] > top[1][1] + 1e-9
        truth[item.pk] = gold.get(item.pk) or (top[0][0] if ok and top[0][1] >= sum(weights.values()) / 2 else None)

    report = error_analysis_compute(project=project, model_run=run)
    rows = {row["slice"]: row for row in report["slices"]}
    for name, ids in (("all", [i.pk for i in items]), ("day", [i.pk for i in items[:3]])):
        shares = [_pair_share(human[i]) for i in ids if len(human[i]) >= 2]
        on_gold = [np.mean([v == gold[i] for v in human[i]]) for i in ids if i in gold]
        scored = [predictions[i] == truth[i] for i in ids if truth[i] is not None]
        assert rows[name]["hlp"] == pytest.approx(np.mean(shares)), name
        assert rows[name]["hlp_gold"] == pytest.approx(np.mean(on_gold)), name
        assert rows[name]["n_gold"] == len(on_gold)
        assert rows[name]["model_accuracy"] == pytest.approx(np.mean(scored)), name
    classes = {row["class"]: row for row in report["classes"]}
    scored = [i for i in human if truth[i] is not None]
    for c in ("cat", "dog", "other"):
        agree = sum(human[i].count(c) * (human[i].count(c) - 1) for i in scored)
        involved = sum(human[i].count(c) * (len(human[i]) - 1) for i in scored)
        assert classes[c]["hlp"] == (pytest.approx(agree / involved) if involved else None), c

    overall = dashboard_build(project=project)["model_run"]
    assert overall["hlp"]["value"] == pytest.approx(rows["all"]["hlp"])


def test_the_agreement_report_and_dashboard_hlp_keep_archived_answers_until_relabeled(relabeled_project):
    """Right after a campaign archives the items whose answers disagree, HLP is not 1.000: the archived
    answers still count, one per item and labeler, until their labelers answer again; the agreement
    report's percent agreement, HLP and answer count and the dashboard's HLP match the hand count."""
    import numpy as np

    from analysis.selectors import AnswerFilters
    from analysis.services.agreement import agreement_report_compute

    project, items, current, archived, _ = relabeled_project

    def expected(current, archived):
        human = _one_answer_each(current, archived)
        shares = [_pair_share(vs) for vs in human.values() if len(vs) >= 2]
        return float(np.mean(shares)), sum(map(len, human.values()))

    hlp, n = expected(current, archived)
    report = agreement_report_compute(project=project, filters=AnswerFilters())
    assert report["percent_agreement"]["value"] == pytest.approx(hlp)
    assert report["hlp"]["value"] == pytest.approx(hlp)
    assert report["n_annotations"] == n
    assert dashboard_build(project=project)["agreement"]["hlp"]["value"] == pytest.approx(hlp)
    # A slice reads the archived answers of its items only.
    day = [i.pk for i in items[:3]]
    human = _one_answer_each(current, archived)
    sliced = agreement_report_compute(project=project, filters=AnswerFilters(tag="day"))
    assert sliced["hlp"]["value"] == pytest.approx(np.mean([_pair_share(human[i]) for i in day]))


def test_right_after_a_campaign_the_dashboard_hlp_is_not_perfect(manager):
    """A campaign archives the one item whose answers disagree: before anyone relabels it, the dashboard
    reads the archived answers (HLP 1/2 over the two items), not 1.000 from the item left alone."""
    project = text_project(manager, overlap=2)
    users = labelers(project, 2)
    same, differ = add_texts(project, ["s", "d"])
    answer(same, users[0], "cat")
    answer(same, users[1], "cat")
    answer(differ, users[0], "cat")
    answer(differ, users[1], "dog")
    before = dashboard_build(project=project)["agreement"]["hlp"]["value"]
    assert before == pytest.approx(0.5)
    campaign_create(project=project, name="again", item_ids=[differ.pk], overlap=2, user=manager)
    assert dashboard_build(project=project)["agreement"]["hlp"]["value"] == pytest.approx(0.5)
    answer(Item.objects.get(pk=differ.pk), users[1], "cat")  # lab1 changes their mind: one answer each
    assert dashboard_build(project=project)["agreement"]["hlp"]["value"] == pytest.approx(1.0)


def test_the_taxonomy_preview_starts_from_the_agreement_the_report_shows_after_a_campaign(relabeled_project):
    """The Classes page previews a merge from the agreement the agreement report computes: after a
    campaign, both read one answer per item and labeler (archived until relabeled), by hand."""
    import numpy as np

    from analysis.selectors import AnswerFilters
    from analysis.services.agreement import agreement_report_compute
    from analysis.services.consistency import taxonomy_preview

    project, _, current, archived, _ = relabeled_project
    human = _one_answer_each(current, archived)
    hand = float(np.mean([_pair_share(vs) for vs in human.values() if len(vs) >= 2]))
    merged = {i: ["cat" if v == "dog" else v for v in vs] for i, vs in human.items()}
    hand_after = float(np.mean([_pair_share(vs) for vs in merged.values() if len(vs) >= 2]))
    preview = taxonomy_preview(project=project, op="merge", payload={"classes": ["cat", "dog"], "into": "cat"})
    report = agreement_report_compute(project=project, filters=AnswerFilters())
    assert preview["before"]["percent_agreement"] == pytest.approx(hand)
    assert preview["before"]["percent_agreement"] == pytest.approx(report["percent_agreement"]["value"])
    assert preview["after"]["percent_agreement"] == pytest.approx(hand_after)


def test_the_dashboard_reads_the_archived_answers_when_a_campaign_archived_them_all(client, manager):
    """A campaign that sends every item back archives every answer of the project: the dashboard said
    "No answers yet" (it counted current answers only) while the agreement report read the archived
    ones. Its agreement card shows the report's HLP, by hand: one item agrees, one does not (1/2)."""
    from analysis.selectors import AnswerFilters
    from analysis.services.agreement import agreement_report_compute

    project = text_project(manager, overlap=2)
    users = labelers(project, 2)
    same, differ = add_texts(project, ["s", "d"])
    for item, values in ((same, ("cat", "cat")), (differ, ("cat", "dog"))):
        for user, value in zip(users, values, strict=True):
            answer(item, user, value)
    campaign_create(project=project, name="all again", item_ids=[same.pk, differ.pk], overlap=2, user=manager)
    report = agreement_report_compute(project=project, filters=AnswerFilters())
    assert report["hlp"]["value"] == pytest.approx(0.5)
    assert dashboard_build(project=project)["agreement"]["hlp"]["value"] == pytest.approx(0.5)
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "No answers yet" not in html
    assert 'data-metric="hlp"' in html


def test_the_agreement_report_can_choose_a_removed_labeler_whose_answers_are_all_archived(api, manager, reviewer):
    """A labeler removed from the project after a campaign archived all their answers still counts in
    the figures (their archived answers as they stood), yet ``labelers=`` refused their name as "not a
    member and gave no answer": their row could not be chosen. By hand: the two of them agree on one
    item of two (1/2)."""
    from labeling.services.projects import member_add, member_remove

    project = text_project(manager, overlap=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 3)
    first, second = add_texts(project, ["a", "b"])
    for item, values in ((first, ("cat", "cat", "cat")), (second, ("cat", "dog", "dog"))):
        for user, value in zip(users, values, strict=True):
            answer(item, user, value)
    campaign_create(project=project, name="again", item_ids=[first.pk, second.pk], overlap=2, user=manager)
    gone = users[0]
    member_remove(membership=project.memberships.get(user=gone))
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/agreement/"
    assert gone.username in {row["labeler"] for row in client.get(url).json()["per_labeler"]}
    for chosen in (f"{gone.username},{users[1].username}", f"{gone.pk},{users[1].pk}"):
        two = client.get(url, {"labelers": chosen})
        assert two.status_code == 200, two.content
        data = two.json()
        assert {row["labeler"] for row in data["per_labeler"]} == {gone.username, users[1].username}
        assert data["percent_agreement"]["value"] == pytest.approx(0.5)


def test_the_dashboard_counts_the_answers_a_campaign_archived_beside_its_hlp(client, manager):
    """After a campaign that sent every item back, the dashboard's counters read 0 answers and 0 items
    with an answer beside an HLP card computed from the archived answers. They count the answers the
    agreement card reads (one per item and labeler: the current one, else the archived one as it stood),
    and say how many of them are archived. By hand: 2 items × 2 labelers archived, one labeler's revised
    answer counted once, then one new answer on the first item (its labeler's archived one no longer
    counts): 1 current + 3 archived = 4 answers, 2 items with an answer (the second's only archived), none
    complete."""
    from labeling.models import AnnotationRevision, ArchivedAnnotation

    project = text_project(manager, overlap=2)
    users = labelers(project, 2)
    first, second = add_texts(project, ["s", "d"])
    for item, values in ((first, ("cat", "cat")), (second, ("cat", "dog"))):
        for user, value in zip(users, values, strict=True):
            answer(item, user, value)
    answer(second, users[1], "cat")  # its earlier revision is archived with it and does not count
    assert AnnotationRevision.objects.filter(annotation__item=second).count() == 1
    campaign_create(project=project, name="all again", item_ids=[first.pk, second.pk], overlap=2, user=manager)
    answer(first, users[0], "dog")
    assert ArchivedAnnotation.objects.filter(item__project=project).count() == 5

    progress = dashboard_build(project=project)["progress"]
    assert progress["n_answers"] == 4 and progress["n_archived"] == 3
    assert progress["answered"] == 2 and progress["answered_archived"] == 1 and progress["complete"] == 0
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-metric="n_answers">4<' in html and "answers (3 archived)" in html
    assert 'data-metric="answered">2<' in html and "with an answer (1 only archived)" in html


def test_the_review_queue_takes_a_removed_labeler_whose_answers_are_all_archived(api, manager, reviewer):
    """``labeler=`` lists the items a labeler answered, judged by every answer on them. A labeler removed
    after a campaign archived all their answers still counts on those items (their archived answer
    weighs in what a version ships), but the filter read current answers only: their queue was empty."""
    from labeling.services.projects import member_add, member_remove

    project = text_project(manager, overlap=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 3)
    (item,) = add_texts(project, ["a"])
    answer(item, users[0], "cat")
    campaign_create(project=project, name="again", item_ids=[item.pk], overlap=2, user=manager)
    answer(item, users[1], "cat")
    answer(item, users[2], "dog")  # they disagree: the item is queued
    gone = users[0]
    member_remove(membership=project.memberships.get(user=gone))
    client = api(reviewer)
    url = f"/api/projects/{project.pk}/review-queue/"
    assert item.pk in {row["item"] for row in client.get(url).json()["results"]}
    for chosen in (gone.username, str(gone.pk)):
        response = client.get(url, {"labeler": chosen})
        assert response.status_code == 200, response.content
        assert [row["item"] for row in response.json()["results"]] == [item.pk]
