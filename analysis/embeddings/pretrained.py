"""Pretrained embedders run with onnxruntime on the CPU, from model files written at set-up time.

``make embedders`` writes the files into a models folder (``settings.LABELHUB_MODELS_DIR``, by default
``var/models``; see ``build_pretrained.py``); nothing is downloaded at run time, and neither torch nor
the model packages are needed by the web or worker processes. Without the files the embedders are
listed as not installed and the built-in ones stay the defaults. Once installed, the first pretrained
embedder of a modality is its projects' default, except ``audio-voice`` (``PretrainedSpec.default``):
audio projects keep ``audio-mfcc``, since their labels are mostly about what is said, which a speaker
embedding is trained to ignore. Pick ``audio-voice`` for labels about the speaker or the recording
condition (microphone, telephone band, background).

==================== ======== ===== ===========================================================
name                 modality dim   model
==================== ======== ===== ===========================================================
image-effnet-basic   image    1884  the network's for photos (224 px on), image-basic's for small scans
image-effnet-lite0   image    1280  EfficientNet-Lite0 (ImageNet), pooled penultimate features
text-minilm          text     384   all-MiniLM-L6-v2, mean-pooled tokens (sentence-transformers)
audio-voice          audio    256   Resemblyzer 0.1.4's voice encoder (a speaker embedding): who
                                    speaks and on what channel; offered, never the default
==================== ======== ===== ===========================================================

Vectors are L2-normalised, so Euclidean distances between them order pairs as cosine similarity does.
Unlike ``text-tfidf``, ``text-minilm`` is not fitted on the corpus: a text always gets the same vector.

onnxruntime and tokenizers are imported inside the functions that run a model, so listing the
embedders (the map page, the API) never loads them; each process opens one InferenceSession per model
file and thread count, and reuses it. Texts run 32 at a time, sorted by length, on a session with
``intra_op_num_threads`` 2 (the worker machine's cores). Images are data-parallel instead: ``THREADS``
threads each decode 8 images and run them on a one-thread session, while the others do the same
(Pillow and onnxruntime release the GIL), so both cores stay busy with no barrier inside each layer;
measured on the 2-core machine, 2 intra-op threads fed by one decoding thread took 10-25 % more CPU per
image than this (``benchmarks/embedders_bench.py --images``). Audio clips go the same way (decode, mel
front end and LSTM in each thread): 33 ms of CPU a 4 s clip, against 35 ms with one thread computing the
mel spectrograms for a session of 2 intra-op threads. A JPEG is decoded at a reduced size
(``load_image``'s ``min_side``) when it is more than twice the network's input.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .audio import VOICE_HOP, VOICE_SAMPLE_RATE, load_audio, voice_mel
from .base import Embedder, EmbeddingError, l2_normalize_rows
from .image import ImageBasicEmbedder, load_image

IMAGE_FILE = "efficientnet-lite0.onnx"
TEXT_FILE = "all-minilm-l6-v2.onnx"
TOKENIZER_FILE = "all-minilm-l6-v2.tokenizer.json"
VOICE_FILE = "resemblyzer-voice.onnx"
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
    # the first installed one of its modality with ``default`` is the projects' default (else the built-in)
    default: bool = True


PRETRAINED = {
    spec.name: spec
    for spec in (
        # first of its modality: the default when installed (see ImageEffnetBasicEmbedder)
        PretrainedSpec(
            "image-effnet-basic",
            "image",
            1280 + 604,
            (IMAGE_FILE,),
            (),
            "EfficientNet-Lite0 for photos, image-basic for small scans",
        ),
        PretrainedSpec(
            "image-effnet-lite0", "image", 1280, (IMAGE_FILE,), (), "EfficientNet-Lite0 (ImageNet, pooled features)"
        ),
        PretrainedSpec(
            "text-minilm", "text", 384, (TEXT_FILE, TOKENIZER_FILE), ("tokenizers",), "all-MiniLM-L6-v2 (mean-pooled)"
        ),
        # who speaks and on what channel, not what is said: offered, never the default (audio-mfcc stays)
        PretrainedSpec(
            "audio-voice",
            "audio",
            256,
            (VOICE_FILE,),
            (),
            "Resemblyzer voice encoder (speaker, recording channel)",
            default=False,
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


_sessions: dict[tuple[str, int], Any] = {}
_sessions_lock = threading.Lock()


def onnx_session(path: str, threads: int = THREADS):
    """This process's InferenceSession for ``path`` with ``threads`` intra-op threads (opened on first use,
    then shared: ``run`` may be called from several threads at once)."""
    with _sessions_lock:
        session = _sessions.get((path, threads))
        if session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            # threads that spin between kernels only burn a shared machine's cores (measured: 2 threads
            # with spinning ran at half the speed of 2 without, beside other busy processes)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            _sessions[(path, threads)] = session
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


class _ThreadedRuns(_PretrainedEmbedder):
    """Data-parallel runs: ``threads`` threads each decode ``run_batch`` inputs and run them on a
    one-thread session (``_run``), while the others do the same (decoders and onnxruntime release the
    GIL); at most two runs per thread are decoded ahead, so memory stays a few batches of inputs."""

    def __init__(self, *, threads: int = THREADS, **options: Any) -> None:
        super().__init__(**options)
        self.threads = max(1, int(threads))

    def _run(self, items: list[Any], start: int) -> np.ndarray:
        """Decode and embed one run (called in a worker thread) -> (len(items), dim)."""
        raise NotImplementedError

    def _blocks(self, inputs: list[Any]) -> Iterator[tuple[int, np.ndarray]]:
        run_starts = iter(range(0, len(inputs), self.run_batch))
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
        pending: deque = deque()

        def submit() -> None:
            s = next(run_starts, None)
            if s is not None:
                pending.append(pool.submit(self._run, inputs[s : s + self.run_batch], s))

        try:
            for _ in range(2 * self.threads):
                submit()
            start, rows = 0, np.empty((0, self.dim), dtype=np.float32)
            while pending:
                rows = np.concatenate([rows, pending.popleft().result()])
                submit()
                while len(rows) >= self.batch_size or (rows.size and not pending):
                    block, rows = rows[: self.batch_size], rows[self.batch_size :]
                    yield start, l2_normalize_rows(block)
                    start += len(block)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:  # one batch, in this thread
        runs = range(0, len(batch), self.run_batch)
        return l2_normalize_rows(np.concatenate([self._run(batch[s : s + self.run_batch], start + s) for s in runs]))


class ImageEffnetLite0Embedder(_ThreadedRuns):
    """Images centre-cropped to a square and resized to 224×224 (bilinear, in one step), scaled to [-1, 1].

    ``threads`` decode-and-run threads share one single-threaded session (see the module docstring)."""

    spec = PRETRAINED["image-effnet-lite0"]
    name = spec.name
    modality = "image"
    size = 224

    def _square(self, img) -> np.ndarray:
        """(224, 224, 3) uint8: the centred square of ``img`` (its shorter side) resized to 224×224."""
        from PIL import Image

        w, h = img.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        return np.asarray(img.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0))

    def _features(self, images: list) -> np.ndarray:
        """The network's pooled features of decoded images -> (len(images), 1280)."""
        pixels = np.stack([self._square(img) for img in images])
        x = np.empty((len(images), 3, self.size, self.size), dtype=np.float32)
        x[:] = pixels.transpose(0, 3, 1, 2)
        x *= 2.0 / 255.0
        x -= 1.0
        session = onnx_session(os.path.join(self.models_dir, IMAGE_FILE), threads=1)
        (features,) = session.run(["features"], {"pixels": x})
        return features

    def _run(self, items: list[Any], start: int) -> np.ndarray:
        """Decode and embed one run of images (called in a worker thread) -> (len(items), dim), not yet
        normalised."""
        return self._features([load_image(item, index=start + j, min_side=self.size) for j, item in enumerate(items)])


