"""Agreement between transcripts: normalization, exact agreement and word error rate (WER).

Several labelers transcribe the same clip ("Um, nearest gas station" / "Umm, nearest gas station").
Transcripts are compared after a normalization step that project conventions can extend
(``rules``), then scored as exact matches or by word-level edit distance.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._common import MetricUndefined, _is_missing, to_float
from .agreement import percent_agreement
from .rules import rule_compile, rule_sub

__all__ = [
    "mean_pairwise_wer",
    "normalize_transcript",
    "transcript_exact_agreement",
    "word_edit_distance",
    "word_error_rate",
]

#: A normalization rule: ``(regex or compiled pattern, replacement string or function)``.
Rule = tuple[Any, Any]
Rules = Callable[[str], str] | Sequence[Rule] | None

# A bracketed tag such as "[unintelligible]" or "[noise]" is kept as one token.
_TAG = re.compile(r"\[[^\[\]]*\]")
# Characters that separate words when punctuation is removed ("gas-station" → "gas station").
_SEPARATORS = {"-", "‐", "‑", "‒", "–", "—", "―", "/", "\\", "_"}


def _apply_rules(text: str, rules: Rules) -> str:
    if rules is None:
        return text
    if callable(rules):
        out = rules(text)
        if not isinstance(out, str):
            raise TypeError("a rules callable must return a string")
        return out
    for pattern, replacement in rules:
        text = rule_sub(rule_compile(pattern), replacement, text)  # RuleTooSlow past its time limit
    return text


def _strip_punctuation(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SEPARATORS:
            out.append(" ")
        elif unicodedata.category(ch).startswith("P"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def normalize_transcript(
    text: str,
    *,
    case: bool = True,
    punctuation: bool = True,
    whitespace: bool = True,
    rules: Rules = None,
) -> str:
    """Normalize a transcript before comparison.

    Steps, in order:

    1. ``rules`` — project conventions, applied first: a callable ``str -> str``, or a list of
       ``(regex, replacement)`` pairs applied in order with :func:`re.sub` (e.g.
       ``[(r"\\bu+m+\\b", "um")]`` to standardize "Umm" → "um").
    2. ``case`` — Unicode case folding (``"Gas"`` → ``"gas"``).
    3. ``punctuation`` — remove Unicode punctuation; hyphens, dashes, slashes and underscores become
       spaces (``"gas-station"`` → ``"gas station"``), apostrophes are dropped (``"don't"`` → ``"dont"``).
       Bracketed tags such as ``"[unintelligible]"`` are kept whole (their inside is case-folded only).
    4. ``whitespace`` — collapse runs of whitespace to one space and strip both ends.

    Parameters
    ----------
    text : the transcript (``str``).

    Returns
    -------
    The normalized string.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_transcript expects a str, got {type(text).__name__}")
    text = _apply_rules(text, rules)
    if case:
        text = text.casefold()
    if punctuation:
        pieces = []
        last = 0
        for match in _TAG.finditer(text):
            pieces.append(_strip_punctuation(text[last : match.start()]))
            pieces.append(" " + " ".join(match.group(0).split()) + " ")
            last = match.end()
        pieces.append(_strip_punctuation(text[last:]))
        text = "".join(pieces)
    if whitespace:
        text = " ".join(text.split())
    return text


# --------------------------------------------------------------------------------------------------
# Input shapes
# --------------------------------------------------------------------------------------------------
def _units(transcripts_by_unit: Any) -> list[list[str]]:
    """Per unit, the list of non-missing transcripts (order kept)."""
    if isinstance(transcripts_by_unit, Mapping):
        rows: Iterable[Any] = transcripts_by_unit.values()
    elif isinstance(transcripts_by_unit, np.ndarray):
        if transcripts_by_unit.ndim != 2:
            raise ValueError("a transcripts array must be 2-D (n_units, n_raters)")
        rows = transcripts_by_unit.tolist()
    else:
        rows = transcripts_by_unit
    units = []
    for row in rows:
        if isinstance(row, str):
            raise ValueError("transcripts_by_unit must hold one sequence of transcripts per unit, not a str")
        kept = []
        for t in row:
            if _is_missing(t):
                continue
            if not isinstance(t, str):
                raise TypeError(f"transcripts must be str or None/NaN, got {type(t).__name__}")
            kept.append(t)
        units.append(kept)
    return units


Normalizer = Callable[[str], str] | None | bool


def _normalizer(normalizer: Normalizer, kwargs: dict[str, Any]) -> Callable[[str], str]:
    if normalizer is False:
        return lambda s: s
    if normalizer is None or normalizer is True:
        return lambda s: normalize_transcript(s, **kwargs)
    if kwargs:
        raise ValueError("pass normalization options either through normalizer or as keywords, not both")
    return normalizer


