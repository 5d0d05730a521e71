"""The agreement and HLP report: answers in, every section of the report page out (JSON-ready)."""

import contextlib
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from analysis import metrics
from analysis.metrics import MetricUndefined
from analysis.metrics._common import single_thread_blas
from analysis.metrics.shapes import BOXES, match_shapes, shape_agreement
from analysis.selectors import AnswerTable, transcript_normalizer

REPORT_VERSION = 1


def _interval(value):
    if value is None:
        return None
    return {"value": float(value.value), "ci_low": float(value.low), "ci_high": float(value.high)}


# The report's measures with a sampling interval: the API answers each as {"value", "ci_low", "ci_high"}.
INTERVAL_METRICS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp")


def _undefined():
    return {"value": None, "ci_low": None, "ci_high": None}


def public_report(report: dict) -> dict:
    """The report as the API and its downloads answer it: every interval measure (percent agreement,
    Fleiss' kappa, Krippendorff's alpha, HLP; ``box_f1`` / ``segment_f1`` and each guideline version's
    ``f1`` in a detection or segments report) is ``{"value", "ci_low", "ci_high"}``, with nulls inside
    where the measure is undefined on these answers (the reason under ``reasons``), never a bare null:
    a client reading ``report["fleiss_kappa"]["value"]`` met a TypeError. Applied on every read, so a
    report stored before (cached with nulls) is answered in this shape too; the pages read the report
    as it is stored."""
    out = dict(report)
    keys = list(INTERVAL_METRICS)
    task = report.get("task")
    if task:
        keys.append(report.get("f1_key") or ("box_f1" if task == BOXES else "segment_f1"))
        out["by_guideline"] = [{**row, "f1": row.get("f1") or _undefined()} for row in report.get("by_guideline") or []]
    for key in keys:
        if out.get(key) is None:
            out[key] = _undefined()
    if not task:  # a report cached before they were counted: unknown until it is computed again
        out.setdefault("fleiss_items", None)
        out.setdefault("fleiss_answers_each", None)
    return out


def _float(value):
    return None if value is None else float(value)


def unit_pair_agreement(codes, n_categories):
    """Per unit: (agreeing ordered pairs, all ordered pairs) of its answers; codes -1 are missing."""
    n_units, k = codes.shape[0], max(n_categories, 1)
    rows, cols = np.nonzero(codes >= 0)
    counts = np.bincount(rows * k + codes[rows, cols], minlength=n_units * k).reshape(n_units, k)
    answers = counts.sum(axis=1)
    return (counts * (counts - 1)).sum(axis=1), answers * (answers - 1)


def _over_time(codes, unit_day, n_categories, pair_agreement=None):
    agree, pairs = pair_agreement or unit_pair_agreement(codes, n_categories)
    pairable = pairs > 0
    if not pairable.any():
        return {"bucket": "day", "points": []}
    days = unit_day[pairable]
    span = int(days.max() - days.min())
    width, bucket = (1, "day") if span <= 60 else (7, "week")
    keys = days // width
    share = agree[pairable] / pairs[pairable]
    points = []
    for key in np.unique(keys):
        mask = keys == key
        start = dt.date(1970, 1, 1) + dt.timedelta(days=int(key) * width)
        points.append(
            {"start": start.isoformat(), "n_items": int(mask.sum()), "percent_agreement": float(share[mask].mean())}
        )
    return {"bucket": bucket, "points": points}


