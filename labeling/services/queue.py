"""The labeling queue: which item a labeler gets next, the reservation of its k slots, answers and skips.

The k-slot rule. An item is handed to a labeler only while

    current answers (``Item.n_answers``) + active reservations held by *other* labelers < k

where k is the item's own ``overlap`` when a relabel campaign set one, else the project's; and never
to a labeler who has already answered or skipped it. A relabel campaign (or a reviewer's send-back) that
sends the item back archives its answers and skips (labeling.services.campaigns), so it is offered to
those labelers again; a skip made after that holds. A labeler holds at most one item of a
project at a time (``Reservation``, one row per labeler and project, reused from item to item), for
``reservation_seconds()`` (``LABELHUB_RESERVATION_SECONDS``); asking for the next item again before
answering hands back the same item and extends the hold, so a page reload loses nothing. An answer or a
skip releases the hold; an expired hold simply stops counting.

Order. Items of an active relabel campaign first (``Item.priority`` > 0, highest first; items with an
overlap of their own are served with them), then the items closest to completion (most current
answers), then a stable random order (``Item.random_key``, set once at import, taken from the highest
down). Two queries: campaign items (few, in a partial index), then the others as one backward scan of
the ``item_queue_level`` index (project, n_answers, priority, random_key) from "k-1 answers" down:
complete items lie beyond the scan's start and are never read.

Spreading. Concurrent labelers are spread over different items: a labeler takes the r-th item the
queue would hand them, r being how many labelers with a smaller id hold an item of the project right
now (modulo SPREAD), instead of everyone taking the first. Without it every labeler went for the same
front of the queue: a labeler whose snapshot predated another's reservation locked that item, found
it taken and moved on, but kept its row lock until its transaction ended, and the holder's answer
waited for it (at 8 labelers the submit's lock averaged 3.9 ms against 0.1-0.45 ms for every other
statement); and items with slots to spare drew several labelers at once, whose answers then queued
on the same row. The order holds in aggregate: the first SPREAD eligible items are all handed out
before any after them, and a labeler alone (or the lowest id) gets exactly the order above. When the
r-th item is not there (fewer left) or is locked by someone else, the labeler takes the first.

Locking. The item row is the mutex for every decision about the item's slots: every reservation of
an item, and every first answer, is written by a transaction that holds the item's row lock.
- ``queue_next`` takes its candidate with ``SELECT ... FOR UPDATE SKIP LOCKED``: concurrent labelers
  pass over each other's candidates instead of queueing behind them. Under READ COMMITTED the
  candidate query's sub-selects saw the snapshot taken when it started, not what a transaction that
  held the row lock until a moment ago committed (the row itself is re-read at its latest version,
  its sub-selects are not); so, holding the lock, the reservation is written by a statement that
  counts the others' holds again, in a fresh snapshot, and writes nothing if no slot is left.
- ``annotation_submit`` locks the row (waiting) and then reads the slots in a fresh statement, for
  the same reason. The API's ?next=1 takes the lock earlier, with the item's own load in the same
  transaction (``labeling_item_for(lock=True)``), and skips the locking statement; on PostgreSQL the
  slot read, the first answer's insert and its count are one statement (SLOTS_AND_ANSWER), and when the
  next item follows, the next item's first candidate too (SLOTS_ANSWER_AND_PICK).
SQLite has no row locks, but the settings open every transaction with BEGIN IMMEDIATE, so writers are
serialized and the same code is correct there (the lock clauses are left out on SQLite).
tests/labeling/test_queue_concurrency.py runs many labelers at once on PostgreSQL to prove it.

The labeling page answers with ``annotation_submit_and_next`` (the answer and the next reservation in
one transaction and one HTTP round trip); API clients may also call next and submit separately.
"""

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labelhub import rawsql
from labeling.choices import TaskType
from labeling.models import Annotation, Guideline, Item, Reservation, Skip
from labeling.selectors import active_class_keys
from labeling.services.annotations import (
    COUNT_ANSWER,
    FIRST_ANSWER_COLUMNS,
    FIRST_ANSWER_VALUES,
    annotation_store,
    annotation_validate,
    answer_fields,
    first_answer_built,
    first_answer_params,
)

# How many of the queue's first items concurrent labelers are spread over (see "Spreading" above).
SPREAD = 16
MAX_SKIP_REASON_CHARS = 500
# Fields the labeling page needs of an item; the rest (metadata, imported label) stays in the database.
QUEUE_ITEM_FIELDS = ("id", "project_id", "text", "file", "n_answers", "priority", "overlap")


