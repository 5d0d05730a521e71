"""Version recipes: the label-resolution policy a dataset version is built from.

Every field is optional (``{}`` is a valid recipe); ``recipe_parse`` fills in the defaults below and
answers the canonical recipe a version stores, so a stored version says exactly how it was made.
Unknown fields are refused by name, at every level, so a misspelt option never silently does nothing.

======================  ===============  ====================================================================
field                   default          meaning
======================  ===============  ====================================================================
use_decisions           true             an SME decision on an item wins over its answers
consensus               "majority"       "majority" or "dawid_skene" (classification only) for the others
min_answers             1                counted answers an item needs for a consensus label
min_agreement           0.5              share of counted answers (majority) or posterior probability
                                         (Dawid-Skene) the winning label needs
unresolved              "exclude"        items that miss (tie, low agreement, too few answers): left out
                                         ("exclude") or listed with ``label: null`` ("needs_review")
borderline              "exclude"        what a borderline answer becomes (see flag rules)
uncertain               "exclude"        what an uncertain answer becomes
out_of_domain           "class"          what an out-of-domain answer becomes
class_map               {}               extra {old key: new key} on top of the project's taxonomy changes
archived_weight         0.4              what an answer archived by a relabel campaign weighs against a
                                         current one (0: archived answers do not count); below 0.5, so
                                         two archived answers that agree lose to one new answer
transcripts             see below        transcription projects: normalization of transcripts
filters                 see below        which items and answers count
splits                  80/10/10         train/dev/test shares, a salt for the stable split hash, and a
                                         metadata key whose items share one split (``group_by``)
formats                 all that fit     artifacts to build; JSON Lines (the manifest) and Parquet (read by
                                         diffs and training) are always built; detection adds coco and
                                         yolo, segments segments_csv and rttm. The raw answers
                                         (``answers``, answers.jsonl) are written by every build, whatever
                                         this says
======================  ===============  ====================================================================

Flag rules: ``"exclude"`` leaves the answer out (as if not given); ``"class"`` counts it as its own
class (``borderline``, ``uncertain``, ``out_of_domain``); ``"value"`` ignores the flag and counts the
answer's class (left out if it has none); ``"map:<key>"`` counts it as that class. An answer with several
flags follows the strongest: out-of-domain, then uncertain, then borderline.

``transcripts``: ``{"conventions": true, "case": true, "punctuation": true, "whitespace": true, "rules":
[[regex, replacement], ...]}`` — the project's transcript conventions in force (fillers, tags; when
``conventions``), then ``analysis.metrics.normalize_transcript`` with the other options; the label of a
clip is the majority of its normalized transcripts.

``filters``: ``{"sources": [name or id], "tags": [...], "exclude_tags": [...], "created_from": date,
"created_to": date, "answered_to": date-time, "guideline": version}``. Tags select items with any of
them; dates are inclusive (a date ``created_to`` includes that whole day); ``answered_to`` counts only
answers whose last change is at or before that moment (an answer revised later is left out, not taken
back to its earlier value); ``guideline`` counts only answers given under that guideline version.

Archived answers: starting a relabel campaign archives its items' answers; they stay evidence. Each
labeler's answer as it stood when the campaign started counts at ``archived_weight`` (revised earlier
values do not), beside the new answers at 1, under the same filters (``guideline`` counts archived
answers given under that version too, ``answered_to`` looks at when they were given). Dawid-Skene
gives each labeler a prior accuracy from their record (``labeler_priors``: SME decisions, agreement
with others), so a labeler who shares no item with anyone still counts.

``splits``: ``{"train": 0.8, "dev": 0.1, "test": 0.1, "salt": "", "group_by": ""}``; the shares sum to 1.
An item's split comes from its content hash (sha256), so it keeps its split in every version with the
same shares and salt, whatever else changes. ``group_by`` names a metadata key (the recording windows were
cut from, a video, a patient): an item whose metadata holds a value under it takes its split from a hash
of that value instead (``exports.split_hashes``), so all the items of one recording share one split in
every version and the test split holds no near-copy of a training item; an item without the key (or
with null under it) keeps its own. "" (the default) groups nothing.
"""

import re
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.utils import timezone

from analysis.metrics.rules import error as rules_error
from analysis.metrics.rules import rule_check_replacement, rule_compile
from labelhub.params import parse_day, parse_instant
from labeling.choices import Modality, TaskType

