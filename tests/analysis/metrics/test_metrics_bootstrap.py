"""Seeded bootstrap intervals; the fast paths equal a full recomputation on each resample."""

import numpy as np
import pytest

from analysis.metrics import (
    Interval,
    MetricUndefined,
    agreement_report,
    bootstrap_ci,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)


def _ratings(n_units=400, n_raters=4, k=4, agree=0.6, missing=0.15, seed=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_units)
    noise = rng.integers(0, k, (n_units, n_raters))
    x = np.where(rng.random((n_units, n_raters)) < agree, truth[:, None], noise)
    x = x.astype(float)
    x[rng.random(x.shape) < missing] = np.nan
    return x


def test_same_seed_same_interval_and_contains_point_estimate():
    x = _ratings()
    a = bootstrap_ci(krippendorff_alpha, x, n_resamples=100, seed=7)
    b = bootstrap_ci(krippendorff_alpha, x, n_resamples=100, seed=7)
    c = bootstrap_ci(krippendorff_alpha, x, n_resamples=100, seed=8)
    assert isinstance(a, Interval)
    assert a == b
    assert a != c
    assert a.value == krippendorff_alpha(x)
    assert a.low <= a.value <= a.high
    value, low, high = a
    assert low < high


@pytest.mark.parametrize(
    ("statistic", "kwargs"),
    [
        (krippendorff_alpha, {"level": "nominal"}),
        (krippendorff_alpha, {"level": "ordinal"}),
        (krippendorff_alpha, {"level": "interval"}),
        (krippendorff_alpha, {"level": "ratio"}),
        (percent_agreement, {}),
        (fleiss_kappa, {"incomplete": "drop"}),
    ],
)
def test_fast_path_equals_recomputation(statistic, kwargs):
    x = _ratings(n_units=150)
    fast = bootstrap_ci(statistic, x, n_resamples=60, seed=11, **kwargs)

    def slow(r, **kw):  # not the same object → generic path (recompute on ratings[idx])
        return statistic(r, **kw)

    generic = bootstrap_ci(slow, x, n_resamples=60, seed=11, **kwargs)
    assert fast.value == generic.value
    assert fast.low == pytest.approx(generic.low, abs=1e-12)
    assert fast.high == pytest.approx(generic.high, abs=1e-12)
    assert fast.low <= fast.value <= fast.high


def test_fleiss_complete_data_bootstrap():
    x = np.nan_to_num(_ratings(missing=0.0))
    res = bootstrap_ci("fleiss_kappa", x, n_resamples=50)
    assert res.low <= res.value <= res.high


def test_string_labels_and_statistic_names():
    labels = np.array(["cat", "dog", "bird", "fish"], dtype=object)
    x = _ratings(missing=0.0).astype(int)
    as_labels = labels[x]
    by_name = bootstrap_ci("alpha", as_labels, n_resamples=30)
    assert by_name == bootstrap_ci(krippendorff_alpha, x, n_resamples=30)
    with pytest.raises(ValueError, match="unknown statistic"):
        bootstrap_ci("kappa_of_doom", x)


def test_undefined_statistic_raises():
    with pytest.raises(MetricUndefined):
        bootstrap_ci(krippendorff_alpha, [["a", "a"], ["a", "a"]])
    calls = []

    def defined_once(ratings):
        """Defined on the full data (first call), undefined on every resample."""
        calls.append(1)
        if len(calls) > 1:
            raise MetricUndefined("undefined here")
        return 1.0

    with pytest.raises(MetricUndefined, match="every resample"):
        bootstrap_ci(defined_once, [[1, 2]], n_resamples=5)
    assert len(calls) == 6


def test_bad_arguments():
    with pytest.raises(ValueError):
        bootstrap_ci(percent_agreement, [[1, 1]], n_resamples=0)
    with pytest.raises(ValueError):
        bootstrap_ci(percent_agreement, [[1, 1]], confidence=95)


def test_resamples_with_a_single_category_are_skipped():
    # Few units with variation: some resamples contain only agreeing "a" units → alpha undefined there.
    x = [["a", "a"]] * 6 + [["a", "b"]]
    res = bootstrap_ci(krippendorff_alpha, x, n_resamples=100)
    assert np.isfinite([res.value, res.low, res.high]).all()


def test_agreement_report_shares_resamples_with_bootstrap_ci():
    x = _ratings()
    report = agreement_report(x, n_resamples=80, seed=4)
    assert report["n_units"] == x.shape[0]
    assert report["n_annotations"] == int((~np.isnan(x)).sum())
    for key, stat, kwargs in [
        ("krippendorff_alpha", krippendorff_alpha, {}),
        ("percent_agreement", percent_agreement, {}),
        ("fleiss_kappa", fleiss_kappa, {"incomplete": "drop"}),
    ]:
        expected = bootstrap_ci(stat, x, n_resamples=80, seed=4, **kwargs)
        got = report[key]
        assert got["value"] == pytest.approx(expected.value, abs=1e-12)
        assert got["ci_low"] == pytest.approx(expected.low, abs=1e-12)
        assert got["ci_high"] == pytest.approx(expected.high, abs=1e-12)
    assert report["reasons"] == {}


def test_agreement_report_reasons_for_undefined_metrics():
    report = agreement_report([["a", None], [None, "b"]], n_resamples=10)
    assert report["krippendorff_alpha"] is None
    assert "no unit has two" in report["reasons"]["krippendorff_alpha"]
    strict = agreement_report([["a", "b", "a"], ["a", None, "a"]], n_resamples=10, fleiss_incomplete="raise")
    assert strict["fleiss_kappa"] is None
    assert "same number of raters" in strict["reasons"]["fleiss_kappa"]
    assert strict["percent_agreement"] is not None


def test_fleiss_drop_fast_path_when_resamples_miss_the_complete_units():
    # One unit has 3 answers, the others 2: most resamples miss it, and then Fleiss ("drop") uses the
    # units with 2 answers — the fast path must follow the same rule as a recomputation.
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (40, 3)).astype(float)
    x[1:, 2] = np.nan
    fast = bootstrap_ci(fleiss_kappa, x, n_resamples=80, seed=2, incomplete="drop")

    def recompute(r, **kw):
        return fleiss_kappa(r, **kw)

    generic = bootstrap_ci(recompute, x, n_resamples=80, seed=2, incomplete="drop")
    assert fast.value == generic.value
    assert fast.low == pytest.approx(generic.low, abs=1e-12)
    assert fast.high == pytest.approx(generic.high, abs=1e-12)


def test_shared_encoding_gives_the_same_numbers_and_guards_the_matrix():
    from analysis.metrics import dawid_skene, majority_vote, pairwise_cohen, rater_agreement, shared_encoding

    x = _ratings(n_units=300, k=5)
    cats = list(range(5))

    def everything():
        return (
            krippendorff_alpha(x, categories=cats),
            fleiss_kappa(x, incomplete="drop", categories=cats),
            percent_agreement(x, categories=cats),
            [r["pairwise_accuracy"] for r in rater_agreement(x, categories=cats)],
            [p["kappa"] for p in pairwise_cohen(x, categories=cats).pairs],
            majority_vote(x, categories=cats).codes.tolist(),
            dawid_skene(x, categories=cats).posterior.tolist(),
            agreement_report(x, categories=cats, n_resamples=30),
        )

    alone = everything()
    with shared_encoding(x):
        with pytest.raises(ValueError, match="read-only"):
            x[0, 0] = 1.0  # the metrics share its encoding: nobody may change it meanwhile
        shared = everything()
    assert shared == alone
    x[0, 0] = 1.0  # writable again after the block
