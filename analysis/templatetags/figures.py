"""Numbers for people in templates: ``{{ n|human }}`` (18k, 1.2M, 0.004) and ``{{ x|money:"USD" }}``
(0.004 USD, 200 USD): never scientific notation, never a cost rounded to 0.00."""

import json

from django import template

from analysis.charts import human_number
from analysis.charts import money as format_money
from labeling.choices import DecisionAction

register = template.Library()


@register.filter
def human(value):
    """18k, 1.2M, 950, 0.004; '—' for None or text that is no number."""
    try:
        return human_number(None if value in (None, "") else float(value))
    except (TypeError, ValueError):
        return "—"


@register.filter
def money(value, currency=""):
    """An amount with its significant digits and the currency: 0.004 USD, 12.50 USD, 12,346 USD."""
    try:
        return format_money(None if value in (None, "") else float(value), currency or "")
    except (TypeError, ValueError):
        return "—"


@register.filter
def name_of(key, names):
    """A class key read by its name: ``{{ c.class|name_of:class_names }}`` (``names``: key → name, as
    ``labeling.selectors.class_names`` answers); the key itself when ``names`` does not know it."""
    try:
        return names.get(key, key) if names else key
    except TypeError:  # a label that is no key (a detection item's shapes)
        return key


SHAPE_NOUNS = {"boxes": "box", "segments": "segment"}


@register.filter
def label_of(label, names):
    """A version's label as a person reads it: a class by its name (``name_of``); a detection or segments
    label's shapes counted with their classes in order ("2 boxes: Iguana, Rock"), "nothing here" for none."""
    if isinstance(label, dict):
        for kind, noun in SHAPE_NOUNS.items():
            if kind in label:
                shapes = label[kind] or []
                if not shapes:
                    return "nothing here"
                classes = ", ".join(str(name_of(shape.get("label"), names)) for shape in shapes)
                return f"{len(shapes)} {noun if len(shapes) == 1 else kind}: {classes}"
    return name_of(label, names)


# a review queue row's reasons, as its chips name them (the counts above the queue say them in full)
REVIEW_REASON_LABELS = {
    "disagreement": "answers differ",
    "flagged": "flagged",
    "low_confidence": "low confidence",
    "likely_wrong": "likely wrong",
    "split_merge": "split / merge",
}


@register.filter
def review_reason(value):
    """``likely_wrong`` -> "likely wrong": the words a reviewer reads, never an identifier."""
    return REVIEW_REASON_LABELS.get(value, str(value).replace("_", " "))


@register.filter
def decision_action(value):
    """A decision's action as a reviewer reads it: ``ambiguous_instructions`` -> "instructions ambiguous"."""
    return str(DecisionAction(value).label).lower() if value in DecisionAction.values else words(value)


@register.filter
def words(value):
    """An identifier read as words: ``low_agreement`` -> "low agreement"."""
    return str(value).replace("_", " ")


# the input statistics drift compares (analysis.services.drift.STATISTICS), as a person reads them
STATISTIC_LABELS = {
    "width": "width (px)",
    "height": "height (px)",
    "brightness": "brightness (0–255)",
    "contrast": "contrast",
    "duration": "duration (s)",
    "sample_rate": "sample rate (Hz)",
    "channels": "channels",
    "rms_dbfs": "loudness, RMS (dBFS)",
    "peak_dbfs": "peak level (dBFS)",
    "clipped_share": "clipped samples (share)",
    "silence_share": "silence (share of the clip)",
    "length": "length (characters)",
    "words": "words",
    "lines": "lines",
}


@register.filter
def statistic(value):
    """``rms_dbfs`` -> "loudness, RMS (dBFS)": an input statistic named in words, with its unit."""
    return STATISTIC_LABELS.get(value, words(value))


@register.filter
def percent(value, digits=1):
    """A share as a percentage: 0.0056 -> "0.6 %", 0 -> "0 %", 1 -> "100 %"; '—' for None."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        return "—"
    text = f"{share * 100:.{int(digits)}f}".rstrip("0").rstrip(".")
    return f"{text} %"


@register.filter
def as_json(value):
    """Parameters as the JSON the forms and the API take ({"C": 1.0, "class_weight": null}), not Python's
    repr (False, None, single quotes)."""
    return json.dumps(value, ensure_ascii=False, default=str)


# the agreement report's measures (its ``reasons`` keys), as the page's cards name them
MEASURE_LABELS = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' κ",
    "krippendorff_alpha": "Krippendorff's α",
    "hlp": "HLP",
    "specific_agreement": "Specific agreement per class",
    "dawid_skene": "Dawid–Skene accuracy",
    "box_f1": "Box F1",
    "segment_f1": "Segment F1",
    "mean_iou": "Mean IoU",
}
# report keys a reason may mention, read as words on the page (the API keeps them as keys)
MEASURE_WORDS = {
    "see per_labeler": "see the labelers against the others' consensus, above",
    "box_f1": "box F1",
    "segment_f1": "segment F1",
    "mean_iou": "mean IoU",
}


@register.filter
def measure(value):
    """``krippendorff_alpha`` -> "Krippendorff's α": an agreement measure as the page names it."""
    return MEASURE_LABELS.get(value, words(value).capitalize())


@register.filter
def measure_text(value):
    """A reason naming report keys ("... (segment_f1, mean_iou)"), with those keys read as words."""
    text = str(value)
    for key, label in MEASURE_WORDS.items():
        text = text.replace(key, label)
    return text


# A version diff's ``why`` of a relabeled item (labeling.services.versions.WHY_*), in a reader's words.
DIFF_WHY = {
    "decision": "by an SME decision",
    "decision_gone": "a decision no longer shipped (withdrawn, or left out by the recipe)",
    "taxonomy": "class renamed or merged",
    "answers": "by the labelers' answers",
}


@register.filter
def diff_why(value):
    """A relabeled item's reason, as the version diff page reads it."""
    return DIFF_WHY.get(value, words(value) if value else "—")
