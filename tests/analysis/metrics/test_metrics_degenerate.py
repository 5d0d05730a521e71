"""Degenerate inputs answer a defined value or raise a clear MetricUndefined/ValueError; never NaN."""

import math

import numpy as np
import pytest

from analysis.metrics import (
    MetricUndefined,
    cohen_kappa,
    coincidence_matrix,
    encode_ratings,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    pairwise_confusion,
    percent_agreement,
    specific_agreement,
)

nan = np.nan
LEVELS = ["nominal", "ordinal", "interval", "ratio"]


# ----------------------------------------------------------------------------- encoding
def test_encode_strings_with_none_and_nan():
    codes, cats = encode_ratings([["b", None], ["a", nan], [None, "b"]])
    assert cats == ["a", "b"]
    assert codes.tolist() == [[1, -1], [0, -1], [-1, 1]]


def test_encode_float_codes_gives_int_categories():
    codes, cats = encode_ratings(np.array([[2.0, nan], [0.0, 2.0]]))
    assert cats == [0, 2]
    assert all(type(c) is int for c in cats)
    assert codes.tolist() == [[1, -1], [0, 1]]


def test_encode_with_categories_keeps_order_and_unused():
    codes, cats = encode_ratings([["low", "high"]], categories=["low", "mid", "high"])
    assert cats == ["low", "mid", "high"]
    assert codes.tolist() == [[0, 2]]
    codes, cats = encode_ratings(np.array([[3.0, 1.0]]), categories=[3, 2, 1])
    assert codes.tolist() == [[0, 2]]


def test_encode_unknown_value_is_an_error():
    with pytest.raises(ValueError, match="not in categories"):
        encode_ratings([["a", "z"]], categories=["a", "b"])
    with pytest.raises(ValueError, match="not in categories"):
        encode_ratings(np.array([[1.0, 7.0]]), categories=[1, 2])


def test_encode_mixed_types_is_deterministic():
    codes1, cats1 = encode_ratings([[1, "a"], ["b", 2]])
    codes2, cats2 = encode_ratings([["b", 2], [1, "a"]])
    assert cats1 == cats2 == [1, 2, "a", "b"]


def test_numpy_string_array_nan_is_missing():
    arr = np.array([["a", nan], ["a", "b"]])  # NumPy stores NaN as the string "nan"
    codes, cats = encode_ratings(arr)
    assert cats == ["a", "b"]
    assert codes[0, 1] == -1


def test_large_sparse_range_numeric_labels():
    arr = np.array([[1e9, 1e9], [3.5, 1e9]])
    assert krippendorff_alpha(arr) == pytest.approx(krippendorff_alpha([["x", "x"], ["y", "x"]]))


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("func", [krippendorff_alpha, percent_agreement, fleiss_kappa, specific_agreement])
def test_empty_input_raises_metric_undefined(func):
    for empty in ([], np.empty((0, 3)), [[None, None]]):
        with pytest.raises(MetricUndefined):
            func(empty)


def test_one_dimensional_input_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])


def test_unknown_level():
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha([[1, 2]], level="cardinal")


# ----------------------------------------------------------------------------- alpha
@pytest.mark.parametrize("level", LEVELS)
def test_alpha_single_category_is_undefined_no_variation(level):
    with pytest.raises(MetricUndefined, match="no variation"):
        krippendorff_alpha(
            [
                [1, 1],
                [
                    1,
                    1,
                ],
                [1, nan],
            ],
            level,
        )


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_single_rater_is_undefined(level):
    with pytest.raises(MetricUndefined, match="no unit has two or more values"):
        krippendorff_alpha([[1], [2], [3]], level)


def test_alpha_no_pairable_unit():
    with pytest.raises(MetricUndefined, match="no unit has two or more values"):
        krippendorff_alpha([[1, nan], [nan, 2], [3, nan]])


