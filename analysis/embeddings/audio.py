"""``audio-mfcc``: clip-level MFCC / log-mel statistics, computed with numpy + scipy (no downloads).

Each file is decoded with soundfile, mixed down to mono, resampled to ``sample_rate`` (default
16 kHz, polyphase filter from scipy) and cut to ``max_seconds`` (default 600 s) so memory stays bounded
for very long recordings. Frames of 25 ms with a 10 ms hop (Hann window, 512-point FFT) give a power
spectrum, a ``n_mels``-band mel filterbank (HTK mel scale, 20 Hz .. Nyquist) its log energies, and a
type-II DCT the first ``n_mfcc`` cepstral coefficients.

The vector (fixed dimension ``4 * n_mfcc + 4``, default 84) is:
``[mean MFCC, std MFCC, mean |delta MFCC|, std delta MFCC, mean/std log10 frame energy,
mean/std zero-crossing rate]``. Silence is handled (log of a floored energy), clips shorter than one
frame are zero-padded to one frame; an empty or unreadable file raises ``EmbeddingError``.

``audio-logmel`` (optional, chosen by name): the same frames and mel filterbank without pre-emphasis,
summarised per band as ``[mean, std, 10th, 50th, 90th percentile of log10 band energy]`` over frames
(dimension ``5 * n_mels``, default 200). It describes the recording condition beside the sound: the
pre-emphasis of ``audio-mfcc`` attenuates 100 Hz by about 26 dB (car or engine rumble hardly counts),
and mean / std over frames mix speech and pauses, whereas a band's 10th percentile is its background
level (babble, hum, rumble, digital silence) and its 90th its foreground (a telephone channel has none
above 4 kHz). On the demo's 32 spoken-query clips cut in 0.75 s windows, the five nearest windows of
other clips name the recording condition of 84 % of the windows with it, 68 % with ``audio-mfcc`` (a
logistic regression trained on the other clips tells a held-out clip's windows' condition about as
well with either: 88 % and 86 %; ``benchmarks/embedders_bench.py --speech``); but they name a window's
spoken query less often (13 % against 30 %), so ``audio-mfcc`` stays the default for labels about what
is said, and ``audio-logmel`` is the one for maps of recording conditions (a speech project's slices).

``voice_mel`` is the front end of the pretrained ``audio-voice`` (``pretrained.py``): Resemblyzer's
mel power spectrogram, with librosa's Slaney filters (``slaney_mel_filterbank``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from math import gcd
from typing import Any

import numpy as np

from .base import Embedder, EmbeddingError


def load_audio(item: Any, *, sample_rate: int, max_seconds: float | None, index: int | None = None):
    """Decode ``item`` (a path) to a mono float64 waveform at ``sample_rate``."""
    import soundfile as sf
    from scipy.signal import resample_poly

    if not isinstance(item, str | bytes | os.PathLike):
        raise EmbeddingError(f"audio input #{index} must be a file path, not {type(item).__name__}", index=index)
    path = os.fsdecode(item)
    if not os.path.exists(path):
        raise EmbeddingError(f"audio file not found: {path}", index=index)
    try:
        with sf.SoundFile(path) as f:
            sr = int(f.samplerate)
            limit = None if max_seconds is None else int(max_seconds * sr)
            # read in blocks and mix down to mono as we go: a long multichannel file never sits in
            # memory as a (frames, channels) float64 array
            parts, total = [], 0
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                parts.append(block.mean(axis=1))
                total += len(block)
                if limit is not None and total >= limit:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read audio {path}: {exc}", index=index) from exc
    if total == 0:
        raise EmbeddingError(f"audio file has no samples: {path}", index=index)
    wave = np.concatenate(parts).astype(np.float64)
    if limit is not None:
        wave = wave[:limit]
    if sr != sample_rate:
        g = gcd(sr, sample_rate)
        wave = resample_poly(wave, sample_rate // g, sr // g)
    if not np.all(np.isfinite(wave)):
        raise EmbeddingError(f"audio file has non-finite samples: {path}", index=index)
    return wave


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 20.0) -> np.ndarray:
    """Triangular HTK-style mel filters, shape (n_mels, n_fft // 2 + 1), each row summing to ~1."""
    fmax = sample_rate / 2.0
    mels = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    hz = _mel_to_hz(mels)
    freqs = np.linspace(0.0, fmax, n_fft // 2 + 1)
    fb = np.zeros((n_mels, freqs.size))
    for m in range(n_mels):
        lo, centre, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / max(centre - lo, 1e-9)
        down = (hi - freqs) / max(hi - centre, 1e-9)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    sums = fb.sum(axis=1, keepdims=True)
    fb /= np.where(sums > 0, sums, 1.0)
    fb.setflags(write=False)
    return fb


def _slaney_hz_to_mel(f):
    """The Slaney (Auditory Toolbox) mel scale, librosa's default: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _slaney_mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=4)
def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's default mel filters (``librosa.filters.mel``: Slaney scale, 0 Hz .. Nyquist, each
    triangle scaled to unit area, ``norm="slaney"``), shape (n_mels, n_fft // 2 + 1)."""
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _slaney_mel_to_hz(np.linspace(_slaney_hz_to_mel(0.0), _slaney_hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    fb = np.maximum(0.0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    fb.setflags(write=False)
    return fb


def frame_blocks(n_samples: int, frame_len: int, hop: int, chunk: int = 2048):
    """The frames of a waveform of ``n_samples`` (``frame_len`` samples every ``hop``), a block of at most
    ``chunk`` at a time (bounding the (frames, frame_len) matrices for long clips): ``(first frame, sample
    indices (frames, frame_len))`` pairs, to index the waveform with."""
    n_frames = 1 + (n_samples - frame_len) // hop
    offsets = np.arange(frame_len)[None, :]
    for f0 in range(0, n_frames, chunk):
        yield f0, offsets + hop * np.arange(f0, min(f0 + chunk, n_frames))[:, None]


# Resemblyzer's front end: 16 kHz, 25 ms Hann window (400 samples, the FFT size), 10 ms hop, 40 bands
VOICE_SAMPLE_RATE, VOICE_N_FFT, VOICE_HOP, VOICE_N_MELS = 16000, 400, 160, 40


def voice_mel(wave: np.ndarray) -> np.ndarray:
    """(1 + len(wave) // 160, 40) float32: the mel power spectrogram Resemblyzer's VoiceEncoder takes
    (``librosa.feature.melspectrogram`` with its defaults but for a zero-padded edge: frames centred on
    every 160th sample, the waveform padded with 200 zeros each side, a periodic Hann window of 400
    samples, |FFT|², the Slaney filters; no log) of a 16 kHz mono waveform."""
    fb = slaney_mel_filterbank(VOICE_SAMPLE_RATE, VOICE_N_FFT, VOICE_N_MELS)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(VOICE_N_FFT) / VOICE_N_FFT)
    y = np.pad(np.asarray(wave, dtype=np.float64), VOICE_N_FFT // 2)
    n_frames = 1 + (y.size - VOICE_N_FFT) // VOICE_HOP
    out = np.empty((n_frames, VOICE_N_MELS), dtype=np.float32)
    for f0, idx in frame_blocks(y.size, VOICE_N_FFT, VOICE_HOP):
        spectrum = np.fft.rfft(y[idx] * window, axis=1)
        out[f0 : f0 + len(idx)] = (spectrum.real**2 + spectrum.imag**2) @ fb.T
    return out


class AudioMfccEmbedder(Embedder):
    name = "audio-mfcc"
    modality = "audio"

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_mfcc: int = 20,
        n_mels: int = 40,
        frame_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_fft: int = 512,
        max_seconds: float | None = 600.0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(batch_size=batch_size)
        if n_mfcc > n_mels:
            raise ValueError("n_mfcc must be <= n_mels")
        self.sample_rate = int(sample_rate)
        self.n_mfcc = int(n_mfcc)
        self.n_mels = int(n_mels)
        self.frame_len = int(round(sample_rate * frame_ms / 1000.0))
        self.hop = int(round(sample_rate * hop_ms / 1000.0))
        self.n_fft = max(int(n_fft), self.frame_len)
        self.max_seconds = max_seconds
        self.dim = 4 * self.n_mfcc + 4

    def _config(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "n_mfcc": self.n_mfcc,
            "n_mels": self.n_mels,
            "frame_len": self.frame_len,
            "hop": self.hop,
            "n_fft": self.n_fft,
            "max_seconds": self.max_seconds,
        }

    def features_from_wave(self, wave: np.ndarray) -> np.ndarray:
        """The statistics vector for a mono waveform already at ``self.sample_rate``."""
        from scipy.fft import dct, rfft

        wave = np.asarray(wave, dtype=np.float64)
        if wave.size < self.frame_len:
            wave = np.pad(wave, (0, self.frame_len - wave.size))
        # pre-emphasis flattens the spectral tilt of speech/music so high bands are not ignored
        emph = np.append(wave[0], wave[1:] - 0.97 * wave[:-1])
        n_frames = 1 + (emph.size - self.frame_len) // self.hop
        window = np.hanning(self.frame_len)
        fb = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels)
        mfcc = np.empty((n_frames, self.n_mfcc))
        energy_db = np.empty(n_frames)
        zcr = np.empty(n_frames)
        for f0, idx in frame_blocks(emph.size, self.frame_len, self.hop):
            frames = emph[idx] * window[None, :]
            power = np.abs(rfft(frames, n=self.n_fft, axis=1)) ** 2 / self.n_fft
            logmel = np.log(np.maximum(power @ fb.T, 1e-10))
            mfcc[f0 : f0 + len(idx)] = dct(logmel, type=2, axis=1, norm="ortho")[:, : self.n_mfcc]
            raw = wave[idx]
            energy_db[f0 : f0 + len(idx)] = np.log10(np.maximum((raw**2).mean(axis=1), 1e-10))
            zcr[f0 : f0 + len(idx)] = np.abs(np.diff(np.signbit(raw).astype(np.int8), axis=1)).mean(axis=1)
        delta = np.diff(mfcc, axis=0) if n_frames > 1 else np.zeros_like(mfcc)
        return np.concatenate(
            [
                mfcc.mean(axis=0),
                mfcc.std(axis=0),
                np.abs(delta).mean(axis=0),
                delta.std(axis=0),
                [energy_db.mean(), energy_db.std(), zcr.mean(), zcr.std()],
            ]
        )

    def _embed_batch(self, batch: list[Any], start: int) -> np.ndarray:
        out = np.empty((len(batch), self.dim), dtype=np.float32)
        for j, item in enumerate(batch):
            wave = load_audio(item, sample_rate=self.sample_rate, max_seconds=self.max_seconds, index=start + j)
            out[j] = self.features_from_wave(wave)
        return out


class AudioLogmelEmbedder(AudioMfccEmbedder):
    """Per-band statistics of the log-mel spectrogram, without pre-emphasis (see the module docstring):
    the frames, filterbank and decoding of ``audio-mfcc``, another summary."""

    name = "audio-logmel"
    PERCENTILES = (10, 50, 90)

    def __init__(self, *, n_mels: int = 40, **options: Any) -> None:
        super().__init__(n_mels=n_mels, n_mfcc=min(20, int(n_mels)), **options)
        self.dim = (2 + len(self.PERCENTILES)) * self.n_mels

    def _config(self) -> dict[str, Any]:
        config = super()._config()
        del config["n_mfcc"]
        return {**config, "percentiles": list(self.PERCENTILES)}

    def features_from_wave(self, wave: np.ndarray) -> np.ndarray:
        """The statistics vector for a mono waveform already at ``self.sample_rate``."""
        from scipy.fft import rfft

        wave = np.asarray(wave, dtype=np.float64)
        if wave.size < self.frame_len:
            wave = np.pad(wave, (0, self.frame_len - wave.size))
        n_frames = 1 + (wave.size - self.frame_len) // self.hop
        window = np.hanning(self.frame_len)
        fb = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels)
        logmel = np.empty((n_frames, self.n_mels))
        for f0, idx in frame_blocks(wave.size, self.frame_len, self.hop):
            power = np.abs(rfft(wave[idx] * window[None, :], n=self.n_fft, axis=1)) ** 2 / self.n_fft
            logmel[f0 : f0 + len(idx)] = np.log10(np.maximum(power @ fb.T, 1e-10))
        stats = [logmel.mean(axis=0), logmel.std(axis=0), *np.percentile(logmel, self.PERCENTILES, axis=0)]
        return np.concatenate(stats)
