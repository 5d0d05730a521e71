"""Localized labels: IoU, one-to-one matching, box/segment F1, split/merge, consensus and COCO AP.

Shapes
------
Two kinds, as in the API's "Localized answers":

- ``"boxes"``: ``x, y, w, h`` — top-left corner and size as fractions of the image's width and height.
- ``"segments"``: ``start, end`` in seconds.

Every function that looks at many items takes a :class:`ShapeTable`: one row per shape (item, labeler,
label and coordinates as NumPy arrays) plus the list of every (item, labeler) answer, so that an empty
answer ("nothing here") still counts as that labeler having answered. Build one with
:func:`shape_table` (from answers as the API stores them) or :func:`shape_table_from_arrays` (codes and
coordinates, the fast way for big data).

Missing values: a shape with a NaN coordinate overlaps nothing (IoU 0, coverage 0) and so never
matches; it still counts as a shape its labeler drew. Labels are compared for equality only.

Matching (the API contract): for an item and a pair of its labelers, shapes are matched one to one so
as to maximise the total IoU among pairs with IoU ≥ ``iou`` and the same label
(``scipy.optimize.linear_sum_assignment``). Pairs of shapes whose IoU edges touch no other edge are
matched directly (the fast path); only the rest go through the assignment solver, item pair by item
pair.

Design for speed: all candidate pairs are generated per (item, label) block with NumPy (never a Python
loop per box), in chunks to bound memory; groupings use one integer key and a 1-D sort (NumPy 2's
``np.unique`` hashes, and its ``axis=0`` form sorts rows, both many times slower); the per-labeler part
(each labeler against the others' consensus) runs for all labelers at once on leave-one-out copies;
the assignment solver sees only groups with a real choice. Million-row temporaries are few and freed
early: on the virtual machines this runs on, fresh memory costs more CPU (page faults) than the
arithmetic. 100,000 images × 3 labelers × 5 boxes: ``benchmarks/shapes_bench.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from ._common import MetricUndefined
from .bootstrap import Interval, _check_args, _percentiles, _weights

__all__ = [
    "BOXES",
    "SEGMENTS",
    "ShapeAgreement",
    "ShapeTable",
    "average_precision",
    "box_f1",
    "box_iou",
    "consensus",
    "item_f1",
    "labeler_average_precision",
    "class_swaps",
    "match_shapes",
    "pooled_f1",
    "relabel_table",
    "segment_f1",
    "segment_iou",
    "shape_agreement",
    "shape_table",
    "shape_table_from_arrays",
    "shapes_average_precision",
    "split_merge",
]

BOXES = "boxes"
SEGMENTS = "segments"
KINDS = (BOXES, SEGMENTS)
COVER = 0.7  # a shape is "inside" another when at least this share of its area (or length) is
# IoUs within this of the threshold count as reaching it: fractions such as 0.12 / 0.24 are not exact
# in floating point, and a box drawn at exactly the threshold must not depend on rounding.
_EPS = 1e-9
_CHUNK_PAIRS = 250_000  # candidate pairs per chunk: bounds memory on big projects


# --------------------------------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------------------------------
def _corners(kind: str, coords: np.ndarray) -> np.ndarray:
    """Boxes ``(n, 4)`` x, y, w, h → x1, y1, x2, y2; segments ``(n, 2)`` unchanged."""
    coords = np.asarray(coords, dtype=np.float64)
    if kind == SEGMENTS:
        return coords.reshape(-1, 2)
    coords = coords.reshape(-1, 4)
    return np.concatenate([coords[:, :2], coords[:, :2] + coords[:, 2:]], axis=1)


def _size(kind: str, c: np.ndarray) -> np.ndarray:
    """Area (boxes, corner form) or length (segments) of each row; negative sizes count as 0."""
    if kind == SEGMENTS:
        return np.clip(c[..., 1] - c[..., 0], 0, None)
    return np.clip(c[..., 2] - c[..., 0], 0, None) * np.clip(c[..., 3] - c[..., 1], 0, None)


def _intersection(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection size of broadcast rows ``a`` and ``b`` (corner form); NaN rows give 0."""
    if kind == SEGMENTS:
        inter = np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0])
        return np.nan_to_num(np.clip(inter, 0, None), nan=0.0)
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.nan_to_num(np.clip(iw, 0, None) * np.clip(ih, 0, None), nan=0.0)


