"""Policy for borderline / uncertain / out-of-domain answers."""

import numpy as np
import pytest

from analysis.metrics import apply_flag_policy, krippendorff_alpha, percent_agreement

# Three labelers, defect 0 / Borderline / 1. Borderline answers are stored with a flag.
VALUES = np.array([[0, 0, None], [1, None, 1], [1, 0, 1]], dtype=object)
FLAGS = np.array([[False, False, True], [False, True, False], [False, False, False]])


def test_category_policy():
    out = apply_flag_policy(VALUES, FLAGS, "category")
    assert out.tolist() == [[0, 0, "__borderline__"], [1, "__borderline__", 1], [1, 0, 1]]
    ood = apply_flag_policy(VALUES, FLAGS, "category", flag_category="__out_of_domain__")
    assert ood[0, 2] == "__out_of_domain__"
    # unit 1: 1 of 3 pairs agree; unit 2: 1 of 3; unit 3: 1 of 3
    assert percent_agreement(out) == pytest.approx(1 / 3)


def test_exclude_policy():
    out = apply_flag_policy(VALUES, FLAGS, "exclude")
    assert out.tolist() == [[0, 0, None], [1, None, 1], [1, 0, 1]]
    numeric = apply_flag_policy(np.array([[0.0, 1.0]]), np.array([[True, False]]), "exclude")
    assert np.isnan(numeric[0, 0]) and numeric[0, 1] == 1.0
    assert percent_agreement(out) == pytest.approx((1 + 1 + 1 / 3) / 3)


def test_midpoint_policy():
    out = apply_flag_policy(VALUES, FLAGS, "midpoint")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.5], [1.0, 0.5, 1.0], [1.0, 0.0, 1.0]])
    # Borderline sits half-way: an interval alpha is defined and finite.
    assert np.isfinite(krippendorff_alpha(out, "interval"))
    labels = apply_flag_policy(
        [["ok", "defect"]],
        [[False, True]],
        "midpoint",
        negative="ok",
        positive="defect",
    )
    np.testing.assert_array_equal(labels, [[0.0, 0.5]])


def test_midpoint_refuses_non_binary_and_bad_arguments():
    with pytest.raises(ValueError, match="binary"):
        apply_flag_policy([[0, 2]], [[False, False]], "midpoint")
    with pytest.raises(ValueError, match="policy"):
        apply_flag_policy([[0]], [[False]], "ignore")
    with pytest.raises(ValueError, match="shape"):
        apply_flag_policy([[0, 1]], [[False]], "exclude")