class ItemFull(Exception):
    """The item already has its k answers (or answers plus others' reservations) and the labeler
    holds no reservation for it."""


def reservation_seconds():
    """How long a hold lasts: the setting as it is now (read at each call, so a test's override_settings
    reaches the queue and the labeling page alike)."""
    return settings.LABELHUB_RESERVATION_SECONDS


def _hold_until(now):
    return now + timedelta(seconds=reservation_seconds())


# The queue's hot statements are written in SQL: compiling the equivalent ORM querysets (three
# correlated sub-selects each) cost more than running them. Both backends understand this SQL.
def _tables():
    return {
        "item": Item._meta.db_table,
        "annotation": Annotation._meta.db_table,
        "skip": Skip._meta.db_table,
        "reservation": Reservation._meta.db_table,
    }


def _item_columns():
    """QUEUE_ITEM_FIELDS in the model's field order, the order ``Item.from_db`` expects them in."""
    return rawsql.attnames(Item, QUEUE_ITEM_FIELDS)


def _for_update():
    """The clause that locks the rows a statement reads (none on SQLite, whose writers are serialized)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _adapt(moment):
    return connection.ops.adapt_datetimefield_value(moment)


# "labeler_id + 0" (here and in SLOTS) keeps the planner off the labeler index: a labeler's answers
# grow faster than the statistics, and a plan that read all of them (1,300 rows, 1.3 ms, for a labeler
# of the benchmark, and growing with each answer) was chosen over probing the item's few answers.
#
# An item ``i`` of project %(project)s that may be handed to labeler %(me)s at %(now)s: fewer than k
# answers, not answered nor skipped by them, and fewer than k - answers active holds by others
# (k = the item's own overlap, else the project's %(k)s).
ELIGIBLE = """
    i.project_id = %(project)s
    AND i.n_answers < COALESCE(i.overlap, %(k)s)
    AND NOT EXISTS (SELECT 1 FROM {annotation} a WHERE a.item_id = i.id AND a.labeler_id + 0 = %(me)s{per_row})
    AND NOT EXISTS (SELECT 1 FROM {skip} s WHERE s.item_id = i.id AND s.labeler_id + 0 = %(me)s{per_row})
    AND (SELECT COUNT(*) FROM {reservation} r
         WHERE r.item_id = i.id AND r.expires > %(now)s AND r.labeler_id <> %(me)s)
        < COALESCE(i.overlap, %(k)s) - i.n_answers
"""
# The queue's two levels: campaign items (a raised priority or an overlap of their own; few, in the
# partial index item_queue_priority), then the rest, read backwards along item_queue_level from
# "k-1 answers": the plain bound on n_answers is the scan's start, and priority, constant there, is
# named in the order so any database can follow the index.
LEVELS = [
    ("(i.priority > 0 OR i.overlap IS NOT NULL)", "i.priority DESC, i.n_answers DESC, i.random_key DESC"),
    (
        "i.priority = 0 AND i.overlap IS NULL AND i.n_answers < %(k)s",
        "i.n_answers DESC, i.priority DESC, i.random_key DESC",
    ),
]
CANDIDATE = """
    SELECT {columns} FROM {item} i
    WHERE {level} AND {eligible} {passed}
    ORDER BY {order} LIMIT 1 {lock}
"""
# Take (or move) the labeler's one reservation row to the candidate, only if others' active holds still
# leave a slot when this statement starts: under READ COMMITTED that is a fresh snapshot, taken while
# we hold the candidate's row lock, so it sees every hold committed by whoever held the lock before us.
# (%(free)s: k - answers, from the locked row, which is its latest version. The labeler's own answers
# and skips need no second look: only they can add those.)
RESERVE = """
    INSERT INTO {reservation} (project_id, labeler_id, item_id, expires, created)
    SELECT %(project)s, %(me)s, %(candidate)s, %(expires)s, %(now)s
    WHERE (SELECT COUNT(*) FROM {reservation} r
           WHERE r.item_id = %(candidate)s AND r.expires > %(now)s AND r.labeler_id <> %(me)s) < %(free)s
    ON CONFLICT (labeler_id, project_id) DO UPDATE SET item_id = excluded.item_id, expires = excluded.expires