def _by_guideline(table: AnswerTable, n_categories, whole=None):
    """Per guideline version: items, compared items, percent agreement, nominal alpha. ``whole``:
    ``(codes, float ratings, unit_pair_agreement)`` of the whole table, used as they are when every
    answer has the same guideline version (the usual case) instead of building them again."""
    rows = []
    guidelines = np.unique(table.guideline)
    for guideline_id in guidelines:
        if whole is not None and len(guidelines) == 1:
            codes, ratings, (agree, pairs) = whole
        else:
            codes, _, _ = table.subset(table.guideline == guideline_id).matrix()
            ratings = np.where(codes >= 0, codes, np.nan).astype(float)
            agree, pairs = unit_pair_agreement(codes, n_categories)
        row = {
            "guideline": table.guideline_versions.get(int(guideline_id)),
            "n_items": int(codes.shape[0]),
            "n_compared": int((pairs > 0).sum()),
            "percent_agreement": float(np.mean(agree[pairs > 0] / pairs[pairs > 0])) if (pairs > 0).any() else None,
            "krippendorff_alpha": None,
        }
        with contextlib.suppress(MetricUndefined):  # e.g. one category only: shown as "—"
            row["krippendorff_alpha"] = float(metrics.krippendorff_alpha(ratings, "nominal"))
        rows.append(row)
    rows.sort(key=lambda r: (r["guideline"] is None, r["guideline"] or 0))
    return rows


def build_agreement_report(table: AnswerTable, *, gold=None, n_resamples=200, seed=0, policy="category") -> dict:
    """Every section of the agreement report from an answer table.

    ``gold`` maps item id → category code of its known label. Metrics that are undefined on these
    answers (a single category, no item with two answers, ...) are ``None`` with the reason in
    ``reasons``. Sampling intervals are 95 % percentile bootstrap intervals over items, seeded.
    """
    categories = table.categories
    n_categories = len(categories)
    codes, items, labelers = table.matrix()
    ratings = np.where(codes >= 0, codes, np.nan).astype(np.float64)
    code_categories = list(range(n_categories))
    names = [table.labeler_names.get(int(pk), str(pk)) for pk in labelers]
    level = "ordinal" if policy == "midpoint" else "nominal"
    report = {
        "version": REPORT_VERSION,
        "policy": policy,
        "alpha_level": level,
        "n_items": int(codes.shape[0]),
        "n_annotations": int((codes >= 0).sum()),
        "n_flagged": int((table.flags > 0).sum()),
        "n_labelers": len(labelers),
        "classes": [{"key": k, "name": n} for k, n in zip(categories, table.category_names, strict=True)],
        "reasons": {},
    }
    if codes.size == 0 or (codes >= 0).sum() == 0:
        for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp"):
            report[key] = None
            report["reasons"][key] = "no answers match these filters"
        report.update(per_class=[], per_labeler=[], pairwise=[], confusion={"classes": [], "counts": []})
        report.update(over_time={"bucket": "day", "points": []}, by_guideline=[], consensus={})
        return report

    # The bootstrap of the headline metrics runs in a thread while this one computes Dawid-Skene and
    # the other sections: numpy and SciPy let go of the GIL in their array work, so the report uses
    # both cores of a small machine (about 1.3 s of CPU each side on 1M answers; a third thread for
    # Dawid-Skene added ~100 MB of peak memory for little time). Each part computes what it did alone
    # (the same numbers). The metrics share one encoding of ``ratings`` (read-only meanwhile) and its
    # counts. BLAS is limited to one thread (as each metric does) before the thread starts and until
    # it ends: a limit set inside a thread was seen not to reach that thread's own BLAS calls, whose sums then
    # depended on how many threads BLAS split them over (the last digits of alpha changed).
    import scipy.sparse  # noqa: F401  (Dawid-Skene's; loaded here, not while the other thread runs)

    with (
        single_thread_blas(),
        metrics.shared_encoding(ratings),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="agreement") as pool,
    ):
        headline_job = pool.submit(
            metrics.agreement_report,
            ratings,
            level=level,
            categories=code_categories,
            n_resamples=n_resamples,
            seed=seed,
        )
        consensus = _consensus(ratings, code_categories)
        sections = _sections(table, codes, items, labelers, ratings, names, gold, consensus)
    _headline(report, headline_job.result())
    report["reasons"].update(sections.pop("reasons"))
    report.update(sections)
    return report


