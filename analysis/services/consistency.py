"""Reads behind the consistency workflow that need the agreement maths: taxonomy previews and merge
suggestions, transcript-convention previews, campaign agreement."""

import numpy as np
from django.core.cache import cache
from django.core.exceptions import ValidationError

from analysis import metrics
from analysis.metrics.consistency import (
    ConventionError,
    Conventions,
    conventions_preview,
    merge_suggestions,
    pair_agreement,
    remap_codes,
    shape_merge_suggestions,
)
from analysis.metrics.rules import RuleTooSlow
from analysis.metrics.shapes import pooled_f1, relabel_table
from analysis.selectors import answer_table, shape_answers, transcript_normalizer
from analysis.services.agreement import answers_marker
from labeling.choices import SHAPE_TASKS, TaxonomyOp
from labeling.models import Annotation
from labeling.selectors import class_mapping, mapping_with, transcript_conventions
from labeling.services.campaign_shapes import shape_metric
from labeling.services.taxonomy import taxonomy_validate


def _coded(project):
    # As the agreement report reads them: one answer per item and labeler, the archived one until relabeled.
    table = answer_table(project=project, policy="category", class_map=class_mapping(project=project), archived=True)
    codes, _, _ = table.matrix()
    return table, codes


def _summary(codes, n_categories):
    out = {"percent_agreement": None, "krippendorff_alpha": None}
    try:
        out["percent_agreement"] = pair_agreement(codes, n_categories)
        out["krippendorff_alpha"] = float(
            metrics.krippendorff_alpha(np.where(codes >= 0, codes, np.nan).astype(float), "nominal")
        )
    except ValueError:
        pass
    return out


def _shape_table(project):
    mapping = class_mapping(project=project)
    # As the agreement report reads them: one answer per item and labeler, the archived one until relabeled.
    return shape_answers(project=project, policy="category", class_map=mapping, archived=True).table()


def _shape_preview(*, project, op, payload) -> dict:
    """Shape F1 (the agreement report's, at IoU 0.5) now and if the change were applied: a merge or
    rename maps shapes' classes, a retired class's shapes are dropped."""
    table = _shape_table(project)
    if op == TaxonomyOp.RETIRE:
        after_table = relabel_table(table, {payload["key"]: None})
    else:
        change = mapping_with(mapping={}, op=op, payload=payload)
        after_table = relabel_table(table, change)
    before, after = pooled_f1(table), pooled_f1(after_table)
    gain = after - before if before is not None and after is not None else None
    metric = shape_metric(project)
    return {
        "op": op,
        "payload": payload,
        "metric": metric,
        "before": {"agreement": before, metric: before},
        "after": {"agreement": after, metric: after},
        "gain": gain,
    }


def taxonomy_preview(*, project, op, payload) -> dict:
    """Agreement now and if the change were applied (percent agreement and nominal alpha, with flagged
    answers as their own categories — as the agreement report computes them; box or segment F1 in
    detection and segments projects). Applies nothing. ``metric`` names the measure and ``agreement``
    holds it, before and after."""
    payload = taxonomy_validate(project=project, op=op, payload=payload)
    if project.task_type in SHAPE_TASKS:
        return _shape_preview(project=project, op=op, payload=payload)
    table, codes = _coded(project)
    index = {key: i for i, key in enumerate(table.categories)}
    after = codes
    if op == TaxonomyOp.MERGE:
        sources = [index[k] for k in payload["classes"] if k != payload["into"] and k in index]
        target = index.get(payload["into"], sources[0] if sources else -1)
        after = remap_codes(codes, {s: target for s in sources if s != target})
    elif op == TaxonomyOp.RETIRE and payload["key"] in index:
        after = remap_codes(codes, {index[payload["key"]]: -1})
    before_stats = _summary(codes, len(table.categories))
    after_stats = _summary(after, len(table.categories))
    gain = None
    if before_stats["percent_agreement"] is not None and after_stats["percent_agreement"] is not None:
        gain = after_stats["percent_agreement"] - before_stats["percent_agreement"]
    for stats in (before_stats, after_stats):
        stats["agreement"] = stats["percent_agreement"]
    return {
        "op": op,
        "payload": payload,
        "metric": "percent_agreement",
        "before": before_stats,
        "after": after_stats,
        "gain": gain,
    }


