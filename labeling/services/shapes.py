"""Localized answers: boxes on images (``detection``) and time segments on audio (``segments``).

The contract (README "Localized answers"): a detection answer's value is ``{"boxes": [{"x", "y", "w",
"h", "label", "borderline"?, "uncertain"?}]}`` with ``x, y`` the top-left corner and ``w, h`` the size
as fractions of the image (the box inside it, ``w, h`` > 0); a segments answer's value is
``{"segments": [{"start", "end", "label", "borderline"?, "uncertain"?}]}`` in seconds within the clip
(``start`` < ``end``). ``label`` is an active class key; an empty list says "nothing here".

Answers and decisions (``old_keys``) may name a class by a key a taxonomy change renamed or merged
away: it is stored as the active class the change made of it (``labeling.selectors.class_mapping``), as
reports count it anyway. An earlier answer reopened and saved again, or a page opened before the change,
then saves instead of failing on "unknown class"; a key that maps to no active class is refused.

A segment may end a little past the clip's stored duration (``end_tolerance``: 50 ms or 1 % of the clip,
the larger) and is stored ending at it: decoders disagree on a clip's length (a browser decodes an
Ogg/Vorbis clip some milliseconds longer than libsndfile measured it at import), and a labeler who drags
to the end of the waveform means the end of the clip. Further past the end is refused, naming the shape.

The answer is stored in ``Annotation.value`` as compact JSON with the shape's fields in a fixed order,
so history, revisions and the labeling queue treat it like any other answer.
"""

import json
import math

from django.core.exceptions import ValidationError

from labeling.choices import SHAPE_TASKS

MAX_SHAPES = 500
# Rounding slack: a box drawn to the image's edge may come out as 1.0000000001 from a browser; it is
# stored cut at the edge.
EDGE_SLACK = 1e-6
# Seconds a segment may end past the clip's stored duration (stored ending at it): the larger of these.
END_SLACK = 0.05
END_SLACK_FRACTION = 0.01
FIELDS = {"boxes": ("x", "y", "w", "h"), "segments": ("start", "end")}
FLAGS = ("borderline", "uncertain")


def _fail(message):
    raise ValidationError({"value": message})


def _number(name, shape, where):
    if name not in shape:  # "h must be a number, not null" named a field the client never sent
        _fail(f"{where}: {name} is missing")
    value = shape.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(f"{where}: {name} must be a number, not {json.dumps(value)}")
    try:
        value = float(value)  # an integer of 400 digits does not fit a float: OverflowError
    except OverflowError:
        _fail(f"{where}: {name} is out of range")
    if not math.isfinite(value):
        _fail(f"{where}: {name} must be a finite number")
    return value


def _cut_at_edge(start, size):
    """``size`` cut so that ``start + size`` is at most 1: only when it is past the edge (``min(w, 1 - x)``
    stored a box the browser sent as x 0.9, w 0.1 as w 0.09999999999999998), and to 9 decimals where that
    stays inside the image, as the consensus's coordinates are rounded."""
    if start + size <= 1.0:
        return size
    rounded = round(1.0 - start, 9)
    return rounded if start + rounded <= 1.0 else 1.0 - start


def _fmt(value):
    return f"{value:.6g}"


def end_tolerance(duration: float) -> float:
    """Seconds past a clip of ``duration`` seconds that a segment's end is taken as the clip's end."""
    return max(END_SLACK, END_SLACK_FRACTION * duration)


