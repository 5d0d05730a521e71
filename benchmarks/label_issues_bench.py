"""Label-issue detection benchmark (no Django, no downloads).

    .venv/bin/python benchmarks/label_issues_bench.py --suite         # data sets x scenarios table
    .venv/bin/python benchmarks/label_issues_bench.py --suite --quick # the small data sets only
    .venv/bin/python benchmarks/label_issues_bench.py --suite --seeds 0-4  # each seed, then means
    .venv/bin/python benchmarks/label_issues_bench.py --suite --seeds 0-4 --dups  # with near-copies
    .venv/bin/python benchmarks/label_issues_bench.py                 # 1,797 digits, 3 scenarios
    .venv/bin/python benchmarks/label_issues_bench.py --scale 100000  # augmented, timing + peak RSS

``--suite``: data sets made by others and available offline — scikit-learn's bundled iris, wine and
breast-cancer tables (standardized columns), Gaussian mixtures with controlled overlap (each class two
touching sub-blobs; "low" and "high" overlap between classes), the demo's spoken-query clips (32 clips cut
into 0.75 s windows every 0.25 s, 164 items, built-in audio-mfcc features, label = the recording condition;
``speech-voice``: the same windows by the pretrained ``audio-voice``, skipped unless ``make embedders``
installed it); ``speech-rec`` and ``speech-voice-rec``: the same, with each window's recording given to the
detector (``find_label_issues(groups=...)``: a recording's windows are not each other's neighbours; cleanlab's
probabilities as in the rows without), pyjokes' jokes labeled by language (972 jokes in 10 languages, built-in
text-tfidf features; pyjokes is pinned in the dev extra, the data set is skipped without it) and the digits
(image-basic features) — each under four label sets (seeded). ``--quick`` leaves out the jokes and the digits;
``--only iris,speech`` picks data sets; ``--seeds 0-4`` runs the table once per seed and then sums it up per
data set and scenario (mean F1 beside cleanlab's, on how many seeds ours was below it, mean group share and
oracle, false clusters summed).
  clean:   the true labels (every reported cluster is a false cluster);
  uniform: 10 % of the items get another label, uniformly at random;
  group:   one side of a 2-means split of the largest class (40 % of it, touching the rest of its
           class) relabeled as the nearest other class;
  tight:   8 items in the middle of a class's cloud (its most central item and its 7 nearest
           classmates) relabeled as the nearest other class: each one's nearest neighbours are the
           other seven.
``--dups``: the same, with near-duplicates added after the corruption (data set names get "+dups"): 5 %
of the items, at random, get ``--copies`` (11) more copies each, every feature jittered by 5 % of its
spread, each copy carrying its original's true and given labels (so a relabeled group's copies are
relabeled too). ``--keep-duplicates`` makes the detector count every copy, as it did before it counted
each near-duplicate set once (``find_label_issues(collapse_duplicates=False)``).
Printed per data set and scenario: precision, recall, F1 of the flagged items, group recall (share of
the relabeled group inside ONE reported cluster), the oracle (the share of the group that a logistic
regression trained on the TRUE labels of every other item calls by its true label: what a linear model
learns about the group from the rest of the data when every other label is right; where it is below
90 %, the features barely tell the group from the class it was given), the number of reported
clusters (on clean labels: false clusters), beside cleanlab's ``find_label_issues`` on out-of-fold
probabilities of the same logistic regression on the same features; CPU seconds beside wall time.

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
memory. Numba's compilation (UMAP's kernels) is counted; its cache goes where the app's does
(``var/numba-cache``, or ``numba-cache`` in LABELHUB_VAR_DIR, unless NUMBA_CACHE_DIR is set), so only
the first run on a machine compiles them (point NUMBA_CACHE_DIR at an empty folder to measure that
first run).
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

configure_numba_cache()  # before anything imports numba; the app's folder, so a warm cache is shared

import numpy as np  # noqa: E402

from analysis.embeddings.parallel import cores, embed_chunks  # noqa: E402
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


def featurize(images8: np.ndarray, kind: str, batch: int = 512, processes: int = 1) -> np.ndarray:
    """Features for the digit arrays: the image-basic embedder on rendered images (in ``processes``
    worker processes, chunks of ``batch`` images, as the map job does), or raw pixels."""
    if kind == "raw":
        flat = images8.reshape(len(images8), -1).astype(np.float32)
        return (flat - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-6)
    emb = get_embedder("image-basic")
    out = np.empty((len(images8), emb.dim), dtype=np.float32)
    chunks = (render(images8[s : s + batch]) for s in range(0, len(images8), batch))  # bounded memory
    for s, block in zip(range(0, len(images8), batch), embed_chunks(emb, chunks, processes=processes), strict=True):
        out[s : s + batch] = block
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


def cleanlab_flags(Z: np.ndarray, noisy: np.ndarray, seed: int, n_classes: int = N_CLASSES) -> np.ndarray:
    from cleanlab.filter import find_label_issues as cl_find_label_issues

    probs = out_of_fold_probs(Z, noisy, n_classes, seed=seed)
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
    """CPU time of this process and of its finished children (the feature workers)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


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
    timings: dict[str, tuple[float, float]] = {}  # stage -> (wall, CPU) seconds
    stage: list = []

    def start() -> None:
        stage[:] = [time.perf_counter(), cpu_seconds()]

    def stop(name: str) -> None:
        timings[name] = (time.perf_counter() - stage[0], cpu_seconds() - stage[1])

    t_all = time.perf_counter()
    cpu0 = cpu_seconds()
    start()
    X = featurize(images, args.features, processes=args.processes)
    stop("features")
    start()
    Z = reduce_embeddings(X, 64, args.seed)
    stop("pca")
    del X
    noisy = y.copy()
    jag = np.flatnonzero(np.isin(src, base_jag))
    noisy[jag] = 4
    uniform_flips(noisy, 0.10, np.random.default_rng(args.seed), exclude=jag)
    truth = noisy != y
    start()
    knn = knn_graph(Z, args.k, seed=args.seed)
    stop("knn")
    start()
    # as the map job: unseeded UMAP, on every core (--seeded-umap: reproducible, one thread)
    xy = project_2d(Z, precomputed_knn=knn, seed=args.seed if args.seeded_umap else None)
    stop("umap")
    start()
    res = find_label_issues(Z, noisy, n_classes=N_CLASSES, k=args.k, seed=args.seed, knn=knn, max_dim=0)
    stop("scores")
    total = time.perf_counter() - t_all
    cpu = cpu_seconds() - cpu0
    assert xy.shape == (len(y), 2) and np.all(np.isfinite(xy))
    print("stages (wall / CPU): " + ", ".join(f"{k} {w:.1f}s / {c:.1f}s" for k, (w, c) in timings.items()))
    print(f"total {total:.1f}s wall")
    load = os.getloadavg()[0]
    print(f"process CPU time {cpu:.1f}s over {total:.1f}s wall (1-min load average at the end {load:.1f})")
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(f"peak RSS {peak_rss_mb():.0f} MB (largest feature worker process: {workers:.0f} MB)")
    share, desc = jaguar_in_one_cluster(res, jag)
    print(
        f"scenario (c) both: {int(truth.sum())} corrupted items ({len(jag)} in the jaguar group), "
        f"{len(res.clusters)} suspicious cluster(s); {res.params['near_duplicates']} items counted as near-copies"
    )
    print(report_row("ours (items + clusters)", res.flagged, truth, jag, share, desc))
    for c in res.clusters:
        items = np.asarray(c["items"])
        print(f"    cluster: {c['description']}; {truth[items].mean():.1%} of its items mislabeled")
    t = time.perf_counter()
    cl = cleanlab_flags(Z, noisy, args.seed)
    print(
        report_row("cleanlab find_label_issues", cl, truth, jag) + f"  ({time.perf_counter() - t:.1f}s, not in total)"
    )
    if args.save:
        np.savez(args.save, Z=Z, noisy=noisy, truth=truth, jag=jag, knn_ind=knn[0], knn_dist=knn[1])
    print(
        f"targets: total < 90 s: {'yes' if total < 90 else 'NO'}; peak RSS < 2048 MB: "
        f"{'yes' if peak_rss_mb() < 2048 else 'NO'}"
    )


