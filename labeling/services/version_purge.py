"""Rewriting a dataset version's stored files without purged items (``items_delete(..., purge=True)``).

A purge is a privacy or licence removal: the items' content must leave the versions that hold them, not
only stop being served. Each file of such a version is rewritten without the items' rows, read and written
through the storage (S3-compatible media included), a block, a line or a Parquet row group at a time:

* ``jsonl`` (the canonical manifest), ``answers`` (the raw answers): the lines of other items are kept
  byte for byte; each line is parsed for its ``item`` only;
* ``csv``, ``segments_csv``: the records of other items kept byte for byte (a record ends at a line end
  outside quotes; its first field is the item id); the header stays;
* ``parquet``: row group by row group, the schema kept;
* ``imagefolder``, ``audiofolder`` (copies of the items' files), ``coco``, ``yolo``, ``rttm`` (named by file
  paths, not item ids, and whole-file formats): removed from the storage, not rebuilt. Rebuilding an
  archive copies every other item's media again (gigabytes, inside the deletion); a training job pulls
  the media from the manifest's file URLs, and a new version builds these formats afresh. Their download
  answers 410 saying so.

Rows are dropped, not blanked: a training job pulling the version must not get rows whose file answers
410 or whose text is gone. The version's artifact rows (size, SHA-256, row count), its ``content_hash``
(the canonical manifest's SHA-256), its ``counts`` (the dropped rows subtracted, ``split_by_group`` less
those of them that took their group's split) and its ``changes`` (and
its children's) are updated in the deletion's transaction; the purge's record in ``info`` says which files
were rewritten and which removed, how many rows went and the content hash before.

The new files go under ``<storage prefix>/purge-<token>/``; the old ones stay until the deletion commits
(then they are deleted). A failure leaves the old files in place and readable, removes the new ones, and
raises ``PurgeRewriteFailed``: the deletion's transaction rolls back, nothing is deleted.
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage

from labeling.choices import SHAPE_TASKS, TaskType
from labeling.models import Item
from labeling.services.exports import FILENAMES, SPLIT_GROUP, split_group_annotate
from labeling.services.versions import _LocalFile

logger = logging.getLogger(__name__)

REWRITTEN = ("jsonl", "csv", "parquet", "answers", "segments_csv")  # rows of other items kept
REMOVED = ("imagefolder", "audiofolder", "coco", "yolo", "rttm")  # removed from storage, answer 410
BLOCK = 1024 * 1024


class PurgeRewriteFailed(Exception):
    """A version's file could not be rewritten without the purged items; nothing was deleted."""

    def __init__(self, version, fmt, exc):
        self.version, self.format = version, fmt
        super().__init__(
            f"version {version.number}'s {fmt} file could not be rewritten without the purged items "
            f"({exc.__class__.__name__}: {exc}); nothing was deleted and the version's files are as they were: "
            "try again, or ask an administrator to check the media storage"
        )


def purge_plan(artifacts) -> dict:
    """What a purge does to a version's files: ``{"rewrite": [formats], "remove": [formats]}``."""
    formats = sorted(a.format for a in artifacts)
    return {"rewrite": [f for f in formats if f in REWRITTEN], "remove": [f for f in formats if f in REMOVED]}


# --- reading stored files ------------------------------------------------------------------------------------


def _blocks(name):
    with default_storage.open(name, "rb") as handle:
        while block := handle.read(BLOCK):
            yield block


def _lines(name):
    """The stored file's lines (each with its ``\\n``), read a block at a time."""
    rest = b""
    for block in _blocks(name):
        rest += block
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


def _records(name):
    """A stored CSV's records (RFC 4180: a line end inside quotes belongs to the record), as bytes."""
    record, quotes = b"", 0
    for line in _lines(name):
        record += line
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            yield record
            record, quotes = b"", 0
    if record:
        yield record


def _csv_item(record) -> int:
    first = record.split(b",", 1)[0].strip().strip(b'"')
    return int(first)


# --- one version ---------------------------------------------------------------------------------------------


@dataclass
class _Output:
    path: str
    handle: object = None
    n_rows: int = 0

    def write(self, data: bytes):
        self.handle.write(data)


def _filter_lines(name, out, purged, *, header=False, csv=False):
    """Copy the stored file's lines (records) to ``out`` but those of ``purged`` items; answer how many
    were dropped."""
    dropped = 0
    rows = _records(name) if csv else _lines(name)
    for i, row in enumerate(rows):
        if header and i == 0:
            out.write(row)
            continue
        if not row.strip():
            continue
        item = _csv_item(row) if csv else json.loads(row)["item"]
        if item in purged:
            dropped += 1
            continue
        out.write(row)
        out.n_rows += 1
    return dropped


