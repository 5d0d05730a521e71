"""audio-voice (Resemblyzer's voice encoder): its mel front end and partial utterances; listed for audio
projects with its dimension and speed, but never their default (audio-mfcc stays). With the real model
(after `make embedders`; skipped without it), its vectors are the reference port's and tell the demo's
recording conditions apart."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import call_command

from analysis.embeddings import get_embedder
from analysis.embeddings.audio import slaney_mel_filterbank, voice_mel
from analysis.embeddings.pretrained import VOICE_FILE
from analysis.models import Embedding, EmbeddingMap
from analysis.services.maps import map_job_run
from labeling.services.imports import ImportEntry, items_import
from tests.analysis.embeddings.test_embedders import _field, _model, _node, _tensor, _value_info
from tests.conftest import make_project, wav_bytes

SPEECH = Path(__file__).resolve().parents[2] / "labeling" / "demo_data" / "speech"


# --- the front end ------------------------------------------------------------------------------------


def _slaney_mel(f):
    """Slaney's mel scale: 3 mels per 200 Hz up to 1 kHz (15 mels), then 27 mels per factor 6.4."""
    return f / (200 / 3) if f < 1000 else 15 + 27 * np.log(f / 1000) / np.log(6.4)


def _slaney_hz(m):
    return m * (200 / 3) if m < 15 else 1000 * 6.4 ** ((m - 15) / 27)


def test_the_voice_front_end_is_a_centred_mel_power_spectrogram_with_librosas_filters():
    sr = 16000
    t = np.arange(sr + 37) / sr
    wave = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    mel = voice_mel(wave)
    assert mel.shape == (1 + wave.size // 160, 40) and mel.dtype == np.float32

    # the filters, one value at a time: triangles between Slaney-scale edges, each scaled to unit area
    edges = [_slaney_hz(m) for m in np.linspace(0, _slaney_mel(8000.0), 42)]
    fb = slaney_mel_filterbank(sr, 400, 40)
    for m in range(40):
        lo, centre, hi = edges[m : m + 3]
        for k in range(201):
            f = 40.0 * k
            want = max(0.0, min((f - lo) / (centre - lo), (hi - f) / (hi - centre))) * 2 / (hi - lo)
            assert fb[m, k] == pytest.approx(want, rel=1e-9, abs=1e-15)

    # frames: 400 samples centred on every 160th, zeros beyond the ends, periodic Hann, |DFT|²
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(201), np.arange(400)) / 400)
    for frame in (0, 1, 50, mel.shape[0] - 1):
        segment = np.zeros(400)
        for n in range(400):
            i = frame * 160 - 200 + n
            if 0 <= i < wave.size:
                segment[n] = wave[i]
        power = np.abs(dft @ (segment * window)) ** 2
        np.testing.assert_allclose(mel[frame], fb @ power, rtol=1e-5, atol=1e-9)
    # a 1 kHz tone: the band centred nearest 1 kHz is the loudest
    assert np.argmax(mel[50]) == np.argmin([abs(c - 1000) for c in edges[1:-1]])


def fake_voice(folder):
    """A stand-in for the exported voice encoder, with its input and output: mels (N, T, 40) -> mean over
    frames -> @ W (40×256) -> embeddings (N, 256) (not unit length: the embedder normalises the mean)."""
    w = np.random.default_rng(0).normal(size=(40, 256)).astype(np.float32)
    mean_over_frames = _field(5, _field(1, "axes") + _field(8, 1) + _field(20, 7)) + _field(
        5, _field(1, "keepdims") + _field(3, 0) + _field(20, 2)
    )
    model = _model(
        nodes=[_node("ReduceMean", ["mels"], ["m"], mean_over_frames), _node("MatMul", ["m", "W"], ["embeddings"])],
        inits=[_tensor("W", w)],
        inputs=[_value_info("mels", ["N", "T", 40])],
        outputs=[_value_info("embeddings", ["N", 256])],
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VOICE_FILE).write_bytes(model)
    return w


