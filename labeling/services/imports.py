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
import hashlib
import io
import json
import logging
import posixpath
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labeling import inputs
from labeling.inputs import InputRejected
from labeling.models import DataSource, Item, Tag

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
TEXT_CHUNK_SIZE = 10000
MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")


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


def _split_tags(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple):
        if all(type(p) is str and p and p == p.strip() and len(p) <= 100 for p in value):
            return list(value)  # the common case, already clean
        parts = value
    else:
        raise InputRejected(f"tags must be a list or a comma-separated string, not {type(value).__name__}")
    tags = [str(p).strip() for p in parts if str(p).strip()]
    for tag in tags:
        if len(tag) > 100:
            raise InputRejected(f"tag '{tag[:20]}...' is longer than 100 characters")
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
    names = set(names)
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


def _import_chunk(*, project, entries, job=None, run=None) -> ImportReport:
    report = ImportReport()
    run = run or _Run(job_id=job.pk if job else None)
    class_keys = set(project.classes.values_list("key", flat=True))
    prepared = []  # (entry, sha, stats, text, extension, data)
    copies = []  # (entry, sha) of second copies within the chunk, told their item at the end
    seen = {}
    # A text entry that passes every check of _prepare is measured right here: the call, the settings
    # lookup and the Inspected it answers cost more than the checks themselves on 100,000 rows. Any
    # entry with something to report goes through _prepare, which names the problem.
    text_limit = settings.LABELHUB_MAX_TEXT_CHARS if project.modality == "text" else -1
    sha256 = hashlib.sha256
    for entry in entries:
        text = entry.text
        if (
            text is not None
            and 0 < len(text) <= text_limit
            and not entry.error
            and (not entry.label or entry.label in class_keys)
            and not text.isspace()
        ):
            sha, data, extension = sha256(text.encode("utf-8")).hexdigest(), None, ""
            stats = {"length": len(text), "words": len(text.split()), "lines": text.count("\n") + 1}
        else:
            try:
                sha, inspected, data = _prepare(project, entry, class_keys)
            except InputRejected as exc:
                report.rejected.append({"name": entry.name, "reason": str(exc)})
                continue
            except MemoryError:
                report.rejected.append({"name": entry.name, "reason": "file too large to decode"})
                continue
            stats, text, extension = inspected.stats, inspected.text, inspected.extension
        if sha in seen:
            copies.append((entry, sha))
            report.duplicates.append({"name": entry.name, "item": None, "_sha": sha})
            continue
        seen[sha] = entry.name
        prepared.append((entry, sha, stats, text, extension, data))

    # Files are checked against the project before they are written; rows without a file (text) skip the
    # query on PostgreSQL, where the insert itself reports duplicates (ON CONFLICT DO NOTHING).
    if connection.vendor == "postgresql" and all(p[5] is None for p in prepared):
        existing = {}
    else:
        existing = {
            sha: (pk, job_id)
            for sha, pk, job_id in Item.objects.filter(
                project=project, sha256__in=[p[1] for p in prepared]
            ).values_list("sha256", "id", "import_job_id")
        }
    if existing:
        fresh = []
        for p in prepared:
            if p[1] in existing:
                _report_existing(report, run, p[0], *existing[p[1]])
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
    rows = []  # (entry, column values by attname)
    now = timezone.now()
    try:
        project_id, job_id = project.pk, job.pk if job else None
        for entry, sha, stats, text, extension, data in fresh:
            source = entry.source
            row = {
                "project_id": project_id,
                "source_id": source.pk if source else None,
                "sha256": sha,
                "original_name": entry.name[:300],
                "label": entry.label,
                "metadata": entry.metadata,
                "stats": stats,
                "text": text,
                "import_job_id": job_id,
                "file": "",
                "created": now,
            }
            if data is not None:
                name = _media_name(project.pk, sha, extension)
                # Content-addressed: a file already there under this name has these very bytes
                # (left by an import that died before its rows), so it is reused, not rewritten.
                if not default_storage.exists(name):
                    name = default_storage.save(name, ContentFile(data))
                    written.append(name)
                row["file"] = name
            rows.append((entry, row))
        created, ids = _insert(project=project, rows=rows, report=report, run=run)
    except Exception:
        for name in written:
            default_storage.delete(name)
        raise
    if written:
        # Rows that lost a race to a concurrent import of the same content leave their files behind.
        used = {file for _, file in created.values()}
        for name in written:
            if name not in used:
                default_storage.delete(name)
    run.counted.update(report.imported if len(created) == len(rows) else [pk for pk, _ in created.values()])
    for (entry, _), pk in zip(rows, ids, strict=True):
        if pk is not None:
            entry.item = pk
    if copies:
        ids_by_sha = {**existing, **{sha: pk for sha, (pk, _) in created.items()}}
        _resolve_in_chunk_duplicates(report, ids_by_sha)
        _stamp(copies, ids_by_sha)
    return report


