"""Error analysis against HLP: a model run's accuracy per slice beside human-level performance.

The labels a model is judged against are resolved exactly as a dataset version with the default recipe
resolves them (``labeling.services.resolution``: counted answers, class map, majority with ties left
unresolved, SME decisions first), with one addition: a gold label (``analysis.services.gold_for``)
wins over everything. Items without a resolved label are left out of accuracy and counted
(``n_unresolved``). HLP on a slice is the expected agreement of one human with another on the slice's
items; where items have gold labels, ``hlp_gold`` is the share of answers on them that match gold. Both
read per item and labeler ONE counted answer (``labeling.services.resolution.one_answer_each``): the
labeler's current answer, else their answer a relabel campaign archived as it stood, at full weight (a
labeler's old and new answers are not two humans agreeing or not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.http import Http404

from analysis.metrics.error_analysis import classification_scores, pair_agreement_sparse, paired_accuracy, slice_metrics
from analysis.metrics.error_analysis import slice_table as metrics_slice_table
from analysis.services import gold_for
from analysis.services.model_runs import ALL, _review_link, _slices, held_out_predictions, run_summary
from analysis.services.shape_error_analysis import shape_error_analysis_compute, shape_runs_compare
from labelhub.snapshots import read_snapshot
from labeling.choices import SHAPE_TASKS, TaskType
from labeling.models import Item
from labeling.services.recipes import recipe_parse
from labeling.services.resolution import (
    answers_read_with_agreement,
    decision_codes,
    effective_class_map,
    resolve,
    transcript_normalizer,
)

if TYPE_CHECKING:
    from scipy import sparse

N_RESAMPLES = 200


@dataclass
class ResolvedLabels:
    """Resolved labels and counted answers of a project's items (sorted by id).

    ``code`` indexes ``categories`` (-1: unresolved); ``resolved_by`` is "gold", "decision", "consensus"
    or "" per item; ``counts`` holds counted answers per category (rows: items; archived answers each
    counted), ``weights`` their weight as the resolution weighs them (a current answer 1, an archived one
    the recipe's ``archived_weight``: what a majority and a tie compare); ``human`` the answers human
    agreement reads (one per item and labeler, ``one_answer_each``) per category; ``gold`` the gold code
    (-1 without gold). ``normalize`` turns a predicted label into the form categories use.
    """

    categories: list[str]
    index: dict
    item: np.ndarray
    code: np.ndarray
    resolved_by: np.ndarray
    counts: sparse.csr_matrix
    weights: sparse.csr_matrix
    human: sparse.csr_matrix
    gold: np.ndarray
    transcription: bool
    class_map: dict
    normalize: object

    def code_of(self, label):
        key = self.normalize(label)
        return self.index.get(key, -1)

    def positions(self, item_ids):
        """Row of each item id in these arrays, -1 for items that have no answers, decision or gold."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if not len(self.item):
            return np.full(len(item_ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.item, item_ids), len(self.item) - 1)
        return np.where(self.item[pos] == item_ids, pos, -1)


@read_snapshot()  # the class mapping, classes and answers of one moment
def labels_resolved(*, project) -> ResolvedLabels:
    """Every item's resolved label under the default recipe, plus gold labels and counted answers.

    Reads and resolves through ``labeling.services.resolution`` (what dataset versions use): counted
    answers under the default recipe's flag rules and class map, majority vote with ties unresolved, SME
    decisions first (a decision that leaves the item out makes it unresolved); then gold labels
    (``analysis.services.gold_for``) win.
    """
    from scipy import sparse

    policy = recipe_parse(project=project, data={})
    class_map = effective_class_map(project=project, policy=policy)
    transcription = project.task_type == TaskType.TRANSCRIPTION
    answers, human, categories = answers_read_with_agreement(
        project=project, policy=policy, items=Item.objects.filter(project=project), class_map=class_map
    )
    decisions = decision_codes(project=project, policy=policy, categories=categories, class_map=class_map)
    if transcription:
        normalize = transcript_normalizer(project=project, policy=policy)
    else:

        def normalize(label):
            return class_map.get(label, label)

    gold = {}
    for item_id, label in (gold_for(project=project) or {}).items():
        code = categories.index.get(normalize(label))
        if code is not None:
            gold[int(item_id)] = code
    k = max(len(categories.names), 1)
    res = resolve(
        answers,
        n_categories=k,
        consensus=policy["consensus"],
        min_answers=policy["min_answers"],
        min_agreement=policy["min_agreement"],
    )
    others = np.fromiter(set(decisions) | set(gold), dtype=np.int64)
    items = np.union1d(np.union1d(res.item, human.item), others).astype(np.int64)
    n = len(items)
    at = np.searchsorted(items, res.item)
    code = np.full(n, -1, dtype=np.int64)
    code[at] = res.code
    resolved_by = np.full(n, "", dtype=object)
    resolved_by[at[res.code >= 0]] = "consensus"
    gold_codes = np.full(n, -1, dtype=np.int64)
    for source, labels in (("decision", decisions), ("gold", gold)):
        if labels:
            ids = np.fromiter(labels, dtype=np.int64)
            rows = np.searchsorted(items, ids)
            values = np.fromiter(labels.values(), dtype=np.int64)
            code[rows] = values
            resolved_by[rows] = source
            if source == "gold":
                gold_codes[rows] = values
    # Counted answers per item and category: the resolution's (t_ptr, t_code, t_count) is a CSR matrix.
    answered = sparse.csr_matrix(
        (res.t_count.astype(np.float64), res.t_code.astype(np.int64), res.t_ptr.astype(np.int64)),
        shape=(len(res.item), k),
    )
    weighed = sparse.csr_matrix(
        (res.t_weight.astype(np.float64), res.t_code.astype(np.int64), res.t_ptr.astype(np.int64)),
        shape=(len(res.item), k),
    )
    counts, weights = sparse.csr_matrix((n, k)), sparse.csr_matrix((n, k))
    if len(res.item):
        spread = sparse.csr_matrix((np.ones(len(res.item)), (at, np.arange(len(res.item)))), shape=(n, len(res.item)))
        counts, weights = spread @ answered, spread @ weighed
    human_counts = counts  # nothing archived: the same answers
    if human is not answers:
        said = human.code >= 0
        rows_of = np.searchsorted(items, human.item[said])
        human_counts = sparse.csr_matrix(
            (np.ones(int(said.sum())), (rows_of, human.code[said].astype(np.int64))), shape=(n, k)
        )
    return ResolvedLabels(
        categories=list(categories.names),
        index=dict(categories.index),
        item=items,
        code=code,
        resolved_by=resolved_by,
        counts=counts.tocsr(),
        weights=weights.tocsr(),
        human=human_counts.tocsr(),
        gold=gold_codes,
        transcription=transcription,
        class_map=class_map,
        normalize=normalize,
    )


def _interval(value):
    return None if value is None else {"value": value.value, "ci_low": value.low, "ci_high": value.high}


def _value(metric):
    return None if metric is None else metric["value"]


def _float(x):
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass
class _Evaluation:
    """Per predicted item (sorted by id): resolved code, predicted code, correctness and human agreement."""

    item: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    correct: np.ndarray
    agreement: np.ndarray
    gold_agreement: np.ndarray
    model_human: np.ndarray
    counts: sparse.csr_matrix


def _evaluate(labels: ResolvedLabels, item_ids, predicted_labels) -> _Evaluation:
    from scipy import sparse

    pos = labels.positions(item_ids)
    known = pos >= 0
    truth = np.where(known, labels.code[np.maximum(pos, 0)], -1) if len(pos) else np.zeros(0, np.int64)
    pred = np.fromiter((labels.code_of(v) for v in predicted_labels), dtype=np.int64, count=len(predicted_labels))
    correct = np.where(truth >= 0, (pred == truth).astype(np.float64), np.nan)
    k = labels.human.shape[1]
    rows = sparse.csr_matrix(
        (np.ones(known.sum()), (np.flatnonzero(known), pos[known])), shape=(len(pos), len(labels.item))
    )
    # Human agreement (HLP, gold agreement, the model against the humans): one answer per item and labeler.
    counts = (rows @ labels.human).tocsr() if len(labels.item) else sparse.csr_matrix((len(pos), k))
    agreement = pair_agreement_sparse(counts)
    m = np.asarray(counts.sum(axis=1)).ravel()
    gold = np.where(known, labels.gold[np.maximum(pos, 0)], -1) if len(pos) else np.zeros(0, np.int64)

    def share_matching(codes):
        ok = (codes >= 0) & (m > 0)
        out = np.full(len(codes), np.nan)
        if ok.any():
            hits = np.asarray(counts[np.flatnonzero(ok), codes[ok]]).ravel()
            out[ok] = hits / m[ok]
        return out

    return _Evaluation(
        item=np.asarray(item_ids, dtype=np.int64),
        truth=truth,
        pred=pred,
        correct=correct,
        agreement=agreement,
        gold_agreement=share_matching(gold),
        model_human=np.where(m > 0, np.nan_to_num(share_matching(pred), nan=0.0), np.nan),
        counts=counts,
    )


def _slice_row(name, mask, ev: _Evaluation, *, seed):
    result = slice_metrics(ev.correct[mask], ev.agreement[mask], n_resamples=N_RESAMPLES, seed=seed)
    gold = ev.gold_agreement[mask]
    n_gold = int(np.isfinite(gold).sum())
    result.update(
        slice=name,
        n_unresolved=int(result["n_items"] - result["n_scored"]),
        hlp_gold=float(np.nanmean(gold)) if n_gold else None,
        n_gold=n_gold,
    )
    return result


def _row_json(row, project, ev, mask):
    out = {
        "slice": row["slice"],
        "n_items": row["n_items"],
        "share": row["share"],
        "model_accuracy": _value(_interval(row["model_accuracy"])),
        "hlp": _value(_interval(row["hlp"])),
        "gap_to_hlp": _value(_interval(row["gap"])),
        "weighted_gap": _value(_interval(row["weighted_gap"])),
        "intervals": {
            "model_accuracy": _interval(row["model_accuracy"]),
            "hlp": _interval(row["hlp"]),
            "gap_to_hlp": _interval(row["gap"]),
            "weighted_gap": _interval(row["weighted_gap"]),
        },
        "n_scored": row["n_scored"],
        "n_unresolved": row["n_unresolved"],
        "n_pairable": row["n_pairable"],
        "hlp_gold": row["hlp_gold"],
        "n_gold": row["n_gold"],
        "model_beats_hlp": row["model_beats_hlp"],
        "review_url": None,
    }
    if row["model_beats_hlp"]:
        # Where the model beats the humans, the humans' labels are the suspects: the items where the
        # model and the resolved label differ, or where the humans disagree among themselves.
        suspect = mask & ((ev.correct == 0) | (ev.agreement < 1))
        out["review_url"] = _review_link(project, ev.item[suspect])
    return out


def _class_rows(labels: ResolvedLabels, ev: _Evaluation, *, project):
    from scipy import sparse

    scored = ev.truth >= 0
    k = len(labels.categories)
    if labels.transcription or k == 0:
        return [], None
    scores = classification_scores(ev.truth[scored], ev.pred[scored], k)
    # Human specific agreement per class on the scored items: when one labeler says the class, how often
    # another on the same item says it too, 2a / (2a + b) (a per-class HLP, comparable to an F1).
    counts = ev.counts[np.flatnonzero(scored)]
    m = np.asarray(counts.sum(axis=1)).ravel()
    agree = np.asarray(counts.multiply(counts).sum(axis=0)).ravel() - np.asarray(counts.sum(axis=0)).ravel()
    involved = np.asarray((sparse.diags(m - 1.0) @ counts).sum(axis=0)).ravel()
    active = {c.key for c in project.active_classes()}
    rows = []
    for c, name in enumerate(labels.categories):
        support, predicted = int(scores["support"][c]), int(scores["predicted"][c])
        if not support and not predicted and name not in active:
            continue
        hlp = float(agree[c] / involved[c]) if involved[c] > 0 else None
        f1 = _float(scores["f1"][c])
        beats = f1 is not None and hlp is not None and f1 > hlp
        row = {
            "class": name,
            "precision": _float(scores["precision"][c]),
            "recall": _float(scores["recall"][c]),
            "f1": f1,
            "support": support,
            "predicted": predicted,
            "hlp": hlp,
            "model_beats_hlp": beats,
            "review_url": None,
        }
        if beats:
            suspect = scored & ((ev.truth == c) | (ev.pred == c)) & ((ev.correct == 0) | (ev.agreement < 1))
            row["review_url"] = _review_link(project, ev.item[suspect])
        rows.append(row)
    # The matrix keeps the classes the table shows (active ones, and any other that occurs).
    shown = [labels.index[row["class"]] for row in rows]
    matrix = scores["confusion"][np.ix_(shown, shown)]
    confusion = {"classes": [labels.categories[c] for c in shown], "counts": matrix.astype(int).tolist()}
    return rows, confusion


def _fairness(rows_by_name, slice_masks, ev: _Evaluation, labels, chosen):
    names = [n for n in chosen if n in rows_by_name]
    if not names:
        return {"slices": [], "rows": [], "accuracy_spread": None, "worst": None}
    out_rows = []
    scored = ev.truth >= 0
    k = len(labels.categories)
    for name in names:
        row = dict(rows_by_name[name])
        mask = slice_masks[name] & scored
        recall = {}
        if not labels.transcription and k and mask.any():
            scores = classification_scores(ev.truth[mask], ev.pred[mask], k)
            recall = {labels.categories[c]: _float(scores["recall"][c]) for c in range(k) if scores["support"][c] > 0}
        row["recall"] = recall
        out_rows.append(row)
    accuracies = [(r["model_accuracy"], r["slice"]) for r in out_rows if r["model_accuracy"] is not None]
    spread = max(a for a, _ in accuracies) - min(a for a, _ in accuracies) if len(accuracies) >= 2 else None
    worst = min(accuracies)[1] if accuracies else None
    return {"slices": names, "rows": out_rows, "accuracy_spread": spread, "worst": worst}


@read_snapshot()
def error_analysis_compute(*, project, model_run, fairness=None, seed=0) -> dict:
    """The error-analysis report of ``model_run`` (DOMAIN.md §3, live).

    Only predictions on items the model did not train on are compared (:func:`held_out_mask`):
    ``n_left_out`` counts the others, ``held_out`` says on what basis (and warns when the run does not
    say which items were held out). Detection and segments projects answer
    ``analysis.services.shape_error_analysis.shape_error_analysis_compute`` instead.

    Answers ``{"model_run", "n_predictions", "n_left_out", "held_out", "n_items" (compared), "n_unresolved",
    "slices": [...], "classes": [...],
    "confusion": {"classes", "counts"} | None, "fairness": {...}}``. ``slices`` holds one row per tag
    carried by predicted items plus "all", each with ``slice, n_items`` (predicted items in the slice),
    ``share`` (of all predicted items), ``model_accuracy, hlp, gap_to_hlp, weighted_gap`` (numbers, None
    where undefined), their 95 % bootstrap ``intervals`` (seeded), ``n_scored, n_unresolved, n_pairable,
    hlp_gold, n_gold, model_beats_hlp, review_url``; sorted by ``weighted_gap``, largest first.
    ``classes``: per class precision, recall, F1, support, human specific agreement (``hlp``) and the
    same beats-HLP flag. ``fairness``: the rows of the chosen tags (``fairness``, default all tags) side
    by side, with per-class recall, the accuracy spread and the worst slice.
    """
    if project.task_type in SHAPE_TASKS:
        return shape_error_analysis_compute(project=project, model_run=model_run, fairness=fairness)
    labels = labels_resolved(project=project)
    item_ids, predicted, held, _ = held_out_predictions(model_run)
    ev = _evaluate(labels, item_ids, predicted)
    n = len(item_ids)
    base = {
        "kind": "classification" if not labels.transcription else "transcription",
        "metric": "accuracy",
        "model_run": run_summary(model_run),
        "n_predictions": n + held["n_left_out"],
        "n_left_out": held["n_left_out"],
        "held_out": held,
        "n_items": n,
        "n_unresolved": int((ev.truth < 0).sum()),
        "label_policy": "default dataset-version recipe; gold, then SME decisions, then majority of counted answers",
        "n_resamples": N_RESAMPLES,
        "seed": seed,
    }
    if n == 0:
        return {**base, "slices": [], "classes": [], "confusion": None, "fairness": _fairness({}, {}, ev, labels, [])}
    masks = {ALL: np.ones(n, dtype=bool), **_slices(project=project, item_ids=ev.item)}
    rows = [_slice_row(name, mask, ev, seed=seed) for name, mask in masks.items()]
    table = metrics_slice_table(rows, n_total=n)
    slices = [_row_json(row, project, ev, masks[row["slice"]]) for row in table]
    classes, confusion = _class_rows(labels, ev, project=project)
    by_name = {row["slice"]: row for row in slices}
    tags = [name for name in masks if name != ALL]
    chosen = [t for t in (fairness or tags) if t in by_name]
    return {
        **base,
        "slices": slices,
        "classes": classes,
        "confusion": confusion,
        "fairness": _fairness(by_name, masks, ev, labels, chosen),
        "tags": tags,
    }


@read_snapshot()
def model_runs_compare(*, project, run_a, run_b, seed=0, limit=100) -> dict:
    """Shadow mode: two model runs on the items both predicted and neither trained on, beside each other
    and beside the humans.

    An item either run trained on (:func:`held_out_mask`) is left out: ``n_left_out`` counts the items
    both predicted but not compared, ``held_out`` holds each run's basis, ``warning`` any plain warning.
    Answers ``{"a", "b", "n_common", "n_left_out", "held_out", "warning", "n_scored", "accuracy_a",
    "accuracy_b", "difference" (b − a with a
    paired bootstrap interval), "mcnemar_pvalue", "switches": {"both_right", "only_a", "only_b",
    "both_wrong"}, "model_agreement" (share of common items where a and b predict the same),
    "human_agreement": {"a", "b", "hlp"} (mean share of human answers that equal the model's prediction,
    beside the humans' own pairwise agreement), "slices": [{"slice", "n_items", "accuracy_a",
    "accuracy_b"}], "changed": [{"item", "a", "b", "label"}] (at most ``limit``)}``.
    """
    if run_a.project_id != project.pk or run_b.project_id != project.pk:
        raise Http404("No model run with that id in this project.")
    if project.task_type in SHAPE_TASKS:
        return shape_runs_compare(project=project, run_a=run_a, run_b=run_b)
    labels = labels_resolved(project=project)
    ids_a, pred_a, held_a, all_a = held_out_predictions(run_a)
    ids_b, pred_b, held_b, all_b = held_out_predictions(run_b)
    both = int(np.intersect1d(all_a, all_b, assume_unique=True).size)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    ev_a = _evaluate(labels, common, [pred_a[i] for i in ia])
    ev_b = _evaluate(labels, common, [pred_b[i] for i in ib])
    paired = paired_accuracy(ev_a.correct, ev_b.correct, n_resamples=N_RESAMPLES, seed=seed)
    masks = {ALL: np.ones(len(common), dtype=bool), **_slices(project=project, item_ids=common)}
    slices = []
    for name, mask in masks.items():
        scored = mask & np.isfinite(ev_a.correct)
        slices.append(
            {
                "slice": name,
                "n_items": int(mask.sum()),
                "accuracy_a": float(ev_a.correct[scored].mean()) if scored.any() else None,
                "accuracy_b": float(ev_b.correct[scored].mean()) if scored.any() else None,
            }
        )
    names = labels.categories

    def label(code):
        return names[code] if code >= 0 else None

    # Two predictions are the same when they are scored as the same label: a class merged since one run
    # (or a transcript written differently but normalized alike) is no change between the runs.
    norm = labels.normalize
    differ = np.flatnonzero(
        np.array(
            [norm(a) != norm(b) for a, b in zip((pred_a[i] for i in ia), (pred_b[i] for i in ib), strict=True)],
            dtype=bool,
        )
    )
    changed = [
        {
            "item": int(common[j]),
            "a": pred_a[ia[j]],
            "b": pred_b[ib[j]],
            "label": label(int(ev_a.truth[j])),
        }
        for j in differ[:limit]
    ]
    human = np.isfinite(ev_a.model_human)
    return {
        "a": {"id": run_a.pk, "name": run_a.name, "n_predictions": len(ids_a)},
        "b": {"id": run_b.pk, "name": run_b.name, "n_predictions": len(ids_b)},
        "n_common": int(len(common)),
        "n_left_out": both - int(len(common)),
        "held_out": {"a": held_a, "b": held_b},
        "warning": " ".join(dict.fromkeys(h["warning"] for h in (held_a, held_b) if h["warning"])) or None,
        **paired,
        "model_agreement": float(len(common) - len(differ)) / len(common) if len(common) else None,
        "human_agreement": {
            "a": float(ev_a.model_human[human].mean()) if human.any() else None,
            "b": float(ev_b.model_human[human].mean()) if human.any() else None,
            "hlp": float(np.nanmean(ev_a.agreement)) if np.isfinite(ev_a.agreement).any() else None,
        },
        "slices": sorted(slices, key=lambda s: (s["slice"] != ALL, s["slice"])),
        "changed": changed,
        "n_changed": int(len(differ)),
    }
