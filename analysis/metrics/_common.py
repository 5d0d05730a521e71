"""Shared helpers of :mod:`analysis.metrics`: label encoding, per-unit count matrices, errors.

Conventions used throughout the package
---------------------------------------
* ``ratings`` is a 2-D array-like of shape ``(n_units, n_raters)``: one row per unit (item), one column
  per rater (labeler). A cell holds that rater's answer for that unit, or a missing value.
* Missing values are ``None``, ``float('nan')`` / ``np.nan`` (any NaN, including ``np.float32``) and
  ``pandas.NA``. In a NumPy *unicode/bytes* array the string ``"nan"`` is also treated as missing,
  because NumPy silently turns ``np.nan`` into ``"nan"`` when it builds a string array.
* Labels may be any hashable values (strings, ints, floats, ...). They are converted to integer
  codes ``0..K-1`` internally (:func:`encode_ratings`); ``-1`` marks a missing value.
* Numeric arrays (float with NaN, int, bool) are accepted directly: their distinct values are the
  categories, sorted numerically.
"""

from __future__ import annotations

import functools
import numbers
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

__all__ = ["FLAG_POLICIES", "MISSING", "MetricUndefined", "apply_flag_policy", "encode_ratings"]

#: Code used for a missing answer in the integer code arrays.
MISSING = -1

# Above this many cells (units × categories) the per-unit count matrix is kept sparse.
_DENSE_LIMIT = 20_000_000
# Integer-valued numeric labels spanning at most this range are encoded with a lookup table (O(n))
# instead of a sort.
_LUT_RANGE_LIMIT = 5_000_000


class MetricUndefined(ValueError):
    """A metric is mathematically undefined for the given data.

    Raised instead of returning NaN, with a sentence saying why (no unit with two answers, only one
    category used, no overlap between two raters, ...). It is a :class:`ValueError`, so callers that
    already catch ``ValueError`` keep working.
    """


# --------------------------------------------------------------------------------------------------
# BLAS threads
# --------------------------------------------------------------------------------------------------
# The metrics do many skinny products (200,000 × 10 matrix times a vector). Multi-threaded OpenBLAS
# wakes its threads for each of them, which costs far more than the product itself (×10-30 slower on
# a busy machine or in a Celery worker). While a metric runs, BLAS is limited to one thread with
# threadpoolctl (installed with scikit-learn; without it nothing is changed). The limit is process-wide,
# so nested and concurrent calls share one limiter: the first caller sets it, the last one restores it.
_F = TypeVar("_F", bound=Callable[..., Any])
_blas_lock = threading.Lock()
_blas_state: dict[str, Any] = {"depth": 0, "limiter": None, "controller": None}


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit BLAS to one thread for the duration of the block (re-entrant, thread-safe)."""
    with _blas_lock:
        if _blas_state["depth"] == 0:
            try:
                if _blas_state["controller"] is None:
                    from threadpoolctl import ThreadpoolController

                    with warnings.catch_warnings():  # e.g. "two OpenMP runtimes loaded": not our concern
                        warnings.simplefilter("ignore")
                        _blas_state["controller"] = ThreadpoolController()
                _blas_state["limiter"] = _blas_state["controller"].limit(limits=1, user_api="blas")
            except Exception:  # threadpoolctl missing or unusable: run with the default threads
                _blas_state["limiter"] = None
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0 and _blas_state["limiter"] is not None:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def blas_single_threaded(func: _F) -> _F:
    """Decorator: run ``func`` inside :func:`single_thread_blas`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_thread_blas():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Shared encodings
# --------------------------------------------------------------------------------------------------
# A report passes the same ratings matrix to a dozen metrics, and each used to encode it again and
# count its answers per unit again. Inside ``shared_encoding(ratings)`` the metrics share one
# encoding of that array (and one count matrix per encoding): the arrays are made read-only for the
# block, so no metric (and no caller) can change what the others read. Entries are keyed by the id
# of the array, which stays alive (held here) until the block ends; other arrays are not cached.
class _Shared:
    def __init__(self, array: np.ndarray):
        self.array = array
        self.refs = 0
        self.values: dict[Any, Any] = {}
        self.arrays: list[np.ndarray] = [array]  # the registered arrays (ratings, then its codes)


_shared_lock = threading.Lock()
_shared: dict[int, tuple[np.ndarray, _Shared]] = {}


