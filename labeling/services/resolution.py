"""Which label each item gets: reading the answers that count under a recipe, and resolving them.

Shared by dataset versions (``labeling.services.versions``) and error analysis (the same labels a model
is judged against). Reads stream: answers arrive in item order in blocks cut at item boundaries
(PostgreSQL: a binary ``COPY ... TO STDOUT`` parsed with ``numpy.frombuffer``; elsewhere a cursor), so
a majority vote is resolved block by block and only per-item results are kept (about 30 bytes an item
plus 8 per distinct (item, category) pair). Dawid-Skene is a global fit: it holds every counted answer
(about 20 bytes each) and a units × labelers matrix.

Codes: an answer's category is an index into ``Categories.names``; -1 means it does not count (a left-out
flag, an unknown or retired class without a mapping, an empty transcript).
"""

from dataclasses import dataclass, field

import numpy as np
from django.db import connection
from django.db.models import Case, IntegerField, Value, When
from django.db.models.expressions import RawSQL

from analysis.metrics import dawid_skene_answers, normalize_transcript
from labeling import selectors
from labeling.choices import TaskType
from labeling.models import Annotation, ArchivedAnnotation, Item
from labeling.selectors import class_mapping
from labeling.services.recipes import FLAGS, recipe_moment

ANSWER_BLOCK_BYTES = 8 * 1024 * 1024
FETCH_ROWS = 50_000
FLAG_BITS = {"borderline": 1, "uncertain": 2, "out_of_domain": 4}
REVIEW_REASONS = ("tie", "low_agreement", "few_answers")


def recipe_items(*, project, filters):
    """The project's items under the recipe's item filters (sources, tags, creation dates)."""
    items = Item.objects.filter(project=project)
    if filters.get("sources"):
        items = items.filter(source__name__in=filters["sources"])
    links = Item.tags.through.objects.filter(tag__project=project)
    if filters.get("tags"):
        items = items.filter(pk__in=links.filter(tag__name__in=filters["tags"]).values("item_id"))
    if filters.get("exclude_tags"):
        items = items.exclude(pk__in=links.filter(tag__name__in=filters["exclude_tags"]).values("item_id"))
    if filters.get("created_from"):
        items = items.filter(created__gte=recipe_moment(filters["created_from"]))
    if filters.get("created_to"):
        items = items.filter(created__lte=recipe_moment(filters["created_to"], end=True))
    return items


def _answers_queryset(project, filters, items):
    answers = Annotation.objects.filter(item__project=project)
    if any(filters.get(k) for k in ("sources", "tags", "exclude_tags", "created_from", "created_to")):
        answers = answers.filter(item_id__in=items.values("pk"))
    if filters.get("guideline") is not None:
        answers = answers.filter(guideline__project=project, guideline__version=filters["guideline"])
    if filters.get("answered_to"):
        answers = answers.filter(updated__lte=recipe_moment(filters["answered_to"]))
    return answers


def recipe_answers(*, project, filters, items):
    """The project's current answers under the recipe's filters (its items, ``guideline``, ``answered_to``)."""
    return _answers_queryset(project, filters, items)


def effective_class_map(*, project, policy) -> dict[str, str]:
    """Old class key → the key it counts as: the project's taxonomy changes (``class_mapping``), then the
    recipe's own ``class_map`` over them; chains (a → b → c) are followed to their end."""
    mapping = {**(class_mapping(project=project) or {}), **policy.get("class_map", {})}
    resolved = {}
    for old in mapping:
        new, seen = mapping[old], {old}
        while new in mapping and new not in seen:
            seen.add(new)
            new = mapping[new]
        resolved[old] = new
    return resolved


def decisions_with_flags(*, project) -> dict[int, tuple[str, set[str]]]:
    """SME decisions by item id: (label, flags), the latest decision of each item whose action is a label.

    Read through the review feature's selectors when they exist (``latest_decisions``, else
    ``decided_labels``); ``{}`` without them. ``flags`` holds the decision's borderline / uncertain /
    out_of_domain marks.
    """
    latest = getattr(selectors, "latest_decisions", None)
    if latest is not None:
        out = {}
        for item_id, d in latest(project=project).items():
            if getattr(d, "action", "label") != "label":
                continue
            flags = {f for f in FLAGS if getattr(d, f, False)}
            if d.label or flags:
                out[item_id] = (d.label, flags)
        return out
    labels = getattr(selectors, "decided_labels", None)
    return {item_id: (label, set()) for item_id, label in (labels(project=project) if labels else {}).items()}


