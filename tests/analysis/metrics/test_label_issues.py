"""Label-issue detection (the jaguar finder) on scikit-learn's digits and synthetic blobs; no Django.

The digits are embedded with the built-in image-basic embedder, as in benchmarks/label_issues_bench.py.
Corruptions are seeded; the detector never sees which items were corrupted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.embeddings.projection import knn_graph
from analysis.metrics.label_issues import (
    LabelIssuesResult,
    find_label_issues,
    out_of_fold_probs,
    reduce_embeddings,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def digits():
    from PIL import Image
    from sklearn.datasets import load_digits

    from analysis.embeddings import get_embedder

    d = load_digits()
    imgs = [
        Image.fromarray((a * 255 / 16).astype(np.uint8), mode="L").resize((32, 32), Image.Resampling.BILINEAR)
        for a in d.images
    ]
    return get_embedder("image-basic").embed(imgs), d.target.astype(np.int64)


def _flip(labels: np.ndarray, frac: float, seed: int, exclude=()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = labels.copy()
    cand = np.setdiff1d(np.arange(len(labels)), exclude)
    idx = rng.choice(cand, int(round(frac * len(labels))), replace=False)
    out[idx] = (out[idx] + rng.integers(1, 10, size=len(idx))) % 10
    return out


def _jaguar(X: np.ndarray, y: np.ndarray, src: int = 9, frac: float = 0.6) -> np.ndarray:
    """The ``frac`` of class ``src`` on one side of a 2-means split of its features (DOMAIN.md §4)."""
    from sklearn.cluster import KMeans

    idx = np.flatnonzero(y == src)
    km = KMeans(n_clusters=2, n_init=10, random_state=0).fit(X[idx])
    d = km.transform(X[idx])
    big = int(np.argmax(np.bincount(km.labels_)))
    return np.sort(idx[np.argsort(d[:, big] - d[:, 1 - big], kind="stable")[: int(round(frac * len(idx)))]])


def _prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = np.sum(flagged & truth)
    return tp / max(flagged.sum(), 1), tp / max(truth.sum(), 1)


# ------------------------------------------------------------------------------------------------
# digits
# ------------------------------------------------------------------------------------------------
def test_uniform_flips_are_found_with_decent_precision(digits):
    X, y = digits
    noisy = _flip(y, 0.10, seed=3)
    res = find_label_issues(X, noisy, seed=0)
    precision, recall = _prf(res.flagged, noisy != y)
    assert precision >= 0.9 and recall >= 0.75, (precision, recall)
    assert res.clusters == []  # scattered slips are not a group
    # flagged items suggest their true label most of the time
    hit = res.flagged & (noisy != y)
    assert np.mean(res.suggested_label[hit] == y[hit]) > 0.85
    # and the scores rank the flips first
    top = np.argsort(-res.score)[: int((noisy != y).sum())]
    assert np.mean((noisy != y)[top]) > 0.8


@pytest.mark.parametrize("flip_seed", [2, 4])
def test_uniform_flips_are_found_better_than_cleanlab_on_the_same_classifier(digits, flip_seed):
    """The slips flagged beat the reference a user would otherwise run: cleanlab's
    find_label_issues (prune by noise rate) on the out-of-fold probabilities of the same logistic
    regression. Flip seed 4 was below it (F1 0.862 vs 0.878) with the fixed half/half mix of the kNN
    vote and the classifier and the prune-by-noise-rate rule; now 0.897 (seed 2: 0.948 -> 0.966, the
    reference 0.879)."""
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    X, y = digits
    noisy = _flip(y, 0.10, seed=flip_seed)
    truth = noisy != y

    def f1(flagged):
        precision, recall = _prf(flagged, truth)
        return 2 * precision * recall / (precision + recall)

    ours = f1(find_label_issues(X, noisy, seed=0).flagged)
    probs = out_of_fold_probs(reduce_embeddings(X, 64, 0), noisy, 10, seed=0)
    reference = f1(cleanlab_find_label_issues(noisy, probs, filter_by="prune_by_noise_rate", n_jobs=1))
    assert ours >= reference + 0.01 and ours >= 0.89, (ours, reference)


def test_planted_coherent_cluster_is_reported_as_one_group_with_both_sides(digits):
    X, y = digits
    jag = _jaguar(X, y)
    noisy = y.copy()
    noisy[jag] = 4
    res = find_label_issues(X, noisy, seed=0)
    assert len(res.clusters) == 1
    c = res.clusters[0]
    assert (c["label"], c["suggested_label"]) == (4, 9)
    assert np.isin(jag, c["items"]).mean() >= 0.9
    assert np.mean(np.isin(c["items"], jag)) >= 0.9  # the group is the relabeled nines, not the fours
    assert c["size"] == len(c["items"]) and c["description"].startswith(f"{c['size']} items labeled 4")
    assert set(c["examples"]) <= set(c["items"]) and len(c["examples"]) > 0
    assert len(c["neighbour_examples"]) > 0 and all(noisy[i] == 9 for i in c["neighbour_examples"])
    assert 0.0 <= c["score"] <= 1.0
    assert np.all(res.flagged[c["items"]]) and np.all(res.cluster_id[c["items"]] == 0)
    assert np.all(res.suggested_label[c["items"]] == 9)
    # the correct nines around the group are not flagged because of it
    other_nines = np.setdiff1d(np.flatnonzero(y == 9), jag)
    assert res.flagged[other_nines].mean() < 0.1
    # what the per-item detectors alone see (DOMAIN.md's measured warning): almost nothing
    items_only = find_label_issues(X, noisy, seed=0, detect_clusters=False)
    assert items_only.flagged[jag].mean() < 0.1


def test_cluster_and_flips_together(digits):
    X, y = digits
    jag = _jaguar(X, y)
    noisy = y.copy()
    noisy[jag] = 4
    noisy = _flip(noisy, 0.10, seed=5, exclude=jag)
    res = find_label_issues(X, noisy, seed=0)
    precision, recall = _prf(res.flagged, noisy != y)
    assert precision >= 0.85 and recall >= 0.85, (precision, recall)
    best = max(np.isin(jag, c["items"]).mean() for c in res.clusters)
    assert best >= 0.9


def test_clean_data_yields_few_flags(digits):
    X, y = digits
    res = find_label_issues(X, y, seed=0)
    assert res.flagged.mean() < 0.02
    assert res.clusters == []


def test_same_seed_same_result(digits):
    X, y = digits
    jag = _jaguar(X, y)
    noisy = _flip(np.where(np.isin(np.arange(len(y)), jag), 4, y), 0.05, seed=1, exclude=jag)
    a = find_label_issues(X, noisy, seed=7)
    b = find_label_issues(X, noisy, seed=7)
    for name in ("flagged", "score", "suggested_label", "cluster_id", "pred_probs", "neighbour_disagreement"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.clusters == b.clusters


def test_precomputed_knn_gives_the_same_result(digits):
    X, y = digits
    noisy = _flip(y, 0.05, seed=2)
    Z = reduce_embeddings(X, 64, 0)
    knn = knn_graph(Z, 15)
    a = find_label_issues(X, noisy, seed=0)
    b = find_label_issues(X, noisy, seed=0, knn=knn)
    np.testing.assert_array_equal(a.flagged, b.flagged)
    np.testing.assert_allclose(a.score, b.score)


# ------------------------------------------------------------------------------------------------
# synthetic blobs: fast, and unlabeled items
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blobs():
    """Three classes; class 1 has two touching sub-blobs (a and b)."""
    rng = np.random.default_rng(0)
    centres = {0: [(0.0, 0.0)], 1: [(10.0, 0.0), (13.0, 0.0)], 2: [(5.0, 9.0)]}
    X, y, sub = [], [], []
    for c, cs in centres.items():
        for j, m in enumerate(cs):
            n = 90 if c != 1 else 70
            X.append(np.asarray(m) + rng.normal(size=(n, 2)))
            y += [c] * n
            sub += [j] * n
    X = np.concatenate(X)
    X = np.hstack([X, 0.1 * rng.normal(size=(len(X), 4))]).astype(np.float32)
    return X, np.asarray(y), np.asarray(sub)


def test_synthetic_relabeled_sub_blob_is_one_suspicious_cluster(blobs):
    X, y, sub = blobs
    planted = np.flatnonzero((y == 1) & (sub == 1))
    noisy = y.copy()
    noisy[planted] = 2  # a sub-blob of class 1 relabeled as 2: an island of 2 where 1 lives
    res = find_label_issues(X, noisy, seed=0)
    assert len(res.clusters) == 1
    c = res.clusters[0]
    assert (c["label"], c["suggested_label"]) == (2, 1)
    assert np.isin(planted, c["items"]).mean() >= 0.9


def test_unlabeled_items_are_scored_but_never_flagged(blobs):
    X, y, _ = blobs
    labels = _flip(y, 0.05, seed=4) % 3
    labels[::7] = -1
    res = find_label_issues(X, labels, n_classes=3, seed=0)
    assert isinstance(res, LabelIssuesResult)
    unl = labels == -1
    assert not res.flagged[unl].any()
    assert np.all(res.score[unl] == 0) and np.all(np.isnan(res.self_confidence[unl]))
    assert np.all((res.suggested_label[unl] >= 0) & (res.suggested_label[unl] < 3))
    assert np.mean(res.suggested_label[unl] == y[unl]) > 0.9
    assert res.pred_probs.shape == (len(y), 3)
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.all((res.score >= 0) & (res.score <= 1))
    issues = res.issues()
    assert all(r["reason"] in ("item", "cluster") for r in issues)
    assert [r["item"] for r in issues] == list(res.flagged_indices)


def test_input_validation():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="2-D"):
        find_label_issues(X[:, 0], np.zeros(20, int))
    with pytest.raises(ValueError, match="entries"):
        find_label_issues(X, np.zeros(19, int))
    with pytest.raises(ValueError, match="two distinct labels"):
        find_label_issues(X, np.zeros(20, int))
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        find_label_issues(X_nan, np.arange(20) % 2)
    with pytest.raises(ValueError, match="integer"):
        find_label_issues(X, np.arange(20) % 2 + 0.5)
    with pytest.raises(ValueError, match="n_classes"):
        find_label_issues(X, np.arange(20) % 3, n_classes=2)


# ------------------------------------------------------------------------------------------------
# guard
# ------------------------------------------------------------------------------------------------
def test_importing_detection_code_does_not_import_django():
    code = (
        "import sys\n"
        "import analysis.metrics.label_issues, analysis.embeddings, analysis.embeddings.projection\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------------------------------------------
# beyond the digits (issue 16): islands, mirror groups, clean labels on other data
# ------------------------------------------------------------------------------------------------
def _table(name: str):
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    X = (d.data - d.data.mean(axis=0)) / d.data.std(axis=0)
    return X.astype(np.float32), d.target.astype(np.int64)


def _island(X: np.ndarray, y: np.ndarray, src: int, size: int = 8) -> np.ndarray:
    """The most central item of class ``src`` and its nearest classmates: a tight group in the middle
    of the class's cloud."""
    idx = np.flatnonzero(y == src)
    medoid = idx[np.argmin(((X[idx] - np.median(X[idx], axis=0)) ** 2).sum(axis=1))]
    return np.sort(idx[np.argsort(((X[idx] - X[medoid]) ** 2).sum(axis=1), kind="stable")[:size]])


