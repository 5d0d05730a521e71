"""Label-consistency mathematics: disagreement per item, class-merge suggestions, transcript conventions.

Plain functions on NumPy arrays and strings (no Django). ``codes`` is a units × raters int matrix of
category indices with -1 for a missing answer, as built by ``analysis.selectors.AnswerTable.matrix``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._common import MetricUndefined
from .rules import error as rules_error
from .rules import rule_check_replacement, rule_compile, rule_sub
from .shapes import class_swaps, pooled_f1, relabel_table


def unit_category_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """(n_units, n_categories) counts of each category's answers per unit; -1 entries are ignored."""
    codes = np.asarray(codes)
    counts = np.zeros((codes.shape[0], max(n_categories, 1)), dtype=np.int64)
    rows, cols = np.nonzero(codes >= 0)
    np.add.at(counts, (rows, codes[rows, cols]), 1)
    return counts


def answer_entropy(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Shannon entropy (bits) of each unit's answers: 0 when all agree, log2(m) at most for m answers."""
    counts = unit_category_counts(codes, n_categories).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0)
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1)), 0.0)
    return terms.sum(axis=1)


def pair_agreement(codes: np.ndarray, n_categories: int) -> float:
    """Percent agreement (mean over units with 2+ answers of the share of agreeing answer pairs)."""
    counts = unit_category_counts(codes, n_categories)
    answers = counts.sum(axis=1)
    pairs = answers * (answers - 1)
    pairable = pairs > 0
    if not pairable.any():
        raise MetricUndefined("no item has two or more answers")
    agree = (counts * (counts - 1)).sum(axis=1)
    return float(np.mean(agree[pairable] / pairs[pairable]))


