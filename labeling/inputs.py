"""Validation and input statistics of media before they become items. No database here.

Each ``inspect_*`` function takes the raw bytes of one file and answers an :class:`Inspected` with the
statistics stored on the item, or raises :class:`InputRejected` with a sentence naming the problem.
"""

import codecs
import csv
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from PIL import Image, ImageStat, UnidentifiedImageError

IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
# Formats Pillow reads that web browsers do not show: an item of one would be a broken image to its labelers.
NOT_IN_BROWSERS = {"TIFF"}
AUDIO_FORMATS = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3"}
TEXT_EXTENSIONS = {".txt", ".md"}

# Statistics of an image are computed on a copy at most this wide or tall: brightness and contrast
# of a 4000 px photo and of its 512 px thumbnail differ by far less than the drift we look for.
STATS_MAX_SIDE = 512
# An audio frame counts as silent when its 20 ms window is quieter than this.
SILENCE_DBFS = -50.0
CLIP_LEVEL = 0.999
# What web browsers decode (Chromium's media limits; Web Audio's decodeAudioData the same): a clip outside
# them showed an empty waveform, 0:00.0 long, on the labeling page, so nobody could label it.
BROWSER_SAMPLE_RATES = (3_000, 768_000)
BROWSER_MAX_CHANNELS = 32
# EXIF orientations that turn the picture a quarter (ImageOps.exif_transpose): width and height swap.
QUARTER_TURNS = {5, 6, 7, 8}


class InputRejected(ValueError):
    """The file cannot become an item; the message says why, for the import report."""


def csv_field_limit() -> int:
    """The most characters a field of a CSV that LabelHub reads may hold: a text item's limit
    (``LABELHUB_MAX_TEXT_CHARS``), and never less than Python's default (131,072). Python's ``csv``
    keeps one limit for the whole process; ``LabelingConfig.ready`` raises it to this once, at start-up,
    and nothing lowers it (a limit per reader does not exist, and one set and reset around a reader
    would race with another thread's)."""
    return max(settings.LABELHUB_MAX_TEXT_CHARS, _CSV_DEFAULT_FIELD_LIMIT)


_CSV_DEFAULT_FIELD_LIMIT = 131_072


def csv_problem(exc: csv.Error) -> str:
    """A ``csv.Error`` as a sentence for the import report (the caller names the file and line)."""
    if "field larger than field limit" in str(exc):
        return f"a field longer than {csv.field_size_limit():,} characters, the most a CSV field may hold"
    return f"not CSV: {exc}"


# What imports say of a text, line or answer holding a NUL character: PostgreSQL stores none in text or JSON.
NUL_CHARACTER = "a NUL character (\\u0000), which the database cannot store: remove it"
NUL_HELD = f"it holds {NUL_CHARACTER}"

_LINE_BREAK = re.compile(r"\r\n|[\r\n]")


def csv_row_start(line_num: int, cells) -> int:
    """The line a CSV row starts on, from its csv reader's ``line_num`` (the row's last line) and its cells
    (a DictReader's extra cells come as a list). A quoted cell over several lines (a text of paragraphs,
    a comment) was named by where it ends; the line breaks inside it, counted as the file's lines are
    split, are the lines it spans."""
    breaks = 0
    for value in cells:
        for cell in value if isinstance(value, list) else (value,):
            if isinstance(cell, str):
                breaks += len(_LINE_BREAK.findall(cell))
    return line_num - breaks


@dataclass
class Inspected:
    extension: str = ""
    stats: dict = field(default_factory=dict)
    text: str = ""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_size(data: bytes):
    limit = settings.LABELHUB_MAX_FILE_BYTES
    if len(data) > limit:
        raise InputRejected(f"file is {len(data):,} bytes, over the limit of {limit:,} bytes")
    if not data:
        raise InputRejected("file is empty")


def exif_orientation(image) -> int:
    """The image's EXIF orientation (1-8) as Pillow's ``ImageOps.exif_transpose`` reads it (XMP's
    ``tiff:Orientation`` when EXIF has none); 1 without one or with a broken EXIF block, whose pixels
    stand as decoded (as in ``analysis.embeddings.image.load_image``)."""
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:
        return 1


def upright_size(file) -> tuple[int, int]:
    """Width and height of the image in ``file`` (an open binary file) shown upright, from its header."""
    with Image.open(file) as image:
        width, height = image.size
        return (height, width) if exif_orientation(image) in QUARTER_TURNS else (width, height)