def _stamp(copies, ids_by_sha):
    """Tell each second copy within a chunk the item its first copy became."""
    for entry, sha in copies:
        if entry.item is None:
            entry.item = ids_by_sha.get(sha)


def _report_existing(report, run, entry, item_id, job_id):
    """An entry whose content the project holds already: this job's own item from an earlier attempt
    (imported), or a duplicate."""
    entry.item = item_id
    if run.claims(item_id, job_id):
        report.imported.append(item_id)
        report.resumed += 1
    else:
        report.duplicates.append({"name": entry.name, "item": item_id})


def _resolve_in_chunk_duplicates(report, ids_by_sha):
    """Point duplicates found inside one chunk at the item their first copy became."""
    for dup in report.duplicates:
        sha = dup.pop("_sha", None)
        if sha is not None:
            dup["item"] = ids_by_sha.get(sha)


def _insert(*, project, rows, report, run) -> tuple[dict[str, tuple[int, str]], list[int | None]]:
    """Insert item rows and their tag links; answer {sha256: (item id, file name)} of the rows stored, and
    each row's item id (None for a row not stored).

    Rows whose content another import stored meanwhile are reported as duplicates, not errors (or as
    imported, when an earlier attempt of the same job stored them).
    """
    # One transaction for tags, rows and links: an item never exists without the tags it was imported
    # with, and a chunk whose connection dies leaves nothing of itself behind.
    with transaction.atomic():
        tag_ids = _tag_ids(project=project, names={t for entry, _ in rows for t in entry.tags})
        created = _insert_copy(rows=rows) if connection.vendor == "postgresql" else _insert_orm(rows=rows)
        everything = len(created) == len(rows)
        if everything:
            ids = [created[row["sha256"]][0] for _, row in rows]
        else:
            ids = [created[row["sha256"]][0] if row["sha256"] in created else None for _, row in rows]
        _add_tag_links(_links(rows, ids, tag_ids))
    report.imported.extend(ids if everything else [pk for pk in ids if pk is not None])
    lost = [] if everything else [(entry, row) for (entry, row), pk in zip(rows, ids, strict=True) if pk is None]
    if lost:
        existing = {
            sha: (pk, job_id)
            for sha, pk, job_id in Item.objects.filter(
                project=project, sha256__in=[r["sha256"] for _, r in lost]
            ).values_list("sha256", "id", "import_job_id")
        }
        for entry, row in lost:
            item_id, job_id = existing.get(row["sha256"], (None, None))
            _report_existing(report, run, entry, item_id, job_id)
    return created, ids


def _links(rows, ids, tag_ids):
    """(item id, tag id) of each stored row's tags; the rows of a manifest share a few tag sets, each
    resolved once."""
    links = []
    resolved = {}
    for (entry, _), pk in zip(rows, ids, strict=True):
        if pk is None or not entry.tags:
            continue
        key = tuple(entry.tags)
        tags = resolved.get(key)
        if tags is None:
            tags = resolved[key] = [tag_ids[t] for t in set(key)]
        for tag in tags:
            links.append((pk, tag))
    return links


def _insert_orm(*, rows):
    items = [Item(**row) for _, row in rows]
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
    """JSON text of a column value; a text item's statistics are formatted directly (json.dumps costs
    several times more on 100,000 small dicts) and come out the same."""
    if type(value) is dict:
        if not value:
            return "{}"
        if len(value) == 3 and tuple(value) == _TEXT_STATS:
            length, words, lines = value.values()
            if type(length) is int and type(words) is int and type(lines) is int:
                return f'{{"length": {length}, "words": {words}, "lines": {lines}}}'
    return json.dumps(value)


def _copy_payload(fields, rows, ids):
    """The chunk's COPY text, built column by column and joined once (a write per row costs more than
    everything else the COPY does in Python). Columns this module does not set get their model default."""
    columns = [list(map(str, ids))]
    n = len(rows)
    given = [f.attname for f in fields if f.attname in rows[0][1]]
    # The rows' own values transposed into columns in one pass of C calls.
    values_of = dict(zip(given, zip(*map(itemgetter(*given), map(itemgetter(1), rows)), strict=True), strict=True))
    for f in fields:
        kind = f.get_internal_type()
        if f.attname in values_of:
            values = values_of[f.attname]
            if kind == "JSONField":
                columns.append(_copy_strings([_json_text(v) for v in values]))
            elif kind == "DateTimeField":
                texts = {}
                columns.append(
                    [_NULL if v is None else texts.get(v) or texts.setdefault(v, v.isoformat()) for v in values]
                )
            elif kind in ("CharField", "TextField", "FileField"):
                columns.append(_copy_strings([str(v) for v in values]))
            else:
                columns.append(_copy_numbers(values))
        elif f.has_default() and callable(f.default):
            columns.append(_copy_numbers([f.default() for _ in range(n)]))
        else:
            value = f.get_db_prep_save(f.get_default(), connection=connection)
            columns.append([_NULL if value is None else str(value)] * n)
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


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


