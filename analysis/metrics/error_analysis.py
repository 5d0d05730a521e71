"""Error analysis against human-level performance: per-slice accuracy, HLP, gap, and per-class scores.

Plain NumPy, no Django. The unit everywhere is the item: a slice is a set of items, and every interval
is a seeded percentile bootstrap that resamples the slice's items (so accuracy, HLP and their gap are
resampled together, item by item, and the gap's interval reflects that both come from the same items).

Per-item inputs (float arrays of one slice, same length):

* ``correct`` — 1.0 where the model's prediction equals the item's resolved label, 0.0 where it does
  not, NaN where the item has no resolved label (it is counted, but not scored);
* ``agreement`` — the share of agreeing ordered pairs among the item's counted human answers
  (``sum_c n_c (n_c - 1) / (m (m - 1))``), NaN where the item has fewer than two counted answers.
  Its mean over a slice is the expected accuracy of one human against another: the slice's HLP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import MetricUndefined
from .bootstrap import Interval

__all__ = [
    "classification_scores",
    "pair_agreement",
    "pair_agreement_sparse",
    "paired_accuracy",
    "slice_metrics",
    "slice_table",
]


def pair_agreement(counts: np.ndarray) -> np.ndarray:
    """Per item, the share of agreeing ordered pairs of its answers.

    Parameters
    ----------
    counts : int array ``(n_items, n_categories)``; answers per category.

    Returns
    -------
    float array ``(n_items,)``: ``sum_c n_c (n_c - 1) / (m (m - 1))``; NaN where ``m < 2``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("counts must be a 2-D array (n_items, n_categories)")
    m = counts.sum(axis=1)
    agree = (counts * (counts - 1.0)).sum(axis=1)
    out = np.full(counts.shape[0], np.nan)
    pairable = m >= 2
    out[pairable] = agree[pairable] / (m[pairable] * (m[pairable] - 1.0))
    return out


def _mean_or_none(values: np.ndarray, weights: np.ndarray) -> float | None:
    """Weighted mean over the finite entries of ``values``; None when no weight falls on one."""
    ok = np.isfinite(values)
    den = float(weights[ok].sum())
    if den <= 0:
        return None
    return float(weights[ok] @ values[ok]) / den


def _interval(point: float | None, samples: list[float], confidence: float) -> Interval | None:
    if point is None:
        return None
    if not samples:
        return Interval(point, point, point)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples), [tail, 1.0 - tail])
    return Interval(float(point), float(low), float(high))