def _iou_rows(kind: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elementwise (IoU, share of a inside b, share of b inside a) of broadcast corner rows."""
    inter = _intersection(kind, a, b)
    sa, sb = np.nan_to_num(_size(kind, a), nan=0.0), np.nan_to_num(_size(kind, b), nan=0.0)
    union = sa + sb - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
        a_in_b = np.where(sa > 0, inter / sa, 0.0)
        b_in_a = np.where(sb > 0, inter / sb, 0.0)
    return iou, a_in_b, b_in_a


def _iou_only(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IoU of corner rows, the same numbers as :func:`_iou_rows`'s first answer with fewer
    temporary arrays (on this project's virtual machines, fresh memory is dear)."""
    inter = _intersection(kind, a, b)
    union = np.nan_to_num(_size(kind, a), nan=0.0)
    union += np.nan_to_num(_size(kind, b), nan=0.0)
    union -= inter
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(inter, union, out=inter)
    inter[~(union > 0)] = 0.0
    return inter


def box_iou(a: Any, b: Any) -> np.ndarray:
    """Pairwise IoU matrix of boxes.

    ``a``: ``(n, 4)``, ``b``: ``(m, 4)``, rows ``x, y, w, h`` (fractions of the image, or any unit as
    long as both use the same). Answers ``(n, m)`` floats in [0, 1]. A box of zero area, or with a NaN
    coordinate, has IoU 0 with everything (even with itself).
    """
    ca, cb = _corners(BOXES, a), _corners(BOXES, b)
    return _iou_rows(BOXES, ca[:, None, :], cb[None, :, :])[0]


def segment_iou(a: Any, b: Any) -> np.ndarray:
    """Pairwise IoU (overlap of time intervals over their union) of segments.

    ``a``: ``(n, 2)``, ``b``: ``(m, 2)``, rows ``start, end`` in seconds. Answers ``(n, m)`` in [0, 1];
    empty or NaN segments have IoU 0 with everything.
    """
    ca, cb = _corners(SEGMENTS, a), _corners(SEGMENTS, b)
    return _iou_rows(SEGMENTS, ca[:, None, :], cb[None, :, :])[0]


def match_shapes(
    a: Any,
    b: Any,
    labels_a: Sequence[Any] | None = None,
    labels_b: Sequence[Any] | None = None,
    *,
    kind: str = BOXES,
    iou: float = 0.5,
) -> list[tuple[int, int, float]]:
    """One-to-one matching of two labelers' shapes on one item, maximising the total IoU.

    ``a`` ``(n, 4)`` / ``b`` ``(m, 4)`` boxes (or ``(n, 2)`` segments with ``kind="segments"``);
    ``labels_a``/``labels_b`` their labels (None: all shapes share one label). Only pairs with IoU ≥
    ``iou`` (and > 0) and the same label may match. Answers ``[(i, j, iou), ...]`` sorted by ``i``.
    """
    _check_kind(kind)
    ca, cb = _corners(kind, a), _corners(kind, b)
    if not len(ca) or not len(cb):
        return []
    m = _iou_rows(kind, ca[:, None, :], cb[None, :, :])[0]
    if labels_a is not None and labels_b is not None:
        same = np.asarray(labels_a, dtype=object)[:, None] == np.asarray(labels_b, dtype=object)[None, :]
        m = np.where(same, m, 0.0)
    m = np.where((m >= iou - _EPS) & (m > 0), m, 0.0)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(m, maximize=True)
    return [(int(r), int(c), float(m[r, c])) for r, c in zip(rows, cols, strict=True) if m[r, c] > 0]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown shape kind {kind!r}; one of {KINDS}")


def _unique_ints(a: np.ndarray) -> np.ndarray:
    """``np.unique`` of an integer array through a sort: NumPy 2's hash-based ``np.unique`` takes 20×
    longer on millions of int64 keys."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def _run_counts(key: np.ndarray) -> np.ndarray:
    """For each element, how many elements share its key (a sort only when the keys are not sorted)."""
    if key.size < 2:
        return np.ones(key.size, np.int64)
    is_sorted = bool((key[1:] >= key[:-1]).all())
    order = None if is_sorted else np.argsort(key)
    k = key if is_sorted else key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    lengths = np.diff(np.r_[starts, k.size])
    counts = np.repeat(lengths, lengths)
    if is_sorted:
        return counts
    out = np.empty(key.size, np.int64)
    out[order] = counts
    return out


def _dense_rank(key: np.ndarray) -> np.ndarray:
    """Rank of each element's key among the distinct keys (``np.unique``'s inverse)."""
    if not key.size:
        return np.zeros(0, np.int64)
    order = np.argsort(key, kind="stable")
    k = key[order]
    out = np.empty(key.size, np.int64)
    out[order] = np.cumsum(np.r_[True, k[1:] != k[:-1]]) - 1
    return out


# --------------------------------------------------------------------------------------------------
# The shape table
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShapeTable:
    """Shapes of many items by many labelers, as flat arrays sorted by (item, labeler).

    - ``item``, ``labeler``, ``label``: ``(n,)`` int64 codes into ``items``, ``labelers``, ``labels``.
    - ``coords``: ``(n, 4)`` boxes ``x, y, w, h`` or ``(n, 2)`` segments ``start, end``.
    - ``answer_item``, ``answer_labeler``: ``(m,)`` codes of every answer, empty ones included (each
      (item, labeler) once). A labeler who answered with no shapes takes part in the item's pairs.
    - ``weight``: ``(n,)`` per-shape weights for fusion (labelers: all 1).
    """

    kind: str
    item: np.ndarray
    labeler: np.ndarray
    label: np.ndarray
    coords: np.ndarray
    answer_item: np.ndarray
    answer_labeler: np.ndarray
    items: list[Any]
    labelers: list[Any]
    labels: list[Any]
    weight: np.ndarray = field(default=None)  # type: ignore[assignment]

    @property
    def n_shapes(self) -> int:
        return int(self.item.shape[0])

    @cached_property
    def corners(self) -> np.ndarray:
        """Corner form of ``coords`` (computed once per table)."""
        return _corners(self.kind, self.coords)


def _codes(values: Sequence[Any], known: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    names = list(known) if known is not None else list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(names)}
    missing = [v for v in dict.fromkeys(values) if v not in index]
    names.extend(missing)
    index.update({v: len(index) + k for k, v in enumerate(missing)})
    return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values)), names


def shape_table(answers: Iterable[tuple[Any, Any, Any]], kind: str = BOXES) -> ShapeTable:
    """A :class:`ShapeTable` from ``(item, labeler, value)`` answers.

    ``value`` is the stored answer: ``{"boxes": [{"x", "y", "w", "h", "label"}, ...]}`` (or
    ``{"segments": [{"start", "end", "label"}]}``), or directly the list of shapes. An empty list is an
    answer with no shapes. A second answer of the same labeler on the same item replaces the first.
    """
    _check_kind(kind)
    latest: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for item, labeler, value in answers:
        shapes = value.get(kind, []) if isinstance(value, Mapping) else (value or [])
        latest[(item, labeler)] = list(shapes)
    item_v, lab_v, label_v, coords = [], [], [], []
    keys = ("x", "y", "w", "h") if kind == BOXES else ("start", "end")
    for (item, labeler), shapes in latest.items():
        for s in shapes:
            item_v.append(item)
            lab_v.append(labeler)
            label_v.append(s.get("label"))
            coords.append([float("nan") if s.get(k) is None else float(s[k]) for k in keys])
    items = list(dict.fromkeys(k[0] for k in latest))
    labelers = list(dict.fromkeys(k[1] for k in latest))
    ai, _ = _codes([k[0] for k in latest], items)
    al, _ = _codes([k[1] for k in latest], labelers)
    si, _ = _codes(item_v, items)
    sl, _ = _codes(lab_v, labelers)
    sc, labels = _codes(label_v, None)
    return shape_table_from_arrays(
        kind,
        si,
        sl,
        sc,
        np.asarray(coords, dtype=np.float64).reshape(-1, len(keys)),
        answered=(ai, al),
        items=items,
        labelers=labelers,
        labels=labels,
    )


def shape_table_from_arrays(
    kind: str,
    item: Any,
    labeler: Any,
    label: Any,
    coords: Any,
    *,
    answered: tuple[Any, Any] | None = None,
    items: Sequence[Any] | None = None,
    labelers: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    weight: Any | None = None,
) -> ShapeTable:
    """A :class:`ShapeTable` from integer codes: ``item``, ``labeler``, ``label`` ``(n,)`` and ``coords``
    ``(n, 4)`` / ``(n, 2)``. ``answered``: ``(item_codes, labeler_codes)`` of every answer, empty ones
    included (default: the (item, labeler) pairs that have shapes). ``items``/``labelers``/``labels``:
    the names of the codes (default: the codes themselves)."""
    _check_kind(kind)
    item = np.asarray(item, dtype=np.int64).ravel()
    labeler = np.asarray(labeler, dtype=np.int64).ravel()
    label = np.asarray(label, dtype=np.int64).ravel()
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 4 if kind == BOXES else 2)
    w = np.ones(item.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
    if not (item.shape[0] == labeler.shape[0] == label.shape[0] == coords.shape[0] == w.shape[0]):
        raise ValueError("item, labeler, label, coords (and weight) need one row per shape")
    if answered is None:
        ai, al = item, labeler
    else:
        ai = np.asarray(answered[0], dtype=np.int64).ravel()
        al = np.asarray(answered[1], dtype=np.int64).ravel()
        ai, al = np.concatenate([ai, item]), np.concatenate([al, labeler])  # shapes imply an answer
    # (item, labeler) pairs and the shapes' order by them, through one integer key each: a 1-D sort is
    # several times faster than np.unique(axis=0) or np.lexsort on two keys, with the same order.
    n_lab = int(max(labeler.max(initial=-1), al.max(initial=-1))) + 1
    answer_key = _unique_ints(ai * n_lab + al)
    pairs = np.stack([answer_key // max(n_lab, 1), answer_key % max(n_lab, 1)], axis=1)
    shape_key = item * n_lab + labeler
    if shape_key.size < 2 or bool((shape_key[1:] >= shape_key[:-1]).all()):
        order = np.arange(shape_key.size)  # already sorted (the usual case): what a stable sort answers
    else:
        order = np.argsort(shape_key, kind="stable")
    n_items = int(max(item.max(initial=-1), pairs[:, 0].max(initial=-1))) + 1
    n_cls = int(label.max(initial=-1)) + 1
    return ShapeTable(
        kind=kind,
        item=item[order],
        labeler=labeler[order],
        label=label[order],
        coords=coords[order],
        answer_item=pairs[:, 0].copy(),
        answer_labeler=pairs[:, 1].copy(),
        items=list(items) if items is not None else list(range(n_items)),
        labelers=list(labelers) if labelers is not None else list(range(n_lab)),
        labels=list(labels) if labels is not None else list(range(n_cls)),
        weight=w[order],
    )


def _internal_table(t, item, labeler, label, corners, weight, n_items, labelers=None) -> ShapeTable:
    """A working table for the matching and fusion steps, which read only codes, corners and weights:
    no answers and no ``coords`` (an empty stand-in; the corners are given), so that million-row steps
    allocate no array they never read."""
    table = ShapeTable(
        t.kind, item, labeler, label, np.broadcast_to(np.nan, corners.shape), np.zeros(0, np.int64),
        np.zeros(0, np.int64), range(n_items), t.labelers if labelers is None else labelers, t.labels, weight,
    )  # fmt: skip
    table.__dict__["corners"] = corners  # functools.cached_property's slot
    return table


def _subset(t: ShapeTable, mask: np.ndarray, answer_mask: np.ndarray) -> ShapeTable:
    return ShapeTable(
        t.kind,
        t.item[mask],
        t.labeler[mask],
        t.label[mask],
        t.coords[mask],
        t.answer_item[answer_mask],
        t.answer_labeler[answer_mask],
        t.items,
        t.labelers,
        t.labels,
        t.weight[mask],
    )


# --------------------------------------------------------------------------------------------------
# Candidate pairs and matching (vectorised)
# --------------------------------------------------------------------------------------------------
@dataclass
class _Pairs:
    """Same-label pairs of shapes by different labelers on one item (indices into the table, i < j)."""

    i: np.ndarray
    j: np.ndarray
    iou: np.ndarray
    i_in_j: np.ndarray
    j_in_i: np.ndarray


def _cross_pairs(t: ShapeTable, iou_min: float, cover_min: float | None, *, same_label: bool = True) -> _Pairs:
    """Every same-label pair of shapes of two different labelers on the same item that has IoU ≥
    ``iou_min`` or one inside the other by ≥ ``cover_min`` (None: IoU only, and ``i_in_j``/``j_in_i``
    are left empty). Answers them in the table's order (by ``i``, then ``j``). ``same_label=False``:
    pairs of any two labels.

    The shapes are taken by (item, label) block (by item when ``same_label`` is False), the table's
    order kept within a block (so by labeler): each shape is paired with the shapes of the later
    labelers of its block, never with a shape of another label, and never through a Python loop per
    shape."""
    n = t.n_shapes
    empty = _Pairs(*(np.zeros(0, np.int64),) * 2, *(np.zeros(0),) * 3)
    if n < 2:
        return empty
    n_cls = max(len(t.labels), int(t.label.max(initial=0)) + 1)
    block_key = t.item * n_cls + t.label if same_label else t.item
    in_order = bool((block_key[1:] >= block_key[:-1]).all())  # e.g. one label per item
    order = np.arange(n) if in_order else np.argsort(block_key, kind="stable")
    block, labeler = block_key[order], t.labeler[order]
    new_block = np.r_[True, block[1:] != block[:-1]]
    new_run = new_block | np.r_[True, labeler[1:] != labeler[:-1]]
    block_start = np.flatnonzero(new_block)
    run_start = np.flatnonzero(new_run)
    my_block_end = np.r_[block_start[1:], n][np.cumsum(new_block) - 1]
    my_run_end = np.r_[run_start[1:], n][np.cumsum(new_run) - 1]
    count = my_block_end - my_run_end  # shapes of later labelers in the same block
    cum = np.cumsum(count)
    corners = t.corners
    parts: list[_Pairs] = []
    lo = 0
    while lo < n:
        # Rows lo..hi-1 give at most _CHUNK_PAIRS pairs (at least one row per chunk).
        base = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, base + _CHUNK_PAIRS, side="right")), lo + 1)
        c = count[lo:hi]
        a = np.repeat(np.arange(lo, hi), c)
        offsets = np.arange(a.shape[0]) - np.repeat(np.cumsum(c) - c, c)
        i, j = order[a], order[np.repeat(my_run_end[lo:hi], c) + offsets]
        if cover_min is None:
            iou = _iou_only(t.kind, corners[i], corners[j])
            keep = (iou >= iou_min) & (iou > 0)
            parts.append(_Pairs(i[keep], j[keep], iou[keep], np.zeros(0), np.zeros(0)))
        else:
            iou, i_in_j, j_in_i = _iou_rows(t.kind, corners[i], corners[j])
            keep = ((iou >= iou_min) & (iou > 0)) | (i_in_j >= cover_min - _EPS) | (j_in_i >= cover_min - _EPS)
            parts.append(_Pairs(i[keep], j[keep], iou[keep], i_in_j[keep], j_in_i[keep]))
        lo = hi
    fields = ("i", "j", "iou") if cover_min is None else ("i", "j", "iou", "i_in_j", "j_in_i")
    out = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
    if not in_order and out["i"].size:
        back = np.argsort(out["i"] * n + out["j"])  # the table's order: by i, then j (keys are distinct)
        out = {f: v[back] for f, v in out.items()}
    return _Pairs(**{"i_in_j": np.zeros(0), "j_in_i": np.zeros(0), **out})


def _match(t: ShapeTable, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Maximum-weight one-to-one matching per (item, labeler pair) of edges ``i``–``j`` (weights > 0).
    Answers a boolean mask of the edges kept.

    An edge whose two shapes have no other edge towards the other's labeler is in every maximum
    matching (it conflicts with nothing): kept directly. The remaining edges are solved per
    (item, labeler pair) with ``linear_sum_assignment``."""
    keep = np.zeros(i.shape[0], dtype=bool)
    if not i.size:
        return keep
    n_lab = max(len(t.labelers), int(t.labeler.max(initial=0)) + 1)
    side_i = i * n_lab + t.labeler[j]  # shape i's edges towards j's labeler
    side_j = j * n_lab + t.labeler[i]
    simple = (_run_counts(side_i) == 1) & (_run_counts(side_j) == 1)
    keep[simple] = True
    hard = np.flatnonzero(~simple)
    if not hard.size:
        return keep
    # Group the remaining edges by (item, labeler of i, labeler of j), one integer key each (a 1-D
    # sort), and number each group's rows (shapes i) and columns (shapes j) in order.
    key = (t.item[i[hard]] * n_lab + t.labeler[i[hard]]) * n_lab + t.labeler[j[hard]]
    group = _dense_rank(key)
    order = np.argsort(group, kind="stable")
    e, group = hard[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, e.size])
    n = max(t.n_shapes, 1)
    rows = _dense_rank(group * n + i[e])
    cols = _dense_rank(group * n + j[e])
    rows -= np.repeat(np.minimum.reduceat(rows, starts), sizes)
    cols -= np.repeat(np.minimum.reduceat(cols, starts), sizes)
    n_rows = np.maximum.reduceat(rows, starts) + 1
    n_cols = np.maximum.reduceat(cols, starts) + 1
    # A star (one row or one column) with a single heaviest edge: the matching is that edge.
    we = w[e]
    top = np.maximum.reduceat(we, starts)
    is_top = we == np.repeat(top, sizes)
    n_top = np.add.reduceat(is_top.astype(np.int64), starts)
    star = ((n_rows == 1) | (n_cols == 1)) & (n_top == 1) & (top > 0)
    on_star = np.repeat(star, sizes)
    keep[e[on_star & is_top]] = True
    # The rest: linear_sum_assignment group by group.
    from scipy.optimize import linear_sum_assignment

    bounds = np.r_[starts, e.size]
    for g in np.flatnonzero(~star).tolist():
        a, b = bounds[g], bounds[g + 1]
        r_e, c_e = rows[a:b], cols[a:b]
        m = np.zeros((int(n_rows[g]), int(n_cols[g])))
        m[r_e, c_e] = we[a:b]
        r, c = linear_sum_assignment(m, maximize=True)
        chosen = np.zeros(m.shape, dtype=bool)
        chosen[r, c] = m[r, c] > 0
        keep[e[a:b]] = chosen[r_e, c_e]
    return keep