def _insert_copy(*, rows):
    """PostgreSQL: COPY the rows, with ids reserved from the sequence, straight into the table; if some
    content is already there (a concurrent import of the same files), COPY them into a staging table
    instead and move them with one INSERT ... ON CONFLICT DO NOTHING, so the rows that lost the race are
    simply not stored.

    Several times faster than bulk_create's multi-row INSERTs on 100,000 rows.
    """
    from psycopg.errors import UniqueViolation  # PostgreSQL only

    fields = [f for f in Item._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(Item._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [Item._meta.pk, *fields])
    with connection.cursor() as cursor:
        ids = _reserve_ids(cursor, Item._meta.db_table, len(rows))
    payload = _copy_payload(fields, rows, ids)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(payload)
            files = [row["file"] for _, row in rows]
            return dict(zip([row["sha256"] for _, row in rows], zip(ids, files, strict=True), strict=True))
    except (IntegrityError, UniqueViolation):
        pass  # some content is already stored: take the slower path that skips it
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped at the end of this block, not on commit: several imports may share one transaction.
        cursor.execute("DROP TABLE IF EXISTS import_stage")
        cursor.execute(f"CREATE TEMP TABLE import_stage (LIKE {table} INCLUDING DEFAULTS)")
        with cursor.connection.cursor().copy(f"COPY import_stage ({columns}) FROM STDIN") as copy:
            copy.write(payload)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM import_stage "
            "ON CONFLICT (project_id, sha256) DO NOTHING RETURNING id, sha256, file"
        )
        created = {sha: (pk, file) for pk, sha, file in cursor.fetchall()}
        cursor.execute("DROP TABLE import_stage")
        return created


def _add_tag_links(links):
    if not links:
        return
    through = Item.tags.through
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(through._meta.db_table)
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor().copy(f"COPY {table} (item_id, tag_id) FROM STDIN") as copy,
        ):
            for link in links:
                copy.write_row(link)
        return
    through.objects.bulk_create([through(item_id=i, tag_id=t) for i, t in links], batch_size=5000)


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
    for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            report.extend(_import_chunk(project=project, entries=chunk, job=job, run=run))
            done += len(chunk)
            chunk = []
            if on_progress:
                on_progress(done)
    if chunk:
        report.extend(_import_chunk(project=project, entries=chunk, job=job, run=run))
        done += len(chunk)
        if on_progress:
            on_progress(done)
    return report


def uploaded_entries(*, files, tags=(), source=None) -> list[ImportEntry]:
    """Entries for files of a multipart upload (Django UploadedFile objects)."""
    limit = settings.LABELHUB_MAX_FILE_BYTES
    entries = []
    for upload in files:
        entry = ImportEntry(name=upload.name, tags=list(tags), source=source)
        if upload.size > limit:
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


def _resolve_source(project, value, sources_cache):
    if value in (None, ""):
        return None
    key = str(value)
    if key not in sources_cache:
        query = DataSource.objects.filter(project=project)
        source = query.filter(pk=int(key)).first() if key.isdigit() else None
        sources_cache[key] = source or query.filter(name=key).first()
    if sources_cache[key] is None:
        raise InputRejected(f"unknown source '{value}' (not a source of this project)")
    return sources_cache[key]


