"""Importing items: direct uploads, manifests (JSON Lines or CSV) and zip archives.

Every file is validated and measured (``labeling.inputs``) before anything is stored. A batch answers
a per-file report: imported item ids, duplicates (same SHA-256 already in the project) and rejected
files with the reason. One bad file never stops the good ones. Files are written before their rows
and removed again if the rows cannot be written, so no failure leaves a file without its row or a row
without its file.

Each chunk (batch) is all or nothing: its tags, item rows and tag links commit in one transaction. A job
whose database connection dies keeps the chunks committed before; its retry reads the upload again and
recognises the items an earlier attempt of the same job stored (same SHA-256 in the project, stamped
with the job's id): they count as imported, not as duplicates, so a retry finishes the job with every
item exactly once.
"""

import csv
import gc
import io
import json
import logging
import lzma
import posixpath
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import chain, islice, repeat
from operator import methodcaller
from pathlib import Path, PurePosixPath

import orjson
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from labelhub.deadlocks import BatchNotSaved, is_deadlock, retry_deadlock_once
from labelhub.params import is_row_id
from labelhub.parsers import json_has_nul
from labelhub.storage import GONE, items_named
from labeling import inputs
from labeling.choices import TaskType
from labeling.inputs import IMAGE_EXTENSIONS, InputRejected, csv_problem, csv_row_start
from labeling.models import DataSource, Item, Tag, new_random_key, new_random_keys
from labeling.services.jobs import item_files_lock

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
TEXT_CHUNK_SIZE = 10000
MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")
# Hugging Face's imagefolder and audiofolder: a metadata file per folder, its file_name relative to it.
HF_METADATA_NAMES = ("metadata.csv", "metadata.jsonl")
# A Hugging Face dataset's card and its older features file, downloaded with an imagefolder or audiofolder:
# no items (``_dataset_card``).
HF_CARD_NAMES = ("README.md", "dataset_infos.json")
# Notes a dataset's zip holds beside its media (Roboflow's README.roboflow.txt and README.dataset.txt, a
# LICENSE): no items of an image or audio project (``_dataset_card``). Other .txt files are not skipped: in
# an image zip they are most often YOLO label files sent without ``format``, whose rejection says so.
NOTE_PREFIXES = ("readme", "license", "licence")
# Files given to Upload files that belong under Manifest or zip archive, known by their name's extension
# alone (a .docx is a zip too), refused unread saying where they go; {id}: the project's. A zip read as an
# item was "not an image Pillow can identify" (or "not UTF-8"); a manifest in a text project became one
# item holding every line.
ZIP_UPLOAD_REASON = (
    "a zip archive: import it under Manifest or zip archive (POST /api/projects/{id}/imports/), which reads "
    "the files it holds"
)
MANIFEST_UPLOAD_REASON = (
    "looks like a manifest (JSON Lines or CSV): import it under Manifest or zip archive "
    "(POST /api/projects/{id}/imports/), which makes an item of each line"
)
OTHER_FORM_REASONS = {
    ".zip": ZIP_UPLOAD_REASON,
    ".jsonl": MANIFEST_UPLOAD_REASON,
    ".ndjson": MANIFEST_UPLOAD_REASON,
    ".csv": MANIFEST_UPLOAD_REASON,
}
# What a YOLO dataset's other files are, imported as items into an image project (without ``format``): said
# instead of Pillow's "not an image" (``_yolo_file_reason``).
YOLO_LABEL_REASON = "looks like a YOLO label file: import the zip with format yolo to keep its boxes"
YOLO_DATASET_REASON = "a YOLO dataset file: import the zip with format yolo to read its class names"
YOLO_LIST_REASON = "a YOLO dataset's image list: import the zip with format yolo to keep its boxes"
# A split's image list (CVAT's YOLO 1.1 and Ultralytics exports: train.txt naming data/obj_train_data/a.png
# a line), said to be one only beside a class list, a YAML or a Darknet ``.data`` file (obj.data).
YOLO_IMAGE_LISTS = ("train.txt", "valid.txt", "val.txt", "test.txt")
# The class lists YOLO and Darknet datasets hold beside their images: Label Studio's and Ultralytics' classes.txt,
# CVAT's YOLO 1.1 obj.names, Roboflow's Darknet _darknet.labels.
YOLO_CLASS_LISTS = ("classes.txt", "obj.names", "_darknet.labels")
# Windows Explorer's thumbnail cache and folder settings, found in any zip of a folder made on Windows.
FOLDER_LITTER = {"thumbs.db", "desktop.ini"}
# A zip inside the zip given to Manifest or zip archive: it was read as an item ("not an image Pillow can
# identify").
NESTED_ZIP_REASON = "a zip inside the zip: its files are not read; import it on its own under Manifest or zip archive"
# A manifest line's item is named "line 3 (img/a.png)": the path is the file's name.
NESTED_TOO_DEEP = "JSON nested too deeply (arrays and objects inside each other past what can be read)"
MANIFEST_LINE_NAME = re.compile(r"^line \d+ \((.*)\)$")


@dataclass
class ImportEntry:
    """One would-be item. ``load`` answers the file's bytes; text items carry ``text`` instead."""

    name: str
    load: Callable[[], bytes] | None = None
    text: str | None = None
    tags: list[str] = field(default_factory=list)
    source: DataSource | None = None
    metadata: dict = field(default_factory=dict)
    label: str = ""
    error: str = ""  # set when the entry was already found bad while parsing
    item: int | None = None  # set by the import: the item the entry became (or duplicates), if any


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    resumed: int = 0  # of ``imported``: items an earlier attempt of the same job had stored

    def as_dict(self):
        return {"imported": self.imported, "duplicates": self.duplicates, "rejected": self.rejected}

    def extend(self, other):
        self.imported.extend(other.imported)
        self.duplicates.extend(other.duplicates)
        self.rejected.extend(other.rejected)
        self.resumed += other.resumed


@dataclass
class _Run:
    """One import call: its job (if any) and the item ids it has counted as imported so far, which tells
    an item an earlier attempt of the job stored (imported, once) from a second copy of it (a duplicate)."""

    job_id: int | None = None
    counted: set = field(default_factory=set)

    def claims(self, item_id, job_id) -> bool:
        """Whether an existing item is this job's own, stored by an earlier attempt and not yet counted."""
        if self.job_id is None or job_id != self.job_id or item_id in self.counted:
            return False
        self.counted.add(item_id)
        return True


# A CSV manifest's tags cell, a version's CSV and the filters that take several tags (``fairness=a,b``) list
# tags comma-separated: a tag holding a comma came back from them as two tags.
TAG_COMMA = "tags are listed comma-separated, so a tag cannot hold one"


def _split_tags(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple):
        if all(type(p) is str and p and p == p.strip() and len(p) <= 100 and "," not in p for p in value):
            return list(value)  # the common case, already clean
        parts = value
    else:
        raise InputRejected(f"tags must be a list or a comma-separated string, not {type(value).__name__}")
    tags = [str(p).strip() for p in parts if str(p).strip()]
    for tag in tags:
        if len(tag) > 100:
            raise InputRejected(f"tag '{tag[:20]}...' is longer than 100 characters")
        if "," in tag:
            raise InputRejected(f"tag '{tag}' holds a comma: {TAG_COMMA}")
    return tags


def _cached_tags(value, cache) -> list[str]:
    """_split_tags, answered from ``cache`` for a string or a list of strings seen before (a list is keyed
    by its tuple; only strings are stored, as 1, 1.0 and True would share a key)."""
    try:
        key = tuple(value) if type(value) is list else value
        return cache[key]
    except (KeyError, TypeError):
        pass
    tags = _split_tags(value)
    if type(value) is str or (type(value) is list and all(type(p) is str for p in value)):
        if len(cache) > 10000:
            cache.clear()
        cache[key] = tags
    return tags


def _tag_ids(*, project, names) -> dict[str, int]:
    """{name: id} of the project's tags ``names``, made where new. Made in name order: two imports making
    the same new tags in the orders of their sets (which differ with the order the names came in, and
    between processes) each made one and waited for the other's, and the database stopped one."""
    names = sorted(set(names))
    if not names:
        return {}
    Tag.objects.bulk_create([Tag(project=project, name=n) for n in names], ignore_conflicts=True)
    return dict(Tag.objects.filter(project=project, name__in=names).values_list("name", "id"))


def _media_name(project_id, sha, extension):
    return f"items/{project_id}/{sha[:2]}/{sha}{extension}"


def _prepare(project, entry, class_keys):
    """Validate one entry; answer (sha256, Inspected, bytes or None)."""
    if entry.error:
        raise InputRejected(entry.error)
    if entry.label and entry.label not in class_keys:
        raise InputRejected(f"unknown class '{entry.label}' (the project's classes: {', '.join(sorted(class_keys))})")
    if entry.text is not None:
        if project.modality != "text":
            raise InputRejected(f"a text entry cannot be imported into an {project.modality} project")
        inspected = inputs.inspect_text(entry.text)
        return inputs.sha256_hex(entry.text.encode("utf-8")), inspected, None
    if entry.load is None:
        raise InputRejected("the entry has neither a file nor a text")
    data = entry.load()
    inspected = inputs.inspect(project.modality, data)
    if project.modality == "text":
        return inputs.sha256_hex(inspected.text.encode("utf-8")), inspected, None
    return inputs.sha256_hex(data), inspected, data


