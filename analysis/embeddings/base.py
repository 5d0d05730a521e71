"""The embedder interface shared by every featurizer in this package (no Django).

An embedder turns a list of inputs of one modality into a float32 matrix of shape (n, dim):

- images: file paths (``str`` / ``os.PathLike``) or ``PIL.Image.Image`` objects;
- audio: file paths readable by soundfile (WAV, FLAC, OGG, ...);
- text: strings.

Inputs are processed in batches of ``batch_size`` so that only one batch of decoded media is held in
memory at a time; ``iter_batches`` exposes the batches as a generator for callers that want to write
vectors out as they come (e.g. a Celery task storing them batch by batch).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

MODALITIES = ("image", "audio", "text")


class EmbeddingError(ValueError):
    """An input could not be embedded (unreadable/corrupt file, empty audio, wrong type, ...).

    ``index`` is the position of the offending input in the list given to ``embed`` (or None).
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class Embedder(abc.ABC):
    """Base class: subclasses implement ``_embed_batch`` (a list of inputs -> (b, dim) array).

    Attributes:
        name: registry name (``"image-basic"``, ``"audio-mfcc"``, ``"text-tfidf"``, ``"onnx"``).
        modality: one of ``"image"``, ``"audio"``, ``"text"``.
        dim: output dimension, or None while it is unknown (an ONNX model with a dynamic output
            shape; it is set after the first batch).
        batch_size: how many inputs are decoded and embedded at once.
    """

    name: str = ""
    modality: str = ""

    def __init__(self, *, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = int(batch_size)
        self.dim: int | None = None

    # -- public API ---------------------------------------------------------------------------
    def embed(self, inputs: Sequence[Any]) -> np.ndarray:
        """Embed ``inputs`` -> float32 array of shape (len(inputs), dim), finite values only."""
        inputs = list(inputs)
        out: np.ndarray | None = None
        for start, block in self.iter_batches(inputs):
            if out is None:
                out = np.empty((len(inputs), block.shape[1]), dtype=np.float32)
            out[start : start + len(block)] = block
        if out is None:  # no inputs
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return out

    def iter_batches(self, inputs: Sequence[Any]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, block)`` pairs: ``block`` embeds ``inputs[start:start + len(block)]``."""
        inputs = list(inputs)
        self._prepare(inputs)
        for start, block in self._blocks(inputs):
            block = np.asarray(block, dtype=np.float32)
            size = min(self.batch_size, len(inputs) - start)
            if block.ndim != 2 or block.shape[0] != size:
                raise RuntimeError(f"{self.name}: batch produced shape {block.shape} for {size} inputs")
            if self.dim is None:
                self.dim = int(block.shape[1])
            elif block.shape[1] != self.dim:
                raise RuntimeError(f"{self.name}: expected dim {self.dim}, got {block.shape[1]}")
            if not np.all(np.isfinite(block)):
                bad = int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                raise EmbeddingError(f"{self.name}: non-finite embedding for input #{start + bad}", index=start + bad)
            yield start, block

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (name, modality, dim and configuration)."""
        return {"name": self.name, "modality": self.modality, "dim": self.dim, **self._config()}

    # -- hooks for subclasses ------------------------------------------------------------------
    def _prepare(self, inputs: list[Any]) -> None:  # noqa: B027 - optional hook
        """Called once with the whole input list before batching (corpus-level fitting)."""

    def _blocks(self, inputs: list[Any]) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` for each batch of ``batch_size`` inputs, in order. The default embeds the
        batches one after the other; an embedder may override it to overlap work across batches."""
        for start in range(0, len(inputs), self.batch_size):
            yield start, self._embed_batch(inputs[start : start + self.batch_size], start)

    @abc.abstractmethod
    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        """Embed one batch; ``start`` is the batch's offset, for error messages."""

    def _config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, modality={self.modality!r}, dim={self.dim})"


def l2_normalize_rows(a: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Divide each row by its L2 norm (rows of zeros stay zero)."""
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.maximum(norms, eps)
