"""Reading ids and dates out of query strings and request bodies.

Two kinds of well-formed input still broke a request with a 500 rather than a 400: a number beyond 64
bits (the database drivers refuse to compare a column with it: OverflowError) and a date the calendar
does not have (``2020-02-30`` matches the pattern, then ``datetime`` raises ValueError).
"""

import re
from datetime import datetime, time

from django.utils.dateparse import parse_date, parse_datetime

# "+02:00" written unencoded in a query string arrives as " 02:00" (a "+" there means a space)
_OFFSET_AS_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


def row_id(value) -> int:
    """``value`` as a row id; ValueError when it cannot be one (not a whole number, or beyond 64 bits:
    a number the database cannot hold would make the driver fail, not answer "no such row")."""
    number = int(value)
    if not 0 < number < 2**63:
        raise ValueError(f"{number} is no row id")
    return number


def is_row_id(value) -> bool:
    """Whether ``value`` (a string or number from a request) is an id a row can have: ASCII digits
    ("²".isdigit() is true too) within 64 bits."""
    text = str(value)
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63


def parse_day(value: str):
    """A ``YYYY-MM-DD`` date, or None when ``value`` is not one, a day the calendar lacks included."""
    try:
        return parse_date(value)
    except ValueError:
        return None


def parse_instant(value: str) -> datetime | None:
    """An ISO date-time, naive or aware as written; None when ``value`` is not one, an impossible day or
    hour (``2020-02-30T10:00``, ``2020-01-01T25:00``) included. A positive UTC offset whose "+" a query
    string turned into a space (``since=2026-11-01T10:00+02:00`` typed in a URL) is read as the offset."""
    value = _OFFSET_AS_SPACE.sub(r"\1+\2", value.strip()) if isinstance(value, str) else value
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def parse_moment(value: str) -> datetime | None:
    """An ISO date-time, or a date (its midnight), naive or aware as written; None when ``value`` is
    neither, an impossible day (``2020-13-45``, ``2020-02-30``) included."""
    moment = parse_instant(value)
    if moment is None:
        day = parse_day(value)
        moment = datetime.combine(day, time.min) if day else None
    return moment


YES = ("1", "true", "yes")
NO = ("0", "false", "no")


def parse_yes_no(value) -> bool | None:
    """A yes/no query parameter: None when absent or empty, True for 1/true/yes, False for 0/false/no (any
    case); ValueError otherwise, so ``mine=perhaps`` is refused rather than read as "no"."""
    if value in (None, ""):
        return None
    lowered = str(value).strip().lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise ValueError(f"'{value}' is not true or false")