# A prepared row: one would-be item, as a tuple (a chunk of them is turned into columns with one zip).
_ENTRY, _SHA, _NAME, _TEXT, _STATS, _LABEL, _METADATA, _SOURCE, _TAGS, _EXTENSION, _DATA = range(11)


class _Chunk:
    """One chunk's would-be items, validated and measured, as prepared rows (see ``_ENTRY`` ...): the entry
    (None for a manifest line taken straight from its record), sha256, name, text, stats, label,
    metadata, source id, tags (a tuple), file extension and bytes. Rejected entries and second copies
    within the chunk go to its report as they come."""

    def __init__(self, project):
        self.project = project
        classes = list(project.classes.values_list("key", "name"))
        self.class_keys = {key for key, _ in classes}
        # A label naming its class by key or name in any case ("Dog", " house CAT "), as label files may.
        self.class_folded = {name.strip().casefold(): key for key, name in classes if name} | {
            key.casefold(): key for key, _ in classes
        }
        # Text entries are measured here when they pass every check of _prepare: the call, the settings
        # lookup and the Inspected it answers cost more than the checks on 100,000 rows. Anything with
        # something to report goes through _prepare, which names the problem.
        self.text_limit = settings.LABELHUB_MAX_TEXT_CHARS if project.modality == "text" else -1
        self.rows = []
        self.copies = []  # (entry, sha) of second copies within the chunk, told their item at the end
        self.seen = set()
        self.has_files = False
        self.has_copies = False
        self.columns = None  # a chunk of clean text lines only, held as columns (_ManifestReader.add_columns)
        self.report = ImportReport()

    def rows_of_columns(self):
        """The rows of a chunk held as columns."""
        c = self.columns
        stats = [
            {"length": n, "words": w, "lines": k} for n, w, k in zip(c["length"], c["words"], c["lines"], strict=True)
        ]
        n = len(stats)
        self.rows = list(
            zip(
                repeat(None, n),
                c["sha"],
                c["name"],
                c["text"],
                stats,
                c["label"],
                [{} for _ in range(n)] if c["metadata"] is None else c["metadata"],
                repeat(c["source"], n),
                c["tags"],
                repeat("", n),
                repeat(None, n),
                strict=True,
            )
        )
        self.seen.update(c["sha"])
        self.columns = None

    def add_entry(self, entry):
        if entry.label and entry.label not in self.class_keys and isinstance(entry.label, str):
            entry.label = self.class_folded.get(entry.label.strip().casefold(), entry.label)
        text = entry.text
        source = entry.source.pk if entry.source else None
        if (
            text is not None
            and 0 < len(text) <= self.text_limit
            and not entry.error
            and (not entry.label or entry.label in self.class_keys)
            and not text.isspace()
        ):
            self.add_text(entry, entry.name, text, entry.label, entry.metadata, source, tuple(entry.tags))
            return
        try:
            sha, inspected, data = _prepare(self.project, entry, self.class_keys)
        except InputRejected as exc:
            self.report.rejected.append({"name": entry.name, "reason": str(exc)})
            return
        except MemoryError:
            self.report.rejected.append({"name": entry.name, "reason": "file too large to decode"})
            return
        if self._first(entry, entry.name, sha):
            self.has_files = self.has_files or data is not None
            self.rows.append(
                (
                    entry,
                    sha,
                    entry.name,
                    inspected.text,
                    inspected.stats,
                    entry.label,
                    entry.metadata,
                    source,
                    tuple(entry.tags),
                    inspected.extension,
                    data,
                )
            )

    def add_text(self, entry, name, text, label, metadata, source, tags):
        """Add a text that passed the checks (non-blank, within the length limit, a known label or none)."""
        sha = sha256(text.encode()).hexdigest()
        if sha in self.seen:
            self.add_copy(entry, name, sha)
            return
        self.seen.add(sha)
        stats = {"length": len(text), "words": len(text.split()), "lines": text.count("\n") + 1}
        self.rows.append((entry, sha, name, text, stats, label, metadata, source, tags, "", None))

    def _first(self, entry, name, sha):
        if sha in self.seen:
            self.add_copy(entry, name, sha)
            return False
        self.seen.add(sha)
        return True

    def add_copy(self, entry, name, sha):
        self.has_copies = True
        if entry is not None:
            self.copies.append((entry, sha))
        self.report.duplicates.append({"name": name, "item": None, "_sha": sha})


def _import_chunk(*, project, entries, job=None, run=None) -> ImportReport:
    chunk = _Chunk(project)
    for entry in entries:
        chunk.add_entry(entry)
    return _import_rows(chunk=chunk, job=job, run=run)


def _import_rows(*, chunk, job=None, run=None) -> ImportReport:
    """Store a chunk's prepared rows: files first, then rows and tag links in one transaction."""
    run = run or _Run(job_id=job.pk if job else None)
    if chunk.columns is not None:
        if connection.vendor == "postgresql":
            return _import_columns(chunk=chunk, job=job, run=run)
        chunk.rows_of_columns()
    project, report, prepared, copies = chunk.project, chunk.report, chunk.rows, chunk.copies
    # Files are checked against the project before they are written; rows without a file (text) skip the
    # query on PostgreSQL, where the insert itself reports duplicates (ON CONFLICT DO NOTHING).
    if connection.vendor == "postgresql" and not chunk.has_files:
        existing = {}
    else:
        existing = {
            sha: (pk, job_id)
            for sha, pk, job_id in Item.objects.filter(
                project=project, sha256__in=[p[_SHA] for p in prepared]
            ).values_list("sha256", "id", "import_job_id")
        }
    if existing:
        fresh = []
        for p in prepared:
            if p[_SHA] in existing:
                _report_existing(report, run, p[_ENTRY], p[_NAME], *existing[p[_SHA]])
            else:
                fresh.append(p)
    else:
        fresh = prepared
    existing = {sha: pk for sha, (pk, _) in existing.items()}
    if not fresh:
        _resolve_in_chunk_duplicates(report, existing)
        _stamp(copies, existing)
        return report

    written = []  # storage names this call created, removed again if the rows fail
    reused = {}  # storage names found there (this content's), looked at again under the files' lock
    files = None  # each row's stored file name; None: no row has a file
    try:
        if chunk.has_files:
            files = []
            for p in fresh:
                data = p[_DATA]
                if data is None:
                    files.append("")
                    continue
                name = _media_name(project.pk, p[_SHA], p[_EXTENSION])
                # Content-addressed: a file already there under this name has these very bytes
                # (left by an import that died before its rows), so it is reused, not rewritten.
                if not default_storage.exists(name):
                    name = default_storage.save(name, ContentFile(data))
                    written.append(name)
                else:
                    reused[name] = data
                files.append(name)
        created, ids = _insert(
            project=project,
            reused=reused,
            columns=_columns(project=project, rows=fresh, files=files, job=job),
            tag_sets=[p[_TAGS] for p in fresh],
            names=[p[_NAME] for p in fresh],
            entries=[p[_ENTRY] for p in fresh],
            report=report,
            run=run,
        )
    except Exception:
        _delete_unreferenced(project, written, failed=True)
        raise
    if written:
        # Rows that lost a race to a concurrent import of the same content leave their files behind.
        used = {file for _, file in created.values()}
        _delete_unreferenced(project, [name for name in written if name not in used])
    run.counted.update(report.imported if len(created) == len(fresh) else [pk for pk, _ in created.values()])
    for p, pk in zip(fresh, ids, strict=True):
        if pk is not None and p[_ENTRY] is not None:
            p[_ENTRY].item = pk
    if chunk.has_copies:
        ids_by_sha = {**existing, **{sha: pk for sha, (pk, _) in created.items()}}
        _resolve_in_chunk_duplicates(report, ids_by_sha)
        _stamp(copies, ids_by_sha)
    return report


def _delete_unreferenced(project, names, *, failed=False):
    """Remove files this import wrote that no item stores. A file name is the content's (_media_name):
    a concurrent import of the same content that found the file there kept it for its own item, which
    may be the one that won the row; deleting every file this import wrote left that item without its
    media. ``failed``: the import's rows failed, maybe with the database, and then a file whose use
    cannot be checked is left (it is reused by the next import of its content)."""
    if not names:
        return
    try:
        with transaction.atomic():
            item_files_lock(project.pk, shared=False)  # an import reusing one of them commits first or finds it gone
            kept = set(Item.objects.filter(project=project, file__in=names).values_list("file", flat=True))
            for name in names:
                if name not in kept:
                    default_storage.delete(name)
    except DatabaseError:
        if not failed:
            raise
        logger.warning("import: could not check which of %d written files items use; left them", len(names))


