"""Neighbour graphs and 2-D maps of embeddings (no Django).

- ``knn_graph(X, k)``: the k nearest neighbours of every row (itself excluded), exact with
  scikit-learn up to ``exact_max_n`` rows, approximate with pynndescent (NN-descent) above. (The exact
  search would be cheaper above 20,000 rows too — 4.5 s of CPU at 30,000 rows against 34.5 s for
  NN-descent with a warm numba cache, 47 s at 100,000 — but on the clean-label augmented digits at
  30,000 items the label-issue detector then reports a false cluster of 22 threes "among eights"
  that it does not report on the NN-descent graph; left as it was until the detector is robust to it.)
- ``project_2d(X, ...)``: a UMAP map, optionally reusing that kNN graph (``precomputed_knn``) so the
  neighbour search is done once for the map and for label-issue detection.

Numba: umap-learn and pynndescent compile their kernels with numba on first use in a process
(20–50 s of CPU). ``configure_numba_cache()`` points numba's on-disk cache at ``numba-cache`` in
``LABELHUB_VAR_DIR`` (``var/numba-cache`` in the checkout when that is unset; or a given folder) so a
later process reuses what it can; call it before the first map or approximate kNN
in a process (it only sets ``NUMBA_CACHE_DIR`` when that is not set already). Neither library asks
numba to cache the kernels a map and an NN-descent run: ``project_2d`` and ``knn_graph`` recompile
them with ``cache=True`` once per process (``_cache_kernels``), so only the first map on a machine (or
after an upgrade of umap-learn, pynndescent or numba) pays their compilation; ``manage.py
warm_numba`` (``make warm``) pays it ahead of the first map. kNN stage of the label-issue benchmark at
100,000 items, CPU: 53 s on a machine's first run, 29 s -> 5 s on the next ones.

UMAP's default spectral initialisation is very slow on large, near-duplicate-heavy data (measured
8.5 min on 100k points); ``project_2d`` uses ``init="pca"`` by default (``"random"`` also works).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .parallel import cores

CHECKOUT_VAR_DIR = Path(__file__).resolve().parents[2] / "var"


def default_numba_cache() -> Path:
    """``numba-cache`` in the runtime folder the settings use (``LABELHUB_VAR_DIR``, else, unset or empty,
    ``var/``).

    Read from the environment at each call, as the settings read it (no Django here): a worker whose
    ``LABELHUB_VAR_DIR`` points off a read-only checkout or out of a container's image writes its
    compiled kernels there, and ``make warm`` stamps the same folder.
    """
    return Path(os.environ.get("LABELHUB_VAR_DIR") or CHECKOUT_VAR_DIR) / "numba-cache"  # empty is unset


def configure_numba_cache(path: str | os.PathLike | None = None) -> str:
    """Set ``NUMBA_CACHE_DIR`` (if unset) to ``path`` or ``default_numba_cache()``; return the folder in use.

    Must run before numba is imported to take effect; if numba is already imported the folder in
    force is returned unchanged.
    """
    current = os.environ.get("NUMBA_CACHE_DIR")
    if current:
        return current
    folder = os.fspath(path or default_numba_cache())
    if "numba" in sys.modules:
        return folder  # too late for this process: numba read its configuration at import
    os.makedirs(folder, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = folder
    return folder


def _default_jobs(n_jobs: int | None) -> int:
    """Threads for numba and scikit-learn: ``n_jobs``, else one per core this process may use."""
    return int(n_jobs) if n_jobs else max(1, cores())


def _as_matrix(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    return X


def _drop_self(ind: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from (n, k+1) neighbour lists (or the last entry when exact
    duplicates pushed the row itself out of its own list)."""
    n = ind.shape[0]
    own = ind == np.arange(n)[:, None]
    has_self = own.any(axis=1)
    drop_col = np.where(has_self, own.argmax(axis=1), ind.shape[1] - 1)
    keep = np.ones_like(ind, dtype=bool)
    keep[np.arange(n), drop_col] = False
    ind = ind[keep].reshape(n, -1)[:, :k]
    dist = dist[keep].reshape(n, -1)[:, :k]
    return ind, dist