CONSENSUS_METHODS = ("majority", "dawid_skene")
UNRESOLVED_RULES = ("exclude", "needs_review")
FLAGS = ("out_of_domain", "uncertain", "borderline")  # strongest first
FLAG_RULES = ("exclude", "class", "value")
TABULAR_FORMATS = ("jsonl", "csv", "parquet")
SHAPE_FORMATS = {TaskType.DETECTION: ("coco", "yolo"), TaskType.SEGMENTS: ("segments_csv", "rttm")}
ALWAYS_BUILT = ("jsonl", "parquet")  # the manifest, and what diffs and training read

DEFAULTS = {
    "use_decisions": True,
    "consensus": "majority",
    "min_answers": 1,
    "min_agreement": 0.5,
    "unresolved": "exclude",
    "borderline": "exclude",
    "uncertain": "exclude",
    "out_of_domain": "class",
    "class_map": {},
    "archived_weight": 0.4,
}
TRANSCRIPT_DEFAULTS = {"conventions": True, "case": True, "punctuation": True, "whitespace": True, "rules": []}
FILTER_FIELDS = ("sources", "tags", "exclude_tags", "created_from", "created_to", "answered_to", "guideline")
SPLIT_DEFAULTS = {"train": 0.8, "dev": 0.1, "test": 0.1, "salt": "", "group_by": ""}
TOP_FIELDS = (*DEFAULTS, "transcripts", "filters", "splits", "formats")


# A form (curl -d, a page's form) carries every value as text: these fields are read from it as JSON would
# carry them; a JSON body keeps its own types, and a value that is no such text stays text, refused by
# ``recipe_parse`` naming it.
FORM_WHOLE_NUMBERS = ("min_answers", "filters.guideline")
FORM_NUMBERS = ("min_agreement", "archived_weight", "splits.train", "splits.dev", "splits.test")
FORM_YES_NO = (
    "use_decisions",
    *(f"transcripts.{name}" for name in ("conventions", "case", "punctuation", "whitespace")),
)
FORM_BOOLEANS = {"true": True, "false": False}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# A form carries the recipe's objects and lists in DRF's notation: an object's fields as ``name.field``
# (``splits.train=0.7``, ``class_map.scratch=scratched``), a list as its name repeated
# (``formats=csv&formats=coco``) or numbered (``formats[0]=csv``).
FORM_OBJECTS = ("class_map", "transcripts", "filters", "splits")
FORM_LISTS = ("formats", "filters.sources", "filters.tags", "filters.exclude_tags")
_NUMBERED = re.compile(r"(?P<name>.+)\[(?P<index>\d+)\]")


def _form_value(name, value):
    """One form field's text as JSON would carry it (see ``FORM_WHOLE_NUMBERS`` and the others)."""
    if not isinstance(value, str):
        return value  # an uploaded file: refused as it is
    text = value.strip()
    if name in FORM_WHOLE_NUMBERS and text.isascii() and text.isdigit():
        return int(text)
    if name in FORM_NUMBERS and _DECIMAL.fullmatch(text):
        return float(text)
    if name in FORM_YES_NO and text.lower() in FORM_BOOLEANS:
        return FORM_BOOLEANS[text.lower()]
    return value


def _form_put(recipe, name, value, errors):
    """Put a form field's ``value`` at its place in ``recipe``: ``splits.train`` in ``recipe["splits"]``."""
    head, _, field = name.partition(".")
    if not field or head not in FORM_OBJECTS:
        target, key = recipe, name
    else:
        target, key = recipe.setdefault(head, {}), field  # never text: an object sent whole is refused
    if key in target:
        errors[name] = f"sent both as {name} and numbered ({name}[0]); send one of them"
        return
    target[key] = value


