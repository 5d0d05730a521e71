"""``text-tfidf``: TF-IDF (word 1–2-grams + character 3–5-grams) reduced with TruncatedSVD (LSA).

Corpus-dependent by design: the vocabulary, IDF weights and SVD axes are **fitted on the list given
to ``embed``**, so a text's vector depends on the whole list it was embedded with. Embed a project's
texts together in one call (the fit is seeded, so the same list always gives the same vectors); vectors
from calls on two different lists are not comparable. ``fit`` + ``transform`` are exposed
for callers that want to fit on one corpus and project others onto it.

The output dimension is always ``n_components`` (default 128): when the corpus allows fewer SVD
components (few texts or a tiny vocabulary) the missing columns are zeros. Rows are L2-normalized, so
Euclidean distance between vectors is a monotone function of cosine similarity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Embedder, EmbeddingError, l2_normalize_rows


class TextTfidfEmbedder(Embedder):
    name = "text-tfidf"
    modality = "text"

    def __init__(
        self,
        *,
        n_components: int = 128,
        max_features: int = 100_000,
        char_ngrams: bool = True,
        seed: int = 0,
        batch_size: int = 2048,
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.n_components = int(n_components)
        self.max_features = int(max_features)
        self.char_ngrams = bool(char_ngrams)
        self.seed = int(seed)
        self.dim = self.n_components
        self._vectorizer = None
        self._svd = None

    def _config(self) -> dict[str, Any]:
        return {
            "n_components": self.n_components,
            "max_features": self.max_features,
            "char_ngrams": self.char_ngrams,
            "seed": self.seed,
            "corpus_dependent": True,
        }

    @staticmethod
    def _check(texts: list[Any]) -> list[str]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise EmbeddingError(f"text input #{i} must be a str, not {type(t).__name__}", index=i)
        return texts

    def fit(self, corpus: list[str]) -> TextTfidfEmbedder:
        """Fit vocabulary, IDF and SVD on ``corpus`` (a list of strings)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        corpus = self._check(list(corpus))
        if not corpus:
            raise EmbeddingError("text-tfidf needs at least one text to fit on")
        parts = [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, max_features=self.max_features, dtype=np.float32
                ),
            )
        ]
        if self.char_ngrams:
            parts.append(
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(3, 5),
                        sublinear_tf=True,
                        max_features=self.max_features,
                        dtype=np.float32,
                    ),
                )
            )
        vectorizer = FeatureUnion(parts)
        try:
            tfidf = vectorizer.fit_transform(corpus)
        except ValueError:  # empty vocabulary (only stop words / blanks): fall back to characters
            vectorizer = FeatureUnion(
                [("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), dtype=np.float32))]
            )
            try:
                tfidf = vectorizer.fit_transform(corpus)
            except ValueError as exc:
                raise EmbeddingError("text-tfidf: the corpus has no usable characters") from exc
        n_comp = min(self.n_components, tfidf.shape[0] - 1, tfidf.shape[1] - 1)
        self._vectorizer = vectorizer
        self._svd = None
        if n_comp >= 1:
            self._svd = TruncatedSVD(n_components=n_comp, algorithm="randomized", random_state=self.seed)
            self._svd.fit(tfidf)
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        """Project ``texts`` with the fitted model -> float32 (n, n_components), rows L2-normalized."""
        if self._vectorizer is None:
            raise RuntimeError("text-tfidf: call fit() (or embed()) first")
        texts = self._check(list(texts))
        out = np.zeros((len(texts), self.n_components), dtype=np.float32)
        if not texts:
            return out
        tfidf = self._vectorizer.transform(texts)
        # with a single text (or a one-term vocabulary) there is no axis to reduce to: keep what fits
        z = self._svd.transform(tfidf) if self._svd is not None else tfidf[:, : self.n_components].toarray()
        out[:, : z.shape[1]] = l2_normalize_rows(np.asarray(z, dtype=np.float64))
        return out

    def _prepare(self, inputs: list[Any]) -> None:
        # corpus-level fit: see the module docstring
        self.fit(inputs)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        return self.transform(batch)
