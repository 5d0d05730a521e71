"""Human-level performance (HLP): how well one labeler agrees with the others, or with gold labels.

When the "ground truth" is just another human's label, HLP is measured as agreement between humans
(DOMAIN.md §3). ``ratings`` is ``(n_units, n_raters)`` with missing answers as ``None``/NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import (
    MetricUndefined,
    blas_single_threaded,
    coded_matrix,
    encode_ratings,
    rater_names,
    to_float,
)
from .agreement import percent_agreement, specific_agreement
from .bootstrap import bootstrap_ci

__all__ = [
    "expected_pairwise_accuracy",
    "gold_accuracy",
    "human_level_performance",
    "rater_agreement",
]


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else to_float(num / den)


@blas_single_threaded
def rater_agreement(
    ratings: Any, *, raters: Sequence[Any] | None = None, categories: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Per-rater agreement with the other raters (HLP per labeler without gold labels).

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    raters : optional names of the columns.
    categories : optional category list.

    Returns
    -------
    One dict per rater (column), in column order:

    * ``rater`` — the name;
    * ``n_units`` — units the rater answered;
    * ``n_shared_units`` — of those, units where at least one other rater answered;
    * ``pairwise_accuracy`` — share of (this rater, other rater) answer pairs on the same unit that
      agree: ``sum_u (n_{u,x} - 1) / sum_u (m_u - 1)`` over the rater's units, where ``x`` is the
      rater's answer and ``m_u`` the unit's number of answers (``None`` without shared units);
    * ``n_pairs`` — the number of such pairs;
    * ``loo_majority_accuracy`` — leave-one-out majority agreement: on the units where the *other*
      raters have a unique most frequent answer, the share where this rater gives that answer
      (``None`` when there is no such unit);
    * ``n_loo_units`` — the number of such units.
    Missing answers are ignored; a unit answered only by this rater counts in ``n_units`` only.
    """
    codes, cats = coded_matrix(ratings, categories)
    n_units, n_raters = codes.shape
    names = rater_names(n_raters, raters)
    k = max(len(cats), 1)
    valid = codes >= 0
    unit = np.broadcast_to(np.arange(n_units)[:, None], codes.shape)
    counts = np.bincount(unit[valid] * k + codes[valid], minlength=n_units * k).reshape(n_units, k)
    m = counts.sum(axis=1)
    # The leave-one-out majority from each unit's counts, once for all raters: with ``top`` the largest
    # count, ``n_top`` the categories holding it and ``second`` the largest count below it (0 if none),
    # taking away one answer of count ``own`` leaves a unique winner when
    #   own < top and n_top == 1 (the winner is another category),
    #   own == top and n_top == 2 (the other top category wins),
    #   own == top and n_top == 1 and top - 1 > second, top - 1 > 0 (the rater's own category still wins),
    # and a tie or nothing otherwise: what taking the answer away and looking again answers, without a
    # copy of the counts per rater.
    top = counts.max(axis=1)
    n_top = (counts == top[:, None]).sum(axis=1)
    second = np.where(counts < top[:, None], counts, 0).max(axis=1)
    alone = n_top == 1
    keeps = alone & (top - 1 > second) & (top - 1 > 0)
    out = []
    rows = np.arange(n_units)
    for r in range(n_raters):
        mine = valid[:, r]
        x = np.where(mine, codes[:, r], 0)
        own = counts[rows, x]
        same = own - 1  # other raters agreeing with r (valid only where mine)
        others = m - 1
        shared = mine & (others > 0)
        agree_pairs = float(same[shared].sum())
        n_pairs = float(others[shared].sum())
        # Leave-one-out majority of the others.
        is_top = own == top
        unique_top = mine & ((~is_top & alone) | (is_top & (n_top == 2)) | (is_top & keeps))
        hits = float((mine & is_top & keeps).sum())
        n_loo = int(unique_top.sum())
        out.append(
            {
                "rater": names[r],
                "n_units": int(mine.sum()),
                "n_shared_units": int(shared.sum()),
                "pairwise_accuracy": _ratio(agree_pairs, n_pairs),
                "n_pairs": int(n_pairs),
                "loo_majority_accuracy": _ratio(hits, n_loo),
                "n_loo_units": n_loo,
            }
        )
    return out