@contextmanager
def shared_encoding(ratings: np.ndarray) -> Iterator[None]:
    """Within the block, metrics given ``ratings`` (this very array) share its encoding and count
    matrices instead of computing them again; ``ratings`` is read-only meanwhile. Re-entrant and
    thread-safe; the metrics answer the same numbers with or without it."""
    if not isinstance(ratings, np.ndarray):
        yield
        return
    with _shared_lock:
        found = _shared.get(id(ratings))
        entry = found[1] if found is not None and found[0] is ratings else None
        if entry is None:
            entry = _Shared(ratings)
            entry.writeable = ratings.flags.writeable  # type: ignore[attr-defined]
            _shared[id(ratings)] = (ratings, entry)
            ratings.flags.writeable = False
        entry.refs += 1
    try:
        yield
    finally:
        with _shared_lock:
            entry.refs -= 1
            if entry.refs == 0:
                for array in entry.arrays:
                    _shared.pop(id(array), None)
                ratings.flags.writeable = entry.writeable  # type: ignore[attr-defined]


def _hashable(categories: Sequence[Any]) -> Any:
    try:
        key = tuple(categories)
        hash(key)
    except TypeError:
        return object()  # never equal to another key: not cached
    return key


def _shared_value(array: Any, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per ``key`` for an array registered by :func:`shared_encoding` (or for
    the codes encoded from it); an unregistered array always computes."""
    with _shared_lock:
        found = _shared.get(id(array))
        if found is None or found[0] is not array:
            entry = None
        else:
            entry = found[1]
            if key in entry.values:
                return entry.values[key]
    value = compute()
    if entry is None:
        return value
    with _shared_lock:
        if entry.refs == 0:  # the block ended meanwhile
            return value
        if key in entry.values:
            return entry.values[key]
        # What is shared is read-only: a metric that wrote into it would change the others' input.
        shared = value[0] if key[0] == "coded" else value
        if isinstance(shared, np.ndarray):
            shared.flags.writeable = False
        if key[0] == "coded":
            _shared[id(shared)] = (shared, entry)  # count matrices of these codes are shared too
            entry.arrays.append(shared)
        entry.values[key] = value
    return value


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    """True for None, any NaN and pandas.NA (without importing pandas)."""
    if value is None:
        return True
    if type(value).__name__ == "NAType":
        return True
    try:
        return bool(value != value)  # NaN is the only value not equal to itself
    except (TypeError, ValueError):
        return False


def _as_array(ratings: Any) -> np.ndarray:
    if isinstance(ratings, np.ndarray):
        return ratings
    try:
        arr = np.asarray(ratings)
    except ValueError:  # ragged nested sequences
        return np.asarray(ratings, dtype=object)
    if arr.dtype.kind in "US":
        # NumPy turns [[1, "a"]] into strings ("1") and NaN into "nan": keep the original objects.
        return np.asarray(ratings, dtype=object)
    return arr


def _python_scalar(value: Any) -> Any:
    """Turn NumPy scalars into plain Python values (ints for integral floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _encode_numeric(flat: np.ndarray, categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    """Encode a 1-D numeric (int/uint/float/bool) array; NaN is missing."""
    if flat.dtype.kind == "b":
        flat = flat.astype(np.int64)
    codes = np.full(flat.shape, MISSING, dtype=np.int64)
    if flat.dtype.kind == "f":
        valid = ~np.isnan(flat)
        values = flat[valid]
    else:
        valid = None
        values = flat
    if categories is not None:
        if not all(_is_number(c) for c in categories):
            # Non-numeric category list: fall back to the generic (dict) encoder.
            return _encode_objects(flat.astype(object), categories)
        sub = _codes_of_code_range(values, categories)
        if sub is not None:
            if valid is None:
                codes[:] = sub
            else:
                codes[valid] = sub
            return codes, [_python_scalar(c) for c in categories]
        cats = np.asarray(categories, dtype=np.float64)
        order = np.argsort(cats, kind="stable")
        sorted_cats = cats[order]
        if np.any(np.diff(sorted_cats) == 0):
            raise ValueError("categories contains duplicate values")
        if values.size:
            pos = np.searchsorted(sorted_cats, values)
            pos_c = np.minimum(pos, len(sorted_cats) - 1)
            ok = (pos < len(sorted_cats)) & (sorted_cats[pos_c] == values)
            if not ok.all():
                unknown = np.unique(values[~ok])[:5].tolist()
                raise ValueError(f"ratings contain values that are not in categories: {unknown}")
            sub = order[pos_c]
        else:
            sub = np.empty(0, dtype=np.int64)
        cat_list = [_python_scalar(c) for c in categories]
    else:
        sub, uniq = _fast_unique_inverse(values)
        cat_list = [_python_scalar(c) for c in uniq]
    if valid is None:
        codes[:] = sub
    else:
        codes[valid] = sub
    return codes, cat_list


def _codes_of_code_range(values: np.ndarray, categories: Sequence[Any]) -> np.ndarray | None:
    """The codes of ``values`` when the categories are the codes themselves (0, 1, ..., K-1), as in the
    float matrices of codes the reports pass from metric to metric; None otherwise (or when a value is
    not one of them: the general path says which). Saves the sort and binary search of every answer."""
    k = len(categories)
    if k == 0 or not all(c == i for i, c in enumerate(categories)):
        return None
    sub = values.astype(np.int64)
    if values.size and not ((sub >= 0) & (sub < k) & (sub == values)).all():
        return None
    return sub


def _fast_unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and the inverse index, in O(n) for small-range integral values."""
    if values.size == 0:
        return np.empty(0, dtype=np.int64), values[:0]
    vmin = values.min()
    vmax = values.max()
    span = float(vmax) - float(vmin)
    integral = values.dtype.kind in "iu" or bool(np.all(np.mod(values, 1) == 0))
    if integral and span <= _LUT_RANGE_LIMIT and span <= 4 * values.size + 1024:
        offset = (values - vmin).astype(np.int64)
        present = np.bincount(offset, minlength=int(span) + 1) > 0
        lut = np.cumsum(present, dtype=np.int64) - 1
        uniq = (np.flatnonzero(present) + vmin).astype(values.dtype)
        return lut[offset], uniq
    uniq, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64).ravel(), uniq


def _sort_key(value: Any) -> tuple[int, str, Any]:
    if _is_number(value):
        return (0, "", value)
    return (1, type(value).__name__, repr(value))


def _encode_objects(flat: np.ndarray, categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    """Encode a 1-D object/string array with a dict lookup."""
    values = flat.tolist()
    try:
        seen = dict.fromkeys(values)
    except TypeError as exc:
        raise ValueError(f"ratings must contain hashable labels: {exc}") from None
    present = [v for v in seen if not _is_missing(v)]
    if flat.dtype.kind in "US":
        present = [v for v in present if v not in ("nan", b"nan")]
    if categories is None:
        if all(_is_number(v) for v in present) and present:
            # Numeric labels in an object array: same categories as the numeric encoder would give.
            arr = np.asarray([np.nan if _is_missing(v) else v for v in values], dtype=np.float64)
            return _encode_numeric(arr, None)
        try:
            cat_list = sorted(present)
        except TypeError:
            cat_list = sorted(present, key=_sort_key)
    else:
        cat_list = list(categories)
        if len(set(cat_list)) != len(cat_list):
            raise ValueError("categories contains duplicate values")
        known = set(cat_list)
        unknown = [v for v in present if v not in known]
        if unknown:
            raise ValueError(f"ratings contain values that are not in categories: {unknown[:5]}")
    lut = {c: i for i, c in enumerate(cat_list)}
    codes = np.fromiter((lut.get(v, MISSING) for v in values), dtype=np.int64, count=len(values))
    return codes, [_python_scalar(c) for c in cat_list]


def encode_ratings(ratings: Any, categories: Sequence[Any] | None = None) -> tuple[np.ndarray, list[Any]]:
    """Convert labels of any hashable type to integer codes.

    Parameters
    ----------
    ratings : array-like of any shape (usually ``(n_units, n_raters)``)
        Labels (strings, numbers, any hashable), missing values as ``None``/NaN (see module doc).
    categories : sequence, optional
        The category list, in the order wanted (e.g. the order of an ordinal scale). Every non-missing
        value must be in it (``ValueError`` otherwise); categories that never occur are kept.
        Default: the distinct values present, sorted (numerically for numbers; strings sorted as
        strings; mixed types sorted by type name then ``repr``).

    Returns
    -------
    codes : ``np.ndarray`` of ``int64``, same shape as ``ratings``
        ``codes[i, j]`` is the index of the label in ``categories``, or ``-1`` for a missing value.
    categories : list
        The labels, as plain Python values; integral floats become ints (``1.0`` → ``1``), so an array
        of float codes with NaN gives integer categories.
    """
    arr = _as_array(ratings)
    shape = arr.shape
    flat = arr.reshape(-1)
    if arr.dtype.kind in "biuf":
        codes, cats = _encode_numeric(flat, categories)
    elif arr.dtype.kind in "USO":
        codes, cats = _encode_objects(flat, categories)
    else:
        raise ValueError(f"cannot use an array of dtype {arr.dtype} as labels")
    return codes.reshape(shape), cats


def coded_matrix(
    ratings: Any, categories: Sequence[Any] | None = None, *, name: str = "ratings"
) -> tuple[np.ndarray, list[Any]]:
    """Encode and check that ``ratings`` is 2-D (units × raters); empty input gives shape (0, 0)."""
    arr = _as_array(ratings)
    if arr.size == 0 and arr.ndim <= 1:
        return np.empty((0, 0), dtype=np.int64), list(categories) if categories is not None else []
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_units, n_raters); got an array with {arr.ndim} "
            f"dimension(s). For two raters' label lists use cohen_kappa(a, b)."
        )
    key = ("coded", None if categories is None else _hashable(categories))
    codes, cats = _shared_value(arr, key, lambda: encode_ratings(arr, categories))
    return codes, list(cats)


def category_values(categories: Sequence[Any], level: str) -> np.ndarray:
    """Numeric values of the categories for interval/ratio metrics (ValueError if not numeric)."""
    try:
        values = np.asarray([float(c) for c in categories], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"level={level!r} needs numeric values; got non-numeric labels {list(categories)[:5]}. "
            "Map the labels to numbers first (see apply_flag_policy for binary 0/Borderline/1)."
        ) from None
    if not np.all(np.isfinite(values)):
        raise ValueError(f"level={level!r} needs finite numeric values")
    return values


# --------------------------------------------------------------------------------------------------
# Per-unit count matrices
# --------------------------------------------------------------------------------------------------
def count_matrix(codes: np.ndarray, n_categories: int) -> np.ndarray | sparse.csr_matrix:
    """Counts ``N[u, c]`` = number of answers of category ``c`` on unit ``u``, as float64.

    Built with one ``np.bincount`` (no loop over units). Dense when ``n_units × K`` is moderate,
    otherwise a ``scipy.sparse.csr_matrix``.
    """
    return _shared_value(codes, ("counts", int(n_categories)), lambda: _count_matrix(codes, n_categories))


def _count_matrix(codes: np.ndarray, n_categories: int) -> np.ndarray | sparse.csr_matrix:
    n_units, n_raters = codes.shape
    k = max(int(n_categories), 1)
    valid = codes >= 0
    if n_units * k <= _DENSE_LIMIT:
        unit = np.broadcast_to(np.arange(n_units, dtype=np.int64)[:, None], codes.shape)
        key = unit[valid] * k + codes[valid]
        counts = np.bincount(key, minlength=n_units * k).astype(np.float64)
        return counts.reshape(n_units, k)
    from scipy import sparse

    rows = np.nonzero(valid)[0]
    cols = codes[valid]
    data = np.ones(rows.size, dtype=np.float64)
    mat = sparse.csr_matrix((data, (rows, cols)), shape=(n_units, k))
    mat.sum_duplicates()
    return mat


def issparse(counts: Any) -> bool:
    """``scipy.sparse.issparse`` without importing SciPy: nothing is sparse until SciPy's sparse module has
    been loaded, and the web process (which imports every metric module) stays free of SciPy's ~60 MB."""
    # getattr: while another thread imports SciPy the module is listed before it has its functions
    # (and nothing can be sparse yet).
    check = getattr(sys.modules.get("scipy.sparse"), "issparse", None)
    return check is not None and check(counts)


def row_sums(counts: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if issparse(counts):
        return np.asarray(counts.sum(axis=1)).ravel()
    return counts.sum(axis=1)


def row_sumsq(counts: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if issparse(counts):
        return np.asarray(counts.multiply(counts).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", counts, counts)


def weighted_col_sums(counts: np.ndarray | sparse.spmatrix, weights: np.ndarray | None = None) -> np.ndarray:
    """``weights @ counts`` (per-category totals, each unit weighted)."""
    if weights is None:
        return np.asarray(counts.sum(axis=0)).ravel()
    if issparse(counts):
        return np.asarray(counts.T @ weights).ravel()
    return weights @ counts


def weighted_gram(counts: np.ndarray | sparse.spmatrix, weights: np.ndarray | None = None) -> np.ndarray:
    """``counts.T @ diag(weights) @ counts`` as a dense K×K array."""
    if issparse(counts):
        from scipy import sparse

        left = counts if weights is None else sparse.diags(weights) @ counts
        return np.asarray((counts.T @ left).todense())
    left = counts if weights is None else counts * weights[:, None]
    return counts.T @ left


def col_sumsq(counts: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if issparse(counts):
        return np.asarray(counts.multiply(counts).sum(axis=0)).ravel()
    return np.einsum("ij,ij->j", counts, counts)


def rater_names(n_raters: int, raters: Sequence[Any] | None) -> list[Any]:
    if raters is None:
        return list(range(n_raters))
    names = list(raters)
    if len(names) != n_raters:
        raise ValueError(f"raters has {len(names)} names but ratings has {n_raters} columns")
    return names


def to_float(value: float) -> float:
    """Plain Python float, refusing NaN/inf (a guard so NaN never escapes silently)."""
    out = float(value)
    if not np.isfinite(out):  # pragma: no cover - defensive; every caller checks its denominators
        raise MetricUndefined("internal error: the metric evaluated to a non-finite number")
    return out


# --------------------------------------------------------------------------------------------------
# Borderline / uncertain / out-of-domain answers
# --------------------------------------------------------------------------------------------------
FLAG_POLICIES = ("category", "exclude", "midpoint")


def apply_flag_policy(
    values: Any,
    flags: Any,
    policy: str,
    *,
    flag_category: Any = "__borderline__",
    negative: Any = 0,
    positive: Any = 1,
) -> np.ndarray:
    """Turn flagged answers (borderline, uncertain, out-of-domain) into something a metric can use.

    A labeler may answer "Borderline" (defect 0 / Borderline / 1), "uncertain", "[unintelligible]" or
    "not a leaf" instead of — or on top of — a class. Each agreement metric needs one rule for those
    answers; the policy makes it explicit (and the same rule must be used for every labeler):

    ``"category"``
        The flagged answer becomes its own category ``flag_category`` (default ``"__borderline__"``),
        whatever value it carried. Two labelers who both say "borderline" agree; one borderline against
        one "1" is a disagreement. Use with nominal metrics. For several flags, call once per flag
        with a different ``flag_category`` (e.g. ``"__out_of_domain__"``).
    ``"exclude"``
        The flagged answer becomes missing and is ignored by every metric (it reduces the number of
        answers on that unit; a unit left with one answer is no longer pairable).
    ``"midpoint"``
        For a binary scale only: ``negative`` → 0.0, ``positive`` → 1.0, flagged → 0.5, missing → NaN.
        The result is numeric, for ``krippendorff_alpha(..., level="ordinal" | "interval")``, where a
        borderline answer is half-way between the two classes (closer to either than they are to each
        other). Any other unflagged value raises ``ValueError``.

    Parameters
    ----------
    values : array-like (any shape, usually ``(n_units, n_raters)``); missing as ``None``/NaN.
    flags : bool array-like of the same shape; ``True`` where the answer is flagged. A flagged cell
        is flagged whatever its value (even a missing value: the labeler answered "borderline").
    policy : one of ``"category"``, ``"exclude"``, ``"midpoint"``.
    flag_category, negative, positive : keyword options described above.

    Returns
    -------
    A new array of the same shape: ``object`` dtype for "category" and for "exclude" on non-numeric
    input (missing = ``None``); ``float64`` with NaN for "midpoint" and for "exclude" on numeric input.
    """
    if policy not in FLAG_POLICIES:
        raise ValueError(f"policy must be one of {', '.join(FLAG_POLICIES)}; got {policy!r}")
    arr = _as_array(values)
    mask = np.asarray(flags, dtype=bool)
    if mask.shape != arr.shape:
        raise ValueError(f"flags must have the same shape as values: {mask.shape} != {arr.shape}")
    if policy == "category":
        out = arr.astype(object)
        out[mask] = flag_category
        return out
    if policy == "exclude":
        if arr.dtype.kind in "biuf":
            out = arr.astype(np.float64)
            out[mask] = np.nan
            return out
        out = arr.astype(object)
        out[mask] = None
        return out
    # midpoint
    codes, cats = encode_ratings(arr)
    lut = np.full(len(cats) + 1, np.nan)  # last slot: missing (code -1)
    for j, cat in enumerate(cats):
        if cat == negative:
            lut[j] = 0.0
        elif cat == positive:
            lut[j] = 1.0
    out = lut[codes]
    bad = (codes >= 0) & np.isnan(out) & ~mask
    if bad.any():
        example = cats[int(codes[bad][0])]
        raise ValueError(f"policy='midpoint' needs a binary scale {negative!r}/{positive!r}, got {example!r}")
    out[mask] = 0.5
    return out
