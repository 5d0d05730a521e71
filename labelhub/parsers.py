"""Request body parsers for every API view: they refuse what no view can store or walk safely.

- NUL characters (``\\u0000``) in any text: PostgreSQL text and jsonb cannot hold them, so they would
  fail at the database as a 500. Refused here, once, for JSON, form and multipart bodies alike.
- JSON nested deeper than ``MAX_JSON_DEPTH``: Python's parser would raise RecursionError (a 500), and
  anything that walks the data later (validation, jsonb, the renderer) would too at a lower depth.
- A JSON body that is no object (``null``, ``[]``, ``"text"``, ``1``, ``true``): every operation of the API
  takes an object of fields. ``null`` built a version with the default recipe, as ``{}`` does, and the
  others were answered in words naming something else ("No data provided", "op: unknown operation
  'None'"). A view whose body may be any JSON value says so with ``json_body_any_value = True``.

They answer 400 in the API's error shape, naming the field (``{"detail": ..., "<field>": [...]}``; the
body as a whole is ``non_field_errors``).
"""

import codecs
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.settings import api_settings
from rest_framework.utils import json

# Deeper than any body LabelHub accepts (recipes, filters and answers are a few levels), far below the
# interpreter's recursion limit.
MAX_JSON_DEPTH = 64
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed"

# A JSON escape \u0000 that is not itself escaped (an odd number of backslashes before "u0000").
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

# Strings first (so brackets inside them are skipped), then brackets.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_has_nul(text) -> bool:
    """Whether JSON ``text`` holds the escape of a NUL character (a plain substring test first: a C-level
    scan, the regex only where the six characters are there)."""
    return "\\u0000" in text and _JSON_NUL.search(text) is not None


def json_depth_exceeds(text, limit=MAX_JSON_DEPTH):
    """True when the JSON text opens more than ``limit`` arrays/objects inside one another."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than it has brackets: the common case costs two C-level counts
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def nul_paths(data, path=""):
    """Where NUL characters occur in parsed data: ``["name", "filter.tag", "vectors[3].item"]``."""
    found = []
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(where or "non_field_errors")
        elif isinstance(value, dict):
            for key, child in value.items():
                key = str(key)
                name = key.replace("\x00", "\\u0000")
                stack.append((f"{where}.{name}" if where else name, child))
                if "\x00" in key:
                    found.append(f"{where}.{name}" if where else name)
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(value))
    return sorted(set(found))


def json_kind(value):
    """How a refusal names a JSON value's type: ``null``, ``an array``, ``a string``, ``a number``, ``true``."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def refuse_non_object(data, parser_context):
    """Refuse a JSON body that is no object, unless the view takes any JSON value (``json_body_any_value``)."""
    if isinstance(data, dict) or getattr((parser_context or {}).get("view"), "json_body_any_value", False):
        return
    raise ValidationError({"non_field_errors": [f"the request body must be a JSON object, not {json_kind(data)}"]})


def refuse_nul(paths):
    if paths:
        raise ValidationError({path: [NUL_MESSAGE] for path in paths})


def form_nul_paths(querydict, files=None):
    """NUL characters in form field names and values, and in uploaded files' names (not their content)."""
    data = {key: querydict.getlist(key) for key in querydict}
    paths = [p.split("[")[0] for p in nul_paths(data)]
    for key in files or {}:
        if any("\x00" in (upload.name or "") for upload in files.getlist(key)):
            paths.append(key)
    return sorted(set(paths))


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a nesting limit, no NUL characters in strings, and an object (``{...}``) as the
    body unless the view says otherwise."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except ValueError as exc:  # undecodable bytes
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(text):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # the bracket count above makes this unreachable; kept as a last line
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels") from None
        refuse_non_object(data, parser_context)
        if _JSON_NUL.search(text):  # only then walk the data, to name the fields
            refuse_nul(nul_paths(data))
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        refuse_nul(form_nul_paths(data))
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        refuse_nul(form_nul_paths(result.data, result.files))
        return result