def decisions_for(*, project) -> dict[int, str]:
    """SME decisions by item id as one label each: the decided class key (or transcript), or for a decision
    that only flags the item, the strongest flag's name (``out_of_domain``, ``uncertain``, ``borderline``)."""
    return {
        item_id: label or next(f for f in FLAGS if f in flags)
        for item_id, (label, flags) in decisions_with_flags(project=project).items()
    }


def transcript_normalizer(*, project, policy):
    """``str -> str``: the project's transcript conventions in force (the review feature's
    ``transcript_conventions`` selector, when the recipe's ``transcripts.conventions`` is on), then
    ``analysis.metrics.normalize_transcript`` with the recipe's options."""
    options = policy["transcripts"]
    conventions = None
    getter = getattr(selectors, "transcript_conventions", None)
    if options.get("conventions", True) and getter is not None:
        conventions = getter(project=project)
    rules = [tuple(r) for r in options["rules"]] or None

    def normalize(text):
        text = text or ""
        if conventions is not None:
            text = conventions.apply(text)
        return normalize_transcript(
            text,
            case=options["case"],
            punctuation=options["punctuation"],
            whitespace=options["whitespace"],
            rules=rules,
        )

    return normalize


@dataclass
class Categories:
    """What counted answers are coded as: ``names[code]``."""

    names: list[str]
    index: dict[str, int] = field(default_factory=dict)

    def code(self, name):
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]


@dataclass
class AnswerArrays:
    """Answers in (item, labeler) order: item id, labeler id, code (-1: not counted), weight (1 for a
    current answer, the recipe's ``archived_weight`` for one archived by a relabel campaign);
    equal-length arrays."""

    item: np.ndarray
    labeler: np.ndarray
    code: np.ndarray
    weight: np.ndarray | None = None

    def __post_init__(self):
        if self.weight is None:
            self.weight = np.ones(len(self.item), dtype=np.float64)

    def __iter__(self):
        return iter((self.item, self.labeler, self.code, self.weight))

    def part(self, start, stop=None):
        return AnswerArrays(*(a[start:stop] for a in self))

    def weighted(self, weight):
        return AnswerArrays(self.item, self.labeler, self.code, np.full(len(self.item), float(weight)))


def _flag_sql(table):
    return " + ".join(f"CASE WHEN {table}.{column} THEN {bit} ELSE 0 END" for column, bit in FLAG_BITS.items())


def _classification_codes(project, class_map, categories):
    """SQL CASE coding an answer's value into a category code, and per flag the code it becomes."""
    keys = [c.key for c in project.active_classes()]
    for key in keys:
        categories.code(key)
    # Mapped keys first: a recipe may map an active class into another one.
    whens = [When(value=old, then=Value(categories.index[new])) for old, new in class_map.items() if new in keys]
    whens += [When(value=key, then=Value(categories.index[key])) for key in keys if key not in class_map]
    value_code = Case(*whens, default=Value(-1), output_field=IntegerField()) if whens else Value(-1)
    return value_code


def _flag_targets(policy, categories, map_value):
    """Per flag: ("exclude" | "value" | code)."""
    targets = {}
    for flag in FLAGS:
        rule = policy[flag]
        if rule == "class":
            targets[flag] = categories.code(flag)
        elif rule.startswith("map:"):
            targets[flag] = categories.code(map_value(rule[4:]))
        else:
            targets[flag] = rule
    return targets


def _apply_flags(code, flags, targets):
    """Recode flagged answers in place, strongest flag last so that it wins."""
    for flag in reversed(FLAGS):  # borderline, uncertain, out_of_domain
        hit = (flags & FLAG_BITS[flag]) > 0
        target = targets[flag]
        if target == "exclude":
            code[hit] = -1
        elif target != "value":
            code[hit] = target
    # "value" keeps the answer's own code; an answer without a value stays -1 (not counted).
    return code


