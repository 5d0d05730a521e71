"""Inventory planning: how many labeled items can exist after d days, given supply and labeling speed.

Plain NumPy, no Django. Labeling is a queue: items arrive (already imported now, or when a data source
delivers after its turnaround), and labelers complete them at a measured rate. With cumulative
arrivals ``A(t)`` (items that can be labeled by day t) and a rate of ``r`` labeled items per day, the
items labeled by day ``d`` are ``min over s in [0, d] of A(s) + r (d - s)`` — the usual queue
departure formula: either the labelers were never idle since s, or they ran out of items. Because
``A`` only jumps at arrival days, the minimum is reached at ``s = 0`` (before
anything is there), just before a later arrival, or at ``s = d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reachable_labeled"]


def reachable_labeled(
    *,
    labeled_now: float,
    backlog_now: float,
    arrival_days: Any,
    arrival_amounts: Any,
    rate_per_day: float | None,
    horizons: Any,
) -> np.ndarray:
    """Labeled items reachable after each horizon (in days).

    Parameters
    ----------
    labeled_now : items already labeled (complete).
    backlog_now : items present now that still need labels.
    arrival_days, arrival_amounts : 1-D arrays; items that become available ``arrival_days[i]`` days from
        now (a source's turnaround), ``arrival_amounts[i]`` of them.
    rate_per_day : labeled items per day the team completes (measured throughput ÷ overlap); ``None``
        or 0 means no labeling happens (only ``labeled_now`` is reachable).
    horizons : 1-D array of days ≥ 0.

    Returns
    -------
    float array, one value per horizon: ``labeled_now`` plus the items labeled by then.
    """
    days = np.asarray(arrival_days, dtype=np.float64).ravel()
    amounts = np.asarray(arrival_amounts, dtype=np.float64).ravel()
    if days.shape != amounts.shape:
        raise ValueError("arrival_days and arrival_amounts must have the same length")
    if (days < 0).any() or (amounts < 0).any() or backlog_now < 0 or labeled_now < 0:
        raise ValueError("days, amounts and counts must not be negative")
    horizons = np.asarray(horizons, dtype=np.float64).ravel()
    if not rate_per_day or rate_per_day <= 0:
        return np.full(horizons.shape, float(labeled_now))
    order = np.argsort(days, kind="stable")
    days, amounts = days[order], amounts[order]
    out = np.empty(horizons.shape)
    for i, d in enumerate(horizons):
        arrived = days <= d
        # Candidates: s = 0 (just before the backlog and today's arrivals: nothing yet, so the team's
        # whole capacity), just before each later arrival, and s = d (everything arrived by then).
        candidates = [rate_per_day * d, backlog_now + amounts[arrived].sum()]
        cumulative_before = backlog_now + np.concatenate([[0.0], np.cumsum(amounts)])[:-1]
        for t, before in zip(days[arrived & (days > 0)], cumulative_before[arrived & (days > 0)], strict=True):
            candidates.append(before + rate_per_day * (d - t))
        out[i] = labeled_now + min(candidates)
    return out
