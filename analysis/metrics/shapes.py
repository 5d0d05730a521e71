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

Design for speed: all candidate pairs are generated per item with NumPy (never a Python loop per box),
in chunks of items to bound memory; 100,000 images × 3 labelers × 5 boxes take a few seconds
(``benchmarks/shapes_bench.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
    "match_shapes",
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
_CHUNK_PAIRS = 2_000_000  # candidate pairs per chunk: bounds memory on big projects


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
    rows, cols = linear_sum_assignment(m, maximize=True)
    return [(int(r), int(c), float(m[r, c])) for r, c in zip(rows, cols, strict=True) if m[r, c] > 0]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown shape kind {kind!r}; one of {KINDS}")


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

    @property
    def corners(self) -> np.ndarray:
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
    pairs = np.unique(np.stack([ai, al], axis=1), axis=0) if ai.size else np.zeros((0, 2), np.int64)
    order = np.lexsort((labeler, item))
    n_items = int(max(item.max(initial=-1), pairs[:, 0].max(initial=-1))) + 1
    n_lab = int(max(labeler.max(initial=-1), pairs[:, 1].max(initial=-1))) + 1
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


def _cross_pairs(t: ShapeTable, iou_min: float, cover_min: float) -> _Pairs:
    """Every same-label pair of shapes of two different labelers on the same item that has IoU ≥
    ``iou_min`` or one inside the other by ≥ ``cover_min``. Rows are sorted by (item, labeler), so each
    shape is paired with the shapes of the later labelers of its item: no Python loop per shape."""
    n = t.n_shapes
    empty = _Pairs(*(np.zeros(0, np.int64),) * 2, *(np.zeros(0),) * 3)
    if n < 2:
        return empty
    idx = np.arange(n)
    new_item = np.r_[True, t.item[1:] != t.item[:-1]]
    new_group = new_item | np.r_[True, t.labeler[1:] != t.labeler[:-1]]
    item_start = np.flatnonzero(new_item)
    group_start = np.flatnonzero(new_group)
    item_end = np.r_[item_start[1:], n]
    group_end = np.r_[group_start[1:], n]
    my_item_end = item_end[np.cumsum(new_item) - 1]
    my_group_end = group_end[np.cumsum(new_group) - 1]
    count = my_item_end - my_group_end  # shapes of later labelers on the same item
    cum = np.cumsum(count)
    corners = t.corners
    parts: list[_Pairs] = []
    lo = 0
    while lo < n:
        # Rows lo..hi-1 give at most _CHUNK_PAIRS pairs (at least one row per chunk).
        base = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, base + _CHUNK_PAIRS, side="right")), lo + 1)
        c = count[lo:hi]
        i = np.repeat(idx[lo:hi], c)
        offsets = np.arange(i.shape[0]) - np.repeat(np.cumsum(c) - c, c)
        j = np.repeat(my_group_end[lo:hi], c) + offsets
        same = t.label[i] == t.label[j]
        i, j = i[same], j[same]
        iou, i_in_j, j_in_i = _iou_rows(t.kind, corners[i], corners[j])
        keep = ((iou >= iou_min) & (iou > 0)) | (i_in_j >= cover_min - _EPS) | (j_in_i >= cover_min - _EPS)
        parts.append(_Pairs(i[keep], j[keep], iou[keep], i_in_j[keep], j_in_i[keep]))
        lo = hi
    if not parts:
        return empty
    return _Pairs(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("i", "j", "iou", "i_in_j", "j_in_i")))


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
    _, inv_i, cnt_i = np.unique(side_i, return_inverse=True, return_counts=True)
    _, inv_j, cnt_j = np.unique(side_j, return_inverse=True, return_counts=True)
    simple = (cnt_i[inv_i] == 1) & (cnt_j[inv_j] == 1)
    keep[simple] = True
    hard = np.flatnonzero(~simple)
    if not hard.size:
        return keep
    # Group the remaining edges by (item, labeler of i, labeler of j) and solve each group.
    key = np.stack([t.item[i[hard]], t.labeler[i[hard]], t.labeler[j[hard]]], axis=1)
    _, group = np.unique(key, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        e = hard[order[a:b]]
        ri, rows = np.unique(i[e], return_inverse=True)
        rj, cols = np.unique(j[e], return_inverse=True)
        m = np.zeros((ri.size, rj.size))
        m[rows, cols] = w[e]
        r, c = linear_sum_assignment(m, maximize=True)
        chosen = {(int(x), int(y)) for x, y in zip(r, c, strict=True) if m[x, y] > 0}
        for k, edge in enumerate(e):
            if (int(rows[k]), int(cols[k])) in chosen:
                keep[edge] = True
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
        split_merge=_split_merge(t, mt.pairs),
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


def _split_merge(t: ShapeTable, p: _Pairs, cover: float = COVER) -> list[dict[str, Any]]:
    """Items where one labeler's shape covers two or more shapes (same label) of another labeler, each
    at least ``cover`` inside it. One row per (item, one, many); ``n`` counts the other labeler's shapes
    so covered by the first labeler's covering shapes."""
    # j inside i: i's labeler is "one"; i inside j: j's labeler is "one". Each (big, small) occurs once.
    sel_j, sel_i = p.j_in_i >= cover - _EPS, p.i_in_j >= cover - _EPS
    big = np.concatenate([p.i[sel_j], p.j[sel_i]])
    small = np.concatenate([p.j[sel_j], p.i[sel_i]])
    if not big.size:
        return []
    # Covering shapes that hold two or more shapes of one other labeler (1-D keys: a fast sort).
    n_lab = max(len(t.labelers), int(t.labeler.max(initial=0)) + 1)
    _, inv, cnt = np.unique(big * n_lab + t.labeler[small], return_inverse=True, return_counts=True)
    multi = cnt[inv.ravel()] >= 2
    out: dict[tuple[int, int, int], set[int]] = {}
    for bg, sm in zip(big[multi].tolist(), small[multi].tolist(), strict=True):
        out.setdefault((int(t.item[bg]), int(t.labeler[bg]), int(t.labeler[sm])), set()).add(sm)
    return [
        {"item": t.items[it], "one": t.labelers[one], "many": t.labelers[many], "n": len(smalls)}
        for (it, one, many), smalls in sorted(out.items())
    ]


def split_merge(t: ShapeTable, *, cover: float = COVER) -> list[dict[str, Any]]:
    """The iguana pattern: ``[{"item", "one", "many", "n"}]`` for every item where a shape of labeler
    ``one`` covers two or more same-label shapes of labeler ``many``, each at least ``cover`` (0.7) of
    its area (or length) inside it. ``n``: how many of ``many``'s shapes are so covered."""
    return _split_merge(t, _cross_pairs(t, 1.0 + 1e-9, cover), cover)


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
    g = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    n_comp, comp = connected_components(g, directed=False)
    w = t.weight
    c = t.corners
    wsum = np.bincount(comp, weights=w, minlength=n_comp)
    fused = np.stack([_weighted_median(comp, c[:, k], w, n_comp) for k in range(4)], axis=1)
    # Support: distinct labelers in the component (a chain of matches may rarely link two shapes of one
    # labeler; they are fused and count once).
    lab_comp = np.unique(np.stack([comp, t.labeler], axis=1), axis=0)
    support = np.bincount(lab_comp[:, 0], minlength=n_comp)
    first = np.full(n_comp, -1, dtype=np.int64)
    first[comp[::-1]] = np.arange(n)[::-1]
    item, label = t.item[first], t.label[first]
    size = np.bincount(comp, minlength=n_comp)
    score = wsum / np.maximum(size, 1) * support
    keep = support >= min_support[item]
    return {"item": item[keep], "label": label[keep], "coords": fused[keep], "support": support[keep],
            "score": score[keep]}  # fmt: skip


def _sweep(group: np.ndarray, start: np.ndarray, end: np.ndarray, weight: np.ndarray, threshold: np.ndarray):
    """Maximal intervals where the summed ``weight`` of the intervals of a group covering each instant
    is ≥ the group's ``threshold``. Answers (group, start, end, max coverage) of each interval."""
    ok = np.isfinite(start) & np.isfinite(end) & (end > start)
    group, start, end, weight = group[ok], start[ok], end[ok], weight[ok]
    if not group.size:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z, z
    g = np.r_[group, group]
    tm = np.r_[start, end]
    d = np.r_[weight, -weight]
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
    runs = np.flatnonzero(new_run)
    run_end = np.r_[runs[1:], k.size] - 1
    return kg[runs], ks[runs], ke[run_end], np.maximum.reduceat(kc, runs)


def _segment_consensus(t: ShapeTable, min_support: np.ndarray) -> dict[str, np.ndarray]:
    """Majority over time: per (item, class), the instants covered by at least ``min_support[item]``
    labelers (a labeler's own overlapping segments count once)."""
    n_cls = max(len(t.labels), 1)
    c = t.corners
    # A labeler's own union per (item, labeler, class) first, so one labeler never counts twice.
    keys, group = np.unique(np.stack([t.item, t.labeler, t.label], axis=1), axis=0, return_inverse=True)
    ug, us, ue, _ = _sweep(group.ravel(), c[:, 0], c[:, 1], np.ones(t.n_shapes), np.ones(len(keys)))
    item, label = keys[ug, 0], keys[ug, 2]
    thr = np.repeat(np.asarray(min_support, dtype=np.float64), n_cls)
    g, s, e, sup = _sweep(item * n_cls + label, us, ue, np.ones(ug.size), thr)
    return {"item": g // n_cls, "label": g % n_cls, "coords": np.stack([s, e], axis=1).reshape(-1, 2),
            "support": np.rint(sup).astype(np.int64), "score": sup.astype(np.float64)}  # fmt: skip


def _consensus_arrays(t: ShapeTable, min_support: np.ndarray, mt: _Matched | None, iou: float) -> dict[str, np.ndarray]:
    if t.kind == SEGMENTS:
        return _segment_consensus(t, min_support)
    if mt is None:
        mt = _matched(t, iou)
    return _box_clusters(t, mt.i, mt.j, min_support)


def _majority(m_item: np.ndarray) -> np.ndarray:
    return m_item // 2 + 1


def consensus(t: ShapeTable, *, iou: float = 0.5, min_support: int | None = None) -> dict[Any, dict[str, list]]:
    """Consensus shapes per item: ``{item: {"boxes": [{"x", "y", "w", "h", "label", "support"}]}}`` (or
    ``{"segments": [{"start", "end", "label", "support"}]}``), for every item with an answer.

    Boxes: shapes matched across labelers (as in :func:`shape_agreement`, IoU ≥ ``iou``, same label)
    form clusters (connected components of the matches); each cluster is fused corner by corner to the
    weighted median (weights from the table: 1 for labelers; two boxes give their mean) and its ``support`` is
    the number of labelers who drew it. Segments: majority over time — per class, the instants covered
    by at least ``min_support`` labelers, merged into segments whose ``support`` is the largest number
    of labelers covering an instant of it.

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
        c = arr["coords"][k]
        if t.kind == BOXES:
            shape = {"x": float(c[0]), "y": float(c[1]), "w": float(c[2] - c[0]), "h": float(c[3] - c[1])}
        else:
            shape = {"start": float(c[0]), "end": float(c[1])}
        shape.update(label=t.labels[arr["label"][k]], support=int(arr["support"][k]))
        out[t.items[arr["item"][k]]][t.kind].append(shape)
    return out


def _per_labeler(t: ShapeTable, mt: _Matched, iou: float, *, ap_detail: bool = False) -> dict[Any, dict[str, Any]]:
    """Each labeler's shapes against the consensus of the others, on the items they answered with at
    least one other labeler (the others' consensus keeps shapes with at least half their support).

    ``ap_detail``: also AP per class (``ap_per_class``), and mAP for segments too (as boxes of full
    height, whose IoU is the segments' IoU)."""
    m_item, _ = _per_item_counts(t)
    out: dict[Any, dict[str, Any]] = {}
    for lab in np.unique(t.answer_labeler):
        their_items = t.answer_item[t.answer_labeler == lab]
        their_items = their_items[m_item[their_items] >= 2]
        name = t.labelers[lab]
        if not their_items.size:
            out[name] = {"f1": None, "mean_iou": None, "map50": None, "n_items": 0}
            continue
        on = np.zeros(len(t.items), dtype=bool)
        on[their_items] = True
        others = on[t.item] & (t.labeler != lab)
        others_t = _subset(t, others, on[t.answer_item] & (t.answer_labeler != lab))
        need = np.maximum((m_item - 1 + 1) // 2, 1)  # at least half of the others
        if t.kind == BOXES:
            # Matches among the others are the global matches between two of them.
            gi, gj = mt.i, mt.j
            sel = others[gi] & others[gj]
            remap = np.cumsum(others) - 1
            cons = _box_clusters(others_t, remap[gi[sel]], remap[gj[sel]], need)
        else:
            cons = _segment_consensus(others_t, need)
        mine = on[t.item] & (t.labeler == lab)
        coords_mine = t.coords[mine]
        cons_coords = cons["coords"] if t.kind == SEGMENTS else _xywh(cons["coords"])
        pair = shape_table_from_arrays(
            t.kind,
            np.r_[t.item[mine], cons["item"]],
            np.r_[np.zeros(int(mine.sum()), np.int64), np.ones(cons["item"].size, np.int64)],
            np.r_[t.label[mine], cons["label"]],
            np.concatenate([coords_mine, cons_coords]).reshape(-1, coords_mine.shape[1]),
            answered=(np.r_[their_items, their_items], np.r_[np.zeros(their_items.size), np.ones(their_items.size)]),
            items=t.items,
            labelers=[0, 1],
            labels=t.labels,
        )
        pm = _matched(pair, iou)
        den = float(mine.sum() + cons["item"].size)
        entry: dict[str, Any] = {
            "f1": _ratio(2.0 * pm.i.size, den),
            "mean_iou": float(pm.iou.mean()) if pm.iou.size else None,
            "map50": None,
            "n_items": int(their_items.size),
        }
        if t.kind == BOXES or ap_detail:
            if ap_detail:
                entry["ap_per_class"] = {}
            with contextlib.suppress(MetricUndefined):  # no consensus box: mAP undefined, left None
                result = average_precision(
                    gt=(cons["item"], cons["label"], _as_boxes(t.kind, cons_coords)),
                    pred=(t.item[mine], t.label[mine], _as_boxes(t.kind, coords_mine), np.ones(int(mine.sum()))),
                    iou=0.5,
                )
                entry["map50"] = result["map"]
                if ap_detail:
                    entry["ap_per_class"] = {t.labels[c]: ap for c, ap in result["per_class"].items()}
        out[name] = entry
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
    gb = np.asarray(gb, dtype=np.float64).reshape(-1, 4)
    pb = np.asarray(pb, dtype=np.float64).reshape(-1, 4)
    ps = np.asarray(ps, dtype=np.float64).ravel()
    if gi.size == 0:
        raise MetricUndefined("AP is undefined: there are no reference boxes")
    # Code (image, class) groups over both sides.
    g_img, p_img, _ = _code_pair(gi, pi)
    g_lab, p_lab, labels_all = _code_pair(gl, pl)
    g_key, p_key = np.stack([g_img, g_lab], axis=1), np.stack([p_img, p_lab], axis=1)
    # Keep the max_dets best predictions per (image, class), in decreasing score (stable, as COCO).
    order = np.lexsort((np.arange(ps.size), -ps, p_key[:, 1], p_key[:, 0]))
    pk = p_key[order]
    new = np.r_[True, (pk[1:] != pk[:-1]).any(axis=1)] if pk.size else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(new, np.arange(new.size), 0)) if new.size else new
    rank = np.arange(new.size) - start
    order = order[rank < max_dets]
    tp = np.zeros(ps.size, dtype=bool)
    # Candidate (prediction, reference) pairs on the same image and class, IoU ≥ threshold.
    gc, pc = _corners(BOXES, gb), _corners(BOXES, pb)
    gorder = np.lexsort((np.arange(gi.size), g_key[:, 1], g_key[:, 0]))
    gk = g_key[gorder]
    key_g = gk[:, 0] * (len(labels_all) + 1) + gk[:, 1]
    key_p = p_key[order, 0] * (len(labels_all) + 1) + p_key[order, 1]
    lo = np.searchsorted(key_g, key_p, side="left")
    hi = np.searchsorted(key_g, key_p, side="right")
    cnt = hi - lo
    d = np.repeat(order, cnt)
    offs = np.arange(d.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    g = gorder[np.repeat(lo, cnt) + offs]
    ious = _iou_rows(BOXES, pc[d], gc[g])[0]
    ok = ious >= iou
    d, g, ious = d[ok], g[ok], ious[ok]
    # Fast path: a prediction with one candidate whose reference has no other candidate.
    dc = np.bincount(d, minlength=ps.size)
    gcnt = np.bincount(g, minlength=gi.size)
    simple = (dc[d] == 1) & (gcnt[g] == 1)
    tp[d[simple]] = True
    hard = ~simple
    if hard.any():
        hd, hg, hv = d[hard], g[hard], ious[hard]
        groups = p_key[hd, 0] * (len(labels_all) + 1) + p_key[hd, 1]
        rank_of = np.empty(ps.size, np.int64)
        rank_of[order] = np.arange(order.size)
        for grp in np.unique(groups):
            sel = groups == grp
            ed, eg, ev = hd[sel], hg[sel], hv[sel]
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
    kept = np.zeros(ps.size, dtype=bool)
    kept[order] = True
    per_class: dict[Any, float] = {}
    n_gt = np.bincount(g_key[:, 1], minlength=len(labels_all))
    for c, name in enumerate(labels_all):
        if n_gt[c] == 0:
            continue
        sel = np.flatnonzero(kept & (p_key[:, 1] == c))
        # COCO concatenates images in order and sorts by score with a stable sort.
        sel = sel[np.lexsort((np.arange(sel.size), p_key[sel, 0]))]
        sel = sel[np.argsort(-ps[sel], kind="mergesort")]
        tps = np.cumsum(tp[sel])
        fps = np.cumsum(~tp[sel])
        rc = tps / n_gt[c]
        pr = tps / np.maximum(tps + fps, np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1] if pr.size else pr
        q = np.zeros(_REC_THRS.size)
        if pr.size:
            idx = np.searchsorted(rc, _REC_THRS, side="left")
            inside = idx < pr.size
            q[inside] = pr[idx[inside]]
        per_class[name] = float(np.mean(q))
    if not per_class:
        raise MetricUndefined("AP is undefined: there are no reference boxes")
    return {"map": float(np.mean(list(per_class.values()))), "per_class": per_class}


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