# ------------------------------------------------------------------------------------------------
# suite: other data sets
# ------------------------------------------------------------------------------------------------
def gaussian_mixture(
    overlap: str, seed: int, n_classes: int = 4, per_blob: int = 150, dim: int = 8, *, with_means: bool = False
):
    """Each class two unit-variance sub-blobs 3 apart (so that a 2-means split of a class is a real
    sub-style); class centres ``sep`` apart: 4.5 ("low" overlap) or 3.0 ("high"). ``with_means``: also
    the sub-blobs' means, (2 · n_classes, dim), class c's two at rows 2c and 2c + 1."""
    rng = np.random.default_rng(1000 + seed)
    sep = {"low": 4.5, "high": 3.0}[overlap]
    centres = rng.normal(size=(n_classes, dim))
    # push the class centres to pairwise distance ~sep: a regular simplex scaled, randomly rotated
    simplex = np.eye(n_classes, dim) * (sep / np.sqrt(2.0))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    centres = simplex @ q
    X, y, means = [], [], []
    for c in range(n_classes):
        offset = rng.normal(size=dim)
        offset *= 1.5 / np.linalg.norm(offset)
        for sgn in (-1.0, 1.0):
            means.append(centres[c] + sgn * offset)
            X.append(means[-1] + rng.normal(size=(per_blob, dim)))
            y += [c] * per_blob
    out = np.concatenate(X).astype(np.float32), np.asarray(y, dtype=np.int64)
    return (*out, np.asarray(means)) if with_means else out