"""
# The labeler's rank among the project's labelers who hold an item now: how many with a smaller id do.
RANK = """(SELECT COUNT(*) FROM {reservation} o WHERE o.project_id = %(project)s AND o.item_id IS NOT NULL
            AND o.expires > %(now)s AND o.labeler_id < %(me)s)"""
# The labeler's current hold in the project (item id or NULL), whether the project has campaign items
# at all (so the campaign level is skipped, one round trip less, when it has none), and their RANK.
HELD = """
    SELECT (SELECT r.item_id FROM {reservation} r
            WHERE r.labeler_id = %(me)s AND r.project_id = %(project)s AND r.expires > %(now)s),
           EXISTS (SELECT 1 FROM {item} c
                   WHERE c.project_id = %(project)s AND (c.priority > 0 OR c.overlap IS NOT NULL)),
           {rank}
"""

# The item the labeler holds, locked (see _held).
HELD_ITEM = "SELECT {columns} FROM {item} i WHERE i.id = %(item)s{lock}"
# Item %(item)s, locked (waiting for it: the labeler asks for this one), if it may be handed to them
# now (ELIGIBLE): the item their page shows after their hold on it lapsed (see _hold_again).
KEPT_ITEM = "SELECT {columns} FROM {item} i WHERE i.id = %(item)s AND {eligible}{lock}"
# Extend the labeler's hold on item %(item)s, if it is still active.
EXTEND = """
    UPDATE {reservation} SET expires = %(expires)s
    WHERE project_id = %(project)s AND labeler_id = %(me)s AND item_id = %(item)s AND expires > %(now)s
"""

# What an answer needs to know about item %(item)s once it holds the item's lock: has the labeler
# answered it, do they hold it, how many active holds do others have (and, for the next item, does the
# project have campaign items, and the labeler's RANK).
SLOTS = """
    SELECT EXISTS (SELECT 1 FROM {annotation} a WHERE a.item_id = %(item)s AND a.labeler_id + 0 = %(me)s) AS answered,
           (SELECT COUNT(*) FROM {reservation} r
            WHERE r.item_id = %(item)s AND r.expires > %(now)s AND r.labeler_id = %(me)s) AS held,
           (SELECT COUNT(*) FROM {reservation} r
            WHERE r.item_id = %(item)s AND r.expires > %(now)s AND r.labeler_id <> %(me)s) AS others,
           EXISTS (SELECT 1 FROM {item} c
                   WHERE c.project_id = %(project)s AND (c.priority > 0 OR c.overlap IS NOT NULL)) AS campaign,
           {rank} AS rank
"""
# PostgreSQL: SLOTS and the first answer in one statement (one round trip less per answer). The answer
# is inserted, and counted in Item.n_answers, only when SLOTS allows a first answer: not answered yet, and
# the labeler holds the item or a slot is free (%(free)s: k - answers, from the locked row). Every part
# of the statement sees one snapshot, taken when it starts, after the item's lock is held: the same
# fresh look at the slots as SLOTS alone. The last column is the new answer's id (NULL: nothing written).
SLOTS_THEN_ANSWER = """
    WITH slots AS ({slots}),
    answer AS (
        INSERT INTO {annotation} {columns}
        SELECT {values}
        FROM slots WHERE NOT slots.answered AND (slots.held > 0 OR slots.others < %(free)s)
        RETURNING id
    ),
    counted AS ({count} AND EXISTS (SELECT 1 FROM answer))"""
SLOTS_AND_ANSWER = (
    SLOTS_THEN_ANSWER
    + """
    SELECT slots.answered, slots.held, slots.others, slots.campaign, slots.rank, (SELECT id FROM answer)
    FROM slots