def test_alpha_perfect_and_systematic_disagreement():
    assert krippendorff_alpha([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    assert krippendorff_alpha([[1, 2], [2, 1]]) < 0


def test_alpha_value_only_in_unpairable_unit_is_ignored():
    # Category 9 appears only in a single-value unit: it is dropped, alpha uses units 1-2 only.
    assert krippendorff_alpha([[1, 1], [2, 2], [9, nan]]) == pytest.approx(1.0)


def test_alpha_string_ordinal_needs_order():
    with pytest.raises(ValueError, match="categories"):
        krippendorff_alpha([["low", "high"], ["low", "low"]], "ordinal")
    value = krippendorff_alpha([["low", "high"], ["low", "low"]], "ordinal", categories=["low", "high"])
    assert value == pytest.approx(krippendorff_alpha([[0, 1], [0, 0]], "ordinal"))


@pytest.mark.parametrize("level", ["interval", "ratio"])
def test_alpha_numeric_levels_refuse_strings(level):
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level)


def test_alpha_ratio_refuses_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        krippendorff_alpha([[-1, 2], [2, 2]], "ratio")


def test_alpha_ratio_with_zeros_is_finite():
    assert math.isfinite(krippendorff_alpha([[0, 0], [0, 1], [1, 1]], "ratio"))


# ----------------------------------------------------------------------------- percent / Fleiss
def test_percent_agreement_single_category_is_one():
    assert (
        percent_agreement(
            [
                ["a", "a"],
                [
                    "a",
                    "a",
                ],
                ["a", None],
            ]
        )
        == 1.0
    )


def test_percent_agreement_counts_each_unit_once():
    # unit 1: 3 of 3 pairs agree; unit 2: 1 of 3 pairs; unit 3: single answer (dropped).
    ratings = [["x", "x", "x"], ["x", "x", "y"], ["x", None, None]]
    assert percent_agreement(ratings) == pytest.approx((1 + 1 / 3) / 2)


def test_fleiss_unequal_raters_raises_clear_error():
    ratings = [["a", "b", "a"], ["a", None, "b"], ["b", "b", "b"]]
    with pytest.raises(MetricUndefined, match="same number of raters per unit"):
        fleiss_kappa(ratings)
    dropped = fleiss_kappa(ratings, incomplete="drop")
    assert dropped == pytest.approx(fleiss_kappa([["a", "b", "a"], ["b", "b", "b"]]))


def test_fleiss_ignores_empty_rows():
    expected = fleiss_kappa([["a", "b"], ["a", "a"]])
    assert fleiss_kappa([["a", "b"], [None, None], ["a", "a"]]) == pytest.approx(expected)


def test_fleiss_degenerate_cases():
    with pytest.raises(MetricUndefined, match="same category"):
        fleiss_kappa([["a", "a"], ["a", "a"]])
    with pytest.raises(MetricUndefined, match="at least two raters"):
        fleiss_kappa([["a"], ["b"]])
    with pytest.raises(ValueError, match="incomplete"):
        fleiss_kappa([["a", "b"]], incomplete="ignore")


def test_fleiss_per_category_undefined_is_none():
    kappa, per = fleiss_kappa([["a", "b"], ["a", "a"]], return_per_category=True, categories=["a", "b", "c"])
    assert per["c"] is None
    assert math.isfinite(kappa)


# ----------------------------------------------------------------------------- Cohen
def test_cohen_drops_pairs_with_missing():
    assert cohen_kappa(["a", "b", None, "a"], ["a", "b", "b", nan]) == pytest.approx(1.0)


def test_cohen_degenerate():
    with pytest.raises(MetricUndefined, match="one and the same category"):
        cohen_kappa(["a", "a"], ["a", "a"])
    with pytest.raises(MetricUndefined, match="no unit in common"):
        cohen_kappa(["a", None], [None, "b"])
    with pytest.raises(ValueError, match="same length"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa(["a"], ["a"], weights="cubic")


def test_cohen_one_rater_constant_is_zero_not_undefined():
    # p_e = p_o → kappa 0 (defined: the expected disagreement is not zero)
    assert cohen_kappa(["a", "a", "a", "a"], ["a", "b", "a", "b"]) == pytest.approx(0.0)


def test_cohen_weighted_uses_labels_order():
    a = ["low", "mid", "high", "high"]
    b = ["low", "high", "high", "mid"]
    by_index = cohen_kappa([0, 1, 2, 2], [0, 2, 2, 1], weights="linear")
    assert cohen_kappa(a, b, weights="linear", labels=["low", "mid", "high"]) == pytest.approx(by_index)


# ----------------------------------------------------------------------------- specific / confusion / pairs
def test_specific_agreement_values():
    # unit 1: a,a ; unit 2: a,b ; unit 3: b,b ; unit 4: b alone
    res = specific_agreement([["a", "a"], ["a", "b"], ["b", "b"], ["b", None]], categories=["a", "b", "c"])
    assert res["a"] == pytest.approx(2 * 1 / (2 * 1 + 1))  # 2a / (2a + b + c)
    assert res["b"] == pytest.approx(2 / 3)
    assert res["c"] is None


def test_pairwise_confusion_convention():
    matrix, cats = pairwise_confusion([["a", "a", "b"], ["b", None, "b"], ["a", None, None]])
    assert cats == ["a", "b"]
    # unit 1 pairs: (a,a) (a,b) (a,b); unit 2: (b,b); unit 3: none. Ordered pairs → symmetric.
    assert matrix.tolist() == [[2, 2], [2, 2]]
    assert matrix.sum() == 2 * 4
    assert np.trace(matrix) / matrix.sum() == pytest.approx(2 / 4)


def test_pairwise_confusion_empty():
    matrix, cats = pairwise_confusion([[None, None]])
    assert matrix.shape == (0, 0) and cats == []


def test_pairwise_cohen_reasons_and_no_nan():
    ratings = [
        ["a", "a", None, "a"],
        ["b", "b", None, "a"],
        ["a", "b", "a", None],
        [None, None, "b", None],
    ]
    res = pairwise_cohen(ratings, raters=["ann", "bob", "cy", "dee"])
    assert res.kappa[0][1] == pytest.approx(cohen_kappa(["a", "b", "a"], ["a", "b", "b"]))
    assert res.kappa[1][0] == res.kappa[0][1]
    assert res.kappa[0][0] is None
    # bob & dee share units 1-2 where dee always says "a" and bob says a, b → kappa 0 (defined)
    assert res.kappa[1][3] == pytest.approx(0.0)
    # ann & cy share one unit (a vs a): a single category → undefined with a reason
    assert res.kappa[0][2] is None
    assert "same category" in res.reasons[("ann", "cy")]
    # cy & dee never overlap
    assert res.reasons[("cy", "dee")] == "no unit answered by both raters"
    assert res.n_overlap[2, 3] == 0
    for row in res.kappa:
        for v in row:
            assert v is None or math.isfinite(v)
    assert len(res.pairs) == 6


# ----------------------------------------------------------------------------- coincidence matrix
def test_coincidence_matrix_of_krippendorff_2011_nominal_example():
    # Krippendorff (2011) reliability data (see test_metrics_published.py), units × observers.
    data = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ]
    ).T
    o, cats = coincidence_matrix(data)
    assert cats == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(o, o.T)
    n_c = o.sum(axis=1)
    # Krippendorff (2011) reports n = 40 pairable values for these data.
    assert o.sum() == pytest.approx(40)
    n = o.sum()
    alpha = 1 - (n - 1) * (n - np.trace(o)) / (n**2 - n_c @ n_c)
    assert alpha == pytest.approx(krippendorff_alpha(data), abs=1e-12)
    empty, _ = coincidence_matrix([[1, None], [None, 2]])
    assert not empty.any()