def _import_columns(*, chunk, job, run) -> ImportReport:
    """PostgreSQL, a chunk of clean text lines held as columns: no file to write, no query for content
    already stored (the insert skips it) and no second copy within the chunk, so straight to the insert."""
    c, report = chunk.columns, chunk.report
    columns = {
        "project_id": _Same(chunk.project.pk),
        "source_id": _Same(c["source"]),
        "sha256": c["sha"],
        "original_name": c["name"],
        "label": c["label"],
        "metadata": _Same({}) if c["metadata"] is None else c["metadata"],
        "stats": _JsonTexts(map(_TEXT_STATS_FORMAT, c["length"], c["words"], c["lines"])),
        "text": c["text"],
        "import_job_id": _Same(job.pk if job else None),
        "file": _Same(""),
        "created": _Same(timezone.now()),
    }
    created, _ = _insert(
        project=chunk.project,
        columns=columns,
        tag_sets=c["tags"],
        names=c["name"],
        entries=None,
        report=report,
        run=run,
    )
    run.counted.update(report.imported if len(created) == len(c["sha"]) else [pk for pk, _ in created.values()])
    return report


def _stamp(copies, ids_by_sha):
    """Tell each second copy within a chunk the item its first copy became."""
    for entry, sha in copies:
        if entry.item is None:
            entry.item = ids_by_sha.get(sha)


def _report_existing(report, run, entry, name, item_id, job_id):
    """An entry whose content the project holds already: this job's own item from an earlier attempt
    (imported), or a duplicate."""
    if entry is not None:
        entry.item = item_id
    if run.claims(item_id, job_id):
        report.imported.append(item_id)
        report.resumed += 1
    else:
        report.duplicates.append({"name": name, "item": item_id})


def _resolve_in_chunk_duplicates(report, ids_by_sha):
    """Point duplicates found inside one chunk at the item their first copy became."""
    for dup in report.duplicates:
        sha = dup.pop("_sha", None)
        if sha is not None:
            dup["item"] = ids_by_sha.get(sha)


class _JsonTexts(list):
    """A JSON column given as its texts."""


class _Same:
    """A column whose value is the same on every row."""

    def __init__(self, value):
        self.value = value


def _columns(*, project, rows, files, job):
    """The item columns (by attname) of prepared rows: a list per column, or _Same."""
    (_, shas, names, texts, stats, labels, metadata, sources, _, _, _) = zip(*rows, strict=True)
    return {
        "project_id": _Same(project.pk),
        "source_id": _Same(sources[0]) if sources.count(sources[0]) == len(sources) else sources,
        "sha256": shas,
        "original_name": [name[:300] for name in names],
        "label": labels,
        "metadata": metadata,
        "stats": stats,
        "text": texts,
        "import_job_id": _Same(job.pk if job else None),
        "file": files if files is not None else _Same(""),
        "created": _Same(timezone.now()),
    }


def _insert(*, project, columns, tag_sets, names, entries, report, run, reused=None) -> tuple[dict, list[int | None]]:
    """Insert item rows (``columns``, by attname) and their tag links; answer {sha256: (item id, file name)}
    of the rows stored, and each row's item id (None for a row not stored). ``names`` and ``entries``
    (None: no row has one) name the rows in the report.

    Rows whose content another import stored meanwhile are reported as duplicates, not errors (or as
    imported, when an earlier attempt of the same job stored them). ``reused``: {storage name: bytes} of
    the files found already stored, written again if a removal took them meanwhile (``_insert_rows``).
    """
    n = len(names)
    created, ids = _insert_rows(project=project, columns=columns, tag_sets=tag_sets, n=n, reused=reused)
    everything = len(created) == n
    shas = columns["sha256"]
    report.imported.extend(ids if everything else [pk for pk in ids if pk is not None])
    lost = [] if everything else [i for i, pk in enumerate(ids) if pk is None]
    if lost:
        existing = {
            sha: (pk, job_id)
            for sha, pk, job_id in Item.objects.filter(project=project, sha256__in=[shas[i] for i in lost]).values_list(
                "sha256", "id", "import_job_id"
            )
        }
        for i in lost:
            item_id, job_id = existing.get(shas[i], (None, None))
            _report_existing(report, run, entries[i] if entries else None, names[i], item_id, job_id)
    return created, ids


@retry_deadlock_once  # two imports of the same files in opposite orders each wait for the other's rows
def _insert_rows(*, project, columns, tag_sets, n, reused=None) -> tuple[dict, list[int | None]]:
    """``_insert``'s transaction: {sha256: (item id, file name)} of the rows stored, and each row's item id.
    Run again from the start when a deadlock's victim: it changes nothing outside the database but files
    it writes again, which hold the same bytes under the same names.

    ``reused``: {storage name: bytes} of the files the import found already stored (left by an import that
    died before its rows, or by a deleted item whose removal has not run yet). Under the files' lock
    (shared; a removal takes it exclusive around its check and deletes) each is looked at again and
    written back if a removal took it between the first look and the lock; the removals after the commit
    find the new rows and keep the files."""
    # One transaction for tags, rows and links: an item never exists without the tags it was imported
    # with, and a chunk whose connection dies leaves nothing of itself behind.
    with transaction.atomic():
        if reused:
            item_files_lock(project.pk, shared=True)
            for name, data in reused.items():
                if not default_storage.exists(name):
                    saved = default_storage.save(name, ContentFile(data))
                    if saved != name:  # another import put the same bytes there first: theirs is kept
                        default_storage.delete(saved)
        tag_ids = _tag_ids(project=project, names={t for tags in set(tag_sets) for t in tags})
        if connection.vendor == "postgresql":
            created = _insert_copy(columns=columns, n=n)
        else:
            created = _insert_orm(columns=columns, n=n)
        if len(created) == n:
            ids = [created[sha][0] for sha in columns["sha256"]]
        else:
            ids = [created[sha][0] if sha in created else None for sha in columns["sha256"]]
        if connection.vendor == "postgresql":
            _add_tag_links(_links_copy_text(tag_sets, ids, tag_ids))
        else:
            _add_tag_links(_links(tag_sets, ids, tag_ids))
    return created, ids


def _links(tag_sets, ids, tag_ids):
    """(item id, tag id) of each stored row's tags; the rows of a manifest share a few tag sets, each
    resolved once (and when every row has the same, no row is looked at one by one)."""
    distinct = set(tag_sets)
    if len(distinct) == 1 and None not in ids:
        (tags,) = distinct
        links = []
        for tag in {tag_ids[t] for t in tags}:
            links.extend(zip(ids, repeat(tag)))
        return links
    links = []
    resolved = {}
    for tags, pk in zip(tag_sets, ids, strict=True):
        if pk is None or not tags:
            continue
        ids_of_tags = resolved.get(tags)
        if ids_of_tags is None:
            ids_of_tags = resolved[tags] = list({tag_ids[t] for t in tags})
        for tag in ids_of_tags:
            links.append((pk, tag))
    return links


def _links_copy_text(tag_sets, ids, tag_ids):
    """``_links`` as COPY text (item id, tag id lines, in the same order). When every row is stored and
    has the same tags, one join of the ids' texts per tag, with no pair made for each row."""
    distinct = set(tag_sets)
    if len(distinct) == 1 and None not in ids:
        (tags,) = distinct
        texts = list(map(str, ids))
        ends = [f"\t{tag}\n" for tag in {tag_ids[t] for t in tags}]
        return "".join(end.join(texts) + end for end in ends) if texts else ""
    return "".join(map("%d\t%d\n".__mod__, _links(tag_sets, ids, tag_ids)))


def _insert_orm(*, columns, n):
    rows = [{name: column.value for name, column in columns.items() if isinstance(column, _Same)} for _ in range(n)]
    for name, column in columns.items():
        if not isinstance(column, _Same):
            for row, value in zip(rows, column, strict=True):
                row[name] = value
    items = [Item(**row) for row in rows]
    try:
        with transaction.atomic():
            Item.objects.bulk_create(items, batch_size=2000)
        return {item.sha256: (item.pk, item.file.name) for item in items}
    except IntegrityError:
        pass
    # Another import stored some of the same content meanwhile: go one by one.
    created = {}
    for item in items:
        item.pk = None
        try:
            with transaction.atomic():
                item.save(force_insert=True)
        except IntegrityError:
            continue
        created[item.sha256] = (item.pk, item.file.name)
    return created


_NULL = "\\N"
_TEXT_STATS = ("length", "words", "lines")


def _copy_strings(values):
    """A column of strings in COPY's text format. Escaped in one pass over the whole column joined by NUL
    (which no stored text may hold), not value by value: most columns need no escaping at all."""
    joined = "\x00".join(values)
    if "\\" not in joined and "\t" not in joined and "\n" not in joined and "\r" not in joined:
        return values
    escaped = joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r").split("\x00")
    if len(escaped) == len(values):
        return escaped
    return [v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for v in values]


def _copy_numbers(values):
    return [_NULL if v is None else str(v) for v in values]


