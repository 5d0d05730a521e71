"""Published worked examples, with their sources, checked to the published precision."""

import numpy as np
import pytest

from analysis.metrics import cohen_kappa, fleiss_kappa, krippendorff_alpha, percent_agreement

nan = np.nan

# Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability", Departmental Papers (ASC),
# University of Pennsylvania, section C ("nominal data, any number of observers, missing data"), and
# the same reliability data reused for the other metrics: 4 observers (rows) × 12 units (columns),
# "." = missing. Unit 12 has a single value and is not pairable.
KRIPPENDORFF_2011_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],  # observer A
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],  # observer B
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],  # observer C
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],  # observer D
]
# Published values (same paper): nominal .743, ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@pytest.fixture
def krippendorff_units():
    return np.array(KRIPPENDORFF_2011_OBSERVERS, dtype=float).T  # units × raters


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_reliability_data(krippendorff_units, level):
    assert round(krippendorff_alpha(krippendorff_units, level), 3) == KRIPPENDORFF_2011_ALPHA[level]


def test_krippendorff_2011_with_none_and_string_labels(krippendorff_units):
    """The same data as an object array with None, and as ordered string categories."""
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    as_strings = [[None if np.isnan(v) else names[int(v)] for v in row] for row in krippendorff_units]
    order = ["very low", "low", "mid", "high", "very high"]
    assert round(krippendorff_alpha(as_strings), 3) == 0.743
    assert round(krippendorff_alpha(as_strings, "ordinal", categories=order), 3) == 0.815
    with_none = [[None if np.isnan(v) else int(v) for v in row] for row in krippendorff_units]
    assert krippendorff_alpha(with_none, "interval") == pytest.approx(
        krippendorff_alpha(krippendorff_units, "interval"), abs=1e-12
    )


# Wikipedia, "Fleiss' kappa", worked example (10 subjects, 14 raters, 5 categories): the table gives
# n_ij, the number of raters who assigned subject i to category j. Published: p_j = 0.143, 0.200,
# 0.279, 0.150, 0.229; P-bar = 0.378; P_e = 0.213; kappa = 0.210.
WIKIPEDIA_FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss, J. L. (1971). "Measuring nominal scale agreement among many raters", Psychological Bulletin
# 76(5), 378-382, Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (counts per category; the
# same data ships as `diagnoses` in R's irr package). Published: kappa = .430 and per-category kappas
# depression .245, personality disorder .245, schizophrenia .520, neurosis .471, other .566.
FLEISS_1971_CATEGORIES = ["depression", "personality disorder", "schizophrenia", "neurosis", "other"]
FLEISS_1971_TABLE = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip
FLEISS_1971_PER_CATEGORY = [0.245, 0.245, 0.520, 0.471, 0.566]


def _expand(table, labels):
    """Counts per category → one row of labels per unit (the rater order does not matter to Fleiss)."""
    return [[labels[j] for j, c in enumerate(row) for _ in range(c)] for row in table]


def test_fleiss_wikipedia_example():
    ratings = _expand(WIKIPEDIA_FLEISS_TABLE, [1, 2, 3, 4, 5])
    assert round(fleiss_kappa(ratings), 3) == 0.210
    # P-bar is the percent agreement of this complete design.
    assert round(percent_agreement(ratings), 3) == 0.378


def test_fleiss_1971_table_1_with_per_category_kappas():
    ratings = _expand(FLEISS_1971_TABLE, FLEISS_1971_CATEGORIES)
    kappa, per_category = fleiss_kappa(ratings, return_per_category=True, categories=FLEISS_1971_CATEGORIES)
    assert round(kappa, 3) == 0.430
    assert [round(per_category[c], 3) for c in FLEISS_1971_CATEGORIES] == FLEISS_1971_PER_CATEGORY


# Wikipedia, "Cohen's kappa", first worked example: 50 grant proposals read by readers A and B;
# both "Yes" 20, A "Yes"/B "No" 5, A "No"/B "Yes" 10, both "No" 15. p_o = 0.7, p_e = 0.5, kappa = 0.4.
def test_cohen_wikipedia_50_items():
    pairs = [("Yes", "Yes")] * 20 + [("Yes", "No")] * 5 + [("No", "Yes")] * 10 + [("No", "No")] * 15
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)
    assert percent_agreement(list(zip(a, b, strict=True))) == pytest.approx(0.7)


# Wikipedia, "Cohen's kappa", second example (two tables with equal agreement but different kappas):
# table 1: 45/15/25/15 → kappa 0.1304; table 2: 25/35/5/35 → kappa 0.2593.
@pytest.mark.parametrize(
    ("yy", "yn", "ny", "nn", "expected"),
    [(45, 15, 25, 15, 0.1304), (25, 35, 5, 35, 0.2593)],
)
def test_cohen_wikipedia_same_agreement_different_kappa(yy, yn, ny, nn, expected):
    a = ["Y"] * (yy + yn) + ["N"] * (ny + nn)
    b = ["Y"] * yy + ["N"] * yn + ["Y"] * ny + ["N"] * nn
    assert round(cohen_kappa(a, b), 4) == expected
