"""Error-analysis maths: per-slice accuracy, HLP and gap with intervals; the table; per-class scores."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from analysis.metrics import MetricUndefined
from analysis.metrics.error_analysis import (
    classification_scores,
    pair_agreement,
    pair_agreement_sparse,
    paired_accuracy,
    slice_metrics,
    slice_table,
)


def test_pair_agreement_is_the_share_of_agreeing_ordered_pairs():
    counts = np.array([[3, 0], [2, 1], [1, 1], [1, 0], [0, 0]])
    out = pair_agreement(counts)
    assert out[0] == 1.0
    assert out[1] == pytest.approx(1 / 3)  # pairs (a,a) twice out of 6 ordered pairs
    assert out[2] == 0.0
    assert np.isnan(out[3]) and np.isnan(out[4])
    from scipy import sparse

    np.testing.assert_allclose(pair_agreement_sparse(sparse.csr_matrix(counts)), out, equal_nan=True)


def test_slice_metrics_point_values_and_seeded_intervals():
    correct = np.array([1, 1, 0, 1, np.nan, 1, 0, 1])
    agreement = np.array([1, 1, 1 / 3, 1, 1, np.nan, 1, 1 / 3])
    result = slice_metrics(correct, agreement, seed=3)
    assert result["n_items"] == 8 and result["n_scored"] == 7 and result["n_pairable"] == 7
    acc = np.nanmean(correct)
    hlp = np.nanmean(agreement)
    assert result["model_accuracy"].value == pytest.approx(acc)
    assert result["hlp"].value == pytest.approx(hlp)
    assert result["gap"].value == pytest.approx(hlp - acc)
    for key in ("model_accuracy", "hlp", "gap"):
        assert result[key].low <= result[key].value <= result[key].high
    again = slice_metrics(correct, agreement, seed=3)
    assert again["gap"] == result["gap"]


def test_slice_metrics_undefined_parts_are_none():
    result = slice_metrics(np.array([np.nan, np.nan]), np.array([1.0, 0.0]))
    assert result["model_accuracy"] is None and result["gap"] is None
    assert result["hlp"].value == 0.5
    empty = slice_metrics(np.zeros(0), np.zeros(0))
    assert empty["n_items"] == 0 and empty["hlp"] is None


def test_slice_table_reproduces_the_domain_example():
    """DOMAIN.md §3: clean speech, car noise, people noise, low bandwidth."""
    from analysis.metrics.bootstrap import Interval

    def row(name, n, gap):
        return {"slice": name, "n_items": n, "gap": Interval(gap, gap, gap)}

    rows = [row("clean", 60, 0.01), row("car", 4, 0.04), row("people", 30, 0.02), row("low", 6, 0.0)]
    table = slice_table(rows, n_total=100)
    weighted = {r["slice"]: r["weighted_gap"].value for r in table}
    assert weighted == pytest.approx({"clean": 0.006, "car": 0.0016, "people": 0.006, "low": 0.0})
    assert [r["slice"] for r in table] == ["clean", "people", "car", "low"]  # ties by name
    assert table[0]["share"] == 0.6
    assert not any(r["model_beats_hlp"] for r in table)
    beats = slice_table([row("x", 1, -0.1), {"slice": "y", "n_items": 1, "gap": None}], n_total=2)
    assert beats[0]["model_beats_hlp"] and beats[1]["weighted_gap"] is None
    with pytest.raises(MetricUndefined):
        slice_table([], n_total=0)


def test_classification_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 4, size=300))
    y_pred[:5] = 3  # class 3 over-predicted
    scores = classification_scores(y_true, y_pred, 4)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2, 3], zero_division=0)
    np.testing.assert_allclose(scores["precision"], p)
    np.testing.assert_allclose(scores["recall"], r)
    np.testing.assert_allclose(scores["f1"], f)
    np.testing.assert_array_equal(scores["support"], s)
    np.testing.assert_array_equal(scores["confusion"], confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3]))


def test_skewed_data_accuracy_misleads_but_recall_does_not():
    """Printing "0" everywhere: high accuracy, zero recall and F1 on the rare class."""
    y_true = np.array([0] * 95 + [1] * 5)
    y_pred = np.zeros(100, dtype=int)
    scores = classification_scores(y_true, y_pred, 2)
    assert (y_true == y_pred).mean() == 0.95
    assert scores["recall"][1] == 0.0 and scores["f1"][1] == 0.0
    assert np.isnan(scores["precision"][1])  # never predicted: undefined, not 0
    unknown = classification_scores(np.array([0, 1]), np.array([-1, 1]), 2)
    assert unknown["recall"][0] == 0.0 and unknown["confusion"].sum() == 1


def test_paired_accuracy_difference_and_mcnemar():
    a = np.array([1, 1, 1, 0, 0, 1, 1, 0, np.nan, 1], dtype=float)
    b = np.array([1, 1, 1, 1, 1, 1, 0, 1, np.nan, 1], dtype=float)
    out = paired_accuracy(a, b, seed=1)
    assert out["n_scored"] == 9
    assert out["switches"] == {"both_right": 5, "only_a": 1, "only_b": 3, "both_wrong": 0}
    assert out["difference"]["value"] == pytest.approx(8 / 9 - 6 / 9)
    assert out["difference"]["ci_low"] <= out["difference"]["value"] <= out["difference"]["ci_high"]
    assert out["mcnemar_pvalue"] == pytest.approx(0.625)  # binomial(1 of 4, p = .5), two-sided
    assert paired_accuracy(np.array([np.nan]), np.array([np.nan]))["difference"] is None