def _json_text(value):
    """JSON text of a column value (jsonb on PostgreSQL, which keeps the value, not the spelling); a text
    item's statistics are formatted directly and other values by orjson (json.dumps costs several times
    more on 100,000 small dicts). json.dumps where orjson would differ: it writes NaN and infinities as
    null and refuses integers beyond 64 bits, which JSON read by json.loads may hold."""
    if type(value) is dict:
        if not value:
            return "{}"
        if len(value) == 3 and tuple(value) == _TEXT_STATS:
            length, words, lines = value.values()
            if type(length) is int and type(words) is int and type(lines) is int:
                return f'{{"length": {length}, "words": {words}, "lines": {lines}}}'
    try:
        text = orjson.dumps(value)
    except TypeError:
        return json.dumps(value)
    return json.dumps(value) if b"null" in text else text.decode()


_TEXT_STATS_JSON = '{{"length": {length}, "words": {words}, "lines": {lines}}}'
_TEXT_STATS_FORMAT = '{{"length": {}, "words": {}, "lines": {}}}'.format


def _json_texts(values):
    """JSON texts of a column's values. A column of text statistics (every value a dict of exactly the
    three counts) is formatted by one C-level map; empty dicts (no metadata) need no call."""
    if set(map(len, values)) == {3}:
        try:
            texts = list(map(_TEXT_STATS_JSON.format_map, values))
        except KeyError:
            pass
        else:
            if set(map(type, chain.from_iterable(map(dict.values, values)))) == {int}:
                return texts
    return ["{}" if value == {} else _json_text(value) for value in values]


def _copy_payload(fields, columns, ids):
    """The chunk's COPY text, built column by column and joined once (a write per row costs more than
    everything else the COPY does in Python). Columns this module does not set get their model default."""
    n = len(ids)
    payload = [list(map(str, ids))]
    for f in fields:
        kind = f.get_internal_type()
        values = columns.get(f.attname)
        if isinstance(values, _Same):
            value = values.value
            if value is None:
                text = _NULL
            elif kind == "DateTimeField":
                text = value.isoformat()
            elif kind == "JSONField":
                text = _copy_strings([_json_text(value)])[0]
            else:
                text = _copy_strings([str(value)])[0]
            payload.append(repeat(text, n))
        elif values is not None:
            if kind == "JSONField":
                payload.append(_copy_strings(values if type(values) is _JsonTexts else _json_texts(values)))
            elif kind == "DateTimeField":
                texts = {}
                payload.append(
                    [_NULL if v is None else texts.get(v) or texts.setdefault(v, v.isoformat()) for v in values]
                )
            elif kind in ("CharField", "TextField", "FileField"):
                payload.append(_copy_strings(list(map(str, values))))
            else:
                payload.append(_copy_numbers(values))
        elif f.default is new_random_key:
            payload.append(map(str, new_random_keys(n)))
        elif f.has_default() and callable(f.default):
            payload.append(_copy_numbers([f.default() for _ in range(n)]))
        else:
            value = f.get_db_prep_save(f.get_default(), connection=connection)
            payload.append(repeat(_NULL if value is None else str(value), n))
    return "\n".join(map("\t".join, zip(*payload, strict=True))) + "\n"


