"""LabelHub agreement metrics: plain functions on NumPy arrays (no Django).

Input convention: ``ratings`` is a 2-D array-like of shape ``(n_units, n_raters)`` — one row per item,
one column per labeler — holding any hashable labels, with missing answers as ``None``/NaN. Undefined
cases raise :class:`MetricUndefined` (a ``ValueError``) with the reason; NaN is never returned.

Modules
-------
agreement     Krippendorff's alpha, Fleiss' and Cohen's kappa, percent/specific agreement, pair confusion.
hlp           Human-level performance: per-rater agreement with the others, gold accuracy, project HLP.
consensus     Majority vote (ties unresolved) and Dawid–Skene.
bootstrap     Seeded percentile bootstrap over units (fast for the headline metrics), agreement report.
transcripts   Transcript normalization, exact agreement, pairwise WER.
shapes        Localized labels: box/segment IoU, matching, F1, split/merge, consensus, COCO AP@0.5.
_common       Encoding (:func:`encode_ratings`, shared by metrics in :func:`shared_encoding`),
              :class:`MetricUndefined`, :func:`apply_flag_policy`.
"""

from ._common import FLAG_POLICIES, MISSING, MetricUndefined, apply_flag_policy, encode_ratings, shared_encoding
from .agreement import (
    LEVELS,
    PairwiseKappa,
    cohen_kappa,
    coincidence_matrix,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    pairwise_confusion,
    percent_agreement,
    specific_agreement,
)
from .bootstrap import Interval, agreement_report, bootstrap_ci
from .consensus import DawidSkeneResult, MajorityVoteResult, dawid_skene, dawid_skene_answers, majority_vote
from .hlp import expected_pairwise_accuracy, gold_accuracy, human_level_performance, rater_agreement
from .transcripts import (
    mean_pairwise_wer,
    normalize_transcript,
    transcript_exact_agreement,
    word_edit_distance,
    word_error_rate,
)

__all__ = [
    "FLAG_POLICIES",
    "LEVELS",
    "MISSING",
    "DawidSkeneResult",
    "Interval",
    "MajorityVoteResult",
    "MetricUndefined",
    "PairwiseKappa",
    "agreement_report",
    "apply_flag_policy",
    "bootstrap_ci",
    "cohen_kappa",
    "coincidence_matrix",
    "dawid_skene",
    "dawid_skene_answers",
    "encode_ratings",
    "expected_pairwise_accuracy",
    "fleiss_kappa",
    "gold_accuracy",
    "human_level_performance",
    "krippendorff_alpha",
    "majority_vote",
    "mean_pairwise_wer",
    "normalize_transcript",
    "pairwise_cohen",
    "pairwise_confusion",
    "percent_agreement",
    "rater_agreement",
    "shared_encoding",
    "specific_agreement",
    "transcript_exact_agreement",
    "word_edit_distance",
    "word_error_rate",
]
