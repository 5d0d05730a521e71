"""Validation and statistics of media files before they become items."""

import io
import struct
import zlib

import numpy as np
import pytest
import soundfile

from labeling.inputs import InputRejected, inspect_audio, inspect_image, inspect_text
from tests.conftest import png_bytes, rotated_jpeg, wav_bytes


def bomb_png(width=30000, height=30000):
    """A valid PNG header for a huge 1-bit image with a tiny compressed body: a decompression bomb."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_image_statistics_measure_brightness_and_contrast():
    flat = inspect_image(png_bytes(size=(40, 20), value=200))
    assert flat.stats["width"] == 40 and flat.stats["height"] == 20
    assert flat.stats["brightness"] == pytest.approx(200, abs=0.01)
    assert flat.stats["contrast"] == pytest.approx(0, abs=0.01)
    noisy = inspect_image(png_bytes(size=(64, 64)))
    assert noisy.stats["contrast"] > 50
    assert flat.extension == ".png"


@pytest.mark.parametrize(
    "orientation, size",
    [(1, (400, 200)), (2, (400, 200)), (3, (400, 200)), (4, (400, 200))] + [(n, (200, 400)) for n in (5, 6, 7, 8)],
)
def test_the_size_is_the_upright_one_the_exif_orientation_makes(orientation, size):
    """Browsers show a photo upright and boxes are fractions of what they show: orientations 5-8 (a
    quarter turn, as ImageOps.exif_transpose makes it) swap width and height."""
    stats = inspect_image(rotated_jpeg(orientation)).stats
    assert (stats["width"], stats["height"]) == size
    assert stats["format"] == "jpeg"


def test_corrupt_png_is_rejected_with_the_reason():
    data = png_bytes(size=(64, 64))
    broken = data[:40] + b"\x00" * 30 + data[70:]
    with pytest.raises(InputRejected, match="corrupt|identify"):
        inspect_image(broken)


def test_truncated_png_is_rejected():
    data = png_bytes(size=(128, 128))
    with pytest.raises(InputRejected):
        inspect_image(data[: len(data) // 2])


def test_decompression_bomb_is_rejected_before_decoding():
    with pytest.raises(InputRejected, match="900,000,000 pixels.*decompression bomb"):
        inspect_image(bomb_png())


def test_audio_statistics():
    stats = inspect_audio(wav_bytes(seconds=0.5, amplitude=0.5)).stats
    assert stats["duration"] == pytest.approx(0.5)
    assert stats["sample_rate"] == 16000 and stats["channels"] == 1
    # A sine of amplitude 0.5 has an RMS of 0.5/sqrt(2): -9.03 dBFS, and a peak of -6.02 dBFS.
    assert stats["rms_dbfs"] == pytest.approx(-9.03, abs=0.05)
    assert stats["peak_dbfs"] == pytest.approx(-6.02, abs=0.05)
    assert stats["clipped_share"] == 0 and stats["silence_share"] == 0


def test_silence_and_clipping_are_measured():
    rate = 8000
    signal = np.concatenate([np.zeros(rate), np.ones(rate)]).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format="WAV", subtype="FLOAT")
    stats = inspect_audio(buffer.getvalue()).stats
    assert stats["silence_share"] == pytest.approx(0.5, abs=0.01)
    assert stats["clipped_share"] == pytest.approx(0.5, abs=0.01)


def test_flac_and_ogg_decode():
    assert inspect_audio(wav_bytes(fmt="FLAC")).stats["format"] == "flac"
    assert inspect_audio(wav_bytes(fmt="OGG")).stats["format"] == "ogg"


def test_truncated_wav_is_rejected():
    data = wav_bytes(seconds=1.0)
    with pytest.raises(InputRejected, match="truncated WAV"):
        inspect_audio(data[: len(data) // 2])


def test_random_bytes_are_not_audio():
    with pytest.raises(InputRejected, match="cannot be decoded"):
        inspect_audio(b"not audio at all" * 100)


def test_undecodable_audio_reason_names_no_python_object():
    """The import report shows this reason to the uploader: libsndfile's own sentence, not the
    in-memory buffer it was handed (``Error opening <_io.BytesIO object at 0x7f...>``)."""
    with pytest.raises(InputRejected) as rejected:
        inspect_audio(png_bytes(size=(8, 8)))
    reason = str(rejected.value)
    assert "BytesIO" not in reason and " at 0x" not in reason, reason
    assert reason == "audio cannot be decoded (WAV, FLAC, OGG and MP3 are accepted): Format not recognised."


def test_oversized_file_is_rejected(settings):
    settings.LABELHUB_MAX_FILE_BYTES = 1000
    with pytest.raises(InputRejected, match="over the limit of 1,000 bytes"):
        inspect_image(png_bytes(size=(200, 200)))


def test_text_statistics_and_limits(settings):
    assert inspect_text("two words\nand more").stats == {"length": 18, "words": 4, "lines": 2}
    with pytest.raises(InputRejected, match="empty"):
        inspect_text("   ")
    settings.LABELHUB_MAX_TEXT_CHARS = 5
    with pytest.raises(InputRejected, match="over the limit"):
        inspect_text("too long")


def silent_flac(*, seconds, rate, channels):
    """A FLAC clip of digital silence: a few hundred bytes a second whatever its length, written in blocks."""
    buffer = io.BytesIO()
    block = np.zeros((rate, channels), dtype="int16")
    with soundfile.SoundFile(buffer, "w", rate, channels, format="FLAC") as clip:
        for _ in range(seconds):
            clip.write(block)
    return buffer.getvalue()


def test_audio_over_the_sample_limit_is_rejected_naming_it(settings):
    settings.LABELHUB_MAX_AUDIO_SAMPLES = 100_000
    data = silent_flac(seconds=10, rate=8000, channels=2)  # 160,000 samples
    with pytest.raises(InputRejected, match="160,000 samples.*over the limit of 100,000"):
        inspect_audio(data)
    settings.LABELHUB_MAX_AUDIO_SAMPLES = 160_000
    assert inspect_audio(data).stats["duration"] == 10


def test_an_audio_decompression_bomb_is_rejected_before_decoding():
    # ~220 KB of FLAC that decode to 215 million samples (over 800 MB as float32): the 50 MB upload
    # limit let through files that decode to hundreds of gigabytes and took the process down.
    data = silent_flac(seconds=140, rate=192_000, channels=8)
    assert len(data) < 300_000
    with pytest.raises(InputRejected, match="215,040,000 samples.*decompression bomb"):
        inspect_audio(data)


def pcm_wav(*, rate, channels, frames):
    """A 16-bit PCM WAV written field by field: libsndfile writes no clip of 1,024 channels or at 1 Hz."""
    data = b"\x00\x10" * (frames * channels)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("rate", "channels", "reason"),
    [
        (2_999, 1, "audio at 2,999 Hz cannot be played by web browsers (they play 3,000 to 768,000 Hz)"),
        (768_001, 1, "audio at 768,001 Hz cannot be played by web browsers (they play 3,000 to 768,000 Hz)"),
        (1, 1, "audio at 1 Hz cannot be played by web browsers (they play 3,000 to 768,000 Hz)"),
        (16_000, 33, "audio of 33 channels cannot be played by web browsers (at most 32)"),
    ],
)
def test_audio_browsers_cannot_play_is_refused_saying_so(rate, channels, reason):
    """A clip at 1 Hz (a broken header), 2,999 Hz or 768,001 Hz, or of 33 channels, was imported, and the
    labeling and review pages showed an empty waveform, 0:00.0 long, that would not play: Chromium decodes
    3,000 to 768,000 Hz and at most 32 channels."""
    with pytest.raises(InputRejected) as rejected:
        inspect_audio(pcm_wav(rate=rate, channels=channels, frames=3000))
    assert str(rejected.value).startswith(reason + ", so nobody could label it")


@pytest.mark.parametrize(("rate", "channels"), [(3_000, 1), (768_000, 2), (16_000, 32), (8_000, 6)])
def test_audio_at_the_edges_of_what_browsers_play_is_imported(rate, channels):
    stats = inspect_audio(pcm_wav(rate=rate, channels=channels, frames=rate // 10)).stats
    assert stats["sample_rate"] == rate and stats["channels"] == channels