def recipe_form_values(fields: dict) -> dict:
    """A recipe sent as a form (``fields``: each name's values, as text) as the recipe JSON would carry.

    Its numbers and yes/no fields were refused as text (``min_answers=2``: "must be a whole number ...
    not '2'"), and its objects and lists could not be sent at all: ``splits.train=0.7`` was refused as an
    unknown field, ``formats=csv&formats=coco`` as "must be a list". Numbers, yes/no, objects and lists are
    read as ``FORM_WHOLE_NUMBERS``, ``FORM_OBJECTS`` and the others say, so a form means what the same
    recipe as JSON means; anything else is left as sent for ``recipe_parse`` to check. What a form cannot
    say as JSON would is refused here naming the field, never dropped: a field sent twice (JSON keeps one
    value per name, a form would keep the last silently), an object sent as text (``splits=...``), and
    ``transcripts.rules`` (pairs of text, which only JSON carries).
    """
    errors = {}
    recipe = {}
    numbered = {}
    for name, values in fields.items():
        if name.startswith("transcripts.rules"):
            errors[name] = "a list of [regex, replacement] pairs, which a form cannot carry: send the recipe as JSON"
            continue
        match = _NUMBERED.fullmatch(name)
        if match and match["name"] in FORM_LISTS:
            if len(values) > 1:
                errors[name] = f"sent {len(values)} times; a list's item takes one value"
            numbered.setdefault(match["name"], {})[int(match["index"])] = values[-1]
        elif name in FORM_LISTS:
            _form_put(recipe, name, list(values), errors)
        elif len(values) > 1:
            errors[name] = f"sent {len(values)} times; this field takes one value"
        elif name in FORM_OBJECTS:
            errors[name] = f"an object, which a form sends by its fields: {name}.<field>=<value>"
        else:
            _form_put(recipe, name, _form_value(name, values[0]), errors)
    for name, items in numbered.items():
        _form_put(recipe, name, [items[index] for index in sorted(items)], errors)
    if errors:
        raise ValidationError(errors)
    return recipe


def formats_for(project) -> list[str]:
    """Artifact formats that fit the project: the tabular three, plus the media archive of its modality."""
    formats = list(TABULAR_FORMATS)
    if project.task_type in SHAPE_FORMATS:  # detection: coco, yolo; segments: segments_csv, rttm
        return formats + list(SHAPE_FORMATS[project.task_type])
    if project.modality == Modality.IMAGE and project.task_type == TaskType.CLASSIFICATION:
        formats.append("imagefolder")
    if project.modality == Modality.AUDIO:
        formats.append("audiofolder")
    return formats


def _unknown(data, allowed, where=""):
    extra = sorted(set(data) - set(allowed))
    if extra:
        prefix = f"{where}." if where else ""
        return {
            f"{prefix}{name}": f"unknown field '{name}' (known{' ' + where if where else ''} fields: "
            f"{', '.join(allowed)})"
            for name in extra
        }
    return {}


def _bool(value, name, errors):
    if isinstance(value, bool):
        return value
    errors[name] = f"must be true or false, not {value!r}"
    return None