@pytest.mark.parametrize("name, src, dst", [("iris", 0, 1), ("breast_cancer", 1, 0), ("wine", 1, 0)])
def test_tight_group_inside_a_class_is_reported_as_one_cluster(name, src, dst):
    """8 items close together in the middle of class A's cloud, all labeled B: each one's nearest
    neighbours are the other seven, so the neighbour vote backs the wrong label. On wine the 8th
    item sits on the island's rim (5 of its 15 neighbours are correct items labeled B) and was left
    out of the cluster (7 of 8): it is a mutual neighbour of most of the island's members."""
    X, y = _table(name)
    island = _island(X, y, src)
    noisy = y.copy()
    noisy[island] = dst
    res = find_label_issues(X, noisy, seed=0)
    assert len(res.clusters) == 1, [c["description"] for c in res.clusters]
    c = res.clusters[0]
    assert (c["label"], c["suggested_label"]) == (dst, src)
    assert np.isin(island, c["items"]).all()
    assert np.isin(c["items"], island).mean() >= 0.7  # mostly the island, not the class around it
    assert np.all(res.suggested_label[island] == src)


def test_tight_group_in_the_digits(digits):
    X, y = digits
    island = _island(reduce_embeddings(X, 64, 0), y, 3)
    noisy = y.copy()
    noisy[island] = 9
    res = find_label_issues(X, noisy, seed=0)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(9, 3)]
    assert np.isin(island, res.clusters[0]["items"]).all()
    assert res.flagged[island].all()


