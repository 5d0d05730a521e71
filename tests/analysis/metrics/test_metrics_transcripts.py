"""Transcript normalization, exact agreement and pairwise WER."""

import re

import numpy as np
import pytest

from analysis.metrics import (
    MetricUndefined,
    mean_pairwise_wer,
    normalize_transcript,
    transcript_exact_agreement,
    word_edit_distance,
    word_error_rate,
)


def test_normalization_defaults():
    assert normalize_transcript("  Um,  Nearest GAS-station!  ") == "um nearest gas station"
    assert normalize_transcript("Don't stop.") == "dont stop"
    tagged = normalize_transcript("Nearest gas station [Unintelligible]")
    assert tagged == "nearest gas station [unintelligible]"
    assert normalize_transcript("A\tb\n c", punctuation=False) == "a b c"
    assert normalize_transcript("Hi, There", case=False) == "Hi There"
    assert normalize_transcript("a,  b", punctuation=False, whitespace=False) == "a,  b"


def test_rules_are_applied_first():
    # A project convention: "Umm"/"uhm" → "um", written before case folding so it is case-insensitive.
    rules = [(r"(?i)\bu+h?m+\b", "um"), (re.compile(r"\s*\[noise\]"), "")]
    assert normalize_transcript("Umm, nearest gas station [noise]", rules=rules) == "um nearest gas station"
    assert normalize_transcript("Hello", rules=lambda s: s.replace("Hello", "hi")) == "hi"
    with pytest.raises(TypeError):
        normalize_transcript(None)  # type: ignore[arg-type]


def test_exact_agreement_domain_example():
    # DOMAIN.md §2: three labelers, one clip.
    unit = ["Um, nearest gas station", "Umm, nearest gas station", "Nearest gas station [unintelligible]"]
    assert transcript_exact_agreement([unit]) == 0.0
    rules = [(r"(?i)\bu+m+\b,?", ""), (r"\s*\[unintelligible\]", "")]
    assert transcript_exact_agreement([unit], rules=rules) == 1.0
    assert transcript_exact_agreement([unit[:2]], rules=[(r"(?i)\bu+m+\b", "um")]) == 1.0


def test_exact_agreement_shapes_and_missing():
    units = {"clip1": ["hello world", "Hello, world!", None], "clip2": ["a", "b"], "clip3": ["lonely"]}
    assert transcript_exact_agreement(units) == pytest.approx((1.0 + 0.0) / 2)
    assert transcript_exact_agreement(units, normalizer=False) == 0.0
    assert transcript_exact_agreement(units, normalizer=str.lower) == 0.0  # punctuation still differs
    grid = np.array([["x y", "x  y"], ["z", np.nan]], dtype=object)
    assert transcript_exact_agreement(grid) == 1.0
    with pytest.raises(MetricUndefined):
        transcript_exact_agreement([["only one"], []])
    with pytest.raises(ValueError):
        transcript_exact_agreement(["not", "nested"])


def test_edit_distance_and_wer():
    assert word_edit_distance([], ["a", "b"]) == 2
    assert word_edit_distance(["a", "b"], []) == 2
    assert word_edit_distance(["ki", "", "en"], ["si", "", "ing"]) >= 0
    assert word_edit_distance(list("kitten"), list("sitting")) == 3
    assert word_edit_distance(list("flaw"), list("lawn")) == 2
    assert word_error_rate("nearest gas station", "nearest station") == pytest.approx(1 / 3)
    with pytest.raises(MetricUndefined):
        word_error_rate("   ", "x")


def test_mean_pairwise_wer_is_symmetric_and_pooled():
    units = [["a b c d", "a b"], ["x", "x", "y"]]
    # unit 1: d=2, lengths 4 and 2 → 2*2 / 6; unit 2: pairs (x,x) d0 (x,y) d1 (x,y) d1 → 2*2 / 6
    assert mean_pairwise_wer(units) == pytest.approx((4 + 4) / (6 + 6))
    assert mean_pairwise_wer([list(reversed(u)) for u in units]) == mean_pairwise_wer(units)
    assert mean_pairwise_wer([["Hello, World", "hello world"]]) == 0.0
    with pytest.raises(MetricUndefined, match="empty"):
        mean_pairwise_wer([["", "  "]])
    with pytest.raises(MetricUndefined, match="two or more"):
        mean_pairwise_wer([["alone"]])
    with pytest.raises(ValueError):
        mean_pairwise_wer([["a", "b"]], normalizer=str.lower, case=False)