def _consensus(ratings, code_categories):
    """Dawid-Skene and majority vote: (per-labeler Dawid-Skene accuracy or None, the consensus
    section, the reason Dawid-Skene is undefined or None)."""
    try:
        ds = metrics.dawid_skene(ratings, categories=code_categories)
    except MetricUndefined as exc:
        return None, {}, str(exc)
    majority = metrics.majority_vote(ratings, categories=code_categories)
    consensus = {
        "majority_resolved": int(majority.resolved.sum()),
        "majority_ties": int(majority.tied.sum()),
        "dawid_skene_low_confidence": int((ds.posterior.max(axis=1) < 0.8).sum()),
        "dawid_skene_iterations": int(ds.n_iter),
    }
    return [float(a) for a in ds.rater_accuracy], consensus, None


def _headline(report, headline):
    """Percent agreement, Fleiss' kappa, Krippendorff's alpha and HLP, with their intervals."""
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha"):
        report[key] = headline[key]
        if headline[key] is None:
            report["reasons"][key] = headline["reasons"].get(key, "undefined")
    report["n_compared_items"] = headline["n_pairable_units"]
    # Fleiss' kappa counts the items with the most answers only: the page says on how many it stands.
    report["fleiss_items"] = (headline.get("fleiss_units") or {}).get("n_units")
    report["fleiss_answers_each"] = (headline.get("fleiss_units") or {}).get("answers_each")
    # HLP for the project: the chance that one human agrees with another on an item; the same number
    # as percent agreement, reported with its interval under its own name.
    report["hlp"] = headline["percent_agreement"]
    if report["hlp"] is None:
        report["reasons"]["hlp"] = report["reasons"].get("percent_agreement")