def test_relabeled_group_has_no_mirror_cluster(digits):
    """Most sevens relabeled as 9: the group is reported, not the correct sevens next to it as
    "labeled 7 sitting among 9" (their only evidence is the relabeled group itself)."""
    X, y = digits
    group = _jaguar(X, y, src=7, frac=0.6)
    noisy = y.copy()
    noisy[group] = 9
    res = find_label_issues(X, noisy, seed=0)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(9, 7)]
    assert np.isin(group, res.clusters[0]["items"]).mean() >= 0.9
    other_sevens = np.setdiff1d(np.flatnonzero(y == 7), group)
    assert res.flagged[other_sevens].mean() < 0.1


def _augmented_digits(n: int, seed: int = 0):
    """``n`` digits, each a random original shifted by up to ±1 px plus N(0, 1) pixel noise, embedded as
    the fixture embeds the originals; returns (features, true labels, index of each item's original)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from analysis.embeddings import get_embedder

    d = load_digits()
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(d.images), size=n)
    padded = np.pad(d.images, ((0, 0), (1, 1), (1, 1)))
    dx, dy = rng.integers(-1, 2, size=n), rng.integers(-1, 2, size=n)
    imgs = np.stack([padded[s, 1 + b : 9 + b, 1 + a : 9 + a] for s, a, b in zip(src, dx, dy, strict=True)])
    imgs = np.clip(imgs + rng.normal(0.0, 1.0, size=imgs.shape), 0.0, 16.0)
    pil = [
        Image.fromarray((a * 255 / 16).astype(np.uint8), mode="L").resize((32, 32), Image.Resampling.BILINEAR)
        for a in imgs
    ]
    return get_embedder("image-basic").embed(pil), d.target[src].astype(np.int64), src


def test_relabeled_group_in_augmented_digits_is_one_cluster(digits):
    """5,000 noisy copies of the digits, every copy of 60 % of the nines (one style) labeled 4, plus
    10 % uniform flips: the relabeled nines are one cluster. The model without them calls them 9 only
    just over half the time (the rest 3 or 5, as a model trained on the true labels does), and the
    leaf tree cut them into parts that no kNN edge joins; before, no cluster was reported."""
    X0, y0 = digits
    X, y, src = _augmented_digits(5000)
    group = np.flatnonzero(np.isin(src, _jaguar(X0, y0)))
    noisy = y.copy()
    noisy[group] = 4
    noisy = _flip(noisy, 0.10, seed=0, exclude=group)
    res = find_label_issues(X, noisy, seed=0)
    assert res.clusters, "no cluster reported"
    best = max(res.clusters, key=lambda c: np.isin(group, c["items"]).mean())
    assert (best["label"], best["suggested_label"]) == (4, 9)
    assert np.isin(group, best["items"]).mean() >= 0.9
    assert np.isin(best["items"], group).mean() >= 0.9
    assert find_label_issues(X, y, seed=0).clusters == []


def test_clean_augmented_digits_yield_no_cluster():
    """3,000 noisy copies of the digits with their true labels: no group. A part of the nines that
    looks like threes, left out, is called 3 by the rest; it was reported as "labeled 9, among 3"
    when it was compared with one other part of the nines only."""
    X, y, _ = _augmented_digits(3000)
    assert find_label_issues(X, y, seed=0).clusters == []


def _mixture(sep: float, seed: int = 0):
    """Four classes, each two touching unit-variance sub-blobs, class centres ``sep`` apart (8-D)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    centres = np.eye(4, 8) * (sep / np.sqrt(2.0)) @ q
    X, y = [], []
    for c in range(4):
        offset = rng.normal(size=8)
        offset *= 1.5 / np.linalg.norm(offset)
        for sgn in (-1.0, 1.0):
            X.append(centres[c] + sgn * offset + rng.normal(size=(150, 8)))
            y += [c] * 150
    return np.concatenate(X).astype(np.float32), np.asarray(y)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "mixture-overlap"])
def test_clean_labels_yield_no_clusters(name):
    """Classes that overlap, or that a linear model cannot fit, are no relabeled groups."""
    X, y = _mixture(3.0, seed=1000) if name == "mixture-overlap" else _table(name)
    res = find_label_issues(X, y, seed=0)
    assert res.clusters == [], [c["description"] for c in res.clusters]


@pytest.mark.parametrize("seed", range(10))
def test_clean_iris_yields_no_cluster_whatever_the_seed(seed):
    """Any half of the virginicas that a linear model trained without it calls versicolor is no
    relabeled group when the other half, left out the same way, is called versicolor just as
    often (seed 4 reported all 50 virginicas as "labeled 2 sitting among 1")."""
    X, y = _table("iris")
    res = find_label_issues(X, y, seed=seed)
    assert res.clusters == [], [c["description"] for c in res.clusters]


def test_scattered_flips_across_a_class_border_are_no_cluster():
    """Iris with 10 % of the labels flipped at random: the flips near the versicolor / virginica
    border make a 25-item stretch of virginica look like versicolor to a model trained without it
    (22 of 25). That share is what a class border with noisy labels gives, not a relabeled group: the
    flips are reported one by one, and no "items labeled 2 sit among 1" cluster (whose 22 correct
    items would all be flagged)."""
    X, y = _table("iris")
    rng = np.random.default_rng(0)
    noisy = y.copy()
    idx = np.sort(rng.choice(len(y), 15, replace=False))
    noisy[idx] = (noisy[idx] + rng.integers(1, 3, size=len(idx))) % 3
    res = find_label_issues(X, noisy, seed=0)
    assert res.clusters == [], [c["description"] for c in res.clusters]
    precision, recall = _prf(res.flagged, noisy != y)
    assert precision >= 0.7 and recall >= 0.8, (precision, recall)


