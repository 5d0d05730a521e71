"""kNN graph and 2-D map (no Django). The UMAP test pays numba's compilation once per process (cached
under var/numba-cache afterwards)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.embeddings.projection import configure_numba_cache, knn_graph, project_2d


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(3, 8))
    X = np.concatenate([c + rng.normal(size=(40, 8)) for c in centres]).astype(np.float32)
    return X, np.repeat(np.arange(3), 40)


def test_knn_graph_exact_matches_brute_force_and_excludes_self(blobs):
    X, _ = blobs
    ind, dist = knn_graph(X, 5)
    assert ind.shape == dist.shape == (len(X), 5)
    assert ind.dtype == np.int32 and dist.dtype == np.float32
    assert not np.any(ind == np.arange(len(X))[:, None])
    assert np.all(np.diff(dist, axis=1) >= 0)
    d = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :5], rtol=1e-4, atol=1e-4)


def test_knn_graph_handles_exact_duplicates_and_small_n():
    X = np.zeros((4, 3), dtype=np.float32)  # all identical: self may not come first
    ind, dist = knn_graph(X, 10)  # k is capped at n - 1
    assert ind.shape == (4, 3)
    assert not np.any(ind == np.arange(4)[:, None])
    assert np.all(dist == 0)
    with pytest.raises(ValueError):
        knn_graph(np.array([[np.nan, 1.0], [0.0, 1.0]]), 1)


def test_knn_graph_approximate_method_agrees_with_exact(blobs):
    X, _ = blobs
    exact, _ = knn_graph(X, 5, method="exact")
    approx, _ = knn_graph(X, 5, method="nndescent", seed=0)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact, approx, strict=True)])
    assert recall > 0.9


def test_project_2d_with_precomputed_knn_is_finite_and_seeded(blobs):
    configure_numba_cache()
    X, y = blobs
    knn = knn_graph(X, 10)
    a = project_2d(X, precomputed_knn=knn, seed=0, n_epochs=100)
    b = project_2d(X, precomputed_knn=knn, seed=0, n_epochs=100)
    assert a.shape == (len(X), 2) and a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    # the three blobs stay apart on the map: each point's nearest map neighbour is from its blob
    d = np.linalg.norm(a[:, None] - a[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert np.mean(y[d.argmin(axis=1)] == y) > 0.95


def test_project_2d_tiny_inputs_fall_back_to_pca():
    out = project_2d(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]))
    assert out.shape == (3, 2) and np.all(np.isfinite(out))


def test_large_maps_get_fewer_epochs():
    from analysis.embeddings.projection import default_epochs

    assert default_epochs(30_000) is None  # UMAP's own default
    assert default_epochs(100_000) == 100
    assert default_epochs(1_000_000) == 100
    assert 100 < default_epochs(60_000) < 200
