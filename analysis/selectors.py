"""Reads for the measuring domain: answers as a units × labelers matrix, ready for analysis.metrics."""

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Max, Prefetch, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import Http404

from analysis import metrics
from analysis.metrics import normalize_transcript
from analysis.metrics.consistency import answer_entropy
from analysis.metrics.shapes import BOXES, item_f1, shape_table_from_arrays, split_merge
from analysis.models import EmbeddingMap, LabelCluster, MapPoint, ModelRun
from labelhub.snapshots import read_snapshot
from labeling.choices import SHAPE_TASKS, DecisionAction, TaskType
from labeling.models import Annotation, ArchivedAnnotation, Decision, Guideline, Item, TaxonomyChange, TrainingJob
from labeling.selectors import (
    answers_by_item,
    archived_as_they_stood,
    archived_still_counting,
    class_mapping,
    class_names,
    decided_at,
    decided_labels,
    transcript_conventions,
)
from labeling.services.recipes import recipe_parse
from labeling.services.resolution import AnswerArrays, labeler_priors
from labeling.services.review import decision_summary

# What a flagged answer becomes under the "category" policy.
BORDERLINE = "borderline"
UNCERTAIN = "uncertain"
OUT_OF_DOMAIN = "out_of_domain"
FLAG_POLICIES = ("category", "exclude", "midpoint")

FLAG_BORDERLINE, FLAG_UNCERTAIN, FLAG_OOD = 1, 2, 4


@dataclass
class AnswerFilters:
    """Which answers a report covers: a slice (tag), some labelers, a date, a guideline version."""

    tag: str | None = None
    labelers: list[int] | None = None
    since: datetime | None = None
    guideline: int | None = None  # a version number

    def as_dict(self):
        return {
            "tag": self.tag,
            "labelers": self.labelers,
            "since": self.since.isoformat() if self.since else None,
            "guideline": self.guideline,
        }


@dataclass
class AnswerTable:
    """The answers of a project in long form (one entry per answer) plus the categories they use.

    ``code`` indexes ``categories`` (-1 for an answer that carries no category under the policy);
    ``flags`` is a bitmask of FLAG_BORDERLINE, FLAG_UNCERTAIN, FLAG_OOD; ``day`` counts days since
    1970-01-01 (UTC) of the answer's last change.
    """

    categories: list[str]
    category_names: list[str]
    item: np.ndarray
    labeler: np.ndarray
    code: np.ndarray
    flags: np.ndarray
    seconds: np.ndarray
    guideline: np.ndarray
    day: np.ndarray
    values: list[str] | None = None  # raw values (transcription projects)
    conventions: object = None
    labeler_names: dict[int, str] = field(default_factory=dict)
    guideline_versions: dict[int, int] = field(default_factory=dict)

    def __len__(self):
        return len(self.item)

    def subset(self, mask):
        picked = {
            name: getattr(self, name)[mask]
            for name in ("item", "labeler", "code", "flags", "seconds", "guideline", "day")
        }
        values = [v for v, keep in zip(self.values, mask, strict=True) if keep] if self.values is not None else None
        return AnswerTable(
            categories=self.categories,
            category_names=self.category_names,
            values=values,
            labeler_names=self.labeler_names,
            guideline_versions=self.guideline_versions,
            conventions=self.conventions,
            **picked,
        )

    def matrix(self):
        """(codes, item ids, labeler ids): a units × labelers int matrix with -1 where no answer."""
        items, unit = np.unique(self.item, return_inverse=True)
        labelers, rater = np.unique(self.labeler, return_inverse=True)
        codes = np.full((len(items), len(labelers)), -1, dtype=np.int64)
        codes[unit, rater] = self.code
        return codes, items, labelers


def _day_expression():
    if connection.vendor == "postgresql":
        # The UTC date's day number: what FLOOR(EXTRACT(EPOCH ...) / 86400) gives, without numeric maths.
        return "(({col} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    return "CAST(julianday({col}) - 2440587.5 AS INTEGER)"


def _empty_columns(columns):
    return {
        c: np.zeros(0, dtype=np.float64 if c == "seconds" else object if c == "value" else np.int64) for c in columns
    }


# How each integer column of an answer read travels packed (PostgreSQL's send function, its size and
# numpy's big-endian dtype); ``seconds`` travels as float8 with NaN for NULL.
_PACKED = {
    "item_id": ("int8send({col}::int8)", ">i8"),
    "labeler_id": ("int8send({col}::int8)", ">i8"),
    "code": ("int4send({col}::int4)", ">i4"),
    "flags": ("int4send({col}::int4)", ">i4"),
    "seconds": ("float8send(COALESCE({col}, 'NaN')::float8)", ">f8"),
    "guideline_or_0": ("int8send({col}::int8)", ">i8"),
    "day": ("int4send({col}::int4)", ">i4"),
}
# Pairs of small integer columns read together travel as one value: one send call and one aggregate
# step per answer instead of two (each was ~0.05 s of database CPU per million answers). The labeler
# (an int4 id) in the high half of an int8 and the day (int4, negative before 1970) in the low half;
# the code (-1 or a class index) times 8 plus the flags (three bits).
_PAIRED = {
    ("labeler_id", "day"): (
        "int8send(({hi})::int8 << 32 | (({lo})::int8 & 4294967295))",
        ">i8",
        lambda v: (v >> 32, (v << 32) >> 32),
    ),
    ("code", "flags"): ("int4send(({hi})::int4 * 8 + ({lo})::int4)", ">i4", lambda v: (v >> 3, v & 7)),
}


def _slots(columns):
    """How ``columns`` travel: [(packed SQL value, big-endian dtype, the columns it carries, how to
    split it or None)]."""
    left, slots = list(columns), []
    for (hi, lo), (expression, dtype, split) in _PAIRED.items():
        if hi in left and lo in left:
            slots.append((expression.format(hi=f"q.{hi}", lo=f"q.{lo}"), dtype, (hi, lo), split))
            left.remove(hi)
            left.remove(lo)
    slots += [(_PACKED[c][0].format(col=f"q.{c}"), _PACKED[c][1], (c,), None) for c in left]
    return slots


def _read_columns_packed(sql, params, columns) -> dict[str, np.ndarray]:
    """PostgreSQL: the query's integer columns (and ``seconds``) as arrays, each column packed by the
    server into one bytea (``string_agg`` of each value's binary form) and read in binary.

    A million answers then arrive as a handful of buffers that numpy reads as they are, instead of a
    million rows (a COPY hands its client one message per row, and psycopg's pure-Python loop spent
    about a microsecond per row on them, a second per million) or a million Python tuples. All the
    aggregates of one statement see the rows in the same order, so the columns stay aligned. Memory:
    the buffers plus the arrays (tens of MB per million answers); the server builds each buffer
    (under 1 GB: 100 million answers) in its own memory.

    A large read (``_split_read``) is shared out by item between this connection and others that see
    the same snapshot, each packing its part at the same time.
    """
    from psycopg import ClientCursor

    connection.ensure_connection()
    raw = connection.connection
    query = ClientCursor(raw).mogrify(sql, params)
    parts = _split_read(raw, query, columns)
    if parts is not None:
        return _unpack(parts, columns)
    with transaction.atomic():
        return _unpack([_packed_part(raw, query, columns)], columns)


def _packed_part(raw, query, columns, where=""):
    """One packed read on ``raw`` (in its transaction): (answers, [one bytea per column])."""
    from psycopg import Cursor

    packed = ", ".join(f"string_agg({value}, ''::bytea)" for value, *_ in _slots(columns))
    # A server-side-binding cursor (Django's are client-side ones), which can ask for binary results;
    # memory enough for the join's hash of the project's items to stay in one batch (SET LOCAL: for
    # this transaction only, which suits a pooler in transaction mode too).
    with Cursor(raw) as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(f"SELECT count(*), {packed} FROM ({query}) q {where}", binary=True)
        count, *buffers = cursor.fetchone()
    return count, buffers


def _unpack(parts, columns) -> dict[str, np.ndarray]:
    """The columns of the packed parts, part after part, as native arrays (each buffer let go once
    copied out)."""
    total = sum(count for count, _ in parts)
    out = {}
    for i, (_, dtype, names, split) in enumerate(_slots(columns)):
        kept = np.float64 if names == ("seconds",) else np.int64
        values = np.empty(total, dtype=kept)
        start = 0
        for count, buffers in parts:
            part = np.frombuffer(buffers[i], dtype=dtype) if count else np.zeros(0, dtype=kept)
            buffers[i] = None
            if len(part) != count:
                raise ValueError(f"the database packed {len(part)} values of {', '.join(names)} for {count} answers")
            values[start : start + count] = part
            start += count
        out.update(zip(names, split(values) if split else (values,), strict=True))
    return {c: out[c] for c in columns}


