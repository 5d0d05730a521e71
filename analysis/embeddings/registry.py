"""Embedder registry: look embedders up by name (no Django).

>>> from analysis.embeddings.registry import available_embedders, get_embedder
>>> available_embedders("image")
['image-basic', 'onnx']
>>> emb = get_embedder("image-basic")
>>> emb.embed(["a.png", "b.jpg"]).shape        # (2, 604), float32

Built-in embedders work offline and download nothing:

============== ======== ===== =============================================================
name           modality dim   notes
============== ======== ===== =============================================================
image-basic    image    604   grayscale 16×16 pixels + HOG + RGB histogram, per-block scaled
audio-mfcc     audio    84    MFCC / delta statistics, energy and zero-crossing rate
audio-logmel   audio    200   per-band log-mel mean, std, 10th/50th/90th percentile, no pre-emphasis
                              (recording conditions: rumble, babble, telephone band)
text-tfidf     text     128   TF-IDF + TruncatedSVD, **fitted on the list given to embed**
onnx           image,   model a local ONNX model file: ``get_embedder("onnx", model_path=...,
               audio          modality="image")``
============== ======== ===== =============================================================

Pretrained embedders (``pretrained``: ``image-effnet-lite0``, 1280-d, ``image-effnet-basic``, its
features beside image-basic's, 1884-d, ``text-minilm``, 384-d, and ``audio-voice``, Resemblyzer's
speaker embedding, 256-d) run models written by ``make embedders`` into a models folder:
``get_embedder(name, models_dir=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .audio import AudioLogmelEmbedder, AudioMfccEmbedder
from .base import MODALITIES, Embedder
from .image import ImageBasicEmbedder
from .onnx_model import OnnxEmbedder
from .pretrained import (
    PRETRAINED,
    AudioVoiceEmbedder,
    ImageEffnetBasicEmbedder,
    ImageEffnetLite0Embedder,
    TextMiniLmEmbedder,
)
from .text import TextTfidfEmbedder

# Output dimensions of the built-in embedders with their default configuration.
BUILTIN_DIMS = {"image-basic": 604, "audio-mfcc": 84, "audio-logmel": 200, "text-tfidf": 128}

# name -> (modalities, factory); factories import lazily so that listing names stays cheap
_REGISTRY: dict[str, tuple[tuple[str, ...], Callable[..., Embedder]]] = {}


def register_embedder(name: str, modalities: tuple[str, ...], factory: Callable[..., Embedder]) -> None:
    """Register (or replace) an embedder factory under ``name`` for the given modalities."""
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; expected some of {MODALITIES}")
    _REGISTRY[name] = (tuple(modalities), factory)


def available_embedders(modality: str | None = None) -> list[str]:
    """Names of the registered embedders, optionally only those for ``modality``, sorted."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return sorted(name for name, (mods, _) in _REGISTRY.items() if modality is None or modality in mods)


def embedder_modalities(name: str) -> tuple[str, ...]:
    """The modalities a registered embedder embeds (empty for an unknown name)."""
    return _REGISTRY.get(name, ((), None))[0]


def get_embedder(name: str, **options: Any) -> Embedder:
    """A new embedder instance; ``options`` go to its constructor (e.g. ``batch_size``).

    ``"onnx"`` needs ``model_path=...`` (a local file) and ``modality="image"|"audio"``.
    Raises KeyError with the known names if ``name`` is not registered.
    """
    try:
        _, factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown embedder {name!r}; available: {available_embedders()}") from None
    return factory(**options)


def _image_basic(**options: Any) -> Embedder:
    return ImageBasicEmbedder(**options)


def _audio_mfcc(**options: Any) -> Embedder:
    return AudioMfccEmbedder(**options)


def _audio_logmel(**options: Any) -> Embedder:
    return AudioLogmelEmbedder(**options)


def _text_tfidf(**options: Any) -> Embedder:
    return TextTfidfEmbedder(**options)


def _onnx(**options: Any) -> Embedder:
    if "model_path" not in options:
        raise TypeError('the "onnx" embedder needs model_path=<path to a local .onnx file>')
    return OnnxEmbedder(**options)


register_embedder("image-basic", ("image",), _image_basic)
register_embedder("audio-mfcc", ("audio",), _audio_mfcc)
register_embedder("audio-logmel", ("audio",), _audio_logmel)
register_embedder("text-tfidf", ("text",), _text_tfidf)
register_embedder("onnx", ("image", "audio"), _onnx)


def _pretrained(name: str) -> Callable[..., Embedder]:
    def factory(**options: Any) -> Embedder:
        if "models_dir" not in options:
            raise TypeError(f'the "{name}" embedder needs models_dir=<the folder `make embedders` wrote>')
        cls = {
            "image-effnet-basic": ImageEffnetBasicEmbedder,
            "image-effnet-lite0": ImageEffnetLite0Embedder,
            "text-minilm": TextMiniLmEmbedder,
            "audio-voice": AudioVoiceEmbedder,
        }[name]
        return cls(**options)

    return factory


for _spec in PRETRAINED.values():
    register_embedder(_spec.name, (_spec.modality,), _pretrained(_spec.name))