def remap_codes(codes: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Codes with each ``old → new`` of ``mapping`` applied (missing stays -1)."""
    out = np.array(codes, copy=True)
    for old, new in mapping.items():
        out[np.asarray(codes) == old] = new
    return out


@dataclass
class MergeSuggestion:
    a: int
    b: int
    swaps: int  # answer pairs on the same item where one said a and the other b
    swap_share: float  # of all answer pairs involving a or b
    agreement_before: float
    agreement_after: float

    @property
    def gain(self) -> float:
        return self.agreement_after - self.agreement_before


def merge_gain(codes: np.ndarray, n_categories: int, merge: dict[int, int]) -> tuple[float, float]:
    """Percent agreement before and after mapping categories by ``merge`` (e.g. {deep: scratch})."""
    return pair_agreement(codes, n_categories), pair_agreement(remap_codes(codes, merge), n_categories)


def merge_suggestions(
    codes: np.ndarray, n_categories: int, *, min_swaps: int = 2, limit: int = 5, exclude: set[int] | None = None
) -> list[MergeSuggestion]:
    """Class pairs labelers often swap, with the percent agreement merging each pair would give.

    A pair (a, b) is a candidate when at least ``min_swaps`` answer pairs on the same item are one a and
    one b. Candidates are ranked by the predicted agreement gain; categories in ``exclude`` (flags such
    as borderline) are never suggested.
    """
    exclude = exclude or set()
    counts = unit_category_counts(codes, n_categories)
    # swaps[a, b]: unordered answer pairs on one item with one a and one b.
    swaps = counts.T @ counts
    np.fill_diagonal(swaps, 0)
    answers = counts.sum(axis=1)
    involving = np.array([(counts[:, k] * (answers - 1)).sum() for k in range(n_categories)], dtype=np.float64)
    before = pair_agreement(codes, n_categories)
    return _ranked_merges(
        swaps,
        involving,
        before,
        lambda a, b: pair_agreement(remap_codes(codes, {b: a}), n_categories),
        min_swaps=min_swaps,
        limit=limit,
        exclude=exclude,
    )


def _ranked_merges(swaps, involving, before, after_of, *, min_swaps, limit, exclude) -> list[MergeSuggestion]:
    """The pairs (a, b), a < b, swapped at least ``min_swaps`` times and neither in ``exclude``, with the
    agreement ``after_of(a, b)`` merging them gives; ``swap_share`` = swaps / (``involving`` a or b less
    the swaps counted twice), by gain, at most ``limit``."""
    out = []
    for a in range(swaps.shape[0]):
        for b in range(a + 1, swaps.shape[0]):
            if a in exclude or b in exclude or swaps[a, b] < min_swaps:
                continue
            denominator = involving[a] + involving[b] - swaps[a, b]
            out.append(
                MergeSuggestion(
                    a=a,
                    b=b,
                    swaps=int(swaps[a, b]),
                    swap_share=float(swaps[a, b] / denominator) if denominator else 0.0,
                    agreement_before=before,
                    agreement_after=after_of(a, b),
                )
            )
    out.sort(key=lambda s: (-s.gain, -s.swaps, s.a, s.b))
    return out[:limit]


def shape_merge_suggestions(t, *, iou: float = 0.5, min_swaps: int = 2, limit: int = 5, exclude=()) -> list:
    """Class pairs labelers swap in a detection or segments table (``analysis.metrics.shapes``): the same
    object drawn by two labelers (shapes that match whatever their class, IoU ≥ ``iou``) called a by one
    and b by the other, at least ``min_swaps`` times; with the shape F1 (``pooled_f1``) before and after
    merging the pair, ranked by the gain. ``swap_share``: the swaps among the class-agnostic matches
    involving a or b. Labels in ``exclude`` are never suggested. ``a`` and ``b`` index ``t.labels``."""
    swaps, matched = class_swaps(t, iou=iou)
    before = pooled_f1(t, iou=iou)
    if before is None:
        return []
    return _ranked_merges(
        swaps,
        matched.sum(axis=1),
        before,
        lambda a, b: pooled_f1(relabel_table(t, {t.labels[b]: t.labels[a]}), iou=iou),
        min_swaps=min_swaps,
        limit=limit,
        exclude={i for i, label in enumerate(t.labels) if label in exclude},
    )


# --- transcript conventions ------------------------------------------------------------------------

_PUNCTUATION = re.compile(r"[^\w\s\[\]'-]|(?<!\w)'|'(?!\w)")
_SPACES = re.compile(r"\s+")


class ConventionError(ValueError):
    """A convention rule cannot be used (an invalid pattern, an empty filler...)."""


@dataclass
class Conventions:
    """A project's transcript conventions, applied before transcripts are compared or exported.

    * ``fillers``: filler spellings (``umm``, ``uh``) written as ``filler_as`` (``um``), or removed
      when ``filler_as`` is empty;
    * ``tags``: bracketed tags mapped to the canonical one (``[inaudible]`` → ``[unintelligible]``);
    * ``lowercase``, ``strip_punctuation``, ``collapse_spaces``;
    * ``rules``: extra (regular expression, replacement) pairs applied last.
    """

    fillers: list[str] = field(default_factory=list)
    filler_as: str = "um"
    tags: dict[str, str] = field(default_factory=dict)
    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_spaces: bool = True
    rules: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        self._compiled = []
        for filler in self.fillers:
            if not str(filler).strip():
                raise ConventionError("a filler word cannot be empty")
        for tag, canonical in self.tags.items():
            if not (
                tag.startswith("[") and tag.endswith("]") and canonical.startswith("[") and canonical.endswith("]")
            ):
                raise ConventionError(f"tags are written in brackets, like [noise]: '{tag}' → '{canonical}'")
        for pattern, replacement in self.rules:
            try:
                compiled = rule_compile(pattern)
            except rules_error as exc:
                raise ConventionError(f"invalid pattern '{pattern}': {exc}") from None
            try:
                rule_check_replacement(pattern, replacement)
            except (rules_error, IndexError) as exc:
                raise ConventionError(f"invalid replacement '{replacement}' for '{pattern}': {exc}") from None
            self._compiled.append((compiled, replacement))
        words = sorted({re.escape(f.strip().lower()) for f in self.fillers}, key=len, reverse=True)
        self._filler_re = re.compile(r"\b(?:" + "|".join(words) + r")\b[,.]?", re.IGNORECASE) if words else None

    @classmethod
    def from_dict(cls, data: dict) -> "Conventions":
        known = {"fillers", "filler_as", "tags", "lowercase", "strip_punctuation", "collapse_spaces", "rules"}
        unknown = set(data) - known
        if unknown:
            raise ConventionError(f"unknown convention fields: {', '.join(sorted(unknown))}")
        # Types first: a string where a list belongs would be read letter by letter ("um" as the
        # fillers u and m), and a null tag would fail deep inside the rewriting.
        fillers = data.get("fillers", [])
        if not isinstance(fillers, list) or not all(isinstance(f, str) for f in fillers):
            raise ConventionError('fillers are a list of words, like ["um", "uh"]')
        if not isinstance(data.get("filler_as", ""), str):
            raise ConventionError("filler_as is a word (or empty, to remove fillers)")
        tags = data.get("tags", {})
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise ConventionError('tags map a tag to the one it is written as: {"[inaudible]": "[unintelligible]"}')
        for name in ("lowercase", "strip_punctuation", "collapse_spaces"):
            if not isinstance(data.get(name, True), bool):
                raise ConventionError(f"{name} is true or false")
        rules = data.get("rules") or []
        if not isinstance(rules, list) or not all(
            isinstance(r, list | tuple) and len(r) == 2 and all(isinstance(x, str) for x in r) for r in rules
        ):
            raise ConventionError("rules are [pattern, replacement] pairs of text")
        return cls(**{**data, "rules": [tuple(r) for r in rules]})

    def as_dict(self) -> dict:
        return {
            "fillers": list(self.fillers),
            "filler_as": self.filler_as,
            "tags": dict(self.tags),
            "lowercase": self.lowercase,
            "strip_punctuation": self.strip_punctuation,
            "collapse_spaces": self.collapse_spaces,
            "rules": [list(r) for r in self.rules],
        }

    def apply(self, text: str) -> str:
        """The transcript written by these conventions."""
        out = text or ""
        # Tags and fillers are written as given: a backslash in them is text, not a group reference.
        for tag, canonical in self.tags.items():
            out = re.sub(re.escape(tag), lambda _, text=canonical: text, out, flags=re.IGNORECASE)
        if self._filler_re is not None:
            out = self._filler_re.sub(lambda _: self.filler_as, out)
        if self.lowercase:
            out = out.lower()
        if self.strip_punctuation:
            out = _PUNCTUATION.sub(" ", out)
        for compiled, replacement in self._compiled:
            out = rule_sub(compiled, replacement, out)  # RuleTooSlow past its time limit
        if self.collapse_spaces:
            out = _SPACES.sub(" ", out).strip()
        return out


def conventions_preview(
    transcripts_by_unit: list[list[str]],
    conventions: Conventions,
    *,
    read_now: Callable[[str], str] | None = None,
    read_after: Callable[[str], str] | None = None,
) -> dict:
    """What applying ``conventions`` changes: answers rewritten, and disagreeing pairs that become equal.

    ``transcripts_by_unit``: per item, its transcripts as given. Pairs are unordered pairs of
    transcripts of the same item. ``read_now`` and ``read_after``: how the reports compare transcripts
    today and with ``conventions`` in force (default: as given, and through ``conventions``); a pair the
    reports already read as equal (by case or punctuation alone) is no disagreement the conventions settle.
    """
    read_now = read_now or (lambda text: text)
    read_after = read_after or conventions.apply
    changed = 0
    pairs_before_disagree = 0
    pairs_resolved = 0
    pairs_total = 0
    exact_before = exact_after = 0
    for unit in transcripts_by_unit:
        changed += sum(1 for t in unit if conventions.apply(t) != t)
        now = [read_now(t) for t in unit]
        after = [read_after(t) for t in unit]
        for i in range(len(unit)):
            for j in range(i + 1, len(unit)):
                pairs_total += 1
                same_before = now[i] == now[j]
                same_after = after[i] == after[j]
                exact_before += same_before
                exact_after += same_after
                if not same_before:
                    pairs_before_disagree += 1
                    if same_after:
                        pairs_resolved += 1
    return {
        "answers": sum(len(u) for u in transcripts_by_unit),
        "answers_changed": changed,
        "pairs": pairs_total,
        "pairs_disagreeing": pairs_before_disagree,
        "pairs_made_equal": pairs_resolved,
        "equal_pair_share_before": exact_before / pairs_total if pairs_total else None,
        "equal_pair_share_after": exact_after / pairs_total if pairs_total else None,
    }
