"""Property-based comparisons with reference implementations on random data with missing values.

References: ``krippendorff`` (alpha, four levels), ``statsmodels`` (Fleiss via aggregate_raters, Cohen),
``sklearn.metrics.cohen_kappa_score`` (unweighted, linear, quadratic) and ``jiwer`` (WER).
"""

import warnings

import jiwer
import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from analysis.metrics import (
    MetricUndefined,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    mean_pairwise_wer,
    percent_agreement,
    word_error_rate,
)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALUE_SETS = {
    "small_ints": [0.0, 1.0, 2.0],
    "five_ints": [1.0, 2.0, 3.0, 4.0, 5.0],
    "floats": [0.0, 0.5, 1.25, 3.0, 10.0],
}


@st.composite
def rating_matrices(draw, min_raters=1, max_raters=6, max_units=25, missing=True):
    """A (units × raters) float matrix with NaN for missing values."""
    values = VALUE_SETS[draw(st.sampled_from(sorted(VALUE_SETS)))]
    n_units = draw(st.integers(1, max_units))
    n_raters = draw(st.integers(min_raters, max_raters))
    choices = list(range(len(values))) + ([-1] if missing else [])
    cells = draw(st.lists(st.sampled_from(choices), min_size=n_units * n_raters, max_size=n_units * n_raters))
    lookup = np.array(values + [np.nan])
    return lookup[np.array(cells).reshape(n_units, n_raters)]


def _reference_alpha(matrix, level):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(krippendorff.alpha(matrix.T, level_of_measurement=level))
        except ValueError:
            return None


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@SETTINGS
@given(matrix=rating_matrices())
def test_alpha_matches_krippendorff_package(level, matrix):
    expected = _reference_alpha(matrix, level)
    try:
        value = krippendorff_alpha(matrix, level)
    except MetricUndefined:
        # Undefined for us ⇔ the package raises or gives a non-finite number.
        assert expected is None or not np.isfinite(expected)
        return
    assert np.isfinite(value)
    assert value == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(matrix=rating_matrices(min_raters=2, missing=False))
def test_fleiss_matches_statsmodels(matrix):
    table, _ = inter_rater.aggregate_raters(matrix)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = float(inter_rater.fleiss_kappa(table, method="fleiss"))
    try:
        value = fleiss_kappa(matrix)
    except MetricUndefined:
        assert not np.isfinite(expected)
        return
    assert value == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(matrix=rating_matrices(min_raters=2, max_raters=6))
def test_fleiss_drop_equals_fleiss_on_complete_units(matrix):
    counts = (~np.isnan(matrix)).sum(axis=1)
    if counts.max() < 2:
        return
    complete = matrix[counts == counts.max()]
    # rows with the most answers, missing cells removed (Fleiss ignores rater identity)
    compact = np.array([row[~np.isnan(row)] for row in complete])
    try:
        expected = fleiss_kappa(compact)
    except MetricUndefined:
        with pytest.raises(MetricUndefined):
            fleiss_kappa(matrix, incomplete="drop")
        return
    assert fleiss_kappa(matrix, incomplete="drop") == pytest.approx(expected, abs=1e-12)


@st.composite
def label_pairs(draw):
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    codes = st.integers(-1, k - 1)
    a = draw(st.lists(codes, min_size=n, max_size=n))
    b = draw(st.lists(codes, min_size=n, max_size=n))
    return k, a, b


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@SETTINGS
@given(data=label_pairs())
def test_cohen_matches_sklearn(weights, data):
    k, a, b = data
    # Missing (-1) as None, labels as strings "c0".."c4" ordered by index.
    labels = [f"c{i}" for i in range(k)]
    a_lab = [None if x < 0 else labels[x] for x in a]
    b_lab = [None if x < 0 else labels[x] for x in b]
    keep = [i for i in range(len(a)) if a[i] >= 0 and b[i] >= 0]
    ya = [a_lab[i] for i in keep]
    yb = [b_lab[i] for i in keep]
    expected = None
    if keep:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            expected = float(cohen_kappa_score(ya, yb, labels=labels, weights=weights))
    try:
        value = cohen_kappa(a_lab, b_lab, weights=weights, labels=labels)
    except MetricUndefined:
        assert expected is None or not np.isfinite(expected)
        return
    assert value == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(data=label_pairs())
def test_cohen_matches_statsmodels(data):
    k, a, b = data
    a_arr = np.array([np.nan if x < 0 else x for x in a], dtype=float)
    b_arr = np.array([np.nan if x < 0 else x for x in b], dtype=float)
    keep = ~np.isnan(a_arr) & ~np.isnan(b_arr)
    table = np.zeros((k, k))
    np.add.at(table, (a_arr[keep].astype(int), b_arr[keep].astype(int)), 1)
    expected = None
    if keep.any():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            expected = float(inter_rater.cohens_kappa(table, return_results=False))
    try:
        value = cohen_kappa(a_arr, b_arr)
    except MetricUndefined:
        assert expected is None or not np.isfinite(expected)
        return
    assert value == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(matrix=rating_matrices(min_raters=2, max_raters=2))
def test_percent_agreement_two_raters_is_share_of_agreeing_units(matrix):
    both = ~np.isnan(matrix).any(axis=1)
    if not both.any():
        with pytest.raises(MetricUndefined):
            percent_agreement(matrix)
        return
    expected = float((matrix[both, 0] == matrix[both, 1]).mean())
    assert percent_agreement(matrix) == pytest.approx(expected, abs=1e-12)


WORDS = st.sampled_from(["um", "nearest", "gas", "station", "the", "a", "[unintelligible]", "go"])
SENTENCES = st.lists(WORDS, min_size=1, max_size=12).map(" ".join)


@SETTINGS
@given(reference=SENTENCES, hypothesis=st.lists(WORDS, min_size=0, max_size=12).map(" ".join))
def test_wer_matches_jiwer(reference, hypothesis):
    expected = jiwer.wer(reference, hypothesis)
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(units=st.lists(st.lists(SENTENCES, min_size=0, max_size=4), min_size=1, max_size=6))
def test_mean_pairwise_wer_matches_jiwer_corpus_wer(units):
    refs, hyps = [], []
    for unit in units:
        for i, a in enumerate(unit):
            for j, b in enumerate(unit):
                if i != j:
                    refs.append(a)
                    hyps.append(b)
    if not refs:
        with pytest.raises(MetricUndefined):
            mean_pairwise_wer(units, normalizer=False)
        return
    assert mean_pairwise_wer(units, normalizer=False) == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