class ImageEffnetBasicEmbedder(ImageEffnetLite0Embedder):
    """EfficientNet-Lite0's features for images that have the detail the network takes, ``image-basic``'s
    for small scans, and a blend between: ``[a · network, √(1 − a²) · basic]``, each block unit-length,
    where ``a`` grows from 0 for an image whose shorter side is at most half the network's input (112 px)
    to 1 from the input's size (224 px) on. One decode feeds both; the network is not run on a batch of
    small scans.

    Why: ImageNet features know what a photo shows, but a scan of a few pixels upscaled to 224 is blur
    to them. On the digits demo (8×8 scans as 64×64 PNGs) the network's features miss the relabeled
    nines and report a false mirror cluster of true nines "among the 4s", alone or beside the basic
    features (measured: ``benchmarks/embedders_bench.py --demo``), while pixels and HOG find the group.
    The weight depends on the image alone, so a vector never depends on what else is embedded; photos of
    224 px or more get exactly the network's vector (padded with zeros), so their neighbourhoods are the
    network's."""

    spec = PRETRAINED["image-effnet-basic"]
    name = spec.name
    full_detail = 224  # the network's input: from here on, the network alone
    no_detail = 112  # upscaled 2× or more: the built-in features alone

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._basic = ImageBasicEmbedder()
        self.dim = self.spec.dim

    def network_weight(self, width: int, height: int) -> float:
        """``a`` for an image of this size (its size in the file: a JPEG decoded reduced still has a shorter
        side of 224 or more, which weighs 1 either way)."""
        return float(np.clip((min(width, height) - self.no_detail) / (self.full_detail - self.no_detail), 0.0, 1.0))

    def _run(self, items: list[Any], start: int) -> np.ndarray:
        images = [load_image(item, index=start + j, min_side=self.size) for j, item in enumerate(items)]
        a = np.array([self.network_weight(*img.size) for img in images], dtype=np.float32)[:, None]
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        net = np.flatnonzero(a[:, 0] > 0)
        if len(net):
            out[net, :1280] = a[net] * l2_normalize_rows(self._features([images[i] for i in net]))
        basic = np.flatnonzero(a[:, 0] < 1)
        if len(basic):
            features = np.stack([self._basic._features(images[i]) for i in basic])
            out[basic, 1280:] = np.sqrt(1.0 - a[basic] ** 2) * l2_normalize_rows(features)
        return out


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


