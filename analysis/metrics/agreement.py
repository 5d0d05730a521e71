"""Chance-corrected and raw agreement between several raters on the same units.

All functions take ``ratings`` of shape ``(n_units, n_raters)`` with missing values (``None``/NaN);
see :mod:`analysis.metrics._common` for the input conventions. Undefined cases raise
:class:`~analysis.metrics._common.MetricUndefined` (a ``ValueError``) with the reason; no function
returns NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._common import (
    MetricUndefined,
    blas_single_threaded,
    category_values,
    coded_matrix,
    col_sumsq,
    count_matrix,
    encode_ratings,
    issparse,
    rater_names,
    row_sums,
    row_sumsq,
    to_float,
    weighted_col_sums,
    weighted_gram,
)

__all__ = [
    "LEVELS",
    "PairwiseKappa",
    "cohen_kappa",
    "coincidence_matrix",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_cohen",
    "pairwise_confusion",
    "percent_agreement",
    "specific_agreement",
]

LEVELS = ("nominal", "ordinal", "interval", "ratio")
_COHEN_CONSTANT = "Cohen's kappa is undefined: both raters used one and the same category only"
_NOT_PAIRABLE = "Krippendorff's alpha is undefined: no unit has two or more values (nothing is pairable)"


# --------------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------------
def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")


def _alpha_setup(
    ratings: Any, level: str, categories: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray | None, list[Any]]:
    """Encode ratings for alpha; returns (codes, numeric category values or None, categories)."""
    _check_level(level)
    codes, cats = coded_matrix(ratings, categories)
    values = None
    if level in ("interval", "ratio"):
        values = category_values(cats, level)
        if level == "ratio" and np.any(values < 0):
            raise ValueError("level='ratio' needs non-negative values (a ratio scale has an absolute zero)")
    elif (
        level == "ordinal"
        and categories is None
        and not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats)
    ):
        raise ValueError(
            "level='ordinal' with non-numeric labels needs categories=[...] giving the order of the scale",
        )
    return codes, values, cats


def _positions(level: str, values: np.ndarray | None, n_c: np.ndarray) -> np.ndarray | None:
    """Category positions p with delta²(c, k) = (p_k - p_c)², centred; None for nominal and ratio.

    Interval: the values. Ordinal: the mid-ranks ``cumsum(n)_c - n_c/2`` of the pairable values
    (Krippendorff's ordinal metric ``(sum_{g=c..k} n_g - (n_c+n_k)/2)²`` is their squared difference).
    Positions are centred on their weighted mean to avoid cancellation in the quadratic forms.
    """
    if level == "interval":
        pos = np.asarray(values, dtype=np.float64)
    elif level == "ordinal":
        pos = np.cumsum(n_c) - n_c / 2.0
    else:
        return None
    total = n_c.sum()
    if total > 0:
        pos = pos - (n_c @ pos) / total
    return pos


def _ratio_delta2(values: np.ndarray) -> np.ndarray:
    diff = values[:, None] - values[None, :]
    tot = values[:, None] + values[None, :]
    safe = np.where(tot != 0, tot, 1.0)
    return np.where(tot != 0, diff / safe, 0.0) ** 2


def _unit_disagreement(
    counts: Any, m: np.ndarray, level: str, values: np.ndarray | None, n_c: np.ndarray
) -> np.ndarray:
    """Per unit ``sum_{c,k} N_uc N_uk delta²(c, k)`` (ordered pairs of values, unweighted)."""
    if level == "nominal":
        return m * m - row_sumsq(counts)
    pos = _positions(level, values, n_c)
    if pos is not None:
        a = counts @ pos
        b = counts @ (pos * pos)
        return np.maximum(2.0 * (m * b - a * a), 0.0)
    d2 = _ratio_delta2(values)
    if issparse(counts):
        return np.asarray(counts.multiply(counts @ d2).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", counts @ d2, counts)


def _expected_disagreement(n_c: np.ndarray, level: str, values: np.ndarray | None) -> float:
    """``sum_{c,k} n_c n_k delta²(c, k)`` over the pairable values."""
    if level == "nominal":
        n = n_c.sum()
        return float(n * n - n_c @ n_c)
    pos = _positions(level, values, n_c)
    if pos is not None:
        return float(2.0 * n_c.sum() * (n_c @ (pos * pos)))
    return float(n_c @ _ratio_delta2(values) @ n_c)


def _alpha_value(observed: float, n_c: np.ndarray, level: str, values: np.ndarray | None) -> float:
    """alpha = 1 - (n - 1) * observed / expected, where observed = sum_u w_u d_u."""
    n = float(n_c.sum())
    if n < 2:
        raise MetricUndefined(_NOT_PAIRABLE)
    if np.count_nonzero(n_c > 0) < 2:
        raise MetricUndefined(
            "Krippendorff's alpha is undefined: all pairable values are the same category (no variation)"
        )
    expected = _expected_disagreement(n_c, level, values)
    return to_float(1.0 - (n - 1.0) * observed / expected)


@blas_single_threaded
def krippendorff_alpha(
    ratings: Any,
    level: str = "nominal",
    *,
    categories: Sequence[Any] | None = None,
) -> float:
    """Krippendorff's alpha for any number of raters, missing values and four levels of measurement.

    Parameters
    ----------
    ratings : array-like, shape ``(n_units, n_raters)``
        One row per unit, one column per rater; missing answers as ``None``/NaN. Raters per unit may
        vary. Units with fewer than two values are not pairable and are dropped (as in Krippendorff).
    level : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement. ``ordinal``: categories ordered by their sorted values, or by
        ``categories`` (required for non-numeric labels). ``interval``/``ratio``: labels must be
        numbers (ratio: non-negative; delta = ((a-b)/(a+b))², 0 when a = b = 0).
    categories : sequence, optional (keyword)
        Category list/order; values outside it raise ``ValueError``.

    Returns
    -------
    float
        ``1 - D_o / D_e`` from the coincidence matrix
        ``o = sum_u (N_u N_uᵀ - diag N_u) / (m_u - 1)`` where ``N_u`` are the unit's category counts and
        ``m_u`` its number of values. The counts come from one ``np.bincount``; the sums over units are
        matrix-vector products (no loop over units).

    Raises
    ------
    MetricUndefined
        No unit has two values, or all pairable values are equal (no variation: D_e = 0).
    ValueError
        Bad ``level``, non-numeric labels for interval/ratio, unordered strings for ordinal.
    """
    codes, values, cats = _alpha_setup(ratings, level, categories)
    counts = count_matrix(codes, len(cats))
    m = row_sums(counts)
    pairable = m >= 2
    if not pairable.any():
        raise MetricUndefined(_NOT_PAIRABLE)
    w = np.where(pairable, 1.0 / np.maximum(m - 1.0, 1.0), 0.0)
    n_c = weighted_col_sums(counts, pairable.astype(np.float64))
    observed = float(w @ _unit_disagreement(counts, m, level, values, n_c))
    return _alpha_value(observed, n_c, level, values)


@blas_single_threaded
def coincidence_matrix(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
) -> tuple[np.ndarray, list[Any]]:
    """Krippendorff's coincidence matrix ``o`` (K × K) of the pairable values.

    ``o[c, k] = sum_u (number of ordered pairs of values (c, k) from different raters in unit u) /
    (m_u - 1)`` over units with ``m_u >= 2`` values. Built from the per-unit category counts (one
    ``np.bincount``) as ``Nᵀ diag(1/(m-1)) N - diag(...)``; no loop over units. Row sums ``n_c`` are the
    numbers of pairable values per category, ``o.sum()`` the number of pairable values ``n``; nominal
    alpha is ``1 - (n - 1) (n - trace(o)) / (n² - sum n_c²)``.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    categories : optional category list/order (rows/columns).

    Returns
    -------
    ``(o, categories)``: ``o`` a symmetric float array; all zeros when no unit is pairable.
    """
    codes, cats = coded_matrix(ratings, categories)
    k = len(cats)
    if k == 0:
        return np.zeros((0, 0)), cats
    counts = count_matrix(codes, k)
    m = row_sums(counts)
    pairable = m >= 2
    w = np.where(pairable, 1.0 / np.maximum(m - 1.0, 1.0), 0.0)
    o = weighted_gram(counts, w)
    o -= np.diag(weighted_col_sums(counts, w))
    return o, cats


# --------------------------------------------------------------------------------------------------
# Percent agreement, Fleiss' kappa, specific agreement, pairwise confusion
# --------------------------------------------------------------------------------------------------
def _unit_agreement(counts: Any, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: share of agreeing pairs (0 where not pairable) and the pairable mask."""
    pairable = m >= 2
    sumsq = row_sumsq(counts)
    denom = np.where(pairable, m * (m - 1.0), 1.0)
    share = np.where(pairable, (sumsq - m) / denom, 0.0)
    return share, pairable


@blas_single_threaded
def percent_agreement(ratings: Any, *, categories: Sequence[Any] | None = None) -> float:
    """Mean, over units with at least two answers, of the share of agreeing pairs within the unit.

    Parameters
    ----------
    ratings : array-like, shape ``(n_units, n_raters)``; missing values ``None``/NaN.
    categories : optional category list (only used to validate labels).

    Returns
    -------
    float in [0, 1]. For two raters: the share of units (answered by both) where they agree. Each unit
    counts once, whatever its number of answers: ``sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))``.

    Raises
    ------
    MetricUndefined
        No unit has two or more answers.
    """
    codes, cats = coded_matrix(ratings, categories)
    counts = count_matrix(codes, len(cats))
    share, pairable = _unit_agreement(counts, row_sums(counts))
    if not pairable.any():
        raise MetricUndefined("Percent agreement is undefined: no unit has two or more answers")
    return to_float(share[pairable].mean())


def _fleiss_units(counts: Any, m: np.ndarray, incomplete: str) -> np.ndarray:
    """Mask of the units Fleiss' kappa uses (raises if the raters per unit differ and incomplete='raise')."""
    if incomplete not in ("raise", "drop"):
        raise ValueError("incomplete must be 'raise' or 'drop'")
    rated = m > 0
    if not rated.any():
        raise MetricUndefined("Fleiss' kappa is undefined: there are no answers")
    n_max = m[rated].max()
    keep = m == n_max
    if incomplete == "raise" and not np.array_equal(keep, rated):
        sizes = np.unique(m[rated]).astype(int).tolist()
        raise MetricUndefined(
            "Fleiss' kappa needs the same number of raters per unit; these units have "
            f"{sizes} answers. Use krippendorff_alpha (handles missing answers) or "
            "fleiss_kappa(..., incomplete='drop') to keep only the units with the most answers."
        )
    if n_max < 2:
        raise MetricUndefined("Fleiss' kappa is undefined: it needs at least two raters per unit")
    return keep


def _fleiss_from_counts(n: float, n_units: float, share_sum: float, col: np.ndarray) -> float:
    p_bar = share_sum / n_units
    p_j = col / (n_units * n)
    p_e = float(p_j @ p_j)
    if p_e >= 1.0 - 1e-15:
        raise MetricUndefined(
            "Fleiss' kappa is undefined: every answer is the same category (chance agreement is 1)",
        )
    return to_float((p_bar - p_e) / (1.0 - p_e))


@blas_single_threaded
def fleiss_kappa(
    ratings: Any,
    return_per_category: bool = False,
    *,
    incomplete: str = "raise",
    categories: Sequence[Any] | None = None,
) -> float | tuple[float, dict[Any, float | None]]:
    """Fleiss' (1971) kappa for a fixed number of raters per unit.

    Parameters
    ----------
    ratings : array-like, shape ``(n_units, n_raters)``
        Labels, missing as ``None``/NaN. Every unit must have the same number ``n`` of answers (the
        raters need not be the same people). Rows without any answer are ignored.
    return_per_category : bool
        Also return Fleiss' per-category kappas
        ``kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n-1) p_j (1 - p_j))``.
    incomplete : {"raise", "drop"}, keyword
        What to do when units have different numbers of answers: raise ``MetricUndefined`` (default),
        or keep only the units with the maximum number of answers (the complete ones).
    categories : optional category list; categories that never occur get ``None`` per-category kappa.

    Returns
    -------
    float, or ``(float, {category: kappa_j or None})`` when ``return_per_category``. A category's kappa
    is ``None`` when it is undefined (``p_j`` is 0 or 1).

    Raises
    ------
    MetricUndefined
        Unequal raters per unit (with ``incomplete="raise"``), fewer than two raters per unit, no
        answers, or all answers in one category.
    """
    codes, cats = coded_matrix(ratings, categories)
    counts = count_matrix(codes, len(cats))
    m = row_sums(counts)
    keep = _fleiss_units(counts, m, incomplete)
    counts = counts[keep]
    n = float(m[keep][0])
    n_units = float(keep.sum())
    share, _ = _unit_agreement(counts, m[keep])
    col = weighted_col_sums(counts)
    kappa = _fleiss_from_counts(n, n_units, float(share.sum()), col)
    if not return_per_category:
        return kappa
    p_j = col / (n_units * n)
    disagree = n * col - col_sumsq(counts)  # sum_i n_ij (n - n_ij)
    per: dict[Any, float | None] = {}
    for j, cat in enumerate(cats):
        pq = p_j[j] * (1.0 - p_j[j])
        per[cat] = None if pq <= 0 else to_float(1.0 - disagree[j] / (n_units * n * (n - 1.0) * pq))
    return kappa, per


@blas_single_threaded
def specific_agreement(ratings: Any, *, categories: Sequence[Any] | None = None) -> dict[Any, float | None]:
    """Per-category proportion of specific (positive) agreement for any number of raters (Uebersax).

    ``ps_c = sum_u n_uc (n_uc - 1) / sum_u n_uc (m_u - 1)``: of all rater pairs on the same unit in
    which at least one side said ``c`` (counted per side), the share in which both said ``c``
    (= 2 · agreeing pairs in ``c`` / pair-ends in ``c``). For two raters and a binary task this is the
    classical positive/negative specific agreement ``2a / (2a + b + c)``.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN; units with one answer add
        nothing.
    categories : optional category list (order/extra categories).

    Returns
    -------
    dict category → float in [0, 1], or ``None`` for a category that never appears on a unit with two
    or more answers.

    Raises
    ------
    MetricUndefined
        No unit has two or more answers.
    """
    codes, cats = coded_matrix(ratings, categories)
    counts = count_matrix(codes, len(cats))
    m = row_sums(counts)
    pairable = m >= 2
    if not pairable.any():
        raise MetricUndefined("Specific agreement is undefined: no unit has two or more answers")
    agree = col_sumsq(counts) - weighted_col_sums(counts)  # sum_u n_uc (n_uc - 1)
    possible = weighted_col_sums(counts, m - 1.0)  # sum_u n_uc (m_u - 1)
    out: dict[Any, float | None] = {}
    for j, cat in enumerate(cats):
        out[cat] = None if possible[j] <= 0 else to_float(agree[j] / possible[j])
    return out


@blas_single_threaded
def pairwise_confusion(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
) -> tuple[np.ndarray, list[Any]]:
    """Class-by-class counts of answer pairs between raters on the same unit.

    Convention: every *ordered* pair of two different raters' answers on the same unit is counted once,
    i.e. each unordered pair {a, b} adds 1 to ``M[a, b]`` and 1 to ``M[b, a]`` (an agreeing pair adds
    2 to ``M[a, a]``). ``M`` is symmetric, ``M.sum()`` is twice the number of unordered pairs, and the
    share of agreeing pairs is ``trace(M) / M.sum()``. Units with more answers contribute more pairs
    (no per-unit weighting).

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    categories : optional category list/order (rows/columns of ``M``).

    Returns
    -------
    (M, categories): ``M`` an ``int64`` array of shape ``(K, K)``; ``categories`` the row/column labels.
    An input without any pair gives an all-zero matrix.
    """
    codes, cats = coded_matrix(ratings, categories)
    k = len(cats)
    if k == 0:
        return np.zeros((0, 0), dtype=np.int64), cats
    counts = count_matrix(codes, k)
    gram = weighted_gram(counts)
    gram -= np.diag(weighted_col_sums(counts))
    return np.rint(gram).astype(np.int64), cats


# --------------------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------------------
_WEIGHTS = (None, "linear", "quadratic")


def _kappa_from_codes(x: np.ndarray, y: np.ndarray, k: int, weights: str | None) -> float:
    """Cohen's kappa for two code vectors without missing values (MetricUndefined when undefined)."""
    if x.size == 0:
        raise MetricUndefined("Cohen's kappa is undefined: the two raters have no unit in common")
    table = np.bincount(x * k + y, minlength=k * k).reshape(k, k).astype(np.float64)
    table /= x.size
    row = table.sum(axis=1)
    colm = table.sum(axis=0)
    idx = np.arange(k, dtype=np.float64)
    if weights is None:
        observed_dis = 1.0 - np.trace(table)
        expected_dis = 1.0 - float(row @ colm)
    else:
        dist = np.abs(idx[:, None] - idx[None, :])
        wmat = dist if weights == "linear" else dist**2
        observed_dis = float((wmat * table).sum())
        expected_dis = float(row @ wmat @ colm)
    if expected_dis <= 1e-15:
        raise MetricUndefined(_COHEN_CONSTANT)
    return to_float(1.0 - observed_dis / expected_dis)


@blas_single_threaded
def cohen_kappa(a: Any, b: Any, weights: str | None = None, *, labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa between two raters, optionally weighted.

    Parameters
    ----------
    a, b : 1-D sequences of equal length
        The two raters' labels for the same units; ``None``/NaN marks a missing answer. Units where
        either is missing are dropped.
    weights : None, "linear" or "quadratic"
        Disagreement weights ``|i - j|`` or ``(i - j)²`` on category *indices* (as scikit-learn).
    labels : sequence, keyword, optional
        Category order (matters for weighted kappa); default: sorted distinct values of both raters.
        Values outside ``labels`` raise ``ValueError``.

    Returns
    -------
    float: ``1 - sum(w * observed) / sum(w * expected)`` (unweighted: ``(p_o - p_e) / (1 - p_e)``).

    Raises
    ------
    MetricUndefined
        No unit rated by both, or both raters used a single and identical category.
    """
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be one of None, 'linear', 'quadratic'; got {weights!r}")
    a_arr = np.asarray(a, dtype=object) if not isinstance(a, np.ndarray) else a
    b_arr = np.asarray(b, dtype=object) if not isinstance(b, np.ndarray) else b
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise ValueError("cohen_kappa expects two 1-D label sequences")
    if a_arr.shape[0] != b_arr.shape[0]:
        raise ValueError(f"a and b must have the same length; got {a_arr.shape[0]} and {b_arr.shape[0]}")
    pair = np.empty((a_arr.shape[0], 2), dtype=object)
    pair[:, 0] = a_arr
    pair[:, 1] = b_arr
    if a_arr.dtype.kind in "biuf" and b_arr.dtype.kind in "biuf":
        pair = np.column_stack([a_arr.astype(np.float64), b_arr.astype(np.float64)])
    codes, cats = encode_ratings(pair, labels)
    both = (codes[:, 0] >= 0) & (codes[:, 1] >= 0)
    return _kappa_from_codes(codes[both, 0], codes[both, 1], max(len(cats), 1), weights)


@dataclass
class PairwiseKappa:
    """Cohen's kappa for every pair of raters, on the units both answered.

    Attributes
    ----------
    raters : list of rater names (row/column labels).
    kappa : list of lists ``R × R`` of ``float`` or ``None``; symmetric; the diagonal is ``None``.
    n_overlap : ``int64`` array ``R × R``: units answered by both (diagonal: units answered by the rater).
    reasons : dict ``(rater_i, rater_j)`` → sentence, for every pair (i < j) whose kappa is ``None``.
    pairs : list of dicts ``{"rater_a", "rater_b", "kappa", "n", "reason"}`` for every pair i < j.
    categories : the category list used (shared by all pairs, so weighted kappas are comparable).
    """

    raters: list[Any]
    kappa: list[list[float | None]]
    n_overlap: np.ndarray
    reasons: dict[tuple[Any, Any], str] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    categories: list[Any] = field(default_factory=list)


@blas_single_threaded
def pairwise_cohen(
    ratings: Any,
    *,
    raters: Sequence[Any] | None = None,
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    min_overlap: int = 1,
) -> PairwiseKappa:
    """Cohen's kappa for each pair of raters (columns) on their overlapping units.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    raters : optional names of the columns (default ``0..R-1``).
    weights : None / "linear" / "quadratic" (see :func:`cohen_kappa`); category indices follow the
        shared category list.
    categories : optional category list/order.
    min_overlap : pairs sharing fewer units than this get ``None`` ("too few shared units").

    Returns
    -------
    :class:`PairwiseKappa` — never NaN: undefined pairs are ``None`` with a reason.
    """
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be one of None, 'linear', 'quadratic'; got {weights!r}")
    codes, cats = coded_matrix(ratings, categories)
    n_raters = codes.shape[1]
    names = rater_names(n_raters, raters)
    k = max(len(cats), 1)
    valid = codes >= 0
    vf = valid.astype(np.float64)
    overlap = np.rint(vf.T @ vf).astype(np.int64)
    kappa: list[list[float | None]] = [[None] * n_raters for _ in range(n_raters)]
    reasons: dict[tuple[Any, Any], str] = {}
    pairs: list[dict[str, Any]] = []
    for i in range(n_raters):
        for j in range(i + 1, n_raters):
            n_ij = int(overlap[i, j])
            value: float | None = None
            reason: str | None = None
            if n_ij == 0:
                reason = "no unit answered by both raters"
            elif n_ij < min_overlap:
                reason = f"only {n_ij} shared unit(s), fewer than min_overlap={min_overlap}"
            else:
                both = valid[:, i] & valid[:, j]
                try:
                    value = _kappa_from_codes(codes[both, i], codes[both, j], k, weights)
                except MetricUndefined as exc:
                    reason = str(exc)
            kappa[i][j] = kappa[j][i] = value
            if reason is not None:
                reasons[(names[i], names[j])] = reason
            pairs.append(
                {"rater_a": names[i], "rater_b": names[j], "kappa": value, "n": n_ij, "reason": reason},
            )
    return PairwiseKappa(
        raters=names,
        kappa=kappa,
        n_overlap=overlap,
        reasons=reasons,
        pairs=pairs,
        categories=cats,
    )