"""
)
# PostgreSQL, for an answer followed by the next item (``annotation_submit_and_next``): SLOTS_AND_ANSWER
# and the next item's first candidate in one statement (one round trip less per answer). The candidate
# is taken only when the answer was written on the item the labeler held (their one reservation row then
# moves to the next item) and the project has no campaign items (the main level only): the labeler's
# spread pick (SPREAD_CANDIDATE) or, for a rank that is a multiple of SPREAD, the first candidate
# (CANDIDATE), as _take_next would take it; then _take_next goes on from there. The statement's snapshot
# does not see the answer it writes: the answered item is left out by its id instead. As ever, the row
# is locked (SKIP LOCKED) and the reservation is written by a fresh statement (RESERVE) that counts the
# others' holds again; the last columns are the candidate's (all NULL: none taken). The spread pick counts
# rows with row_number under a constant LIMIT instead of an OFFSET: an OFFSET read from the statement
# (the rank) is unknown to the planner, which then costs the scan as if a tenth of the project's items
# were read; a minute into the 8-labeler benchmark PostgreSQL switched to a plan costing 60 ms an answer.
SLOTS_ANSWER_AND_PICK = (
    SLOTS_THEN_ANSWER
    + """,
    spread_pick AS (
        SELECT {item_columns} FROM {item} i
        WHERE {gate} AND mod((SELECT slots.rank FROM slots), {spread}) > 0
          AND i.id = (SELECT c.id
                      FROM (SELECT i.id, row_number() OVER (ORDER BY {order}) AS n
                            FROM {item} i WHERE {level} AND {eligible} AND i.id <> %(item)s
                            ORDER BY {order} LIMIT {spread}) c
                      WHERE c.n = mod((SELECT slots.rank FROM slots), {spread}) + 1
                      LIMIT 1)
          AND {level}
        FOR UPDATE OF i SKIP LOCKED
    ),
    first_pick AS (
        SELECT {item_columns} FROM {item} i
        WHERE {gate} AND mod((SELECT slots.rank FROM slots), {spread}) = 0
          AND {level} AND {eligible} AND i.id <> %(item)s
        ORDER BY {order} LIMIT 1
        FOR UPDATE OF i SKIP LOCKED
    )
    SELECT slots.answered, slots.held, slots.others, slots.campaign, slots.rank, (SELECT id FROM answer), pick.*
    FROM slots LEFT JOIN (SELECT * FROM spread_pick UNION ALL SELECT * FROM first_pick) pick ON true
"""
)
# When SLOTS_ANSWER_AND_PICK takes a candidate: the answer is written on the item the labeler holds, and
# the project has no campaign items.
PICK_GATE = "(SELECT slots.held > 0 AND NOT slots.answered AND NOT slots.campaign FROM slots)"
# The labeler's spread pick: the %(spread)s-th (from 0) candidate of a level, chosen without locking
# anything, then locked if no one else has it locked (nothing comes back otherwise). The level's
# condition is checked again on the row's latest version once it is locked.
SPREAD_CANDIDATE = """
    SELECT {columns} FROM {item} i
    WHERE i.id = (SELECT i.id FROM {item} i WHERE {level} AND {eligible} {passed}
                  ORDER BY {order} LIMIT 1 OFFSET %(spread)s)
      AND {level}
    {lock}
"""


def _tables_and_rank():
    tables = _tables()
    return {**tables, "rank": RANK.format(**tables)}


def queue_candidate_sql(*, project, labeler, now, level=-1, passed=(), spread=0):
    """The SQL and parameters that pick (and lock) the next candidate of a queue level (-1: the main
    one), or with ``spread`` > 0 its ``spread``-th candidate (SPREAD_CANDIDATE). For ``queue_next`` and
    for looking at query plans (benchmarks/labeling_bench.py)."""
    if passed:
        sql = _candidate_sql(level, bool(spread), tuple(int(pk) for pk in passed), connection.vendor)
    else:  # the usual case, its text built once per process
        sql = _first_candidate_sql(level, bool(spread), connection.vendor)
    return sql, _params(project=project, labeler=labeler, now=now, spread=spread)


@cache
def _first_candidate_sql(level, spread, vendor):
    return _candidate_sql(level, spread, (), vendor)


def _candidate_sql(level, spread, passed, vendor):
    """queue_candidate_sql's text."""
    condition, order = LEVELS[level]
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        # SKIP LOCKED: a row another labeler is taking right now is passed over, not waited for.
        lock = (
            "FOR UPDATE OF i SKIP LOCKED" if connection.features.has_select_for_update_of else "FOR UPDATE SKIP LOCKED"
        )
    return (SPREAD_CANDIDATE if spread else CANDIDATE).format(
        columns=", ".join(f"i.{name}" for name in _item_columns()),
        level=condition,
        # PostgreSQL: OFFSET 0 keeps each NOT EXISTS a per-row probe for the few rows the scan reads.
        eligible=ELIGIBLE.format(**_tables(), per_row=" OFFSET 0" if vendor == "postgresql" else ""),
        passed=f"AND i.id NOT IN ({', '.join(str(pk) for pk in passed)})" if passed else "",
        order=order,
        lock=lock,
        **_tables(),
    )