@dataclass
class _Matched:
    i: np.ndarray
    j: np.ndarray
    iou: np.ndarray
    pairs: _Pairs


def _matched(t: ShapeTable, iou: float) -> _Matched:
    if not 0 < iou <= 1:
        raise ValueError("the IoU threshold must be in (0, 1]")
    p = _cross_pairs(t, iou - _EPS, COVER)
    edge = p.iou >= iou - _EPS
    ei, ej, ew = p.i[edge], p.j[edge], p.iou[edge]
    keep = _match(t, ei, ej, ew)
    return _Matched(ei[keep], ej[keep], ew[keep], p)


# --------------------------------------------------------------------------------------------------
# Agreement: F1, mean IoU, per class, per labeler, split/merge
# --------------------------------------------------------------------------------------------------
@dataclass
class ShapeAgreement:
    """Agreement of localized answers (see :func:`shape_agreement`).

    - ``f1``: :class:`~analysis.metrics.bootstrap.Interval` (value, low, high) of box/segment F1.
    - ``mean_iou``: mean IoU of the matched pairs, None when nothing matched.
    - ``per_class``: ``{label: {"f1", "mean_iou", "n_shapes"}}``.
    - ``per_labeler``: ``{labeler: {"f1", "mean_iou", "map50", "n_items"}}``, each labeler against the
      consensus of the others (None values when undefined).
    - ``split_merge``: ``[{"item", "one", "many", "n"}]``.
    - ``n_items``: items with two or more answers; ``n_pairs``: (item, labeler pair) combinations;
      ``n_matches``: matched shape pairs.
    """

    f1: Interval
    mean_iou: float | None
    per_class: dict[Any, dict[str, Any]]
    per_labeler: dict[Any, dict[str, Any]]
    split_merge: list[dict[str, Any]]
    n_items: int
    n_pairs: int
    n_matches: int

    def as_dict(self) -> dict[str, Any]:
        """The API's form: ``{"value", "ci_low", "ci_high"}`` for F1, the rest as it is."""
        value, low, high = self.f1
        return {
            "f1": {"value": value, "ci_low": low, "ci_high": high},
            "mean_iou": self.mean_iou,
            "per_class": self.per_class,
            "per_labeler": self.per_labeler,
            "split_merge": self.split_merge,
            "n_items": self.n_items,
            "n_pairs": self.n_pairs,
            "n_matches": self.n_matches,
        }


def _per_item_counts(t: ShapeTable) -> tuple[np.ndarray, np.ndarray]:
    """Per item code: number of answering labelers and number of shapes."""
    n_items = len(t.items)
    m = np.bincount(t.answer_item, minlength=n_items)
    s = np.bincount(t.item, minlength=n_items)
    return m, s


def _ratio(num: float, den: float) -> float:
    # No shapes in any pair: nobody drew anything anywhere, which is full agreement by convention.
    return 1.0 if den <= 0 else float(num / den)


def _f1_interval(num: np.ndarray, den: np.ndarray, n_resamples: int, confidence: float, seed: int) -> Interval:
    """F1 = Σ num / Σ den over items, with a percentile bootstrap over items (weights of resampled items)."""
    value = _ratio(num.sum(), den.sum())
    n = num.shape[0]
    if n == 0:
        raise MetricUndefined("shape F1 is undefined: no item has two or more answers")
    rng = np.random.default_rng(seed)
    samples = []
    stacked = np.stack([num, den])
    for _ in range(int(n_resamples)):
        _, w = _weights(rng, n)
        sn, sd = stacked @ w
        samples.append(_ratio(sn, sd))
    low, high = _percentiles(samples, confidence, "shape F1")
    return Interval(value, low, high)


