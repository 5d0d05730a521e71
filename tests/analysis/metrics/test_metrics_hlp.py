"""Human-level performance per rater, against gold, and for the project."""

import numpy as np
import pytest

from analysis.metrics import (
    expected_pairwise_accuracy,
    gold_accuracy,
    human_level_performance,
    percent_agreement,
    rater_agreement,
)


def test_domain_example_inspector_matches_gold_on_4_of_6():
    # DOMAIN.md §3: an inspector who matches the ground truth on 4 of 6 images has 66.7 % HLP.
    gold = ["scratch", "ok", "dent", "ok", "scratch", "ok"]
    inspector = [["scratch"], ["ok"], ["scratch"], ["ok"], ["scratch"], ["dent"]]
    res = gold_accuracy(inspector, gold, raters=["inspector"])
    assert res["per_rater"][0]["n_gold"] == 6
    assert round(res["per_rater"][0]["accuracy"], 3) == 0.667
    assert res["per_class"]["ok"] == {"n": 3, "accuracy": pytest.approx(2 / 3)}
    assert res["per_class"]["dent"]["accuracy"] == 0.0
    assert res["overall"]["accuracy"] == pytest.approx(4 / 6)


def test_gold_with_missing_values():
    ratings = [["a", "b"], ["b", None], ["a", "a"]]
    res = gold_accuracy(ratings, ["a", None, np.nan])
    assert [r["n_gold"] for r in res["per_rater"]] == [1, 1]
    assert [r["accuracy"] for r in res["per_rater"]] == [1.0, 0.0]
    none = gold_accuracy(ratings, [None, None, None])
    assert none["per_rater"][0]["accuracy"] is None
    with pytest.raises(ValueError, match="one entry per unit"):
        gold_accuracy(ratings, ["a"])


def test_rater_agreement_hand_computed():
    ratings = [
        ["a", "a", "b"],
        ["a", "a", "a"],
        ["b", "a", None],
        ["c", None, None],
    ]
    rows = rater_agreement(ratings, raters=["r1", "r2", "r3"])
    r1, r2, r3 = rows
    assert r1["rater"] == "r1"
    assert r1["n_units"] == 4 and r1["n_shared_units"] == 3
    # r1 pairs: unit1 (a vs a, a vs b) 1/2; unit2 2/2; unit3 (b vs a) 0/1 → 3/5
    assert r1["pairwise_accuracy"] == pytest.approx(3 / 5)
    assert r1["n_pairs"] == 5
    # LOO majority for r1: unit1 others {a, b} tie → skip; unit2 a → hit; unit3 a → miss; unit4 none.
    assert r1["n_loo_units"] == 2
    assert r1["loo_majority_accuracy"] == pytest.approx(0.5)
    # r3: unit1 others a,a → majority a, r3 says b → miss; unit2 hit.
    assert r3["loo_majority_accuracy"] == pytest.approx(0.5)
    assert r3["pairwise_accuracy"] == pytest.approx(2 / 4)
    assert r2["pairwise_accuracy"] == pytest.approx((1 + 2 + 0) / 5)


def test_rater_with_no_shared_units_gets_none():
    rows = rater_agreement([["a", None], [None, "b"]])
    assert rows[0]["pairwise_accuracy"] is None
    assert rows[0]["loo_majority_accuracy"] is None


def test_expected_pairwise_accuracy_is_percent_agreement_with_ci():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (300, 3)).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    res = expected_pairwise_accuracy(x, n_resamples=100)
    assert res.value == pytest.approx(percent_agreement(x))
    assert res.low <= res.value <= res.high


def test_human_level_performance_report():
    ratings = [["a", "a", "b"], ["a", "a", "a"], ["b", "a", None], ["b", "b", "b"]]
    gold = ["a", "a", None, "b"]
    report = human_level_performance(ratings, gold=gold, raters=["x", "y", "z"], n_resamples=50)
    assert report["categories"] == ["a", "b"]
    assert report["pairwise_agreement"]["value"] == pytest.approx(percent_agreement(ratings))
    assert report["per_rater"][0]["rater"] == "x"
    assert report["per_rater"][2]["gold_accuracy"] == pytest.approx(2 / 3)
    assert set(report["per_class"]) == {"a", "b"}
    undefined = human_level_performance([["a", None], [None, "b"]], n_resamples=10)
    assert undefined["pairwise_agreement"] is None
    assert "no unit" in undefined["pairwise_agreement_reason"]
    assert undefined["gold"] is None


def _rater_agreement_by_hand(codes, k):
    """Each rater's pairs and leave-one-out majority, unit by unit (the reference)."""
    rows = []
    for r in range(codes.shape[1]):
        agree = pairs = hits = n_loo = 0
        for row in codes:
            if row[r] < 0:
                continue
            others = [v for j, v in enumerate(row) if j != r and v >= 0]
            agree += sum(v == row[r] for v in others)
            pairs += len(others)
            votes = [others.count(c) for c in range(k)]
            best = max(votes)
            if best > 0 and votes.count(best) == 1:
                n_loo += 1
                hits += votes.index(best) == row[r]
        rows.append((agree, pairs, hits, n_loo))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_rater_agreement_matches_a_unit_by_unit_count(seed):
    """Few categories and many raters make ties of every kind (two tops, a rater's own answer deciding
    the tie, units with one answer) in the leave-one-out majority."""
    rng = np.random.default_rng(seed)
    k = 1 + seed % 3
    codes = rng.integers(0, k, (300, 2 + seed))
    codes[rng.random(codes.shape) < 0.3] = -1
    ratings = np.where(codes >= 0, codes, np.nan)
    rows = rater_agreement(ratings, categories=list(range(k)))
    for row, (agree, pairs, hits, n_loo) in zip(rows, _rater_agreement_by_hand(codes, k), strict=True):
        assert row["n_pairs"] == pairs and row["n_loo_units"] == n_loo
        assert row["pairwise_accuracy"] == (agree / pairs if pairs else None)
        assert row["loo_majority_accuracy"] == (hits / n_loo if n_loo else None)