def _params(*, project, labeler, now, **extra):
    adapt = connection.ops.adapt_datetimefield_value
    return {"project": project.pk, "k": project.overlap, "me": labeler.pk, "now": adapt(now), **extra}


def _lock_sql():
    """Lock item %(item)s's row (waiting for it) and read its slot counts."""
    return f"SELECT n_answers, overlap FROM {Item._meta.db_table} WHERE id = %(item)s{_for_update()}"


def _active_class_keys(project):
    """The keys of the project's active classes (what annotation_validate checks an answer against),
    or None when they are already loaded on the project (prefetched classes). Cached per process until
    the project's classes change (``labeling.selectors.active_class_keys``)."""
    if "classes" in getattr(project, "_prefetched_objects_cache", {}) or project.task_type == TaskType.TRANSCRIPTION:
        return None
    return active_class_keys(project=project)


def _release(*, labeler, item_id):
    """Give back the labeler's hold on the item, if they hold it (their reservation row stays)."""
    with rawsql.hot_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Reservation._meta.db_table} SET item_id = NULL WHERE labeler_id = %s AND item_id = %s",
            [labeler.pk, item_id],
        )


def _held(*, project, labeler, item_id, now, clock):
    """The labeler's hold on ``item_id``, extended; None when it lapsed meanwhile.

    ``clock`` answers the time after the lock is taken (``now`` again when a caller fixed the time).
    """
    # Lock the item first: at the very moment of expiry another labeler's queue_next may be counting
    # this item's slots (under the same lock) and find our hold expired; the conditional update below,
    # run after we get the lock, sees whether it still was active.
    expires = _hold_until(now)
    params = _params(project=project, labeler=labeler, now=now, item=item_id)
    with rawsql.hot_cursor() as cursor:
        columns = rawsql.select_list(Item, "i", QUEUE_ITEM_FIELDS)
        cursor.execute(HELD_ITEM.format(**_tables(), columns=columns, lock=_for_update()), params)
        row = cursor.fetchone()
        if row is None:
            return None
        item = rawsql.instance(Item, QUEUE_ITEM_FIELDS, row)
        cursor.execute(EXTEND.format(**_tables()), {**params, "now": _adapt(clock()), "expires": _adapt(expires)})
        if not cursor.rowcount:
            return None
    return _reservation(project=project, labeler=labeler, item=item, expires=expires)


def _hold_again(*, project, labeler, item_id, now):
    """Hold ``item_id`` for the labeler again if it may be handed to them now (not answered nor skipped
    by them, a slot free: ELIGIBLE), whatever its place in the queue; None otherwise. Their hold on it
    lapsed while their page kept showing it (the labeler was away), and nobody took its slot meanwhile.
    As for any candidate, the row is locked, then the slot taken by RESERVE, which counts the others'
    holds again in a fresh snapshot."""
    expires = _hold_until(now)
    params = _params(project=project, labeler=labeler, now=now, item=item_id, expires=_adapt(expires))
    sql = KEPT_ITEM.format(
        columns=", ".join(f"i.{name}" for name in _item_columns()),
        eligible=ELIGIBLE.format(**_tables(), per_row=""),
        lock=_for_update(),
        **_tables(),
    )
    with rawsql.hot_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return _reserve(cursor, RESERVE.format(**_tables()), params, project, labeler, row, expires)


@transaction.atomic
def queue_next(*, project, labeler, now=None, keep=None) -> Reservation | None:
    """Reserve the next item for ``labeler`` in ``project`` and answer the reservation (its ``item``
    loaded with the fields in QUEUE_ITEM_FIELDS, ``expires`` when the hold ends), or None when nothing
    is left for them.

    An item the labeler already holds comes back (its hold extended) until they answer or skip it.
    ``keep``: the id of the item the labeler's page shows. When they hold nothing (their hold on it
    lapsed while they were away), that item is held for them again if it may still be handed to them;
    else (another labeler took its slot, they answered or skipped it elsewhere) the queue goes on as
    without it. Without ``keep`` a lapsed hold gave the queue's next item, whatever the page showed.
    """
    clock = timezone.now if now is None else (lambda: now)
    now = clock()
    with rawsql.hot_cursor() as cursor:
        cursor.execute(HELD.format(**_tables_and_rank()), _params(project=project, labeler=labeler, now=now))
        held_item, has_campaign_items, rank = cursor.fetchone()
    if held_item is not None:
        held = _held(project=project, labeler=labeler, item_id=held_item, now=now, clock=clock)
        if held is not None:
            return held
    if keep is not None and held_item is None:
        kept = _hold_again(project=project, labeler=labeler, item_id=keep, now=now)
        if kept is not None:
            return kept
    return _take_next(project=project, labeler=labeler, now=now, has_campaign_items=has_campaign_items, rank=rank)