def _sections(table, codes, items, labelers, ratings, names, gold, consensus):
    """Per class, per labeler, pairwise, confusion, over time and by guideline; ``consensus`` is what
    :func:`_consensus` answered."""
    categories = table.categories
    n_categories = len(categories)
    code_categories = list(range(n_categories))
    report = {"reasons": {}}

    # Per class.
    answered = codes[codes >= 0]
    class_counts = np.bincount(answered, minlength=n_categories)
    try:
        specific = metrics.specific_agreement(ratings, categories=code_categories)
    except MetricUndefined as exc:  # no item has two answers (one labeler's answers): nulls, and why
        specific = {}
        report["reasons"]["specific_agreement"] = str(exc)
    try:
        _, per_category_kappa = metrics.fleiss_kappa(
            ratings, return_per_category=True, incomplete="drop", categories=code_categories
        )
    except MetricUndefined:
        per_category_kappa = {}
    gold_codes = None
    if gold:
        gold_codes = np.array([gold.get(int(pk), -1) for pk in items], dtype=np.int64)
    per_class_gold = {}
    if gold_codes is not None and (gold_codes >= 0).any():
        gold_ratings = np.where(gold_codes >= 0, gold_codes, np.nan)
        gold_report = metrics.gold_accuracy(ratings, gold_ratings, raters=names, categories=code_categories)
        per_class_gold = gold_report["per_class"]
    else:
        gold_report = None
    report["per_class"] = [
        {
            "class": categories[k],
            "name": table.category_names[k],
            "n_answers": int(class_counts[k]),
            "specific_agreement": _float(specific.get(k)),
            "fleiss_kappa": _float(per_category_kappa.get(k)),
            "gold_accuracy": _float((per_class_gold.get(k) or {}).get("accuracy")),
        }
        for k in range(n_categories)
    ]

    # Per labeler: HLP against the others, gold, Dawid-Skene, speed.
    per_rater = metrics.rater_agreement(ratings, raters=names, categories=code_categories)
    ds_accuracy, consensus, ds_reason = consensus
    if ds_accuracy is None:
        ds_accuracy = [None] * len(labelers)
        report["reasons"]["dawid_skene"] = ds_reason
    rater_index = np.searchsorted(labelers, table.labeler)
    rows = []
    for r, stats in enumerate(per_rater):
        seconds = table.seconds[(rater_index == r) & ~np.isnan(table.seconds)]
        gold_row = gold_report["per_rater"][r] if gold_report else None
        rows.append(
            {
                "labeler": names[r],
                "labeler_id": int(labelers[r]),
                "n_answers": int(stats["n_units"]),
                "n_shared": int(stats["n_shared_units"]),
                "agreement_with_others": _float(stats["pairwise_accuracy"]),
                "agreement_with_majority": _float(stats["loo_majority_accuracy"]),
                "gold_accuracy": _float(gold_row["accuracy"]) if gold_row else None,
                "n_gold": int(gold_row["n_gold"]) if gold_row else 0,
                # Dawid–Skene weighs a labeler by the items shared with others: with none shared, its
                # figure was the prior's echo (the demo's new labeler read 2.5 % accurate), so none.
                "dawid_skene_accuracy": ds_accuracy[r] if stats["n_shared_units"] else None,
                "median_seconds": float(np.median(seconds)) if len(seconds) else None,
            }
        )
    report["per_labeler"] = rows
    report["consensus"] = consensus

    # Pairwise Cohen's kappa.
    pairwise = metrics.pairwise_cohen(ratings, raters=names, categories=code_categories)
    report["pairwise"] = [
        {
            "labeler_a": p["rater_a"],
            "labeler_b": p["rater_b"],
            "kappa": _float(p["kappa"]),
            "n_items": int(p["n"]),
            "reason": p.get("reason"),
        }
        for p in pairwise.pairs
    ]

    # Inter-labeler confusion: every pair of answers on the same item, counted both ways.
    confusion, _ = metrics.pairwise_confusion(ratings, categories=code_categories)
    report["confusion"] = {"classes": list(categories), "counts": confusion.astype(int).tolist()}

    # Over time (by the day of each item's latest answer) and by guideline version.
    unit_day = np.zeros(len(items), dtype=np.int64)
    unit_of_answer = np.searchsorted(items, table.item)
    np.maximum.at(unit_day, unit_of_answer, table.day)
    pair_agreement = unit_pair_agreement(codes, n_categories)
    report["over_time"] = _over_time(codes, unit_day, n_categories, pair_agreement)
    report["by_guideline"] = _by_guideline(table, n_categories, whole=(codes, ratings, pair_agreement))
    if table.values is not None:
        report["transcripts"] = _transcript_section(table)
    return report


def _transcript_section(table: AnswerTable):
    """Exact-match share after normalization and mean pairwise WER, over items with 2+ transcripts."""
    by_item = {}
    for item, value, flags in zip(table.item.tolist(), table.values, table.flags.tolist(), strict=True):
        if value and not flags & 6:  # uncertain / out-of-domain answers carry no transcript to compare
            by_item.setdefault(item, []).append(value)
    units = [v for v in by_item.values() if len(v) >= 2]
    section = {"n_items": len(units), "exact_agreement": None, "mean_pairwise_wer": None, "raw_exact_agreement": None}
    if units:
        normalize = transcript_normalizer(table.conventions)
        section["exact_agreement"] = float(metrics.transcript_exact_agreement(units, normalizer=normalize))
        section["raw_exact_agreement"] = float(metrics.transcript_exact_agreement(units, normalizer=False))
        section["mean_pairwise_wer"] = float(metrics.mean_pairwise_wer(units, normalizer=normalize))
    return section


# Classification measures a localized report leaves null: they compare answers as categories, and a
# shapes answer's JSON text is no category (two labelers agreeing on two boxes write different text).
SHAPE_NULL_METRICS = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp")