# ----------------------------------------------------------------------------- sparse path
@pytest.fixture
def force_sparse(monkeypatch):
    """Make count_matrix use its scipy.sparse branch (as it does for many units × many categories)."""
    from analysis.metrics import _common

    monkeypatch.setattr(_common, "_DENSE_LIMIT", 0)


def test_sparse_count_matrix_gives_the_same_results(force_sparse):
    from analysis.metrics import _common, bootstrap_ci, majority_vote

    rng = np.random.default_rng(9)
    x = rng.integers(0, 6, (120, 4)).astype(float)
    x[rng.random(x.shape) < 0.2] = nan
    x[:5, 1:] = nan  # a few single-answer units
    results = {}
    for sparse_mode in (True, False):
        if not sparse_mode:
            _common._DENSE_LIMIT = 20_000_000
        codes, cats = encode_ratings(x)
        assert _common.issparse(_common.count_matrix(codes, len(cats))) == sparse_mode
        results[sparse_mode] = (
            [krippendorff_alpha(x, level) for level in ("nominal", "ordinal", "interval", "ratio")],
            percent_agreement(x),
            fleiss_kappa(x, True, incomplete="drop"),
            specific_agreement(x),
            pairwise_confusion(x)[0].tolist(),
            coincidence_matrix(x)[0].tolist(),
            majority_vote(x).codes.tolist(),
            majority_vote(x).tied.tolist(),
            tuple(bootstrap_ci(krippendorff_alpha, x, n_resamples=20, level="ordinal")),
        )
    sparse_res, dense_res = results[True], results[False]
    np.testing.assert_allclose(sparse_res[0], dense_res[0], atol=1e-12)
    assert sparse_res[1] == pytest.approx(dense_res[1], abs=1e-12)
    assert sparse_res[2][0] == pytest.approx(dense_res[2][0], abs=1e-12)
    assert sparse_res[3] == pytest.approx(dense_res[3])
    assert sparse_res[4] == dense_res[4]
    np.testing.assert_allclose(sparse_res[5], dense_res[5], atol=1e-12)
    assert sparse_res[6:8] == dense_res[6:8]
    np.testing.assert_allclose(sparse_res[8], dense_res[8], atol=1e-12)
