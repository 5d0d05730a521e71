"""``onnx``: embeddings from a local ONNX model file, run with onnxruntime on the CPU.

Nothing is downloaded: the team drops a model file (e.g. an image backbone exported to ONNX) on the
server and configures its path. The model's first input decides the preprocessing:

- ``modality="image"``: a 4-D input, channels-first ``(N, C, H, W)`` or channels-last ``(N, H, W, C)``
  (told apart by where the 1 or 3 is). Images are resized to H×W (``image_size`` when the model's
  spatial dimensions are dynamic), scaled to [0, 1] and normalized with ``mean`` / ``std``
  (ImageNet statistics by default; pass ``mean=(0, 0, 0), std=(1, 1, 1)`` for raw [0, 1] input).
- ``modality="audio"``: a 2-D ``(N, T)`` or 3-D ``(N, 1, T)`` waveform input at ``sample_rate``; clips
  are cropped / zero-padded to T, or fed one at a time at full length when T is dynamic.

The output named ``output_name`` (default: the first) is mean-pooled over every axis after the
batch axis when it has more than two dimensions (e.g. (N, C, h, w) feature maps or (N, frames, D)
sequences) and, if ``normalize`` (default), L2-normalized. ``dim`` is read from the model when its
output shape is static, otherwise it is known after the first batch. Text models need a tokenizer,
which is not part of this package: push text vectors through the API instead.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .audio import load_audio
from .base import Embedder, EmbeddingError, l2_normalize_rows
from .image import load_image

_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class OnnxEmbedder(Embedder):
    name = "onnx"

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        modality: str = "image",
        output_name: str | None = None,
        image_size: int | tuple[int, int] = 224,
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        sample_rate: int = 16000,
        max_seconds: float | None = 600.0,
        normalize: bool = True,
        batch_size: int = 32,
        n_threads: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size)
        import onnxruntime as ort

        if modality not in ("image", "audio"):
            raise ValueError(
                f"onnx embedder supports modality 'image' or 'audio', not {modality!r} "
                "(text models need a tokenizer: push vectors instead)"
            )
        self.model_path = os.fspath(model_path)
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"ONNX model file not found: {self.model_path}")
        self.modality = modality
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(n_threads or min(2, os.cpu_count() or 1))
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(self.model_path, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for invalid models
            raise ValueError(f"cannot load ONNX model {self.model_path}: {exc}") from exc
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._input_shape = list(inp.shape)
        self._input_dtype = _ONNX_DTYPES.get(inp.type)
        if self._input_dtype is None:
            raise ValueError(f"ONNX model input {inp.name!r} has unsupported type {inp.type}")
        outputs = {o.name: o for o in self._session.get_outputs()}
        self._output_name = output_name or self._session.get_outputs()[0].name
        if self._output_name not in outputs:
            raise ValueError(f"ONNX model has no output {self._output_name!r}; outputs: {sorted(outputs)}")
        out_shape = outputs[self._output_name].shape
        feat_axis = {2: 1, 3: 2, 4: 1}.get(len(out_shape))  # see _pool for the layouts assumed
        if feat_axis is not None and isinstance(out_shape[feat_axis], int) and out_shape[feat_axis] > 0:
            self.dim = int(out_shape[feat_axis])
        self.normalize = bool(normalize)
        self.sample_rate = int(sample_rate)
        self.max_seconds = max_seconds
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        fixed_batch = self._input_shape[0] if isinstance(self._input_shape[0], int) else None
        self._fixed_batch = fixed_batch if fixed_batch and fixed_batch > 0 else None
        if modality == "image":
            self._setup_image(image_size)
        else:
            self._setup_audio()

    # -- configuration ---------------------------------------------------------------------------
    def _setup_image(self, image_size: int | tuple[int, int]) -> None:
        shape = self._input_shape
        if len(shape) != 4:
            raise ValueError(f"image ONNX model must take a 4-D input, got shape {shape}")
        self._channels_last = shape[3] in (1, 3) and shape[1] not in (1, 3)
        c, h, w = (shape[3], shape[1], shape[2]) if self._channels_last else (shape[1], shape[2], shape[3])
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self._hw = (
            h if isinstance(h, int) and h > 0 else size[0],
            w if isinstance(w, int) and w > 0 else size[1],
        )
        self._channels = c if isinstance(c, int) and c > 0 else 3
        if self._channels not in (1, 3):
            raise ValueError(f"image ONNX model must take 1 or 3 channels, got {self._channels}")
        if self.mean.size not in (1, self._channels) or self.std.size not in (1, self._channels):
            raise ValueError("mean/std must have one value or one per channel")

    def _setup_audio(self) -> None:
        shape = self._input_shape
        if len(shape) not in (2, 3):
            raise ValueError(f"audio ONNX model must take a (N, T) or (N, 1, T) input, got shape {shape}")
        t = shape[-1]
        self._n_samples = t if isinstance(t, int) and t > 0 else None

    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "model_path": self.model_path,
            "input": self._input_name,
            "input_shape": [d if isinstance(d, int) else str(d) for d in self._input_shape],
            "output": self._output_name,
            "normalize": self.normalize,
        }
        if self.modality == "image":
            cfg.update(image_size=list(self._hw), mean=self.mean.tolist(), std=self.std.tolist())
        else:
            cfg.update(sample_rate=self.sample_rate, n_samples=self._n_samples)
        return cfg

    # -- preprocessing ---------------------------------------------------------------------------
    def _image_tensor(self, item: Any, index: int) -> np.ndarray:
        from PIL import Image

        img = load_image(item, index=index)
        if self._channels == 1:
            img = img.convert("L")
        img = img.resize((self._hw[1], self._hw[0]), Image.Resampling.BILINEAR, reducing_gap=2.0)
        a = np.asarray(img, dtype=np.float32) / 255.0
        if a.ndim == 2:
            a = a[:, :, None]
        a = (a - self.mean.reshape(1, 1, -1)) / self.std.reshape(1, 1, -1)
        return a if self._channels_last else np.transpose(a, (2, 0, 1))

    def _audio_tensor(self, item: Any, index: int) -> np.ndarray:
        wave = load_audio(item, sample_rate=self.sample_rate, max_seconds=self.max_seconds, index=index)
        if self._n_samples is not None:
            wave = wave[: self._n_samples]
            wave = np.pad(wave, (0, self._n_samples - wave.size))
        wave = wave.astype(np.float32)
        return wave[None, :] if len(self._input_shape) == 3 else wave

    def _run(self, tensors: list[np.ndarray]) -> np.ndarray:
        x = np.stack(tensors).astype(self._input_dtype, copy=False)
        n = len(tensors)
        if self._fixed_batch is not None and self._fixed_batch != n:
            # a model exported with a fixed batch size: pad the last batch, or run in pieces
            chunks = []
            for s in range(0, n, self._fixed_batch):
                part = x[s : s + self._fixed_batch]
                pad = self._fixed_batch - len(part)
                if pad:
                    part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), dtype=part.dtype)])
                chunks.append(self._run_raw(part)[: self._fixed_batch - pad])
            return np.concatenate(chunks)
        return self._run_raw(x)

    def _run_raw(self, x: np.ndarray) -> np.ndarray:
        (y,) = self._session.run([self._output_name], {self._input_name: x})
        return self._pool(np.asarray(y, dtype=np.float64))

    @staticmethod
    def _pool(y: np.ndarray) -> np.ndarray:
        """(N,) -> (N, 1); (N, D) as is; (N, T, D) token/frame sequences -> mean over T;
        (N, C, h, w) feature maps -> mean over h, w; anything else -> mean over the middle axes."""
        if y.ndim == 1:
            return y[:, None]
        if y.ndim == 2:
            return y
        if y.ndim == 4:
            return y.mean(axis=(2, 3))
        return y.reshape(y.shape[0], -1, y.shape[-1]).mean(axis=1)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        if self.modality == "image":
            tensors = [self._image_tensor(item, start + j) for j, item in enumerate(batch)]
            y = self._run(tensors)
        elif self._n_samples is None:  # dynamic length: one clip per run
            y = np.concatenate([self._run([self._audio_tensor(item, start + j)]) for j, item in enumerate(batch)])
        else:
            y = self._run([self._audio_tensor(item, start + j) for j, item in enumerate(batch)])
        if y.shape[0] != len(batch):
            raise EmbeddingError(f"ONNX model returned {y.shape[0]} rows for a batch of {len(batch)}")
        if self.normalize:
            y = l2_normalize_rows(y)
        return y.astype(np.float32)