def inspect_image(data: bytes) -> Inspected:
    """Open and fully decode an image; answer width, height, mean brightness and contrast (0-255).

    Width and height are those of the upright image, its EXIF orientation applied: browsers show it so,
    boxes are drawn as fractions of what they show, and exports turn them into pixels of this size.
    The pixel count is checked from the header before any decoding, so a decompression bomb is
    rejected without allocating its pixels.
    """
    check_size(data)
    limit = settings.LABELHUB_MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                width, height = probe.size
                if width * height > limit:
                    raise InputRejected(
                        f"image is {width * height:,} pixels ({width}x{height}), over the limit of {limit:,} "
                        "(possible decompression bomb)"
                    )
                probe.verify()
            if fmt in NOT_IN_BROWSERS:
                raise InputRejected(
                    f"{fmt} images are not shown by web browsers (Chrome, Firefox), so nobody could label it: "
                    "convert it to PNG (lossless) or JPEG first"
                )
            if fmt not in IMAGE_FORMATS:
                raise InputRejected(f"image format {fmt} is not supported ({', '.join(IMAGE_FORMATS)})")
            # verify() leaves the image unusable; decoding the pixels catches truncated data it misses.
            with Image.open(io.BytesIO(data)) as image:
                image.draft("L", (STATS_MAX_SIDE, STATS_MAX_SIDE))
                gray = image.convert("L")
                gray.thumbnail((STATS_MAX_SIDE, STATS_MAX_SIDE))
                stat = ImageStat.Stat(gray)
                if exif_orientation(image) in QUARTER_TURNS:
                    width, height = height, width
    except InputRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses far-too-large images inside open(), before we see the size.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise InputRejected(f"image is {size}, over the limit of {limit:,} (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise InputRejected("not an image Pillow can identify (corrupt or unsupported file)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputRejected(f"corrupt image: {exc}") from None
    return Inspected(
        extension=IMAGE_FORMATS[fmt],
        stats={
            "format": fmt.lower(),
            "width": width,
            "height": height,
            "brightness": round(stat.mean[0], 3),
            "contrast": round(stat.stddev[0], 3),
        },
    )


def _declared_wav_frames(data: bytes):
    """Frames a RIFF/WAVE header promises in its data chunk, or None if there is no such header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, block_align = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 22 <= len(data):
            block_align = int.from_bytes(data[pos + 20 : pos + 22], "little")
        if chunk == b"data":
            available = len(data) - (pos + 8)
            if block_align and size != 0xFFFFFFFF and size > available:
                raise InputRejected(
                    f"truncated WAV: the header promises {size:,} bytes of audio but only {available:,} are present"
                )
            return size // block_align if block_align else None
        pos += 8 + size + (size & 1)
    return None


def _check_samples(samples, limit):
    """InputRejected when a clip has more samples (frames × channels) than ``limit``. A compressed clip of
    near silence (FLAC, OGG) decodes to thousands of times its size: the byte limit alone let a 50 MB file
    through that decodes to hundreds of gigabytes of float32."""
    if samples > limit:
        raise InputRejected(
            f"audio is {samples:,} samples (frames × channels), over the limit of {limit:,} "
            "(LABELHUB_MAX_AUDIO_SAMPLES; possible decompression bomb)"
        )


def _check_playable(rate, channels):
    """InputRejected when web browsers cannot play a clip of this sample rate or channel count (as a TIFF is
    refused: nobody could label it), read from the header before anything is decoded."""
    low, high = BROWSER_SAMPLE_RATES
    if not low <= rate <= high:
        raise InputRejected(
            f"audio at {rate:,} Hz cannot be played by web browsers (they play {low:,} to {high:,} Hz), so nobody "
            "could label it: resample it first (16,000 or 44,100 Hz, say)"
        )
    if channels > BROWSER_MAX_CHANNELS:
        raise InputRejected(
            f"audio of {channels:,} channels cannot be played by web browsers (at most {BROWSER_MAX_CHANNELS}), so "
            "nobody could label it: mix it down or split its channels into clips first"
        )


def inspect_audio(data: bytes) -> Inspected:
    """Decode the whole clip through libsndfile; answer duration, rate, channels and level statistics.

    The sample count is checked from the header before decoding, and at most that many samples are ever
    decoded (``LABELHUB_MAX_AUDIO_SAMPLES``), so an audio decompression bomb is rejected without
    allocating its samples.

    Levels are in dBFS of the mixed-down signal: RMS, peak, the share of samples at full scale
    (clipping) and the share of 20 ms windows below -50 dBFS (silence). libsndfile is loaded here, on the
    first audio clip, not with the module: a web process that never sees one is spared its ~8 MB.
    """
    import soundfile

    check_size(data)
    _declared_wav_frames(data)
    limit = settings.LABELHUB_MAX_AUDIO_SAMPLES
    try:
        info = soundfile.info(io.BytesIO(data))
        _check_playable(info.samplerate, info.channels)
        _check_samples(info.frames * info.channels, limit)
        # Never more than the limit decoded, whatever the header said: one frame past it tells it was over.
        max_frames = limit // max(info.channels, 1) + 1
        signal, rate = soundfile.read(io.BytesIO(data), frames=max_frames, dtype="float32", always_2d=True)
    except InputRejected:  # a ValueError too, but ours: its sentence is the reason
        raise
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        # libsndfile's own sentence: its str() names the in-memory buffer (<_io.BytesIO object at 0x...>).
        reason = getattr(exc, "error_string", None) or exc
        raise InputRejected(f"audio cannot be decoded (WAV, FLAC, OGG and MP3 are accepted): {reason}") from None
    _check_samples(signal.size, limit)
    fmt = info.format
    if fmt not in AUDIO_FORMATS:
        raise InputRejected(f"audio format {fmt} is not supported ({', '.join(AUDIO_FORMATS)})")
    if signal.shape[0] == 0:
        raise InputRejected("audio has no samples")
    if info.frames > 0 and signal.shape[0] < info.frames:
        raise InputRejected(f"truncated audio: {signal.shape[0]:,} of {info.frames:,} frames decode")
    mono = signal.mean(axis=1, dtype=np.float64)
    eps = 1e-12
    rms = float(np.sqrt(np.mean(mono**2)))
    peak = float(np.max(np.abs(signal)))
    window = max(1, int(rate * 0.02))
    n_windows = len(mono) // window
    if n_windows:
        frames = mono[: n_windows * window].reshape(n_windows, window)
        window_db = 10 * np.log10(np.mean(frames**2, axis=1) + eps)
        silence = float(np.mean(window_db < SILENCE_DBFS))
    else:
        silence = float(20 * np.log10(rms + eps) < SILENCE_DBFS)
    return Inspected(
        extension=AUDIO_FORMATS[fmt],
        stats={
            "format": fmt.lower(),
            "duration": round(signal.shape[0] / rate, 4),
            "sample_rate": int(rate),
            "channels": int(signal.shape[1]),
            "rms_dbfs": round(20 * np.log10(rms + eps), 3),
            "peak_dbfs": round(20 * np.log10(peak + eps), 3),
            "clipped_share": round(float(np.mean(np.abs(signal) >= CLIP_LEVEL)), 6),
            "silence_share": round(silence, 6),
        },
    )


def inspect_text(text: str) -> Inspected:
    """Check a text item's size; answer its length in characters, words and lines."""
    limit = settings.LABELHUB_MAX_TEXT_CHARS
    if not text or not text.strip():
        raise InputRejected("text is empty")
    if len(text) > limit:
        raise InputRejected(f"text is {len(text):,} characters, over the limit of {limit:,}")
    if "\x00" in text:  # PostgreSQL stores none, and SQLite should not keep what PostgreSQL refuses
        raise InputRejected(f"text holds {NUL_CHARACTER}")
    return Inspected(
        extension="",
        text=text,
        stats={"length": len(text), "words": len(text.split()), "lines": text.count("\n") + 1},
    )


def decode_text_file(data: bytes) -> str:
    check_size(data)
    return utf8_decoded(data, "text file")


def utf8_decoded(data: bytes, what: str) -> str:
    """``data`` as UTF-8 text, its byte-order mark left out. Refused as "``what`` is ..." naming the encoding a
    byte-order mark gives away (Notepad's "Unicode" is UTF-16), else the first byte that is not UTF-8 and
    its line (a spreadsheet's "CSV (Windows)" is cp1252): Python's own words ("'utf-8' codec can't decode
    byte 0xe9 in position 14") or a bare "not UTF-8 text" said nothing to do."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            found = "UTF-32"
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            found = "UTF-16"
        else:
            at = bom + exc.start
            line = data.count(b"\n", 0, at) + 1
            raise InputRejected(
                f"{what} is not UTF-8 (byte {at}, 0x{data[at]:02x}, on line {line}): save it as UTF-8"
            ) from None
        raise InputRejected(
            f"{what} is {found} (it starts with a {found} byte-order mark), not UTF-8: save it as UTF-8"
        ) from None


# Bytes below 32 that text holds (tab, line feed, form feed, carriage return); any other in a file's first
# kilobytes tells a binary file (an image, a clip: their headers hold NULs and control bytes) from text.
_TEXT_CONTROLS = b"\t\n\x0c\r"
_BINARY_CONTROLS = bytes(b for b in range(32) if b not in _TEXT_CONTROLS)


def text_not_utf8(handle, what: str) -> str:
    """``utf8_decoded``'s sentence for a text file read from ``handle`` (binary, at its start) that is not
    UTF-8: its UTF-16/32 byte-order mark, else its first byte that is not UTF-8 and that byte's line, read a
    megabyte at a time; "" when the file is UTF-8 throughout or is no text at all (control bytes in its
    first 4 KB, as an image's or a clip's header holds)."""
    head = handle.read(4096)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            utf8_decoded(head[:4], what)
        except InputRejected as exc:
            return str(exc)
    if head.translate(None, _BINARY_CONTROLS) != head:
        return ""
    handle.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    while block := handle.read(1 << 20):
        pending = decoder.getstate()[0]  # the bytes of a character the last block cut in two
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = offset - len(pending) + exc.start
            lines += block[: max(at - offset, 0)].count(b"\n")
            byte = (pending + block)[exc.start]
            return f"{what} is not UTF-8 (byte {at}, 0x{byte:02x}, on line {lines}): save it as UTF-8"
        lines += block.count(b"\n")
        offset += len(block)
    return ""


def inspect(modality: str, data: bytes) -> Inspected:
    if modality == "image":
        return inspect_image(data)
    if modality == "audio":
        return inspect_audio(data)
    return inspect_text(decode_text_file(data))