def test_relabeled_group_keeps_its_fringe():
    """40 % of the setosas, one side of a 2-means split, relabeled as versicolor: the three members
    on the far rim of the group have each other and the group as nearest neighbours, so they are
    neither solid evidence nor counted by the confident joint; they belong to the reported group."""
    X, y = _table("iris")
    group = _jaguar(X, y, src=0, frac=0.4)
    noisy = y.copy()
    noisy[group] = 1
    res = find_label_issues(X, noisy, seed=0)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(1, 0)]
    assert np.isin(group, res.clusters[0]["items"]).mean() >= 0.9
    assert np.isin(res.clusters[0]["items"], group).mean() >= 0.9


def _overlapping_mixture(seed: int = 0, sep: float = 3.0):
    """Four classes whose clouds overlap heavily (as the benchmark's "gauss-high"; with ``sep`` 4.5 its
    "gauss-low"): each class two touching unit-variance sub-blobs 3 apart, class centres ``sep``
    apart (8-D)."""
    rng = np.random.default_rng(1000 + seed)
    rng.normal(size=(4, 8))  # the benchmark draws (and discards) random centres first
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    centres = np.eye(4, 8) * (sep / np.sqrt(2.0)) @ q
    X, y = [], []
    for c in range(4):
        offset = rng.normal(size=8)
        offset *= 1.5 / np.linalg.norm(offset)
        for sgn in (-1.0, 1.0):
            X.append(centres[c] + sgn * offset + rng.normal(size=(150, 8)))
            y += [c] * 150
    return np.concatenate(X).astype(np.float32), np.asarray(y, dtype=np.int64)


def test_overlapping_classes_with_slips_give_no_cluster_of_correct_items():
    """Heavily overlapping classes, 10 % of the labels flipped at random: leaving out one sub-blob of a
    class, a model trained on the rest calls most of it another label — as it does any other large
    part of that class. Such a sub-blob (100 correctly labeled items) is no relabeled group; what
    is reported as a cluster must be mostly wrong labels."""
    X, y = _overlapping_mixture()
    rng = np.random.default_rng(0)
    noisy = y.copy()
    idx = np.sort(rng.choice(len(y), 120, replace=False))
    noisy[idx] = (noisy[idx] + rng.integers(1, 4, size=len(idx))) % 4
    res = find_label_issues(X, noisy, seed=0)
    for c in res.clusters:
        items = np.asarray(c["items"])
        assert np.mean(noisy[items] != y[items]) >= 0.5, c["description"]
    precision, recall = _prf(res.flagged, noisy != y)
    assert precision >= 0.45 and recall >= 0.7, (precision, recall)