# _take_next's ``picked`` when no candidate was taken yet.
_NOT_PICKED = object()


def _take_next(*, project, labeler, now, has_campaign_items, rank=0, picked=_NOT_PICKED) -> Reservation | None:
    """Walk the queue's levels; lock the first candidate (the labeler's spread pick first, see the
    module docstring) and move the labeler's reservation to it if it is still eligible. Run inside a
    transaction. ``picked``: the main level's first candidate (the spread pick, or for a rank that is a
    multiple of SPREAD the first), already locked by the answer's statement (SLOTS_ANSWER_AND_PICK): its
    row, or None when there was none."""
    expires = _hold_until(now)
    params = _params(
        project=project, labeler=labeler, now=now, expires=connection.ops.adapt_datetimefield_value(expires)
    )
    reserve = RESERVE.format(**_tables())
    with rawsql.hot_cursor() as cursor:
        for level in range(len(LEVELS)):
            if level == 0 and not has_campaign_items:
                continue
            passed = []
            spread = rank % SPREAD
            if picked is not _NOT_PICKED:  # (only ever for the main level, the last: see PICK_GATE)
                row, picked = picked, _NOT_PICKED
                if row is not None:
                    reservation = _reserve(cursor, reserve, params, project, labeler, row, expires)
                    if reservation is not None:
                        return reservation
                    passed.append(row[0])
                elif not spread:  # no first candidate: the level has none left
                    continue
            elif spread:
                cursor.execute(
                    *queue_candidate_sql(project=project, labeler=labeler, now=now, level=level, spread=spread)
                )
                row = cursor.fetchone()
                if row is not None:
                    reservation = _reserve(cursor, reserve, params, project, labeler, row, expires)
                    if reservation is not None:
                        return reservation
                    passed.append(row[0])
            while True:
                cursor.execute(
                    *queue_candidate_sql(project=project, labeler=labeler, now=now, level=level, passed=passed)
                )
                row = cursor.fetchone()
                if row is None:
                    break
                reservation = _reserve(cursor, reserve, params, project, labeler, row, expires)
                if reservation is not None:
                    return reservation
                passed.append(row[0])
    return None


def _reserve(cursor, reserve, params, project, labeler, row, expires):
    """Holding the candidate's row lock, take the slot only if the item is still eligible in a fresh
    snapshot (see the module docstring and RESERVE); the reservation, or None."""
    candidate = rawsql.instance(Item, QUEUE_ITEM_FIELDS, row)
    free = (candidate.overlap or project.overlap) - candidate.n_answers
    cursor.execute(reserve, {**params, "candidate": candidate.pk, "free": free})
    if cursor.rowcount:
        return _reservation(project=project, labeler=labeler, item=candidate, expires=expires)
    return None


def _reservation(*, project, labeler, item, expires):
    """``Reservation(project=..., labeler=..., item=..., expires=...)``, built the quick way (rawsql.build):
    the hold as the queue answers it (not read back from its row, whose id it leaves out)."""
    values = {"id": None, "project_id": project.pk, "labeler_id": labeler.pk, "item_id": item.pk}
    values.update(expires=expires, created=None)
    related = (("project", project), ("labeler", labeler), ("item", item))
    return rawsql.build(Reservation, values, related, saved=False)


def _guideline(*, project, version):
    """The guideline version the labeler was shown: ``version`` of the project, or the active one."""
    if version is None:
        return project.active_guideline
    active = project.active_guideline
    if active is not None and active.version == version:
        return active
    guideline = Guideline.objects.filter(project=project, version=version).first()
    if guideline is None:
        raise ValidationError({"guideline": f"project '{project.name}' has no guideline version {version}"})
    return guideline