def knn_graph(
    X,
    k: int = 15,
    *,
    metric: str = "euclidean",
    method: str = "auto",
    exact_max_n: int = 20_000,
    seed: int = 0,
    n_jobs: int | None = None,
    groups=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of each row of ``X`` (n, d), the row itself excluded.

    Returns ``(indices, distances)``: int32 and float32 arrays of shape (n, k), sorted by increasing
    distance. ``method``: ``"exact"`` (scikit-learn, brute force in blocks), ``"nndescent"``
    (pynndescent, approximate; recall is typically > 0.95 at these settings) or ``"auto"`` (exact up
    to ``exact_max_n`` rows). The exact method is deterministic; NN-descent is seeded with ``seed``
    but its parallel updates can make results differ slightly between runs.

    ``groups``: optional (n,) ints naming the group of each row (−1: in none). Rows of one group (the
    windows cut from one recording, the frames of one video, the photos of one object) are never each
    other's neighbours: each row gets its k nearest rows of other groups (see ``_knn_apart``).
    """
    X = _as_matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("knn_graph needs at least 2 rows")
    k = int(min(k, n - 1))
    if k < 1:
        raise ValueError("k must be >= 1")
    if method == "auto":
        method = "exact" if n <= exact_max_n else "nndescent"
    if groups is not None:
        return _knn_apart(X, k, groups, metric=metric, method=method, seed=seed, n_jobs=n_jobs)
    if method == "exact":
        from sklearn.neighbors import NearestNeighbors

        algorithm = "brute" if X.shape[1] > 15 else "auto"
        nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm=algorithm, n_jobs=_default_jobs(n_jobs))
        nn.fit(X)
        dist, ind = nn.kneighbors(X)
    elif method == "nndescent":
        configure_numba_cache()
        from pynndescent import NNDescent

        _cache_pynndescent_kernels()
        index = NNDescent(
            X,
            metric=metric,
            n_neighbors=k + 1,
            random_state=seed,
            n_jobs=_default_jobs(n_jobs),
            low_memory=True,
            compressed=True,
            verbose=False,
        )
        ind, dist = index.neighbor_graph
    else:
        raise ValueError(f"unknown method {method!r}: use 'auto', 'exact' or 'nndescent'")
    ind, dist = _drop_self(np.asarray(ind, dtype=np.int64), np.asarray(dist, dtype=np.float32), k)
    return ind.astype(np.int32), dist.astype(np.float32)


def _knn_apart(
    X: np.ndarray, k: int, groups, *, metric: str, method: str, seed: int, n_jobs: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """``knn_graph`` with the rows of one group kept apart: each row's k nearest rows of other groups.

    k is capped at the number of rows outside the largest group. Exact: distances a block of rows at
    a time, the row's own group set to infinity (deterministic). NN-descent (large data): the
    ``k + min(largest group − 1, 3k)`` nearest rows, the row's own group dropped; a row left with
    fewer than k (its group is large and its nearest rows are mostly its own) repeats its farthest
    kept neighbour, or keeps its own group's rows when none is left, so the graph keeps its shape."""
    n = X.shape[0]
    g = np.asarray(groups).astype(np.int64, copy=True)
    if g.shape != (n,):
        raise ValueError(f"groups must have one entry per row ({n}), got shape {g.shape}")
    alone = g < 0
    g[alone] = g.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    _, g = np.unique(g, return_inverse=True)
    largest = int(np.bincount(g).max())
    k = int(min(k, n - largest))
    if k < 1:
        raise ValueError("every row is in one group: no row has a neighbour outside its own")
    if method == "exact":
        from sklearn.metrics import pairwise_distances

        ind = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k), dtype=np.float32)
        block = max(1, (1 << 22) // n)  # about 4 million distances (32 MB) at a time
        for start in range(0, n, block):
            stop = min(n, start + block)
            d = pairwise_distances(X[start:stop], X, metric=metric, n_jobs=1).astype(np.float32)
            d[g[start:stop, None] == g[None, :]] = np.inf  # the row itself and its group
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            pd = np.take_along_axis(d, part, axis=1)
            order = np.argsort(pd, axis=1, kind="stable")
            ind[start:stop] = np.take_along_axis(part, order, axis=1)
            dist[start:stop] = np.take_along_axis(pd, order, axis=1)
        return ind.astype(np.int32), dist
    wide = int(min(n - 1, k + min(largest - 1, 3 * k)))
    ind, dist = knn_graph(X, wide, metric=metric, method=method, seed=seed, n_jobs=n_jobs)
    ind, dist = ind.astype(np.int64), dist
    apart = g[ind] != g[:, None]
    # each row's neighbours of other groups first, in their order, then its own group's
    order = np.argsort(~apart, axis=1, kind="stable")
    ind = np.take_along_axis(ind, order, axis=1)[:, :k]
    dist = np.take_along_axis(dist, order, axis=1)[:, :k]
    kept = apart.sum(axis=1)
    short = np.flatnonzero((kept < k) & (kept > 0))
    if len(short):
        cols = np.minimum(np.arange(k)[None, :], kept[short, None] - 1)
        ind[short] = np.take_along_axis(ind[short], cols, axis=1)
        dist[short] = np.take_along_axis(dist[short], cols, axis=1)
    return ind.astype(np.int32), dist.astype(np.float32)


_UMAP_KERNELS = (
    # (module, global name) of umap-learn's numba kernels a map runs: compiled without numba's on-disk
    # cache by umap-learn, so every process paid their compilation (about 10 s of CPU)
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch_parallel"),
)
_PYNNDESCENT_KERNELS = (
    # (module, global name) of pynndescent's kernels ``NNDescent`` compiles at run time (found with
    # ``dispatcher.stats.cache_misses`` after a build: every other kernel it runs is already compiled
    # with cache=True by pynndescent): about 20 s of CPU in every process (kNN stage at 30,000 rows:
    # 29 s of CPU with a warm cache before this, mostly compilation)
    ("pynndescent.pynndescent_", "process_candidates"),
    ("pynndescent.pynndescent_", "init_rp_tree"),
    ("pynndescent.pynndescent_", "init_random"),
    ("pynndescent.pynndescent_", "generate_leaf_updates"),
    ("pynndescent.utils", "deheap_sort"),
    ("pynndescent.utils", "build_candidates_owner"),
    ("pynndescent.utils", "generate_graph_update_array"),
    ("pynndescent.utils", "sort_updates_by_block"),
    ("pynndescent.utils", "apply_sorted_graph_update_array"),
    ("pynndescent.kernels", "generate_graph_update_array_batched"),
    # these two call numba.get_num_threads(), which numba cannot cache: they are recompiled with a
    # cacheable one (``_numba_threads``); the callers after the kernels they call
    ("pynndescent.pynndescent_", "nn_descent_internal"),
    ("pynndescent.pynndescent_", "nn_descent"),
)
_cached_kernel_sets: set[str] = set()


def _cache_kernels(kernels, package: str) -> None:
    """Swap numba kernels for the same functions compiled with ``cache=True`` (same options), so that
    their machine code is kept in ``NUMBA_CACHE_DIR`` and a later process loads it instead of
    compiling again. Every module of ``package`` that imported a swapped kernel by name gets the new
    one too (a kernel resolves the kernels it calls through its module's globals when compiled).
    Best effort: a kernel that is missing (another version of the library) or already cached is left
    as it is; nothing changes when numba has no cache folder."""
    if package in _cached_kernel_sets:
        return
    _cached_kernel_sets.add(package)
    import importlib
    import types

    import numba
    from numba.core.caching import NullCache

    if not numba.config.CACHE_DIR:  # numba was imported before configure_numba_cache: no cache folder
        return
    from ._numba_threads import numba_module_shim

    for module_name, name in kernels:
        try:
            module = importlib.import_module(module_name)
            kernel = getattr(module, name)
            if not isinstance(getattr(kernel, "_cache", None), NullCache):
                continue  # numba caches it already (or it was swapped already)
            py_func = kernel.py_func
            if "get_num_threads" in py_func.__code__.co_names:
                # same code, globals as they are now (the kernels swapped above) but a numba whose
                # get_num_threads() can be cached
                namespace = dict(py_func.__globals__, numba=numba_module_shim())
                py_func = types.FunctionType(
                    py_func.__code__, namespace, py_func.__name__, py_func.__defaults__, py_func.__closure__
                )
                py_func.__kwdefaults__ = kernel.py_func.__kwdefaults__
                py_func.__qualname__ = kernel.py_func.__qualname__
                py_func.__module__ = kernel.py_func.__module__
            options = dict(kernel.targetoptions)
            for option in ("cache", "nopython"):
                options.pop(option, None)
            new = numba.njit(cache=True, locals=dict(kernel.locals), **options)(py_func)
        except (ImportError, AttributeError, TypeError):  # another version: keep its kernel
            continue
        # every module of the package that imported the kernel by name gets the new one
        for other_name, other in list(sys.modules.items()):
            if other is None or not (other_name == package or other_name.startswith(package + ".")):
                continue
            for global_name, value in list(vars(other).items()):
                if value is kernel:
                    setattr(other, global_name, new)


def _cache_umap_kernels() -> None:
    """umap-learn's map kernels, kept in numba's on-disk cache (see ``_cache_kernels``)."""
    _cache_kernels(_UMAP_KERNELS, "umap")


def _stable_dispatcher_ids(module_name: str) -> None:
    """Give the numba functions of ``module_name`` an identity that is the same in every process.

    pynndescent passes its distance function (a numba dispatcher) as an argument to its kernels, and
    numba keys a kernel's cached machine code by its argument types, a dispatcher type by the
    dispatcher's id: a random UUID drawn in each process, so the cached code was written but never
    found again. Naming the id after the function (and the library's version) makes the next process
    find it; the id only serves to match dispatchers when numba unpickles them. Dispatchers whose id
    was already drawn are left alone (their kernels are then compiled, as before)."""
    import importlib

    from numba.core.dispatcher import Dispatcher

    try:
        module = importlib.import_module(module_name)
        version = importlib.import_module(module_name.split(".")[0]).__version__
    except (ImportError, AttributeError):
        return
    for name, value in vars(module).items():
        if (
            isinstance(value, Dispatcher)
            and getattr(value, "_MemoMixin__uuid", "") is None  # no id drawn yet
            and getattr(value.py_func, "__module__", None) == module_name
            and value.py_func.__name__ == name  # defined here, not imported
        ):
            value._set_uuid(f"{module_name}.{name}@{version}")


def _cache_pynndescent_kernels() -> None:
    """pynndescent's NN-descent kernels, kept in numba's on-disk cache (see ``_cache_kernels`` and
    ``_stable_dispatcher_ids``)."""
    if "pynndescent" not in _cached_kernel_sets:
        _stable_dispatcher_ids("pynndescent.distances")
    _cache_kernels(_PYNNDESCENT_KERNELS, "pynndescent")


def default_epochs(n: int) -> int | None:
    """UMAP epochs for a map of ``n`` points: UMAP's own default (None) up to 50,000 points, then
    200 × 50,000 / n, at least 100. Each epoch costs time in proportion to n; the layout is set in the
    first epochs on large data. Measured on the augmented digits (map neighbours of the same class, kNN
    graph neighbours kept among the 15 map neighbours): at 30,000 points, 200 -> 100 epochs: 0.986 ->
    0.986 and 0.459 -> 0.435; at 100,000 points, 200 -> 100 epochs: 0.982 -> 0.974 and 0.599 -> 0.573
    for 36.9 -> 19.8 s of CPU (60 epochs: 0.953 and 0.548, too few)."""
    if n <= 50_000:
        return None
    return int(max(100, round(200 * 50_000 / n)))


def project_2d(
    X,
    *,
    precomputed_knn: tuple[np.ndarray, np.ndarray] | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    init: str = "pca",
    n_epochs: int | None = None,
    seed: int | None = 0,
    n_jobs: int | None = None,
) -> np.ndarray:
    """A 2-D UMAP map of ``X`` (n, d) -> float32 (n, 2).

    ``precomputed_knn``: ``(indices, distances)`` from ``knn_graph`` (self excluded, shape (n, k));
    when given, UMAP skips its own neighbour search and uses ``k + 1`` neighbours (itself included).
    ``seed``: an int makes the map reproducible but single-threaded (UMAP's rule); ``None`` lets it
    use ``n_jobs`` threads (default: one per core) at the cost of run-to-run jitter.
    ``n_epochs``: when None, UMAP's default (500 epochs up to 10,000 points, 200 above) up to 50,000
    points, then fewer (``default_epochs``: 100 at 100,000 points), so the optimisation's cost stops
    growing with n.
    Tiny inputs (n <= 3) get a PCA layout instead, since UMAP needs a few neighbours per point.
    """
    X = _as_matrix(X)
    n = X.shape[0]
    if n <= 3:
        out = np.zeros((n, 2), dtype=np.float32)
        if n >= 2:
            centred = X - X.mean(axis=0)
            u, s, _ = np.linalg.svd(centred, full_matrices=False)
            m = min(2, u.shape[1])
            out[:, :m] = (u[:, :m] * s[:m]).astype(np.float32)
        return out
    configure_numba_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap/numba import-time chatter (tbb, deprecations)
        import umap
    _cache_umap_kernels()

    kwargs: dict = {}
    if precomputed_knn is not None:
        ind, dist = (np.asarray(a) for a in precomputed_knn)
        if ind.shape[0] != n or ind.shape != dist.shape:
            raise ValueError("precomputed_knn must be (indices, distances) of shape (n, k) for the rows of X")
        self_col = np.arange(n, dtype=ind.dtype)[:, None]
        ind = np.hstack([self_col, ind]).astype(np.int32)
        dist = np.hstack([np.zeros((n, 1), dtype=np.float32), dist.astype(np.float32)])
        n_neighbors = ind.shape[1]
        kwargs["precomputed_knn"] = (ind, dist, None)
    n_neighbors = int(max(2, min(n_neighbors, n - 1)))
    if n_epochs is None:
        n_epochs = default_epochs(n)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        init=init,
        n_epochs=n_epochs,
        random_state=seed,
        n_jobs=1 if seed is not None else _default_jobs(n_jobs),
        low_memory=True,
        verbose=False,
        **kwargs,
    )
    with warnings.catch_warnings():
        # "n_jobs overridden by random_state", "precomputed_knn without search index": both expected
        warnings.simplefilter("ignore", UserWarning)
        emb = reducer.fit_transform(X)
    return np.asarray(emb, dtype=np.float32)
