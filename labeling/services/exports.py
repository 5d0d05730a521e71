"""Artifact writers for dataset versions: JSON Lines, CSV, Parquet, ImageFolder and audiofolder archives.

The build hands every writer the manifest chunk by chunk (``ManifestChunk``: columns as NumPy arrays, in
item order); each writes incrementally to a local file, so memory stays flat whatever the number of items.
Parquet and CSV go through pyarrow arrays without a Python object per row; JSON Lines is formatted per row
from precomputed JSON fragments. ``close()`` answers the finished files with their size and SHA-256.

A manifest row (``MANIFEST_FIELDS``):

* ``item`` (int), ``sha256`` — the item and its content hash;
* ``label`` — the resolved class key (or consensus transcript); ``null`` for a "needs review" row;
* ``split`` — ``train``, ``dev`` or ``test``, from the item's sha256;
* ``agreement`` — share of counted answers that agree with the label (majority), or the label's
  posterior probability (Dawid-Skene), rounded to 4 decimals; ``null`` without counted answers;
* ``n_annotations`` — the item's answers (within the recipe's filters), counted or not;
* ``answers`` — {category: number of counted answers};
* ``tags`` (sorted names), ``source`` (name or null), ``file`` (the API path of the media, or null);
* ``text`` — text projects only: the item's text;
* ``resolved_by`` — ``decision``, ``majority`` or ``dawid_skene`` (null for "needs review");
* ``review`` — why a "needs review" row has no label (``tie``, ``low_agreement``, ``few_answers``).

The JSON Lines file is the canonical manifest: keys sorted, no spaces, UTF-8, one row per line; the
version's ``content_hash`` is its SHA-256.
"""

import hashlib
import io
import json
import os
import posixpath
import zipfile
from dataclasses import dataclass, field

import numpy as np
from django.core.files.storage import FileSystemStorage, default_storage
from django.db.models.fields.json import KeyTransform

from labelhub.csvsafe import arrow_strings, csv_writer
from labelhub.storage import stored_files_read
from labeling.models import Item
from labeling.services.resolution import REVIEW_REASONS

MANIFEST_FIELDS = [
    "item",
    "sha256",
    "label",
    "split",
    "agreement",
    "n_annotations",
    "answers",
    "tags",
    "source",
    "file",
    "resolved_by",
    "review",
]
SPLITS = ("train", "dev", "test")
RESOLVED_BY = ("decision", "majority", "dawid_skene")
REVIEW = REVIEW_REASONS  # why a "needs review" row has no label
FILENAMES = {
    "jsonl": "manifest.jsonl",
    "csv": "manifest.csv",
    "parquet": "manifest.parquet",
    "imagefolder": "imagefolder.zip",
    "audiofolder": "audiofolder.zip",
    "coco": "coco.json",
    "yolo": "yolo.zip",
    "segments_csv": "segments.csv",
    "rttm": "segments.rttm",
    "answers": "answers.jsonl",  # the raw answers (labeling.services.answer_exports), not a manifest
}
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "imagefolder": "application/zip",
    "audiofolder": "application/zip",
    "coco": "application/json",
    "yolo": "application/zip",
    "segments_csv": "text/csv",
    "rttm": "text/plain",
    "answers": "application/x-ndjson",
}
HASH_CHUNK = 1024 * 1024
_json_string = json.encoder.encode_basestring  # the C encoder json.dumps(ensure_ascii=False) uses


@dataclass
class ArtifactFile:
    format: str
    path: str  # local file
    filename: str
    size: int
    sha256: str
    n_rows: int


