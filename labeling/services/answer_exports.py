"""Raw answers as files: JSON Lines and Parquet, one row per current answer.

The columns (``labeling.selectors.ANSWER_EXPORT_FIELDS``): ``item`` (id), ``labeler`` (username),
``value`` (the class key or transcript; for detection and segments projects the shapes object),
``borderline``, ``borderline_with`` (the second class a borderline answer lies between, in a project of
three or more classes; ``""`` when none), ``uncertain``, ``out_of_domain``, ``comment``, ``seconds`` (null
when not timed), ``guideline`` (the version answered under, or null) and ``created`` (when the answer was
first given, UTC). The value is the answer as given: no taxonomy change or recipe mapping is applied, which is what
crowd-label learning (Dawid-Skene and its kin) and audits need beside a version's resolved labels.

Used by ``GET /api/projects/{id}/annotations/export`` (streamed) and by version builds (``answers.jsonl``
beside the manifest). Rows come in keyset batches (``labeling.selectors.answer_export_batches``), so
memory stays flat whatever the number of answers: JSON Lines is formatted batch by batch, Parquet is
written one row group per ``PARQUET_ROW_GROUP`` rows.
"""

import json
import math
import tempfile
from datetime import UTC

from labeling.choices import SHAPE_TASKS
from labeling.selectors import answer_export_batches, answer_export_line_batches, answer_export_lines, project_answers
from labeling.services.exports import FILENAMES, ArtifactFile

PARQUET_ROW_GROUP = 65_536
_json_string = json.encoder.encode_basestring  # the C encoder json.dumps(ensure_ascii=False) uses
_LINE = (
    '{"item":%d,"labeler":%s,"value":%s,"borderline":%s,"borderline_with":%s,"uncertain":%s,"out_of_domain":%s,'
    '"comment":%s,"seconds":%s,"guideline":%s,"created":"%s"}\n'
)
_BOOL = {True: "true", False: "false"}


def is_localized(project) -> bool:
    """Detection and segments answers store their shapes as JSON text; exports give them as objects."""
    return project.task_type in SHAPE_TASKS


def _shapes_json(stored):
    """A stored shapes answer as compact JSON; a value that is no JSON (written before the project's type
    was known) stays a string, as the API shows it."""
    if not stored:
        return _json_string(stored)
    try:
        return json.dumps(json.loads(stored), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return _json_string(stored)


def _created(moment) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API's serializers write date-times."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _number(value) -> str:
    return "null" if value is None or not math.isfinite(value) else repr(float(value))


def jsonl_lines(batch, *, localized) -> bytes:
    """A batch of export rows (tuples in ``ANSWER_EXPORT_FIELDS`` order) as JSON Lines, UTF-8."""
    value_json = _shapes_json if localized else _json_string
    return "".join(
        _LINE
        % (
            item,
            _json_string(labeler),
            value_json(value),
            _BOOL[borderline],
            _json_string(borderline_with),
            _BOOL[uncertain],
            _BOOL[out_of_domain],
            _json_string(comment),
            _number(seconds),
            "null" if guideline is None else str(guideline),
            _created(created),
        )
        for (
            item,
            labeler,
            value,
            borderline,
            borderline_with,
            uncertain,
            out_of_domain,
            comment,
            seconds,
            guideline,
            created,
        ) in batch
    ).encode("utf-8")


def jsonl_chunks(batches, *, localized):
    """The bytes of a JSON Lines export, one chunk per batch (a streamed response's body)."""
    for batch in batches:
        yield jsonl_lines(batch, localized=localized)


def project_jsonl_chunks(project):
    """The project's export as JSON Lines chunks: formatted by PostgreSQL where it is the database (the
    lines are the same bytes), else by ``jsonl_lines``. Shapes are stored as JSON text and re-encoded as
    objects, so detection and segments answers are always formatted here."""
    localized = is_localized(project)
    lines = None if localized else answer_export_lines(project=project)
    if lines is not None:
        return lines
    return jsonl_chunks(answer_export_batches(answers=project_answers(project=project)), localized=localized)


def parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("item", pa.int64()),
            ("labeler", pa.string()),
            ("value", pa.string()),
            ("borderline", pa.bool_()),
            ("borderline_with", pa.string()),
            ("uncertain", pa.bool_()),
            ("out_of_domain", pa.bool_()),
            ("comment", pa.string()),
            ("seconds", pa.float64()),
            ("guideline", pa.int32()),
            ("created", pa.timestamp("us", tz="UTC")),
        ]
    )


