"""``image-basic``: a fixed, offline image featurizer (pixels + HOG + colour histogram).

Each image is decoded with Pillow (EXIF orientation applied, converted to RGB) and described by three
blocks, each scaled to unit L2 norm and then weighted, so no block dominates by its dimension alone:

- ``pixels``: grayscale downsampled to ``pixel_size``×``pixel_size`` (default 16×16 = 256 values),
  standardized per image (zero mean, unit variance: invariant to brightness and contrast);
- ``hog``: histogram of oriented gradients (scikit-image) on the grayscale image resized to
  ``hog_size``×``hog_size`` (default 32×32, 8×8-pixel cells, 2×2-cell blocks, 9 orientations = 324);
- ``colour``: per-channel RGB histograms with ``colour_bins`` bins (default 8 × 3 = 24), as square
  roots of frequencies (Hellinger), so colour distance is not dominated by the background.

The output dimension is fixed by the configuration (default 256 + 324 + 24 = 604) and does not depend
on the data: the same image always gives the same vector, whatever else is in the batch. Data-dependent
steps (centring, PCA) belong to the analysis that consumes the vectors (see
``analysis.metrics.label_issues``), not to the embedder.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .base import Embedder, EmbeddingError, l2_normalize_rows


def _decode_errors(image_module, unidentified) -> tuple[type[BaseException], ...]:
    # what Pillow raises on a corrupt, truncated, oversized or non-image file
    return (unidentified, image_module.DecompressionBombError, OSError, SyntaxError, ValueError)


def load_image(item: Any, *, index: int | None = None, min_side: int | None = None):
    """Return an RGB ``PIL.Image`` from a path, an open binary file (e.g. ``io.BytesIO`` of bytes read
    through a storage) or a PIL image; raise EmbeddingError if unreadable.

    ``min_side``: the caller will shrink the image until its shorter side is this long, so a JPEG file may
    be decoded at 1/2, 1/4 or 1/8 of its size (in the DCT, far cheaper than decoding it whole) as long as
    its shorter side stays at least ``min_side``. Other formats and PIL images are returned as they are.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(item, Image.Image):
        img = item
    elif isinstance(item, str | bytes | os.PathLike) or hasattr(item, "read"):
        path = getattr(item, "name", f"input #{index}") if hasattr(item, "read") else os.fsdecode(item)
        try:
            with Image.open(item if hasattr(item, "read") else path) as opened:
                if min_side and opened.format == "JPEG":
                    w, h = opened.size
                    scale = min_side / max(min(w, h), 1)
                    opened.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
                opened.load()  # decode now: truncated/corrupt files fail here, not later
                try:
                    img = ImageOps.exif_transpose(opened)  # a rotated copy (or a plain copy)
                except Exception:  # a broken EXIF block: keep the pixels as decoded
                    img = opened.copy()
        except FileNotFoundError as exc:
            raise EmbeddingError(f"image file not found: {path}", index=index) from exc
        except _decode_errors(Image, UnidentifiedImageError) as exc:
            raise EmbeddingError(f"cannot read image {path}: {exc}", index=index) from exc
    else:
        raise EmbeddingError(
            f"image input #{index} must be a file path or a PIL image, not {type(item).__name__}", index=index
        )
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.width < 1 or img.height < 1:
        raise EmbeddingError(f"image input #{index} is empty", index=index)
    return img


class ImageBasicEmbedder(Embedder):
    name = "image-basic"
    modality = "image"

    def __init__(
        self,
        *,
        pixel_size: int = 16,
        hog_size: int = 32,
        hog_cell: int = 8,
        hog_block: int = 2,
        hog_orientations: int = 9,
        colour_bins: int = 8,
        weights: tuple[float, float, float] = (1.0, 1.0, 0.5),
        batch_size: int = 256,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if hog_size % hog_cell:
            raise ValueError("hog_size must be a multiple of hog_cell")
        cells = hog_size // hog_cell
        if cells < hog_block:
            raise ValueError("hog_size/hog_cell must be >= hog_block")
        self.pixel_size = int(pixel_size)
        self.hog_size = int(hog_size)
        self.hog_cell = int(hog_cell)
        self.hog_block = int(hog_block)
        self.hog_orientations = int(hog_orientations)
        self.colour_bins = int(colour_bins)
        self.weights = tuple(float(w) for w in weights)
        n_blocks = cells - hog_block + 1
        self.hog_dim = n_blocks * n_blocks * hog_block * hog_block * hog_orientations
        self.dim = self.pixel_size**2 + self.hog_dim + 3 * self.colour_bins

    def _config(self) -> dict[str, Any]:
        return {
            "pixel_size": self.pixel_size,
            "hog_size": self.hog_size,
            "hog_cell": self.hog_cell,
            "hog_block": self.hog_block,
            "hog_orientations": self.hog_orientations,
            "colour_bins": self.colour_bins,
            "weights": list(self.weights),
        }

    def _features(self, img) -> np.ndarray:
        from PIL import Image
        from skimage.feature import hog

        resample = Image.Resampling.BILINEAR
        gray = img.convert("L")
        # reducing_gap makes big photos cheap to shrink (a box pre-reduction, then bilinear)
        small = np.asarray(
            gray.resize((self.pixel_size, self.pixel_size), resample, reducing_gap=2.0), dtype=np.float64
        )
        pix = small.ravel() - small.mean()
        pix /= max(float(pix.std()), 1e-6)

        g = np.asarray(gray.resize((self.hog_size, self.hog_size), resample, reducing_gap=2.0), np.float64)
        h = hog(
            g / 255.0,
            orientations=self.hog_orientations,
            pixels_per_cell=(self.hog_cell, self.hog_cell),
            cells_per_block=(self.hog_block, self.hog_block),
            block_norm="L2-Hys",
            feature_vector=True,
        )
        rgb = np.asarray(img.resize((self.hog_size, self.hog_size), resample, reducing_gap=2.0))
        # per-channel histograms with equal-width bins over 0..255 (a bincount: np.histogram is slow)
        q = (rgb.reshape(-1, 3).astype(np.int64) * self.colour_bins) >> 8
        q += np.arange(3) * self.colour_bins
        hist = np.bincount(q.ravel(), minlength=3 * self.colour_bins).astype(np.float64)
        hist = np.sqrt(hist / max(hist.sum() / 3.0, 1.0))
        blocks = [pix, h, hist]
        parts = [w * l2_normalize_rows(b) for w, b in zip(self.weights, blocks, strict=True)]
        return np.concatenate(parts)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for j, item in enumerate(batch):
            img = load_image(item, index=start + j)
            out[j] = self._features(img)
        return out