@transaction.atomic
def annotation_submit(
    *,
    item,
    labeler,
    value,
    borderline=False,
    borderline_with="",
    uncertain=False,
    out_of_domain=False,
    comment="",
    seconds=None,
    guideline_version=None,
    now=None,
):
    """A labeler's answer through the queue's rules. Answers (annotation, created).

    - A labeler's second answer on an item revises the first (history kept in AnnotationRevision);
      revising is always allowed.
    - A first answer takes one of the item's k slots: allowed to the holder of an active reservation
      of the item (the slot was theirs), or when a slot is free (answers + others' active reservations
      < k); otherwise ItemFull, and nothing changes.
    - ``guideline_version`` is the guideline the labeler was shown (default: the active one); it is
      stored with the answer.
    - The answer releases the labeler's reservation of the item.
    Raises ValidationError (bad value, option not offered, transcript too long, unknown guideline)
    before anything is locked or written.
    """
    answer = {
        "value": value,
        "borderline": borderline,
        "borderline_with": borderline_with,
        "uncertain": uncertain,
        "out_of_domain": out_of_domain,
        "comment": comment,
        "seconds": seconds,
    }
    annotation, created, held, _ = _submit(
        item=item, labeler=labeler, now=now or timezone.now(), guideline_version=guideline_version, **answer
    )
    if held:
        _release(labeler=labeler, item_id=item.pk)
    return annotation, created


def _submit(*, item, labeler, now, guideline_version, item_locked=False, with_next=False, **answer):
    """annotation_submit's work without the release of the hold. Answers (annotation, created, whether
    the labeler held the item, and what taking the next item needs to know: whether the project has
    campaign items and the labeler's rank). Run inside a transaction. ``item_locked``: this transaction
    has locked the item's row already and loaded its ``n_answers`` and ``overlap`` while holding the
    lock (``labeling.selectors.labeling_item_for(lock=True)``). ``with_next``: the caller takes the next
    item next (``annotation_submit_and_next``); on PostgreSQL the answer's statement then also takes its
    first candidate when it can (SLOTS_ANSWER_AND_PICK), and what _take_next needs to know of it is in
    the queue state's ``picked``."""
    project = item.project
    answer["value"] = annotation_validate(project=project, item=item, class_keys=_active_class_keys(project), **answer)
    guideline = _guideline(project=project, version=guideline_version)

    # Lock, then read the slots in a fresh statement: a sub-select in the locking statement would use
    # the snapshot taken before the lock wait and miss a reservation committed by the previous holder.
    params = _params(project=project, labeler=labeler, now=now, item=item.pk)
    with rawsql.hot_cursor() as cursor:
        if item_locked:
            n_answers, overlap = item.n_answers, item.overlap
        else:
            cursor.execute(_lock_sql(), params)
            row = cursor.fetchone()
            if row is None:  # deleted since the caller loaded it
                raise Item.DoesNotExist(f"Item {item.pk} no longer exists.")
            n_answers, overlap = row
        k = overlap or project.overlap
        inserted = None
        picked = _NOT_PICKED
        if connection.vendor == "postgresql":
            fields = answer_fields(
                **{**answer, "value": "" if answer["value"] is None else str(answer["value"])}, guideline=guideline
            )
            answer_params, created_at = first_answer_params(item=item, labeler=labeler, fields=fields)
            answer_params.update(params, free=k - n_answers)
            if with_next:
                cursor.execute(_slots_answer_and_pick_sql(), answer_params)
                row = cursor.fetchone()
                answered, held, others, has_campaign_items, rank, inserted = row[:6]
                if held and not answered and not has_campaign_items:  # PICK_GATE: a candidate was looked for
                    picked = None if row[6] is None else row[6:]
            else:
                cursor.execute(_slots_and_answer_sql(), answer_params)
                answered, held, others, has_campaign_items, rank, inserted = cursor.fetchone()
        else:
            cursor.execute(SLOTS.format(**_tables_and_rank()), params)
            answered, held, others, has_campaign_items, rank = cursor.fetchone()
    if not answered and not held and n_answers + others >= k:
        raise ItemFull(
            f"Item {item.pk} already has its {k} answers (or the remaining slots are reserved "
            "by other labelers); ask the queue for the next item."
        )
    queue_state = {"has_campaign_items": bool(has_campaign_items), "rank": rank, "picked": picked}
    if inserted is not None:
        annotation = first_answer_built(pk=inserted, item=item, labeler=labeler, fields=fields, now=created_at)
        return annotation, True, bool(held), queue_state
    annotation, created = annotation_store(
        item=item, labeler=labeler, guideline=guideline, first_answer=not answered, validated=True, **answer
    )
    return annotation, created, bool(held), queue_state