def parquet_write(batches, where, *, localized) -> int:
    """Write the rows to ``where`` (a path or a binary file object) as Parquet (zstd), one row group per
    ``PARQUET_ROW_GROUP`` rows; answer the number of rows. A localized answer's ``value`` is its shapes
    object as JSON text (a Parquet column has one type)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    writer = pq.ParquetWriter(where, schema, compression="zstd")
    pending, n_rows = [], 0

    def flush():
        columns = list(zip(*pending, strict=True))
        if localized:
            columns[2] = [_shapes_text(v) for v in columns[2]]
        columns[-1] = [c.astimezone(UTC) for c in columns[-1]]  # created
        arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        pending.clear()

    try:
        for batch in batches:
            pending.extend(batch)
            n_rows += len(batch)
            if len(pending) >= PARQUET_ROW_GROUP:
                flush()
        if pending:
            flush()
    finally:
        writer.close()
    return n_rows


def parquet_tempfile(batches, *, localized):
    """The rows as Parquet in an anonymous temporary file, rewound: the caller streams it and closes it,
    which deletes it. Parquet needs its footer before a reader can start, so it is written whole first
    (in the system's temporary folder, never in media storage)."""
    handle = tempfile.TemporaryFile(prefix="labelhub-answers-")  # noqa: SIM115 - the caller closes it
    try:
        parquet_write(batches, handle, localized=localized)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle


def _shapes_text(stored):
    """The shapes object as compact JSON text (the same text JSON Lines embeds as an object)."""
    text = _shapes_json(stored)
    return json.loads(text) if text.startswith('"') else text


def version_answers_write(*, folder, answers, items, localized):
    """A version's ``answers.jsonl`` in ``folder``: the rows of ``answers`` (the current answers under the
    recipe's answer filters) whose item is among ``items`` (the manifest's item ids), in id order, in the
    export's JSON Lines form. Answers an ``exports.ArtifactFile`` (format ``answers``)."""
    import hashlib
    import os

    import numpy as np

    wanted = np.unique(np.asarray(items, dtype=np.int64))
    path = os.path.join(folder, FILENAMES["answers"])
    digest, n_rows = hashlib.sha256(), 0
    # On PostgreSQL the database formats the lines (as for the export), else this process: formatting
    # 3,000,000 answers here took a 1M-item build's worker from 15 to 35 s of CPU (benchmarks/export_bench.py),
    # most of it in reading the rows' columns; PostgreSQL spends about 1 s more.
    lines = None if localized else answer_export_line_batches(answers=answers, items=True)
    item = 0 if lines is None else 1  # the item id's place in a row
    with open(path, "wb") as handle:
        for batch in lines if lines is not None else answer_export_batches(answers=answers):
            item_ids = np.fromiter((row[item] for row in batch), dtype=np.int64, count=len(batch))
            keep = np.isin(item_ids, wanted, assume_unique=False)
            rows = [row for row, kept in zip(batch, keep.tolist(), strict=True) if kept]
            if lines is not None:
                data = "".join([row[2] for row in rows]).encode("utf-8")
            else:
                data = jsonl_lines(rows, localized=localized)
            digest.update(data)
            handle.write(data)
            n_rows += len(rows)
    return ArtifactFile("answers", path, FILENAMES["answers"], os.path.getsize(path), digest.hexdigest(), n_rows)
