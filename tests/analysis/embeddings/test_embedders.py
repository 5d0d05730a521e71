"""Embedders: stated dim, finite float32, deterministic, clear errors on unreadable input (no Django).

The ONNX embedder is tested with tiny models written here byte by byte in the ONNX protobuf wire
format (the ``onnx`` package is not installed in this environment, and nothing may be downloaded).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from analysis.embeddings import EmbeddingError, available_embedders, get_embedder
from analysis.embeddings.audio import _hz_to_mel, _mel_to_hz
from analysis.embeddings.registry import BUILTIN_DIMS

ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
def _image(seed: int, size=(40, 30), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    a = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    a[5:15, 5:25] = [250, 20, 20]  # a red bar so colour and gradients are not pure noise
    return Image.fromarray(a, mode="RGB").convert(mode)


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"img{i}.png"
        _image(i).save(p)
        paths.append(str(p))
    jpg = tmp_path / "photo.jpg"
    _image(9, size=(300, 200)).save(jpg, quality=90)
    paths.append(str(jpg))
    return paths


def _tone(path: Path, freq: float, *, sr: int = 16000, seconds: float = 0.5, channels: int = 1) -> str:
    t = np.arange(int(sr * seconds)) / sr
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).normal(size=t.size)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    sf.write(path, data, sr)
    return str(path)


@pytest.fixture
def audio_files(tmp_path):
    return [
        _tone(tmp_path / "a440.wav", 440.0),
        _tone(tmp_path / "a440_stereo_44k.wav", 440.0, sr=44100, channels=2),
        _tone(tmp_path / "a3000.flac", 3000.0, sr=8000, seconds=1.0),
    ]


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
def test_registry_lists_the_builtins_per_modality():
    assert available_embedders("image") == ["image-basic", "image-effnet-basic", "image-effnet-lite0", "onnx"]
    assert available_embedders("audio") == ["audio-logmel", "audio-mfcc", "audio-voice", "onnx"]
    assert available_embedders("text") == ["text-minilm", "text-tfidf"]
    assert set(available_embedders()) == {
        "image-basic",
        "image-effnet-basic",
        "image-effnet-lite0",
        "audio-logmel",
        "audio-mfcc",
        "audio-voice",
        "text-minilm",
        "text-tfidf",
        "onnx",
    }
    with pytest.raises(ValueError, match="unknown modality"):
        available_embedders("video")
    with pytest.raises(KeyError, match="unknown embedder"):
        get_embedder("resnet-from-the-internet")
    with pytest.raises(TypeError, match="model_path"):
        get_embedder("onnx")


def test_embedders_describe_themselves():
    for name in ("image-basic", "audio-logmel", "audio-mfcc", "text-tfidf"):
        emb = get_embedder(name)
        d = emb.describe()
        assert d["name"] == name and d["modality"] == emb.modality and d["dim"] == emb.dim


# ------------------------------------------------------------------------------------------------
# image-basic
# ------------------------------------------------------------------------------------------------
def test_image_basic_returns_the_stated_dim_finite_float32(image_files):
    emb = get_embedder("image-basic", batch_size=2)  # several batches
    assert emb.dim == 16 * 16 + 324 + 24
    X = emb.embed(image_files + [_image(7, mode="L"), _image(8, mode="RGBA"), _image(3, size=(1, 1))])
    assert X.shape == (len(image_files) + 3, emb.dim)
    assert X.dtype == np.float32
    assert np.all(np.isfinite(X))


def test_image_basic_same_input_same_vector_whatever_the_batch(image_files):
    a = get_embedder("image-basic", batch_size=1).embed(image_files)
    b = get_embedder("image-basic", batch_size=64).embed(list(reversed(image_files)))[::-1]
    np.testing.assert_array_equal(a, b)
    # a path and the PIL image it holds (PNG is lossless) give the same vector
    c = get_embedder("image-basic").embed([Image.open(image_files[0])])
    np.testing.assert_array_equal(a[0], c[0])
    # and different images differ
    assert not np.allclose(a[0], a[1])


def test_image_basic_batch_features_are_scikit_images_hog_to_the_bit():
    """The batched numpy HOG gives the vectors the per-image scikit-image version gave, so vectors
    stored before it (kept per item and content) still sit in the same space as new ones."""
    from skimage.feature import hog

    from analysis.embeddings.image import hog_batch

    rng = np.random.default_rng(3)
    images = rng.random((6, 32, 32))
    images[0] = 0.0  # flat: no gradient at all
    images[1] = np.linspace(0, 1, 32)[None, :]  # orientation exactly 0° everywhere
    images[2] = np.linspace(0, 1, 32)[:, None]  # exactly 90°: a bin boundary
    images[3] = np.round(images[3] * 4) / 4  # many ties and diagonal (45°, 135°) gradients
    for orientations, cell in ((9, 8), (7, 4)):
        expected = np.stack(
            [
                hog(
                    im,
                    orientations=orientations,
                    pixels_per_cell=(cell, cell),
                    cells_per_block=(2, 2),
                    block_norm="L2-Hys",
                )
                for im in images
            ]
        )
        np.testing.assert_array_equal(hog_batch(images, orientations=orientations, cell=cell, block=2), expected)


def test_image_basic_corrupt_or_missing_file_raises_a_clear_error(tmp_path, image_files):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    emb = get_embedder("image-basic")
    with pytest.raises(EmbeddingError, match="cannot read image .*broken.png") as exc:
        emb.embed([image_files[0], str(bad)])
    assert exc.value.index == 1
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(image_files[-1]).read_bytes()[:300])
    with pytest.raises(EmbeddingError, match="truncated.jpg"):
        emb.embed([str(truncated)])
    with pytest.raises(EmbeddingError, match="not found"):
        emb.embed([str(tmp_path / "nope.png")])
    with pytest.raises(EmbeddingError, match="file path or a PIL image"):
        emb.embed([42])


def test_iter_batches_streams_in_order(image_files):
    emb = get_embedder("image-basic", batch_size=4)
    starts = [(s, len(b)) for s, b in emb.iter_batches(image_files)]
    assert starts == [(0, 4), (4, 2)]
    assert emb.embed([]).shape == (0, emb.dim)


# ------------------------------------------------------------------------------------------------
# audio-mfcc
# ------------------------------------------------------------------------------------------------
def _click_and_silence(tmp_path) -> list[str]:
    """A clip shorter than one frame and half a second of digital silence."""
    short, silent = tmp_path / "click.wav", tmp_path / "silence.wav"
    sf.write(short, np.array([0.0, 0.5, -0.5, 0.0]), 16000)
    sf.write(silent, np.zeros(8000), 16000)
    return [str(short), str(silent)]


def test_audio_mfcc_returns_the_stated_dim_finite_float32(audio_files, tmp_path):
    emb = get_embedder("audio-mfcc", batch_size=2)
    X = emb.embed(audio_files + _click_and_silence(tmp_path))
    assert X.shape == (5, emb.dim) and emb.dim == 84
    assert X.dtype == np.float32 and np.all(np.isfinite(X))


def test_audio_mfcc_is_deterministic_and_tells_sounds_apart(audio_files):
    emb = get_embedder("audio-mfcc")
    a = emb.embed(audio_files)
    b = get_embedder("audio-mfcc").embed(audio_files)
    np.testing.assert_array_equal(a, b)
    # the same tone at 16 kHz mono and 44.1 kHz stereo is closer than a different tone
    assert np.linalg.norm(a[0] - a[1]) < np.linalg.norm(a[0] - a[2])


def test_audio_mfcc_corrupt_or_empty_file_raises_a_clear_error(tmp_path, audio_files):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    emb = get_embedder("audio-mfcc")
    with pytest.raises(EmbeddingError, match="cannot read audio .*broken.wav") as exc:
        emb.embed([audio_files[0], str(bad)])
    assert exc.value.index == 1
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    with pytest.raises(EmbeddingError, match="no samples"):
        emb.embed([str(empty)])
    with pytest.raises(EmbeddingError, match="not found"):
        emb.embed([str(tmp_path / "nope.wav")])


# ------------------------------------------------------------------------------------------------
# audio-logmel
# ------------------------------------------------------------------------------------------------
def test_audio_logmel_returns_the_stated_dim_finite_float32(audio_files, tmp_path):
    emb = get_embedder("audio-logmel", batch_size=2)
    X = emb.embed(audio_files + _click_and_silence(tmp_path))
    assert X.shape == (5, emb.dim) and emb.dim == 200 == BUILTIN_DIMS["audio-logmel"]
    assert X.dtype == np.float32 and np.all(np.isfinite(X))
    n = emb.n_mels  # digital silence: every band at the floor, with no spread
    assert np.all(np.delete(X[4], np.s_[n : 2 * n]) == np.float32(-10.0)) and np.all(X[4, n : 2 * n] == 0)
    assert emb.describe()["percentiles"] == [10, 50, 90]


def test_audio_logmel_is_deterministic_and_tells_sounds_apart(audio_files):
    a = get_embedder("audio-logmel").embed(audio_files)
    np.testing.assert_array_equal(a, get_embedder("audio-logmel").embed(audio_files))
    assert np.linalg.norm(a[0] - a[1]) < np.linalg.norm(a[0] - a[2])


def test_audio_logmel_sees_the_recording_condition_beside_the_sound():
    """Low rumble (which audio-mfcc's pre-emphasis attenuates) raises the lowest bands' floor; a
    telephone band leaves the bands above 4 kHz empty; the vector is [mean, std, p10, p50, p90] per band."""
    from scipy.signal import butter, lfilter, resample_poly

    sr, rng = 16000, np.random.default_rng(0)
    t = np.arange(sr) / sr
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)  # a tone with pauses
    voice += 0.05 * rng.normal(size=t.size) * (np.sin(2 * np.pi * 3 * t) > 0)  # broadband "fricatives"
    b, a = butter(2, 80 / (sr / 2))
    rumble = lfilter(b, a, rng.normal(size=t.size))
    rumble *= 0.3 / np.abs(rumble).max()
    b, a = butter(4, [300 / 4000, 3400 / 4000], "band")
    phone = resample_poly(lfilter(b, a, resample_poly(voice, 1, 2)), 2, 1)  # 8 kHz and back
    emb = get_embedder("audio-logmel")
    n = emb.n_mels
    clean, car, tel = (emb.features_from_wave(w) for w in (voice, voice + rumble, phone))
    p10, p90 = slice(2 * n, 3 * n), slice(4 * n, 5 * n)
    assert car[p10][0] - clean[p10][0] > 3  # the lowest band's background: >= 30 dB up
    centres = _mel_to_hz(np.linspace(_hz_to_mel(20.0), _hz_to_mel(sr / 2), n + 2))[1:-1]
    high = centres > 4500
    assert high.sum() >= 8 and np.all(clean[p90][high] - tel[p90][high] > 2)  # foreground above 4.5 kHz: 20 dB down


# ------------------------------------------------------------------------------------------------
# text-tfidf
# ------------------------------------------------------------------------------------------------
TEXTS = [
    "nearest gas station please",
    "where is the nearest gas station",
    "um nearest gas station",
    "play some jazz music",
    "play jazz from the seventies",
    "what is the weather tomorrow",
    "",
]


def test_text_tfidf_returns_the_stated_dim_finite_float32():
    emb = get_embedder("text-tfidf")
    X = emb.embed(TEXTS)
    assert X.shape == (len(TEXTS), 128) and X.dtype == np.float32 and np.all(np.isfinite(X))
    assert get_embedder("text-tfidf").embed(["one lonely text"]).shape == (1, 128)


def test_text_tfidf_same_corpus_same_vectors_and_similar_texts_are_close():
    a = get_embedder("text-tfidf", batch_size=2).embed(TEXTS)
    b = get_embedder("text-tfidf").embed(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.linalg.norm(a[0] - a[1]) < np.linalg.norm(a[0] - a[3])


def test_text_tfidf_rejects_non_text():
    with pytest.raises(EmbeddingError, match="must be a str"):
        get_embedder("text-tfidf").embed(["fine", None])


# ------------------------------------------------------------------------------------------------
# onnx: tiny models written in the protobuf wire format
# ------------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def _value_info(name: str, dims: list) -> bytes:
    shape = b"".join(_field(1, _field(2, d) if isinstance(d, str) else _field(1, d)) for d in dims)
    tensor_type = _field(1, 1) + _field(2, shape)  # elem_type FLOAT, shape
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _tensor(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_field(1, int(d)) for d in array.shape)
    return dims + _field(2, 1) + _field(8, name) + _field(9, np.ascontiguousarray(array, "<f4").tobytes())


def _node(op: str, inputs: list[str], outputs: list[str], attrs: bytes = b"") -> bytes:
    return b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs) + _field(4, op) + attrs


def _model(nodes: list[bytes], inits: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    graph = (
        b"".join(_field(1, n) for n in nodes)
        + _field(2, "tiny")
        + b"".join(_field(5, t) for t in inits)
        + b"".join(_field(11, v) for v in inputs)
        + b"".join(_field(12, v) for v in outputs)
    )
    opset = _field(1, "") + _field(2, 13)
    return _field(1, 8) + _field(2, "labelhub-tests") + _field(7, graph) + _field(8, opset)


W_IMG = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, 1.0, 0.5], [0.5, -1.0, 0.0, 1.0]], dtype=np.float32)


@pytest.fixture
def image_onnx(tmp_path):
    """x (N, 3, 8, 8) -> global average pool -> flatten -> @ W (3×4) -> y (N, 4)."""
    flatten_axis = _field(5, _field(1, "axis") + _field(3, 1) + _field(20, 2))
    model = _model(
        nodes=[
            _node("GlobalAveragePool", ["x"], ["g"]),
            _node("Flatten", ["g"], ["f"], flatten_axis),
            _node("MatMul", ["f", "W"], ["y"]),
        ],
        inits=[_tensor("W", W_IMG)],
        inputs=[_value_info("x", ["N", 3, 8, 8])],
        outputs=[_value_info("y", ["N", 4])],
    )
    path = tmp_path / "tiny_image.onnx"
    path.write_bytes(model)
    return path


def test_onnx_image_embedder_runs_a_local_model(image_onnx, image_files):
    emb = get_embedder("onnx", model_path=str(image_onnx), modality="image", batch_size=4)
    assert emb.dim == 4
    X = emb.embed(image_files)
    assert X.shape == (len(image_files), 4) and X.dtype == np.float32 and np.all(np.isfinite(X))
    np.testing.assert_array_equal(X, emb.embed(image_files))
    # matches the same computation in numpy: resize to 8×8, ImageNet normalisation, mean, @ W, L2
    img = Image.open(image_files[0]).convert("RGB").resize((8, 8), Image.Resampling.BILINEAR, reducing_gap=2.0)
    a = (np.asarray(img, np.float32) / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    y = a.reshape(-1, 3).mean(axis=0) @ W_IMG
    np.testing.assert_allclose(X[0], y / np.linalg.norm(y), rtol=1e-4, atol=1e-5)


def test_onnx_audio_embedder_pads_clips_to_the_model_length(tmp_path, audio_files):
    w = np.random.default_rng(0).normal(size=(400, 3)).astype(np.float32)
    model = _model(
        nodes=[_node("MatMul", ["x", "W"], ["y"])],
        inits=[_tensor("W", w)],
        inputs=[_value_info("x", ["N", 400])],
        outputs=[_value_info("y", ["N", 3])],
    )
    path = tmp_path / "tiny_audio.onnx"
    path.write_bytes(model)
    emb = get_embedder("onnx", model_path=str(path), modality="audio", normalize=False)
    X = emb.embed(audio_files)
    assert X.shape == (3, 3) and emb.dim == 3 and np.all(np.isfinite(X))
    wave, sr = sf.read(audio_files[0])
    np.testing.assert_allclose(X[0], wave[:400].astype(np.float32) @ w, rtol=1e-4, atol=1e-4)


def test_onnx_embedder_clear_errors(tmp_path, image_onnx):
    with pytest.raises(FileNotFoundError, match="ONNX model file not found"):
        get_embedder("onnx", model_path=str(tmp_path / "missing.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not a model")
    with pytest.raises(ValueError, match="cannot load ONNX model"):
        get_embedder("onnx", model_path=str(junk))
    with pytest.raises(ValueError, match="text"):
        get_embedder("onnx", model_path=str(image_onnx), modality="text")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(EmbeddingError, match="bad.png"):
        get_embedder("onnx", model_path=str(image_onnx)).embed([str(bad)])


# ------------------------------------------------------------------------------------------------
# guard
# ------------------------------------------------------------------------------------------------
def test_importing_embeddings_does_not_import_django():
    code = (
        "import sys\n"
        "import analysis.embeddings, analysis.embeddings.registry, analysis.embeddings.projection\n"
        "import analysis.embeddings.image, analysis.embeddings.audio, analysis.embeddings.text\n"
        "import analysis.embeddings.onnx_model\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_protobuf_varint_helper():
    assert _varint(1) == b"\x01" and _varint(300) == b"\xac\x02"