def _split_read(raw, query, columns):
    """A large packed read shared out between ``LABELHUB_ANSWER_READ_CONNECTIONS`` connections (n), the k-th
    packing the answers whose item id is k modulo n: the database's part of the read (most of it) on as
    many cores. Each scans the whole table (a cheap part: ~0.1 s of 0.8 per million answers) but probes
    and packs only its own answers, in equal shares however the answers lie in the table (a split by
    page ranges left one connection all the answers of a project written after others'). None when the
    read is not worth it or cannot be split: then one connection reads it all, as before.

    Every part must see the same answers, so this connection starts a REPEATABLE READ transaction and
    exports its snapshot (``pg_export_snapshot``); each other connection imports it (``SET TRANSACTION
    SNAPSHOT``) before reading. One snapshot holds one version of each answer, so the parts hold each
    answer once. Through PgBouncer in transaction mode this works too: each connection holds a server
    connection for its transaction, and the exported snapshot stays importable by any session of the
    database while this transaction lasts. Where a helper cannot import it (a pooler that spreads
    sessions over several servers, statement mode, a connection refused), this connection reads that
    part itself under the same snapshot: the answers are still one consistent state; where no snapshot
    can be exported, it reads them all. Not split: inside a transaction (another connection would not
    see what it wrote), or when the planner expects fewer than ``LABELHUB_ANSWER_READ_SPLIT_MIN``
    answers (a second connection costs ~10 ms).
    """
    from psycopg import Cursor

    n_parts = settings.LABELHUB_ANSWER_READ_CONNECTIONS
    if n_parts < 2 or "item_id" not in columns or connection.in_atomic_block or not connection.get_autocommit():
        return None
    with Cursor(raw) as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query}")
        expected = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    if expected < settings.LABELHUB_ANSWER_READ_SPLIT_MIN:
        return None
    params = connection.get_connection_params()
    try:
        return _split_parts(raw, query, columns, n_parts, params)
    except _NoSnapshot:  # a server that cannot export one: one connection reads it all
        return None


class _NoSnapshot(Exception):
    """The server cannot export a snapshot (``pg_export_snapshot``): the read stays on one connection."""


# The snapshot a split read shares.
_EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"


def _split_parts(raw, query, columns, n_parts, params):
    import psycopg
    from psycopg import Cursor, sql

    with transaction.atomic(), Cursor(raw) as cursor:
        try:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(_EXPORT_SNAPSHOT)
        except psycopg.Error as exc:
            raise _NoSnapshot from exc
        snapshot = cursor.fetchone()[0]
        # COALESCE (a no-op: item_id is never NULL) makes the planner estimate a part at half the answers
        # instead of its 0.5 % default for "expression = constant": with that default it hashed the
        # part's answers (all their columns) instead of the project's item ids and, taking the part for
        # small, gave it parallel workers: 2.1 s of database CPU instead of 1.4 s on a million answers.
        wheres = [f"WHERE COALESCE(q.item_id % {n_parts} = {k}, false)" for k in range(n_parts)]

        def helper(where):
            with psycopg.connect(**params, autocommit=True) as other:
                other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                other.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
                part = _packed_part(other, query, columns, where)
                other.execute("COMMIT")
                return part

        with ThreadPoolExecutor(max_workers=n_parts - 1, thread_name_prefix="answers-read") as pool:
            helpers = [pool.submit(helper, where) for where in wheres[1:]]
            parts = [_packed_part(raw, query, columns, wheres[0])]
            for where, job in zip(wheres[1:], helpers, strict=True):
                try:
                    parts.append(job.result())
                except psycopg.Error:  # this connection reads the part, under the same snapshot
                    parts.append(_packed_part(raw, query, columns, where))
        return parts


