"""A training run's per-split scores agree with scikit-learn's, classes a split lacks included."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from analysis.services.training import split_metrics

CLASSES = [str(d) for d in range(10)]


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_is_sklearns_over_the_classes_a_split_has_or_predicts(seed):
    rng = np.random.default_rng(seed)
    n = 120
    y_true = rng.choice(CLASSES, n)
    y_pred = np.where(rng.random(n) < 0.8, y_true, rng.choice(CLASSES, n))
    splits = rng.choice(["train", "dev", "test"], n, p=[0.6, 0.2, 0.2])
    # a dev split without a single 6, where nothing is called 6 either (the demo's: 0.805 instead of 0.894)
    y_pred = np.where((splits == "dev") & (y_pred == "6"), "5", y_pred)
    y_true = np.where((splits == "dev") & (y_true == "6"), "5", y_true)
    out = split_metrics(y_true=y_true, y_pred=y_pred, splits=splits, classes=CLASSES)
    for split, m in out.items():
        t, p = y_true[splits == split], y_pred[splits == split]
        assert m["macro_f1"] == pytest.approx(f1_score(t, p, average="macro", zero_division=0), abs=1e-4)
        prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=CLASSES, zero_division=0)
        for i, row in enumerate(m["classes"]):
            assert row["support"] == sup[i]
            if row["class"] in set(t) | set(p):
                assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((prec[i], rec[i], f1[i]), abs=1e-4)
            else:
                assert row["precision"] is row["recall"] is row["f1"] is None
    dev6 = next(row for row in out["dev"]["classes"] if row["class"] == "6")
    assert dev6 == {"class": "6", "precision": None, "recall": None, "f1": None, "support": 0}
