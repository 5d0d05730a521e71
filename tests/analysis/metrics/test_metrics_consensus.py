"""Majority vote (ties unresolved) and Dawid-Skene."""

import numpy as np
import pytest

from analysis.metrics import MetricUndefined, dawid_skene, majority_vote


def test_majority_vote_reports_ties_as_unresolved():
    ratings = [
        ["cat", "dog", None],  # tie
        ["cat", "cat", "dog"],  # cat
        [None, None, None],  # no answer
        ["dog", None, None],  # single answer → resolved
        ["cat", "dog", "bird"],  # three-way tie
    ]
    res = majority_vote(ratings)
    assert res.categories == ["bird", "cat", "dog"]
    assert res.labels.tolist() == [None, "cat", None, "dog", None]
    assert res.codes.tolist() == [-1, 1, -1, 2, -1]
    assert res.resolved.tolist() == [False, True, False, True, False]
    assert res.tied.tolist() == [True, False, False, False, True]
    assert res.n_answers.tolist() == [2, 3, 0, 1, 3]
    assert res.support == pytest.approx([0.5, 2 / 3, 0.0, 1.0, 1 / 3])


def test_majority_vote_min_answers():
    res = majority_vote([["a", None], ["a", "a"]], min_answers=2)
    assert res.resolved.tolist() == [False, True]
    assert res.tied.tolist() == [False, False]


def test_majority_vote_empty_and_numeric():
    res = majority_vote(np.array([[np.nan, np.nan]]))
    assert res.labels.tolist() == [None] and not res.resolved.any()
    res = majority_vote(np.array([[1.0, 1.0, 2.0], [2.0, np.nan, 2.0]]))
    assert res.labels.tolist() == [1, 2]


def _simulate(n_units=3000, k=4, accuracies=(0.85, 0.8, 0.75), n_random=1, missing=0.0, seed=1):
    rng = np.random.default_rng(seed)
    truth = rng.choice(k, size=n_units, p=[0.4, 0.3, 0.2, 0.1][:k] if k == 4 else None)
    cols = []
    for acc in accuracies:
        wrong = (truth + rng.integers(1, k, size=n_units)) % k  # a different class, uniformly
        cols.append(np.where(rng.random(n_units) < acc, truth, wrong))
    for _ in range(n_random):
        cols.append(rng.integers(0, k, size=n_units))
    ratings = np.column_stack(cols).astype(float)
    ratings[rng.random(ratings.shape) < missing] = np.nan
    return truth, ratings


def test_dawid_skene_finds_the_random_labeler_and_beats_majority():
    truth, ratings = _simulate()
    ds = dawid_skene(ratings)
    mv = majority_vote(ratings)
    assert ds.converged
    # The random labeler (last column) gets a low estimated accuracy, the good ones a high one.
    assert ds.rater_accuracy[3] < 0.4
    assert np.all(ds.rater_accuracy[:3] > 0.65)
    assert ds.rater_accuracy[:3] == pytest.approx([0.85, 0.8, 0.75], abs=0.05)
    # Its MAP labels beat majority vote (ties count as errors, as they are unresolved).
    ds_acc = float((ds.codes == truth).mean())
    mv_acc = float((mv.codes == truth).mean())
    assert ds_acc > mv_acc + 0.02
    # Also better than majority vote with ties broken in favour of the truth where possible.
    truth_among_tied = mv.tied & (ratings[:, :3] == truth[:, None]).any(axis=1)
    optimistic = float(((mv.codes == truth) | truth_among_tied).mean())
    assert ds_acc > optimistic - 0.05
    assert np.allclose(ds.posterior.sum(axis=1), 1.0)
    assert ds.priors == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=0.03)


def test_dawid_skene_with_missing_answers_and_labels():
    truth, ratings = _simulate(missing=0.3, seed=5)
    names = np.array(["a", "b", "c", "d"], dtype=object)
    obj = np.where(np.isnan(ratings), None, names[np.nan_to_num(ratings).astype(int)])
    ds = dawid_skene(obj)
    assert ds.categories == ["a", "b", "c", "d"]
    answered = ~np.isnan(ratings).all(axis=1)
    assert (ds.codes[~answered] == -1).all()
    assert all(label is None for label in ds.labels[~answered])
    assert float((ds.codes[answered] == truth[answered]).mean()) > 0.8
    assert np.isfinite(ds.posterior).all()


def test_dawid_skene_never_nan_on_degenerate_input():
    for ratings in (
        [["a", "a"], ["a", "a"]],  # one category
        [["a"], ["b"], ["a"]],  # single rater
        [["a", None], [None, None], [None, "b"]],  # units without answers, no overlap
    ):
        ds = dawid_skene(ratings)
        for arr in (ds.posterior, ds.confusion, ds.rater_accuracy, ds.priors):
            assert np.isfinite(arr).all()
        assert np.allclose(ds.confusion.sum(axis=2), 1.0)
    with pytest.raises(MetricUndefined):
        dawid_skene([[None, None]])
    with pytest.raises(ValueError):
        dawid_skene([["a", "b"]], smoothing=0)


def test_dawid_skene_keeps_a_rater_who_shares_no_unit_when_given_a_prior():
    rng = np.random.default_rng(0)
    n, k = 600, 10
    truth = rng.integers(0, k, n)
    ratings = np.full((n, 4), np.nan)
    for r, accuracy in enumerate([0.97, 0.85, 0.95]):
        ratings[:, r] = np.where(rng.random(n) < accuracy, truth, rng.integers(0, k, n))
    alone = rng.choice(n, 40, replace=False)
    ratings[alone, :3] = np.nan
    ratings[alone, 3] = truth[alone]  # a rater seen nowhere else, always right
    without = dawid_skene(ratings, categories=list(range(k)))
    assert without.posterior[alone].max(axis=1).max() < 0.5  # not identifiable: near-uniform
    prior = dawid_skene(ratings, categories=list(range(k)), rater_prior=[np.nan, np.nan, np.nan, 0.8])
    assert prior.posterior[alone].max(axis=1).min() > 0.6
    assert (prior.codes[alone] == truth[alone]).all()


def test_dawid_skene_answers_weights_and_repeated_answers():
    from analysis.metrics import dawid_skene_answers

    # One unit, one rater twice (an archived answer at weight 0.4 and a new one): the new one wins.
    result = dawid_skene_answers(
        np.array([0, 0]),
        np.array([0, 0]),
        np.array([1, 0]),
        n_units=1,
        n_raters=1,
        categories=[0, 1],
        weights=np.array([0.4, 1.0]),
    )
    assert result.codes.tolist() == [0]
