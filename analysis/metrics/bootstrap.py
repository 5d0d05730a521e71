"""Percentile bootstrap intervals over units (rows), seeded and fast for the headline metrics.

Resampling draws ``n_units`` rows with replacement, ``n_resamples`` times, from
``numpy.random.default_rng(seed)``; the same seed gives the same interval. For
:func:`~analysis.metrics.agreement.krippendorff_alpha`,
:func:`~analysis.metrics.agreement.percent_agreement` and
:func:`~analysis.metrics.agreement.fleiss_kappa` the per-unit contributions are computed once and each
resample is a weighted sum with the resample's row multiplicities (``np.bincount`` of the drawn
indices) — the same numbers as recomputing the metric on the resampled rows, without re-encoding.
:func:`agreement_report` takes the resamples in blocks (:data:`_BLOCK` rows of multiplicities), so each
weighted sum is one matrix product over the block instead of one vector product per resample.
Any other callable is recomputed on ``ratings[idx]`` for each resample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._common import (
    MetricUndefined,
    _as_array,
    blas_single_threaded,
    coded_matrix,
    count_matrix,
    row_sums,
    shared_encoding,
    to_float,
)
from .agreement import (
    _alpha_setup,
    _alpha_value,
    _fleiss_from_counts,
    _fleiss_units,
    _positions,
    _unit_agreement,
    _unit_disagreement,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)

__all__ = ["Interval", "agreement_report", "bootstrap_ci"]

# Resamples weighed together by agreement_report: 16 rows of multiplicities are 26 MB per 200,000 units.
_BLOCK = 16


class Interval(NamedTuple):
    """A point estimate with its bootstrap interval; unpacks as ``value, low, high``."""

    value: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------------
# Fast statistics: per-unit contributions, one weighted sum per resample
# --------------------------------------------------------------------------------------------------
class _AlphaFast:
    def __init__(self, ratings: Any, level: str = "nominal", categories: Sequence[Any] | None = None):
        codes, values, cats = _alpha_setup(ratings, level, categories)
        counts = count_matrix(codes, len(cats))
        m = row_sums(counts)
        self.pairable = m >= 2
        sel = self.pairable
        self.counts = counts[sel]
        self.m = m[sel]
        self.wu = 1.0 / np.maximum(self.m - 1.0, 1.0)
        self.level = level
        self.values = values
        n_c = self.counts.T @ np.ones(self.counts.shape[0]) if self.counts.shape[0] else np.zeros(len(cats))
        self.n_c = np.asarray(n_c).ravel()
        if level != "ordinal":
            self.wd = self.wu * _unit_disagreement(self.counts, self.m, level, values, self.n_c)

    def resample(self, w: np.ndarray) -> float:
        return self.resample_pairable(w[self.pairable])

    def resample_pairable(self, w: np.ndarray) -> float:
        if self.m.shape[0] == 0:
            raise MetricUndefined(
                "Krippendorff's alpha is undefined: no unit has two or more values (nothing is pairable)"
            )
        n_c = np.asarray(self.counts.T @ w).ravel()
        if self.level == "ordinal":
            pos = _positions("ordinal", None, n_c)
            a = self.counts @ pos
            b = self.counts @ (pos * pos)
            observed = float((w * self.wu) @ (2.0 * (self.m * b - a * a)))
        else:
            observed = float(w @ self.wd)
        return _alpha_value(observed, n_c, self.level, self.values)

    def resample_block(self, weights: np.ndarray) -> list[float | None]:
        """:meth:`resample` for each row of ``weights``; None where alpha is undefined."""
        if self.level == "ordinal" or self.m.shape[0] == 0:
            return [_or_none(self.resample, w) for w in weights]
        w = weights[:, self.pairable]
        n_c = np.asarray((self.counts.T @ w.T).T)
        observed = w @ self.wd
        return [
            _or_none(_alpha_value, float(o), n_c[b], self.level, self.values) for b, o in enumerate(observed.tolist())
        ]


class _PercentFast:
    def __init__(self, ratings: Any, categories: Sequence[Any] | None = None):
        codes, cats = coded_matrix(ratings, categories)
        counts = count_matrix(codes, len(cats))
        self.share, pairable = _unit_agreement(counts, row_sums(counts))
        self.pairable = pairable.astype(np.float64)

    def resample(self, w: np.ndarray) -> float:
        den = float(w @ self.pairable)
        if den <= 0:
            raise MetricUndefined("Percent agreement is undefined: no unit has two or more answers")
        return to_float(float(w @ self.share) / den)

    def resample_block(self, weights: np.ndarray) -> list[float | None]:
        """:meth:`resample` for each row of ``weights``; None where it is undefined."""
        den, num = weights @ self.pairable, weights @ self.share
        return [to_float(n / d) if d > 0 else None for n, d in zip(num.tolist(), den.tolist(), strict=True)]


class _FleissFast:
    def __init__(
        self,
        ratings: Any,
        return_per_category: bool = False,
        incomplete: str = "raise",
        categories: Sequence[Any] | None = None,
    ):
        if return_per_category:
            raise ValueError("bootstrap_ci needs a scalar statistic: use return_per_category=False")
        codes, cats = coded_matrix(ratings, categories)
        counts = count_matrix(codes, len(cats))
        self.m = row_sums(counts)
        keep = _fleiss_units(counts, self.m, incomplete)  # raises if undefined on the whole data set
        self.counts = counts
        self.share, _ = _unit_agreement(counts, self.m)
        # Units with the most answers: a resample that draws any of them uses exactly those.
        self.n_max = float(self.m[keep][0])
        self.keep_idx = np.flatnonzero(keep)
        self.keep_counts = counts[self.keep_idx]
        self.keep_share = self.share[self.keep_idx]

    def resample(self, w: np.ndarray) -> float:
        wk = w[self.keep_idx]
        total = float(wk.sum())
        if total > 0:
            col = np.asarray(self.keep_counts.T @ wk).ravel()
            return _fleiss_from_counts(self.n_max, total, float(wk @ self.keep_share), col)
        # No complete unit drawn ("drop" mode only): use the largest answer count among drawn units.
        drawn = (w > 0) & (self.m > 0)
        if not drawn.any():
            raise MetricUndefined("Fleiss' kappa is undefined: there are no answers")
        n = float(self.m[drawn].max())
        if n < 2:
            raise MetricUndefined("Fleiss' kappa is undefined: it needs at least two raters per unit")
        wk = np.where(self.m == n, w, 0.0)
        col = np.asarray(self.counts.T @ wk).ravel()
        return _fleiss_from_counts(n, float(wk.sum()), float(wk @ self.share), col)

    def resample_block(self, weights: np.ndarray) -> list[float | None]:
        """:meth:`resample` for each row of ``weights``; None where kappa is undefined."""
        wk = weights[:, self.keep_idx]
        totals = wk.sum(axis=1)
        cols = np.asarray((self.keep_counts.T @ wk.T).T)
        shares = wk @ self.keep_share
        out = []
        for b, total in enumerate(totals.tolist()):
            if total > 0:
                out.append(_or_none(_fleiss_from_counts, self.n_max, total, float(shares[b]), cols[b]))
            else:
                out.append(_or_none(self.resample, weights[b]))
        return out


def _or_none(function: Callable[..., float], *args: Any) -> float | None:
    try:
        return function(*args)
    except MetricUndefined:
        return None


def _fast_statistic(statistic: Callable[..., float], ratings: Any, kwargs: dict[str, Any]) -> Any | None:
    if statistic is krippendorff_alpha:
        return _AlphaFast(ratings, **kwargs)
    if statistic is percent_agreement:
        return _PercentFast(ratings, **kwargs)
    if statistic is fleiss_kappa:
        return _FleissFast(ratings, **kwargs)
    return None


_BY_NAME: dict[str, Callable[..., float]] = {
    "krippendorff_alpha": krippendorff_alpha,
    "alpha": krippendorff_alpha,
    "percent_agreement": percent_agreement,
    "fleiss_kappa": fleiss_kappa,
}


def _weights(rng: np.random.Generator, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    idx = rng.integers(0, n_units, size=n_units)
    return idx, np.bincount(idx, minlength=n_units).astype(np.float64)


def _percentiles(samples: list[float], confidence: float, what: str) -> tuple[float, float]:
    if not samples:
        raise MetricUndefined(f"Bootstrap interval is undefined: {what} is undefined on every resample")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples), [tail, 1.0 - tail])
    return to_float(low), to_float(high)


def _check_args(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1 (e.g. 0.95)")


@blas_single_threaded
def bootstrap_ci(
    statistic: Callable[..., float] | str,
    ratings: Any,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    **kwargs: Any,
) -> Interval:
    """Point estimate and percentile bootstrap interval of a statistic, resampling units (rows).

    Parameters
    ----------
    statistic : callable ``f(ratings, **kwargs) -> float``, or one of the names
        ``"krippendorff_alpha"``/``"alpha"``, ``"percent_agreement"``, ``"fleiss_kappa"``.
        :func:`krippendorff_alpha`, :func:`percent_agreement` and :func:`fleiss_kappa` use a fast path
        (per-unit contributions, weighted sums); other callables are recomputed on each resample.
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    n_resamples : number of bootstrap resamples.
    confidence : interval coverage, e.g. 0.95 → 2.5th and 97.5th percentiles.
    seed : seed of ``numpy.random.default_rng``; same seed, same data → same interval.
    **kwargs : passed to the statistic (e.g. ``level="ordinal"``, ``categories=[...]``,
        ``incomplete="drop"``).

    Returns
    -------
    :class:`Interval` ``(value, low, high)``: ``value`` is the statistic on the full data.
    Resamples on which the statistic is undefined (``MetricUndefined``, e.g. a resample with a single
    category) are left out of the percentiles.

    Raises
    ------
    MetricUndefined
        The statistic is undefined on the full data, or on every resample.
    """
    _check_args(n_resamples, confidence)
    if isinstance(statistic, str):
        if statistic not in _BY_NAME:
            raise ValueError(f"unknown statistic {statistic!r}; known: {sorted(_BY_NAME)}")
        statistic = _BY_NAME[statistic]
    value = to_float(statistic(ratings, **kwargs))
    arr = _as_array(ratings)
    n_units = arr.shape[0] if arr.ndim >= 1 else 0
    rng = np.random.default_rng(seed)
    fast = _fast_statistic(statistic, ratings, kwargs)
    samples: list[float] = []
    name = getattr(statistic, "__name__", "the statistic")
    for _ in range(int(n_resamples)):
        idx, w = _weights(rng, n_units)
        try:
            samples.append(fast.resample(w) if fast is not None else float(statistic(arr[idx], **kwargs)))
        except MetricUndefined:
            continue
    low, high = _percentiles(samples, confidence, name)
    return Interval(value, low, high)


@blas_single_threaded
def agreement_report(
    ratings: Any,
    *,
    level: str = "nominal",
    categories: Sequence[Any] | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    fleiss_incomplete: str = "drop",
) -> dict[str, Any]:
    """The three headline agreement metrics with bootstrap intervals, sharing the same resamples.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    level : level of measurement for Krippendorff's alpha.
    categories : optional category list/order.
    n_resamples, confidence, seed : as :func:`bootstrap_ci`.
    fleiss_incomplete : ``"drop"`` (default: Fleiss' kappa on the units with the most answers) or
        ``"raise"`` (Fleiss reported undefined when raters per unit differ).

    Returns
    -------
    dict with ``n_units``, ``n_annotations``, ``n_pairable_units``, ``fleiss_units`` (where Fleiss' kappa
    is defined: ``{"n_units", "answers_each"}``, the units it is computed on) and, for each of
    ``percent_agreement``, ``fleiss_kappa``, ``krippendorff_alpha``, either
    ``{"value", "ci_low", "ci_high"}`` or ``None``; ``reasons`` maps each ``None`` metric to the
    sentence saying why it is undefined.
    """
    _check_args(n_resamples, confidence)
    with shared_encoding(ratings):
        return _agreement_report(ratings, level, categories, n_resamples, confidence, seed, fleiss_incomplete)


def _agreement_report(ratings, level, categories, n_resamples, confidence, seed, fleiss_incomplete):
    codes, cats = coded_matrix(ratings, categories)
    code_cats = list(range(len(cats)))
    if isinstance(ratings, np.ndarray) and ratings.dtype == np.float64 and cats == code_cats:
        # Already a float matrix of codes (what the reports pass): the same values as re-coding it.
        coded = ratings
    else:
        coded = np.where(codes >= 0, codes, np.nan).astype(np.float64)
    n_units = codes.shape[0]
    answers = (codes >= 0).sum(axis=1)
    report: dict[str, Any] = {
        "n_units": int(n_units),
        "n_annotations": int(answers.sum()),
        "n_pairable_units": int((answers >= 2).sum()),
        "reasons": {},
    }
    if level != "nominal":
        alpha_input: Any = ratings
        alpha_kwargs: dict[str, Any] = {"level": level, "categories": categories}
    else:
        alpha_input, alpha_kwargs = coded, {"level": level, "categories": code_cats}
    builders: dict[str, Callable[[], Any]] = {
        "percent_agreement": lambda: _PercentFast(coded, categories=code_cats),
        "fleiss_kappa": lambda: _FleissFast(coded, incomplete=fleiss_incomplete, categories=code_cats),
        "krippendorff_alpha": lambda: _AlphaFast(alpha_input, **alpha_kwargs),
    }
    stats: dict[str, Any] = {}
    points: dict[str, float] = {}
    all_ones = np.ones(n_units)
    with shared_encoding(coded):
        _build(builders, stats, points, report, all_ones)
    if "fleiss_kappa" in stats:
        # The units Fleiss' kappa is computed on: with "drop", those with the most answers, which may be a
        # few of the units compared (a relabel campaign's fourth answers); the report says how many.
        fleiss = stats["fleiss_kappa"]
        report["fleiss_units"] = {"n_units": len(fleiss.keep_idx), "answers_each": int(fleiss.n_max)}
    samples: dict[str, list[float]] = {key: [] for key in stats}
    rng = np.random.default_rng(seed)
    left = int(n_resamples) if stats else 0
    # One buffer for every block (a fresh 26 MB array per block made a thread's heap grow).
    buffer = np.empty((min(_BLOCK, left), n_units))
    while left > 0:
        # The same draws, in the same order, as one resample at a time: the same intervals.
        block = buffer[: min(_BLOCK, left)]
        for row in block:
            # _weights' multiplicities, counted straight into the block (no float copy in between).
            row[:] = np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units)
        left -= len(block)
        for key, stat in stats.items():
            samples[key] += [value for value in stat.resample_block(block) if value is not None]
    for key in stats:
        try:
            low, high = _percentiles(samples[key], confidence, key)
        except MetricUndefined as exc:
            report["reasons"][key] = str(exc)
            continue
        report[key] = {"value": points[key], "ci_low": low, "ci_high": high}
    return report


def _build(builders, stats, points, report, all_ones):
    """Each headline metric's per-unit contributions, and its value on the full data."""
    for key, build in builders.items():
        report[key] = None
        try:
            stats[key] = build()
            points[key] = stats[key].resample(all_ones)
        except MetricUndefined as exc:
            report["reasons"][key] = str(exc)
            stats.pop(key, None)