def _read_columns(sql, params, columns) -> dict[str, np.ndarray]:
    """Run a query and answer its columns as arrays (seconds as float with NaN for NULL).

    On PostgreSQL integer-only reads (every project but transcription) come packed
    (``_read_columns_packed``); transcripts (text) through ``COPY ... TO STDOUT`` as CSV parsed by
    pyarrow: a million answers in a fraction of the time that building a million Python tuples takes.
    Elsewhere (SQLite) a plain cursor.
    """
    if connection.vendor == "postgresql" and all(c in _PACKED for c in columns):
        return _read_columns_packed(sql, params, columns)
    if connection.vendor == "postgresql":
        import pyarrow as pa
        from psycopg import ClientCursor
        from pyarrow import csv as pa_csv

        connection.ensure_connection()
        raw = connection.connection
        query = ClientCursor(raw).mogrify(sql, params)
        with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            payload = b"".join(bytes(chunk) for chunk in copy)
        if not payload:
            return _empty_columns(columns)
        types = {c: pa.int64() for c in columns if c not in ("seconds", "value")}
        types["seconds"] = pa.float64()
        if "value" in columns:
            types["value"] = pa.string()
        parsed = pa_csv.read_csv(
            pa.py_buffer(payload),
            read_options=pa_csv.ReadOptions(column_names=columns),
            convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
        out = {}
        for c in columns:
            column = parsed.column(c)
            if c == "value":
                out[c] = np.array(column.to_pylist(), dtype=object)
            elif c == "seconds":
                out[c] = column.to_numpy(zero_copy_only=False).astype(np.float64)
            else:
                out[c] = column.to_numpy(zero_copy_only=False)
        return out
    return _read_columns_plain(sql, params, columns)


def _read_columns_plain(sql, params, columns) -> dict[str, np.ndarray]:
    """The query's columns through an ordinary cursor (SQLite; and the reference the others match)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    out = {}
    for name, values in zip(columns, cols, strict=True):
        if name == "seconds":
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif name == "value":
            out[name] = np.array(values, dtype=object)
        else:
            out[name] = np.fromiter(values, dtype=np.int64, count=len(values))
    return out


def _filtered_answers(*, project, filters: AnswerFilters):
    """The project's current answers under ``filters`` (slice, labelers, since, guideline version)."""
    answers = Annotation.objects.filter(item__project=project)
    if filters.tag:
        answers = answers.filter(item__tags__project=project, item__tags__name=filters.tag)
    if filters.labelers:
        answers = answers.filter(labeler_id__in=filters.labelers)
    if filters.since:
        answers = answers.filter(updated__gte=filters.since)
    if filters.guideline is not None:
        answers = answers.filter(guideline__project=project, guideline__version=filters.guideline)
    return answers


ARCHIVED_READ = ("value", "borderline", "uncertain", "out_of_domain", "seconds", "guideline_id", "answered")


def _archived_standing(*, project, filters: AnswerFilters):
    """The answers relabel campaigns archived that still count for agreement (``archived_still_counting``:
    per item and labeler the current answer, else the archived one as it stood), under ``filters`` (on
    the archived answer: its item's tags, its labeler, ``since`` on when it was answered, its guideline):
    ``[(item, labeler, value, borderline, uncertain, out_of_domain, seconds, guideline id, answered)]``
    in (item, labeler) order."""
    standing = archived_still_counting(ArchivedAnnotation.objects.filter(campaign__project=project), ARCHIVED_READ)
    if not standing:
        return []
    tagged = None
    if filters.tag:
        links = Item.tags.through.objects.filter(tag__project=project, tag__name=filters.tag)
        tagged = set(links.filter(item_id__in={item for item, _ in standing}).values_list("item_id", flat=True))
    versions = dict(Guideline.objects.filter(project=project).values_list("pk", "version"))
    labelers = set(filters.labelers) if filters.labelers else None
    rows = []
    for (item, labeler), (_, *values) in sorted(standing.items()):
        guideline, answered = values[-2], values[-1]
        if (
            (tagged is not None and item not in tagged)
            or (labelers is not None and labeler not in labelers)
            or (filters.since and answered < filters.since)
            or (filters.guideline is not None and versions.get(guideline) != filters.guideline)
        ):
            continue
        rows.append((item, labeler, *values))
    return rows


def _archived_columns(*, project, filters: AnswerFilters, keys, class_map, transcription):
    """:func:`_archived_standing` as :func:`answer_table` reads columns; None when there are none."""
    index = {key: i for i, key in enumerate(keys)}
    rows = []
    for item, labeler, value, borderline, uncertain, ood, seconds, guideline, answered in _archived_standing(
        project=project, filters=filters
    ):
        code = index.get(value, index.get(class_map.get(value), -1))
        flags = FLAG_BORDERLINE * borderline + FLAG_UNCERTAIN * uncertain + FLAG_OOD * ood
        day = (answered.astimezone(UTC).date() - date(1970, 1, 1)).days
        rows.append((item, labeler, code, flags, np.nan if seconds is None else seconds, guideline or 0, day, value))
    if not rows:
        return None
    columns = list(zip(*rows, strict=True))
    out = {
        name: np.array(columns[i], dtype=np.float64 if name == "seconds" else np.int64)
        for i, name in enumerate(("item_id", "labeler_id", "code", "flags", "seconds", "guideline_or_0", "day"))
    }
    if transcription:
        out["value"] = np.array(columns[7], dtype=object)
    return out


def answer_table(
    *, project, filters=None, policy="category", class_map=None, conventions=None, archived=False
) -> AnswerTable:
    """The project's current answers under ``filters``, coded for the agreement metrics.

    ``archived``: add the answers relabel campaigns archived that still count for agreement — per item
    and labeler ONE answer, the labeler's current one, else their archived answer as it stood
    (``labeling.selectors.archived_still_counting``) — so agreement and HLP neither pair a labeler's old
    answer with their new one nor read only the items a campaign left alone until relabels arrive.

    ``policy`` says what borderline / uncertain / out-of-domain answers become:

    * ``category`` — their own categories (``borderline``, ``uncertain``, ``out_of_domain``) added
      after the project's classes; a multi-class "borderline between A and B" answer is ``borderline``;
    * ``exclude`` — left out, as if not given;
    * ``midpoint`` — for a binary project, borderline is the ordinal midpoint between the two classes
      (codes 0, 1, 2 for class A, borderline, class B) for ordinal or interval alpha; uncertain and
      out-of-domain answers are left out.

    ``class_map`` maps retired or merged class keys to the key they now count as (taxonomy changes);
    ``conventions`` (transcription projects) rewrites transcripts by the project's conventions before
    they are compared. Answers keep their raw values in the database.
    """
    if policy not in FLAG_POLICIES:
        raise ValueError(f"unknown policy '{policy}' (one of {', '.join(FLAG_POLICIES)})")
    filters = filters or AnswerFilters()
    classes = [c for c in project.classes.all() if not c.retired]
    transcription = project.task_type == TaskType.TRANSCRIPTION
    if policy == "midpoint" and (transcription or len(classes) != 2):
        raise ValueError("the midpoint policy needs a binary classification project (two classes)")
    keys = [c.key for c in classes]
    names = [c.name for c in classes]
    class_map = dict(class_map or {})
    # Code class keys in SQL, so a million answers arrive as integers rather than strings.
    whens = [When(value=key, then=Value(i)) for i, key in enumerate(keys)]
    whens += [When(value=old, then=Value(keys.index(new))) for old, new in class_map.items() if new in keys]
    answers = _filtered_answers(project=project, filters=filters)
    table = connection.ops.quote_name(Annotation._meta.db_table)
    code = Case(*whens, default=Value(-1), output_field=IntegerField()) if whens else Value(-1)
    flag_sql = " + ".join(
        f"CASE WHEN {table}.{column} THEN {bit} ELSE 0 END"
        for column, bit in (("borderline", FLAG_BORDERLINE), ("uncertain", FLAG_UNCERTAIN), ("out_of_domain", FLAG_OOD))
    )
    answers = answers.annotate(
        code=code,
        flags=RawSQL(flag_sql, []),
        day=RawSQL(_day_expression().format(col=f"{table}.updated"), []),
        guideline_or_0=Coalesce("guideline_id", Value(0)),
    )
    columns = ["item_id", "labeler_id", "code", "flags", "seconds", "guideline_or_0", "day"]
    if transcription:
        columns.append("value")
    # No ORDER BY (the model's default ordering sorted a million rows for nothing): the metrics index
    # answers by item and labeler, never by their position.
    sql, params = answers.order_by().values_list(*columns).query.sql_with_params()
    data = _read_columns(sql, params, columns)
    extra = (
        _archived_columns(project=project, filters=filters, keys=keys, class_map=class_map, transcription=transcription)
        if archived
        else None
    )
    if extra is not None:
        data = {c: np.concatenate([np.asarray(data[c]), extra[c]]) for c in columns}
    # copy=False: the readers answer these dtypes already (a copy of each cost ~15 ms per million answers).
    item, labeler, code, flags = (
        data[c].astype(np.int64, copy=False) for c in ("item_id", "labeler_id", "code", "flags")
    )
    seconds = data["seconds"].astype(np.float64, copy=False)
    guideline, day_arr = data["guideline_or_0"].astype(np.int64, copy=False), data["day"].astype(np.int64, copy=False)
    values = list(data["value"]) if transcription else None
    categories, category_names = list(keys), list(names)
    if transcription:
        categories, category_names, code = _code_transcripts(values, conventions)
    code = _apply_policy(code, flags, policy, categories, category_names, binary=len(keys) == 2)
    labeler_names = dict(
        get_user_model().objects.filter(pk__in=np.unique(labeler).tolist()).values_list("pk", "username")
    )
    versions = dict(Guideline.objects.filter(project=project).values_list("pk", "version"))
    return AnswerTable(
        categories=categories,
        category_names=category_names,
        item=item,
        labeler=labeler,
        code=code,
        flags=flags,
        seconds=seconds,
        guideline=guideline,
        day=day_arr,
        values=values,
        labeler_names=labeler_names,
        guideline_versions=versions,
        conventions=conventions,
    )


def transcript_normalizer(conventions=None):
    """The function transcripts are compared through: the project's conventions, then case,
    punctuation and spacing."""
    if conventions is None:
        return normalize_transcript
    return lambda text: normalize_transcript(conventions.apply(text or ""))


def _code_transcripts(values, conventions):
    """Transcripts as categories of their normalized text (so 'agreement' is an exact match)."""
    normalize = transcript_normalizer(conventions)
    normalized = [normalize(v or "") for v in values]
    categories = sorted({t for t in normalized if t})
    index = {t: i for i, t in enumerate(categories)}
    code = np.array([index.get(t, -1) for t in normalized], dtype=np.int64)
    return categories, list(categories), code


def _apply_policy(code, flags, policy, categories, names, *, binary):
    code = code.copy()
    borderline = (flags & FLAG_BORDERLINE) > 0
    uncertain = (flags & FLAG_UNCERTAIN) > 0
    ood = (flags & FLAG_OOD) > 0
    if policy == "exclude":
        code[borderline | uncertain | ood] = -1
        return code
    if policy == "midpoint":
        # Ordinal scale: class A = 0, borderline = 1, class B = 2.
        midpoint = np.where(code == 1, 2, code)
        midpoint[borderline] = 1
        midpoint[uncertain | ood] = -1
        categories[:] = [categories[0], BORDERLINE, categories[1]]
        names[:] = [names[0], "Borderline", names[1]]
        return midpoint
    for flag_mask, key, name in (
        (borderline, BORDERLINE, "Borderline"),
        (uncertain, UNCERTAIN, "Uncertain"),
        (ood, OUT_OF_DOMAIN, "Out of domain"),
    ):
        if flag_mask.any():
            categories.append(key)
            names.append(name)
            code[flag_mask] = len(categories) - 1
    return code


@dataclass
class ShapeAnswers:
    """The localized answers (detection / segments) of a project under some filters, parsed.

    Per answer: ``item``, ``labeler`` (user ids), ``seconds``, ``guideline`` (guideline id or 0); an
    answer without shapes is an explicit "nothing here". Per shape: ``shape_answer`` (index of its
    answer), ``shape_label`` (index into ``labels``: the project's classes first, then any other key
    found) and ``coords`` (``x, y, w, h`` or ``start, end``; NaN where missing). ``kind`` is
    ``"boxes"`` or ``"segments"``. Build one with :meth:`from_shapes`.
    """

    kind: str
    classes: list[str]
    class_names: list[str]
    labels: list[str]
    item: np.ndarray
    labeler: np.ndarray
    seconds: np.ndarray
    guideline: np.ndarray
    shape_answer: np.ndarray
    shape_label: np.ndarray
    coords: np.ndarray
    labeler_names: dict[int, str] = field(default_factory=dict)
    guideline_versions: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_shapes(cls, *, kind, classes, class_names, item, labeler, seconds, guideline, shapes, **names):
        """From per-answer arrays and ``shapes``: one list of shape dicts per answer (as stored)."""
        fields = ("x", "y", "w", "h") if kind == BOXES else ("start", "end")
        counts = np.fromiter((len(s) for s in shapes), dtype=np.int64, count=len(shapes))
        flat = [shape for answer in shapes for shape in answer]
        label_index = {key: i for i, key in enumerate(classes)}
        labels = list(classes)
        # One pass of C-level iteration per column (a project's 1.5 M boxes: seconds saved over a
        # Python loop that sets one array element at a time).
        keys = [shape.get("label") for shape in flat]
        for key in dict.fromkeys(keys):
            if key not in label_index:
                label_index[key] = len(labels)
                labels.append(key)
        codes = np.fromiter(map(label_index.__getitem__, keys), dtype=np.int64, count=len(keys))
        try:
            coords = np.fromiter(
                (shape[f] + 0.0 for shape in flat for f in fields), dtype=np.float64, count=len(flat) * len(fields)
            )
        except (KeyError, TypeError):
            # A missing coordinate becomes NaN: such a shape matches nothing but still counts as drawn.
            coords = np.array([[shape.get(f) for f in fields] for shape in flat], dtype=np.float64)
        return cls(
            kind=kind,
            classes=list(classes),
            class_names=list(class_names),
            labels=labels,
            item=np.asarray(item, dtype=np.int64),
            labeler=np.asarray(labeler, dtype=np.int64),
            seconds=np.asarray(seconds, dtype=np.float64),
            guideline=np.asarray(guideline, dtype=np.int64),
            shape_answer=np.repeat(np.arange(len(shapes)), counts),
            shape_label=codes,
            coords=coords.reshape(-1, len(fields)),
            **names,
        )

    def __len__(self):
        return len(self.item)

    def shapes_per_answer(self):
        return np.bincount(self.shape_answer, minlength=len(self))

    def table(self, mask=None):
        """A :class:`analysis.metrics.shapes.ShapeTable` of these answers (or of those under ``mask``):
        items by id, labelers by username, labels by class key. NumPy only: no loop per shape."""
        keep = np.ones(len(self), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        items, item_code = np.unique(self.item[keep], return_inverse=True)
        labeler_ids = np.unique(self.labeler[keep])
        labeler_ids = np.array(
            sorted(labeler_ids.tolist(), key=lambda pk: self.labeler_names.get(pk, str(pk))), dtype=np.int64
        )
        order = np.argsort(labeler_ids)
        labeler_code = order[np.searchsorted(labeler_ids[order], self.labeler[keep])]
        # Codes of each kept answer, looked up by the shapes through their answer index.
        answer_pos = np.full(len(self), -1, dtype=np.int64)
        answer_pos[keep] = np.arange(int(keep.sum()))
        shape_keep = keep[self.shape_answer]
        pos = answer_pos[self.shape_answer[shape_keep]]
        return shape_table_from_arrays(
            self.kind,
            item_code.ravel()[pos],
            labeler_code[pos],
            self.shape_label[shape_keep],
            self.coords[shape_keep],
            answered=(item_code.ravel(), labeler_code),
            items=items.tolist(),
            labelers=[self.labeler_names.get(pk, str(pk)) for pk in labeler_ids.tolist()],
            labels=self.labels,
        )


def shape_answers(*, project, filters=None, policy="category", class_map=None, archived=False) -> ShapeAnswers:
    """A detection or segments project's current answers under ``filters``, parsed from their JSON.

    ``archived``: add the answers relabel campaigns archived that still count for agreement, as
    :func:`answer_table` does (one answer per item and labeler: the current one, else the archived one
    as it stood).

    ``policy``: ``category`` counts every answer and shape as drawn; ``exclude`` leaves out answers
    flagged uncertain or out-of-domain and shapes flagged borderline or uncertain. ``class_map`` maps
    retired or merged class keys to the key they now count as. A stored value that is not a shapes
    object (written before the project had its type) is left out.
    """
    import json

    if project.task_type not in SHAPE_TASKS:
        raise ValueError("shape answers need a detection or segments project")
    if policy not in ("category", "exclude"):
        raise ValueError("localized answers take the category or exclude policy")
    kind = SHAPE_TASKS[project.task_type][1]
    classes = [c for c in project.classes.all() if not c.retired]
    class_map = dict(class_map or {})
    rows = (
        _filtered_answers(project=project, filters=filters or AnswerFilters())
        .annotate(guideline_or_0=Coalesce("guideline_id", Value(0)))
        .values_list("item_id", "labeler_id", "value", "seconds", "guideline_or_0", "uncertain", "out_of_domain")
        .order_by("item_id", "labeler_id")
    )
    rows = rows.iterator(chunk_size=20000)
    if archived:
        standing = _archived_standing(project=project, filters=filters or AnswerFilters())
        extra = ((i, lab, v, s, g or 0, u, o) for i, lab, v, _, u, o, s, g, _ in standing)
        rows = sorted(itertools.chain(rows, extra), key=lambda row: (row[0], row[1])) if standing else rows
    item, labeler, seconds, guideline, shapes = [], [], [], [], []
    for item_id, labeler_id, value, secs, guideline_id, uncertain, ood in rows:
        if policy == "exclude" and (uncertain or ood):
            continue
        try:
            parsed = json.loads(value) if value else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get(kind), list):
            continue
        kept = parsed[kind]
        if policy == "exclude":
            kept = [shape for shape in kept if not (shape.get("borderline") or shape.get("uncertain"))]
        if class_map:
            kept = [{**shape, "label": class_map.get(shape.get("label"), shape.get("label"))} for shape in kept]
        item.append(item_id)
        labeler.append(labeler_id)
        seconds.append(np.nan if secs is None else secs)
        guideline.append(guideline_id)
        shapes.append(kept)
    return ShapeAnswers.from_shapes(
        kind=kind,
        classes=[c.key for c in classes],
        class_names=[c.name for c in classes],
        item=item,
        labeler=labeler,
        seconds=seconds,
        guideline=guideline,
        shapes=shapes,
        labeler_names=dict(get_user_model().objects.filter(pk__in=set(labeler)).values_list("pk", "username")),
        guideline_versions=dict(Guideline.objects.filter(project=project).values_list("pk", "version")),
    )


def shapes_of_items(*, project, item_ids, usernames=None):
    """The drawn shapes of some items by labeler, for pictures of them (reviewers only): ``{item id:
    {"name", "file", "duration", "shapes": {username: [shape, ...]}}}``."""
    import json

    from django.urls import reverse

    kind = SHAPE_TASKS[project.task_type][1]
    out = {
        item.pk: {
            "name": item.original_name,
            "file": reverse("api:item-file", args=[item.pk]) if item.file else None,
            "duration": (item.stats or {}).get("duration"),
            "shapes": {},
        }
        for item in Item.objects.filter(project=project, pk__in=list(item_ids))
    }
    answers = Annotation.objects.filter(item_id__in=list(out)).values_list("item_id", "labeler__username", "value")
    if usernames is not None:
        answers = answers.filter(labeler__username__in=list(usernames))
    for item_id, username, value in answers:
        try:
            parsed = json.loads(value) if value else {}
        except ValueError:
            parsed = {}
        out[item_id]["shapes"][username] = parsed.get(kind, []) if isinstance(parsed, dict) else []
    return out


MAP_FIELD_MAX_VALUES = 24  # a metadata field with more distinct values than this is no grouping to colour by


def _metadata_columns(metadata_by_item, ids):
    """Metadata fields the map can colour by, as columns: a field of few distinct values (a recording
    condition, a voice, a site) is categorical (codes into ``values``); a numeric field with more is
    continuous (its values, with ``min`` and ``max``). Free text (a reference transcript: long, or one
    value per item) is left out."""
    keys = sorted({k for meta in metadata_by_item.values() if isinstance(meta, dict) for k in meta})
    fields = []
    for key in keys:
        raw = [
            (metadata_by_item.get(i) or {}).get(key) if isinstance(metadata_by_item.get(i), dict) else None for i in ids
        ]
        present = [v for v in raw if v is not None and v != ""]
        if not present or any(isinstance(v, dict | list) for v in present):
            continue
        distinct = sorted({str(v) for v in present})
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        # A grouping repeats its values; one value per item (an id, a reference text) groups nothing.
        categorical = len(distinct) <= MAP_FIELD_MAX_VALUES and len(distinct) < len(present)
        if categorical and max(len(v) for v in distinct) <= 60:
            index = {v: k for k, v in enumerate(distinct)}
            codes = [index[str(v)] if v is not None and v != "" else -1 for v in raw]
            fields.append({"name": key, "kind": "categorical", "values": distinct, "codes": codes})
        elif numeric:
            values = [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in raw]
            numbers = [v for v in values if v is not None]
            fields.append(
                {"name": key, "kind": "continuous", "min": min(numbers), "max": max(numbers), "numbers": values}
            )
    return fields


NO_SCORES_REASON = (
    "no label-issue scores: a transcription project's labels are free text, not classes; "
    "colour the map by WER, agreement, slice, source or metadata to find the hard items"
)


def map_has_scores(emap) -> bool:
    """Whether the map carries label-issue scores: every map but a transcription project's (maps made
    before transcription maps existed have no ``task``: they are classification maps)."""
    return emap.params.get("task", TaskType.CLASSIFICATION) != TaskType.TRANSCRIPTION


def map_changes_since(*, emap) -> tuple[set[int], int]:
    """What changed the map's labels after it read them: (the ids of the project's items answered or
    decided since, the number of class changes made or undone since). Since the map's job started (it
    reads the labels once it has the vectors), else since the map was made: an answer given in between
    may be counted though the map has it, never the other way."""
    since = emap.job.started if emap.job_id and emap.job.started else emap.created
    project = emap.project_id
    answered = Annotation.objects.filter(item__project=project, updated__gt=since).values_list("item_id", flat=True)
    decided = Decision.objects.filter(item__project=project, created__gt=since).values_list("item_id", flat=True)
    n_class_changes = (
        TaxonomyChange.objects.filter(project=project).filter(Q(created__gt=since) | Q(undone__gt=since)).count()
    )
    return set(answered.iterator(chunk_size=20000)) | set(decided.iterator(chunk_size=20000)), n_class_changes


def map_clusters(*, emap, present=None, names=None, changed=None) -> list[dict]:
    """The map's suspicious clusters as the API and the map page give them, without the items deleted
    since the map was made (their points went with them): ``items``, ``size``, the examples of both
    sides and the sentence ("N items labeled A sit among B", by the classes' names given ``names``, key
    → name, else by their keys) count only the items still on the map; a cluster none of whose items
    is left is not listed. ``present``: the ids of the map's points, when the caller has read them.
    ``changed``: the ids of items answered or decided since the map was made (``map_changes_since``);
    given, each cluster says how many of its items are among them (``n_changed``)."""
    clusters = list(LabelCluster.objects.filter(map=emap))
    if present is None and clusters:
        # every point's id, not ``item_id__in`` the clusters': a cluster of thousands would pass SQLite's
        # limit of query parameters
        present = set(MapPoint.objects.filter(map=emap).values_list("item_id", flat=True).iterator(chunk_size=20000))
    out = []
    for c in clusters:
        c.items = [i for i in c.items if i in present]
        if not c.items:
            continue
        out.append(
            {
                "index": c.index,
                "label": c.label,
                "suggested_label": c.suggested_label,
                "items": c.items,
                "size": len(c.items),
                "examples": [i for i in c.examples if i in present],
                "neighbour_examples": [i for i in c.neighbour_examples if i in present],
                "score": c.score,
                "description": c.describe(names),
                **({"n_changed": sum(1 for i in c.items if i in changed)} if changed is not None else {}),
            }
        )
    return out


@read_snapshot()  # the points, the items' slices and the answers of one moment
def map_point_columns(*, project, map_id):
    """A map's points as parallel arrays with what the page colours by: labels, scores, slices,
    sources, metadata fields and each item's agreement (share of its answers equal to the most common
    one). A transcription map has no labels nor scores (``label_issues`` false, with the reason) and
    carries each item's transcript agreement and pairwise WER, as computed when it was built."""
    from django.db.models import Count
    from django.http import Http404

    emap = EmbeddingMap.objects.filter(project=project, pk=map_id).first()
    if emap is None:
        raise Http404("No map with that id in this project.")
    scored = map_has_scores(emap)
    classes = emap.classes if scored and emap.classes else [c.key for c in project.classes.all()] if scored else []
    class_index = {key: i for i, key in enumerate(classes)}
    # The page reads classes by name (legend, tooltips, item panel, clusters), as every other page does.
    names = class_names(project=project)
    rows = list(
        MapPoint.objects.filter(map=emap)
        .order_by("item_id")
        .values_list("item_id", "x", "y", "label", "suggested_label", "score", "flagged", "cluster", "wer", "agreement")
    )
    ids = [r[0] for r in rows]
    changed, _ = map_changes_since(emap=emap)
    sources, metadata = {}, {}
    for pk, src, meta in Item.objects.filter(project=project).values_list("pk", "source_id", "metadata"):
        sources[pk] = src
        if meta:
            metadata[pk] = meta
    source_names = dict(project.sources.values_list("pk", "name"))
    source_list = sorted(source_names)
    tag_of = {}
    through = Item.tags.through
    tag_names = dict(project.tags.values_list("pk", "name"))
    links = through.objects.filter(tag__project=project).values_list("item_id", "tag_id")
    for item_id, tag_id in links.iterator(chunk_size=20000):
        tag_of.setdefault(item_id, tag_id)  # colour by one slice per item: the first found
    tag_list = sorted(tag_names)
    if scored:
        # Agreement per item: share of answers that equal the item's most common answer, in today's
        # classes (after a merge of cat into pet, "cat" and "pet" agree, as on the agreement page)
        mapping = class_mapping(project=project)
        counts = {}
        for item_id, value, n in (
            Annotation.objects.filter(item__project=project)
            .values_list("item_id", "value")
            .annotate(n=Count("id"))
            .iterator(chunk_size=20000)
        ):
            per_value = counts.setdefault(item_id, {})
            key = mapping.get(value, value)
            per_value[key] = per_value.get(key, 0) + n
        # After a campaign, as the agreement report: per item and labeler ONE answer, the current one, else
        # the one the campaign archived as it stood (an item sent back keeps its agreement until relabeled).
        archived = ArchivedAnnotation.objects.filter(campaign__project=project)
        for (item_id, _), (_, value) in archived_still_counting(archived, ("value",)).items():
            per_value = counts.setdefault(item_id, {})
            key = mapping.get(value, value)
            per_value[key] = per_value.get(key, 0) + 1
        agreement = [
            max(counts[i].values()) / sum(counts[i].values()) if i in counts and sum(counts[i].values()) > 1 else None
            for i in ids
        ]
    else:
        # Transcripts agree after normalization ("Um," = "um"): stored by the map job.
        agreement = [r[9] for r in rows]
    out = {
        "map": emap.pk,
        "task": emap.params.get("task", "classification"),
        "label_issues": scored,
        "classes": classes,
        "class_names": [names.get(key, key) for key in classes],
        "sources": [source_names[s] for s in source_list],
        "tags": [tag_names[t] for t in tag_list],
        "item": ids,
        "x": [round(r[1], 5) for r in rows],
        "y": [round(r[2], 5) for r in rows],
        "label": [class_index.get(r[3], -1) for r in rows],
        "suggested": [class_index.get(r[4], -1) for r in rows],
        "score": [round(r[5], 4) if scored else None for r in rows],
        "flagged": [1 if r[6] else 0 for r in rows],
        "cluster": [-1 if r[7] is None else r[7] for r in rows],
        "source": [source_list.index(sources[i]) if sources.get(i) in source_names else -1 for i in ids],
        "tag": [tag_list.index(tag_of[i]) if i in tag_of else -1 for i in ids],
        "agreement": [None if a is None else round(a, 3) for a in agreement],
        "fields": _metadata_columns(metadata, ids),
        # the stored sentence names the keys (as the API gives it); the page's names the classes
        "clusters": map_clusters(emap=emap, present=set(ids), names=names, changed=changed),
        # 1 for a point whose item was answered or decided since the map was made: its label may be another now
        "changed": [1 if i in changed else 0 for i in ids],
    }
    if project.modality == "text":
        # the clusters' examples read as texts (an image shows itself; a bare id says nothing to an SME)
        shown = {i for c in out["clusters"] for i in (*c["examples"][:4], *c["neighbour_examples"][:4])}
        texts = Item.objects.filter(project=project, pk__in=shown).values_list("pk", "text")
        out["example_texts"] = {str(pk): text[:160] for pk, text in texts}
    if not scored:
        out["wer"] = [None if r[8] is None else round(r[8], 4) for r in rows]
        out["label_issues_reason"] = NO_SCORES_REASON
    return out


def item_with_answers(*, project, item_id):
    """One item of the project with all its current answers (for reviewers) and its decision in force
    (``decision``: ``what`` in words, by class name, ``reviewer``, ``label``, ``action``; None when
    undecided or the latest decision was withdrawn)."""
    from django.http import Http404
    from django.urls import reverse

    item = Item.objects.filter(project=project, pk=item_id).select_related("source").first()
    if item is None:
        raise Http404("No item with that id in this project.")
    latest = item.decisions.select_related("reviewer").order_by("-created", "-id").first()
    decision = None
    if latest is not None and latest.action != DecisionAction.WITHDRAWN:
        names = class_names(project=project) if project.task_type == TaskType.CLASSIFICATION else None
        decision = {
            "what": decision_summary(latest, names=names),
            "reviewer": latest.reviewer.username if latest.reviewer else None,
            "label": latest.label,
            "action": latest.action,
        }
    return {
        "decision": decision,
        "id": item.pk,
        "name": item.original_name,
        "file": reverse("api:item-file", args=[item.pk]) if item.file else None,
        "text": item.text,
        "label": item.label,
        "source": item.source.name if item.source else None,
        "tags": sorted(t.name for t in item.tags.all()),
        "answers": answers_by_item(item_ids=[item.pk]).get(item.pk, []),
    }


REVIEW_REASONS = ("disagreement", "flagged", "low_confidence", "likely_wrong")
SME_WEIGHT = 3.0  # an SME decision counts as three answers of a near-perfect labeler in the model
LIKELY_WRONG = 0.5


def _latest_map(project):
    """The project's latest finished map: the one the review queue reads label-issue scores from."""
    return EmbeddingMap.objects.filter(project=project, finished__isnull=False).order_by("-finished", "-id").first()


def _map_scores(project, items, categories, shipped):
    """Label-issue score of each item's shipped label from the project's latest finished map (0 where
    the map has no point for it, or judged it by another label), rescaled so the map's median score is
    0: most labels look slightly off to any model, and only the excess says something."""
    out = np.zeros(len(items))
    emap = _latest_map(project)
    if emap is None:
        return out, None
    points = MapPoint.objects.filter(map=emap).exclude(label="").values_list("item_id", "label", "score")
    rows = list(points.iterator(chunk_size=20000))
    if not rows or not len(items):
        return out, emap.pk
    point_item, point_label, point_score = zip(*rows, strict=True)
    point_item = np.array(point_item, dtype=np.int64)
    point_score = np.array(point_score, dtype=np.float64)
    baseline = float(np.median(point_score))
    index = {key: i for i, key in enumerate(categories)}
    point_code = np.array([index.get(label, -2) for label in point_label], dtype=np.int64)
    at = np.minimum(np.searchsorted(items, point_item), len(items) - 1)
    same = (items[at] == point_item) & (point_code == shipped[at])
    out[at[same]] = np.maximum(0.0, point_score[same] - baseline) / max(1e-9, 1.0 - baseline)
    return out, emap.pk


SHAPE_REVIEW_REASONS = ("disagreement", "split_merge", "flagged")


def _decided_items(project, item_ids):
    """Items among ``item_ids`` whose decision in force is at least as new as their latest answer."""
    latest = decided_at(project=project)
    if not latest:
        return set()
    answered_at = dict(
        Annotation.objects.filter(item__project=project).values_list("item_id").annotate(last=Max("updated"))
    )
    return {i for i in item_ids if i in latest and latest[i] >= answered_at.get(i, latest[i])}


def shape_review_queue(*, project, filters=None, include_decided=False, item_ids=None, iou=0.5):
    """The review queue of a detection or segments project: items whose labelers' shapes disagree, most
    first.

    ``disagreement`` = 1 − the item's pairwise shape F1 at ``iou`` (``analysis.metrics.shapes.item_f1``:
    its labeler pairs' shapes matched one to one, same class, IoU ≥ ``iou``). An item is queued when it has
    two or more answers and F1 < 1 (``disagreement``), when one labeler's shape covers two or more of
    another's (``split_merge``, the iguana pattern, each named in the row's ``split_merge`` as e.g. "bob
    drew one box where alice drew 2"), or when an answer or shape is flagged borderline / uncertain /
    out of domain (``flagged``). Sorted by disagreement, split/merge items first among equals. Decided
    items (latest decision newer than the latest answer) leave unless ``include_decided``; then their row
    has ``decision``, the decided shapes. Answers the same dict as :func:`review_queue`.
    """
    answers = shape_answers(
        project=project, filters=filters, policy="category", class_map=class_mapping(project=project)
    )
    empty = {"rows": [], "counts": dict.fromkeys(SHAPE_REVIEW_REASONS, 0), "n_items": 0, "n_matched": 0, "map": None}
    if not len(answers):
        return empty
    table = answers.table()
    items = np.asarray(table.items, dtype=np.int64)
    f1 = item_f1(table, iou=iou)
    n_answers = np.bincount(table.answer_item, minlength=len(items))
    n_shapes = np.bincount(table.item, minlength=len(items))
    noun = "box" if answers.kind == BOXES else "segment"
    splits = {}
    for row in split_merge(table, item_f1=f1):
        text = f"{row['one']} drew one {noun} where {row['many']} drew {row['n']}"
        splits.setdefault(int(row["item"]), []).append({**row, "item": int(row["item"]), "text": text})
    flagged_ids = set(
        _filtered_answers(project=project, filters=filters or AnswerFilters())
        .filter(
            Q(uncertain=True)
            | Q(out_of_domain=True)
            | Q(value__contains='"borderline":true')
            | Q(value__contains='"uncertain":true')
        )
        .values_list("item_id", flat=True)
    )
    disagreement = np.where(np.isnan(f1), 0.0, 1.0 - f1)
    has_split = np.fromiter((int(i) in splits for i in items), dtype=bool, count=len(items))
    flagged = np.fromiter((int(i) in flagged_ids for i in items), dtype=bool, count=len(items))
    matched = np.ones(len(items), dtype=bool)
    if item_ids is not None:
        matched &= np.isin(items, np.asarray(list(item_ids), dtype=np.int64))
    needs_review = (disagreement > 1e-9) | has_split | flagged
    keep = needs_review & matched
    decided = _decided_items(project, items[keep].tolist())
    decisions = {}
    if decided and include_decided:
        for d in Decision.objects.filter(item_id__in=decided).order_by("item_id", "created", "id"):
            decisions[d.item_id] = d
    order = np.lexsort((items, ~has_split, -disagreement))
    rows, counts = [], dict.fromkeys(SHAPE_REVIEW_REASONS, 0)
    for i in order:
        item_id = int(items[i])
        if not keep[i] or (item_id in decided and not include_decided):
            continue
        reasons = [
            r
            for r, on in zip(SHAPE_REVIEW_REASONS, (disagreement[i] > 1e-9, has_split[i], flagged[i]), strict=True)
            if on
        ]
        for reason in reasons:
            counts[reason] += 1
        row = {
            "item": item_id,
            "reasons": reasons,
            "disagreement": round(float(disagreement[i]), 4),
            "f1": None if np.isnan(f1[i]) else round(float(f1[i]), 4),
            "iou": float(iou),
            "split_merge": splits.get(item_id, []),
            "p_wrong": None,
            "shipped": None,
            "posterior": None,
            "n_answers": int(n_answers[i]),
            "n_shapes": int(n_shapes[i]),
        }
        if item_id in decided:
            d = decisions.get(item_id)
            row["decision"] = d.shapes if d is not None and d.action == "label" else None
            row["decision_action"] = d.action if d is not None else None
        rows.append(row)
    n_matched = int(matched.sum())
    return {
        "rows": rows,
        "counts": counts,
        "n_items": len(rows),
        "n_matched": n_matched,
        "quiet": items[matched & ~needs_review].tolist(),
        "categories": [],
        "map": None,
    }


# A class pair's flag keys: the answers carrying that flag (the queue counts them as no class).
PAIR_FLAGS = {BORDERLINE: FLAG_BORDERLINE, UNCERTAIN: FLAG_UNCERTAIN, OUT_OF_DOMAIN: FLAG_OOD}


def _said(key, table, codes, unit):
    """Per item of the queue: whether an answer said ``key`` (a class, or a flag of ``PAIR_FLAGS``).

    The queue reads flagged answers as no class (policy ``exclude``), so ``borderline`` and the other
    flags, which a pair may name as the agreement report's confusion matrix shows them, matched no item
    and ``classes=cat,borderline`` was an empty queue; they are looked up among the answers' flags."""
    if key in PAIR_FLAGS:
        said = np.zeros(codes.shape[0], dtype=bool)
        np.logical_or.at(said, unit, (table.flags & PAIR_FLAGS[key]) > 0)
        return said
    code = table.categories.index(key) if key in table.categories else -2
    return (codes == code).any(axis=1)


def _archived_evidence(project, items, categories, weight, conventions) -> AnswerArrays:
    """The answers relabel campaigns archived on ``items`` (sorted ids), as a default version counts them:
    per campaign, item and labeler the answer as it stood when the campaign started, unflagged, in the
    taxonomy's classes (transcripts normalized as the queue's table normalizes them). ``item`` holds the
    row in ``items``, ``code`` the index in ``categories``, ``weight`` the recipe's ``archived_weight``."""
    empty = AnswerArrays(*(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros(0))
    if weight <= 0 or not len(items):
        return empty
    # The project's archive, kept to ``items`` here: listing the items' ids in the statement sent up to
    # every answered item's id (50,000 ids, 0.6 s of the queue's page) to find, most often, nothing.
    rows = ArchivedAnnotation.objects.filter(campaign__project=project)
    wanted = set(items.tolist())
    latest = {
        key: None if any(flags) else value
        for key, (value, *flags) in archived_as_they_stood(rows).items()
        if key[1] in wanted
    }
    if project.task_type == TaskType.TRANSCRIPTION:
        key_of = transcript_normalizer(conventions)
    else:
        mapping = class_mapping(project=project)

        def key_of(value):
            return mapping.get(value, value)

    index = {name: i for i, name in enumerate(categories)}
    found = [
        (item, labeler, index.get(key_of(value)))
        for (_, item, labeler), value in latest.items()
        if value not in (None, "")
    ]
    found = sorted(r for r in found if r[2] is not None)
    if not found:
        return empty
    item, labeler, code = (np.array(column, dtype=np.int64) for column in zip(*found, strict=True))
    return AnswerArrays(np.searchsorted(items, item), labeler, code, np.full(len(found), float(weight)))


def review_queue(
    *, project, filters=None, class_pair=None, low_confidence=0.7, include_decided=False, item_ids=None, iou=0.5
):
    """Items needing a reviewer's decision, likeliest wrong first.

    An item is queued when its answers disagree, carry a borderline / uncertain / out-of-domain flag,
    the Dawid–Skene posterior of its best label is low, or its ``p_wrong`` is at least 0.5.
    ``p_wrong`` estimates the probability that the label a version would ship (the default recipe: the
    SME's decision, else the answers' majority with answers archived by relabel campaigns at
    ``archived_weight``, at least ``min_agreement`` of the weight; ``shipped``) is wrong: 1 − its Dawid–Skene
    posterior, where the model knows each labeler's confusions, seeded with their record (``labeler_priors``: SME
    decisions, gold among them, and agreement) and with SME decisions as near-certain answers; then raised,
    noisy-OR, by the latest map's label-issue score of that label beyond the map's median. A tie ships nothing; its
    ``p_wrong`` is that of a random pick among the tied classes (1 − their mean posterior). So two labelers agreeing
    on the wrong class (a labeler known to swap two classes) come before a three-way tie, and the tie before the
    many two-against-one items the majority gets right.

    Answers a dict with ``rows`` (item, reasons, p_wrong, shipped, disagreement = entropy of the
    answers in bits, posterior of the best label, n_answers; when decided, decision (the label, None for
    another action) and decision_action) sorted by p_wrong,
    ``counts`` per reason, ``n_matched`` (the items with answers under the filters, ``item_ids`` and
    ``class_pair``, queued or not: 0 says the filters match nothing, where an empty queue of matched items
    says nothing there needs review), ``quiet`` (the ids of matched items no reason queues) and ``map``
    (the map whose scores were used, or None). Items whose latest
    decision is newer than their latest answer are left out unless ``include_decided``.
    ``class_pair`` (a, b) keeps items where one labeler said a and another b; ``item_ids`` keeps only
    those items (a selection from the map or the error analysis). Detection and segments projects are
    queued by shape disagreement at ``iou`` instead (:func:`shape_review_queue`).
    """
    if project.task_type in SHAPE_TASKS:
        return shape_review_queue(
            project=project, filters=filters, include_decided=include_decided, item_ids=item_ids, iou=iou
        )

    conventions = transcript_conventions(project=project) if project.task_type == TaskType.TRANSCRIPTION else None
    table = answer_table(
        project=project,
        filters=filters,
        policy="exclude",
        class_map=class_mapping(project=project),
        conventions=conventions,  # "Umm, yes" and "um yes" are no disagreement once the conventions say so
    )
    codes, items, _ = table.matrix()
    if codes.size == 0:  # nothing to queue under these filters; the map it would read from is still named
        emap = _latest_map(project)
        return {
            "rows": [],
            "counts": dict.fromkeys(REVIEW_REASONS, 0),
            "n_items": 0,
            "n_matched": 0,
            "map": emap and emap.pk,
        }
    decided = decided_labels(project=project)
    decided_keys = decided
    if project.task_type == TaskType.TRANSCRIPTION:
        # An SME's transcript is compared as the answers are (the conventions, case, punctuation), and is a
        # category of its own when no labeler wrote it: left out, the queue said the labelers' majority
        # would ship, likely wrong, where a version ships the SME's transcript.
        normalize = transcript_normalizer(conventions)
        decided_keys = {i: normalize(text) for i, text in decided.items()}
        known = set(table.categories)
        for text in sorted({t for t in decided_keys.values() if t and t not in known}):
            table.categories.append(text)
            table.category_names.append(text)
    n_categories = len(table.categories)
    k = max(n_categories, 1)
    entropy = answer_entropy(codes, n_categories)
    unit = np.searchsorted(items, table.item)
    flagged = np.zeros(len(items), dtype=bool)
    np.logical_or.at(flagged, unit, table.flags > 0)
    answered = (codes >= 0).sum(axis=1)
    # The label a version would ship under the default recipe: the strict majority of the counted
    # answers' weight, answers archived by relabel campaigns counting at ``archived_weight``, with at least
    # ``min_agreement`` of it (a tie, or a plurality below that share, ships none).
    recipe = recipe_parse(project=project, data={})
    archived = _archived_evidence(project, items, table.categories, recipe["archived_weight"], conventions)
    votes = np.zeros((len(items), k))
    rows_, cols_ = np.nonzero(codes >= 0)
    np.add.at(votes, (rows_, codes[rows_, cols_]), 1)
    np.add.at(votes, (archived.item, archived.code), archived.weight)
    votes = np.round(votes, 9)  # 3 × 0.4 is 1.2, as the resolution rounds it
    top = votes.max(axis=1)
    n_counted = answered + np.bincount(archived.item, minlength=len(items))
    share = top / np.maximum(votes.sum(axis=1), 1e-12)
    shipped = np.where((votes == top[:, None]).sum(axis=1) == 1, votes.argmax(axis=1), -1)
    shipped[(n_counted == 0) | (n_counted < recipe["min_answers"]) | (share < recipe["min_agreement"])] = -1
    index = {key: i for i, key in enumerate(table.categories)}
    reference = {int(i): index[label] for i, label in decided_keys.items() if label in index}
    # the decided items among the answered ones: their rows (ref_at[known]) and decided classes (ref_code)
    ref_items = np.fromiter(reference, dtype=np.int64, count=len(reference))
    ref_code = np.fromiter(reference.values(), dtype=np.int64, count=len(reference))
    ref_at = np.searchsorted(items, ref_items)
    known = (ref_at < len(items)) & (items[np.minimum(ref_at, len(items) - 1)] == ref_items)
    ref_at, ref_code = ref_at[known], ref_code[known]
    posterior = np.full((len(items), k), np.nan)
    counted = table.code >= 0
    if counted.any() and n_categories >= 2:
        unit_c, labeler_c, code_c = unit[counted], table.labeler[counted], table.code[counted]
        weight_c = np.ones(len(unit_c))
        record = labeler_priors(answers=AnswerArrays(table.item[counted], labeler_c, code_c), reference=reference)
        sme = -1
        unit_c = np.r_[unit_c, ref_at]
        labeler_c = np.r_[labeler_c, np.full(len(ref_at), sme)]
        code_c = np.r_[code_c, ref_code]
        weight_c = np.r_[weight_c, np.full(len(ref_at), SME_WEIGHT)]
        # Archived answers are evidence too, at their weight (as a version's Dawid-Skene counts them).
        unit_c = np.r_[unit_c, archived.item]
        labeler_c = np.r_[labeler_c, archived.labeler]
        code_c = np.r_[code_c, archived.code]
        weight_c = np.r_[weight_c, archived.weight]
        labelers, rater = np.unique(labeler_c, return_inverse=True)
        prior = np.array([0.99 if lab == sme else record.get(int(lab), np.nan) for lab in labelers])
        try:
            ds = metrics.dawid_skene_answers(
                unit_c,
                rater.ravel(),
                code_c,
                n_units=len(items),
                n_raters=len(labelers),
                categories=list(range(k)),
                weights=weight_c,
                rater_prior=prior,
            )
            posterior = np.where((answered > 0)[:, None], ds.posterior, np.nan)
        except metrics.MetricUndefined:
            pass  # no model of the labelers: p_wrong and low confidence are unknown
        # A labeler who shares no item with another and has no record (no decided item) is unknown to the
        # model: the posterior of their lone answers echoed its prior (the demo's new labeler's first
        # transcripts read 96 % likely wrong, first in the queue). Items only they answered have no p_wrong.
        answer_unit = unit[counted]
        answer_labs, answer_lab = np.unique(table.labeler[counted], return_inverse=True)
        answer_lab = answer_lab.ravel()
        # a labeler is seen when an answer of theirs shares its item, or is on a decided item
        seen = np.zeros(len(answer_labs), dtype=bool)
        np.logical_or.at(seen, answer_lab, (answered[answer_unit] >= 2) | np.isin(answer_unit, ref_at))
        informed = np.zeros(len(items), dtype=bool)
        np.logical_or.at(informed, answer_unit, seen[answer_lab])
        informed[ref_at] = True
        informed[archived.item] = True
        posterior[~informed] = np.nan
    best = np.nanmax(np.nan_to_num(posterior, nan=-1.0), axis=1)
    best = np.where(best < 0, np.nan, best)
    # A tie ships no label; were it broken at random among the tied classes, the label would be right
    # with the tied classes' mean posterior: below an agreed-on wrong label, above a sound majority. (A
    # plurality below ``min_agreement`` ships none either: the chance its class would be right.)
    tied = (votes == top[:, None]) & (top[:, None] > 0)
    p_shipped = np.where(tied, np.nan_to_num(posterior, nan=0.0), 0.0).sum(axis=1) / np.maximum(tied.sum(axis=1), 1)
    p_shipped = np.where(np.isnan(best), np.nan, p_shipped)
    # The default recipe ships an SME decision before any vote: a decided item would ship its decision (a
    # decided tie read "— (tie)", 67 % likely wrong, where the version shipped the SME's class), as right
    # as the model of the labelers, which counts the SME, holds it.
    shipped[ref_at] = ref_code
    p_decided = posterior[ref_at, ref_code]
    p_shipped[ref_at] = np.where(np.isnan(p_decided), p_shipped[ref_at], p_decided)
    map_score, map_id = _map_scores(project, items, table.categories, shipped)
    p_wrong = 1.0 - p_shipped * (1.0 - map_score)  # noisy-OR of the model's doubt and the map's
    disagreement = entropy > 0
    low = (best < low_confidence) & (answered >= 2)
    likely = p_wrong >= LIKELY_WRONG
    matched = np.ones(len(items), dtype=bool)
    if item_ids is not None:
        matched &= np.isin(items, np.asarray(list(item_ids), dtype=np.int64))
    if class_pair:
        matched &= _said(class_pair[0], table, codes, unit) & _said(class_pair[1], table, codes, unit)
    needs_review = disagreement | flagged | low | likely
    keep = needs_review & matched
    latest = decided_at(project=project)  # a withdrawn decision decides nothing: the item is back in the queue
    is_decided = np.zeros(len(items), dtype=bool)
    if latest:
        answered_at = dict(
            Annotation.objects.filter(item__project=project).values_list("item_id").annotate(last=Max("updated"))
        )
        # A class decided under a merge that was undone since (retired, counting as no class) ships no
        # label: the item is to be decided again, not left out of the queue as settled.
        unreadable = (
            {i for i, label in decided.items() if label and label not in index}
            if project.task_type == TaskType.CLASSIFICATION
            else set()
        )
        for index_, item_id in enumerate(items.tolist()):
            if item_id in unreadable:
                continue
            if item_id in latest and latest[item_id] >= answered_at.get(item_id, latest[item_id]):
                is_decided[index_] = True
    if not include_decided:
        keep &= ~is_decided
    # What the latest decision of each decided row was: a final label, or a question to the guideline, a
    # note that the input lacks the information, a send-back (those decide no label, and still decided it).
    actions = {}
    if include_decided and (keep & is_decided).any():
        shown = items[keep & is_decided].tolist()
        for item_id, action in (
            Decision.objects.filter(item_id__in=shown)
            .order_by("item_id", "created", "id")
            .values_list("item_id", "action")
        ):
            actions[item_id] = action
    order = np.lexsort((-entropy, -np.nan_to_num(p_wrong, nan=0.0)))
    rows = []
    counts = dict.fromkeys(REVIEW_REASONS, 0)
    for i in order:
        if not keep[i]:
            continue
        reasons = [
            r for r, on in zip(REVIEW_REASONS, (disagreement[i], flagged[i], low[i], likely[i]), strict=True) if on
        ]
        for reason in reasons:
            counts[reason] += 1
        row = {
            "item": int(items[i]),
            "reasons": reasons,
            "p_wrong": None if np.isnan(p_wrong[i]) else round(float(p_wrong[i]), 4),
            "shipped": table.categories[shipped[i]] if shipped[i] >= 0 else None,
            "disagreement": float(entropy[i]),
            "posterior": None if np.isnan(best[i]) else float(best[i]),
            "n_answers": int(answered[i]),
        }
        if is_decided[i]:
            row["decision"] = decided.get(int(items[i]))
            row["decision_action"] = actions.get(int(items[i]))
        rows.append(row)
    return {
        "rows": rows,
        "counts": counts,
        "n_items": len(rows),
        "n_matched": int(matched.sum()),
        # matched items nothing queues (their answers agree, unflagged): a page names those of a selection
        "quiet": items[matched & ~needs_review].tolist(),
        "categories": table.categories,
        "map": map_id,
    }


# --- Training jobs and model runs ------------------------------------------------------------------------


def training_jobs_list(*, project):
    """Training jobs, newest first, with their version, job and latest model run (``latest_run``)."""
    return (
        TrainingJob.objects.filter(project=project)
        .select_related("version", "job", "created_by")
        .defer("version__info")  # the ids of the items purged from it, maybe 200,000
        .prefetch_related(Prefetch("model_runs", queryset=ModelRun.objects.order_by("-created", "-id")))
        .order_by("-created", "-id")
    )


def training_job_for(*, project, training_id):
    training = training_jobs_list(project=project).filter(pk=training_id).first()
    if training is None:
        raise Http404("No training job with that id in this project.")
    return training


def model_runs_list(*, project):
    return (
        ModelRun.objects.filter(project=project)
        .select_related("dataset_version", "training_job")
        .defer("dataset_version__info")  # the ids of the items purged from it, maybe 200,000
        .order_by("-created", "-id")
    )


def model_run_for(*, project, run_id):
    run = model_runs_list(project=project).filter(pk=run_id).first()
    if run is None:
        raise Http404("No model run with that id in this project.")
    return run