def _copy_binary_blocks(queryset, columns):
    """PostgreSQL: stream an all-integer query through a binary COPY; one dict of int64 arrays per ~8 MB.

    Every column is cast to int8 (never NULL), so each row is 2 + 12 × n bytes and a block of rows is
    one ``numpy.frombuffer`` — no text parsing, and no allocator holding on to parse buffers.
    """
    from psycopg import ClientCursor

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    raw = connection.connection
    inner = ClientCursor(raw).mogrify(sql, params)
    names = [f"c{i}" for i in range(len(columns))]
    select = ", ".join(f"{connection.ops.quote_name(n)}::int8" for n in names)
    query = f"SELECT {select} FROM ({inner}) AS q ({', '.join(names)})"
    row = np.dtype([("n", ">i2")] + [field for c in columns for field in ((f"len_{c}", ">i4"), (c, ">i8"))])
    header = 19  # PGCOPY signature (11), flags (4), header extension length (4, zero)
    pending = bytearray()
    started = False

    def parse(buffer, count):
        rows = np.frombuffer(buffer, dtype=row, count=count)
        return {c: rows[c].astype(np.int64) for c in columns}

    with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        for chunk in copy:
            pending += chunk
            if not started and len(pending) >= header:
                del pending[:header]
                started = True
            if len(pending) >= ANSWER_BLOCK_BYTES:
                count = len(pending) // row.itemsize
                yield parse(pending, count)
                del pending[: count * row.itemsize]
    if started and len(pending) > 2:  # the rest, without the trailer (int16 -1)
        count = (len(pending) - 2) // row.itemsize
        yield parse(pending, count)