def _reserve_ids(cursor, table, n):
    """Take n ids from the table's sequence in one query: the rows are COPied with their ids, so nothing
    has to be read back to learn which item each row became."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [Item._meta.db_table, Item._meta.pk.column])
    sequence = cursor.fetchone()[0]
    cursor.execute(
        "SELECT string_agg(i::text, ',' ORDER BY i) FROM (SELECT nextval(%s::regclass) AS i "
        "FROM generate_series(1, %s)) AS s",
        [sequence, n],
    )
    return list(map(int, cursor.fetchone()[0].split(",")))


def _insert_copy(*, columns, n):
    """PostgreSQL: COPY the rows, with ids reserved from the sequence, straight into the table; if some
    content is already there (a concurrent import of the same files), COPY them into a staging table
    instead and move them with one INSERT ... ON CONFLICT DO NOTHING, so the rows that lost the race are
    simply not stored.

    Several times faster than bulk_create's multi-row INSERTs on 100,000 rows.
    """
    from psycopg.errors import UniqueViolation  # PostgreSQL only

    fields = [f for f in Item._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(Item._meta.db_table)
    columns_sql = ", ".join(connection.ops.quote_name(f.column) for f in [Item._meta.pk, *fields])
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, Item._meta.db_table, n)
    payload = _copy_payload(fields, columns, ids)
    try:
        # Django's errors for psycopg's (the COPY runs on psycopg's own cursor): a unique violation is an
        # IntegrityError, a deadlock an OperationalError that retry_deadlock_once knows.
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.connection.cursor().copy(f"COPY {table} ({columns_sql}) FROM STDIN") as copy:
                copy.write(payload)
            files = columns["file"]
            files = repeat(files.value, n) if isinstance(files, _Same) else files
            return dict(zip(columns["sha256"], zip(ids, files, strict=True), strict=True))
    except (IntegrityError, UniqueViolation):
        pass  # some content is already stored: take the slower path that skips it
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        # Dropped at the end of this block, not on commit: several imports may share one transaction.
        cursor.execute("DROP TABLE IF EXISTS import_stage")
        cursor.execute(f"CREATE TEMP TABLE import_stage (LIKE {table} INCLUDING DEFAULTS)")
        with cursor.connection.cursor().copy(f"COPY import_stage ({columns_sql}) FROM STDIN") as copy:
            copy.write(payload)
        cursor.execute(
            f"INSERT INTO {table} ({columns_sql}) SELECT {columns_sql} FROM import_stage "
            "ON CONFLICT (project_id, sha256) DO NOTHING RETURNING id, sha256, file"
        )
        created = {sha: (pk, file) for pk, sha, file in cursor.fetchall()}
        cursor.execute("DROP TABLE import_stage")
        return created


def _add_tag_links(links):
    """Store (item id, tag id) links: pairs, or on PostgreSQL their COPY text."""
    if not links:
        return
    through = Item.tags.through
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(through._meta.db_table)
        with (
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.connection.cursor().copy(f"COPY {table} (item_id, tag_id) FROM STDIN") as copy,
        ):
            copy.write(links if type(links) is str else "".join(map("%d\t%d\n".__mod__, links)))
        return
    through.objects.bulk_create([through(item_id=i, tag_id=t) for i, t in links], batch_size=5000)


@contextmanager
def _gc_paused():
    """Python's cyclic garbage collector paused while a chunk is read, checked and stored. A chunk keeps
    tens of thousands of fresh containers alive (its parsed records, their tag lists, its columns), so
    the collector, triggered every 700 allocations, walks them again and again and promotes them into
    full collections that walk every object of the process: on a 100,000-line manifest that was about
    half of the import's CPU. Nothing a chunk makes needs the collector (reference counting frees it);
    it runs again between chunks, so cycles made by the import are still collected. Left off when the
    caller had it off (and only turned back on by the call that turned it off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def items_import(
    *,
    project,
    entries: Iterable[ImportEntry],
    job=None,
    on_progress: Callable[[int], None] | None = None,
    chunk_size=None,
) -> ImportReport:
    """Import entries in chunks; answer the per-file report. ``on_progress(n_done)`` after each chunk.

    With a ``job``, items that an earlier attempt of that job stored are counted as imported (once), so
    running a job again after a failure finishes it without duplicates."""
    report = ImportReport()
    run = _Run(job_id=job.pk if job else None)
    size = chunk_size or (TEXT_CHUNK_SIZE if project.modality == "text" else CHUNK_SIZE)
    done = 0
    chunk = []
    entries = iter(entries)
    while True:
        with _gc_paused():
            chunk = list(islice(entries, size))
            if not chunk:
                break
            try:
                report.extend(_import_chunk(project=project, entries=chunk, job=job, run=run))
            except OperationalError as exc:
                if not is_deadlock(exc):
                    raise
                raise BatchNotSaved(_not_stored(done, len(chunk))) from exc
        done += len(chunk)
        if on_progress:
            on_progress(done)
    return report


def _not_stored(done, n) -> str:
    before = f" (entries 1-{done} are)" if done else ""
    return (
        f"entries {done + 1}-{done + n}: another import of the same files was being saved at the same moment "
        f"and the database stopped this one there twice; none of them was stored{before}. Import them again "
        "(or retry the job): nothing is stored twice."
    )


def image_sizes_upright(*, project=None, dry_run=False) -> dict:
    """Store the upright width and height (EXIF orientation applied, as imports measure them) on image
    items imported when the stored size was the file's raw one: a photo with orientation 5-8 had them
    swapped, so its boxes turned into wrong pixels in COCO. Each file (of ``project``, else of every
    image project) is opened through the storage and its header read; only items whose size changes are
    written. Answers ``{"checked", "changed", "unreadable", "problems"}``, ``problems`` naming each unreadable
    item ("item 12 (a.png): ..."); running it again changes nothing."""
    items = Item.objects.filter(project__modality="image").exclude(file="")
    if project is not None:
        items = items.filter(project=project)
    counts = {"checked": 0, "changed": 0, "unreadable": 0, "problems": []}
    rows = items.order_by("pk").values_list("pk", "original_name", "file", "stats")
    for pk, original, name, stats in rows.iterator(chunk_size=CHUNK_SIZE):
        counts["checked"] += 1
        try:
            with default_storage.open(name, "rb") as handle:
                width, height = inputs.upright_size(handle)
        except Exception as exc:  # a file gone or unreadable: its stored size stays, the item is named
            counts["unreadable"] += 1
            why = f"the file is {GONE}" if isinstance(exc, FileNotFoundError) else f"cannot read its file: {exc}"
            counts["problems"].append(f"{items_named([(pk, original)])}: {why}")
            logger.warning("item %s: cannot read %s: %s", pk, name, exc)
            continue
        stats = stats or {}
        if (stats.get("width"), stats.get("height")) == (width, height):
            continue
        counts["changed"] += 1
        if not dry_run:
            Item.objects.filter(pk=pk).update(stats={**stats, "width": width, "height": height})
    return counts


def uploaded_entries(*, project, files, tags=(), source=None) -> list[ImportEntry]:
    """Entries for files of a multipart upload (Django UploadedFile objects) to ``project``. A file named as
    a zip or a manifest (``OTHER_FORM_REASONS``) is refused unread, saying where it goes."""
    limit = settings.LABELHUB_MAX_FILE_BYTES
    entries = []
    for upload in files:
        entry = ImportEntry(name=upload.name, tags=list(tags), source=source)
        other_form = OTHER_FORM_REASONS.get(posixpath.splitext(upload.name or "")[1].lower())
        if other_form:
            entry.error = other_form.format(id=project.pk)
        elif upload.size > limit:
            entry.error = f"file is {upload.size:,} bytes, over the limit of {limit:,} bytes"
        else:
            entry.load = upload.read
        entries.append(entry)
    return entries


# --- manifests and archives -------------------------------------------------------------------------


def _safe_member_name(name: str) -> str:
    """A zip entry's name if it stays inside the archive; raise InputRejected otherwise."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise InputRejected(f"zip entry '{name}' has an absolute path")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise InputRejected(f"zip entry '{name}' climbs out of the archive with '..'")
    return posixpath.normpath(name.replace("\\", "/"))


# The compression methods Python's zipfile reads; WinZip's AES (99), PPMd (98) and others it cannot.
READABLE_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def zip_member_unreadable(info: zipfile.ZipInfo) -> str:
    """Why a zip entry's data cannot be read at all (``zip -e``'s password, a compression method zipfile
    lacks), as a sentence naming it; "" when it can. zipfile only says so when the entry is opened, as a
    RuntimeError or NotImplementedError that failed the whole import."""
    if info.flag_bits & 0x1:
        return f"zip entry '{member_name(info)}' is encrypted (password-protected): zip it again without a password"
    if info.compress_type not in READABLE_ZIP_METHODS:
        return (
            f"zip entry '{member_name(info)}' is compressed with a method LabelHub cannot read "
            f"({info.compress_type}): zip it again with the usual one (deflate)"
        )
    return ""


def zip_member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    """A function reading a zip entry whole; a damaged entry (its CRC, its compressed data) raises
    InputRejected naming it, so that one bad entry is reported as such and the others go in."""

    def read():
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError) as exc:
            raise InputRejected(f"zip entry '{member_name(info)}' is damaged ({exc}): zip it again") from None

    return read


def _is_link(info: zipfile.ZipInfo) -> bool:
    """Whether a zip entry is a symbolic link (``zip -y``): its data is the path it links to."""
    return stat.S_ISLNK(info.external_attr >> 16)


def archive_members(archive: zipfile.ZipFile) -> tuple[dict[str, zipfile.ZipInfo], list[tuple[str, str]]]:
    """A zip's files by their safe names (``_safe_member_name``), and (name, reason) of the entries refused:
    a path outside the archive, a symbolic link (its data is a path, never followed), an entry whose data
    cannot be read (``zip_member_unreadable``), or a name the archive holds more than once (zipfile reads
    the last copy; which one the archive's maker meant cannot be told, so no copy is read)."""
    members, bad, copies = {}, [], {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        shown = member_name(info)
        try:
            name = _safe_member_name(shown)
            if _is_link(info):
                raise InputRejected(f"zip entry '{shown}' is a symbolic link, not a file: zip the file it links to")
            if unreadable := zip_member_unreadable(info):
                raise InputRejected(unreadable)
        except InputRejected as exc:
            bad.append((shown, str(exc)))
            continue
        copies[name] = copies.get(name, 0) + 1
        members[name] = info
    for name, n in copies.items():
        if n > 1:
            del members[name]
            bad.append((name, f"zip entry '{name}' is in the archive {n} times: which one is meant cannot be told"))
    return members, bad


def path_parts(path: str) -> tuple[str, ...]:
    """A relative path's folders and name: backslashes read as slashes, ``a/../b`` as ``b``; a leading
    ``/``, ``./`` or ``../`` left out."""
    return tuple(p for p in posixpath.normpath(path.replace("\\", "/")).split("/") if p not in ("", ".", ".."))


def file_path(original_name: str) -> str:
    """The relative path of the file an item was imported from, as YOLO exports name it and label imports
    match it: its original name (``a/x.png`` from a zip or folder), a manifest line's path
    (``line 3 (img/a.png)`` is ``img/a.png``), written with forward slashes and no ``./`` or ``..``."""
    match = MANIFEST_LINE_NAME.match(original_name or "")
    return "/".join(path_parts(match.group(1) if match else original_name or ""))


def _resolve_source(project, value, sources_cache):
    if value in (None, ""):
        return None
    key = str(value)
    if key not in sources_cache:
        query = DataSource.objects.filter(project=project)
        source = query.filter(pk=int(key)).first() if is_row_id(key) else None
        sources_cache[key] = source or query.filter(name=key).first()
    if sources_cache[key] is None:
        raise InputRejected(f"unknown source '{value}' (not a source of this project)")
    return sources_cache[key]


# A manifest's fields. Any other is refused by name, line by line: a misspelt or capitalized column
# ("lable", a spreadsheet's "Label") was dropped without a word, and the items came in unlabeled.
MANIFEST_FIELDS = ("path", "text", "label", "tags", "source", "metadata")


def _unknown_fields(names) -> str:
    """The error for a record with fields a manifest does not have ("" when it has none)."""
    unknown = [n for n in names if n not in MANIFEST_FIELDS]
    if not unknown:
        return ""
    hint = "; other data goes in metadata"
    if any(";" in n or "\t" in n for n in unknown):
        hint = "; a manifest CSV is separated by commas"
    listed = ", ".join(f"'{n}'" for n in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
    return (
        f"unknown field{'s' if len(unknown) > 1 else ''} {listed} (a manifest has {', '.join(MANIFEST_FIELDS)}{hint})"
    )


def _check_csv_header(names):
    """Refuse a CSV manifest whose header names neither ``path`` nor ``text``: every line would be refused
    for it, and a file that is no manifest at all (binary data, a header alone) read as a header without
    lines and was imported as "succeeded, nothing to do"."""
    if "path" in names or "text" in names:
        return
    if any("\x00" in name for name in names):
        raise InputRejected(
            "the file holds binary data: a manifest is text, JSON Lines (one object a line) or CSV with a "
            "header line, or upload a zip archive"
        )
    raise InputRejected(
        "read as a CSV manifest, its first line names no 'path' or 'text' column: "
        + (_unknown_fields([n for n in names if n]) or f"a manifest has {', '.join(MANIFEST_FIELDS)}")
        + "; JSON Lines holds one object a line"
    )


def _manifest_records(stream: io.TextIOBase, fmt: str) -> Iterator[tuple[int, dict | None, str]]:
    """Yield (line number, record or None, error) for each non-empty manifest line. CSV column names are
    read without case or surrounding spaces ("Label" is label)."""
    if fmt == "csv":
        # strict: a quote left open is an error at the file's end, not every later line read into its field
        reader = csv.DictReader(stream, strict=True)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise InputRejected(f"line {reader.reader.line_num}: {csv_problem(exc)}") from None
        if fieldnames is not None:
            reader.fieldnames = [(f or "").strip().lower() for f in fieldnames]
            _check_csv_header(reader.fieldnames)
        unknown = _unknown_fields([f for f in reader.fieldnames or () if f])
        for row in _csv_rows(reader):
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            line = csv_row_start(reader.line_num, row.values())
            if unknown:
                yield line, None, unknown
                continue
            # PostgreSQL stores no NUL character in text or JSON (one failed the whole job): a line holding
            # one, anywhere (text, metadata, a tag), is refused by name on every database
            if any("\x00" in v for v in row.values() if isinstance(v, str)):
                yield line, None, inputs.NUL_HELD
                continue
            record = {k: v for k, v in row.items() if k}
            if record.get("metadata"):
                try:
                    record["metadata"] = json.loads(record["metadata"])
                except json.JSONDecodeError as exc:
                    yield line, None, f"metadata is not valid JSON: {exc.msg} (column {exc.colno})"
                    continue
            yield line, record, ""
        return
    for numbers, records, errors in _jsonl_blocks(stream):
        yield from zip(numbers, records, errors, strict=True)


def _csv_rows(reader):
    """The rows of a csv reader; a field over the limit or a malformed line stops the file, naming its line
    (the reader cannot go on past it: the rest of an overlong quoted field would read as new lines). A
    DictReader's own ``line_num`` is its last good row's, so the line is its csv reader's."""
    try:
        yield from reader
    except csv.Error as exc:
        raise InputRejected(f"line {reader.reader.line_num}: {csv_problem(exc)}") from None


def _jsonl_blocks(stream):
    """The lines of a JSONL manifest about a megabyte at a time, as three lists: the numbers of its
    non-empty lines, their records (or None) and errors (or "")."""
    start = 1  # the number of the batch's first line
    while lines := stream.readlines(_JSON_BATCH_BYTES):
        # Each line is parsed on its own (orjson: one C call per line, mapped over the batch), so a line
        # is always one record. A batch with a blank line, a line that is not one JSON object, or a
        # number orjson would read differently from json is read line by line instead.
        try:
            records = list(map(orjson.loads, lines))
        except orjson.JSONDecodeError:
            records = None
        joined = "".join(lines)
        if (
            records is not None
            and set(map(type, records)) == {dict}
            and _LONG_DIGITS not in joined.encode().translate(_DIGIT_BYTES)
            and not json_has_nul(joined)
        ):
            errors = [""] * len(lines)
            if not set().union(*map(dict.keys, records)) <= set(MANIFEST_FIELDS):  # one check for the batch
                errors = [_unknown_fields(r) for r in records]
                records = [None if e else r for r, e in zip(records, errors, strict=True)]
            yield list(range(start, start + len(lines))), records, errors
        else:
            numbers, records, errors = [], [], []
            for number, line in enumerate(lines, start=start):
                if line.strip():
                    record, error = _jsonl_line(line)
                    if record is not None and (error := _unknown_fields(record)):
                        record = None
                    if record is not None and json_has_nul(line):
                        record, error = None, inputs.NUL_HELD
                    numbers.append(number)
                    records.append(record)
                    errors.append(error)
            yield numbers, records, errors
        start += len(lines)


def _manifest_batches(stream: io.TextIOBase, fmt: str, size: int):
    """``_manifest_records`` in batches of ``size`` lines (the last may be shorter), each as three lists
    (line numbers, records, errors): a JSONL block is taken whole, without a tuple for each line."""
    if fmt == "csv":
        records = _manifest_records(stream, fmt)
        while batch := list(islice(records, size)):
            yield tuple(map(list, zip(*batch, strict=True)))
        return
    numbers, records, errors = [], [], []
    for block in _jsonl_blocks(stream):
        numbers += block[0]
        records += block[1]
        errors += block[2]
        while len(numbers) >= size:
            yield numbers[:size], records[:size], errors[:size]
            del numbers[:size], records[:size], errors[:size]
    if numbers:
        yield numbers, records, errors


_JSON_BATCH_BYTES = 1 << 20  # lines read at once from a JSONL manifest, about
# A run of 19 digits may be an integer beyond 64 bits, which orjson reads as a float and json exactly.
# A batch is checked by mapping its bytes to 1 (digit) or 0 and looking for nineteen 1s: several times
# cheaper than a regex search over a megabyte.
_LONG_NUMBER = re.compile(r"[0-9]{19}")
_DIGIT_BYTES = bytes(48 <= b <= 57 for b in range(256))
_LONG_DIGITS = b"\x01" * 19


def _jsonl_line(line):
    """(record or None, error) of one JSONL line: orjson when it reads the line as json would, else json
    (NaN, infinities, integers beyond 64 bits, lone surrogates), whose messages name each error."""
    if not _LONG_NUMBER.search(line):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(record, dict):
                return record, ""
            return None, f"a manifest line must be a JSON object, not {type(record).__name__}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:  # orjson stops at 1,024 levels; json at Python's stack
        return None, NESTED_TOO_DEEP
    if not isinstance(record, dict):
        return None, f"a manifest line must be a JSON object, not {type(record).__name__}"
    return record, ""


class _ManifestReader:
    """Turns manifest records into entries (or, for clean text lines, straight into a chunk's rows), with
    the caches a manifest's lines share: its sources and tag sets."""

    def __init__(self, *, project, open_path, tags=(), source=None):
        self.project, self.open_path, self.source = project, open_path, source
        self.tags = list(tags)
        self.sources = {}
        self.tags_cache = {}  # a record's tags value -> its tags: most lines repeat a few tag sets
        self.tag_sets = {}  # the same -> the entry's tags (the import's, then the line's), as a tuple

    def entry(self, number, record, error) -> ImportEntry:
        entry = ImportEntry(name=f"line {number}", tags=self.tags.copy(), source=self.source)
        if error:
            entry.error = error
            return entry
        try:
            value = record.get("tags")
            if value is not None:
                entry.tags += _cached_tags(value, self.tags_cache)
            value = record.get("source")
            if value is not None and value != "":
                entry.source = _resolve_source(self.project, value, self.sources) or self.source
            metadata = record.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise InputRejected("metadata must be a JSON object")
            entry.metadata = metadata
            entry.label = str(record.get("label") or "").strip()
            text, path = record.get("text"), record.get("path")
            if text not in (None, ""):
                if not isinstance(text, str):
                    raise InputRejected("text must be a string")
                entry.text = text
            elif path:
                entry.name = f"line {number} ({path})"
                entry.load = self.open_path(str(path))
            else:
                raise InputRejected("a manifest line needs 'path' or 'text'")
        except InputRejected as exc:
            entry.error = str(exc)
        return entry

    def add(self, chunk, numbers, records, errors):
        """Add numbered records (three lists: line numbers, records, errors) to a chunk. A text line whose
        every field is clean goes straight into the chunk's rows (as ``_Chunk.add_text`` adds it, inlined:
        this loop runs once per line); any other line becomes an entry as ``manifest_entries`` makes it,
        checked (and its problem named) the same way."""
        if not chunk.rows and chunk.columns is None and self.add_columns(chunk, numbers, records, errors):
            return
        class_keys, limit, tag_sets = chunk.class_keys, chunk.text_limit, self.tag_sets
        seen, append = chunk.seen, chunk.rows.append
        default_tags = tuple(self.tags)
        default_source = self.source.pk if self.source else None
        for number, record, error in zip(numbers, records, errors, strict=True):
            if not error:
                text = record.get("text")
                if type(text) is str and 0 < len(text) <= limit and not text.isspace():
                    value = record.get("tags")
                    tags = default_tags if value is None else self._tags(value, default_tags, tag_sets)
                    source = record.get("source")
                    if source is None or source == "":
                        source = default_source
                    else:
                        try:
                            source = _resolve_source(self.project, source, self.sources).pk
                        except InputRejected:
                            tags = None
                    metadata = record.get("metadata") or {}
                    label = record.get("label") or ""
                    if type(label) is str:
                        label = label.strip()
                        if tags is not None and type(metadata) is dict and (not label or label in class_keys):
                            name = f"line {number}"
                            sha = sha256(text.encode()).hexdigest()
                            if sha in seen:
                                chunk.add_copy(None, name, sha)
                                continue
                            seen.add(sha)
                            stats = {"length": len(text), "words": len(text.split()), "lines": text.count("\n") + 1}
                            append((None, sha, name, text, stats, label, metadata, source, tags, "", None))
                            continue
            chunk.add_entry(self.entry(number, record, error))

    def add_columns(self, chunk, numbers, records, errors) -> bool:
        """Add a batch of records to an empty chunk as columns, by C-level maps over the batch instead of a
        loop over its lines, when every line is a clean text line (as ``add`` tells one), none names a
        source and no text repeats within the batch; answer whether it did (if not, nothing was added)."""
        if any(errors):
            return False
        texts = list(map(dict.get, records, repeat("text")))
        if set(map(type, texts)) != {str}:
            return False
        lengths = list(map(len, texts))
        if min(lengths) == 0 or max(lengths) > chunk.text_limit or any(map(str.isspace, texts)):
            return False
        try:
            if not set(map(dict.get, records, repeat("source"))) <= {None, ""}:
                return False
            labels = list(map(dict.get, records, repeat("label")))
            label_of = {value: _clean_label(value, chunk.class_keys) for value in set(labels)}
            if None in label_of.values():
                return False
            values = list(map(dict.get, records, repeat("tags")))
            types = set(map(type, values))
            if not types <= {type(None), str, list}:
                return False
            keys = list(map(tuple, values)) if types == {list} else [tuple(v) if type(v) is list else v for v in values]
            default_tags = tuple(self.tags)
            tags_of = {}
            for key in set(keys):
                if type(key) is tuple and not set(map(type, key)) <= {str}:
                    return False  # [1] and [True] would share a key
                value = list(key) if type(key) is tuple else key
                tags_of[key] = default_tags if key is None else self._tags(value, default_tags, self.tag_sets)
        except TypeError:  # an unhashable label, source or tag
            return False
        if None in tags_of.values():
            return False
        metadata = list(map(dict.get, records, repeat("metadata")))
        types = set(map(type, metadata))
        if not types <= {dict, type(None)}:
            return False
        if types == {type(None)}:
            metadata = None  # no line has metadata
        elif type(None) in types:
            metadata = [value or {} for value in metadata]
        shas = list(map(_HEXDIGEST, map(sha256, map(str.encode, texts))))
        if len(set(shas)) != len(shas):
            return False
        chunk.columns = {
            "sha": shas,
            "name": ("line %d\x00" * len(numbers) % tuple(numbers)).split("\x00")[:-1],  # one C call
            "text": texts,
            "length": lengths,
            "words": list(map(len, map(str.split, texts))),
            "lines": list(map((1).__add__, map(str.count, texts, repeat("\n")))),
            "label": list(map(label_of.__getitem__, labels)),
            "metadata": metadata,  # None: no line has any
            "source": self.source.pk if self.source else None,
            "tags": list(map(tags_of.__getitem__, keys)),
        }
        return True

    def _tags(self, value, default_tags, tag_sets):
        """The tags of a line whose tags value is ``value``, as a tuple; None when the value is bad."""
        try:
            key = tuple(value) if type(value) is list else value
            return tag_sets[key]
        except (KeyError, TypeError):
            pass
        try:
            tags = default_tags + tuple(_cached_tags(value, self.tags_cache))
        except InputRejected:
            return None
        if type(value) is str or (type(value) is list and all(type(p) is str for p in value)):
            if len(tag_sets) > 10000:
                tag_sets.clear()
            tag_sets[key] = tags
        return tags


_HEXDIGEST = methodcaller("hexdigest")


def _clean_label(value, class_keys):
    """A line's label as a row holds it (``str(value or "").strip()``), or None when it needs the entry's
    checks (not a string, or not a class of the project)."""
    if not value:
        return ""
    if type(value) is not str:
        return None
    label = value.strip()
    return label if not label or label in class_keys else None


def manifest_entries(
    *, project, stream, fmt, open_path: Callable[[str], Callable[[], bytes]], tags=(), source=None
) -> Iterator[ImportEntry]:
    """Entries for a manifest: each record has ``path`` or ``text``, and optional ``tags``, ``source``,
    ``metadata`` and ``label``. ``open_path(path)`` answers a loader for a path or raises InputRejected."""
    reader = _ManifestReader(project=project, open_path=open_path, tags=tags, source=source)
    for number, record, error in _manifest_records(stream, fmt):
        yield reader.entry(number, record, error)


def manifest_import(
    *,
    project,
    stream,
    fmt,
    open_path: Callable[[str], Callable[[], bytes]],
    tags=(),
    source=None,
    job=None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """``items_import`` of ``manifest_entries``, with the same chunks and the same report, but clean text
    lines go from their records straight into the chunk's rows, without an ImportEntry each (on 100,000
    lines the entries cost more than parsing the JSON)."""
    report = ImportReport()
    run = _Run(job_id=job.pk if job else None)
    size = TEXT_CHUNK_SIZE if project.modality == "text" else CHUNK_SIZE
    reader = _ManifestReader(project=project, open_path=open_path, tags=tags, source=source)
    batches = _manifest_batches(stream, fmt, size)
    done = 0
    while True:
        with _gc_paused():
            batch = next(batches, None)
            if batch is None:
                break
            chunk = _Chunk(project)
            reader.add(chunk, *batch)
            report.extend(_import_rows(chunk=chunk, job=job, run=run))
        done += len(batch[0])
        if on_progress:
            on_progress(done)
    return report


def manifest_format(name: str, head: bytes) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"


def folder_opener(root: Path, allowed_roots=None):
    """A loader factory for manifest paths relative to ``root`` that must stay under an allowed root."""
    root = root.resolve()
    allowed = [Path(r).resolve() for r in (allowed_roots if allowed_roots is not None else [root])]

    def open_path(path):
        target = (root / path).resolve()
        if not any(target.is_relative_to(a) for a in allowed):
            raise InputRejected(f"path '{path}' is outside the folders imports may read")
        if not target.is_file():
            raise InputRejected(f"file '{path}' does not exist")
        size, limit = target.stat().st_size, settings.LABELHUB_MAX_FILE_BYTES
        if size > limit:  # checked before reading: the roots may hold files far larger than memory
            raise InputRejected(f"'{path}' is {size:,} bytes, over the limit of {limit:,}")
        return target.read_bytes

    return open_path


def member_name(info: zipfile.ZipInfo) -> str:
    """An archive entry's name as its archiver meant it. Zips written without the UTF-8 flag (macOS
    Archive Utility, many Windows tools) hold UTF-8 bytes that ``zipfile`` reads as cp437 ("café_x.png"
    became "caf├⌐_x.png", which no label file then matched): such a name is read as UTF-8 when its bytes
    are valid UTF-8, as cp437 otherwise (an ASCII name reads the same either way)."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        return name.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return name


def _hf_boxes(rows) -> bool:
    """Whether metadata rows hold a detection dataset's ``objects`` (``bbox`` and ``category``, as a mapping of
    lists or a list of mappings; a CSV cell holding them as JSON)."""
    for _, row, _ in rows:
        objects = row.get("objects") if isinstance(row, dict) else None
        if isinstance(objects, str) and '"bbox"' in objects:
            return True
        if isinstance(objects, dict) and "bbox" in objects:
            return True
        if isinstance(objects, list) and any(isinstance(o, dict) and "bbox" in o for o in objects):
            return True
    return False


def _hf_metadata(metadata_files, names, read, size, boxes_refused=False):
    """The label and metadata of the files a Hugging Face ``metadata.csv`` or ``metadata.jsonl`` lists
    (imagefolder, audiofolder): ``{file: (label, metadata)}``, and entries naming the lines that cannot
    be read or name no file of the archive or folder. ``file_name`` (or the one ``*_file_name`` column) is relative
    to the metadata file's folder; ``label`` is the item's class key; every other column is metadata.
    ``names`` are the zip's or folder's files (relative paths), ``read(name)`` their bytes, ``size(name)``.
    With ``boxes_refused`` (a detection project) a file whose ``objects`` hold boxes is refused as a whole,
    saying they go in with the ``huggingface`` labels format: they are a labeler's answers, not metadata."""
    composed = {unicodedata.normalize("NFC", name): name for name in names}
    listed, errors = {}, []
    for meta in sorted(metadata_files):
        if size(meta) > settings.LABELHUB_MAX_IMPORT_BYTES:
            errors.append(ImportEntry(name=meta, error=f"{size(meta):,} bytes, over the import limit"))
            continue
        try:
            text = read(meta).decode("utf-8-sig")
        except UnicodeDecodeError:
            errors.append(ImportEntry(name=meta, error="not UTF-8 text"))
            continue
        rows = []
        if meta.endswith(".csv"):
            reader = csv.DictReader(io.StringIO(text, newline=""))
            try:
                rows = [(reader.line_num, row, "") for row in reader if any((v or "").strip() for v in row.values())]
            except csv.Error as exc:
                errors.append(ImportEntry(name=f"{meta} line {reader.reader.line_num}", error=csv_problem(exc)))
                continue
        else:
            rows = jsonl_rows(text)
        folder = posixpath.dirname(meta)
        if not any(row and any(str(k).endswith("file_name") for k in row if k is not None) for _, row, _ in rows):
            errors.append(
                ImportEntry(name=meta, error="no line names a file in 'file_name': not Hugging Face metadata")
            )
            continue
        if boxes_refused and _hf_boxes(rows):
            errors.append(
                ImportEntry(
                    name=meta,
                    error="its objects hold boxes, which are a labeler's answers, not metadata: import the zip "
                    "with format huggingface and the labeler whose boxes they are",
                )
            )
            continue
        for number, row, error in rows:
            where = f"{meta} line {number}"
            if error:
                errors.append(ImportEntry(name=where, error=error))
                continue
            row = {k: v for k, v in row.items() if k is not None}
            fields = ["file_name"] if "file_name" in row else [k for k in row if str(k).endswith("_file_name")]
            if len(fields) != 1 or not isinstance(row[fields[0]], str) or not row[fields[0]].strip():
                errors.append(ImportEntry(name=where, error="a metadata line names its file in 'file_name'"))
                continue
            path = row.pop(fields[0])
            key = "/".join(path_parts(posixpath.join(folder, path.replace("\\", "/"))))
            key = composed.get(unicodedata.normalize("NFC", key))
            if key is None:
                errors.append(ImportEntry(name=where, error=f"'{path}' is not in the archive (beside {meta})"))
                continue
            label = row.pop("label", "")
            listed[key] = ("" if label is None else str(label).strip(), row)
    return listed, errors


def jsonl_rows(text: str) -> list[tuple[int, dict | None, str]]:
    """(line number, row or None, problem or "") of each non-blank line of a metadata.jsonl file."""
    return list(jsonl_lines([text]))


def jsonl_lines(pieces):
    """``jsonl_rows`` one line at a time, of the file's text in ``pieces`` that each end at a line end (the
    file read line by line with ``newline=""``, or its whole text): lines are ``str.splitlines``' of the
    whole text, numbered alike."""
    number = 0
    for piece in pieces:
        for line in piece.splitlines():
            number += 1
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"malformed JSON: {exc.msg}"
                continue
            except RecursionError:
                yield number, None, NESTED_TOO_DEEP
                continue
            yield number, row, "" if isinstance(row, dict) else "a line must be a JSON object"


def _dataset_card(name, project, metadata_files) -> bool:
    """Whether a file of a zip or folder is a Hugging Face dataset card (``README.md``, ``dataset_infos.json``)
    or a note beside the media (``README*``, ``LICENSE*``: Roboflow's ``README.roboflow.txt`` and
    ``README.dataset.txt``), left out of the import without a word: in an image or audio project it can be
    no item (each was refused as "not an image"), and beside a metadata file a card is the dataset's card,
    not a text to label. In a text project a note is a text like any (a ``.txt`` is an item)."""
    base = posixpath.basename(name)
    if base in HF_CARD_NAMES:
        return project.modality != "text" or bool(metadata_files)
    if project.modality == "text":
        return False
    return base.lower().startswith(NOTE_PREFIXES)


def _image_stems(project, names) -> set[str]:
    """The base names without extension of the images among ``names`` (an image project's zip or folder)."""
    if project.modality != "image":
        return set()
    split = (posixpath.splitext(posixpath.basename(n).lower()) for n in names)
    return {stem for stem, extension in split if extension in IMAGE_EXTENSIONS}


def _yolo_dataset_file(name) -> bool:
    """A YOLO or Darknet dataset's own file: a class list, a YAML (``data.yaml``), a Darknet ``.data``."""
    base = posixpath.basename(name).lower()
    return base in YOLO_CLASS_LISTS or posixpath.splitext(base)[1] in (".yaml", ".yml", ".data")


def _yolo_file_reason(name, project, image_stems, yolo_dataset=False) -> str:
    """Why a file of an image project's zip or folder is no item when it is a YOLO dataset's: a ``.txt`` named
    after one of its images (``image_stems``: a label file), a ``data.yaml`` or other YAML file (Roboflow's,
    Ultralytics'), a class list (``YOLO_CLASS_LISTS``), CVAT's ``obj.data``, and where the zip or folder holds
    such a file (``yolo_dataset``) a split's image list (``YOLO_IMAGE_LISTS``). "" for any other file,
    refused or not as ever."""
    if project.modality != "image":
        return ""
    base = posixpath.basename(name).lower()
    stem, extension = posixpath.splitext(base)
    if _yolo_dataset_file(name):
        return YOLO_DATASET_REASON
    if extension == ".txt" and stem in image_stems:
        return YOLO_LABEL_REASON
    if yolo_dataset and base in YOLO_IMAGE_LISTS:
        return YOLO_LIST_REASON
    return ""


# A zip member read whole (a labels file, a manifest) that unzips to over MAX_RATIO times what the zip holds
# of it, from RATIO_CHECKED_FROM bytes on, is refused as a zip bomb: deflate stores a run of one byte about
# 1,000 times smaller, while labels and manifests (XML, JSON, CSV) shrink 5 to 30 times.
RATIO_CHECKED_FROM = 16 * 2**20
MAX_RATIO = 200


def zip_member_check(info: zipfile.ZipInfo, limit=None):
    """InputRejected when a zip member read whole, or line by line (a labels file, a manifest), is over
    ``limit`` (``LABELHUB_MAX_IMPORT_BYTES``, what it may be uploaded alone) or unzips to over ``MAX_RATIO``
    times its compressed size: gigabytes of spaces without a line end were a few megabytes compressed."""
    limit = settings.LABELHUB_MAX_IMPORT_BYTES if limit is None else limit
    if info.file_size > limit:
        raise InputRejected(f"{member_name(info)} is {info.file_size:,} bytes, over the import limit of {limit:,}")
    if info.file_size >= RATIO_CHECKED_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        raise InputRejected(
            f"{member_name(info)} unzips to {info.file_size:,} bytes, {ratio:,.0f} "
            f"times what the zip holds of it ({info.compress_size:,} bytes): refused as a zip bomb (labels files and "
            f"manifests shrink at most about {MAX_RATIO} times)"
        )


def zip_entry_hidden(name: str) -> bool:
    """A zip entry left out without a word: macOS's ``__MACOSX/`` resource forks, any dot file
    (``.DS_Store``) and what Windows Explorer leaves in a folder (``Thumbs.db``, ``desktop.ini``)."""
    base = posixpath.basename(name)
    return base.startswith(".") or name.startswith("__MACOSX/") or base.lower() in FOLDER_LITTER


def zip_entries(*, project, archive: zipfile.ZipFile, tags=(), source=None, label_from_folder=False):
    """Entries of a zip archive: its manifest (manifest.jsonl or manifest.csv at the top) if it has one,
    else every file in it, labeled by its folder when ``label_from_folder``."""
    max_bytes = settings.LABELHUB_MAX_FILE_BYTES
    members, bad = archive_members(archive)
    for info in archive.infolist():  # an unreadable manifest is the import's own problem, not one entry's
        if info.filename in MANIFEST_NAMES and (unreadable := zip_member_unreadable(info)):
            raise InputRejected(unreadable)
    yield from (ImportEntry(name=name, error=reason) for name, reason in bad)

    def opener(info):
        if info.file_size > max_bytes:
            raise InputRejected(f"{member_name(info)} is {info.file_size:,} bytes, over the limit of {max_bytes:,}")
        return zip_member_reader(archive, info)

    manifest = next((n for n in MANIFEST_NAMES if n in members), None)
    if manifest:
        zip_member_check(members[manifest])
        composed = {unicodedata.normalize("NFC", name): name for name in members}

        def open_path(path):
            try:
                key = _safe_member_name(path.lstrip("./") if path.startswith("./") else path)
            except InputRejected:
                raise InputRejected(f"path '{path}' points outside the archive") from None
            if key not in members:
                # a zip made on macOS names its files decomposed (NFD); a manifest typed elsewhere, composed
                key = composed.get(unicodedata.normalize("NFC", key), key)
            if key not in members:
                raise InputRejected(f"'{path}' is not in the archive")
            return opener(members[key])

        stream = io.TextIOWrapper(archive.open(members[manifest]), encoding="utf-8-sig", newline="")
        yield from manifest_entries(
            project=project,
            stream=stream,
            fmt=manifest_format(manifest, b""),
            open_path=open_path,
            tags=tags,
            source=source,
        )
        return
    metadata_files = [n for n in members if posixpath.basename(n) in HF_METADATA_NAMES]
    for name in list(metadata_files):
        try:
            zip_member_check(members[name])
        except InputRejected as exc:
            yield ImportEntry(name=name, error=str(exc))
            metadata_files.remove(name)
            del members[name]
    listed = {}
    if metadata_files:
        listed, errors = _hf_metadata(
            metadata_files,
            members,
            lambda n: archive.read(members[n]),
            lambda n: members[n].file_size,
            boxes_refused=project.task_type == TaskType.DETECTION,
        )
        yield from errors
    image_stems = _image_stems(project, members)
    yolo_dataset = any(map(_yolo_dataset_file, members))
    for name, info in members.items():
        if zip_entry_hidden(name) or name in metadata_files:
            continue
        if _dataset_card(name, project, metadata_files):
            continue
        entry = ImportEntry(name=name, tags=list(tags), source=source)
        entry.label, entry.metadata = listed.get(name, ("", {}))
        if label_from_folder and not entry.label:
            entry.label = posixpath.basename(posixpath.dirname(name))
            if not entry.label:
                entry.error = "label from folder: the file is not inside a folder"
        try:
            entry.load = opener(info)
        except InputRejected as exc:
            entry.error = str(exc)
        if name.lower().endswith(".zip"):
            entry.error = NESTED_ZIP_REASON
        entry.error = _yolo_file_reason(name, project, image_stems, yolo_dataset) or entry.error
        yield entry


def folder_entries(*, project, root: Path, tags=(), source=None, label_from_folder=False):
    """Entries for every file under a server folder (the import_items command); Hugging Face metadata files
    there give their files' labels and metadata, as in a zip."""
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    names = {p.relative_to(root).as_posix(): p for p in paths}
    metadata_files = [n for n in names if posixpath.basename(n) in HF_METADATA_NAMES]
    listed = {}
    if metadata_files:
        listed, errors = _hf_metadata(
            metadata_files,
            names,
            lambda n: names[n].read_bytes(),
            lambda n: names[n].stat().st_size,
            boxes_refused=project.task_type == TaskType.DETECTION,
        )
        yield from errors
    image_stems = _image_stems(project, names)
    yolo_dataset = any(map(_yolo_dataset_file, names))
    for path in paths:
        name = path.relative_to(root).as_posix()
        if name in metadata_files or _dataset_card(name, project, metadata_files):
            continue
        entry = ImportEntry(name=str(path.relative_to(root)), tags=list(tags), source=source, load=path.read_bytes)
        entry.label, entry.metadata = listed.get(name, ("", {}))
        if label_from_folder and not entry.label:
            entry.label = path.parent.name if path.parent != root else ""
            if not entry.label:
                entry.error = "label from folder: the file is not inside a folder"
        entry.error = _yolo_file_reason(name, project, image_stems, yolo_dataset) or entry.error
        yield entry