def _encode_with_gold(
    ratings: Any, gold: Any, categories: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Encode ratings and gold with one shared category list."""
    arr = np.asarray(ratings, dtype=object) if not isinstance(ratings, np.ndarray) else ratings
    gold_arr = np.asarray(gold, dtype=object) if not isinstance(gold, np.ndarray) else gold
    if arr.ndim != 2:
        raise ValueError("ratings must be a 2-D array of shape (n_units, n_raters)")
    if gold_arr.ndim != 1 or gold_arr.shape[0] != arr.shape[0]:
        raise ValueError(f"gold must be 1-D with one entry per unit ({arr.shape[0]}), not {gold_arr.shape}")
    if arr.dtype.kind in "biuf" and gold_arr.dtype.kind in "biuf":
        joint = np.column_stack([arr.astype(np.float64), gold_arr.astype(np.float64)])
    else:
        joint = np.empty((arr.shape[0], arr.shape[1] + 1), dtype=object)
        joint[:, :-1] = arr
        joint[:, -1] = gold_arr
    codes, cats = encode_ratings(joint, categories)
    return codes[:, :-1], codes[:, -1], cats


@blas_single_threaded
def gold_accuracy(
    ratings: Any,
    gold: Any,
    *,
    raters: Sequence[Any] | None = None,
    categories: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Accuracy of each rater (and of all answers per gold class) against gold labels.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    gold : 1-D array-like of length ``n_units``; the known correct label, ``None``/NaN where unknown.
    raters, categories : optional column names / category list.

    Returns
    -------
    dict with

    * ``per_rater`` — list of ``{"rater", "n_gold", "n_correct", "accuracy"}`` (``accuracy`` is
      ``None`` when the rater answered no gold unit);
    * ``per_class`` — dict gold class → ``{"n", "accuracy"}``: share of all answers on units whose gold
      label is that class that match it (a per-class HLP; ``accuracy`` ``None`` when ``n`` is 0);
    * ``overall`` — ``{"n", "accuracy"}`` over all answers on gold units.
    """
    codes, gold_codes, cats = _encode_with_gold(ratings, gold, categories)
    names = rater_names(codes.shape[1], raters)
    has_gold = gold_codes >= 0
    answered = (codes >= 0) & has_gold[:, None]
    correct = answered & (codes == gold_codes[:, None])
    n_gold = answered.sum(axis=0)
    n_correct = correct.sum(axis=0)
    per_rater = [
        {
            "rater": names[r],
            "n_gold": int(n_gold[r]),
            "n_correct": int(n_correct[r]),
            "accuracy": _ratio(float(n_correct[r]), float(n_gold[r])),
        }
        for r in range(codes.shape[1])
    ]
    k = len(cats)
    per_unit_n = answered.sum(axis=1)
    per_unit_ok = correct.sum(axis=1)
    g = np.where(has_gold, gold_codes, 0)
    n_cls = np.bincount(g[has_gold], weights=per_unit_n[has_gold], minlength=k)
    ok_cls = np.bincount(g[has_gold], weights=per_unit_ok[has_gold], minlength=k)
    per_class = {
        cat: {"n": int(n_cls[j]), "accuracy": _ratio(float(ok_cls[j]), float(n_cls[j]))}
        for j, cat in enumerate(cats)
        if n_cls[j] > 0
    }
    total_n = float(n_gold.sum())
    return {
        "per_rater": per_rater,
        "per_class": per_class,
        "overall": {"n": int(total_n), "accuracy": _ratio(float(n_correct.sum()), total_n)},
    }


def expected_pairwise_accuracy(
    ratings: Any,
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    categories: Sequence[Any] | None = None,
):
    """Project-level HLP: expected accuracy of one human against another, with a bootstrap interval.

    The probability that two different raters' answers on the same unit agree, averaged over units with
    two or more answers — i.e. :func:`~analysis.metrics.agreement.percent_agreement` — with a percentile
    bootstrap interval over units (:func:`~analysis.metrics.bootstrap.bootstrap_ci`).

    Returns
    -------
    :class:`~analysis.metrics.bootstrap.Interval` ``(value, low, high)``.

    Raises
    ------
    MetricUndefined
        No unit has two or more answers.
    """
    return bootstrap_ci(
        percent_agreement,
        ratings,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        categories=categories,
    )


@blas_single_threaded
def human_level_performance(
    ratings: Any,
    gold: Any = None,
    *,
    raters: Sequence[Any] | None = None,
    categories: Sequence[Any] | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """HLP summary: project pairwise agreement with CI, per rater, per class, and gold accuracy.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    gold : optional 1-D gold labels (``None``/NaN where unknown).
    raters, categories : optional names / category list.
    n_resamples, confidence, seed : bootstrap settings for the project-level interval.

    Returns
    -------
    dict with ``pairwise_agreement`` (``{"value", "ci_low", "ci_high"}`` or ``None``),
    ``pairwise_agreement_reason`` (why it is ``None``, else ``None``), ``per_rater``
    (:func:`rater_agreement`, plus ``gold_accuracy``/``n_gold`` when gold is given), ``per_class``
    (specific agreement per class, ``None`` where undefined), ``gold`` (:func:`gold_accuracy`
    or ``None``) and ``categories`` (the category list, gold labels included).
    """
    if gold is not None:
        codes, _, cats = _encode_with_gold(ratings, gold, categories)
    else:
        codes, cats = coded_matrix(ratings, categories)
    # Work on the integer codes (as floats with NaN) so every helper sees the same category list.
    coded = np.where(codes >= 0, codes, np.nan).astype(np.float64)
    code_cats = list(range(len(cats)))
    result: dict[str, Any] = {"pairwise_agreement": None, "pairwise_agreement_reason": None}
    try:
        value, low, high = expected_pairwise_accuracy(
            coded, n_resamples=n_resamples, confidence=confidence, seed=seed, categories=code_cats
        )
        result["pairwise_agreement"] = {"value": value, "ci_low": low, "ci_high": high}
    except MetricUndefined as exc:
        result["pairwise_agreement_reason"] = str(exc)
    per_rater = rater_agreement(coded, raters=raters, categories=code_cats)
    try:
        per_code = specific_agreement(coded, categories=code_cats)
        result["per_class"] = {cats[int(c)]: v for c, v in per_code.items()}
    except MetricUndefined:
        result["per_class"] = {c: None for c in cats}
    if gold is not None:
        gold_report = gold_accuracy(ratings, gold, raters=raters, categories=categories)
        for row, g in zip(per_rater, gold_report["per_rater"], strict=True):
            row["gold_accuracy"] = g["accuracy"]
            row["n_gold"] = g["n_gold"]
        result["gold"] = gold_report
    else:
        result["gold"] = None
    result["per_rater"] = per_rater
    result["categories"] = cats
    return result