def _fetch_blocks(queryset, columns, size=FETCH_ROWS):
    """Any database: the query's rows in blocks, as lists per column."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield dict(zip(columns, (list(col) for col in zip(*rows, strict=True)), strict=True))


def _item_boundary_blocks(blocks):
    """Re-cut blocks of answers so that no item spans two blocks (the last item waits for the next)."""
    carry = None
    for block in blocks:
        if carry is not None:
            block = AnswerArrays(*(np.concatenate([a, b]) for a, b in zip(carry, block, strict=True)))
        if not len(block.item):
            carry = block
            continue
        last = block.item[-1]
        cut = int(np.searchsorted(block.item, last, side="left"))
        if cut == 0:
            carry = block
            continue
        yield block.part(0, cut)
        carry = block.part(cut)
    if carry is not None and len(carry.item):
        yield carry


def answer_blocks(*, project, policy, items, class_map, beat=None):
    """(categories, blocks): the answers that count under ``policy``, coded, in (item, labeler) order,
    as AnswerArrays blocks that never split an item. ``categories`` fills while transcripts are read.

    Classification: values are coded in SQL (class keys and the class map; unknown or retired unmapped
    values get -1, not counted). Transcription: transcripts are normalized with the recipe's conventions
    and coded by their normalized text. Flag rules then recode flagged answers.
    """
    transcription = project.task_type == TaskType.TRANSCRIPTION
    categories = Categories(names=[])
    table = connection.ops.quote_name(Annotation._meta.db_table)
    answers = _answers_queryset(project, policy["filters"], items).annotate(
        flags=RawSQL(_flag_sql(table), [], output_field=IntegerField())
    )
    if transcription:
        normalize = transcript_normalizer(project=project, policy=policy)
        targets = _flag_targets(policy, categories, normalize)
        columns = ["item_id", "labeler_id", "value", "flags"]
        raw = _fetch_blocks(answers.order_by("item_id", "labeler_id").values_list(*columns), columns)
    else:
        value_code = _classification_codes(project, class_map, categories)
        targets = _flag_targets(policy, categories, lambda key: key)
        columns = ["item_id", "labeler_id", "code", "flags"]
        query = answers.annotate(code=value_code).order_by("item_id", "labeler_id").values_list(*columns)
        reader = _copy_binary_blocks if connection.vendor == "postgresql" else _fetch_blocks
        raw = reader(query, columns)

    archived = _archived_answers(
        project=project, policy=policy, items=items, class_map=class_map, categories=categories, targets=targets
    )
    taken = 0

    def merged(block, *, final=False):
        """The block with the archived answers of its items (those before its last item: that item's
        answers may go on in the next block), in item order."""
        nonlocal taken
        stop = len(archived.item) if final else int(np.searchsorted(archived.item, block.item[-1], side="left"))
        if stop <= taken:
            return block
        extra = archived.part(taken, stop)
        taken = stop
        both = AnswerArrays(*(np.concatenate([a, b]) for a, b in zip(block, extra, strict=True)))
        order = np.lexsort((both.labeler, both.item))
        return AnswerArrays(*(a[order] for a in both))

    def coded():
        for block in current():
            yield merged(block) if len(block.item) else block
        if taken < len(archived.item):
            yield merged(_concat([]), final=True)

    def current():
        n = 0
        for block in raw:
            if transcription:
                codes = np.array(
                    [categories.code(t) if (t := normalize(v)) else -1 for v in block["value"]], dtype=np.int64
                )
            else:
                codes = np.array(block["code"], dtype=np.int64)
            codes = _apply_flags(codes, np.asarray(block["flags"], dtype=np.int64), targets)
            n += len(codes)
            if beat:
                beat.set(phase=f"reading answers ({n:,})")
            yield AnswerArrays(
                np.asarray(block["item_id"], dtype=np.int64),
                np.asarray(block["labeler_id"], dtype=np.int64),
                codes.astype(np.int32),
            )

    return categories, _item_boundary_blocks(coded())


def _archived_answers(*, project, policy, items, class_map, categories, targets) -> AnswerArrays:
    """Answers archived by relabel campaigns, as evidence: per campaign, item and labeler the answer as
    it stood when the campaign started (not its earlier revisions), coded like current answers, under
    the same filters (items, ``guideline``, ``answered_to`` on the answer's time), each of weight
    ``policy["archived_weight"]``; none at weight 0. Sorted by (item, labeler)."""
    weight = float(policy.get("archived_weight", 0))
    if weight <= 0:
        return _concat([])
    return _archived_coded(
        project=project, policy=policy, items=items, class_map=class_map, categories=categories, targets=targets
    )[0].weighted(weight)


def _archived_coded(*, project, policy, items, class_map, categories, targets) -> tuple[AnswerArrays, np.ndarray]:
    """(answers, campaign ids): every campaign's archived answers as they stood (one per campaign, item
    and labeler), coded like current answers under the recipe's filters, sorted by (item, labeler,
    campaign), weight 1."""
    empty = _concat([])
    filters = policy["filters"]
    rows = ArchivedAnnotation.objects.filter(campaign__project=project)
    if any(filters.get(k) for k in ("sources", "tags", "exclude_tags", "created_from", "created_to")):
        rows = rows.filter(item_id__in=items.values("pk"))
    if filters.get("guideline") is not None:
        rows = rows.filter(guideline__project=project, guideline__version=filters["guideline"])
    if filters.get("answered_to"):
        rows = rows.filter(answered__lte=recipe_moment(filters["answered_to"]))
    latest = {
        key: (value, b * 1 + u * 2 + o * 4) for key, (value, b, u, o) in selectors.archived_as_they_stood(rows).items()
    }
    if not latest:
        return empty, np.zeros(0, dtype=np.int64)
    transcription = project.task_type == TaskType.TRANSCRIPTION
    if transcription:
        normalize = transcript_normalizer(project=project, policy=policy)
    else:
        keys = {c.key for c in project.active_classes()}

    def code_of(value):
        if transcription:
            text = normalize(value)
            return categories.code(text) if text else -1
        if value in class_map:
            return categories.index[class_map[value]] if class_map[value] in keys else -1
        return categories.index[value] if value in keys else -1

    ordered = sorted(
        (item, labeler, campaign, value, flags) for (campaign, item, labeler), (value, flags) in latest.items()
    )
    codes = np.array([code_of(r[3]) for r in ordered], dtype=np.int64)
    flags = np.array([r[4] for r in ordered], dtype=np.int64)
    answers = AnswerArrays(
        np.array([r[0] for r in ordered], dtype=np.int64),
        np.array([r[1] for r in ordered], dtype=np.int64),
        _apply_flags(codes, flags, targets).astype(np.int32),
    )
    return answers, np.array([r[2] for r in ordered], dtype=np.int64)


def one_answer_each(current: AnswerArrays, archived: AnswerArrays, campaign) -> AnswerArrays:
    """The answers human agreement (HLP) is measured on: per item and labeler ONE answer, weight 1 — the
    labeler's current answer if they have one, else their answer a relabel campaign archived as it stood
    (of ``archived``, from :func:`_archived_coded`, the latest ``campaign``'s). One labeler's archived
    answer and their new one are never a pair of two labelers; an item a campaign sent back keeps its
    archived answers until they are replaced. ``current`` (one answer per item and labeler) with those
    archived answers after it, unsorted; ``current`` itself when nothing is archived."""
    if not len(archived.item):
        return current
    width = int(max(current.labeler.max(initial=0), archived.labeler.max())) + 1
    key = archived.item * width + archived.labeler
    order = np.lexsort((-np.asarray(campaign, np.int64), key))
    latest = order[np.r_[True, key[order][1:] != key[order][:-1]]]  # the latest campaign's of each pair
    answered = current.item * width + current.labeler
    if len(answered) > 1 and (answered[1:] < answered[:-1]).any():
        answered = np.sort(answered)
    at = np.minimum(np.searchsorted(answered, key[latest]), max(len(answered) - 1, 0))
    standing = latest[~(answered[at] == key[latest])] if len(answered) else latest
    return AnswerArrays(
        np.concatenate([current.item, archived.item[standing]]),
        np.concatenate([current.labeler, archived.labeler[standing]]),
        np.concatenate([current.code, archived.code[standing]]),
    )


def _concat(blocks):
    blocks = list(blocks)
    if not blocks:
        empty = np.zeros(0, dtype=np.int64)
        return AnswerArrays(empty, empty.copy(), np.zeros(0, dtype=np.int32), np.zeros(0))
    return AnswerArrays(*(np.concatenate(parts) for parts in zip(*blocks, strict=True)))


def answers_read(*, project, policy, items, class_map, beat=None) -> tuple[AnswerArrays, Categories]:
    """Every answer that counts under ``policy`` in one AnswerArrays (see ``answer_blocks``)."""
    categories, blocks = answer_blocks(project=project, policy=policy, items=items, class_map=class_map, beat=beat)
    return _concat(blocks), categories


def answers_read_with_agreement(*, project, policy, items, class_map) -> tuple[AnswerArrays, AnswerArrays, Categories]:
    """(answers, human, categories): ``answers`` every answer that counts under ``policy``, as
    :func:`answers_read` (archived ones at ``archived_weight``), for resolving labels; ``human`` the
    answers human agreement is measured on (:func:`one_answer_each`: one per item and labeler), coded
    alike."""
    current, categories = answers_read(
        project=project, policy={**policy, "archived_weight": 0}, items=items, class_map=class_map
    )
    if project.task_type == TaskType.TRANSCRIPTION:
        normalize = transcript_normalizer(project=project, policy=policy)
    else:

        def normalize(key):
            return key

    targets = _flag_targets(policy, categories, normalize)
    archived, campaign = _archived_coded(
        project=project, policy=policy, items=items, class_map=class_map, categories=categories, targets=targets
    )
    answers = current
    weight = float(policy.get("archived_weight", 0))
    if weight > 0 and len(archived.item):
        both = _concat([current, archived.weighted(weight)])
        order = np.lexsort((both.labeler, both.item))
        answers = AnswerArrays(*(a[order] for a in both))
    return answers, one_answer_each(current, archived, campaign), categories


@dataclass
class Resolution:
    """Per answered item (sorted by id): the resolved code (-1: none), why not, agreement, answer counts.

    ``reason``: 0 resolved, 1 tie, 2 low agreement, 3 too few counted answers. ``t_ptr[i]:t_ptr[i+1]``
    slices ``t_code``/``t_count``/``t_weight``: item i's counted answers per category, in category order,
    and their weight (a current answer 1, an archived one ``archived_weight``: what the majority compares).
    """

    item: np.ndarray
    code: np.ndarray
    reason: np.ndarray
    agreement: np.ndarray
    n_all: np.ndarray
    t_ptr: np.ndarray
    t_code: np.ndarray
    t_count: np.ndarray
    t_weight: np.ndarray | None = None


def resolve(
    answers: AnswerArrays, *, n_categories, consensus, min_answers, min_agreement, rater_prior=None
) -> Resolution:
    """Consensus for every answered item, vectorized.

    Majority: the category with strictly the most weight of counted answers wins (a current answer
    weighs 1, an archived one the recipe's ``archived_weight``; a tie is unresolved); agreement is its
    share of the counted weight. Dawid-Skene (``analysis.metrics.dawid_skene_answers``, answers
    weighted the same way): the class with the highest posterior; agreement is that posterior.
    ``rater_prior`` {labeler id: prior accuracy} (``labeler_priors``) keeps a labeler who shares no
    item with anyone from collapsing to uniform posteriors. Then an item with fewer than
    ``min_answers`` counted answers is "few_answers", and one whose agreement is below
    ``min_agreement`` "low_agreement".
    """
    n = len(answers.item)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        i32 = z.astype(np.int32)
        return Resolution(
            z, i32, z.astype(np.int8), z.astype(float), i32, np.zeros(1, np.int64), i32, i32, z.astype(float)
        )
    starts = np.flatnonzero(np.r_[True, answers.item[1:] != answers.item[:-1]])
    items = answers.item[starts]
    n_items = len(items)
    n_all = np.diff(np.r_[starts, n])
    position = np.repeat(np.arange(n_items), n_all)
    counted = answers.code >= 0
    k = max(int(n_categories), 1)
    keys, inverse, t_count = np.unique(
        position[counted] * k + answers.code[counted], return_inverse=True, return_counts=True
    )
    t_weight = np.bincount(inverse.ravel(), weights=answers.weight[counted], minlength=len(keys))
    t_pos, t_code = keys // k, keys % k
    t_ptr = np.searchsorted(t_pos, np.arange(n_items + 1))
    n_counted = np.bincount(t_pos, weights=t_count, minlength=n_items)
    w_counted = np.bincount(t_pos, weights=t_weight, minlength=n_items)
    code = np.full(n_items, -1, dtype=np.int64)
    agreement = np.zeros(n_items, dtype=np.float64)
    reason = np.zeros(n_items, dtype=np.int8)
    has = t_ptr[1:] > t_ptr[:-1]
    if consensus == "dawid_skene" and counted.any():
        labelers, rater = np.unique(answers.labeler[counted], return_inverse=True)
        prior = None
        if rater_prior:
            prior = np.array([rater_prior.get(int(labeler), np.nan) for labeler in labelers])
        picked = np.flatnonzero(has)
        result = dawid_skene_answers(
            position[counted],
            rater.ravel(),
            answers.code[counted],
            n_units=n_items,
            n_raters=len(labelers),
            categories=list(range(k)),
            weights=answers.weight[counted],
            rater_prior=prior,
        )
        code[picked] = result.codes[picked]
        agreement[picked] = result.posterior[picked].max(axis=1)
    elif len(t_pos):
        # Within each item, categories by weight, largest first: the first is the winner, the second
        # decides whether it is a tie.
        weight = np.round(t_weight, 9)
        order = np.lexsort((-weight, t_pos))
        first = t_ptr[:-1][has]
        top = order[first]
        top_weight = weight[top]
        runner_up = np.zeros(len(first))
        two = (t_ptr[1:][has] - first) > 1
        runner_up[two] = weight[order[first[two] + 1]]
        positions = np.flatnonzero(has)
        tie = runner_up == top_weight
        code[positions] = np.where(tie, -1, t_code[top])
        agreement[positions] = top_weight / w_counted[positions]
        reason[positions[tie]] = 1
    low = (reason == 0) & (agreement < min_agreement)
    reason[low] = 2
    few = n_counted < min_answers
    reason[few] = 3
    code[reason > 0] = -1
    agreement[~has] = np.nan
    return Resolution(
        items,
        code.astype(np.int32),
        reason,
        agreement,
        n_all.astype(np.int32),
        t_ptr,
        t_code.astype(np.int32),
        t_count.astype(np.int32),
        t_weight.astype(np.float64),
    )


def resolve_blocks(blocks, categories, *, consensus, min_answers, min_agreement, rater_prior=None) -> Resolution:
    """``resolve`` over a stream of AnswerArrays blocks (cut at item boundaries, in item order).
    ``rater_prior``: for Dawid-Skene, {labeler id: accuracy} or a function of all the answers that
    answers it (``labeler_priors``).

    A majority vote needs nothing beyond an item's own answers, so each block is resolved and dropped;
    Dawid-Skene estimates every labeler's confusion from all answers, so its blocks are gathered first.
    """
    options = {"consensus": consensus, "min_answers": min_answers, "min_agreement": min_agreement}
    if consensus == "dawid_skene":
        answers = _concat(blocks)
        prior = rater_prior(answers) if callable(rater_prior) else rater_prior
        return resolve(answers, n_categories=len(categories.names), rater_prior=prior, **options)
    parts = [resolve(block, n_categories=len(categories.names), **options) for block in blocks]
    if not parts:
        return resolve(_concat([]), n_categories=1, **options)
    offsets = np.cumsum([0] + [len(p.t_code) for p in parts])
    return Resolution(
        item=np.concatenate([p.item for p in parts]),
        code=np.concatenate([p.code for p in parts]),
        reason=np.concatenate([p.reason for p in parts]),
        agreement=np.concatenate([p.agreement for p in parts]),
        n_all=np.concatenate([p.n_all for p in parts]),
        t_ptr=np.concatenate([p.t_ptr[:-1] + o for p, o in zip(parts, offsets, strict=False)] + [offsets[-1:]]),
        t_code=np.concatenate([p.t_code for p in parts]),
        t_count=np.concatenate([p.t_count for p in parts]),
        t_weight=np.concatenate([p.t_weight for p in parts]),
    )


def decision_codes(*, project, policy, categories, class_map):
    """SME decisions as {item id: category code, or -1 for "leave the item out"}, mapped like answers.

    A flagged decision (out of domain, uncertain, borderline) follows the recipe's flag rule, as an
    answer would; under "exclude" the SME has said the item does not belong, so it is left out rather
    than resolved by its answers. Decisions on classes the recipe does not know are ignored.
    """
    if not policy["use_decisions"]:
        return {}
    transcription = project.task_type == TaskType.TRANSCRIPTION
    normalize = transcript_normalizer(project=project, policy=policy) if transcription else None
    out = {}
    for item_id, (label, flags) in decisions_with_flags(project=project).items():
        flag = next((f for f in FLAGS if f in flags), None)
        rule = policy[flag] if flag else "value"
        if rule == "exclude":
            out[int(item_id)] = -1
            continue
        if rule == "class":
            label = flag
        elif rule.startswith("map:"):
            label = rule[4:]
        if transcription:
            text = normalize(label) if label else ""
            if text:
                out[int(item_id)] = categories.code(text)
        else:
            key = class_map.get(label, label)
            if key in categories.index:
                out[int(item_id)] = categories.index[key]
    return out


PRIOR_ACCURACY = 0.7  # a labeler nobody can check yet: right more often than not, not trusted blindly
PRIOR_WEIGHT = 2.0  # ... worth two checked answers


def labeler_priors(*, answers: AnswerArrays, reference: dict[int, int]) -> dict[int, float]:
    """{labeler id: prior accuracy} for Dawid-Skene, from each labeler's record: their answers on items
    with a reference label (SME decisions, gold among them: right or wrong) and their history (on
    items others answered too, the share of the others' answers that agree with theirs), smoothed
    toward ``PRIOR_ACCURACY`` by ``PRIOR_WEIGHT`` answers. Archived answers count at their weight."""
    counted = answers.code >= 0
    item, labeler, code, weight = (a[counted] for a in answers)
    if not len(item):
        return {}
    labelers, rater = np.unique(labeler, return_inverse=True)
    rater = rater.ravel()
    hits = np.zeros(len(labelers))
    seen = np.zeros(len(labelers))
    if reference:
        ref_items = np.fromiter(reference, dtype=np.int64)
        ref_codes = np.fromiter(reference.values(), dtype=np.int64)
        order = np.argsort(ref_items)
        ref_items, ref_codes = ref_items[order], ref_codes[order]
        pos = np.minimum(np.searchsorted(ref_items, item), len(ref_items) - 1)
        checked = (ref_items[pos] == item) & (ref_codes[pos] >= 0)
        np.add.at(seen, rater[checked], weight[checked])
        np.add.at(hits, rater[checked], weight[checked] * (code[checked] == ref_codes[pos][checked]))
    # History: agreement with the other answers on the same item (weights ignored: a rough record).
    keys, inverse, same = np.unique(item * (int(code.max()) + 1) + code, return_inverse=True, return_counts=True)
    items_of, per_item = np.unique(item, return_inverse=True, return_counts=True)[1:]
    others = per_item[items_of.ravel()] - 1
    agree = same[inverse.ravel()] - 1
    shared = others > 0
    np.add.at(seen, rater[shared], weight[shared])
    np.add.at(hits, rater[shared], weight[shared] * agree[shared] / others[shared])
    accuracy = (hits + PRIOR_ACCURACY * PRIOR_WEIGHT) / (seen + PRIOR_WEIGHT)
    return {int(labeler_id): float(a) for labeler_id, a in zip(labelers, accuracy, strict=True)}