def test_a_clip_is_the_mean_of_its_partial_utterances_as_resemblyzer_cuts_them(tmp_path):
    w = fake_voice(tmp_path / "models")
    emb = get_embedder("audio-voice", models_dir=str(tmp_path / "models"), threads=2, run_batch=2, batch_size=3)
    # 1.6 s partials every 77 frames; the last kept when 3/4 of it is audio; a short clip is one padded partial
    assert emb.partial_starts(12000) == [0]  # 0.75 s
    assert emb.partial_starts(33920) == [0, 77]  # 2.12 s: the second partial is 84 % audio
    assert emb.partial_starts(37760) == [0, 77]  # a third would be 51 % audio
    assert emb.partial_starts(44000) == [0, 77, 154]  # 76 %
    rng = np.random.default_rng(1)
    waves = [0.2 * rng.normal(size=n) for n in (12000, 33920, 44000, 800, 20000)]
    waves[3] *= 1e-3  # a quiet clip is brought up to -30 dBFS ...
    loud = emb.normalize_volume(waves[0])
    assert np.allclose(loud, waves[0])  # ... and a loud one is left as it is
    quiet = emb.normalize_volume(waves[3])
    assert 20 * np.log10(np.sqrt(np.mean((quiet * 32767) ** 2)) / 32767) == pytest.approx(-30, abs=0.01)
    paths = []
    for i, wave in enumerate(waves):
        paths.append(str(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], wave, 16000, subtype="FLOAT")
    got = emb.embed(paths)  # 2 threads, runs of 2 clips, blocks of 3
    assert got.shape == (5, 256) and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    for i, path in enumerate(paths):
        wave, _ = sf.read(path)
        parts = emb.partial_mels(wave)
        assert parts.shape == (len(emb.partial_starts(wave.size)), 160, 40)
        mean = (parts.mean(axis=1) @ w).mean(axis=0)
        np.testing.assert_allclose(got[i], mean / np.linalg.norm(mean), atol=1e-5)


def embedders(api, user, project):
    return {row["name"]: row for row in api(user).get(f"/api/projects/{project.pk}/embedders/").json()["results"]}


def test_an_installed_voice_encoder_is_offered_to_audio_projects_but_mfcc_stays_their_default(
    api, client, manager, settings, tmp_path
):
    folder = tmp_path / "installed-models"
    fake_voice(folder)
    settings.LABELHUB_MODELS_DIR = str(folder)
    project = make_project(manager, name="Calls", modality="audio")
    rows = embedders(api, manager, project)
    assert rows["audio-voice"]["installed"] and rows["audio-voice"]["kind"] == "pretrained"
    assert rows["audio-voice"]["dim"] == 256 and not rows["audio-voice"]["default"]
    assert rows["audio-mfcc"]["default"] and next(iter(rows)) == "audio-mfcc"

    entries = [
        ImportEntry(name=f"{i}.wav", load=lambda i=i: wav_bytes(seconds=1.0, freq=200.0 + 50 * i)) for i in range(12)
    ]
    items_import(project=project, entries=entries)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {}, format="json").json()
    map_job_run(job_id=body["job"])
    emap = EmbeddingMap.objects.get(pk=body["map"])
    assert emap.embedder == "audio-mfcc" and emap.job.status == "succeeded", emap.job.errors
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "audio-voice"}, format="json").json()
    map_job_run(job_id=body["job"])
    emap = EmbeddingMap.objects.get(pk=body["map"])
    assert emap.embedder == "audio-voice" and emap.job.status == "succeeded", emap.job.errors
    assert emap.n_points == 12
    assert Embedding.objects.filter(model="audio-voice", dim=256).count() == 12  # read through the storage

    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert '<option value="audio-mfcc" selected>' in page
    assert re.search(r'<option value="audio-voice"\s*>audio-voice · pretrained · 256-d', page)


def test_make_embedders_measures_the_voice_encoder_on_clips(settings, tmp_path, capsys):
    folder = tmp_path / "installed-models"
    fake_voice(folder)
    settings.LABELHUB_MODELS_DIR = str(folder)
    call_command("embedders", "--measure")
    (line,) = [row for row in capsys.readouterr().out.splitlines() if "audio-voice" in row]
    assert "256-d  installed" in line and "items/s" in line and "[default]" not in line
    assert json.loads((folder / "speeds.json").read_text())["audio-voice"] > 0


# --- the real model (after `make embedders`) ----------------------------------------------------------