def _filter_parquet(name, path, wanted: np.ndarray):
    """Write the stored Parquet manifest ``name`` to ``path`` without the rows of ``wanted`` (sorted ids),
    row group by row group; answer (rows kept, the dropped rows' count columns as Python lists)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kept = 0
    dropped = {"item": [], "label": [], "split": [], "resolved_by": [], "review": []}
    with default_storage.open(name, "rb") as handle:
        source = pq.ParquetFile(handle)
        with pq.ParquetWriter(path, source.schema_arrow, compression="zstd") as writer:
            for group in range(source.num_row_groups):
                table = source.read_row_group(group)
                items = table.column("item").to_numpy()
                gone = np.isin(items, wanted)
                keep = table.filter(pa.array(~gone))
                if keep.num_rows:
                    writer.write_table(keep)
                kept += keep.num_rows
                if gone.any():
                    out = table.filter(pa.array(gone))
                    for column in dropped:
                        if column in out.column_names:
                            dropped[column].extend(out.column(column).to_pylist())
    return kept, dropped


def _still_present(path, labels) -> set:
    """Which of ``labels`` the local Parquet file at ``path`` still holds (its label column, a row group at a
    time)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not labels:
        return set()
    wanted = pa.array(sorted(labels), pa.string())
    found = set()
    source = pq.ParquetFile(path)
    for group in range(source.num_row_groups):
        column = source.read_row_group(group, columns=["label"]).column("label")
        found.update(v for v in pc.filter(column, pc.is_in(column, value_set=wanted)).to_pylist())
    return found


def _decrement(mapping, key, by=1, *, keep_zero=False):
    if key is None or key not in mapping:
        return
    mapping[key] -= by
    if mapping[key] <= 0 and not keep_zero:
        del mapping[key]


def counts_without(counts, dropped, *, project, purged, present=frozenset(), grouped=0) -> dict:
    """``counts`` (a version's) with the ``dropped`` manifest rows (columns as lists) taken out; ``grouped``:
    how many of them took their split from their group's value (``split_by_group``, ``_grouped``)."""
    counts = json.loads(json.dumps(counts))
    if "split_by_group" in counts:
        counts["split_by_group"] = max(counts["split_by_group"] - grouped, 0)
    shapes_kind = SHAPE_TASKS[project.task_type][1] if project.task_type in SHAPE_TASKS else None
    transcription = project.task_type == TaskType.TRANSCRIPTION
    rows = zip(dropped["label"], dropped["split"], dropped["resolved_by"], dropped["review"], strict=True)
    gone_labels = set()
    for label, split, resolved_by, review in rows:
        counts["items"] = counts.get("items", 0) - 1
        if label is None:
            counts["needs_review"] = counts.get("needs_review", 0) - 1
            _decrement(counts.get("review_reasons", {}), review, keep_zero=True)
            continue
        counts["labeled"] = counts.get("labeled", 0) - 1
        _decrement(counts.get("splits", {}), split, keep_zero=True)
        _decrement(counts.get("resolved_by", {}), resolved_by)
        if shapes_kind:
            shapes = (json.loads(label) or {}).get(shapes_kind, [])
            counts["shapes"] = counts.get("shapes", 0) - len(shapes)
            for shape in shapes:
                _decrement(counts.get("classes", {}), shape.get("label"))
                _decrement(counts.get("split_classes", {}).get(split, {}), shape.get("label"))
        elif transcription:
            gone_labels.add(label)
        else:
            _decrement(counts.get("classes", {}), label)
            _decrement(counts.get("split_classes", {}).get(split, {}), label)
    if transcription and "distinct_labels" in counts:
        counts["distinct_labels"] -= len(gone_labels - set(present))
    named = counts.get("needs_review_items") or {}  # rows of the manifest: counted above
    counts["needs_review_items"] = {
        r: kept for r, ids in named.items() if (kept := [i for i in ids if i not in purged])
    }
    return left_out_without(counts, purged)


def _grouped(version, item_ids) -> int:
    """How many of ``item_ids`` (rows of ``version``'s manifest) took their split from their value under the
    recipe's ``splits.group_by``: those holding a value there, read as the build read it
    (``exports.split_group_annotate``). Read from the items, which a purge deletes after rewriting the
    files (and the admin can edit their metadata since the build); a purge ``purge_versions`` applies after
    its items were deleted finds none of them and lowers nothing."""
    key = (version.policy or {}).get("splits", {}).get("group_by", "")
    if not key or "split_by_group" not in (version.counts or {}):
        return 0
    ids, grouped = sorted(item_ids), 0
    for start in range(0, len(ids), 10_000):
        items = split_group_annotate(Item.objects.filter(pk__in=ids[start : start + 10_000]), key)
        grouped += sum(value is not None for value in items.values_list(SPLIT_GROUP, flat=True))
    return grouped