@dataclass
class ManifestChunk:
    """Consecutive manifest rows, column by column (NumPy arrays and lists of equal length ``n``).

    ``label`` indexes ``names`` (-1: null); ``split`` indexes SPLITS; ``agreement`` is NaN for null;
    ``answer_ptr`` (n + 1 offsets) slices ``answer_code``/``answer_count`` per row, in name order;
    ``tag_ptr`` slices ``tag_code`` (indexes ``tag_names``, sorted); ``resolved_by`` indexes RESOLVED_BY and
    ``review`` REVIEW (-1: null); ``media`` holds storage names ("" for text items); ``text`` is None
    except for text projects.
    """

    names: list
    item: np.ndarray
    sha256: list
    label: np.ndarray
    split: np.ndarray
    agreement: np.ndarray
    n_annotations: np.ndarray
    answer_ptr: np.ndarray
    answer_code: np.ndarray
    answer_count: np.ndarray
    tag_names: list
    tag_ptr: np.ndarray
    tag_code: np.ndarray
    source: list
    media: list
    text: list | None
    resolved_by: np.ndarray
    review: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self):
        return len(self.item)

    def answers_json(self) -> list[str]:
        """Each row's ``answers`` as its canonical JSON object (keys sorted, no spaces)."""
        if "answers" not in self._cache:
            keys = [_json_string(n) + ":" for n in self.names]
            entries = [
                keys[c] + str(n) for c, n in zip(self.answer_code.tolist(), self.answer_count.tolist(), strict=True)
            ]
            ptr = self.answer_ptr.tolist()
            self._cache["answers"] = ["{" + ",".join(entries[a:b]) + "}" for a, b in zip(ptr, ptr[1:], strict=False)]
        return self._cache["answers"]

    def tag_lists(self) -> list[list[str]]:
        if "tags" not in self._cache:
            names = [self.tag_names[c] for c in self.tag_code.tolist()]
            ptr = self.tag_ptr.tolist()
            self._cache["tags"] = [names[a:b] for a, b in zip(ptr, ptr[1:], strict=False)]
        return self._cache["tags"]

    def labels(self) -> list[str | None]:
        lookup = [*self.names, None]
        return [lookup[c] for c in self.label.tolist()]

    def splits(self) -> list[str]:
        return [SPLITS[s] for s in self.split.tolist()]

    def files(self) -> list[str | None]:
        return [f"/api/items/{i}/file" if m else None for i, m in zip(self.item.tolist(), self.media, strict=True)]

    def rows(self):
        """The rows as dicts (tests, and writers that go row by row)."""
        agreement = [None if a != a else a for a in self.agreement.tolist()]
        resolved = [*RESOLVED_BY, None]
        review = [*REVIEW, None]
        for i, (item, label, split, tags, files) in enumerate(
            zip(self.item.tolist(), self.labels(), self.splits(), self.tag_lists(), self.files(), strict=True)
        ):
            a, b = int(self.answer_ptr[i]), int(self.answer_ptr[i + 1])
            row = {
                "item": item,
                "sha256": self.sha256[i],
                "label": label,
                "split": split,
                "agreement": agreement[i],
                "n_annotations": int(self.n_annotations[i]),
                "answers": {
                    self.names[c]: n
                    for c, n in zip(self.answer_code[a:b].tolist(), self.answer_count[a:b].tolist(), strict=True)
                },
                "tags": tags,
                "source": self.source[i],
                "file": files,
                "resolved_by": resolved[self.resolved_by[i]],
                "review": review[self.review[i]],
            }
            if self.text is not None:
                row["text"] = self.text[i]
            yield row


def manifest_fields(*, text: bool) -> list[str]:
    """The manifest's columns: text projects carry the text after ``file``."""
    if not text:
        return list(MANIFEST_FIELDS)
    at = MANIFEST_FIELDS.index("file") + 1
    return [*MANIFEST_FIELDS[:at], "text", *MANIFEST_FIELDS[at:]]


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _finished(fmt, path, n_rows):
    return ArtifactFile(fmt, path, FILENAMES[fmt], os.path.getsize(path), file_sha256(path), n_rows)


