"""Planning maths: labeled items reachable per day horizon."""

import numpy as np
import pytest

from analysis.metrics.planning import reachable_labeled


def test_labeling_speed_limits_when_items_are_plenty():
    out = reachable_labeled(
        labeled_now=10, backlog_now=1000, arrival_days=[], arrival_amounts=[], rate_per_day=20, horizons=[0, 1, 5]
    )
    np.testing.assert_allclose(out, [10, 30, 110])


def test_supply_limits_when_labelers_run_out():
    out = reachable_labeled(
        labeled_now=0,
        backlog_now=50,
        arrival_days=[10],
        arrival_amounts=[100],
        rate_per_day=20,
        horizons=[2, 5, 10, 12, 20],
    )
    # 40 by day 2; the 50 present are done by day 2.5; idle until day 10; then 20 a day on the new 100.
    np.testing.assert_allclose(out, [40, 50, 50, 90, 150])


def test_no_throughput_means_nothing_new():
    out = reachable_labeled(
        labeled_now=7, backlog_now=50, arrival_days=[0], arrival_amounts=[10], rate_per_day=None, horizons=[0, 30]
    )
    np.testing.assert_allclose(out, [7, 7])


def test_arrivals_today_count_at_once_and_bad_input_is_refused():
    out = reachable_labeled(
        labeled_now=0, backlog_now=0, arrival_days=[0, 3], arrival_amounts=[5, 5], rate_per_day=10, horizons=[1, 3, 4]
    )
    np.testing.assert_allclose(out, [5, 5, 10])
    with pytest.raises(ValueError):
        reachable_labeled(
            labeled_now=0, backlog_now=-1, arrival_days=[], arrival_amounts=[], rate_per_day=1, horizons=[1]
        )


def _simulated(*, labeled_now, backlog_now, arrivals, rate, horizon):
    """Labeled items after ``horizon`` days by stepping from event to event: the team labels what is
    there at ``rate`` a day until the next arrival."""
    available = backlog_now + sum(a for d, a in arrivals if d == 0)
    done, now = 0.0, 0.0
    for day, amount in sorted((d, a) for d, a in arrivals if 0 < d <= horizon) + [(horizon, 0.0)]:
        work = min(available, rate * (day - now))
        done, available, now = done + work, available - work + amount, day
    return labeled_now + done


def test_reachable_labels_match_an_event_simulation():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 4))
        days, amounts = rng.integers(0, 15, n).astype(float), rng.integers(0, 50, n).astype(float)
        backlog, rate, now = float(rng.integers(0, 40)), float(rng.choice([0.5, 3, 7.5])), float(rng.integers(0, 9))
        horizons = np.arange(25)
        got = reachable_labeled(
            labeled_now=now,
            backlog_now=backlog,
            arrival_days=days,
            arrival_amounts=amounts,
            rate_per_day=rate,
            horizons=horizons,
        )
        arrivals = list(zip(days, amounts, strict=True))
        want = [
            _simulated(labeled_now=now, backlog_now=backlog, arrivals=arrivals, rate=rate, horizon=h) for h in horizons
        ]
        np.testing.assert_allclose(got, want)