# --------------------------------------------------------------------------------------------------
# Exact agreement
# --------------------------------------------------------------------------------------------------
def transcript_exact_agreement(
    transcripts_by_unit: Any,
    *,
    normalizer: Normalizer = None,
    **normalize_options: Any,
) -> float:
    """Share of agreeing pairs of transcripts after normalization (percent agreement on transcripts).

    Parameters
    ----------
    transcripts_by_unit : one sequence of transcripts per unit — a list of lists (lengths may differ),
        a dict ``unit -> list``, or a 2-D array ``(n_units, n_raters)``. ``None``/NaN entries are missing.
    normalizer : keyword; ``None`` (default) uses :func:`normalize_transcript` with
        ``normalize_options`` (e.g. ``rules=[...]``, ``case=False``); ``False`` compares raw strings;
        or any callable ``str -> str``.

    Returns
    -------
    float: the mean over units with two or more transcripts of the share of pairs that are identical
    after normalization — the same definition as
    :func:`~analysis.metrics.agreement.percent_agreement`.

    Raises
    ------
    MetricUndefined
        No unit has two or more transcripts.
    """
    norm = _normalizer(normalizer, normalize_options)
    units = _units(transcripts_by_unit)
    width = max((len(u) for u in units), default=0)
    grid = np.full((len(units), width), None, dtype=object)
    for i, unit in enumerate(units):
        for j, t in enumerate(unit):
            grid[i, j] = norm(t)
    if width < 2:
        raise MetricUndefined("Transcript agreement is undefined: no unit has two or more transcripts")
    return percent_agreement(grid)


# --------------------------------------------------------------------------------------------------
# Word error rate
# --------------------------------------------------------------------------------------------------
def word_edit_distance(reference: Sequence[Any], hypothesis: Sequence[Any]) -> int:
    """Levenshtein distance between two word lists (substitutions + deletions + insertions, cost 1).

    Row-by-row dynamic programming; each row is vectorized with NumPy (the insertion chain within a
    row is a running minimum of ``row[j] - j``).
    """
    n_ref = len(reference)
    n_hyp = len(hypothesis)
    if n_ref == 0:
        return n_hyp
    if n_hyp == 0:
        return n_ref
    vocab: dict[Any, int] = {}
    ref = np.fromiter((vocab.setdefault(w, len(vocab)) for w in reference), dtype=np.int64, count=n_ref)
    hyp = np.fromiter((vocab.setdefault(w, len(vocab)) for w in hypothesis), dtype=np.int64, count=n_hyp)
    offsets = np.arange(n_hyp + 1, dtype=np.int64)
    prev = offsets.copy()  # distance from the empty reference prefix
    for i in range(n_ref):
        cand = np.empty(n_hyp + 1, dtype=np.int64)
        cand[0] = i + 1
        # deletion (prev[j] + 1) or substitution/match (prev[j-1] + cost)
        cand[1:] = np.minimum(prev[1:] + 1, prev[:-1] + (hyp != ref[i]))
        # insertion chain: row[j] = min_{t<=j} cand[t] + (j - t)
        prev = np.minimum.accumulate(cand - offsets) + offsets
    return int(prev[-1])


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference``: word edit distance / number of reference words.

    Words are whitespace-separated tokens (normalize first if needed).

    Raises
    ------
    MetricUndefined
        The reference has no words.
    """
    ref = reference.split()
    if not ref:
        raise MetricUndefined("WER is undefined: the reference transcript has no words")
    return to_float(word_edit_distance(ref, hypothesis.split()) / len(ref))


def mean_pairwise_wer(
    transcripts_by_unit: Any,
    *,
    normalizer: Normalizer = None,
    **normalize_options: Any,
) -> float:
    """Pooled word error rate between every pair of transcripts of the same unit.

    Every ordered pair (a, b) of two different transcripts on a unit is scored with ``a`` as reference
    and ``b`` as hypothesis; the result is the corpus-level WER over all those pairs:
    ``sum(edit distances) / sum(reference word counts)``. Because both orders are included the value is
    symmetric in the labelers, equals ``sum_pairs 2 d(a, b) / sum_pairs (|a| + |b|)``, and is what
    ``jiwer.wer(references, hypotheses)`` gives on the list of ordered pairs.

    Parameters
    ----------
    transcripts_by_unit : as in :func:`transcript_exact_agreement`.
    normalizer, normalize_options : as in :func:`transcript_exact_agreement`; applied before splitting
        into words.

    Returns
    -------
    float >= 0 (0 when all transcripts of every unit are identical after normalization).

    Raises
    ------
    MetricUndefined
        No unit has two or more transcripts, or every compared transcript is empty.
    """
    norm = _normalizer(normalizer, normalize_options)
    edits = 0
    words = 0
    n_pairs = 0
    for unit in _units(transcripts_by_unit):
        toks = [norm(t).split() for t in unit]
        for i in range(len(toks)):
            for j in range(i + 1, len(toks)):
                d = word_edit_distance(toks[i], toks[j])
                edits += 2 * d
                words += len(toks[i]) + len(toks[j])
                n_pairs += 1
    if n_pairs == 0:
        raise MetricUndefined("Pairwise WER is undefined: no unit has two or more transcripts")
    if words == 0:
        raise MetricUndefined("Pairwise WER is undefined: every compared transcript is empty")
    return to_float(edits / words)