def shapes_validate(*, project, value, class_keys, item=None, old_keys=None) -> str:
    """Check a localized answer and answer it as stored (compact JSON); raise ValidationError whose
    ``value`` message names the shape, e.g. ``boxes[2]: x + w = 1.2 is outside the image``.

    ``value``: the answer as sent (an object, or its JSON text from a form). ``class_keys``: the
    project's active class keys. ``item``: the answered item; a segment must end within its clip's
    ``stats["duration"]`` (when known); one that ends within ``end_tolerance`` past it is stored ending
    at it. ``old_keys``: a callable answering the project's taxonomy mapping (old key → key, e.g.
    ``labeling.selectors.class_mapping`` bound to the project); with it, a label it maps to an active
    class is stored as that class (it is called only when such a label comes).
    """
    modality_kind = SHAPE_TASKS[project.task_type]
    kind = modality_kind[1]
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            _fail(f'a {project.task_type} answer is an object {{"{kind}": [...]}}; this is not JSON')
    if not isinstance(value, dict) or set(value) != {kind}:
        _fail(f'a {project.task_type} answer is an object {{"{kind}": [...]}} (an empty list says "nothing here")')
    shapes = value[kind]
    if not isinstance(shapes, list):
        _fail(f"{kind} must be a list of shapes")
    if len(shapes) > MAX_SHAPES:
        _fail(f"{kind}: {len(shapes)} shapes, over the limit of {MAX_SHAPES}")
    keys = set(class_keys)
    mapping = None
    duration = None
    if kind == "segments" and item is not None:
        duration = (item.stats or {}).get("duration")
        duration = None if duration is None else float(duration)
    coords = FIELDS[kind]
    stored = []
    for n, shape in enumerate(shapes):
        where = f"{kind}[{n}]"
        if not isinstance(shape, dict):
            _fail(f"{where}: a shape is an object with {', '.join(coords)} and label")
        unknown = sorted(set(shape) - set(coords) - {"label", *FLAGS})
        if unknown:
            _fail(f"{where}: unknown field '{unknown[0]}'")
        nums = [_number(name, shape, where) for name in coords]
        if kind == "boxes":
            x, y, w, h = nums
            if w <= 0 or h <= 0:
                _fail(f"{where}: the size w = {_fmt(w)}, h = {_fmt(h)} must be positive")
            if x < -EDGE_SLACK or y < -EDGE_SLACK:
                _fail(f"{where}: the corner x = {_fmt(x)}, y = {_fmt(y)} is outside the image")
            if x + w > 1 + EDGE_SLACK:
                _fail(f"{where}: x + w = {_fmt(x + w)} is outside the image")
            if y + h > 1 + EDGE_SLACK:
                _fail(f"{where}: y + h = {_fmt(y + h)} is outside the image")
            # within the slack: stored cut at the image's edge (every stored box lies inside the image)
            if x < 0:
                x, w = 0.0, w + x
            if y < 0:
                y, h = 0.0, h + y
            w, h = _cut_at_edge(x, w), _cut_at_edge(y, h)
            if w <= 0 or h <= 0:
                _fail(f"{where}: the size w = {_fmt(w)}, h = {_fmt(h)} inside the image must be positive")
            nums = [x, y, w, h]
        else:
            start, end = nums
            if start < 0:
                _fail(f"{where}: start = {_fmt(start)} s is before the clip")
            if end <= start:
                _fail(f"{where}: end = {_fmt(end)} s must be after start = {_fmt(start)} s")
            if duration is not None and end > duration:
                if end > duration + end_tolerance(duration):
                    _fail(f"{where}: end = {_fmt(end)} s is after the clip's end ({_fmt(duration)} s)")
                if start >= duration:
                    _fail(f"{where}: start = {_fmt(start)} s is at or after the clip's end ({_fmt(duration)} s)")
                nums[1] = duration  # the clip's end as the server measured it
        label = shape.get("label")
        if old_keys is not None and isinstance(label, str) and label not in keys:
            if mapping is None:
                mapping = old_keys()
            label = mapping.get(label, label)
        if "label" not in shape:  # was "unknown class null"
            _fail(f"{where}: label is missing (the project's classes: {', '.join(sorted(keys))})")
        if not isinstance(label, str):  # was "unknown class 1": a class key is a string, "1"
            _fail(f"{where}: label must be a class key as a string, not {json.dumps(label)}")
        if label not in keys:
            given = json.dumps(shape.get("label"))
            _fail(f"{where}: unknown class {given} (the project's classes: {', '.join(sorted(keys))})")
        row = dict(zip(coords, nums, strict=True))
        row["label"] = label
        for flag in FLAGS:
            if flag not in shape:
                continue
            if not isinstance(shape[flag], bool):
                _fail(f"{where}: {flag} must be true or false")
            if shape[flag] and not getattr(project, f"allow_{flag}"):
                _fail(f"{where}: this project has no {flag} option")
            row[flag] = shape[flag]
        stored.append(row)
    return json.dumps({kind: stored}, separators=(",", ":"))


def shapes_value(*, project, stored):
    """A stored answer's value as the API shows it: the object for localized projects, else the text."""
    if project.task_type in SHAPE_TASKS and stored:
        try:
            return json.loads(stored)
        except ValueError:  # written before the project's type was known: shown as stored
            return stored
    return stored
