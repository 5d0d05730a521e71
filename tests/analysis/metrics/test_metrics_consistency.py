"""Disagreement, merge suggestions and transcript conventions (no database)."""

import numpy as np
import pytest

from analysis.metrics import percent_agreement
from analysis.metrics.consistency import (
    ConventionError,
    Conventions,
    answer_entropy,
    conventions_preview,
    merge_gain,
    merge_suggestions,
    pair_agreement,
)

OK, DEEP, SHALLOW, DENT = 0, 1, 2, 3


def scratch_codes(rng, n=300):
    """Three inspectors: ok and dent are told apart, deep and shallow scratches are coin flips."""
    truth = rng.choice([OK, DEEP, DENT], size=n)
    codes = np.empty((n, 3), dtype=np.int64)
    for r in range(3):
        codes[:, r] = truth
        scratches = truth == DEEP
        codes[scratches, r] = rng.choice([DEEP, SHALLOW], size=scratches.sum())
    return codes


def test_entropy_is_zero_for_agreement_and_one_bit_for_an_even_split():
    codes = np.array([[0, 0, 0], [0, 1, -1], [0, 1, 2]])
    entropy = answer_entropy(codes, 3)
    assert entropy[0] == 0 and entropy[1] == pytest.approx(1.0) and entropy[2] == pytest.approx(np.log2(3))


def test_pair_agreement_equals_the_metrics_engine():
    rng = np.random.default_rng(1)
    codes = rng.integers(-1, 4, size=(200, 4))
    expected = percent_agreement(np.where(codes >= 0, codes, np.nan))
    assert pair_agreement(codes, 4) == pytest.approx(expected)


def test_the_confusable_pair_is_suggested_first_with_its_exact_gain():
    codes = scratch_codes(np.random.default_rng(2))
    suggestions = merge_suggestions(codes, 4)
    best = suggestions[0]
    assert {best.a, best.b} == {DEEP, SHALLOW}
    merged = np.where(codes == SHALLOW, DEEP, codes)
    assert best.agreement_after == pytest.approx(pair_agreement(merged, 4)) == pytest.approx(1.0)
    assert best.gain > 0.1
    before, after = merge_gain(codes, 4, {SHALLOW: DEEP})
    assert (before, after) == (pytest.approx(best.agreement_before), pytest.approx(best.agreement_after))


def test_flag_categories_are_never_suggested():
    codes = scratch_codes(np.random.default_rng(3))
    assert merge_suggestions(codes, 4, exclude={SHALLOW}) == []


def test_conventions_standardize_fillers_tags_case_and_punctuation():
    rules = Conventions(fillers=["umm", "uh", "um"], filler_as="um", tags={"[inaudible]": "[unintelligible]"})
    assert rules.apply("Umm, nearest gas station.") == "um nearest gas station"
    assert rules.apply("uh nearest   gas [INAUDIBLE]") == "um nearest gas [unintelligible]"
    assert rules.apply("today's weather") == "today's weather"
    dropped = Conventions(fillers=["um", "umm"], filler_as="")
    assert dropped.apply("Um nearest gas station") == "nearest gas station"


def test_preview_counts_changed_answers_and_pairs_made_equal():
    units = [["Um, nearest gas station", "umm nearest gas station", "nearest gas station"], ["call mom", "call mom"]]
    preview = conventions_preview(units, Conventions(fillers=["um", "umm"], filler_as=""))
    assert preview["answers_changed"] == 2
    assert preview["pairs"] == 4 and preview["pairs_disagreeing"] == 3 and preview["pairs_made_equal"] == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rules": [("(unclosed", "x")]}, "invalid pattern"),
        ({"fillers": ["  "]}, "cannot be empty"),
        ({"tags": {"noise": "[noise]"}}, "brackets"),
        ({"rules": [("(a)", r"\2")]}, "invalid replacement"),
    ],
)
def test_bad_rules_are_refused(kwargs, message):
    with pytest.raises(ConventionError, match=message):
        Conventions(**kwargs)


def test_unknown_fields_are_refused():
    with pytest.raises(ConventionError, match="unknown convention fields: colour"):
        Conventions.from_dict({"colour": "red"})