class JsonlWriter:
    """The canonical manifest: what ``json.dumps(row, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` writes, one row per line, UTF-8 — formatted from the columns with the same
    string encoder, without building a dict per row. Its SHA-256 (the content hash) is taken while writing.
    """

    format = "jsonl"

    def __init__(self, folder, fields):
        self.path = os.path.join(folder, FILENAMES[self.format])
        self.handle = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self.text = "text" in fields
        self.digest = hashlib.sha256()
        self.n_rows = 0

    def write(self, chunk: ManifestChunk):
        label_json = [_json_string(n) for n in chunk.names] + ["null"]
        tag_json = [_json_string(n) for n in chunk.tag_names]
        split_json = [_json_string(s) for s in SPLITS]
        resolved_json = [_json_string(r) for r in RESOLVED_BY] + ["null"]
        review_json = [_json_string(r) for r in REVIEW] + ["null"]
        sources = {}
        agreement = ["null" if a != a else repr(a) for a in chunk.agreement.tolist()]
        tag_ptr = chunk.tag_ptr.tolist()
        tag_codes = chunk.tag_code.tolist()
        texts = chunk.text if self.text else None
        template = (
            '{"agreement":%s,"answers":%s,"file":%s,"item":%d,"label":%s,"n_annotations":%d,"resolved_by":%s,'
            '"review":%s,"sha256":"%s","source":%s,"split":%s,"tags":[%s]%s}\n'
        )
        lines = []
        for i, (item, label, split, n_all, answers, source, media, resolved, review) in enumerate(
            zip(
                chunk.item.tolist(),
                chunk.label.tolist(),
                chunk.split.tolist(),
                chunk.n_annotations.tolist(),
                chunk.answers_json(),
                chunk.source,
                chunk.media,
                chunk.resolved_by.tolist(),
                chunk.review.tolist(),
                strict=True,
            )
        ):
            if source not in sources:
                sources[source] = "null" if source is None else _json_string(source)
            lines.append(
                template
                % (
                    agreement[i],
                    answers,
                    f'"/api/items/{item}/file"' if media else "null",
                    item,
                    label_json[label],
                    n_all,
                    resolved_json[resolved],
                    review_json[review],
                    chunk.sha256[i],
                    sources[source],
                    split_json[split],
                    ",".join([tag_json[t] for t in tag_codes[tag_ptr[i] : tag_ptr[i + 1]]]),
                    ',"text":' + _json_string(texts[i]) if texts is not None else "",
                )
            )
        data = "".join(lines).encode("utf-8")
        self.digest.update(data)
        self.handle.write(data)
        self.n_rows += len(chunk)

    def close(self):
        self.handle.close()
        return ArtifactFile(
            self.format,
            self.path,
            FILENAMES[self.format],
            os.path.getsize(self.path),
            self.digest.hexdigest(),
            self.n_rows,
        )


def _arrow_columns(chunk: ManifestChunk, fields):
    """The chunk as pyarrow arrays, by manifest field (no per-row Python except the file paths); made once
    per chunk for the Parquet and CSV writers both."""
    if "arrow" not in chunk._cache:
        chunk._cache["arrow"] = _make_arrow_columns(chunk)
    columns = chunk._cache["arrow"]
    return [columns[f] for f in fields]


def _make_arrow_columns(chunk: ManifestChunk):
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array(chunk.names, pa.string())

    def coded(codes, dictionary):
        codes = np.asarray(codes)
        return pc.take(dictionary, pa.array(codes, pa.int32(), mask=codes < 0))

    columns = {
        "item": pa.array(chunk.item, pa.int64()),
        "sha256": pa.array(chunk.sha256, pa.string()),
        "label": coded(chunk.label, names),
        "split": coded(chunk.split, pa.array(SPLITS, pa.string())),
        "agreement": pa.array(chunk.agreement, pa.float64(), mask=np.isnan(chunk.agreement)),
        "n_annotations": pa.array(chunk.n_annotations, pa.int32()),
        "answers": pa.MapArray.from_arrays(
            pa.array(chunk.answer_ptr, pa.int32()),
            coded(chunk.answer_code, names),
            pa.array(chunk.answer_count, pa.int32()),
        ),
        "tags": pa.ListArray.from_arrays(
            pa.array(chunk.tag_ptr, pa.int32()), coded(chunk.tag_code, pa.array(chunk.tag_names, pa.string()))
        ),
        "source": pa.array(chunk.source, pa.string()),
        "file": pa.array(chunk.files(), pa.string()),
        "text": pa.array(chunk.text, pa.string()) if chunk.text is not None else None,
        "resolved_by": coded(chunk.resolved_by, pa.array(RESOLVED_BY, pa.string())),
        "review": coded(chunk.review, pa.array(REVIEW, pa.string())),
    }
    return columns