@pytest.fixture(scope="module")
def jokes():
    """pyjokes' one-line jokes in the 10 languages with at least 25 of them (972 jokes), labeled by
    language, text-tfidf features (as benchmarks/label_issues_bench.py --suite)."""
    pytest.importorskip("pyjokes")
    from pyjokes.pyjokes import all_jokes

    from analysis.embeddings import get_embedder

    texts, langs = [], []
    for lang in sorted(all_jokes):
        jokes = list(dict.fromkeys(all_jokes[lang]["all"]))
        if len(jokes) >= 25:
            texts += jokes
            langs += [lang] * len(jokes)
    codes = {lang: i for i, lang in enumerate(sorted(set(langs)))}
    X = get_embedder("text-tfidf").embed(texts).astype(np.float32)
    return X, np.array([codes[lang] for lang in langs], dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relabeled_group_of_texts_is_reported_whole(jokes, seed):
    """pyjokes' jokes labeled by language (text-tfidf features), one side of a 2-means split of the
    largest language (113 jokes) relabeled as the nearest language. The leaf tree cuts the group: one
    part passes the leave-out test, the parts next to it are mixed with correctly labeled jokes and
    do not; the reported cluster takes them in (the items of its label next to it that a model
    trained without them calls the other label as surely as three quarters of the group's members:
    with the median member as the bar, seed 0's group was reported as 93 of its 113 jokes), so that
    the user sees the group as one cluster rather than 80 % of it. The language's own jokes, half of
    them left out, are not recognised by the rest either (the control test cannot tell the group
    from them), but the model without the group calls the group the other language with a clear
    majority (87 %), so the group is reported."""
    from sklearn.cluster import KMeans

    X, y = jokes
    src = int(np.argmax(np.bincount(y)))
    idx = np.flatnonzero(y == src)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(X[idx])
    d = km.transform(X[idx])
    big = int(np.argmax(np.bincount(km.labels_)))
    group = np.sort(idx[np.argsort(d[:, big] - d[:, 1 - big], kind="stable")[: int(round(0.4 * len(idx)))]])
    centre = X[group].mean(axis=0)
    dst = min((c for c in np.unique(y) if c != src), key=lambda c: ((X[y == c].mean(axis=0) - centre) ** 2).sum())
    noisy = y.copy()
    noisy[group] = dst
    res = find_label_issues(X, noisy, seed=seed)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    items = res.clusters[0]["items"]
    assert np.isin(group, items).mean() >= 0.9
    assert np.isin(items, group).mean() >= 0.9


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_uniform_flips_in_texts_give_no_cluster_of_correct_items(jokes, seed):
    """The jokes with 10 % of the labels flipped at random (as the benchmark's "uniform"). Slips into
    a small language (41 cs jokes, 9 slips into cs) are never solid evidence and make half of its own
    jokes lose their majority; the leaf tree of cs's 20 solid jokes passed "at most half of cs's 49
    items", was left out whole, and the model left without any cs joke called them English: "21
    items labeled cs sit among en", all correctly labeled (seed 4: 106 correct items in two clusters,
    F1 0.53 against cleanlab's 0.88). Scattered flips are reported one by one, and any cluster is
    mostly wrong labels."""
    X, y = jokes
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    idx = np.sort(rng.choice(len(y), int(round(0.10 * len(y))), replace=False))
    noisy[idx] = (noisy[idx] + rng.integers(1, 10, size=len(idx))) % 10
    res = find_label_issues(X, noisy, seed=seed)
    for c in res.clusters:
        items = np.asarray(c["items"])
        assert np.mean(noisy[items] != y[items]) >= 0.5, c["description"]
    precision, recall = _prf(res.flagged, noisy != y)
    assert precision >= 0.85 and recall >= 0.8, (precision, recall)


def _nearest_other(X: np.ndarray, y: np.ndarray, group: np.ndarray) -> int:
    centre = X[group].mean(axis=0)
    others = (c for c in np.unique(y) if c != y[group[0]])
    return int(min(others, key=lambda c: ((X[y == c].mean(axis=0) - centre) ** 2).sum()))


def _relabeled_island(X: np.ndarray, y: np.ndarray):
    """(noisy labels, the island, its true label, its new label): the largest class's 8 most central
    items relabeled as the class whose centre is nearest theirs."""
    src = int(np.argmax(np.bincount(y)))
    island = _island(X, y, src)
    dst = _nearest_other(X, y, island)
    noisy = y.copy()
    noisy[island] = dst
    return noisy, island, src, dst


@pytest.mark.parametrize("seed", [0, 2, 3, 4])
def test_tight_group_of_texts_is_reported_whole(jokes, seed):
    """8 jokes at the centre of the largest language relabeled as the nearest language (the
    benchmark's "tight"). Seeds 3 and 4: the 8th of them is a mutual kNN neighbour of only 2-3 of the
    7 others, so "mutual neighbour of at least half of the island" left it out (7 of 8 in the
    cluster); at least two fellow members and the leave-out model's vote for the other language take
    it in, and no correctly labeled joke around the island is one of two members' mutual neighbours.
    Seed 2: one member has 13 of its 15 neighbours labeled with the language it really is and
    touches one member only; the per-item step flags it with the island's suggestion, and touching
    the island, it joins it. Seed 0: two such members, the second touching only the first."""
    X, y = jokes
    noisy, island, src, dst = _relabeled_island(X, y)
    res = find_label_issues(X, noisy, seed=seed)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    items = res.clusters[0]["items"]
    assert np.isin(island, items).all()
    assert np.isin(items, island).mean() >= 0.85


def test_tight_group_in_overlapping_classes_is_reported_whole():
    """The benchmark's "gauss-low" mixture (seed 3), its largest class's 8 most central items relabeled
    as the nearest class: one member has, besides 4 fellow members, correct items of its new label
    among its neighbours; the island's rim trim dropped it (7 of 8 in the cluster), the island's core
    (mutual neighbours of at least two members that the model without them calls the other label)
    takes it back."""
    X, y = _overlapping_mixture(seed=3, sep=4.5)
    noisy, island, src, dst = _relabeled_island(X, y)
    res = find_label_issues(X, noisy, seed=3)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    assert np.isin(island, res.clusters[0]["items"]).all()
    assert np.isin(res.clusters[0]["items"], island).mean() >= 0.85


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_tight_group_where_classes_overlap_heavily_is_found_by_the_scan(seed):
    """The benchmark's "gauss-high" mixture: 8 central items of the largest class relabeled as the
    nearest class. 10-25 % of the items around the island carry its new label anyway, as around the
    clumps chance makes, so the island test (surrounded by the other label) passed it over on every
    seed. Its ball of 8 holds 6-8 of the label where the classifier gives it .1-.2, a score (13.5-19)
    no ball of the clean labels reaches (at most 7.5), and the scan reports it. Its growth takes in
    items of the new label around it that the per-item step flags as the class it sits in (seed 3:
    21 items, the 8 and 13 of the overlap; flagged either way)."""
    X, y = _overlapping_mixture(seed=seed)
    noisy, island, src, dst = _relabeled_island(X, y)
    res = find_label_issues(X, noisy, seed=seed)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    assert np.isin(island, res.clusters[0]["items"]).mean() >= 0.9
    assert np.isin(res.clusters[0]["items"], island).mean() >= 1 / 3


def test_correct_items_in_an_overlap_are_no_island():
    """The benchmark's "gauss-high" mixture (seed 3) with its true labels: 11 correct items labeled 0
    that the linear model calls 2, in an overlap where 70 % of their surroundings are labeled 2, were
    reported as an island ("11 items labeled 0 sit among 2", 14 with its growth). Their neighbours
    carry label 0 less often than the classifier expects (30 against 37): no fellow members backing
    each other, no island."""
    X, y = _overlapping_mixture(seed=3)
    res = find_label_issues(X, y, seed=3)
    assert res.clusters == [], [c["description"] for c in res.clusters]


def _clips(seed: int, n_queries: int = 8, n_conditions: int = 4, per: int = 5, dim: int = 64):
    """(X, condition, recording): 8 spoken queries x 4 recording conditions, 5 windows a recording, in 64
    dimensions: a window is its query's vector + its condition's + a little of its recording's + noise.
    Few items in many dimensions, as the spoken queries by the pretrained voice encoder are."""
    rng = np.random.default_rng(seed)
    queries, conditions = rng.normal(0, 1, (n_queries, dim)), rng.normal(0, 1, (n_conditions, dim))
    recordings = rng.normal(0, 1, (n_queries * n_conditions, dim))
    rec = np.repeat(np.arange(n_queries * n_conditions), per)
    query, condition = rec // n_conditions, rec % n_conditions
    X = queries[query] + conditions[condition] + 0.3 * recordings[rec] + 0.8 * rng.normal(0, 1, (len(rec), dim))
    return X.astype(np.float32), condition, rec


@pytest.mark.parametrize("seed", range(4))
def test_tight_group_that_the_fitted_classifier_learns_is_found(seed):
    """160 windows in 64 dimensions, 8 at the centre of one condition relabeled as another: a linear
    model fitted on every label bends around them (it gives them their wrong label), so neither the
    suspects nor the scan, which read that model, saw them: nothing was reported, at most 4 of the 8
    flagged one by one. A ball of one label that the out-of-fold classifier doubts, refitted without
    it, is called the other condition far beyond chance: all 8 are one cluster, and the clean labels
    give none."""
    X, condition, _ = _clips(seed)
    noisy, island, src, dst = _relabeled_island(X, condition)
    res = find_label_issues(X, noisy, seed=seed)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    assert sorted(res.clusters[0]["items"]) == sorted(island.tolist())
    assert res.flagged.sum() == 8
    assert find_label_issues(X, condition, seed=seed).clusters == []


def test_slips_next_to_each_other_do_not_vouch_for_each_other():
    """Twelve triples of slips in four Gaussian classes: an item and its two nearest classmates get the
    same wrong label, so each one's nearest neighbours carry its wrong label. The first pass counts
    how many items of each label are wrong; the items that fill that count are chosen by evidence
    without the suspects' own votes, so few correct items are flagged in their place (mean precision
    over five seeds 0.97; 0.90 when the first pass chose them)."""
    precisions, recalls = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(4, 6))
        centres *= 4.0 / np.linalg.norm(centres, axis=1, keepdims=True)
        X = np.concatenate([c + rng.normal(size=(150, 6)) for c in centres]).astype(np.float32)
        y = np.repeat(np.arange(4), 150)
        noisy = y.copy()
        for c in range(4):
            idx = np.flatnonzero(y == c)
            for a in rng.choice(idx, 3, replace=False):
                triple = idx[np.argsort(((X[idx] - X[a]) ** 2).sum(axis=1))[:3]]
                noisy[triple] = (c + rng.integers(1, 4)) % 4
        res = find_label_issues(X, noisy, seed=0)
        precision, recall = _prf(res.flagged, noisy != y)
        precisions.append(precision)
        recalls.append(recall)
    assert np.mean(precisions) >= 0.95, precisions
    assert np.mean(recalls) >= 0.5, recalls


