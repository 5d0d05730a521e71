"""Benchmark of analysis.metrics on 1,000,000 answers (200,000 items × 5 labelers).

10 % of the answers are missing, 10 classes, seeded. Each labeler gives the item's true class with
probability 0.7, otherwise a uniformly random class. Prints one line per metric with the best wall time
of a few runs, and compares nominal alpha with the ``krippendorff`` package (difference must be < 1e-9).

Run from the repository root:  .venv/bin/python benchmarks/metrics_bench.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
N_UNITS = 200_000
N_RATERS = 5
N_CLASSES = 10
MISSING = 0.10
SEED = 20240601


def make_ratings(seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, N_UNITS)
    correct = rng.random((N_UNITS, N_RATERS)) < 0.7
    noise = rng.integers(0, N_CLASSES, (N_UNITS, N_RATERS))
    ratings = np.where(correct, truth[:, None], noise).astype(np.float64)
    ratings[rng.random(ratings.shape) < MISSING] = np.nan
    return ratings


def timed(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time over ``repeat`` runs, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, tuple) and len(value) == 3 and all(isinstance(v, float) for v in value):
        return f"{value[0]:.4f} [{value[1]:.4f}, {value[2]:.4f}]"
    return str(value)


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    import krippendorff

    from analysis import metrics as m

    ratings = make_ratings()
    n_answers = int((~np.isnan(ratings)).sum())
    complete = ~np.isnan(ratings).any(axis=1)
    shape = f"{N_UNITS:,} items × {N_RATERS} labelers = {N_UNITS * N_RATERS:,} cells"
    answers = f"{n_answers:,} answers ({MISSING:.0%} missing), {N_CLASSES} classes, seed {SEED}"
    print(f"analysis.metrics benchmark: {shape}, {answers}")
    versions = f"numpy {np.__version__}, python {sys.version.split()[0]}"
    print(f"{versions}; times are the best of 3 runs unless noted\n")

    rows: list[tuple[str, float, str]] = []

    def bench(name: str, func: Callable[[], Any], repeat: int = 3, show: Callable[[Any], str] = fmt) -> Any:
        seconds, result = timed(func, repeat)
        rows.append((name, seconds, show(result)))
        return result

    for level in m.LEVELS:
        bench(f"krippendorff_alpha {level}", lambda level=level: m.krippendorff_alpha(ratings, level))
    ours_nominal = m.krippendorff_alpha(ratings, "nominal")
    bench(f"fleiss_kappa (complete rows: {int(complete.sum()):,})", lambda: m.fleiss_kappa(ratings[complete]))
    bench("fleiss_kappa incomplete='drop'", lambda: m.fleiss_kappa(ratings, incomplete="drop"))
    bench("percent_agreement", lambda: m.percent_agreement(ratings))
    bench("specific_agreement", lambda: m.specific_agreement(ratings), show=lambda r: f"{len(r)} classes")
    bench(
        "pairwise_confusion",
        lambda: m.pairwise_confusion(ratings),
        show=lambda r: f"{r[0].shape[0]}x{r[0].shape[1]}, {int(r[0].sum()):,} ordered pairs",
    )
    bench("cohen_kappa (raters 0, 1)", lambda: m.cohen_kappa(ratings[:, 0], ratings[:, 1]))
    bench(
        "pairwise_cohen (10 pairs)",
        lambda: m.pairwise_cohen(ratings),
        show=lambda r: f"kappa[0][1] = {r.kappa[0][1]:.6f}",
    )
    bench(
        "majority_vote",
        lambda: m.majority_vote(ratings),
        show=lambda r: f"{int(r.resolved.sum()):,} resolved, {int(r.tied.sum()):,} ties",
    )
    bench(
        "dawid_skene",
        lambda: m.dawid_skene(ratings),
        repeat=1,
        show=lambda r: f"{r.n_iter} iter., converged={r.converged}, mean acc {r.rater_accuracy.mean():.4f}",
    )
    bench(
        "rater_agreement (HLP per labeler)",
        lambda: m.rater_agreement(ratings),
        repeat=1,
        show=lambda r: f"labeler 0 pairwise acc {r[0]['pairwise_accuracy']:.4f}",
    )
    for label, stat, kwargs in [
        ("alpha nominal", m.krippendorff_alpha, {}),
        ("alpha ordinal", m.krippendorff_alpha, {"level": "ordinal"}),
        ("percent_agreement", m.percent_agreement, {}),
        ("fleiss_kappa drop", m.fleiss_kappa, {"incomplete": "drop"}),
    ]:
        bench(
            f"bootstrap_ci {label}, 200 resamples",
            lambda stat=stat, kwargs=kwargs: m.bootstrap_ci(stat, ratings, n_resamples=200, seed=0, **kwargs),
            repeat=1,
        )
    bench(
        "agreement_report (3 metrics, 200 resamples)",
        lambda: m.agreement_report(ratings, n_resamples=200, seed=0),
        repeat=1,
        show=lambda r: (
            f"alpha {r['krippendorff_alpha']['value']:.4f} "
            f"[{r['krippendorff_alpha']['ci_low']:.4f}, {r['krippendorff_alpha']['ci_high']:.4f}]"
        ),
    )

    ref_seconds, ref_value = timed(
        lambda: float(krippendorff.alpha(ratings.T, level_of_measurement="nominal")), repeat=1
    )
    rows.append(("krippendorff package alpha nominal (1 run)", ref_seconds, fmt(ref_value)))

    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'seconds':>9}  result")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 40}")
    for name, seconds, shown in rows:
        print(f"{name:<{width}}  {seconds:>9.4f}  {shown}")

    diff = abs(ours_nominal - ref_value)
    ours_seconds = next(s for n, s, _ in rows if n == "krippendorff_alpha nominal")
    print(
        f"\nnominal alpha: ours {ours_nominal:.12f} in {ours_seconds:.4f} s, krippendorff package "
        f"{ref_value:.12f} in {ref_seconds:.4f} s; |difference| = {diff:.2e} "
        f"({'OK' if diff < 1e-9 else 'MISMATCH'}), speed-up ×{ref_seconds / ours_seconds:.0f}"
    )
    return 0 if diff < 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
