"""Consensus labels from several answers per unit: majority vote and Dawid–Skene.

``ratings`` is ``(n_units, n_raters)`` with missing answers as ``None``/NaN (see
:mod:`analysis.metrics._common`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import MISSING, MetricUndefined, blas_single_threaded, coded_matrix, count_matrix, issparse, row_sums

__all__ = ["DawidSkeneResult", "MajorityVoteResult", "dawid_skene", "dawid_skene_answers", "majority_vote"]


def _labels_from_codes(codes: np.ndarray, categories: list[Any]) -> np.ndarray:
    """Object array of labels, ``None`` where the code is -1."""
    lookup = np.empty(len(categories) + 1, dtype=object)
    lookup[:-1] = categories
    lookup[-1] = None
    return lookup[np.where(codes >= 0, codes, len(categories))]


@dataclass
class MajorityVoteResult:
    """Result of :func:`majority_vote` (arrays of length ``n_units``).

    Attributes
    ----------
    labels : object array; the winning label, or ``None`` when unresolved (tie or no answer).
    codes : int64 array; index into ``categories``, ``-1`` when unresolved.
    resolved : bool array; True when one label has strictly more votes than any other.
    tied : bool array; True when two or more labels share the top count (unresolved).
    n_answers : int64 array; answers on the unit.
    support : float array; share of the unit's answers held by the top label (0.0 with no answer).
    categories : list of labels.
    """

    labels: np.ndarray
    codes: np.ndarray
    resolved: np.ndarray
    tied: np.ndarray
    n_answers: np.ndarray
    support: np.ndarray
    categories: list[Any]


@blas_single_threaded
def majority_vote(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
    min_answers: int = 1,
) -> MajorityVoteResult:
    """Plurality label per unit; ties are reported as unresolved, never broken arbitrarily.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN.
    categories : optional category list/order.
    min_answers : keyword; units with fewer answers are unresolved (not tied).

    Returns
    -------
    :class:`MajorityVoteResult`. A unit is resolved when it has ``>= min_answers`` answers and a unique
    most frequent label; tied units get ``codes == -1``, ``labels is None``, ``tied == True``.
    """
    codes, cats = coded_matrix(ratings, categories)
    n_units = codes.shape[0]
    k = len(cats)
    if k == 0:
        empty = np.zeros(n_units, dtype=bool)
        return MajorityVoteResult(
            labels=np.full(n_units, None, dtype=object),
            codes=np.full(n_units, MISSING, dtype=np.int64),
            resolved=empty,
            tied=empty.copy(),
            n_answers=np.zeros(n_units, dtype=np.int64),
            support=np.zeros(n_units),
            categories=cats,
        )
    counts = count_matrix(codes, k)
    m = row_sums(counts)
    if issparse(counts):
        top = np.asarray(counts.max(axis=1).todense()).ravel()
        best = np.asarray(counts.argmax(axis=1)).ravel()
        csr = counts.tocsr()
        row_of = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        n_top = np.bincount(row_of, weights=(csr.data == top[row_of]), minlength=csr.shape[0])
    else:
        top = counts.max(axis=1)
        best = counts.argmax(axis=1)
        n_top = (counts == top[:, None]).sum(axis=1)
    answered = m >= max(int(min_answers), 1)
    tied = answered & (n_top > 1)
    resolved = answered & (n_top == 1)
    out_codes = np.where(resolved, best, MISSING).astype(np.int64)
    support = np.where(m > 0, top / np.maximum(m, 1.0), 0.0)
    return MajorityVoteResult(
        labels=_labels_from_codes(out_codes, cats),
        codes=out_codes,
        resolved=resolved,
        tied=tied,
        n_answers=m.astype(np.int64),
        support=support,
        categories=cats,
    )


@dataclass
class DawidSkeneResult:
    """Result of :func:`dawid_skene`.

    Attributes
    ----------
    posterior : float array ``(n_units, K)``; P(true class | answers). Units without answers get the
        class priors.
    codes : int64 array ``(n_units,)``; MAP class index, ``-1`` for units without any answer.
    labels : object array ``(n_units,)``; MAP label or ``None``.
    confusion : float array ``(n_raters, K, K)``; ``confusion[r, t, l]`` = P(rater r answers l | true t),
        rows sum to 1 (smoothed; a rater with no answers has uniform rows).
    rater_accuracy : float array ``(n_raters,)``; ``sum_t priors[t] * confusion[r, t, t]``.
    priors : float array ``(K,)``; estimated class prevalence.
    n_answers : int64 array ``(n_raters,)``; answers given by each rater.
    categories : list of labels.
    n_iter : EM iterations run.
    converged : whether the largest posterior change fell below ``tol``.
    log_likelihood : marginal log-likelihood of the answers under the final parameters.
    """

    posterior: np.ndarray
    codes: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray
    rater_accuracy: np.ndarray
    priors: np.ndarray
    n_answers: np.ndarray
    categories: list[Any]
    n_iter: int
    converged: bool
    log_likelihood: float


@blas_single_threaded
def dawid_skene(
    ratings: Any,
    max_iter: int = 100,
    tol: float = 1e-6,
    *,
    categories: Sequence[Any] | None = None,
    smoothing: float = 0.01,
    rater_prior: Any = None,
    prior_strength: float = 10.0,
) -> DawidSkeneResult:
    """Dawid & Skene (1979) EM estimate of true labels and per-rater confusion matrices.

    Parameters
    ----------
    ratings : array-like ``(n_units, n_raters)``, missing as ``None``/NaN; raters may answer any subset.
    max_iter : maximum EM iterations.
    tol : stop when the largest absolute change of any posterior probability is below ``tol``.
    categories : keyword; category list/order (classes nobody used still get a column).
    smoothing : keyword; pseudo-count added to every confusion-matrix cell and class count (> 0), so
        probabilities are never 0 and no NaN can appear.
    rater_prior, prior_strength : keyword; see :func:`dawid_skene_answers`.

    Algorithm
    ---------
    Initialised from the (soft) majority vote: the posterior of a unit starts as its vote shares. The
    M-step estimates priors and confusion matrices from the posteriors; the E-step recomputes the
    posteriors in log space. Both steps are sparse-matrix × dense products over the ``(rater, label)``
    incidence matrix of all answers (no Python loop over units or answers).

    Returns
    -------
    :class:`DawidSkeneResult`.

    Raises
    ------
    MetricUndefined
        No answer at all.
    """
    if smoothing <= 0:
        raise ValueError("smoothing must be > 0")
    codes, cats = coded_matrix(ratings, categories)
    n_units, n_raters = codes.shape
    valid = codes >= 0
    if len(cats) == 0 or not valid.any():
        raise MetricUndefined("Dawid-Skene is undefined: there are no answers")
    unit_idx, rater_idx = np.nonzero(valid)
    return dawid_skene_answers(
        unit_idx,
        rater_idx,
        codes[unit_idx, rater_idx],
        n_units=n_units,
        n_raters=n_raters,
        categories=cats,
        max_iter=max_iter,
        tol=tol,
        smoothing=smoothing,
        rater_prior=rater_prior,
        prior_strength=prior_strength,
    )


@blas_single_threaded
def dawid_skene_answers(
    unit: np.ndarray,
    rater: np.ndarray,
    label: np.ndarray,
    *,
    n_units: int,
    n_raters: int,
    categories: Sequence[Any],
    weights: np.ndarray | None = None,
    rater_prior: Any = None,
    prior_strength: float = 10.0,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Dawid–Skene on a list of answers: ``unit[i]`` got ``label[i]`` (a category index) from ``rater[i]``.

    Unlike :func:`dawid_skene` a rater may answer a unit more than once (an archived answer and a new
    one), and ``weights`` (default 1) down-weights answers: an answer of weight w counts w times in
    the confusion counts and contributes w × its log-likelihood to the posterior.

    ``rater_prior``: optional ``(n_raters,)`` prior accuracies (NaN: none). A rater with a prior gets
    Dirichlet pseudo-counts on each confusion row, ``prior_strength`` in total: ``accuracy`` of it on
    the diagonal, the rest spread over the other classes. Without it a rater who shares no unit with
    anyone is not identifiable and EM drifts to near-uniform posteriors; with it their answers keep
    the weight their gold and history earned. Raises MetricUndefined without answers.
    """
    if smoothing <= 0:
        raise ValueError("smoothing must be > 0")
    cats = list(categories)
    k = len(cats)
    unit = np.asarray(unit, dtype=np.int64)
    rater_idx = np.asarray(rater, dtype=np.int64)
    label_idx = np.asarray(label, dtype=np.int64)
    if k == 0 or unit.size == 0:
        raise MetricUndefined("Dawid-Skene is undefined: there are no answers")
    weight = np.ones(unit.size) if weights is None else np.asarray(weights, dtype=np.float64)
    answered = np.zeros(n_units, dtype=bool)
    answered[unit] = True
    # Work on answered units only, renumbered 0..n_ans-1.
    ans_units = np.flatnonzero(answered)
    renum = np.full(n_units, -1, dtype=np.int64)
    renum[ans_units] = np.arange(ans_units.size)
    u = renum[unit]
    n_ans = ans_units.size
    # Incidence matrix A[(r, l), u] = w for each answer: counts = A @ T, log-lik terms = A.T @ logC.
    rl = rater_idx * k + label_idx
    from scipy import sparse

    incidence = sparse.csr_matrix((weight, (rl, u)), shape=(n_raters * k, n_ans), dtype=np.float64)
    incidence_t = incidence.T.tocsr()
    # The M-step's product through the transpose of incidence_t (a CSC view of the same matrix): it
    # reads the posteriors once, unit after unit, and adds each unit's row into the few (rater, label)
    # rows: the same sums in the same order as the CSR product (units ascending), ten times faster,
    # since the CSR product reads every posterior row once per rater.
    incidence = incidence_t.T
    n_answers = np.bincount(rater_idx, minlength=n_raters).astype(np.int64)
    pseudo = np.full((n_raters, k, k), smoothing)
    if rater_prior is not None and k > 1:
        accuracy = np.asarray(rater_prior, dtype=np.float64)
        known = np.isfinite(accuracy)
        acc = np.clip(accuracy[known], 1.0 / k, 0.999)
        off = (1.0 - acc) / (k - 1)
        rows = np.broadcast_to(off[:, None, None], (int(known.sum()), k, k)).copy()
        rows[:, np.arange(k), np.arange(k)] = acc[:, None]
        pseudo[known] = smoothing + prior_strength * rows

    # Initial posterior: weighted vote shares (soft majority vote).
    votes = np.bincount(u * k + label_idx, weights=weight, minlength=n_ans * k).reshape(n_ans, k)
    post = votes / np.maximum(votes.sum(axis=1, keepdims=True), 1e-12)
    del votes

    def m_step(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prior = t.sum(axis=0) + smoothing
        prior /= prior.sum()
        conf = np.asarray(incidence @ t).reshape(n_raters, k, k)  # [r, l, t]
        conf = conf.transpose(0, 2, 1) + pseudo  # [r, t, l]
        conf /= conf.sum(axis=2, keepdims=True)
        return prior, conf

    converged = False
    n_iter = 0
    prior, conf = m_step(post)
    log_lik = 0.0
    # The E-step works in place on the product's array (the same operations in the same order as with
    # a fresh array per step, so the same numbers): a 200,000-unit, 10-class step otherwise allocates
    # five 16 MB arrays, and their page faults cost more than the arithmetic.
    top = np.empty((n_ans, 1))
    total = np.empty((n_ans, 1))
    for iteration in range(1, max_iter + 1):
        n_iter = iteration
        # E-step: log P(t) + sum over the unit's answers of log P(l | t, r).
        log_conf_rl = np.log(conf).transpose(0, 2, 1).reshape(n_raters * k, k)  # row (r, l) → over t
        new_post = np.asarray(incidence_t @ log_conf_rl)
        new_post += np.log(prior)[None, :]  # log joint
        np.max(new_post, axis=1, keepdims=True, out=top)
        new_post -= top
        np.exp(new_post, out=new_post)
        np.sum(new_post, axis=1, keepdims=True, out=total)
        new_post /= total
        log_lik = float(top.sum() + np.log(total).sum())
        np.subtract(new_post, post, out=post)
        delta = float(np.abs(post, out=post).max())
        post = new_post
        prior, conf = m_step(post)
        if delta < tol:
            converged = True
            break

    posterior = np.tile(prior, (n_units, 1))
    posterior[ans_units] = post
    out_codes = np.full(n_units, MISSING, dtype=np.int64)
    out_codes[ans_units] = post.argmax(axis=1)
    accuracy = np.einsum("t,rtt->r", prior, conf)
    return DawidSkeneResult(
        posterior=posterior,
        codes=out_codes,
        labels=_labels_from_codes(out_codes, cats),
        confusion=conf,
        rater_accuracy=accuracy,
        priors=prior,
        n_answers=n_answers,
        categories=cats,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=log_lik,
    )