class ParquetWriter:
    """One row group per chunk, written as it comes (pyarrow ParquetWriter, zstd)."""

    format = "parquet"

    def __init__(self, folder, fields):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {
            "item": pa.int64(),
            "sha256": pa.string(),
            "label": pa.string(),
            "split": pa.string(),
            "agreement": pa.float64(),
            "n_annotations": pa.int32(),
            "answers": pa.map_(pa.string(), pa.int32()),
            "tags": pa.list_(pa.string()),
            "source": pa.string(),
            "file": pa.string(),
            "text": pa.string(),
            "resolved_by": pa.string(),
            "review": pa.string(),
        }
        self.pa = pa
        self.fields = fields
        self.schema = pa.schema([(f, types[f]) for f in fields])
        self.path = os.path.join(folder, FILENAMES[self.format])
        self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.n_rows = 0

    def write(self, chunk: ManifestChunk):
        table = self.pa.Table.from_arrays(_arrow_columns(chunk, self.fields), schema=self.schema)
        self.writer.write_table(table)
        self.n_rows += len(chunk)

    def close(self):
        self.writer.close()
        return _finished(self.format, self.path, self.n_rows)


class CsvWriter:
    """One row per item; ``answers`` as a JSON object, ``tags`` comma-separated (tags never hold commas),
    empty cells for nulls. Written by pyarrow's CSV writer, chunk by chunk. Text cells that a spreadsheet
    would run as a formula get a leading ``'`` (``labelhub.csvsafe``); numeric columns stay numbers."""

    format = "csv"

    def __init__(self, folder, fields):
        import pyarrow as pa
        from pyarrow import csv as pa_csv

        self.pa = pa
        self.fields = fields
        types = {"item": pa.int64(), "agreement": pa.float64(), "n_annotations": pa.int32()}
        self.schema = pa.schema([(f, types.get(f, pa.string())) for f in fields])
        self.path = os.path.join(folder, FILENAMES[self.format])
        self.writer = pa_csv.CSVWriter(self.path, self.schema)
        self.n_rows = 0

    def write(self, chunk: ManifestChunk):
        pa = self.pa
        columns = dict(zip(self.fields, _arrow_columns(chunk, self.fields), strict=True))
        columns["answers"] = pa.array(chunk.answers_json(), pa.string())
        columns["tags"] = pa.array([",".join(t) for t in chunk.tag_lists()], pa.string())
        arrays = [arrow_strings(columns[f]) if pa.types.is_string(columns[f].type) else columns[f] for f in self.fields]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self.writer.write_table(table)
        self.n_rows += len(chunk)

    def close(self):
        self.writer.close()
        return _finished(self.format, self.path, self.n_rows)


def _media_source(name):
    """(local path or None, storage name) for a stored media file."""
    if isinstance(default_storage, FileSystemStorage):
        return default_storage.path(name), name
    return None, name


def _add_media(archive, files):
    """Write stored media into the zip: ``files`` is [(storage name, name in the archive, item id)]. From
    a local disk each file is copied from its path; from object storage the chunk's files are fetched
    together. A file gone from the storage fails the build naming its item, by id and original name, and its
    storage name, which is what restores it (it named a server path)."""
    done = 0
    try:
        if isinstance(default_storage, FileSystemStorage):
            for name, arcname, _ in files:
                archive.write(default_storage.path(name), arcname)
                done += 1
            return
        for (_, arcname, _), data in zip(files, stored_files_read(name for name, _, _ in files), strict=True):
            archive.writestr(arcname, data)
            done += 1
    except FileNotFoundError:
        name, _, item = files[done]
        original = Item.objects.filter(pk=item).values_list("original_name", flat=True).first()
        shown = f"{original}, stored as {name}" if original else name
        raise FileNotFoundError(f"the file of item {item} ({shown}) is no longer in the media storage") from None