def _gold_shape_f1(answers, gold, iou):
    """{labeler id: (F1, items)} of each labeler's shapes against the gold shapes of SME decisions (``gold``:
    {item id: {"boxes" | "segments": [...]}}), pooled over the gold items they answered: 2·matches /
    (their shapes + gold shapes), matched one to one (same class, IoU ≥ ``iou``); 1 where neither drew any."""
    if not gold:
        return {}
    keys = ("x", "y", "w", "h") if answers.kind == BOXES else ("start", "end")
    sums = {}
    for a in np.flatnonzero(np.isin(answers.item, np.fromiter(gold, dtype=np.int64, count=len(gold)))):
        final = gold[int(answers.item[a])].get(answers.kind, [])
        start, end = np.searchsorted(answers.shape_answer, [a, a + 1])
        matched = []
        if final and end > start:
            matched = match_shapes(
                answers.coords[start:end],
                [[float(s[k]) for k in keys] for s in final],
                [answers.labels[c] for c in answers.shape_label[start:end]],
                [s["label"] for s in final],
                kind=answers.kind,
                iou=iou,
            )
        num, den, n = sums.get(int(answers.labeler[a]), (0, 0, 0))
        sums[int(answers.labeler[a])] = (num + 2 * len(matched), den + int(end - start) + len(final), n + 1)
    return {lab: (1.0 if den == 0 else num / den, n) for lab, (num, den, n) in sums.items()}


def build_shape_report(answers, *, iou=0.5, n_resamples=200, seed=0, policy="category", gold=None) -> dict:
    """The agreement report of a detection or segments project from its parsed answers
    (:class:`analysis.selectors.ShapeAnswers`).

    ``box_f1`` (or ``segment_f1``) with its seeded 95 % bootstrap interval over items, ``mean_iou`` of
    the matched pairs, per class (a class nobody drew here has F1 null), per labeler (F1, mean IoU and,
    for boxes, mAP@0.5 of their shapes against the consensus of the others: the HLP of a detection
    task), ``split_merge`` items and the same F1 per guideline version, all at the IoU threshold ``iou`` (see
    :func:`analysis.metrics.shapes.shape_agreement`). The classification measures (percent agreement,
    κ, α, the project HLP, pairwise κ, confusion, over time) are null or empty, with the reason.
    ``gold`` ({item id: shapes} of SME decisions marked gold) adds each labeler's ``gold_f1`` and
    ``n_gold`` (null and 0 without gold items they answered) and ``n_gold_items``.
    """
    kind = answers.kind
    f1_key = "box_f1" if kind == BOXES else "segment_f1"
    n_shapes = int(answers.shape_answer.size)
    report = {
        "version": REPORT_VERSION,
        "task": kind,
        "f1_key": f1_key,
        "iou": float(iou),
        "policy": policy,
        "n_items": len(set(answers.item.tolist())),
        "n_annotations": len(answers),
        "n_shapes": n_shapes,
        "n_flagged": 0,
        "n_labelers": len(set(answers.labeler.tolist())),
        "n_compared_items": 0,
        "classes": [{"key": k, "name": n} for k, n in zip(answers.classes, answers.class_names, strict=True)],
        f1_key: None,
        "mean_iou": None,
        "per_class": [],
        "per_labeler": [],
        "split_merge": [],
        "by_guideline": [],
        "pairwise": [],
        "confusion": {"classes": [], "counts": []},
        "over_time": {"bucket": "day", "points": []},
        "consensus": {},
        "reasons": {},
    }
    for key in SHAPE_NULL_METRICS:
        report[key] = None
        report["reasons"][key] = f"not computed for {kind}: answers are compared shape by shape ({f1_key}, mean_iou)"
    report["reasons"]["hlp"] = f"for {kind}, HLP is each labeler against the others' consensus: see per_labeler"
    if not len(answers):
        report["reasons"][f1_key] = "no answers match these filters"
        return report
    table = answers.table()
    try:
        agreement = shape_agreement(table, iou=iou, n_resamples=n_resamples, seed=seed)
    except MetricUndefined as exc:
        agreement = None
        report["reasons"][f1_key] = str(exc)
    if agreement is not None:
        report[f1_key] = _interval(agreement.f1)
        report["mean_iou"] = _float(agreement.mean_iou)
        report["n_compared_items"] = agreement.n_items
        report["n_pairs"] = agreement.n_pairs
        report["n_matches"] = agreement.n_matches
        report["split_merge"] = [{**row, "item": int(row["item"])} for row in agreement.split_merge]
        if agreement.mean_iou is None:
            report["reasons"]["mean_iou"] = "no two shapes matched at this IoU threshold"
    names = dict(zip(answers.classes, answers.class_names, strict=True))
    counts = dict(
        zip(answers.labels, np.bincount(answers.shape_label, minlength=len(answers.labels)).tolist(), strict=True)
    )
    per_class = agreement.per_class if agreement else {}
    report["per_class"] = [
        {
            "class": key,
            "name": names.get(key, key),
            "n_shapes": counts.get(key, 0),
            # A class nobody drew here has no F1 to show (the metric's "1 when no shapes" convention).
            "f1": _float((per_class.get(key) or {}).get("f1")) if counts.get(key) else None,
            "mean_iou": _float((per_class.get(key) or {}).get("mean_iou")),
        }
        for key in answers.labels
    ]
    per_labeler = agreement.per_labeler if agreement else {}
    gold_scores = _gold_shape_f1(answers, gold, iou)
    report["n_gold_items"] = len(set(gold or ()) & set(answers.item.tolist()))
    rows = []
    per_answer = answers.shapes_per_answer()
    for pk in sorted(set(answers.labeler.tolist()), key=lambda pk: answers.labeler_names.get(pk, str(pk))):
        name = answers.labeler_names.get(pk, str(pk))
        mine = answers.labeler == pk
        seconds = answers.seconds[mine & ~np.isnan(answers.seconds)]
        stats = per_labeler.get(name) or {}
        rows.append(
            {
                "labeler": name,
                "labeler_id": int(pk),
                "n_answers": int(mine.sum()),
                "n_shapes": int(per_answer[mine].sum()),
                "n_shared": int(stats.get("n_items") or 0),
                "f1": _float(stats.get("f1")),
                "mean_iou": _float(stats.get("mean_iou")),
                "map50": _float(stats.get("map50")),
                "gold_f1": _float(gold_scores[int(pk)][0]) if int(pk) in gold_scores else None,
                "n_gold": gold_scores[int(pk)][1] if int(pk) in gold_scores else 0,
                "median_seconds": float(np.median(seconds)) if len(seconds) else None,
            }
        )
    report["per_labeler"] = rows
    report["by_guideline"] = _shape_by_guideline(answers, iou=iou, n_resamples=n_resamples, seed=seed, whole=agreement)
    return report


