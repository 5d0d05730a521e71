"""Drift maths: PSI, the KS wrapper, shared histograms and the drift decision."""

import numpy as np
import pytest
from scipy import stats

from analysis.metrics import MetricUndefined
from analysis.metrics.drift import compare_samples, ks_test, population_stability_index, psi_edges, shared_histogram


def test_psi_matches_a_hand_computation():
    baseline = np.repeat([1.0, 2.0, 3.0, 4.0], 25)  # quartile bins hold 25 % each
    current = np.repeat([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    e = np.array([0.25, 0.25, 0.25, 0.25])
    c = np.array([0.10, 0.20, 0.30, 0.40])
    expected = float(np.sum((c - e) * np.log(c / e)))
    assert population_stability_index(baseline, current, bins=4) == pytest.approx(expected)


def test_psi_is_zero_for_identical_samples_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 5000)
    assert population_stability_index(a, a) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index(a, rng.normal(0, 1, 5000)) < 0.02
    assert population_stability_index(a, rng.normal(1.0, 1, 5000)) > 0.2


def test_values_outside_the_baseline_range_count_as_drift():
    constant = np.full(100, 5.0)
    edges = psi_edges(constant)
    assert len(edges) == 2  # just below the minimum, and the maximum
    assert population_stability_index(constant, np.full(100, 4.0)) > 1
    assert population_stability_index(constant, np.full(100, 6.0)) > 1
    assert population_stability_index(constant, np.full(50, 5.0)) == pytest.approx(0.0)


def test_missing_values_are_left_out_and_empty_samples_undefined():
    a = np.array([1.0, 2.0, np.nan, 3.0])
    assert population_stability_index(a, [1.0, 2.0, 3.0]) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(MetricUndefined):
        population_stability_index([np.nan], [1.0])
    with pytest.raises(MetricUndefined):
        ks_test([1.0], [])


def test_ks_wrapper_is_scipys_two_sided_test():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=200), rng.normal(0.3, size=150)
    reference = stats.ks_2samp(a, b)
    assert ks_test(np.r_[a, np.nan], b) == pytest.approx((reference.statistic, reference.pvalue))


def test_shared_histogram_uses_the_same_bins():
    hist = shared_histogram([0.0, 1.0, 1.0], [2.0, 2.0], bins=4)
    assert hist["edges"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert sum(hist["baseline"]) == pytest.approx(1.0) and sum(hist["current"]) == pytest.approx(1.0)
    assert hist["current"][-1] == 1.0
    assert shared_histogram([3.0], [3.0])["edges"] == [2.5, 3.5]


def test_compare_samples_rules():
    rng = np.random.default_rng(2)
    base = rng.normal(128, 5, 60)
    darker = rng.normal(64, 5, 60)
    same = rng.normal(128, 5, 60)
    shifted = compare_samples(base, darker)
    assert shifted["drift"] and "PSI" in shifted["reasons"][0] and "KS" in shifted["reasons"][0]
    assert shifted["current"]["mean"] == pytest.approx(darker.mean())
    assert not compare_samples(base, same)["drift"]
    # Too few values: reported, never alerted on.
    small = compare_samples(base[:5], darker[:5])
    assert small["psi"] is not None and not small["drift"] and not small["enough_values"]
    # Missing values rising is drift by itself.
    holes = darker.copy()
    holes[:20] = np.nan
    missing = compare_samples(base, np.r_[same[:40], np.full(20, np.nan)])
    assert missing["drift"] and "missing" in missing["reasons"][0]
    assert missing["current"]["missing_share"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        compare_samples(base, same, rule="sometimes")


def test_either_rule_is_more_sensitive_than_both():
    # A tiny shift on huge samples: KS is significant, PSI is not large.
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 20000), rng.normal(0.08, 1, 20000)
    both = compare_samples(a, b, rule="both")
    either = compare_samples(a, b, rule="either")
    assert both["ks_pvalue"] < 0.01 and both["psi"] < 0.2
    assert not both["drift"] and either["drift"]