# ------------------------------------------------------------------------------------------------
# near-duplicates
# ------------------------------------------------------------------------------------------------
def _with_copies(X: np.ndarray, labels: np.ndarray, seed: int, *, share=0.05, copies=11, jitter=0.05, of=None):
    """Near-duplicates as a real collection holds them (one photo uploaded again and again, burst
    frames): ``share`` of the items (or the items ``of``) get ``copies`` more copies each, every
    feature jittered by ``jitter`` of its spread, each copy carrying its original's labels (``labels``:
    a list of label arrays). Returns (X with the copies appended, the label arrays so extended, each
    item's original)."""
    rng = np.random.default_rng(5000 + seed)
    chosen = np.sort(rng.choice(len(X), int(round(share * len(X))), replace=False)) if of is None else of
    src = np.repeat(chosen, copies)
    jit = rng.normal(size=(len(src), X.shape[1])) * (jitter * X.std(axis=0))
    Xd = np.concatenate([X, (X[src] + jit).astype(X.dtype)])
    return Xd, [np.concatenate([lab, lab[src]]) for lab in labels], np.concatenate([np.arange(len(X)), src])


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_near_copies_of_correct_items_where_classes_overlap_are_no_cluster(seed):
    """The benchmark's "gauss-high" mixture with its true labels, 60 of its 1,200 items copied 11 times
    each (1,860 items): every copy is labeled right. Counted one by one, twelve copies of an item
    labeled B where A is more likely made islands far beyond chance, and whole overlaps were taken for
    relabeled groups ("158 items labeled 3 sit among items labeled 1", 3-6 false clusters a seed).
    Each set counts once, as the one item it is."""
    X, y = _overlapping_mixture(seed=seed)
    Xd, (yd,), _ = _with_copies(X, [y], seed)
    res = find_label_issues(Xd, yd, seed=seed)
    assert res.clusters == [], [c["description"] for c in res.clusters]
    assert res.params["near_duplicates"] >= 0.95 * 60 * 11  # copies found (a copy may stray beyond a fifth)


def test_copies_of_a_slip_do_not_vouch_for_it(digits):
    """The digits with 10 % uniform flips, then 90 originals copied 11 times each, a copy keeping its
    original's label (one labeler labeled the batch): a flipped item's copies are each other's nearest
    neighbours and back its wrong label in the kNN vote, and none of the 11 flipped sets was flagged
    (recall .47 of the wrong labels). Counted once, they are found as single slips are (9 of 11;
    recall .88, precision .98)."""
    X, y = digits
    noisy = _flip(y, 0.10, seed=0)
    Xd, (yd, noisyd), orig = _with_copies(X, [y, noisy], seed=0)
    res = find_label_issues(Xd, noisyd, seed=0)
    precision, recall = _prf(res.flagged, noisyd != yd)
    assert recall >= 0.85 and precision >= 0.95, (precision, recall)
    copied = np.flatnonzero(np.bincount(orig) > 1)
    flipped_sets = copied[noisy[copied] != y[copied]]
    assert np.mean(res.flagged[flipped_sets]) >= 0.8
    # a set is flagged whole or not at all, and its copies get their representative's suggestion
    for i in copied:
        members = np.flatnonzero(orig == i)
        assert len(set(res.flagged[members])) == 1
        assert len(set(res.suggested_label[members])) == 1


def test_a_relabeled_island_with_copies_is_reported_with_its_copies():
    """Iris: the 8 most central setosas relabeled versicolor, 3 of them then copied 11 times each (41
    items labeled versicolor among setosas; each copy within 0.5 % of a feature's spread: jittered by
    5 %, copies of the centre of the tight setosa cloud are no nearer each other than its flowers).
    The island is reported once, copies included; its examples are distinct flowers, not copies of
    one."""
    X, y = _table("iris")
    noisy, island, src, dst = _relabeled_island(X, y)
    Xd, (yd, noisyd), orig = _with_copies(X, [y, noisy], 0, of=island[:3], jitter=0.005)
    res = find_label_issues(Xd, noisyd, seed=0)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(dst, src)]
    items = np.asarray(res.clusters[0]["items"])
    relabeled = np.flatnonzero(np.isin(orig, island))
    assert np.isin(relabeled, items).all()
    assert res.clusters[0]["size"] == len(items) and res.clusters[0]["description"].startswith(f"{len(items)} items")
    examples = res.clusters[0]["examples"]
    assert len(set(orig[examples])) == len(examples)