SUGGESTIONS_CACHE_SECONDS = 24 * 3600


def merge_suggestions_for(*, project, limit=5) -> list[dict]:
    """Class pairs labelers often swap, with the agreement a merge would give (flags never suggested).
    In detection and segments projects a swap is one object (shapes matching whatever their class)
    called two things, and the agreement is box or segment F1. Kept in the cache until the answers,
    taxonomy changes or decisions change (``answers_marker``): the taxonomy page asks on every view, and
    on 300,000 boxes the computation takes about 3 s of CPU."""
    marker, _ = answers_marker(project=project)
    key = f"labelhub:merge-suggestions:{project.pk}:{limit}:{marker}"
    found = cache.get(key)
    if found is None:
        found = _merge_suggestions(project=project, limit=limit)
        cache.set(key, found, SUGGESTIONS_CACHE_SECONDS)
    return found


def _merge_suggestions(*, project, limit) -> list[dict]:
    classes = {c.key for c in project.active_classes()}
    if project.task_type in SHAPE_TASKS:
        table = _shape_table(project)
        exclude = {key for key in table.labels if key not in classes}
        found = shape_merge_suggestions(table, exclude=exclude, limit=limit)
        categories = list(table.labels)
        names = {c.key: c.name for c in project.active_classes()}
        metric = shape_metric(project)
    else:
        table, codes = _coded(project)
        if codes.size == 0:
            return []
        exclude = {i for i, key in enumerate(table.categories) if key not in classes}
        try:
            found = merge_suggestions(codes, len(table.categories), exclude=exclude, limit=limit)
        except ValueError:
            return []
        categories = table.categories
        names = dict(zip(table.categories, table.category_names, strict=True))
        metric = "percent_agreement"
    return [
        {
            "classes": [categories[s.a], categories[s.b]],
            "names": [names.get(categories[s.a], categories[s.a]), names.get(categories[s.b], categories[s.b])],
            "swaps": s.swaps,
            "swap_share": s.swap_share,
            "metric": metric,
            "agreement_before": s.agreement_before,
            "agreement_after": s.agreement_after,
            "gain": s.gain,
        }
        for s in found
        if s.gain > 0
    ]


def conventions_preview_for(*, project, rules) -> dict:
    """How many answers the conventions would rewrite, and how many disagreeing pairs become equal."""
    try:
        conventions = Conventions.from_dict(rules or {})
    except (ConventionError, TypeError) as exc:
        raise ValidationError({"rules": str(exc)}) from None
    current = transcript_conventions(project=project)
    by_item = {}
    for item_id, value in (
        Annotation.objects.filter(item__project=project).exclude(value="").values_list("item_id", "value")
    ):
        by_item.setdefault(item_id, []).append(value)
    try:
        # pairs as the reports compare them, now and with these conventions: lower case and no punctuation
        # are read already, so "Call mom." against "call mom" was no disagreement to settle
        preview = conventions_preview(
            list(by_item.values()),
            conventions,
            read_now=transcript_normalizer(current),
            read_after=transcript_normalizer(conventions),
        )
        examples = [
            {"before": v, "after": conventions.apply(v)}
            for values in list(by_item.values())[:200]
            for v in values
            if conventions.apply(v) != v
        ][:10]
    except RuleTooSlow as exc:  # a rule that backtracks on a transcript already written: named here
        raise ValidationError({"rules": str(exc)}) from None
    preview["current"] = current.as_dict() if current else None
    preview["examples"] = examples
    return preview
