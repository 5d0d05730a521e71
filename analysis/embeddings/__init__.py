"""Featurizers and projections for the embedding map (no Django). See ``registry`` for the embedders
and ``projection`` for the kNN graph and the UMAP map (imported lazily: numba compiles on first use)."""

from .base import Embedder, EmbeddingError
from .registry import available_embedders, get_embedder, register_embedder

__all__ = ["Embedder", "EmbeddingError", "available_embedders", "get_embedder", "register_embedder"]
