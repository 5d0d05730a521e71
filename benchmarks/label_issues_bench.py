"""Label-issue detection benchmark on scikit-learn's digits (no Django, no downloads).

    .venv/bin/python benchmarks/label_issues_bench.py                 # 1,797 digits, 3 scenarios
    .venv/bin/python benchmarks/label_issues_bench.py --scale 100000  # augmented, timing + peak RSS

Scenarios (seeded; the detector never sees which items were corrupted):
  (a) uniform: 10 % of the items get another label, uniformly at random;
  (b) jaguar:  the nines are split in two visual sub-clusters (KMeans, k=2, on the features) and the
               60 % of them on one side are relabeled as 4 (DOMAIN.md §4);
  (c) both:    (b), plus 10 % uniform flips among the other items.

Features: the built-in ``image-basic`` embedder on the 8×8 digits rendered as 32×32 grayscale PIL images
(``--features raw`` uses the 64 standardized pixels instead). Both methods see the same space: the
embedding reduced by ``reduce_embeddings`` (PCA to 64 dims). The baseline is cleanlab's
``cleanlab.filter.find_label_issues`` on out-of-fold probabilities of the same classifier (the
logistic regression of ``out_of_fold_probs``: same folds, same regularization, same features).

Reported per scenario: precision / recall / F1 of the flagged items against the corrupted items, and
the share of the jaguar group found inside ONE reported suspicious cluster (cleanlab reports no groups;
its recall on the jaguar items is shown instead).

``--scale N``: the digits augmented to N items by random ±1-pixel shifts and N(0, 1) pixel noise, with
the same corruption as (c): every augmented copy of the jaguar originals (the same 60 % of the nines,
chosen on the 1,797 originals) is relabeled as 4 — a 2-means split of the *augmented* nines would cut
them by shift direction rather than by style — plus 10 % uniform flips of individual items. Timed:
features + PCA + kNN graph + UMAP 2-D map + scores, with the process's CPU time and peak resident
memory. Numba's compilation (pynndescent, UMAP) on first use in a process is counted; its cache goes
to ``var/numba-cache`` (unless NUMBA_CACHE_DIR is set) so later runs compile less.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.embeddings.projection import configure_numba_cache  # noqa: E402

configure_numba_cache(ROOT / "var" / "numba-cache")  # before anything imports numba

import numpy as np  # noqa: E402

from analysis.embeddings.projection import knn_graph, project_2d  # noqa: E402
from analysis.embeddings.registry import get_embedder  # noqa: E402
from analysis.metrics.label_issues import (  # noqa: E402
    find_label_issues,
    out_of_fold_probs,
    reduce_embeddings,
)

N_CLASSES = 10


# ------------------------------------------------------------------------------------------------
# data and corruption
# ------------------------------------------------------------------------------------------------
def render(images8: np.ndarray, size: int = 32) -> list:
    """8×8 digit arrays (values 0..16) -> grayscale PIL images of size×size (bilinear upscaling)."""
    from PIL import Image

    out = []
    for a in images8:
        g = np.clip(a * (255.0 / 16.0), 0, 255).astype(np.uint8)
        out.append(Image.fromarray(g, mode="L").resize((size, size), Image.Resampling.BILINEAR))
    return out


def featurize(images8: np.ndarray, kind: str, batch: int = 4096) -> np.ndarray:
    """Features for the digit arrays: the image-basic embedder on rendered images, or raw pixels."""
    if kind == "raw":
        flat = images8.reshape(len(images8), -1).astype(np.float32)
        return (flat - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-6)
    emb = get_embedder("image-basic")
    out = np.empty((len(images8), emb.dim), dtype=np.float32)
    for s in range(0, len(images8), batch):  # render in slices: bounded memory at 100k
        out[s : s + batch] = emb.embed(render(images8[s : s + batch]))
    return out


def uniform_flips(labels: np.ndarray, frac: float, rng, exclude=None) -> np.ndarray:
    """Indices of ``frac``·n items (outside ``exclude``), each given a different random label."""
    cand = np.setdiff1d(np.arange(len(labels)), exclude if exclude is not None else [])
    idx = np.sort(rng.choice(cand, int(round(frac * len(labels))), replace=False))
    shift = rng.integers(1, N_CLASSES, size=len(idx))
    labels[idx] = (labels[idx] + shift) % N_CLASSES
    return idx


def jaguar_group(X: np.ndarray, labels: np.ndarray, src: int, frac: float, seed: int) -> np.ndarray:
    """The ``frac`` of items of class ``src`` on one side of a 2-means split of their features."""
    from sklearn.cluster import KMeans

    idx = np.flatnonzero(labels == src)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(X[idx])
    d = km.transform(X[idx])
    big = int(np.argmax(np.bincount(km.labels_)))
    order = np.argsort(d[:, big] - d[:, 1 - big], kind="stable")  # most typical of the big side first
    return np.sort(idx[order[: int(round(frac * len(idx)))]])


def corrupt(X, y, scenario: str, seed: int, *, src=9, dst=4, frac=0.6, flip=0.10):
    """(noisy labels, boolean mask of corrupted items, jaguar indices or empty)."""
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    jag = np.array([], dtype=np.int64)
    if scenario in ("jaguar", "both"):
        jag = jaguar_group(X, y, src, frac, seed)
        noisy[jag] = dst
    if scenario in ("uniform", "both"):
        uniform_flips(noisy, flip, rng, exclude=jag)
    return noisy, noisy != y, jag


# ------------------------------------------------------------------------------------------------
# scoring
# ------------------------------------------------------------------------------------------------
def prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(flagged & truth))
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def jaguar_in_one_cluster(result, jag: np.ndarray) -> tuple[float, str]:
    if len(jag) == 0:
        return float("nan"), ""
    best, desc = 0.0, "none"
    for c in result.clusters:
        share = float(np.isin(jag, c["items"]).mean())
        if share > best:
            best, desc = share, f"{c['size']} labeled {c['label']} -> {c['suggested_label']}"
    return best, desc


def cleanlab_flags(Z: np.ndarray, noisy: np.ndarray, seed: int) -> np.ndarray:
    from cleanlab.filter import find_label_issues as cl_find_label_issues

    probs = out_of_fold_probs(Z, noisy, N_CLASSES, seed=seed)
    return np.asarray(cl_find_label_issues(noisy, probs, filter_by="prune_by_noise_rate", n_jobs=1), dtype=bool)


def report_row(name: str, flagged, truth, jag, jag_share=None, jag_desc="") -> str:
    p, r, f = prf(flagged, truth)
    extra = ""
    if len(jag):
        found = float(np.mean(flagged[jag]))
        extra = f"  jaguar flagged {found:6.1%}"
        extra += f"  in ONE cluster {jag_share:6.1%} ({jag_desc})" if jag_share is not None else "  (no clusters)"
    return f"  {name:<34} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  flagged {int(flagged.sum()):6d}{extra}"


# ------------------------------------------------------------------------------------------------
# modes
# ------------------------------------------------------------------------------------------------
def run_digits(args) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    y = digits.target.astype(np.int64)
    t0 = time.perf_counter()
    X = featurize(digits.images, args.features)
    print(f"digits: {len(y)} items, features={args.features} dim={X.shape[1]} ({time.perf_counter() - t0:.1f}s)")
    Z = reduce_embeddings(X, 64, args.seed)
    for scenario in ("uniform", "jaguar", "both"):
        noisy, truth, jag = corrupt(X, y, scenario, args.seed)
        t = time.perf_counter()
        res = find_label_issues(X, noisy, n_classes=N_CLASSES, k=args.k, seed=args.seed)
        dt = time.perf_counter() - t
        share, desc = jaguar_in_one_cluster(res, jag)
        print(
            f"scenario ({'abc'[('uniform', 'jaguar', 'both').index(scenario)]}) {scenario}: "
            f"{int(truth.sum())} corrupted items, {len(res.clusters)} suspicious cluster(s), {dt:.1f}s"
        )
        print(report_row("ours (items + clusters)", res.flagged, truth, jag, share, desc))
        items_only = find_label_issues(X, noisy, n_classes=N_CLASSES, k=args.k, seed=args.seed, detect_clusters=False)
        print(report_row("ours, detect_clusters=False", items_only.flagged, truth, jag))
        print(report_row("cleanlab find_label_issues", cleanlab_flags(Z, noisy, args.seed), truth, jag))
        for c in res.clusters[:3]:
            print(
                f"    cluster: {c['description']} (share {c['share_suggested']:.2f}, "
                f"coherence {c['coherence']:.2f}); examples {c['examples']}, other side {c['neighbour_examples']}"
            )


def augment(images8: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n digits: each a random original shifted by up to ±1 px (zero fill) plus N(0, 1) pixel noise.
    Returns (images (n, 8, 8), index of each item's original)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(images8), size=n)
    out = np.empty((n, 8, 8), dtype=np.float32)
    padded = np.pad(images8, ((0, 0), (1, 1), (1, 1)))
    dx = rng.integers(-1, 2, size=n)
    dy = rng.integers(-1, 2, size=n)
    for sx in (-1, 0, 1):
        for sy in (-1, 0, 1):
            m = (dx == sx) & (dy == sy)
            out[m] = padded[src[m], 1 + sy : 9 + sy, 1 + sx : 9 + sx]
    out += rng.normal(0.0, 1.0, size=out.shape).astype(np.float32)
    np.clip(out, 0.0, 16.0, out=out)
    return out, src


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_scale(args) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, src = augment(digits.images, args.scale, args.seed)
    y = digits.target[src].astype(np.int64)
    print(
        f"augmented digits: {len(y)} items (shifts ±1 px, pixel noise), features={args.features}, "
        f"{os.cpu_count()} CPU(s), NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR')}"
    )
    # the same corruption as scenario (c): the jaguar group is the same visual sub-cluster of nines,
    # chosen on the 1,797 originals, so every augmented copy of those originals is relabeled as 4
    # (a 2-means split of the augmented nines would cut them by shift direction, not by style);
    # plus 10 % uniform flips of individual items
    base_jag = jaguar_group(featurize(digits.images, args.features), digits.target, 9, 0.6, args.seed)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    X = featurize(images, args.features)
    timings["features"] = time.perf_counter() - t
    t = time.perf_counter()
    Z = reduce_embeddings(X, 64, args.seed)
    timings["pca"] = time.perf_counter() - t
    del X
    noisy = y.copy()
    jag = np.flatnonzero(np.isin(src, base_jag))
    noisy[jag] = 4
    uniform_flips(noisy, 0.10, np.random.default_rng(args.seed), exclude=jag)
    truth = noisy != y
    t = time.perf_counter()
    knn = knn_graph(Z, args.k, seed=args.seed)
    timings["knn"] = time.perf_counter() - t
    t = time.perf_counter()
    xy = project_2d(Z, precomputed_knn=knn, seed=None if args.fast_umap else args.seed)
    timings["umap"] = time.perf_counter() - t
    t = time.perf_counter()
    res = find_label_issues(Z, noisy, n_classes=N_CLASSES, k=args.k, seed=args.seed, knn=knn, max_dim=0)
    timings["scores"] = time.perf_counter() - t
    total = time.perf_counter() - t_all
    cpu = cpu_seconds() - cpu0
    assert xy.shape == (len(y), 2) and np.all(np.isfinite(xy))
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()) + f"; total {total:.1f}s")
    load = os.getloadavg()[0]
    print(f"process CPU time {cpu:.1f}s over {total:.1f}s wall (1-min load average at the end {load:.1f})")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    share, desc = jaguar_in_one_cluster(res, jag)
    print(
        f"scenario (c) both: {int(truth.sum())} corrupted items ({len(jag)} in the jaguar group), "
        f"{len(res.clusters)} suspicious cluster(s)"
    )
    print(report_row("ours (items + clusters)", res.flagged, truth, jag, share, desc))
    t = time.perf_counter()
    cl = cleanlab_flags(Z, noisy, args.seed)
    print(
        report_row("cleanlab find_label_issues", cl, truth, jag) + f"  ({time.perf_counter() - t:.1f}s, not in total)"
    )
    print(
        f"targets: total < 180 s: {'yes' if total < 180 else 'NO'}; peak RSS < 4096 MB: "
        f"{'yes' if peak_rss_mb() < 4096 else 'NO'}"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=0, help="augment the digits to this many items")
    ap.add_argument("--features", choices=("image-basic", "raw"), default="image-basic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--fast-umap", action="store_true", help="unseeded, multi-threaded UMAP (--scale only)")
    args = ap.parse_args(argv)
    if args.scale:
        run_scale(args)
    else:
        run_digits(args)


if __name__ == "__main__":
    main()
