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


_KNN_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
from analysis.embeddings.projection import configure_numba_cache, knn_graph
configure_numba_cache()
X = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
ind, _ = knn_graph(X, 10, method="nndescent", seed=0, n_jobs=2)
from numba.core.registry import CPUDispatcher
compiled = sorted(
    f"{name}.{attr}"
    for name, module in list(sys.modules.items())
    if name.startswith("pynndescent")
    for attr, obj in vars(module).items()
    if isinstance(obj, CPUDispatcher) and sum(obj.stats.cache_misses.values())
)
np.save(sys.argv[1], ind)
print(json.dumps(compiled))
"""


def test_nn_descent_kernels_are_compiled_once_per_machine(tmp_path):
    """The map job's approximate kNN: a process that finds a kernel missing from numba's on-disk cache
    compiles it and keeps it there; the next process loads them all (compiles nothing) and finds the very
    same neighbours for the same seed.

    The cache starts as a copy of this machine's (``make test`` warms it) without the entry of
    ``nn_descent``, the kernel the others are called from, so the first process compiles that one only
    (about 10 s of CPU; all of them, about 40 s, from an empty cache when it was never warmed)."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from analysis.embeddings.projection import default_numba_cache

    root = Path(__file__).resolve().parents[3]
    cache = tmp_path / "numba-cache"
    machine_cache = Path(os.environ.get("NUMBA_CACHE_DIR") or default_numba_cache())
    for package in machine_cache.glob("pynndescent_*"):
        shutil.copytree(package, cache / package.name)
    for entry in cache.glob("pynndescent_*/pynndescent_.nn_descent-*"):
        entry.unlink()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(root))
    compiled = []
    for run in ("first", "second"):
        out = subprocess.run(
            [sys.executable, "-c", _KNN_IN_A_FRESH_PROCESS, str(tmp_path / f"{run}.npy")],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        compiled.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "pynndescent.pynndescent_.nn_descent" in compiled[0]  # the first process did compile
    assert compiled[1] == []
    first, second = np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy")
    np.testing.assert_array_equal(first, second)


def test_the_numba_cache_defaults_to_var_numba_cache_in_the_checkout(monkeypatch):
    """No variable set: the cache stays where it always was, var/numba-cache in the checkout."""
    from pathlib import Path

    from analysis.embeddings.projection import default_numba_cache

    monkeypatch.delenv("LABELHUB_VAR_DIR", raising=False)
    assert default_numba_cache() == Path(__file__).resolve().parents[3] / "var" / "numba-cache"


_CACHE_FOLDER_IN_A_FRESH_PROCESS = """
import os, sys
from analysis.embeddings.projection import configure_numba_cache
print(configure_numba_cache())
print(os.environ["NUMBA_CACHE_DIR"])
print("numba" in sys.modules)
"""


def _cache_folder_in_a_fresh_process(tmp_path, **env_vars) -> list[str]:
    """What a worker process started with ``env_vars`` takes as its numba cache (nothing compiled)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "LABELHUB_VAR_DIR")}
    env.update(env_vars, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", _CACHE_FOLDER_IN_A_FRESH_PROCESS],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_a_worker_given_labelhub_var_dir_keeps_its_numba_cache_there(tmp_path):
    """A worker whose LABELHUB_VAR_DIR points off a read-only checkout (or out of a container image)
    compiled the map's kernels into var/numba-cache in the checkout all the same; now into its own
    folder, which exists before numba reads it."""
    var = tmp_path / "worker-var"
    folder, env_folder, numba_imported = _cache_folder_in_a_fresh_process(tmp_path, LABELHUB_VAR_DIR=str(var))
    assert folder == env_folder == str(var / "numba-cache")
    assert (var / "numba-cache").is_dir()
    assert numba_imported == "False"


def test_an_explicit_numba_cache_dir_still_wins_over_labelhub_var_dir(tmp_path):
    chosen = tmp_path / "chosen"
    folder, env_folder, _ = _cache_folder_in_a_fresh_process(
        tmp_path, LABELHUB_VAR_DIR=str(tmp_path / "var"), NUMBA_CACHE_DIR=str(chosen)
    )
    assert folder == env_folder == str(chosen)
    assert not (tmp_path / "var").exists()


def test_the_suite_compiles_numba_kernels_into_its_cache_folder():
    """A test module imports numba on collection (ensemble-boxes does): numba then read no cache folder, and
    every map kernel of the suite's process was compiled again instead of loaded from the warmed cache."""
    import os

    import numba

    assert numba.config.CACHE_DIR
    assert os.environ["NUMBA_CACHE_DIR"] == numba.config.CACHE_DIR