def _shape_by_guideline(answers, *, iou, n_resamples, seed, whole=None):
    """F1 and mean IoU per guideline version; ``whole``: the report's own result, reused when every
    answer was given under one version (the common case on big projects: no second computation)."""
    rows = []
    versions = np.unique(answers.guideline)
    for guideline_id in versions:
        mask = answers.guideline == guideline_id
        if len(versions) == 1:
            row = {
                "guideline": answers.guideline_versions.get(int(guideline_id)),
                "n_items": len(set(answers.item.tolist())),
                "n_compared": whole.n_items if whole else 0,
                "f1": _interval(whole.f1) if whole else None,
                "mean_iou": _float(whole.mean_iou) if whole else None,
            }
            rows.append(row)
            continue
        row = {
            "guideline": answers.guideline_versions.get(int(guideline_id)),
            "n_items": len(set(answers.item[mask].tolist())),
            "n_compared": 0,
            "f1": None,
            "mean_iou": None,
        }
        with contextlib.suppress(MetricUndefined):  # no item with two answers under this version: "—"
            sub = shape_agreement(answers.table(mask), iou=iou, n_resamples=n_resamples, seed=seed, per_labeler=False)
            row.update(n_compared=sub.n_items, f1=_interval(sub.f1), mean_iou=_float(sub.mean_iou))
        rows.append(row)
    rows.sort(key=lambda r: (r["guideline"] is None, r["guideline"] or 0))
    return rows