def test_which_near_copies_count_once():
    """Copies with different labels are never one set (a copy labeled otherwise is exactly the
    disagreement to show); a set of 8 or more counts once; a smaller one only when its surroundings
    carry another label; pairs never."""
    from analysis.metrics.label_issues import _near_duplicates

    rng = np.random.default_rng(0)
    # five blobs far apart, 80 items each: blob 1 labeled 1, the others 0
    centres = np.eye(5, 6, dtype=np.float32) * 30
    X = np.concatenate([c + rng.normal(size=(80, 6)).astype(np.float32) for c in centres])
    labels = np.repeat([0, 1, 0, 0, 0], 80)
    blob = {b: np.arange(80 * b, 80 * b + 80) for b in range(5)}
    plan = [  # (name, original, copies, their label)
        ("big", blob[1][0], 9, 1),  # a set of 10 labeled like its surroundings: counts once
        ("agree", blob[1][40], 5, 1),  # a set of 6 labeled like its surroundings: left alone
        ("odd", blob[0][0], 5, 1),  # a 0 relabeled 1 with 5 copies, among 0s: counts once
        ("pair", blob[2][0], 1, 0),  # a pair: left alone
        ("mixed", blob[3][0], 5, 1),  # 5 copies labeled 1 of a 0: the original is no member
    ]
    Xd, ld, sets, first = [X], [labels], {}, len(X)
    for name, i, n, label in plan:
        Xd.append(X[i] + rng.normal(size=(n, 6)).astype(np.float32) * 0.01)
        ld.append(np.full(n, label))
        sets[name] = np.arange(first, first + n)
        first += n
    Xd, ld = np.concatenate(Xd), np.concatenate(ld)
    ld[blob[0][0]] = 1
    ind, dist = knn_graph(Xd, 15)
    rep = _near_duplicates(ld, ind, dist)
    assert set(rep[sets["big"]]) | {rep[blob[1][0]]} == {blob[1][0]}
    assert (rep[sets["agree"]] == sets["agree"]).all() and rep[blob[1][40]] == blob[1][40]
    assert set(rep[sets["odd"]]) | {rep[blob[0][0]]} == {blob[0][0]}
    assert (rep[sets["pair"]] == sets["pair"]).all() and rep[blob[2][0]] == blob[2][0]
    # the 5 copies labeled 1 of a 0 are one set of 5 among 0s without it: they count once
    assert rep[blob[3][0]] == blob[3][0] and len(set(rep[sets["mixed"]])) == 1
    # nothing else is touched
    others = np.setdiff1d(np.arange(len(X)), [p[1] for p in plan])
    assert (rep[others] == others).all()


def test_one_slip_deep_in_a_cleanly_separated_class_is_flagged():
    """Two well separated blobs, a relabeled group at the edge of one (reported as a cluster) and one
    slip in the middle of the other: p .93 for the class it sits in, .07 for its label. The confident
    joint counts an item as that class's only above the class's mean probability (.95 and more here),
    so it counted no wrong label of that kind and the slip was not flagged; it is now, as a sure slip
    (its label at most .1, another at least .9)."""
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 60)
    centres = np.array([[0.0] * 8, [6.0] * 8])
    X = centres[truth] + rng.normal(0, 1, (120, 8))
    X[60:80] = centres[1] + np.array([2.5] + [0.0] * 7) + rng.normal(0, 0.4, (20, 8))
    given = truth.copy()
    given[60:80] = 0
    given[0] = 1
    res = find_label_issues(X.astype(np.float32), given, n_classes=2, seed=0)
    assert [(c["label"], c["suggested_label"]) for c in res.clusters] == [(0, 1)]
    assert res.flagged[0] and res.suggested_label[0] == 0
    assert res.flagged_item.sum() <= 2, np.flatnonzero(res.flagged_item)


def _uniform_flips(y: np.ndarray, seed: int, frac: float = 0.10) -> np.ndarray:
    """The benchmark's "uniform": ``frac`` of the items get another label, uniformly at random."""
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    idx = np.sort(rng.choice(len(y), int(round(frac * len(y))), replace=False))
    noisy[idx] = (noisy[idx] + rng.integers(1, int(y.max()) + 1, size=len(idx))) % (int(y.max()) + 1)
    return noisy


@pytest.mark.parametrize("name, seed", [("wine", 2), ("wine", 3), ("iris", 0), ("iris", 2)])
def test_likely_slips_in_a_noisy_label_are_flagged_beyond_the_count(name, seed):
    """10 % uniform flips in cleanly separated classes: the confident joint counts a slip as another
    class's only above that class's mean probability (.9 and more), so slips at .75-.87 for the class
    they sit in were left out of the count and not flagged (wine: 13 and 14 of 18 found, cleanlab 15 and
    15). In a label where the count finds slips, one whose label has at most .2 and another label at
    least .8 is flagged too: one or two more slips found, no correct item more flagged."""
    X, y = _table(name)
    noisy = _uniform_flips(y, seed)
    wrong = noisy != y
    before = find_label_issues(X, noisy, seed=seed, likely_slip=0.0)
    after = find_label_issues(X, noisy, seed=seed)
    assert after.flagged[wrong].sum() > before.flagged[wrong].sum()
    assert after.flagged[~wrong].sum() == before.flagged[~wrong].sum()


def test_likely_slips_are_no_reason_in_a_label_without_slips():
    """Breast cancer, 8 central benign items relabeled malignant: the island is reported and its labels
    treated as unknown, and the count finds no slip of either label. Correct items in the overlap of
    the two classes (.11-.25 for their label) are no likely slips there: 5 of them were flagged when the
    bound held in every label (F1 .94 -> .74)."""
    X, y = _table("breast_cancer")
    noisy, island, _, _ = _relabeled_island(X, y)
    res = find_label_issues(X, noisy, seed=0, likely_slip=0.25)
    assert np.isin(island, np.flatnonzero(res.flagged)).all()
    assert res.flagged.sum() <= len(island) + 1, np.flatnonzero(res.flagged & ~np.isin(np.arange(len(y)), island))


def _relabeled_side(X: np.ndarray, y: np.ndarray, seed: int, frac: float = 0.4):
    """The benchmark's "group": the ``frac`` of the largest class most typical of the bigger side of a
    2-means split of it (KMeans seeded with ``seed``), relabeled as the class whose centre is nearest
    theirs. Returns (noisy labels, the group)."""
    from sklearn.cluster import KMeans

    src = int(np.argmax(np.bincount(y)))
    idx = np.flatnonzero(y == src)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(X[idx])
    d = km.transform(X[idx])
    big = int(np.argmax(np.bincount(km.labels_)))
    group = np.sort(idx[np.argsort(d[:, big] - d[:, 1 - big], kind="stable")[: int(round(frac * len(idx)))]])
    noisy = y.copy()
    noisy[group] = _nearest_other(X, y, group)
    return noisy, group


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_a_relabeled_group_that_the_rest_calls_its_true_class_only_mostly_is_reported(seed):
    """Wine: 28 of the 71 class-1 wines relabeled as class 2. Left out, the group is called "not 2" by
    a model trained on the rest for 15 of 19 (lower bound of that share .51-.54) — short of the .7 bar,
    since even a model trained on every other wine's TRUE label calls only 79 % of the group class 1 —
    and it was never reported (F1 .04). It sits among class 1 (84 % of its items touch one, 61-63 % of
    the wines around it are labeled 1) and a part of class 2 left out the same way is called "not 2"
    far less often (upper bound .20-.27): that is enough at the lower bar of .5."""
    X, y = _table("wine")
    noisy, group = _relabeled_side(X, y, seed)
    res = find_label_issues(X, noisy, seed=seed)
    assert len(res.clusters) == 1, [c["description"] for c in res.clusters]
    c = res.clusters[0]
    assert (c["label"], c["suggested_label"]) == (2, 1)
    assert np.isin(group, c["items"]).mean() >= 0.8
    assert np.isin(c["items"], group).all()