def _slots_then_answer_parts():
    """The tables and SLOTS_THEN_ANSWER's parts, which both answer statements are formatted with."""
    tables = _tables_and_rank()
    return {
        **tables,
        "slots": SLOTS.format(**tables),
        "columns": FIRST_ANSWER_COLUMNS,
        "values": FIRST_ANSWER_VALUES,
        "count": COUNT_ANSWER.format(**tables),
    }


@cache
def _slots_answer_and_pick_sql():
    parts = _slots_then_answer_parts()
    condition, order = LEVELS[-1]
    return SLOTS_ANSWER_AND_PICK.format(
        item_columns=", ".join(f"i.{name}" for name in _item_columns()),
        gate=PICK_GATE,
        spread=SPREAD,
        level=condition,
        eligible=ELIGIBLE.format(**parts, per_row=" OFFSET 0"),
        order=order,
        **parts,
    )


@cache
def _slots_and_answer_sql():
    return SLOTS_AND_ANSWER.format(**_slots_then_answer_parts())


@transaction.atomic
def annotation_submit_and_next(*, item, labeler, now=None, guideline_version=None, **answer):
    """``annotation_submit`` then ``queue_next`` in the item's project, in one transaction: the labeling
    loop's usual step in one round trip. Answers (annotation, created, reservation or None). If the
    answer is refused, nothing is reserved either."""
    return annotation_submit_and_next_locked(
        item=item, labeler=labeler, now=now, guideline_version=guideline_version, item_locked=False, **answer
    )


def annotation_submit_and_next_locked(*, item, labeler, now=None, guideline_version=None, item_locked=True, **answer):
    """``annotation_submit_and_next`` for a caller that opened the transaction and loaded the item with
    ``labeling_item_for(lock=True)`` in it (the API's ?next=1): the item's row lock is already held, so
    the answer skips its locking statement. Call it only inside that ``transaction.atomic`` block."""
    now = now or timezone.now()
    annotation, created, held, queue_state = _submit(
        item=item,
        labeler=labeler,
        now=now,
        guideline_version=guideline_version,
        item_locked=item_locked,
        with_next=True,
        **answer,
    )
    if not held:
        # The labeler may hold another item of the project: the usual path gives that one back.
        return annotation, created, queue_next(project=item.project, labeler=labeler, now=now)
    # Their one reservation row points at the item just answered: taking the next item moves it there,
    # so there is no hold to look for and nothing to release first; with no next item, release it.
    reservation = _take_next(project=item.project, labeler=labeler, now=now, **queue_state)
    if reservation is None:
        _release(labeler=labeler, item_id=item.pk)
    return annotation, created, reservation


@transaction.atomic
def item_skip(*, item, labeler, reason) -> Skip:
    """Pass on an item with a reason: the queue never offers it to this labeler again (until a relabel
    campaign or a reviewer's send-back sends the item back: the skip is then archived, its reason kept,
    and the item offered to them again), and their reservation of it is released (the slot goes back to
    the others). Skipping twice keeps the first skip and updates its reason. An item the labeler has
    answered cannot be skipped (revise the answer).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "say why you skip the item (e.g. 'cannot see it', 'not sure')"})
    if len(reason) > MAX_SKIP_REASON_CHARS:
        raise ValidationError({"reason": f"the reason is over {MAX_SKIP_REASON_CHARS} characters"})
    if Annotation.objects.filter(item=item, labeler=labeler).exists():
        raise ValidationError({"item": f"you have answered item {item.pk}; change your answer instead of skipping"})
    skip, _ = Skip.objects.update_or_create(item=item, labeler=labeler, defaults={"reason": reason})
    # Releasing frees a slot, which can never over-allocate one: no item lock needed.
    Reservation.objects.filter(labeler=labeler, item=item).update(item=None)
    return skip


def reservation_release(*, project, labeler) -> bool:
    """Give back the item the labeler holds in the project, if any; answers whether one was held."""
    return bool(Reservation.objects.filter(project=project, labeler=labeler, item__isnull=False).update(item=None))


@transaction.atomic
def item_answer_counts_rebuild(*, project) -> int:
    """Recount ``Item.n_answers`` from the annotation rows for every item of the project (a repair for
    data changed outside the services, e.g. annotations deleted in bulk). Answers the items changed."""
    actual = Subquery(
        Annotation.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("pk")).values("n")
    )
    items = Item.objects.filter(project=project).annotate(actual=Coalesce(actual, Value(0)))
    return Item.objects.filter(pk__in=items.exclude(n_answers=F("actual")).values("pk")).update(
        n_answers=Coalesce(actual, Value(0))
    )