def _wire(data: bytes):
    """(field number, value) of a protobuf message: an int for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        kind = key & 7
        if kind == 0:
            value, pos = _varint(data, pos)
        elif kind == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:  # fixed 64 / 32 bits
            size = 8 if kind == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        yield key >> 3, value


def _varint(data: bytes, pos: int):
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def onnx_initializers(path) -> dict[str, np.ndarray]:
    """The float32 initializers of an ONNX file (graph field 7, initializer 5: dims 1, data_type 2, name 8,
    raw_data 9),
    read without the onnx package, which is not installed at run time."""
    out = {}
    graph = next(value for field, value in _wire(Path(path).read_bytes()) if field == 7)
    for tensor in (value for field, value in _wire(graph) if field == 5):
        dims, name, raw, dtype = [], "", b"", None
        for field, value in _wire(tensor):
            if field == 2:
                dtype = value
            elif field == 1:
                dims += [value] if isinstance(value, int) else [v for v, _ in _varints(value)]
            elif field == 8:
                name = value.decode()
            elif field == 9:
                raw = value
        if dtype == 1:  # FLOAT (the others are the graph's int64 axes)
            out[name] = np.frombuffer(raw, dtype="<f4").reshape(dims)
    return out


def _varints(data: bytes):
    pos = 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        yield value, pos


def reference_forward(weights: dict[str, np.ndarray], mels: np.ndarray) -> np.ndarray:
    """Resemblyzer's VoiceEncoder.forward in numpy (float64): a 3-layer LSTM in PyTorch's gate order
    (i, f, g, o), Linear + ReLU on the last hidden state, L2-normalised."""
    x = mels.astype(np.float64)
    n, frames, _ = x.shape
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for layer in range(3):
        # the file keeps ONNX's gate order (i, o, f, c): back to PyTorch's
        i, o, f, c = np.split(weights[f"lstm{layer}.W"][0], 4)
        w_ih = np.concatenate([i, f, c, o]).astype(np.float64)
        i, o, f, c = np.split(weights[f"lstm{layer}.R"][0], 4)
        w_hh = np.concatenate([i, f, c, o]).astype(np.float64)
        b_w, b_r = np.split(weights[f"lstm{layer}.B"][0], 2)
        i, o, f, c = np.split(b_w + b_r, 4)
        b = np.concatenate([i, f, c, o]).astype(np.float64)
        size = w_hh.shape[1]
        xi = x @ w_ih.T + b
        h, cell, out = np.zeros((n, size)), np.zeros((n, size)), np.empty((n, frames, size))
        for t in range(frames):
            g = xi[:, t] + h @ w_hh.T
            gi, gf, gg, go = (
                sigmoid(g[:, :size]),
                sigmoid(g[:, size : 2 * size]),
                np.tanh(g[:, 2 * size : 3 * size]),
                sigmoid(g[:, 3 * size :]),
            )
            cell = gf * cell + gi * gg
            h = go * np.tanh(cell)
            out[:, t] = h
        x = out
    e = np.maximum(h @ weights["linear.weight"].T.astype(np.float64) + weights["linear.bias"], 0)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_the_voice_encoder_gives_the_reference_ports_vector_of_a_demo_clip(voice_models_dir):
    from analysis.embeddings.audio import load_audio

    clip = SPEECH / "q00-car-noise.flac"  # 2.12 s: two partial utterances
    emb = get_embedder("audio-voice", models_dir=voice_models_dir)
    got = emb.embed([str(clip)])[0]
    wave = load_audio(str(clip), sample_rate=16000, max_seconds=None)
    parts = reference_forward(onnx_initializers(Path(voice_models_dir) / VOICE_FILE), emb.partial_mels(wave))
    assert len(parts) == 2
    want = parts.mean(axis=0) / np.linalg.norm(parts.mean(axis=0))
    assert np.abs(got - want).max() < 1e-5


def test_the_voice_encoder_puts_windows_of_one_recording_condition_together(voice_models_dir):
    """The demo's 32 clips cut in 0.75 s windows every 0.25 s (one zero-padded partial each): windows of
    other clips in the same condition are nearer, on average, than windows in another condition."""
    from analysis.embeddings.audio import load_audio

    manifest = json.loads((SPEECH / "manifest.json").read_text())
    waves, clips, conditions = [], [], []
    for c, m in enumerate(manifest):
        wave = load_audio(str(SPEECH / m["file"]), sample_rate=16000, max_seconds=None)
        for s in range(0, len(wave) - 12000 + 1, 4000):
            waves.append(wave[s : s + 12000])
            clips.append(c)
            conditions.append(m["condition"])
    v = get_embedder("audio-voice", models_dir=voice_models_dir).vectors_from_waves(waves)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    clips, conditions = np.array(clips), np.array(conditions)
    similarity = v @ v.T
    other_clip = clips[:, None] != clips[None]
    same = conditions[:, None] == conditions[None]
    assert similarity[same & other_clip].mean() - similarity[~same].mean() > 0.05
    names = sorted(set(conditions))
    nearest = [
        names[np.argmax([similarity[i][(conditions == n) & other_clip[i]].mean() for n in names])]
        for i in range(len(waves))
    ]
    assert np.mean(np.array(nearest) == conditions) > 0.7  # 76 % when written