def _date(value, name, errors, *, end=False):
    """An ISO date or date-time as an aware datetime (a date ``end`` means the end of that day)."""
    if not isinstance(value, str):
        errors[name] = "must be a date (YYYY-MM-DD) or an ISO date-time"
        return None
    # A bare date is a day first: Python's fromisoformat (which parse_instant tries) reads "2026-12-04" as
    # its midnight, and created_to=2026-12-04 left out every item created that day.
    day = parse_day(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    moment = None if day is not None else parse_instant(value)
    if moment is None:
        if day is None:
            errors[name] = f"'{value}' is not a date (YYYY-MM-DD) or an ISO date-time"
            return None
        moment = datetime.combine(day, time.max if end else time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _flag_rule(value, name, project, class_keys, errors):
    if not isinstance(value, str):
        errors[name] = f"must be one of {', '.join(FLAG_RULES)} or 'map:<class key>'"
        return None
    if value in FLAG_RULES:
        return value
    if value.startswith("map:"):
        target = value[4:]
        if project.task_type == TaskType.CLASSIFICATION and target not in class_keys:
            errors[name] = f"'{target}' is not a class of this project ({', '.join(class_keys)})"
            return None
        if not target:
            errors[name] = "map: needs a class key, e.g. 'map:scratch'"
            return None
        return value
    errors[name] = f"'{value}' is not one of {', '.join(FLAG_RULES)} or 'map:<class key>'"
    return None


def recipe_parse(*, project, data) -> dict:
    """Validate a recipe for ``project`` and answer it canonical, with every default filled in.

    ``data`` is a dict (``{}`` gives the defaults). Raises ``ValidationError`` with one message per bad
    field, named by its path (``filters.tags``, ``splits.train``); unknown fields are errors.
    The answer holds only JSON types: dates stay the ISO strings given, normalized.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError({"recipe": "a recipe is a JSON object (use {} for the defaults)"})
    errors = _unknown(data, TOP_FIELDS)
    class_keys = [c.key for c in project.active_classes()]
    all_keys = list(project.classes.values_list("key", flat=True))
    transcription = project.task_type == TaskType.TRANSCRIPTION
    out = {}

    out["use_decisions"] = _bool(data.get("use_decisions", DEFAULTS["use_decisions"]), "use_decisions", errors)
    consensus = data.get("consensus", DEFAULTS["consensus"])
    if consensus not in CONSENSUS_METHODS:
        errors["consensus"] = f"'{consensus}' is not one of {', '.join(CONSENSUS_METHODS)}"
    elif consensus == "dawid_skene" and transcription:
        errors["consensus"] = "dawid_skene needs a classification project; transcripts use the majority"
    out["consensus"] = consensus

    min_answers = data.get("min_answers", DEFAULTS["min_answers"])
    if isinstance(min_answers, bool) or not isinstance(min_answers, int) or not 1 <= min_answers <= 1000:
        errors["min_answers"] = f"must be a whole number from 1 to 1000, not {min_answers!r}"
    out["min_answers"] = min_answers
    min_agreement = data.get("min_agreement", DEFAULTS["min_agreement"])
    if isinstance(min_agreement, bool) or not isinstance(min_agreement, int | float) or not 0 <= min_agreement <= 1:
        errors["min_agreement"] = f"must be a number from 0 to 1, not {min_agreement!r}"
    else:
        min_agreement = float(min_agreement)
    out["min_agreement"] = min_agreement
    archived_weight = data.get("archived_weight", DEFAULTS["archived_weight"])
    if (
        isinstance(archived_weight, bool)
        or not isinstance(archived_weight, int | float)
        or not 0 <= archived_weight <= 1
    ):
        errors["archived_weight"] = f"must be a number from 0 to 1, not {archived_weight!r}"
    else:
        archived_weight = float(archived_weight)
    out["archived_weight"] = archived_weight
    unresolved = data.get("unresolved", DEFAULTS["unresolved"])
    if unresolved not in UNRESOLVED_RULES:
        errors["unresolved"] = f"'{unresolved}' is not one of {', '.join(UNRESOLVED_RULES)}"
    out["unresolved"] = unresolved

    for flag in FLAGS:
        out[flag] = _flag_rule(data.get(flag, DEFAULTS[flag]), flag, project, class_keys, errors)

    class_map = data.get("class_map", {})
    if not isinstance(class_map, dict):
        errors["class_map"] = "must be an object {old class key: new class key}"
        class_map = {}
    elif transcription and class_map:
        errors["class_map"] = "class_map applies to classification projects"
    else:
        for old, new in class_map.items():
            if old not in all_keys:
                errors["class_map"] = f"'{old}' is not a class of this project"
            elif new not in class_keys:
                errors["class_map"] = f"'{new}' is not an active class of this project ({', '.join(class_keys)})"
    out["class_map"] = dict(sorted(class_map.items()))

    if transcription:
        out["transcripts"] = _transcripts(data.get("transcripts", {}), errors)
    elif "transcripts" in data:
        errors["transcripts"] = "transcripts applies to transcription projects"
    out["filters"] = _filters(project, data.get("filters", {}), errors)
    out["splits"] = _splits(data.get("splits", {}), errors)

    fitting = formats_for(project)
    formats = data.get("formats", fitting)
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        errors["formats"] = f"must be a list of formats ({', '.join(fitting)})"
        formats = fitting
    for fmt in formats:
        if fmt not in fitting:
            errors["formats"] = f"'{fmt}' does not fit this {project.modality} project (formats: {', '.join(fitting)})"
    out["formats"] = [f for f in fitting if f in formats or f in ALWAYS_BUILT]
    if errors:
        raise ValidationError(errors)
    return out


def _transcripts(data, errors):
    if not isinstance(data, dict):
        errors["transcripts"] = "must be an object"
        return dict(TRANSCRIPT_DEFAULTS)
    errors.update(_unknown(data, TRANSCRIPT_DEFAULTS, "transcripts"))
    out = {}
    for name in ("conventions", "case", "punctuation", "whitespace"):
        out[name] = _bool(data.get(name, TRANSCRIPT_DEFAULTS[name]), f"transcripts.{name}", errors)
    rules = data.get("rules", [])
    good = []
    if not isinstance(rules, list):
        errors["transcripts.rules"] = "must be a list of [regex, replacement] pairs"
    else:
        for i, rule in enumerate(rules):
            if not (isinstance(rule, list | tuple) and len(rule) == 2 and all(isinstance(r, str) for r in rule)):
                errors["transcripts.rules"] = f"rule {i} must be a [regex, replacement] pair of strings"
                continue
            try:
                rule_compile(rule[0])
            except rules_error as exc:
                errors["transcripts.rules"] = f"rule {i}: '{rule[0]}' is not a valid regular expression ({exc})"
                continue
            try:
                # read only on a match: a bad one would otherwise fail the build on its first transcript
                rule_check_replacement(rule[0], rule[1])
            except (rules_error, IndexError) as exc:
                errors["transcripts.rules"] = (
                    f"rule {i}: the replacement '{rule[1]}' for '{rule[0]}' is invalid ({exc}); "
                    r"refer to the pattern's groups as \1 or \g<name>, and write a backslash as \\"
                )
                continue
            good.append([rule[0], rule[1]])
    out["rules"] = good
    return out


def _filters(project, data, errors):
    if not isinstance(data, dict):
        errors["filters"] = "must be an object"
        return {}
    errors.update(_unknown(data, FILTER_FIELDS, "filters"))
    out = {}
    for name in ("sources", "tags", "exclude_tags"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            errors[f"filters.{name}"] = "must be a list of names" + (" or ids" if name == "sources" else "")
            continue
        out[name] = sorted({str(v) for v in value})
    if "sources" in out:
        known = {str(pk): name for pk, name in project.sources.values_list("pk", "name")}
        names = set(known.values())
        missing = [v for v in out["sources"] if v not in names and v not in known]
        if missing:
            errors["filters.sources"] = f"unknown sources: {', '.join(missing)}"
        # Canonical: by name, so a recipe reads the same whether it named or numbered a source.
        out["sources"] = sorted({known.get(v, v) for v in out["sources"]})
    for name in ("tags", "exclude_tags"):
        if name in out:
            known = set(project.tags.values_list("name", flat=True))
            missing = [v for v in out[name] if v not in known]
            if missing:
                errors[f"filters.{name}"] = f"unknown tags: {', '.join(missing)}"
    for name, end in (("created_from", False), ("created_to", True), ("answered_to", False)):
        if data.get(name) is not None:
            moment = _date(data[name], f"filters.{name}", errors, end=end)
            if moment is not None:
                out[name] = data[name]
    if (
        "created_from" in out
        and "created_to" in out
        and _date(out["created_from"], "", {}) > _date(out["created_to"], "", {}, end=True)
    ):
        errors["filters.created_to"] = "created_to is before created_from"
    guideline = data.get("guideline")
    if guideline is not None:
        if isinstance(guideline, bool) or not isinstance(guideline, int):
            errors["filters.guideline"] = "must be a guideline version number"
        elif not project.guidelines.filter(version=guideline).exists():
            errors["filters.guideline"] = f"this project has no guideline version {guideline}"
        else:
            out["guideline"] = guideline
    return out


def _splits(data, errors):
    if not isinstance(data, dict):
        errors["splits"] = 'must be an object like {"train": 0.8, "dev": 0.1, "test": 0.1}'
        return dict(SPLIT_DEFAULTS)
    errors.update(_unknown(data, SPLIT_DEFAULTS, "splits"))
    given = {k for k in ("train", "dev", "test") if k in data}
    out = {}
    for name in ("train", "dev", "test"):
        value = data.get(name, SPLIT_DEFAULTS[name] if not given else 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            errors[f"splits.{name}"] = f"must be a share from 0 to 1, not {value!r}"
            value = 0.0
        out[name] = float(value)
    if not any(f"splits.{n}" in errors for n in ("train", "dev", "test")):
        total = out["train"] + out["dev"] + out["test"]
        if abs(total - 1.0) > 1e-6:
            errors["splits"] = f"train + dev + test must be 1, not {total:g}"
    salt = data.get("salt", "")
    if not isinstance(salt, str) or len(salt) > 100:
        errors["splits.salt"] = "must be a string of at most 100 characters"
        salt = ""
    out["salt"] = salt
    group_by = data.get("group_by", "")
    if not isinstance(group_by, str):
        errors["splits.group_by"] = f"must be a metadata key (a string of at most 100 characters), not {group_by!r}"
        group_by = ""
    elif len(group_by.strip()) > 100:
        errors["splits.group_by"] = "a metadata key is at most 100 characters"
    out["group_by"] = group_by.strip()  # as the map's group_by: a blank key groups nothing
    return out


def recipe_moment(value, *, end=False):
    """A recipe date string as an aware datetime (``end``: a bare date means the end of that day)."""
    return _date(value, "", {}, end=end)