def left_out_without(counts, gone) -> dict:
    """``counts`` (a version's) with the items ``gone`` (deleted) no longer left out: each reason's named ids
    (``left_out_items``) without them, its count (``left_out``) and ``left_out_total`` less as many. The
    version names up to NAMED_ITEMS ids a reason: a deleted item it left out unnamed cannot be told apart
    and stays counted."""
    counts = json.loads(json.dumps(counts))
    named = counts.get("left_out_items") or {}
    kept, left_out = {}, counts.get("left_out")
    for reason, ids in named.items():
        here = [i for i in ids if i not in gone]
        if here:
            kept[reason] = here
        if left_out is not None and len(here) < len(ids):
            _decrement(left_out, reason, len(ids) - len(here), keep_zero=True)
    counts["left_out_items"] = kept
    if left_out is not None and "left_out_total" in counts:
        counts["left_out_total"] = sum(left_out.values())
    return counts


@dataclass
class VersionRewrite:
    """A version's files rewritten (not yet recorded): what to store on it, and the names to delete
    once the deletion commits (``old``) or should it fail (``new``)."""

    version: object
    artifacts: dict  # format -> {"name", "size", "sha256", "n_rows"}
    removed: list
    rows: int
    dropped_items: set  # the ids whose rows were dropped
    counts: dict
    content_hash: str
    old: list
    new: list


def version_rewrite(*, version, item_ids) -> VersionRewrite:
    """Write ``version``'s files without the rows of ``item_ids`` under a new storage folder. Raises
    PurgeRewriteFailed (the new files removed, the old ones untouched) when a file cannot be rewritten."""
    wanted = np.unique(np.asarray(item_ids, dtype=np.int64))
    purged = set(wanted.tolist())
    artifacts = {a.format: a for a in version.artifacts.all()}
    folder = f"{version.storage_prefix}/purge-{uuid.uuid4().hex[:12]}"
    workdir = tempfile.mkdtemp(prefix="labelhub-purge-")
    new, done, fmt = [], {}, "parquet"
    try:
        dropped_rows, dropped = None, {"item": [], "label": [], "split": [], "resolved_by": [], "review": []}
        present = set()
        for fmt in [f for f in ("parquet", "jsonl", "csv", "answers", "segments_csv") if f in artifacts]:
            artifact = artifacts[fmt]
            path = os.path.join(workdir, FILENAMES[fmt])
            if fmt == "parquet":
                kept, dropped = _filter_parquet(artifact.name, path, wanted)
                if version.project.task_type == TaskType.TRANSCRIPTION:
                    present = _still_present(path, {v for v in dropped["label"] if v is not None})
                n_rows, dropped_here = kept, len(dropped["item"])
            else:
                out = _Output(path)
                with open(path, "wb") as out.handle:
                    dropped_here = _filter_lines(
                        artifact.name, out, purged, header=fmt.endswith("csv"), csv=fmt.endswith("csv")
                    )
                n_rows = out.n_rows
            if fmt in ("parquet", "jsonl", "csv"):  # the manifests hold the same rows
                if dropped_rows is not None and dropped_here != dropped_rows:
                    raise ValueError(f"{dropped_here} rows of purged items, where the manifest had {dropped_rows}")
                dropped_rows = dropped_here
            with open(path, "rb") as handle:
                digest = hashlib.sha256()
                while block := handle.read(BLOCK):
                    digest.update(block)
            size = os.path.getsize(path)
            with open(path, "rb") as handle:
                name = default_storage.save(f"{folder}/{FILENAMES[fmt]}", _LocalFile(handle))
            new.append(name)
            with contextlib.suppress(FileNotFoundError):  # a local storage moved it into place
                os.remove(path)
            done[fmt] = {"name": name, "size": size, "sha256": digest.hexdigest(), "n_rows": n_rows}
    except Exception as exc:
        files_delete(new)
        raise PurgeRewriteFailed(version, fmt, exc) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    removed = [f for f in REMOVED if f in artifacts]
    return VersionRewrite(
        version=version,
        artifacts=done,
        removed=removed,
        rows=dropped_rows or 0,
        dropped_items=set(dropped["item"]),
        counts=counts_without(
            version.counts,
            dropped,
            project=version.project,
            purged=purged,
            present=present,
            grouped=_grouped(version, dropped["item"]),
        ),
        content_hash=done["jsonl"]["sha256"] if "jsonl" in done else version.content_hash,
        old=[artifacts[f].name for f in [*done, *removed]],
        new=new,
    )


def files_delete(names):
    """Delete stored files, each on its own: one that cannot be deleted is logged, naming it."""
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("could not delete %s (a purge's rewritten or superseded version file)", name)


def stored_under(prefix) -> list[str]:
    """The names of every stored file under ``prefix`` (a folder), through the storage."""
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [f"{prefix}/{name}" for name in files]
    for folder in folders:
        names += stored_under(f"{prefix}/{folder}")
    return names
