"""Embedding on every core: chunks of inputs decoded and featurized by worker processes (no Django).

The built-in featurizers (``image-basic``) are Python and numpy on small arrays: threads would take turns
on the GIL, so ``embed_chunks`` runs them in a small pool of *processes*. The pool is billiard's (Celery's
fork of multiprocessing) with the ``spawn`` start method, because the caller is usually a Celery prefork
worker, a daemonic process that the standard library forbids to have children; ``spawn`` (not ``fork``)
so that no thread pool of the parent (BLAS, numba) is copied half-locked into a child.

Inputs are whatever the embedder accepts and pickles: for images, ``io.BytesIO`` of bytes the caller
read (e.g. through Django's storage, so S3-compatible media work) or PIL images. At most ``window``
chunks are in flight, so a caller that reads its inputs lazily never holds more than that many chunks.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .base import Embedder

_worker_embedder: Embedder | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _init_worker(embedder: Embedder) -> None:
    global _worker_embedder
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the processes are the parallelism: one BLAS thread each
    _worker_embedder = embedder


def _embed_chunk(chunk: list[Any]) -> np.ndarray:
    return _worker_embedder.embed(chunk)


def embed_chunks(
    embedder: Embedder, chunks: Iterable[list[Any]], *, processes: int = 2, window: int | None = None
) -> Iterator[np.ndarray]:
    """Yield ``embedder.embed(chunk)`` for each chunk of ``chunks``, in order, computed by ``processes``
    worker processes (in this process when ``processes`` <= 1). ``chunks`` is consumed lazily, at most
    ``window`` chunks ahead (default 2 per process). An error of the embedder is raised here."""
    if processes <= 1:
        for chunk in chunks:
            yield embedder.embed(chunk)
        return
    import billiard

    window = window or 2 * processes
    pool = billiard.get_context("spawn").Pool(processes, initializer=_init_worker, initargs=(embedder,))
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_embed_chunk, (chunk,)))
            if len(pending) >= window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