def _labeled_media(chunk: ManifestChunk):
    """(item, label, split, sha256, storage name) of the chunk's labeled rows that have a file."""
    labels, splits = chunk.labels(), chunk.splits()
    for i, item in enumerate(chunk.item.tolist()):
        if labels[i] is not None and chunk.media[i]:
            yield item, labels[i], splits[i], chunk.sha256[i], chunk.media[i]


class ImageFolderWriter:
    """``split/class/<item><ext>`` in a zip (stored, not deflated: images are compressed already).

    Only labeled rows go in; torchvision's ImageFolder and Hugging Face's imagefolder read it as is.
    """

    format = "imagefolder"

    def __init__(self, folder, fields):
        self.path = os.path.join(folder, FILENAMES[self.format])
        self.archive = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED, allowZip64=True)
        self.n_rows = 0

    def write(self, chunk: ManifestChunk):
        files = [
            (media, f"{split}/{label}/{item}{posixpath.splitext(media)[1]}", item)
            for item, label, split, _, media in _labeled_media(chunk)
        ]
        _add_media(self.archive, files)
        self.n_rows += len(files)

    def close(self):
        self.archive.close()
        return _finished(self.format, self.path, self.n_rows)


class AudioFolderWriter:
    """Hugging Face audiofolder: ``split/<item><ext>`` plus ``split/metadata.csv`` (``file_name``, then
    ``label`` — or ``transcription`` for transcription projects — ``item`` and ``sha256``). Formula-like
    labels and transcripts get a leading ``'`` there, as in every CSV (``labelhub.csvsafe``)."""

    format = "audiofolder"

    def __init__(self, folder, fields, *, transcription=False):
        self.path = os.path.join(folder, FILENAMES[self.format])
        self.archive = zipfile.ZipFile(self.path, "w", zipfile.ZIP_STORED, allowZip64=True)
        self.column = "transcription" if transcription else "label"
        self.metadata = {}
        self.folder = folder
        self.n_rows = 0

    def _metadata_writer(self, split):
        if split not in self.metadata:
            handle = open(  # noqa: SIM115 - closed in close()
                os.path.join(self.folder, f"metadata-{split}.csv"), "w", newline="", encoding="utf-8"
            )
            writer = csv_writer(handle)
            writer.writerow(["file_name", self.column, "item", "sha256"])
            self.metadata[split] = (handle, writer)
        return self.metadata[split][1]

    def write(self, chunk: ManifestChunk):
        rows = [
            (f"{item}{posixpath.splitext(media)[1]}", label, item, split, sha, media)
            for item, label, split, sha, media in _labeled_media(chunk)
        ]
        _add_media(
            self.archive, [(media, f"{split}/{file_name}", item) for file_name, _, item, split, _, media in rows]
        )
        for file_name, label, item, split, sha, _ in rows:
            self._metadata_writer(split).writerow([file_name, label, item, sha])
        self.n_rows += len(rows)

    def close(self):
        for split, (handle, _) in sorted(self.metadata.items()):
            handle.close()
            self.archive.write(handle.name, f"{split}/metadata.csv")
            os.remove(handle.name)
        self.archive.close()
        return _finished(self.format, self.path, self.n_rows)


class ArtifactSet:
    """Every writer a recipe asks for, fed the same manifest chunks."""

    def __init__(self, *, folder, formats, text, transcription):
        fields = manifest_fields(text=text)
        self.fields = fields
        writers = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter, "imagefolder": ImageFolderWriter}
        self.writers = []
        for fmt in formats:
            if fmt == "audiofolder":
                self.writers.append(AudioFolderWriter(folder, fields, transcription=transcription))
            else:
                self.writers.append(writers[fmt](folder, fields))

    def write(self, chunk: ManifestChunk):
        for writer in self.writers:
            writer.write(chunk)

    def close(self) -> list[ArtifactFile]:
        return [writer.close() for writer in self.writers]