def _manifest_records(stream: io.TextIOBase, fmt: str) -> Iterator[tuple[int, dict | None, str]]:
    """Yield (line number, record or None, error) for each non-empty manifest line."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            record = {k.strip(): v for k, v in row.items() if k}
            if record.get("metadata"):
                try:
                    record["metadata"] = json.loads(record["metadata"])
                except json.JSONDecodeError as exc:
                    yield reader.line_num, None, f"metadata is not valid JSON: {exc.msg} (column {exc.colno})"
                    continue
            yield reader.line_num, record, ""
        return
    start = 1  # the number of the batch's first line
    while lines := stream.readlines(_JSON_BATCH_BYTES):
        # A batch without blank lines, each line one JSON object, parses as one array of as many objects
        # as lines; anything else (a blank line makes an empty array element) is read line by line.
        try:
            records = json.loads("[" + ",".join(lines) + "]")
        except json.JSONDecodeError:
            records = None
        if records is not None and len(records) == len(lines) and set(map(type, records)) == {dict}:
            yield from zip(range(start, start + len(lines)), records, repeat(""))
        else:
            block = [(number, line) for number, line in enumerate(lines, start=start) if line.strip()]
            for i in range(0, len(block), _JSON_BLOCK):
                yield from _jsonl_block(block[i : i + _JSON_BLOCK])
        start += len(lines)


# Lines of a JSONL manifest parsed with one json.loads: one C call for a thousand records instead of a
# thousand calls (a third of the parse's CPU on a 100,000-line manifest).
_JSON_BLOCK = 1000
_JSON_BATCH_BYTES = 1 << 20  # lines read at once from a JSONL manifest, about


def _jsonl_block(block):
    """Yield (line number, record or None, error) for numbered lines: parsed together as one JSON array
    when every line is one JSON object, else line by line, which names each bad line."""
    if not block:
        return
    try:
        records = json.loads("[" + ",".join(line for _, line in block) + "]")
    except json.JSONDecodeError:
        records = None
    if records is not None and len(records) == len(block) and set(map(type, records)) == {dict}:
        yield from zip([number for number, _ in block], records, repeat(""))
        return
    for number, line in block:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"malformed JSON: {exc.msg} (column {exc.colno})"
            continue
        if not isinstance(record, dict):
            yield number, None, f"a manifest line must be a JSON object, not {type(record).__name__}"
            continue
        yield number, record, ""


def manifest_entries(
    *, project, stream, fmt, open_path: Callable[[str], Callable[[], bytes]], tags=(), source=None
) -> Iterator[ImportEntry]:
    """Entries for a manifest: each record has ``path`` or ``text``, and optional ``tags``, ``source``,
    ``metadata`` and ``label``. ``open_path(path)`` answers a loader for a path or raises InputRejected."""
    sources_cache = {}
    tags_cache = {}  # a record's tags value -> its tags: most lines of a manifest repeat a few tag sets
    tags = list(tags)
    for number, record, error in _manifest_records(stream, fmt):
        entry = ImportEntry(name=f"line {number}", tags=tags.copy(), source=source)
        if error:
            entry.error = error
            yield entry
            continue
        try:
            value = record.get("tags")
            if value is not None:
                entry.tags += _cached_tags(value, tags_cache)
            value = record.get("source")
            if value is not None and value != "":
                entry.source = _resolve_source(project, value, sources_cache) or source
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
                entry.load = open_path(str(path))
            else:
                raise InputRejected("a manifest line needs 'path' or 'text'")
        except InputRejected as exc:
            entry.error = str(exc)
        yield entry


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
        return target.read_bytes

    return open_path


def zip_entries(*, project, archive: zipfile.ZipFile, tags=(), source=None, label_from_folder=False):
    """Entries of a zip archive: its manifest (manifest.jsonl or manifest.csv at the top) if it has one,
    else every file in it, labeled by its folder when ``label_from_folder``."""
    max_bytes = settings.LABELHUB_MAX_FILE_BYTES
    members = {}
    bad = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        try:
            name = _safe_member_name(info.filename)
        except InputRejected as exc:
            bad.append(ImportEntry(name=info.filename, error=str(exc)))
            continue
        members[name] = info
    yield from bad

    def opener(info):
        if info.file_size > max_bytes:
            raise InputRejected(f"{info.filename} is {info.file_size:,} bytes, over the limit of {max_bytes:,}")
        return lambda: archive.read(info)

    manifest = next((n for n in MANIFEST_NAMES if n in members), None)
    if manifest:

        def open_path(path):
            try:
                key = _safe_member_name(path.lstrip("./") if path.startswith("./") else path)
            except InputRejected:
                raise InputRejected(f"path '{path}' points outside the archive") from None
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
    for name, info in members.items():
        base = posixpath.basename(name)
        if base.startswith(".") or name.startswith("__MACOSX/"):
            continue
        entry = ImportEntry(name=name, tags=list(tags), source=source)
        if label_from_folder:
            entry.label = posixpath.basename(posixpath.dirname(name))
            if not entry.label:
                entry.error = "label from folder: the file is not inside a folder"
        try:
            entry.load = opener(info)
        except InputRejected as exc:
            entry.error = str(exc)
        yield entry


def folder_entries(*, project, root: Path, tags=(), source=None, label_from_folder=False):
    """Entries for every file under a server folder (the import_items command)."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        entry = ImportEntry(name=str(path.relative_to(root)), tags=list(tags), source=source, load=path.read_bytes)
        if label_from_folder:
            entry.label = path.parent.name if path.parent != root else ""
            if not entry.label:
                entry.error = "label from folder: the file is not inside a folder"
        yield entry
