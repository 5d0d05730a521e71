"""Input drift: compare the distribution of one input statistic between a baseline and a current sample.

Plain NumPy and SciPy, no Django. Samples are 1-D float arrays where NaN marks a missing value (an item
without that statistic); missing values are counted as a share and left out of the distributions.

* :func:`population_stability_index` — PSI over bins cut at the baseline's quantiles, plus one bin
  below the baseline's minimum and one above its maximum (so values the baseline never had count as
  drift). ``PSI = sum_b (c_b - e_b) ln(c_b / e_b)`` with shares floored at ``eps``. Rules of thumb:
  < 0.1 stable, 0.1–0.2 moderate, > 0.2 a significant shift. PSI is biased upwards on small samples
  (about ``(bins - 1) (1/n_baseline + 1/n_current)`` under no drift), which is why
  :func:`compare_samples` can ask for the KS test to agree before it calls a shift drift.
* :func:`ks_test` — the two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``, two-sided).
* :func:`shared_histogram` — both samples' shares over the same bins, for overlaid histograms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import MetricUndefined

__all__ = [
    "DRIFT_RULES",
    "compare_samples",
    "ks_test",
    "population_stability_index",
    "psi_edges",
    "shared_histogram",
]

DRIFT_RULES = ("both", "either")


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def psi_edges(baseline: Any, bins: int = 10) -> np.ndarray:
    """Inner bin edges for PSI: the baseline's quantiles, plus its minimum (just below) and maximum.

    Bins are ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` (``np.digitize(x, edges, right=True)``):
    the first holds values below the baseline's minimum, the last those above its maximum. Repeated
    quantiles (a discrete or constant statistic) collapse into one edge.
    """
    base = _finite(baseline)
    if base.size == 0:
        raise MetricUndefined("PSI is undefined: the baseline has no values")
    if int(bins) < 1:
        raise ValueError("bins must be at least 1")
    inner = np.quantile(base, np.linspace(0.0, 1.0, int(bins) + 1)[1:-1]) if bins > 1 else np.zeros(0)
    low = np.nextafter(base.min(), -np.inf)
    return np.unique(np.concatenate([[low], inner, [base.max()]]))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    index = np.digitize(values, edges, right=True)
    return np.bincount(index, minlength=len(edges) + 1) / max(values.size, 1)


def population_stability_index(baseline: Any, current: Any, *, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``baseline`` (missing values left out).

    Parameters
    ----------
    baseline, current : 1-D array-likes of numbers; NaN is missing.
    bins : number of quantile bins of the baseline (fewer when quantiles repeat), plus the two
        out-of-range bins described in :func:`psi_edges`.
    eps : floor for a bin's share (an empty bin would make the logarithm infinite).

    Returns
    -------
    float ≥ 0; 0 when both samples fill the bins alike.

    Raises
    ------
    MetricUndefined
        Either sample has no (non-missing) values.
    """
    base, cur = _finite(baseline), _finite(current)
    if base.size == 0 or cur.size == 0:
        raise MetricUndefined("PSI is undefined: a sample has no values")
    edges = psi_edges(base, bins)
    e = np.maximum(_shares(base, edges), eps)
    c = np.maximum(_shares(cur, edges), eps)
    return float(np.sum((c - e) * np.log(c / e)))


def ks_test(baseline: Any, current: Any) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov–Smirnov test: ``(statistic, p_value)``, missing values left out.

    Raises
    ------
    MetricUndefined
        Either sample has no (non-missing) values.
    """
    base, cur = _finite(baseline), _finite(current)
    if base.size == 0 or cur.size == 0:
        raise MetricUndefined("The KS test is undefined: a sample has no values")
    from scipy import stats as sps

    result = sps.ks_2samp(base, cur)
    return float(result.statistic), float(result.pvalue)


def shared_histogram(baseline: Any, current: Any, *, bins: int = 20) -> dict[str, list[float]]:
    """Both samples' shares over ``bins`` equal-width bins spanning both (missing values left out).

    Returns ``{"edges": [bins + 1 floats], "baseline": [bins shares], "current": [bins shares]}``; each
    share list sums to 1 (or is all zeros for an empty sample). A constant pair of samples gets one bin.
    """
    base, cur = _finite(baseline), _finite(current)
    both = np.concatenate([base, cur])
    if both.size == 0:
        return {"edges": [], "baseline": [], "current": []}
    low, high = float(both.min()), float(both.max())
    # A constant pair of samples gets one bin around the value.
    edges = np.array([low - 0.5, low + 0.5]) if high <= low else np.linspace(low, high, int(bins) + 1)

    def shares(values):
        if values.size == 0:
            return [0.0] * (len(edges) - 1)
        counts, _ = np.histogram(values, bins=edges)
        return (counts / values.size).tolist()

    return {"edges": edges.tolist(), "baseline": shares(base), "current": shares(cur)}


def _summary(values: np.ndarray, n_all: int) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    return {
        "n": int(n_all),
        "n_values": int(finite.size),
        "missing_share": float(1.0 - finite.size / n_all) if n_all else None,
        "mean": float(finite.mean()) if finite.size else None,
        "median": float(np.median(finite)) if finite.size else None,
        "std": float(finite.std()) if finite.size else None,
    }


def compare_samples(
    baseline: Any,
    current: Any,
    *,
    psi_threshold: float = 0.2,
    ks_pvalue_threshold: float = 0.01,
    missing_share_threshold: float = 0.05,
    min_values: int = 20,
    rule: str = "both",
    psi_bins: int = 10,
    histogram_bins: int = 20,
) -> dict[str, Any]:
    """Everything the drift report says about one statistic, and whether it drifted.

    Parameters
    ----------
    baseline, current : 1-D float array-likes, one entry per item, NaN where the item lacks the value.
    psi_threshold : PSI at or above which the distribution shifted.
    ks_pvalue_threshold : KS p-value below which the distributions differ.
    missing_share_threshold : a rise of the missing share by more than this is drift by itself.
    min_values : each sample needs this many values before its distribution is judged (smaller samples
        are reported, never alerted on).
    rule : ``"both"`` — a distribution shift needs PSI over its threshold *and* a KS p-value under its
        threshold (large and significant; the default, robust to PSI's small-sample bias and to KS
        flagging negligible shifts on huge samples); ``"either"`` — one of them is enough.
    psi_bins, histogram_bins : bins of the PSI and of the overlaid histogram.

    Returns
    -------
    dict with ``baseline`` and ``current`` summaries (``n``, ``n_values``, ``missing_share``, ``mean``,
    ``median``, ``std``), ``psi``, ``ks_statistic``, ``ks_pvalue`` (None when undefined), ``histogram``
    (:func:`shared_histogram`), ``drift`` (bool) and ``reasons`` (sentences saying why).
    """
    if rule not in DRIFT_RULES:
        raise ValueError(f"rule must be one of {', '.join(DRIFT_RULES)}, not {rule!r}")
    base = np.asarray(baseline, dtype=np.float64).ravel()
    cur = np.asarray(current, dtype=np.float64).ravel()
    out: dict[str, Any] = {
        "baseline": _summary(base, base.size),
        "current": _summary(cur, cur.size),
        "psi": None,
        "ks_statistic": None,
        "ks_pvalue": None,
        "histogram": shared_histogram(base, cur, bins=histogram_bins),
        "drift": False,
        "reasons": [],
    }
    try:
        out["psi"] = population_stability_index(base, cur, bins=psi_bins)
        out["ks_statistic"], out["ks_pvalue"] = ks_test(base, cur)
    except MetricUndefined:
        pass  # too few values on a side: psi / ks stay None and this statistic raises no alert
    reasons = out["reasons"]
    miss_b, miss_c = out["baseline"]["missing_share"], out["current"]["missing_share"]
    if miss_b is not None and miss_c is not None and miss_c - miss_b > missing_share_threshold:
        reasons.append(f"missing values rose from {miss_b:.1%} to {miss_c:.1%}")
    enough = out["baseline"]["n_values"] >= min_values and out["current"]["n_values"] >= min_values
    if out["psi"] is not None and enough:
        psi_hit = out["psi"] >= psi_threshold
        ks_hit = out["ks_pvalue"] < ks_pvalue_threshold
        if (psi_hit and ks_hit) if rule == "both" else (psi_hit or ks_hit):
            parts = []
            if psi_hit:
                parts.append(f"PSI {out['psi']:.3f} ≥ {psi_threshold:g}")
            if ks_hit:
                parts.append(f"KS p-value {out['ks_pvalue']:.2g} < {ks_pvalue_threshold:g}")
            reasons.append(" and ".join(parts))
    out["drift"] = bool(reasons)
    out["enough_values"] = bool(enough)
    return out