def shape_agreement(
    t: ShapeTable,
    *,
    iou: float = 0.5,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    per_labeler: bool = True,
) -> ShapeAgreement:
    """Box or segment F1 (the API contract), its bootstrap interval, mean IoU, per class, per labeler and
    split/merge items.

    For every item and every pair of its answering labelers, shapes are matched one to one (maximum
    total IoU among same-label pairs with IoU ≥ ``iou``). F1 = 2·Σ matches / Σ (shapes of the first +
    shapes of the second), summed over all (item, pair); an item with ``m`` answers and ``N`` shapes adds
    ``(m - 1)·N`` to the denominator. Items with one answer take no part. Pairs where neither labeler drew
    anything add 0 to both sums (the contract's formula); when no pair has any shape at all, F1 is 1
    (full agreement by convention). An empty answer against a non-empty one lowers F1.

    The interval is a seeded percentile bootstrap over items (``n_resamples``, ``confidence``, ``seed``
    as in :func:`~analysis.metrics.bootstrap.bootstrap_ci`). Per class: the same F1 restricted to the
    class. Per labeler (``per_labeler=True``): on each item they answered with at least one other
    labeler, their shapes against the consensus of the others (:func:`consensus` with at least half of
    the others' support), as F1, mean IoU and ``map50`` (their shapes as predictions of confidence 1).

    Raises :class:`MetricUndefined` when no item has two or more answers.
    """
    _check_args(n_resamples, confidence)
    m_item, s_item = _per_item_counts(t)
    pairable = m_item >= 2
    if not pairable.any():
        raise MetricUndefined("shape F1 is undefined: no item has two or more answers")
    mt = _matched(t, iou)
    n_items = len(t.items)
    matches = np.bincount(t.item[mt.i], minlength=n_items).astype(np.float64)
    num = 2.0 * matches[pairable]
    den = ((m_item - 1) * s_item).astype(np.float64)[pairable]
    f1 = _f1_interval(num, den, n_resamples, confidence, seed)
    mean_iou = float(mt.iou.mean()) if mt.iou.size else None

    per_class: dict[Any, dict[str, Any]] = {}
    n_cls = len(t.labels)
    shapes_cls = np.bincount(t.label, weights=(m_item - 1)[t.item] * pairable[t.item], minlength=n_cls)
    match_cls = np.bincount(t.label[mt.i], minlength=n_cls)
    iou_cls = np.bincount(t.label[mt.i], weights=mt.iou, minlength=n_cls)
    for c, name in enumerate(t.labels):
        per_class[name] = {
            "f1": _ratio(2.0 * match_cls[c], shapes_cls[c]),
            "mean_iou": float(iou_cls[c] / match_cls[c]) if match_cls[c] else None,
            "n_shapes": int(np.count_nonzero(t.label == c)),
        }
    n_pairs = int((m_item * (m_item - 1) // 2).sum())
    return ShapeAgreement(
        f1=f1,
        mean_iou=mean_iou,
        per_class=per_class,
        per_labeler=_per_labeler(t, mt, iou) if per_labeler else {},
        split_merge=_split_merge(t, _lacking(t, mt.i, mt.j)),
        n_items=int(pairable.sum()),
        n_pairs=n_pairs,
        n_matches=int(mt.i.size),
    )


def item_f1(t: ShapeTable, *, iou: float = 0.5) -> np.ndarray:
    """Each item's pairwise shape F1 (as in :func:`shape_agreement`, summed over the item's labeler
    pairs only), ``(len(t.items),)``: NaN for an item with fewer than two answers, 1 where no pair has a
    shape. ``1 - item_f1`` is how much an item's labelers disagree (the review queue's order)."""
    m_item, s_item = _per_item_counts(t)
    mt = _matched(t, iou)
    matches = np.bincount(t.item[mt.i], minlength=len(t.items)).astype(np.float64)
    den = ((m_item - 1) * s_item).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(den > 0, 2.0 * matches / np.maximum(den, 1.0), 1.0)
    return np.where(m_item >= 2, f1, np.nan)


def pooled_f1(t: ShapeTable, *, iou: float = 0.5) -> float | None:
    """The F1 of :func:`shape_agreement` without its interval and breakdowns: 2·Σ matches / Σ shapes over
    every item's labeler pairs; 1 when no pair has a shape, None when no item has two or more answers."""
    m_item, s_item = _per_item_counts(t)
    pairable = m_item >= 2
    if not pairable.any():
        return None
    mt = _matched(t, iou)
    matches = np.bincount(t.item[mt.i], minlength=len(t.items)).astype(np.float64)
    den = float(((m_item - 1) * s_item)[pairable].sum())
    return float(2.0 * matches[pairable].sum() / den) if den > 0 else 1.0


def relabel_table(t: ShapeTable, mapping: dict[Any, Any]) -> ShapeTable:
    """The table with labels mapped (``{label: new label}``; a label mapped to None drops its shapes,
    never the answers: an answer left with nothing says "nothing here"), as a taxonomy change would."""
    names = list(t.labels)
    codes = np.arange(len(names))
    keep_label = np.ones(len(names), dtype=bool)
    for old, new in mapping.items():
        if old not in names:
            continue
        if new is None:
            keep_label[names.index(old)] = False
            continue
        if new not in names:
            names.append(new)
            keep_label = np.r_[keep_label, True]
            codes = np.r_[codes, len(codes)]
        codes[names.index(old)] = names.index(new)
    mask = keep_label[t.label]
    out = _subset(t, mask, np.ones(t.answer_item.shape[0], dtype=bool))
    return replace(out, label=codes[out.label], labels=names)


def class_swaps(t: ShapeTable, *, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(swaps, matched)``, both ``(L, L)`` over ``t.labels``: shape pairs by two labelers on one item
    that match whatever their class (one to one, IoU ≥ ``iou``) and carry labels a and b — the same
    object called two things (``swaps``, symmetric, zero diagonal); ``matched[a, b]`` counts every
    class-agnostic match, diagonal included (the pairs that agree)."""
    n = len(t.labels)
    if t.n_shapes == 0:
        return np.zeros((n, n), np.int64), np.zeros((n, n), np.int64)
    blind = replace(t, label=np.zeros_like(t.label), labels=[None])
    mt = _matched(blind, iou)
    a, b = t.label[mt.i], t.label[mt.j]
    matched = np.bincount(a * n + b, minlength=n * n).reshape(n, n)
    matched = matched + matched.T - np.diag(np.diag(matched))
    swaps = matched.copy()
    np.fill_diagonal(swaps, 0)
    return swaps, matched


def box_f1(t: ShapeTable, **kwargs: Any) -> ShapeAgreement:
    """:func:`shape_agreement` of a ``"boxes"`` table (``box_f1`` in the API)."""
    if t.kind != BOXES:
        raise ValueError("box_f1 needs a table of boxes")
    return shape_agreement(t, **kwargs)


def segment_f1(t: ShapeTable, **kwargs: Any) -> ShapeAgreement:
    """:func:`shape_agreement` of a ``"segments"`` table (``segment_f1`` in the API)."""
    if t.kind != SEGMENTS:
        raise ValueError("segment_f1 needs a table of segments")
    return shape_agreement(t, **kwargs)


def _lacking(t: ShapeTable, matched_i: np.ndarray, matched_j: np.ndarray) -> np.ndarray:
    """Per item code: whether some shape lacks a match (``matched_i``/``matched_j``, one to one at any IoU
    threshold) towards another labeler who answered the item, i.e. its pairwise F1 is under 1."""
    n_answers = np.bincount(t.answer_item, minlength=len(t.items))
    n_matched = np.bincount(np.concatenate([matched_i, matched_j]), minlength=t.n_shapes)
    out = np.zeros(len(t.items), dtype=bool)
    out[t.item[n_matched < n_answers[t.item] - 1]] = True
    return out


def _split_merge(t: ShapeTable, candidate: np.ndarray, cover: float = COVER) -> list[dict[str, Any]]:
    """Items where one labeler's shape covers two or more shapes of another labeler, each at least
    ``cover`` inside it, whatever their labels (one box labeled 2 round what another labeler drew as a 2
    and an 8 is the iguana pattern too). A covered shape that lies inside another shape the same labeler
    drew and that is covered too does not count: a face box inside a person box, both inside the other
    labeler's person box, is one object drawn in more detail, not two objects drawn as one. One row per
    (item, one, many); ``n`` counts the other labeler's shapes so covered by the first labeler's
    covering shapes.

    Only the items ``candidate`` marks (per item code) are looked at: those where some shape lacks a match
    (``_lacking``), since of two shapes covered by one, at most one is matched to it."""
    if not candidate.any():
        return []
    sub = _subset(t, candidate[t.item], candidate[t.answer_item])
    p = _cross_pairs(sub, 1.0 + 1e-9, cover, same_label=False)
    # j inside i: i's labeler is "one"; i inside j: j's labeler is "one". Each (big, small) occurs once.
    sel_j, sel_i = p.j_in_i >= cover - _EPS, p.i_in_j >= cover - _EPS
    big = np.concatenate([p.i[sel_j], p.j[sel_i]])
    small = np.concatenate([p.j[sel_j], p.i[sel_i]])
    if not big.size:
        return []
    n_lab = max(len(sub.labelers), int(sub.labeler.max(initial=0)) + 1)
    big, small = _not_nested(sub, big, small, n_lab, cover)
    # Covering shapes that hold two or more shapes of one other labeler (1-D keys: a fast sort).
    _, inv, cnt = np.unique(big * n_lab + sub.labeler[small], return_inverse=True, return_counts=True)
    multi = cnt[inv.ravel()] >= 2
    out: dict[tuple[int, int, int], set[int]] = {}
    for bg, sm in zip(big[multi].tolist(), small[multi].tolist(), strict=True):
        out.setdefault((int(sub.item[bg]), int(sub.labeler[bg]), int(sub.labeler[sm])), set()).add(sm)
    return [
        {"item": sub.items[it], "one": sub.labelers[one], "many": sub.labelers[many], "n": len(smalls)}
        for (it, one, many), smalls in sorted(out.items())
    ]


def _not_nested(t: ShapeTable, big: np.ndarray, small: np.ndarray, n_lab: int, cover: float):
    """The (big, small) cover pairs without the smalls that lie (by ``cover``) inside another small of
    the same covering shape and labeler. Vectorised over the groups of two or more smalls."""
    key = big * n_lab + t.labeler[small]
    order = np.argsort(key, kind="stable")
    big, small, key = big[order], small[order], key[order]
    start = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    size = np.diff(np.r_[start, key.shape[0]])
    rows = np.flatnonzero(np.repeat(size, size) >= 2)  # rows of groups of two or more
    if not rows.size:
        return big, small
    reps = np.repeat(size, size)[rows]
    a = np.repeat(rows, reps)  # each row with every row of its group (itself included)
    b = np.repeat(np.repeat(start, size)[rows], reps) + np.arange(a.shape[0]) - np.repeat(np.cumsum(reps) - reps, reps)
    a, b = a[a != b], b[a != b]
    _, a_in_b, _ = _iou_rows(t.kind, t.corners[small[a]], t.corners[small[b]])
    nested = np.zeros(key.shape[0], dtype=bool)
    nested[a[a_in_b >= cover - _EPS]] = True
    return big[~nested], small[~nested]


def split_merge(t: ShapeTable, *, cover: float = COVER, item_f1: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The iguana pattern: ``[{"item", "one", "many", "n"}]`` for every item where a shape of labeler
    ``one`` covers two or more shapes of labeler ``many`` (of any label, one inside another counted
    once), each at least ``cover`` (0.7) of its area (or length) inside it. ``n``: how many of
    ``many``'s shapes are so covered. ``item_f1``: the table's :func:`item_f1`, when the caller has it
    (only items under 1 can hold the pattern); else the shapes are matched here."""
    if item_f1 is not None:
        return _split_merge(t, item_f1 < 1, cover)
    mt = _matched(t, 0.5)
    return _split_merge(t, _lacking(t, mt.i, mt.j), cover)


# --------------------------------------------------------------------------------------------------
# Consensus
# --------------------------------------------------------------------------------------------------
def _weighted_median(group: np.ndarray, values: np.ndarray, weight: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the weighted median of ``values`` (the mean of the lower and upper weighted medians, so
    two equal-weight values give their mean and three give the middle one). Vectorised over groups."""
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weight[order]
    total = np.bincount(g, weights=w, minlength=n_groups)
    cum = np.cumsum(w)
    start = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    offset = np.zeros(n_groups)
    offset[g[start]] = cum[start] - w[start]
    cum -= offset[g]
    half = total[g] / 2
    out = np.zeros(n_groups)
    for mask in (cum >= half - 1e-12, cum > half + 1e-12):  # first position reaching half, then passing it
        idx = np.flatnonzero(mask)
        groups, first = np.unique(g[idx], return_index=True)
        out[groups] += v[idx[first]] / 2
    return out


def _box_clusters(t: ShapeTable, i: np.ndarray, j: np.ndarray, min_support: np.ndarray) -> dict[str, np.ndarray]:
    """Fuse boxes linked by matches into clusters (connected components), support = distinct labelers.
    ``min_support``: per item code. Answers arrays of the kept clusters: item, label, corners, support,
    score.

    Each corner is the weighted median of the cluster's corners (weights from the table), not their mean
    as in weighted box fusion: one labeler who crops a tail or draws round two touching objects moves a
    mean by a third of the difference, and a median not at all. Measured on the touching-digits scenes
    (``benchmarks/consensus_bench.py``) it beats ``ensemble-boxes``' WBF at IoU 0.75 against the truth."""
    n = t.n_shapes
    if n == 0:
        return {"item": np.zeros(0, np.int64), "label": np.zeros(0, np.int64), "coords": np.zeros((0, 4)),
                "support": np.zeros(0, np.int64), "score": np.zeros(0)}  # fmt: skip
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    n_comp, comp = connected_components(g, directed=False)
    w = t.weight
    c = t.corners
    wsum = np.bincount(comp, weights=w, minlength=n_comp)
    fused = np.stack([_weighted_median(comp, c[:, k], w, n_comp) for k in range(4)], axis=1)
    # Support: distinct labelers in the component (a chain of matches may rarely link two shapes of one
    # labeler; they are fused and count once).
    n_lab = int(t.labeler.max(initial=0)) + 1
    lab_comp = _unique_ints(comp.astype(np.int64) * n_lab + t.labeler)
    support = np.bincount(lab_comp // n_lab, minlength=n_comp)
    first = np.full(n_comp, -1, dtype=np.int64)
    first[comp[::-1]] = np.arange(n)[::-1]
    item, label = t.item[first], t.label[first]
    size = np.bincount(comp, minlength=n_comp)
    score = wsum / np.maximum(size, 1) * support
    keep = support >= min_support[item]
    return {"item": item[keep], "label": label[keep], "coords": fused[keep], "support": support[keep],
            "score": score[keep]}  # fmt: skip


def _sweep(
    group: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    weight: np.ndarray,
    threshold: np.ndarray,
    join_touching: bool = True,
    cuts: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Maximal intervals where the summed ``weight`` of the intervals of a group covering each instant
    is ≥ the group's ``threshold``. Answers (group, start, end, max coverage) of each interval, ordered by
    group, then time. ``join_touching=False`` keeps two intervals apart where the coverage falls below the
    threshold for an instant only (one interval ends where the next starts: [0, 1] and [1, 2]). ``cuts``
    (group, instant): instants where an interval is cut in two whatever the coverage."""
    ok = np.isfinite(start) & np.isfinite(end) & (end > start)
    group, start, end, weight = group[ok], start[ok], end[ok], weight[ok]
    if not group.size:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z, z
    cut_g, cut_t = cuts if cuts is not None else (np.zeros(0, np.int64), np.zeros(0))
    g = np.r_[group, group, cut_g]
    tm = np.r_[start, end, cut_t]
    d = np.r_[weight, -weight, np.zeros(cut_g.size)]  # a cut weighs nothing: it sits between ends and starts
    order = np.lexsort((d, tm, g))  # at the same instant, ends before starts
    g, tm, d = g[order], tm[order], d[order]
    cover = np.cumsum(d)
    nxt_same = np.r_[g[1:] == g[:-1], False]
    t_next = np.r_[tm[1:], tm[-1]]
    kept = nxt_same & (t_next > tm) & (cover >= threshold[g] - 1e-9)
    k = np.flatnonzero(kept)
    if not k.size:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z, z
    ks, ke, kg, kc = tm[k], t_next[k], g[k], cover[k]
    new_run = np.r_[True, (kg[1:] != kg[:-1]) | (ks[1:] > ke[:-1])]
    if not join_touching:
        # An event between two kept ones that left the coverage below the threshold, at their shared instant.
        below = np.cumsum(cover < threshold[g] - 1e-9)
        new_run[1:] |= below[k[1:]] > below[k[:-1]]
    if cut_g.size:
        # A cut after one kept row, up to and including the next (which starts at the cut when it is one).
        at_cut = np.cumsum(order >= 2 * group.size)
        new_run[1:] |= at_cut[k[1:]] > at_cut[k[:-1]]
    runs = np.flatnonzero(new_run)
    run_end = np.r_[runs[1:], k.size] - 1
    return kg[runs], ks[runs], ke[run_end], np.maximum.reduceat(kc, runs)


def _segment_consensus(t: ShapeTable, min_support: np.ndarray) -> dict[str, np.ndarray]:
    """Majority over time: per (item, class), the instants covered by at least ``min_support[item]``
    labelers (a labeler's own overlapping segments count once), cut where at least as many labelers cut
    (``_majority_cuts``): two words, or two turns of one speaker without a pause, stay two."""
    n_cls = max(len(t.labels), 1)
    c = t.corners
    # A labeler's own union per (item, labeler, class) first, so one labeler never counts twice; their
    # touching segments ([0, 1], [1, 2]) stay two: where they cut is evidence.
    n_lab = int(t.labeler.max(initial=0)) + 1
    key = (t.item * n_lab + t.labeler) * n_cls + t.label  # one integer per (item, labeler, class)
    group = _dense_rank(key)
    keys = np.zeros(int(group.max(initial=-1)) + 1, np.int64)
    keys[group] = key
    ug, us, ue, _ = _sweep(group, c[:, 0], c[:, 1], np.ones(t.n_shapes), np.ones(len(keys)), join_touching=False)
    item, label = keys[ug] // n_cls // n_lab, keys[ug] % n_cls
    thr = np.repeat(np.asarray(min_support, dtype=np.float64), n_cls)
    own_g = item * n_cls + label
    runs = _sweep(own_g, us, ue, np.ones(ug.size), thr)
    cuts = _majority_cuts(runs, (ug, own_g, keys[ug] // n_cls % n_lab, us, ue), thr)
    if cuts[0].size:
        runs = _sweep(own_g, us, ue, np.ones(ug.size), thr, cuts=cuts)
    g, s, e, sup = runs
    return {"item": g // n_cls, "label": g % n_cls, "coords": np.stack([s, e], axis=1).reshape(-1, 2),
            "support": np.rint(sup).astype(np.int64), "score": sup.astype(np.float64)}  # fmt: skip


def _majority_cuts(runs, own, threshold) -> tuple[np.ndarray, np.ndarray]:
    """Where the majority runs ``(group, start, end, support)`` are cut: (group, instant) of each cut that at
    least ``threshold[group]`` labelers make. A labeler cuts where two of their own intervals ``own`` =
    ``(interval group, group, labeler, start, end)`` (ordered by interval group, then time) follow each other
    inside a run: at the instant they touch, or the middle of the gap between them. Cuts next to each other
    in time, of two labelers, are one when each lies between the middles of the other's two intervals around
    it (nearer the other's cut than the middle of either of its words); a chain of such cuts is one cut,
    at their median, made by the labelers in it.

    Majority over time alone joined [0, 1] and [1, 2] drawn by everyone into [0, 2]: the coverage is never
    below the majority for any length of time."""
    none = (np.zeros(0, np.int64), np.zeros(0))
    g, s, e, _ = runs
    og, own_group, lab, us, ue = own
    nxt = np.flatnonzero(og[1:] == og[:-1])  # interval i and i + 1 of one labeler, class and item
    if not nxt.size or not g.size:
        return none
    cut = (ue[nxt] + us[nxt + 1]) / 2
    cg = own_group[nxt]
    # The run each cut falls in: the last run of the same group starting before it.
    n_runs = g.size
    order = np.lexsort((np.r_[np.zeros(n_runs), np.ones(cut.size)], np.r_[s, cut], np.r_[g, cg]))
    is_run = order < n_runs
    last = np.maximum.accumulate(np.where(is_run, order, -1))
    run_of = np.empty(cut.size, np.int64)
    run_of[order[~is_run] - n_runs] = last[~is_run]
    ok = run_of >= 0
    ok[ok] = (g[run_of[ok]] == cg[ok]) & (s[run_of[ok]] < cut[ok]) & (cut[ok] < e[run_of[ok]])
    if not ok.any():
        return none
    nxt, cut, run_of = nxt[ok], cut[ok], run_of[ok]
    by_time = np.lexsort((cut, run_of))
    nxt, cut, run_of = nxt[by_time], cut[by_time], run_of[by_time]
    who = lab[nxt]
    left_mid, right_mid = (us[nxt] + ue[nxt]) / 2, (us[nxt + 1] + ue[nxt + 1]) / 2
    linked = (
        (run_of[1:] == run_of[:-1]) & (who[1:] != who[:-1])
        & (left_mid[:-1] < cut[1:]) & (cut[1:] < right_mid[:-1])
        & (left_mid[1:] < cut[:-1]) & (cut[:-1] < right_mid[1:])
    )  # fmt: skip
    chain = np.cumsum(np.r_[True, ~linked]) - 1
    n_chains = int(chain[-1]) + 1
    n_lab = int(lab.max(initial=0)) + 1
    labelers = np.bincount(_unique_ints(chain * n_lab + who) // n_lab, minlength=n_chains)
    first = np.r_[0, np.flatnonzero(~linked) + 1]
    run = run_of[first]
    keep = labelers >= threshold[g[run]] - 1e-9
    if not keep.any():
        return none
    at = _weighted_median(chain, cut, np.ones(cut.size), n_chains)
    return g[run[keep]], at[keep]


def _consensus_arrays(t: ShapeTable, min_support: np.ndarray, mt: _Matched | None, iou: float) -> dict[str, np.ndarray]:
    if t.kind == SEGMENTS:
        return _segment_consensus(t, min_support)
    if mt is None:
        mt = _matched(t, iou)
    return _box_clusters(t, mt.i, mt.j, min_support)


def _majority(m_item: np.ndarray) -> np.ndarray:
    return m_item // 2 + 1


COORD_DIGITS = 9  # the consensus's coordinates: far below a pixel or a sample, above float noise


def consensus(t: ShapeTable, *, iou: float = 0.5, min_support: int | None = None) -> dict[Any, dict[str, list]]:
    """Consensus shapes per item: ``{item: {"boxes": [{"x", "y", "w", "h", "label", "support"}]}}`` (or
    ``{"segments": [{"start", "end", "label", "support"}]}``), for every item with an answer.

    Boxes: shapes matched across labelers (as in :func:`shape_agreement`, IoU ≥ ``iou``, same label)
    form clusters (connected components of the matches); each cluster is fused corner by corner to the
    weighted median (weights from the table: 1 for labelers; two boxes give their mean) and its ``support`` is
    the number of labelers who drew it. Segments: majority over time — per class, the instants covered
    by at least ``min_support`` labelers, merged into segments whose ``support`` is the largest number
    of labelers covering an instant of it; a segment is cut where at least ``min_support`` labelers cut it
    (two of their own segments in a row, touching or not, their cuts near each other: at the median of the
    cuts), so two words or two turns of one speaker drawn touching stay two.

    ``min_support``: the least support kept (default: more than half of the item's answering labelers;
    an item answered by one labeler keeps all of that labeler's shapes). Items whose consensus is empty
    answer an empty list ("nothing here").
    """
    m_item, _ = _per_item_counts(t)
    need = _majority(m_item) if min_support is None else np.full(m_item.shape, int(min_support))
    arr = _consensus_arrays(t, need, None, iou)
    return _consensus_dict(t, arr, items_with_answers=np.flatnonzero(m_item > 0))


def _consensus_dict(t: ShapeTable, arr: dict[str, np.ndarray], items_with_answers: np.ndarray) -> dict[Any, dict]:
    out: dict[Any, dict[str, list]] = {t.items[k]: {t.kind: []} for k in items_with_answers}
    order = np.lexsort((arr["coords"][:, 0], arr["item"])) if arr["item"].size else np.zeros(0, np.int64)
    for k in order:
        # Rounded to 9 decimals (a nanometre of a metre-wide image, a nanosecond): a box drawn at w = 0.123711
        # came back 0.12371100000000002 from its corners' difference, in the versions' files too.
        c = [round(float(v), COORD_DIGITS) for v in arr["coords"][k]]
        if t.kind == BOXES:
            shape = {"x": c[0], "y": c[1], "w": round(c[2] - c[0], COORD_DIGITS), "h": round(c[3] - c[1], COORD_DIGITS)}
        else:
            shape = {"start": c[0], "end": c[1]}
        shape.update(label=t.labels[arr["label"][k]], support=int(arr["support"][k]))
        out[t.items[arr["item"][k]]][t.kind].append(shape)
    return out


def _per_labeler(t: ShapeTable, mt: _Matched, iou: float, *, ap_detail: bool = False) -> dict[Any, dict[str, Any]]:
    """Each labeler's shapes against the consensus of the others, on the items they answered with at
    least one other labeler (the others' consensus keeps shapes with at least half their support).

    ``ap_detail``: also AP per class (``ap_per_class``), and mAP for segments too (as boxes of full
    height, whose IoU is the segments' IoU).

    All labelers at once (leave one out, vectorised): every answer (item, labeler) on an item with two
    or more answers is a *group*; the group's "others" are the item's shapes by its other labelers,
    copied once per group (an item with ``m`` answers and ``N`` shapes gives ``(m - 1)·N`` copies), and
    the matches among them are the global matches between two of those labelers. One connected
    components pass fuses every group's consensus, one matching pass compares each labeler's shapes
    with their group's consensus and one COCO pass scores them, whatever the number of labelers. Groups
    are ordered labeler by labeler, items in order within, and copies keep the table's order, so every
    sum, tie and fusion happens in the order of a labeler-by-labeler computation and answers the same
    numbers (checked against one in the tests)."""
    m_item, _ = _per_item_counts(t)
    labs = np.unique(t.answer_labeler)
    out: dict[Any, dict[str, Any]] = {}
    n_lab = max(len(t.labelers), int(t.labeler.max(initial=-1)) + 1, int(t.answer_labeler.max(initial=-1)) + 1)
    pairable = m_item[t.answer_item] >= 2
    a_item, a_lab = t.answer_item[pairable], t.answer_labeler[pairable]  # sorted by (item, labeler)
    n_groups = a_item.size
    # Group number of each answer: labeler-major, items in order within a labeler.
    g_order = np.argsort(a_lab, kind="stable")
    group_of = np.empty(n_groups, np.int64)
    group_of[g_order] = np.arange(n_groups)
    g_item, g_lab = a_item[g_order], a_lab[g_order]
    # Each shape's answer (index into a_item) and its own labeler's place among the item's answers.
    on = m_item[t.item] >= 2
    s_idx = np.flatnonzero(on)
    s_item, s_lab = t.item[s_idx], t.labeler[s_idx]
    a_key = a_item * n_lab + a_lab
    s_ans = np.searchsorted(a_key, s_item * n_lab + s_lab)
    item_first = np.searchsorted(a_item, np.arange(len(t.items)))  # first answer of each item
    s_pos = s_ans - item_first[s_item]
    # Shapes per answer, where each item's shapes start in the table, where each group's copies start.
    per_answer = np.bincount(s_ans, minlength=n_groups)
    item_start = np.searchsorted(t.item, np.arange(len(t.items)))
    shapes_on_item = np.bincount(t.item, minlength=len(t.items))
    g_size = shapes_on_item[g_item] - per_answer[g_order]
    g_start = np.cumsum(g_size) - g_size

    def copies(src: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group and position of copies of shapes ``src`` into the answers ``a_item[first + rel]``: the
        group's start + the shape's place among the item's shapes, less the group labeler's own."""
        ans = item_first[t.item[src]] + rel
        grp = group_of[ans]
        own = per_answer[ans] * (t.labeler[src] > a_lab[ans])
        return grp, g_start[grp] + (src - item_start[t.item[src]]) - own

    # Copies of every shape into the groups of the other labelers of its item.
    reps = m_item[s_item] - 1
    src = np.repeat(s_idx, reps)
    k = np.arange(src.size) - np.repeat(np.cumsum(reps) - reps, reps)
    k = k + (k >= np.repeat(s_pos, reps))  # skip the shape's own labeler
    grp, pos = copies(src, k)
    n_copies = int(g_size.sum())
    node = np.empty(n_copies, np.int64)
    node[pos] = src
    node_group = np.empty(n_copies, np.int64)
    node_group[pos] = grp
    del src, k, grp, pos  # big arrays: memory given back early is memory the next step reuses
    others = _internal_table(t, node_group, t.labeler[node], t.label[node], t.corners[node], t.weight[node], n_groups)
    del node, node_group
    need = np.maximum(m_item[g_item] // 2, 1)  # at least half of the others
    if t.kind == BOXES:
        # Copies of each global match into the groups of the item's third, fourth, ... labelers.
        ei, ej = mt.i, mt.j
        e_item = t.item[ei]
        first = item_first[e_item]
        pi = np.searchsorted(a_key, e_item * n_lab + t.labeler[ei]) - first
        pj = np.searchsorted(a_key, e_item * n_lab + t.labeler[ej]) - first
        reps = m_item[e_item] - 2
        k = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        k = k + (k >= np.repeat(pi, reps))
        k = k + (k >= np.repeat(pj, reps))
        _, ci = copies(np.repeat(ei, reps), k)
        _, cj = copies(np.repeat(ej, reps), k)
        del k
        cons = _box_clusters(others, ci, cj, need)
        del ci, cj
        cons_coords = _xywh(cons["coords"])
    else:
        cons = _segment_consensus(others, need)
        cons_coords = cons["coords"].reshape(-1, 2)
    del others
    # Each labeler's shapes (labeler 0) against their group's consensus (labeler 1), all groups at once,
    # in a table laid out directly in its (group, labeler) order: a group's own shapes, then its
    # consensus, each in their order (what sorting them by group and side, stably, would give).
    n_mine, n_cons = s_idx.size, cons["item"].size
    mine_n = per_answer[g_order]
    cons_n = np.bincount(cons["item"], minlength=n_groups)
    pair_start = np.cumsum(mine_n + cons_n) - (mine_n + cons_n)
    s_group = group_of[s_ans]
    pos_mine = pair_start[s_group] + np.arange(n_mine) - (np.cumsum(per_answer) - per_answer)[s_ans]
    pos_cons = (
        pair_start[cons["item"]] + mine_n[cons["item"]] + np.arange(n_cons) - (np.cumsum(cons_n) - cons_n)[cons["item"]]
    )
    n_pair = n_mine + n_cons
    p_item, p_side, p_label = np.empty(n_pair, np.int64), np.zeros(n_pair, np.int64), np.empty(n_pair, np.int64)
    p_corners = np.empty((n_pair, t.coords.shape[1]))
    p_item[pos_mine], p_item[pos_cons] = s_group, cons["item"]
    p_side[pos_cons] = 1
    p_label[pos_mine], p_label[pos_cons] = t.label[s_idx], cons["label"]
    p_corners[pos_mine], p_corners[pos_cons] = t.corners[s_idx], _corners(t.kind, cons_coords)
    pair = _internal_table(t, p_item, p_side, p_label, p_corners, np.ones(n_pair), n_groups, labelers=[0, 1])
    del p_item, p_side, p_label, p_corners
    # Candidate pairs once, at the lower of the report's threshold and AP's 0.5: the matching and AP
    # both take theirs from them (the same IoUs AP's own search would compute).
    p = _cross_pairs(pair, min(iou, _AP_IOU) - _EPS, None)
    edge = p.iou >= iou - _EPS
    ei, ew = p.i[edge], p.iou[edge]
    kept = _match(pair, ei, p.j[edge], ew)
    pm_i, pm_iou = ei[kept], ew[kept]
    n_mine_lab = np.bincount(s_lab, minlength=n_lab)
    n_cons_lab = np.bincount(g_lab[cons["item"]], minlength=n_lab)
    match_lab = g_lab[pair.item[pm_i]]  # non-decreasing: the pair table is labeler-major
    bounds = np.searchsorted(match_lab, np.arange(n_lab + 1))
    groups_of_lab = np.bincount(g_lab, minlength=n_lab)
    maps: dict[int, float] = {}
    class_aps: dict[int, dict[int, float]] = {}
    if t.kind == BOXES or ap_detail:
        row = np.empty(n_pair, np.int64)
        row[pos_mine], row[pos_cons] = np.arange(n_mine), np.arange(n_cons)
        # Segments as boxes of full height: the same IoU, so the candidate pairs hold for them too.
        maps, class_aps = _ap_by_labeler(
            gt=(cons["item"], cons["label"], _as_boxes(t.kind, cons_coords)),
            pred=(s_group, t.label[s_idx], _as_boxes(t.kind, t.coords[s_idx]), np.ones(n_mine)),
            image_eval=g_lab,
            candidates=(row[p.i], row[p.j], p.iou),
            per_class=True,
        )
    for lab in labs:
        name = t.labelers[lab]
        if not groups_of_lab[lab]:
            out[name] = {"f1": None, "mean_iou": None, "map50": None, "n_items": 0}
        else:
            ious = pm_iou[bounds[lab] : bounds[lab + 1]].copy()
            out[name] = {
                "f1": _ratio(2.0 * ious.size, float(n_mine_lab[lab] + n_cons_lab[lab])),
                "mean_iou": float(ious.mean()) if ious.size else None,
                "map50": maps.get(int(lab)),
                "n_items": int(groups_of_lab[lab]),
            }
        if ap_detail:
            out[name]["ap_per_class"] = {t.labels[c]: ap for c, ap in class_aps.get(int(lab), {}).items()}
    return out


def _as_boxes(kind: str, coords: np.ndarray) -> np.ndarray:
    """Boxes ``x, y, w, h`` unchanged; segments ``start, end`` as boxes of height 1 (same IoU)."""
    if kind == BOXES:
        return coords
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    return np.stack([coords[:, 0], np.zeros(len(coords)), coords[:, 1] - coords[:, 0], np.ones(len(coords))], axis=1)


def labeler_average_precision(t: ShapeTable, *, iou: float = 0.5) -> dict[Any, dict[str, Any]]:
    """Each labeler's COCO AP@0.5 against the consensus of the others (the HLP of a detection task).

    On the items a labeler answered with at least one other labeler, the others' consensus (clusters
    matched at ``iou``, kept with at least half of the others' support; segments by majority over time)
    is the reference and the labeler's shapes are predictions of confidence 1. Answers ``{labeler:
    {"map50", "ap_per_class": {label: AP}, "n_items", "f1", "mean_iou"}}``; ``map50`` is None where the
    others' consensus has no shape. Segments are scored as boxes of full height (the same IoU).
    """
    if not len(t.answer_item):
        return {}
    return _per_labeler(t, _matched(t, iou), iou, ap_detail=True)


def shapes_average_precision(
    *,
    kind: str,
    reference: Mapping[Any, Sequence[Mapping[str, Any]]],
    predicted: Mapping[Any, Sequence[Mapping[str, Any]]],
) -> dict[str, Any] | None:
    """COCO AP@0.5 of predicted shapes against reference shapes (:func:`average_precision`).

    ``reference``: ``{item: [{"x", "y", "w", "h", "label"}, ...]}`` (or segments ``start, end``), an
    empty list for an item with nothing on it. ``predicted``: the same with a ``confidence`` per shape.
    Predictions on items absent from ``reference`` are ignored; items of ``reference`` the model left
    without predictions lower recall. Answers ``{"map", "per_class"}``, or None when the reference has
    no shape at all (AP undefined)."""
    _check_kind(kind)
    keys = ("x", "y", "w", "h") if kind == BOXES else ("start", "end")
    gi, gl, gc, pi, pl, pc, ps = [], [], [], [], [], [], []
    for item, shapes in reference.items():
        for sh in shapes:
            gi.append(item)
            gl.append(sh["label"])
            gc.append([float(sh[k]) for k in keys])
        for sh in predicted.get(item, ()):
            pi.append(item)
            pl.append(sh["label"])
            pc.append([float(sh[k]) for k in keys])
            ps.append(float(sh.get("confidence", 1.0)))
    if not gi:
        return None
    width = len(keys)
    return average_precision(
        gt=(np.asarray(gi), np.asarray(gl, dtype=object), _as_boxes(kind, np.asarray(gc).reshape(-1, width))),
        pred=(
            np.asarray(pi, dtype=np.asarray(gi).dtype),
            np.asarray(pl, dtype=object),
            _as_boxes(kind, np.asarray(pc, dtype=np.float64).reshape(-1, width)),
            np.asarray(ps, dtype=np.float64),
        ),
        iou=0.5,
    )


def _xywh(corners: np.ndarray) -> np.ndarray:
    corners = corners.reshape(-1, 4)
    return np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)


# --------------------------------------------------------------------------------------------------
# COCO average precision
# --------------------------------------------------------------------------------------------------
_REC_THRS = np.linspace(0.0, 1.0, 101)
_AP_IOU = 0.5  # the per-labeler report's mAP@0.5


def average_precision(
    *,
    gt: tuple[Any, Any, Any],
    pred: tuple[Any, Any, Any, Any],
    iou: float = 0.5,
    max_dets: int = 100,
) -> dict[str, Any]:
    """COCO-style average precision at one IoU threshold (AP@0.5 by default), as pycocotools computes
    ``stats[1]`` (area "all", ``max_dets`` detections per image).

    ``gt``: ``(image, label, boxes)`` — ``(n,)`` image ids, ``(n,)`` labels, ``(n, 4)`` boxes ``x, y,
    w, h``. ``pred``: ``(image, label, boxes, confidence)`` the same with ``(m,)`` scores.

    Per image and class, predictions (the ``max_dets`` highest scores) are matched greedily in
    decreasing score to the unmatched reference box of highest IoU ≥ ``iou``; over all images,
    precision at the 101 recall points 0, 0.01, …, 1 of the monotone (interpolated) precision envelope
    is averaged. Classes without reference boxes are left out of ``map``. Answers ``{"map": float,
    "per_class": {label: AP}}``. Raises :class:`MetricUndefined` when there is no reference box.
    """
    gi, gl, gb = (np.asarray(v) for v in gt)
    pi, pl, pb, ps = (np.asarray(v) for v in pred)
    if gi.size == 0:
        raise MetricUndefined("AP is undefined: there are no reference boxes")
    # Code images and classes over both sides.
    g_img, p_img, images = _code_pair(gi, pi)
    g_lab, p_lab, labels_all = _code_pair(gl, pl)
    ap = _ap_core(
        g_img, g_lab, gb, p_img, p_lab, pb, ps, np.zeros(len(images), np.int64), len(labels_all), iou, max_dets
    )
    per_class = {labels_all[c]: value for (_, c), value in ap.items()}
    if not per_class:
        raise MetricUndefined("AP is undefined: there are no reference boxes")
    return {"map": float(np.mean(list(per_class.values()))), "per_class": per_class}


def _ap_by_labeler(*, gt, pred, image_eval: np.ndarray, candidates=None, per_class: bool = False):
    """mAP of several evaluations at once (one per labeler, for the per-labeler report): images are
    integer codes whose evaluation is ``image_eval[image]`` (non-decreasing in the code), labels integer
    codes. Answers ``{evaluation: mAP}`` for evaluations with a reference box, each equal to
    :func:`average_precision` of that evaluation's boxes alone (whose image and class codes sort the
    same way). ``candidates``: ``(pred, gt, IoU)`` index pairs holding at least every pair of the same
    image and class with IoU ≥ 0.5 (found already by the caller; None: searched here)."""
    gi, gl, gb = gt
    pi, pl, pb, ps = pred
    if gi.size == 0:
        return ({}, {}) if per_class else {}
    n_cls = int(max(gl.max(initial=-1), pl.max(initial=-1))) + 1
    ap = _ap_core(gi, gl, gb, pi, pl, pb, ps, image_eval, n_cls, _AP_IOU, 100, candidates)
    by_eval: dict[int, dict[int, float]] = {}
    for (e, c), value in ap.items():  # classes in order within an evaluation, as average_precision
        by_eval.setdefault(int(e), {})[int(c)] = value
    maps = {e: float(np.mean(list(values.values()))) for e, values in by_eval.items()}
    return (maps, by_eval) if per_class else maps


def _ap_core(
    g_img, g_lab, gb, p_img, p_lab, pb, ps, image_eval, n_cls, iou, max_dets, candidates=None
) -> dict[tuple[int, int], float]:
    """COCO AP per (evaluation, class) with a reference box, in that order. Images and classes are
    integer codes (``n_cls`` classes); ``image_eval[image]``: the evaluation of each image code,
    non-decreasing (an evaluation's images are consecutive codes). ``candidates``: see
    :func:`_ap_by_labeler`."""
    g_img, g_lab = np.asarray(g_img, np.int64).ravel(), np.asarray(g_lab, np.int64).ravel()
    p_img, p_lab = np.asarray(p_img, np.int64).ravel(), np.asarray(p_lab, np.int64).ravel()
    gb = np.asarray(gb, dtype=np.float64).reshape(-1, 4)
    pb = np.asarray(pb, dtype=np.float64).reshape(-1, 4)
    ps = np.asarray(ps, dtype=np.float64).ravel()
    image_eval = np.asarray(image_eval, np.int64)
    n_cls = max(int(n_cls), 1)
    # One integer key per (image, class): 1-D sorts, same order as sorting by image then class.
    g_key, p_key = g_img * n_cls + g_lab, p_img * n_cls + p_lab
    # Keep the max_dets best predictions per (image, class), in decreasing score (stable, as COCO).
    order = np.lexsort((-ps, p_key))
    pk = p_key[order]
    new = np.r_[True, pk[1:] != pk[:-1]] if pk.size else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(new, np.arange(new.size), 0)) if new.size else new
    rank = np.arange(new.size) - start
    order = order[rank < max_dets]
    tp = np.zeros(ps.size, dtype=bool)
    # Candidate (prediction, reference) pairs on the same image and class, IoU ≥ threshold.
    if candidates is None:
        gc, pc = _corners(BOXES, gb), _corners(BOXES, pb)
        gorder = np.argsort(g_key, kind="stable")
        key_g = g_key[gorder]
        key_p = p_key[order]
        lo = np.searchsorted(key_g, key_p, side="left")
        hi = np.searchsorted(key_g, key_p, side="right")
        cnt = hi - lo
        d = np.repeat(order, cnt)
        offs = np.arange(d.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        g = gorder[np.repeat(lo, cnt) + offs]
        ious = _iou_rows(BOXES, pc[d], gc[g])[0]
        ok = ious >= iou
    else:
        d, g, ious = candidates
        ranked = np.zeros(ps.size, dtype=bool)
        ranked[order] = True
        ok = (ious >= iou) & ranked[d]
    d, g, ious = d[ok], g[ok], ious[ok]
    # Fast path: a prediction with one candidate whose reference has no other candidate.
    dc = np.bincount(d, minlength=ps.size)
    gcnt = np.bincount(g, minlength=g_img.size)
    simple = (dc[d] == 1) & (gcnt[g] == 1)
    tp[d[simple]] = True
    hard = np.flatnonzero(~simple)
    if hard.size:
        rank_of = np.empty(ps.size, np.int64)
        rank_of[order] = np.arange(order.size)
        hard = hard[np.argsort(p_key[d[hard]], kind="stable")]  # edges of one (image, class) together
        hd, hg, hv = d[hard], g[hard], ious[hard]
        cuts = np.flatnonzero(np.r_[True, p_key[hd[1:]] != p_key[hd[:-1]], True])
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            ed, eg, ev = hd[a:b], hg[a:b], hv[a:b]
            taken: set[int] = set()
            for p_idx in sorted(set(ed.tolist()), key=lambda x: rank_of[x]):
                best, best_iou = -1, iou - 1e-12
                # COCO walks the references in order and keeps the last of equal best IoUs.
                for gg, vv in sorted(zip(eg[ed == p_idx].tolist(), ev[ed == p_idx].tolist(), strict=True)):
                    if gg in taken or vv < best_iou:
                        continue
                    best, best_iou = gg, vv
                if best >= 0:
                    taken.add(best)
                    tp[p_idx] = True
    # Per (evaluation, class): kept predictions by decreasing score, images in order and then the
    # input order among equal scores (COCO concatenates images in order and sorts stably by score).
    kept = np.sort(order)
    seg = image_eval[p_img[kept]] * n_cls + p_lab[kept]
    kept = kept[np.lexsort((p_img[kept], -ps[kept], seg))]
    seg_sorted = image_eval[p_img[kept]] * n_cls + p_lab[kept]
    n_gt = np.bincount(image_eval[g_img] * n_cls + g_lab)
    out: dict[tuple[int, int], float] = {}
    for s in np.flatnonzero(n_gt).tolist():
        lo_s, hi_s = np.searchsorted(seg_sorted, [s, s + 1])
        sel = kept[lo_s:hi_s]
        tps = np.cumsum(tp[sel])
        fps = np.cumsum(~tp[sel])
        rc = tps / n_gt[s]
        pr = tps / np.maximum(tps + fps, np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1] if pr.size else pr
        q = np.zeros(_REC_THRS.size)
        if pr.size:
            idx = np.searchsorted(rc, _REC_THRS, side="left")
            inside = idx < pr.size
            q[inside] = pr[idx[inside]]
        out[(s // n_cls, s % n_cls)] = float(np.mean(q))
    return out


def _code_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Codes of two arrays of values over their shared vocabulary (sorted when sortable)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":  # numbers: NumPy's unique, no Python loop
        names, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
        return codes[: a.size], codes[a.size :], names.tolist()
    both = np.concatenate([a.astype(object), b.astype(object)]).tolist()
    try:
        names_l = sorted(set(both))
    except TypeError:
        names_l = list(dict.fromkeys(both))
    index = {v: k for k, v in enumerate(names_l)}
    codes = np.fromiter((index[v] for v in both), dtype=np.int64, count=len(both))
    return codes[: a.size], codes[a.size :], names_l