def slice_metrics(
    correct: Any,
    agreement: Any,
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Model accuracy, HLP and the gap between them on one slice, each with a bootstrap interval.

    Parameters
    ----------
    correct : float array ``(n_items,)``; 1.0 / 0.0, NaN for an item without a resolved label.
    agreement : float array ``(n_items,)``; per-item human pair agreement, NaN below two answers.
    n_resamples, confidence, seed : the percentile bootstrap over the slice's items
        (``numpy.random.default_rng(seed)``; same seed, same intervals).

    Returns
    -------
    dict with ``n_items``, ``n_scored`` (items with a resolved label), ``n_pairable`` (items with two or
    more human answers), and ``model_accuracy``, ``hlp``, ``gap`` (HLP − accuracy), each an
    :class:`~analysis.metrics.bootstrap.Interval` or ``None`` when undefined on the slice (no scored
    item; no pairable item; either of the two). Resamples on which a statistic is undefined are left
    out of its percentiles.
    """
    correct = np.asarray(correct, dtype=np.float64)
    agreement = np.asarray(agreement, dtype=np.float64)
    if correct.shape != agreement.shape or correct.ndim != 1:
        raise ValueError(f"correct and agreement must be 1-D of equal length, not {correct.shape}, {agreement.shape}")
    if int(n_resamples) < 0:
        raise ValueError("n_resamples must be 0 or more")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1 (e.g. 0.95)")
    n = correct.shape[0]
    ones = np.ones(n)
    accuracy = _mean_or_none(correct, ones)
    hlp = _mean_or_none(agreement, ones)
    gap = None if accuracy is None or hlp is None else hlp - accuracy
    samples: dict[str, list[float]] = {"accuracy": [], "hlp": [], "gap": []}
    rng = np.random.default_rng(seed)
    for _ in range(int(n_resamples) if n else 0):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        a = _mean_or_none(correct, w)
        h = _mean_or_none(agreement, w)
        if a is not None:
            samples["accuracy"].append(a)
        if h is not None:
            samples["hlp"].append(h)
        if a is not None and h is not None:
            samples["gap"].append(h - a)
    return {
        "n_items": int(n),
        "n_scored": int(np.isfinite(correct).sum()),
        "n_pairable": int(np.isfinite(agreement).sum()),
        "model_accuracy": _interval(accuracy, samples["accuracy"], confidence),
        "hlp": _interval(hlp, samples["hlp"], confidence),
        "gap": _interval(gap, samples["gap"], confidence),
    }


def slice_table(rows: list[dict[str, Any]], *, n_total: int) -> list[dict[str, Any]]:
    """The error-analysis table: share and weighted gap per slice, sorted by weighted gap, largest first.

    Parameters
    ----------
    rows : one dict per slice with at least ``n_items`` and ``gap`` (an Interval or None), as answered by
        :func:`slice_metrics` (other keys are kept).
    n_total : the number of items the shares are relative to (the "all" slice).

    Returns
    -------
    New dicts with ``share`` = ``n_items / n_total``, ``weighted_gap`` = ``gap × share`` (an Interval: the
    gap's interval scaled by the share, which is fixed) and ``model_beats_hlp`` (the gap is negative), in
    order of ``weighted_gap`` (largest first; slices without a gap last, then by name).
    """
    if n_total <= 0:
        raise MetricUndefined("The error-analysis table is undefined: there are no items")
    out = []
    for row in rows:
        share = row["n_items"] / n_total
        gap = row.get("gap")
        weighted = None if gap is None else Interval(gap.value * share, gap.low * share, gap.high * share)
        out.append(
            {
                **row,
                "share": share,
                "weighted_gap": weighted,
                "model_beats_hlp": bool(gap is not None and gap.value < 0),
            }
        )
    out.sort(
        key=lambda r: (
            r["weighted_gap"] is None,
            -(r["weighted_gap"].value if r["weighted_gap"] else 0),
            str(r.get("slice", "")),
        )
    )
    return out


def classification_scores(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, np.ndarray]:
    """Confusion matrix and per-class precision, recall and F1 of predictions against true labels.

    Parameters
    ----------
    y_true : int array of class codes ``0 .. n_classes - 1``.
    y_pred : int array of the same length; a code outside ``0 .. n_classes - 1`` (e.g. -1, a label the
        model invented) is a wrong answer that counts in no class's precision.
    n_classes : number of classes.

    Returns
    -------
    dict of arrays: ``confusion`` ``(n_classes, n_classes)`` (rows true, columns predicted),
    ``precision``, ``recall``, ``f1`` ``(n_classes,)`` with NaN where undefined (precision: the class is
    never predicted; recall: no item has the class; F1: neither), ``support`` (items per true class) and ``predicted``
    (predictions per class).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D of equal length")
    if ((y_true < 0) | (y_true >= n_classes)).any():
        raise ValueError("y_true holds a code outside 0 .. n_classes - 1")
    k = int(n_classes)
    inside = (y_pred >= 0) & (y_pred < k)
    confusion = np.bincount(y_true[inside] * k + y_pred[inside], minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(np.float64)
    support = np.bincount(y_true, minlength=k).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (support + predicted): 0 for a class the model never
        # gets right (never predicted, or predicted only wrongly); NaN only for a class that is absent.
        both = support + predicted
        f1 = np.where(both > 0, 2 * tp / np.where(both > 0, both, 1), np.nan)
    return {
        "confusion": confusion,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
    }


def pair_agreement_sparse(counts: Any) -> np.ndarray:
    """:func:`pair_agreement` for a SciPy sparse ``(n_items, n_categories)`` count matrix (or a dense one)."""
    from scipy import sparse

    if not sparse.issparse(counts):
        return pair_agreement(counts)
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    m = np.asarray(counts.sum(axis=1)).ravel()
    agree = np.asarray(counts.multiply(counts).sum(axis=1)).ravel() - m
    out = np.full(counts.shape[0], np.nan)
    pairable = m >= 2
    out[pairable] = agree[pairable] / (m[pairable] * (m[pairable] - 1.0))
    return out


def paired_accuracy(
    correct_a: Any,
    correct_b: Any,
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Two models on the same items: both accuracies, their difference (b − a) and McNemar's exact test.

    Parameters
    ----------
    correct_a, correct_b : float arrays ``(n_items,)``, 1.0 / 0.0, NaN where the item has no resolved
        label (scored for neither model).
    n_resamples, confidence, seed : the paired percentile bootstrap over the scored items.

    Returns
    -------
    dict with ``n_scored``; ``accuracy_a``, ``accuracy_b``, ``difference`` as ``{"value", "ci_low",
    "ci_high"}`` (None without scored items); ``switches`` ``{"both_right", "only_a", "only_b",
    "both_wrong"}``; ``mcnemar_pvalue`` (two-sided exact binomial test on the discordant items, 1.0 when
    there are none; None without scored items).
    """
    from scipy import stats as sps

    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("correct_a and correct_b must be 1-D of equal length")
    scored = np.isfinite(a) & np.isfinite(b)
    a, b = a[scored], b[scored]
    n = int(scored.sum())
    switches = {
        "both_right": int(((a == 1) & (b == 1)).sum()),
        "only_a": int(((a == 1) & (b == 0)).sum()),
        "only_b": int(((a == 0) & (b == 1)).sum()),
        "both_wrong": int(((a == 0) & (b == 0)).sum()),
    }
    out: dict[str, Any] = {
        "n_scored": n,
        "accuracy_a": None,
        "accuracy_b": None,
        "difference": None,
        "switches": switches,
        "mcnemar_pvalue": None,
    }
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    samples = np.empty((int(n_resamples), 3))
    for i in range(int(n_resamples)):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n) / n
        samples[i] = (w @ a, w @ b, w @ (b - a))
    tail = (1.0 - confidence) / 2.0
    for j, (key, point) in enumerate(
        (("accuracy_a", a.mean()), ("accuracy_b", b.mean()), ("difference", (b - a).mean()))
    ):
        low, high = np.quantile(samples[:, j], [tail, 1.0 - tail]) if n_resamples else (point, point)
        out[key] = {"value": float(point), "ci_low": float(low), "ci_high": float(high)}
    discordant = switches["only_a"] + switches["only_b"]
    out["mcnemar_pvalue"] = float(sps.binomtest(switches["only_b"], discordant, 0.5).pvalue) if discordant else 1.0
    return out