class AudioVoiceEmbedder(_ThreadedRuns):
    """Resemblyzer's utterance embedding (``VoiceEncoder.embed_utterance``): the clip, decoded by
    ``load_audio`` at 16 kHz and cut at ``max_seconds``, is brought up to -30 dBFS (never down), cut in
    partial utterances of 160 frames (1.6 s) every 77 frames (``rate`` 1.3 a second; the last one is
    kept, zero-padded, when at least ``min_coverage`` of it is audio, and a clip shorter than one partial
    is one zero-padded partial), each partial's mel power spectrogram (``voice_mel``) run through the
    LSTM, and the clip's vector is the L2-normalised mean of its partials' unit vectors.

    Unlike ``preprocess_wav``, long silences are not trimmed first (that takes webrtcvad's voice
    detector): pauses count as part of the recording. The encoder was trained to tell speakers apart:
    its vectors describe the voice and the recording channel (microphone, band, background), not the
    words. Decoding, the front end and the network run in ``threads`` threads, ``run_batch`` clips at a
    time (their partials together) on a one-thread session, as images do (see the module docstring)."""

    spec = PRETRAINED["audio-voice"]
    name = spec.name
    modality = "audio"
    sample_rate = VOICE_SAMPLE_RATE
    partial_frames = 160
    rate = 1.3
    min_coverage = 0.75
    target_dbfs = -30.0
    max_partials = 64

    def __init__(self, *, max_seconds: float | None = 600.0, **options: Any) -> None:
        super().__init__(**options)
        self.max_seconds = max_seconds

    def _config(self) -> dict[str, Any]:
        return {**super()._config(), "max_seconds": self.max_seconds, "vad_trim": False}

    def normalize_volume(self, wave: np.ndarray) -> np.ndarray:
        """``wave`` scaled up to ``target_dbfs`` (RMS in 16-bit full scale) if it is quieter; never down."""
        rms = np.sqrt(np.mean((wave * 32767.0) ** 2)) + 1e-12
        change = self.target_dbfs - 20.0 * np.log10(rms / 32767.0)
        return wave if change < 0 else wave * 10.0 ** (change / 20.0)

    def partial_starts(self, n_samples: int) -> list[int]:
        """First frames of the partial utterances of a clip of ``n_samples`` (``compute_partial_slices``)."""
        n_frames = int(np.ceil((n_samples + 1) / VOICE_HOP))
        step = int(np.round((self.sample_rate / self.rate) / VOICE_HOP))
        starts = list(range(0, max(1, n_frames - self.partial_frames + step + 1), step))
        coverage = (n_samples - starts[-1] * VOICE_HOP) / (self.partial_frames * VOICE_HOP)
        if coverage < self.min_coverage and len(starts) > 1:
            starts.pop()
        return starts

    def partial_mels(self, wave: np.ndarray) -> np.ndarray:
        """(partials, 160, 40) float32: the mel spectrograms of a 16 kHz waveform's partial utterances."""
        wave = self.normalize_volume(np.asarray(wave, dtype=np.float64))
        starts = self.partial_starts(wave.size)
        end = (starts[-1] + self.partial_frames) * VOICE_HOP
        mel = voice_mel(np.pad(wave, (0, max(end - wave.size, 0))))
        return np.stack([mel[s : s + self.partial_frames] for s in starts])

    def vectors_from_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """(len(waves), 256): for each 16 kHz mono waveform, the mean of its partials' embeddings (not yet
        normalised)."""
        partials = [self.partial_mels(wave) for wave in waves]
        session = onnx_session(os.path.join(self.models_dir, VOICE_FILE), threads=1)
        mels = np.concatenate(partials)
        # at most max_partials at once: the LSTM's outputs are (160, partials, 256) floats per layer
        embeddings = np.concatenate(
            [
                session.run(["embeddings"], {"mels": mels[s : s + self.max_partials]})[0]
                for s in range(0, len(mels), self.max_partials)
            ]
        )
        bounds = np.cumsum([0, *(len(p) for p in partials)])
        return np.stack([embeddings[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])

    def _run(self, items: list[Any], start: int) -> np.ndarray:
        """Decode and embed one run of clips (called in a worker thread) -> (len(items), 256)."""
        return self.vectors_from_waves(
            [
                load_audio(item, sample_rate=self.sample_rate, max_seconds=self.max_seconds, index=start + j)
                for j, item in enumerate(items)
            ]
        )
