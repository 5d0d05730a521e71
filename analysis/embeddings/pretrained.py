"""Pretrained embedders run with onnxruntime on the CPU, from model files written at set-up time.

``make embedders`` writes the files into a models folder (``settings.LABELHUB_MODELS_DIR``, by default
``var/models``; see ``build_pretrained.py``); nothing is downloaded at run time, and neither torch nor
the model packages are needed by the web or worker processes. Without the files the embedders are
listed as not installed and the built-in ones stay the defaults.

==================== ======== ===== ===========================================================
name                 modality dim   model
==================== ======== ===== ===========================================================
image-effnet-lite0   image    1280  EfficientNet-Lite0 (ImageNet), pooled penultimate features
text-minilm          text     384   all-MiniLM-L6-v2, mean-pooled tokens (sentence-transformers)
==================== ======== ===== ===========================================================

Vectors are L2-normalised, so Euclidean distances between them order pairs as cosine similarity does.
Unlike ``text-tfidf``, ``text-minilm`` is not fitted on the corpus: a text always gets the same vector.

onnxruntime and tokenizers are imported inside the functions that run a model, so listing the
embedders (the map page, the API) never loads them; each process opens one InferenceSession per model
file, with ``intra_op_num_threads`` 2 (the worker machine's cores), and reuses it. Images run 8 at a
time (faster than 1 or 32 on this machine's caches), texts 32 at a time, sorted by length.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Embedder, EmbeddingError, l2_normalize_rows
from .image import load_image

IMAGE_FILE = "efficientnet-lite0.onnx"
TEXT_FILE = "all-minilm-l6-v2.onnx"
TOKENIZER_FILE = "all-minilm-l6-v2.tokenizer.json"
SPEEDS_FILE = "speeds.json"
THREADS = 2


@dataclass(frozen=True)
class PretrainedSpec:
    name: str
    modality: str
    dim: int
    files: tuple[str, ...]
    modules: tuple[str, ...]  # importable at run time besides onnxruntime
    model: str


PRETRAINED = {
    spec.name: spec
    for spec in (
        PretrainedSpec(
            "image-effnet-lite0", "image", 1280, (IMAGE_FILE,), (), "EfficientNet-Lite0 (ImageNet, pooled features)"
        ),
        PretrainedSpec(
            "text-minilm", "text", 384, (TEXT_FILE, TOKENIZER_FILE), ("tokenizers",), "all-MiniLM-L6-v2 (mean-pooled)"
        ),
    )
}


def pretrained_installed(name: str, models_dir: str | os.PathLike) -> bool:
    """Whether ``name``'s model files are in ``models_dir`` and its libraries importable (nothing is loaded)."""
    spec = PRETRAINED[name]
    if not all(os.path.isfile(os.path.join(models_dir, f)) for f in spec.files):
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", *spec.modules))


def read_speeds(models_dir: str | os.PathLike) -> dict[str, float]:
    """Items per second measured on this machine, by embedder name ({} before any measure)."""
    try:
        with open(os.path.join(models_dir, SPEEDS_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float) and v > 0}


def record_speed(models_dir: str | os.PathLike, name: str, items_per_second: float) -> None:
    """Keep the latest measured speed of ``name`` (written to a temporary file, then renamed)."""
    if not os.path.isdir(models_dir):
        return
    speeds = read_speeds(models_dir)
    speeds[name] = round(float(items_per_second), 1)
    path = os.path.join(models_dir, SPEEDS_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(speeds, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:  # a read-only models folder: the speed is only not remembered
        pass


_sessions: dict[str, Any] = {}
_sessions_lock = threading.Lock()


def onnx_session(path: str):
    """This process's InferenceSession for ``path`` (opened on first use, then shared)."""
    with _sessions_lock:
        session = _sessions.get(path)
        if session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = THREADS
            opts.inter_op_num_threads = 1
            # threads that spin between kernels only burn a shared machine's cores (measured: 2 threads
            # with spinning ran at half the speed of 2 without, beside other busy processes)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            _sessions[path] = session
        return session


class _PretrainedEmbedder(Embedder):
    spec: PretrainedSpec

    def __init__(self, *, models_dir: str | os.PathLike, batch_size: int = 64, run_batch: int = 8) -> None:
        super().__init__(batch_size=batch_size)
        self.models_dir = os.fspath(models_dir)
        if not pretrained_installed(self.spec.name, self.models_dir):
            raise FileNotFoundError(f"{self.spec.name} is not installed in {self.models_dir} (run `make embedders`)")
        self.run_batch = int(run_batch)
        self.dim = self.spec.dim

    def _config(self) -> dict[str, Any]:
        return {"model": self.spec.model, "models_dir": self.models_dir}


class ImageEffnetLite0Embedder(_PretrainedEmbedder):
    """Images resized (shorter side 224, bilinear) and centre-cropped to 224×224, scaled to [-1, 1]."""

    spec = PRETRAINED["image-effnet-lite0"]
    name = spec.name
    modality = "image"
    size = 224

    def _tensor(self, item: Any, index: int) -> np.ndarray:
        from PIL import Image

        img = load_image(item, index=index)
        scale = self.size / min(img.width, img.height)
        w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
        img = img.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        a = np.asarray(img, dtype=np.float32) * (2.0 / 255.0) - 1.0
        return a.transpose(2, 0, 1)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        session = onnx_session(os.path.join(self.models_dir, IMAGE_FILE))
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for s in range(0, len(batch), self.run_batch):
            x = np.stack([self._tensor(item, start + s + j) for j, item in enumerate(batch[s : s + self.run_batch])])
            (features,) = session.run(["features"], {"pixels": x})
            out[s : s + len(x)] = features
        return l2_normalize_rows(out)


class TextMiniLmEmbedder(_PretrainedEmbedder):
    """Texts tokenized (WordPiece, lower-cased, cut at 256 tokens as the model was trained), encoded, and
    the last layer mean-pooled over the real tokens. Texts of similar length are run together."""

    spec = PRETRAINED["text-minilm"]
    name = spec.name
    modality = "text"
    max_tokens = 256

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._tokenizer = None

    def _tokenize(self, texts: list[str]):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(os.path.join(self.models_dir, TOKENIZER_FILE))
            tok.enable_truncation(max_length=self.max_tokens)
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer.encode_batch(texts)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        for j, t in enumerate(batch):
            if not isinstance(t, str):
                raise EmbeddingError(f"text input #{start + j} must be a str, not {type(t).__name__}", index=start + j)
        session = onnx_session(os.path.join(self.models_dir, TEXT_FILE))
        ids = [e.ids for e in self._tokenize(batch)]
        order = np.argsort([len(i) for i in ids], kind="stable")
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for s in range(0, len(order), self.run_batch):
            rows = order[s : s + self.run_batch]
            width = max(len(ids[r]) for r in rows)
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, r in enumerate(rows):
                input_ids[k, : len(ids[r])] = ids[r]
                mask[k, : len(ids[r])] = 1
            (hidden,) = session.run(["last_hidden_state"], {"input_ids": input_ids, "attention_mask": mask})
            m = mask[:, :, None].astype(np.float32)
            out[rows] = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return l2_normalize_rows(out)