def bayes_posterior(X: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The true class posterior of ``gaussian_mixture``'s data, (n, n_classes): equal priors, each
    class an equal mixture of two unit-variance Gaussians."""
    from scipy.special import logsumexp

    logd = -0.5 * ((X[:, None, :].astype(np.float64) - means[None]) ** 2).sum(axis=2)
    per_class = logsumexp(logd.reshape(len(X), -1, 2), axis=2)
    return np.exp(per_class - logsumexp(per_class, axis=1, keepdims=True))


def scan_score(labels: np.ndarray, probs: np.ndarray, ball: np.ndarray, c: int) -> float:
    """How unlikely it is that so many items of ``ball`` carry label ``c`` if each carried it with the
    probability ``probs`` gives: −log P(Binomial(len(ball), mean probability of c) ≥ the count)."""
    from scipy.stats import binom

    x = int((labels[ball] == c).sum())
    return float(-binom.logsf(x - 1, len(ball), max(float(probs[ball, c].mean()), 1e-6)))


def run_bayes(args) -> None:
    """Could any detector find the tight group in the Gaussian mixtures? The tight group is 8 items,
    a ball: its medoid and 7 nearest classmates, all given label B. Scored by ``scan_score`` against a
    posterior, beside the highest score of any ball of 8 nearest items (in which at least 5 carry a
    label the ball's posterior does not favour) on the CLEAN labels, i.e. what chance makes: with the
    true posterior (the data's generative model) and with the detector's estimate of it (the
    out-of-fold logistic regression on the same features)."""
    from sklearn.neighbors import NearestNeighbors

    print("tight group score vs the highest score chance gives a ball of 8 on clean labels")
    print(f"{'data set':<11} {'seed':>4} | {'true posterior':>22} | {'out-of-fold LR':>22} | p(B) at the group")
    for overlap in ("low", "high"):
        for seed in parse_seeds(args.seeds or "0-4"):
            X, y, means = gaussian_mixture(overlap, seed, with_means=True)
            K = int(y.max()) + 1
            noisy, group = suite_corrupt(X, y, "tight", seed)
            b = int(noisy[group[0]])
            balls = NearestNeighbors(n_neighbors=len(group)).fit(X).kneighbors(X, return_distance=False)
            Z = reduce_embeddings(X, 64, seed)
            true_p = bayes_posterior(X, means)
            est_noisy = out_of_fold_probs(Z, noisy, K, seed=seed)
            est_clean = out_of_fold_probs(Z, y, K, seed=seed)
            txt = []
            for post_noisy, post_clean in ((true_p, true_p), (est_noisy, est_clean)):
                chance = max(
                    (
                        scan_score(y, post_clean, ball, c)
                        for ball in balls
                        for c in np.unique(y[ball])
                        if (y[ball] == c).sum() >= 5 and c != int(post_clean[ball].mean(axis=0).argmax())
                    ),
                    default=0.0,
                )
                txt.append(f"{scan_score(noisy, post_noisy, group, b):9.1f} vs {chance:9.1f}")
            print(f"gauss-{overlap:<5} {seed:>4} | {txt[0]:>22} | {txt[1]:>22} | {true_p[group, b].mean():.3f}")


def load_dataset(name: str, seed: int):
    """(features (n, d) float32, true labels (n,) int64) for a suite data set; the ``-rec`` speech sets
    add (n,) groups: the recording each window was cut from."""
    from sklearn import datasets

    if name in ("iris", "wine", "breast_cancer"):
        d = getattr(datasets, f"load_{name}")()
        X = d.data.astype(np.float64)
        X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
        return X.astype(np.float32), d.target.astype(np.int64)
    if name.startswith("gauss-"):
        return gaussian_mixture(name.split("-", 1)[1], seed)
    if name == "digits":
        d = datasets.load_digits()
        return featurize(d.images, "image-basic"), d.target.astype(np.int64)
    if name == "jokes":
        return load_jokes()
    if name in ("speech", "speech-rec"):
        return load_speech(recordings=name.endswith("-rec"))
    if name in ("speech-voice", "speech-voice-rec"):
        return load_speech(embedder="audio-voice", recordings=name.endswith("-rec"))
    raise ValueError(name)


def load_jokes(min_per_language: int = 25):
    """pyjokes' one-line jokes (a package on the registry; the dev extra pins it), labeled by their
    language (a language-identification task: 10 languages with at least ``min_per_language``
    jokes, 972 jokes), featurised by the built-in ``text-tfidf`` embedder (word and character
    n-grams, TruncatedSVD) fitted on them. ``None`` when pyjokes is not installed."""
    try:
        from pyjokes.pyjokes import all_jokes
    except ImportError:
        return None
    texts, langs = [], []
    for lang in sorted(all_jokes):
        jokes = list(dict.fromkeys(all_jokes[lang]["all"]))  # a few jokes appear twice
        if len(jokes) >= min_per_language:
            texts += jokes
            langs += [lang] * len(jokes)
    codes = {lang: i for i, lang in enumerate(sorted(set(langs)))}
    X = get_embedder("text-tfidf").embed(texts)
    return X.astype(np.float32), np.array([codes[lang] for lang in langs], dtype=np.int64)


SPEECH_DIR = ROOT / "labeling" / "demo_data" / "speech"


def load_speech(window_s: float = 0.75, hop_s: float = 0.25, embedder: str = "audio-mfcc", recordings: bool = False):
    """The demo's 32 spoken-query clips (8 queries x 4 recording conditions), cut into ``window_s``
    windows every ``hop_s`` seconds (a few hundred items: 32 clips are too few for a group of 10),
    each featurised by the built-in ``audio-mfcc`` embedder (``speech``) or the pretrained ``audio-voice``
    (``speech-voice``: Resemblyzer's voice encoder, installed by ``make embedders``; None without it);
    label = the recording condition (clean, car noise, people noise, low bandwidth), the slice a speech
    project checks its data by. ``recordings``: also return each window's recording (0..31), which the
    ``-rec`` rows give the detector as ``groups`` (windows 0.25 s apart share two thirds of their sound:
    near-copies that vouch for each other's label)."""
    import json

    from analysis.embeddings.audio import load_audio

    if embedder == "audio-mfcc":
        emb = get_embedder("audio-mfcc")
    else:
        from analysis.embeddings.pretrained import pretrained_installed

        folder = os.environ.get("LABELHUB_MODELS_DIR") or str(
            Path(os.environ.get("LABELHUB_VAR_DIR") or ROOT / "var") / "models"
        )
        if not pretrained_installed(embedder, folder):
            return None
        emb = get_embedder(embedder, models_dir=folder)
    manifest = json.loads((SPEECH_DIR / "manifest.json").read_text())
    conditions = sorted({m["condition"] for m in manifest})
    waves, labels, recs = [], [], []
    win, hop = int(window_s * emb.sample_rate), int(hop_s * emb.sample_rate)
    for r, m in enumerate(manifest):
        wave = load_audio(str(SPEECH_DIR / m["file"]), sample_rate=emb.sample_rate, max_seconds=None)
        for s in range(0, max(len(wave) - win, 0) + 1, hop):
            waves.append(wave[s : s + win])
            labels.append(conditions.index(m["condition"]))
            recs.append(r)
    feats = [emb.features_from_wave(w) for w in waves] if embedder == "audio-mfcc" else emb.vectors_from_waves(waves)
    X = np.asarray(feats, dtype=np.float64)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
    if recordings:
        return X.astype(np.float32), np.asarray(labels, dtype=np.int64), np.asarray(recs, dtype=np.int64)
    return X.astype(np.float32), np.asarray(labels, dtype=np.int64)


def nearest_other_class(X: np.ndarray, y: np.ndarray, idx: np.ndarray) -> int:
    """The class (other than the items') whose centroid is nearest the items' centroid."""
    centre = X[idx].mean(axis=0)
    best, dst = np.inf, -1
    for c in np.unique(y):
        if c == y[idx[0]]:
            continue
        d = float(((X[y == c].mean(axis=0) - centre) ** 2).sum())
        if d < best:
            best, dst = d, int(c)
    return dst


def tight_group(X: np.ndarray, y: np.ndarray, src: int, size: int = 8) -> np.ndarray:
    """The most central item of class ``src`` and its ``size``−1 nearest classmates."""
    idx = np.flatnonzero(y == src)
    centre = np.median(X[idx], axis=0)
    medoid = idx[np.argmin(((X[idx] - centre) ** 2).sum(axis=1))]
    d = ((X[idx] - X[medoid]) ** 2).sum(axis=1)
    return np.sort(idx[np.argsort(d, kind="stable")[:size]])


def suite_corrupt(X, y, scenario: str, seed: int):
    """(noisy labels, the relabeled group or empty) for a suite scenario."""
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    group = np.array([], dtype=np.int64)
    K = int(y.max()) + 1
    if scenario == "uniform":
        idx = np.sort(rng.choice(len(y), int(round(0.10 * len(y))), replace=False))
        noisy[idx] = (noisy[idx] + rng.integers(1, K, size=len(idx))) % K
    elif scenario == "group":
        src = int(np.argmax(np.bincount(y)))
        group = jaguar_group(X, y, src, 0.4, seed)
        noisy[group] = nearest_other_class(X, y, group)
    elif scenario == "tight":
        # the class whose centre is farthest from the others': "inside" its cloud is far from any other
        src = int(np.argmax(np.bincount(y)))
        group = tight_group(X, y, src)
        noisy[group] = nearest_other_class(X, y, group)
    return noisy, group


def with_duplicates(X, y, noisy, group, seed: int, *, share=0.05, copies=11, jitter=0.05):
    """``--dups``: near-duplicates, as real collections hold them (the same photo uploaded twice,
    burst frames, re-encoded clips): ``share`` of the items, chosen at random, each get ``copies``
    more copies, every feature jittered by ``jitter`` of its standard deviation; a copy carries its
    original's true and given labels (one labeler labeled the batch), so a relabeled group's copies
    are relabeled too. Returns (X, y, noisy, group) with the copies appended."""
    rng = np.random.default_rng(5000 + seed)
    src = np.repeat(np.sort(rng.choice(len(y), int(round(share * len(y))), replace=False)), copies)
    jit = rng.normal(size=(len(src), X.shape[1])) * (jitter * X.std(axis=0))
    Xd = np.concatenate([X, (X[src] + jit).astype(X.dtype)])
    extra = len(y) + np.flatnonzero(np.isin(src, group))
    return Xd, np.concatenate([y, y[src]]), np.concatenate([noisy, noisy[src]]), np.concatenate([group, extra])


def oracle_share(Z: np.ndarray, y: np.ndarray, group: np.ndarray, C: float = 0.1) -> float:
    """The share of ``group`` that a logistic regression trained on the TRUE labels of every other item
    (standardized ``Z``, the detector's regularization) calls by its true label: what a linear model
    learns about the group from the rest of the data when every other label is right. Below 0.9, a
    detector that judges a group by what such a model trained on the rest says about it rarely puts
    90 % of it in one cluster (growth along the kNN graph can still add members)."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    Zs = StandardScaler().fit_transform(Z)
    rest = np.setdiff1d(np.arange(len(y)), group)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=C, max_iter=2000).fit(Zs[rest], y[rest])
    return float(np.mean(model.predict(Zs[group]) == y[group]))


def run_suite(args) -> list[dict]:
    names = ["iris", "wine", "breast_cancer", "gauss-low", "gauss-high", "speech", "speech-rec"]
    names += ["speech-voice", "speech-voice-rec"]
    if not args.quick:
        names += ["jokes", "digits"]
    if args.only:
        names = [n for n in args.only.split(",") if n]
    scenarios = ("clean", "uniform", "group", "tight")
    print(f"{os.cpu_count()} CPU(s); ours = find_label_issues(k={args.k}); cleanlab = prune_by_noise_rate on the")
    print("out-of-fold probabilities of the same logistic regression; 'group' = share of the relabeled group in ONE")
    print("reported cluster; 'cl' = clusters reported (on clean labels: false clusters); 'oracle' = share of the")
    print("group that a logistic regression trained on the TRUE labels of every other item calls by its true label")
    head = (
        f"{'data set':<16}{'n':>6} {'scenario':<8} | {'ours P':>6} {'R':>5} {'F1':>5} {'group':>6} {'oracle':>6}"
        f" {'cl':>3} {'wall':>5} {'cpu':>5} | {'clab P':>6} {'R':>5} {'F1':>5} | F1>=cl"
    )
    print(head)
    print("-" * len(head))
    misses = []
    rows: list[dict] = []
    wall_all, cpu_all = time.perf_counter(), cpu_seconds()
    for name in names:
        data = load_dataset(name, args.seed)
        if data is None:
            need = (
                "its model is not installed (make embedders)"
                if "-voice" in name
                else ("its package is not installed (pip install -e '.[dev]')")
            )
            print(f"{name:<16} skipped: {need}")
            misses.append(f"{name}: not run")
            continue
        X0, y0 = data[:2]
        groups0 = data[2] if len(data) > 2 else None
        K = int(y0.max()) + 1
        if args.dups:
            name += "+dups"
        for scenario in scenarios:
            noisy, group = suite_corrupt(X0, y0, scenario, args.seed)
            X, y, groups = X0, y0, groups0
            if args.dups:
                X, y, noisy, group = with_duplicates(X0, y0, noisy, group, args.seed, copies=args.copies)
                if groups is not None:  # a copy is a recording of its own
                    groups = np.concatenate([groups0, np.full(len(y) - len(y0), -1)])
            Z = reduce_embeddings(X, 64, args.seed)
            truth = noisy != y
            t, c0 = time.perf_counter(), cpu_seconds()
            res = find_label_issues(
                X,
                noisy,
                n_classes=K,
                k=args.k,
                seed=args.seed,
                collapse_duplicates=not args.keep_duplicates,
                groups=groups,
            )
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c0
            cl = cleanlab_flags(Z, noisy, args.seed, K)
            p, r, f = prf(res.flagged, truth)
            cp, cr, cf = prf(cl, truth)
            share, _ = jaguar_in_one_cluster(res, group)
            ok_f1 = scenario == "clean" or f >= cf - 1e-9
            oracle = oracle_share(Z, y, group) if len(group) else float("nan")
            gtxt = f"{share:6.1%} {oracle:6.1%}" if len(group) else "     -      -"
            if scenario == "clean":
                p = r = f = cp = cr = cf = float("nan")
                ok_f1 = len(res.clusters) == 0
            print(
                f"{name:<16}{len(y):>6} {scenario:<8} | {p:6.3f} {r:5.3f} {f:5.3f} {gtxt} {len(res.clusters):>3}"
                f" {wall:5.1f} {cpu:5.1f} | {cp:6.3f} {cr:5.3f} {cf:5.3f} | {'yes' if ok_f1 else 'NO'}"
                + (f"  flagged {int(res.flagged.sum())}" if scenario == "clean" else "")
            )
            rows.append(
                {
                    "data": name,
                    "scenario": scenario,
                    "f1": f,
                    "cl_f1": cf,
                    "ok_f1": ok_f1,
                    "group": share,
                    "oracle": oracle,
                    "clusters": len(res.clusters),
                }
            )
            if not ok_f1:
                misses.append(f"{name}/{scenario}: " + ("false clusters" if scenario == "clean" else "F1 < cleanlab"))
            if len(group) and share < 0.9:
                misses.append(f"{name}/{scenario}: group recall {share:.0%} (oracle {oracle:.0%})")
            if args.verbose:
                for c in res.clusters[:4]:
                    print(f"      {c['description']} (share {c['share_suggested']:.2f})")
    wall, cpu = time.perf_counter() - wall_all, cpu_seconds() - cpu_all
    print(f"total: {wall:.1f}s wall, {cpu:.1f}s CPU (1-min load average {os.getloadavg()[0]:.1f})")
    print("targets missed: " + ("none" if not misses else "; ".join(misses)))
    return rows


def parse_seeds(text: str) -> list[int]:
    """ "0-4" or "0,2,5" -> a list of seeds."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += list(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def run_suite_seeds(args) -> None:
    """The suite once per seed, then per data set and scenario over the seeds: mean F1 (ours and
    cleanlab's), on how many seeds ours was below cleanlab's, the mean share of the group in one
    cluster and on how many seeds it was below 90 %, the mean oracle, and false clusters on clean
    labels summed over the seeds. One seed of a 178-item table moves F1 by .03 an item."""
    seeds = parse_seeds(args.seeds)
    table: dict[tuple[str, str], list[dict]] = {}
    for seed in seeds:
        args.seed = seed
        print(f"\n== seed {seed}")
        for row in run_suite(args):
            table.setdefault((row["data"], row["scenario"]), []).append(row)
    print(f"\n== over seeds {args.seeds} ({len(seeds)} seeds)")
    head = (
        f"{'data set':<16} {'scenario':<8} | {'ours F1':>7} {'clab F1':>7} {'below':>5} | {'group':>6}"
        f" {'<90%':>4} {'oracle':>6} | {'false cl':>8}"
    )
    print(head)
    print("-" * len(head))
    below_mean, below_any, group_low, group_low_oracle, false_cl = [], 0, 0, 0, 0
    for (name, scenario), rs in table.items():
        if scenario == "clean":
            n_false = sum(r["clusters"] for r in rs)
            false_cl += n_false
            print(f"{name:<16} {scenario:<8} | {'':>7} {'':>7} {'':>5} | {'':>6} {'':>4} {'':>6} | {n_false:>8}")
            continue
        f1 = float(np.mean([r["f1"] for r in rs]))
        cf = float(np.mean([r["cl_f1"] for r in rs]))
        below = sum(not r["ok_f1"] for r in rs)
        below_any += below
        if f1 < cf - 1e-9:
            below_mean.append(f"{name}/{scenario}")
        gtxt = f"{'-':>6} {'':>4} {'-':>6}"
        if scenario != "uniform":
            low = sum(r["group"] < 0.9 for r in rs)
            group_low += low
            group_low_oracle += sum(r["group"] < 0.9 and r["oracle"] >= 0.9 for r in rs)
            gtxt = f"{np.mean([r['group'] for r in rs]):6.1%} {low:>4} {np.mean([r['oracle'] for r in rs]):6.1%}"
        print(f"{name:<16} {scenario:<8} | {f1:7.3f} {cf:7.3f} {below:>5} | {gtxt} |")
    print(
        f"rows below cleanlab's F1: {below_any} (seed by seed); data set x scenario below it on the mean: "
        + (", ".join(below_mean) or "none")
        + f"; group rows below 90 % in one cluster: {group_low} ({group_low_oracle} of them with an oracle of 90 %"
        + f" or more); false clusters on clean labels: {false_cl}"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=0, help="augment the digits to this many items")
    ap.add_argument("--features", choices=("image-basic", "raw"), default="image-basic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--fast-umap", action="store_true", help="(the default now; kept for old command lines)")
    ap.add_argument("--seeded-umap", action="store_true", help="seeded, one-thread UMAP (--scale only)")
    ap.add_argument("--processes", type=int, default=cores(), help="feature worker processes (--scale only)")
    ap.add_argument("--suite", action="store_true", help="the data sets x scenarios table")
    ap.add_argument("--quick", action="store_true", help="--suite without the slower data sets")
    ap.add_argument("--verbose", action="store_true", help="--suite: print the reported clusters")
    ap.add_argument("--only", default="", help="--suite: comma-separated data set names")
    ap.add_argument("--seeds", default="", help="--suite over several seeds (e.g. 0-4) and a summary over them")
    ap.add_argument("--save", default="", help="--scale: save the features, labels and kNN graph to this .npz")
    ap.add_argument("--dups", action="store_true", help="--suite: 5 %% of the items get --copies near-copies each")
    ap.add_argument("--copies", type=int, default=11, help="--dups: near-copies per duplicated item")
    ap.add_argument(
        "--keep-duplicates", action="store_true", help="--suite: the detector counts every near-copy (the old way)"
    )
    ap.add_argument("--bayes", action="store_true", help="the Gaussian tight groups: true vs estimated posterior")
    args = ap.parse_args(argv)
    if args.bayes:
        run_bayes(args)
    elif args.suite and args.seeds:
        run_suite_seeds(args)
    elif args.suite:
        run_suite(args)
    elif args.scale:
        run_scale(args)
    else:
        run_digits(args)


if __name__ == "__main__":
    main()