def test_a_border_of_a_class_with_near_copies_is_no_relabeled_group():
    """What the lower bar must not take: the benign tumours' 8 most central items relabeled malignant
    (an island, reported), then 28 items copied 11 times. 17 malignant items on the border, called
    "benign" by the model without them at 82 % (lower bound .57), touch benign items all, but only
    half of what surrounds them is benign (.51): a class's border, not a group sitting among another
    class, and it was reported as "111 items labeled 0 sit among items labeled 1"."""
    X, y = _table("breast_cancer")
    noisy, island, src, dst = _relabeled_island(X, y)
    Xd, (yd, noisyd), orig = _with_copies(X, [y, noisy], seed=0)
    res = find_label_issues(Xd, noisyd, seed=0)
    assert len(res.clusters) == 1, [c["description"] for c in res.clusters]
    assert np.isin(island, res.clusters[0]["items"]).all()
    assert np.isin(orig[res.clusters[0]["items"]], island).mean() >= 0.9  # the island and its copies


def test_clean_iris_with_near_copies_yields_no_cluster():
    """Iris with its true labels and 8 flowers copied 11 times: 25 virginicas next to the versicolors
    are called "not virginica" at 84 % (lower bound .64) when left out — but so is a part of the
    virginicas that is not them (upper bound .55): no cluster."""
    X, y = _table("iris")
    Xd, (yd,), _ = _with_copies(X, [y], seed=2)
    res = find_label_issues(Xd, yd, seed=2)
    assert res.clusters == [], [c["description"] for c in res.clusters]


def recordings(seed: int, n_rec: int = 60, per: int = 4, relabeled=(2, 3, 40)):
    """Two classes of 'recordings', each cut into ``per`` windows that are near-copies of each other;
    the ``relabeled`` recordings' windows all carry the other class. (X, true, given, groups)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_rec, 8))
    centres[n_rec // 2 :, 0] += 5.0
    truth = np.repeat(np.arange(n_rec) >= n_rec // 2, per).astype(np.int64)
    X = np.repeat(centres, per, axis=0) + rng.normal(0, 0.05, (n_rec * per, 8))
    groups = np.repeat(np.arange(n_rec), per)
    given = truth.copy()
    wrong = np.isin(groups, relabeled)
    given[wrong] = 1 - given[wrong]
    return X.astype(np.float32), truth, given, groups


def test_windows_of_one_recording_do_not_vouch_for_each_others_label():
    """A recording relabeled whole: its windows are each other's nearest neighbours, so their kNN vote
    backs the wrong label and nothing is flagged. Told which recording each window comes from
    (``groups``), the detector never takes a recording's windows as each other's neighbours and flags
    most of them, with few correct windows flagged."""
    found = found_grouped = false_grouped = n_wrong = 0
    for seed in range(3):
        X, truth, given, groups = recordings(seed)
        wrong = given != truth
        n_wrong += int(wrong.sum())
        found += int(find_label_issues(X, given, seed=seed).flagged[wrong].sum())
        res = find_label_issues(X, given, seed=seed, groups=groups)
        found_grouped += int(res.flagged[wrong].sum())
        false_grouped += int(res.flagged[~wrong].sum())
        assert res.params["k"] == 15
    assert found <= 0.25 * n_wrong
    assert found_grouped >= 0.75 * n_wrong
    assert false_grouped <= 5
    with pytest.raises(ValueError, match="one entry per item"):
        find_label_issues(X, given, groups=groups[:10])


def test_reducing_embeddings_leaves_them_unchanged_and_holds_one_copy_of_them():
    """A map's vectors are reduced once (PCA to 64 dimensions): 100,000 pretrained image vectors of 1,884
    dimensions are 754 MB, and the reduction held three arrays of that size (the vectors, their centred
    copy and PCA's own copy of it: 2.5 GB at the peak). Now the centred copy is the only one, PCA working
    on it in place, and the caller's vectors are left as they were."""
    import tracemalloc

    from sklearn.decomposition import PCA  # imported before the count, as the map job has it

    # wide, as pretrained vectors are (PCA's own working arrays, n x 74, are small beside them)
    X = np.random.default_rng(0).standard_normal((10_000, 1000), dtype=np.float32)
    before = X.copy()
    tracemalloc.start()
    try:
        Z = reduce_embeddings(X, 64, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(X, before)
    assert Z.shape == (10_000, 64) and Z.dtype == np.float32
    assert peak < 1.6 * X.nbytes, f"peak {peak / X.nbytes:.2f} x the vectors' size"
    # the same reduction as PCA on a centred copy, to the bit
    centred = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
    expected = PCA(n_components=64, svd_solver="randomized", random_state=0).fit_transform(centred)
    np.testing.assert_array_equal(Z, expected.astype(np.float32))


def test_a_caller_done_with_its_embeddings_has_them_reduced_without_a_copy():
    """The map job has no use for its vectors once reduced: ``overwrite=True`` centres them in place, so the
    reduction holds no copy of them (0.8 GB instead of 1.8 GB for 100,000 x 1,884), with the same result."""
    import tracemalloc

    from sklearn.decomposition import PCA  # noqa: F401 - imported before the count, as the map job has it

    X = np.random.default_rng(1).standard_normal((10_000, 1000), dtype=np.float32)
    expected = reduce_embeddings(X, 64, 0)
    tracemalloc.start()
    try:
        Z = reduce_embeddings(X, 64, 0, overwrite=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(Z, expected)
    assert peak < 0.5 * X.nbytes, f"peak {peak / X.nbytes:.2f} x the vectors' size"