def read_columns(name, columns):
    """Columns of a stored Parquet manifest as a pyarrow Table."""
    import pyarrow.parquet as pq

    path, _ = _media_source(name)
    if path is not None:
        return pq.read_table(path, columns=columns)
    with default_storage.open(name, "rb") as handle:
        return pq.read_table(io.BytesIO(handle.read()), columns=columns)


# --- splits and named items (shared by the classification and the shapes builds) ------------------------


SPLIT_GROUP = "split_group"  # the name a build's item query gives the item's value under splits.group_by


class _ObjectKey(KeyTransform):
    """Django's ``KeyTransform`` reading its key always as an object's key, whatever it holds: Django reads
    a key that is a whole number ("2024", "7") as a list position, which finds nothing in an object."""

    def as_postgresql(self, compiler, connection):
        lhs, params = compiler.compile(self.lhs)
        return f"({lhs} -> %s::text)", (*params, self.key_name)

    def as_sqlite(self, compiler, connection):
        # A JSON path cannot name every key (SQLite reads none with a double quote in it): the object's
        # members by key instead. Each comes back as PostgreSQL's "->" answers it: true, false, null,
        # objects and arrays as their JSON text, numbers as numbers, and a string as its JSON (quoted).
        # json_each gives a string's bare text, which the JSON field then decoded as JSON: the string
        # "null" read as no value, '"17"' as the string 17, "[1,2]" as a list.
        lhs, params = compiler.compile(self.lhs)
        sql = (
            "(SELECT CASE WHEN type IN ('true', 'false', 'null') THEN type WHEN type = 'text' THEN json_quote(value)"
            f" ELSE value END FROM json_each({lhs}) WHERE key = %s)"
        )
        return sql, (*params, self.key_name)


def split_group_annotate(items, key):
    """``items`` with each item's metadata value under ``key`` as ``SPLIT_GROUP`` (None without one): the
    database extracts that one value, so a build streaming millions of items never loads whole metadata."""
    return items.annotate(**{SPLIT_GROUP: _ObjectKey(key, "metadata")})


def group_text(value) -> str:
    """A metadata value as the group it names: a string as it is, anything else as its JSON (sorted keys),
    so 17 and "17" are one recording. Shared by version splits and the map's ``group_by``."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def split_hashes(shas, groups) -> list[str]:
    """What each item's split is drawn from (``split_codes``): the sha256 of its group's value when it has
    one (``groups``: the items' metadata values under ``splits.group_by``, None for none), else its own
    content hash. A value is hashed as text: a string as it is, anything else as its JSON (sorted keys),
    as the map's ``group_by`` reads values; so the items of one recording share a split in every version."""
    out, seen = [], {}
    for sha, value in zip(shas, groups, strict=True):
        if value is None:
            out.append(sha)
            continue
        text = group_text(value)
        digest = seen.get(text)
        if digest is None:
            digest = seen[text] = hashlib.sha256(text.encode()).hexdigest()
        out.append(digest)
    return out


def split_codes(shas, *, train, dev, salt) -> np.ndarray:
    """Each item's split (0 train, 1 dev, 2 test) from 60 bits of its content hash (salted: of a hash of
    the salt and it) read as a share in [0, 1): an item keeps its split whatever else changes."""
    if salt:
        values = [int(hashlib.sha256(f"{salt}:{sha}".encode()).hexdigest()[:15], 16) for sha in shas]
    else:
        values = [int(sha[:15], 16) for sha in shas]
    share = np.array(values, dtype=np.float64) / 16**15
    return np.where(share < train, 0, np.where(share < train + dev, 1, 2)).astype(np.int8)


NAMED_ITEMS = 100  # item ids named per reason in a version's counts
