"""Spreadsheet-safe CSV cells: the one rule every CSV LabelHub writes goes through.

A spreadsheet opening a CSV runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``), and a leading tab or carriage return can hide such a
prefix. Following OWASP ("CSV injection"), a text cell that begins with one of these characters is
written with a single quote in front, which spreadsheets show as text. Only ``str`` values are
touched: an ``int`` or ``float`` the code writes (``-0.5``) is a number, not someone's text, and stays
one. JSON Lines and Parquet are never changed; they keep the exact values.

No Django here: both apps use it, and so may code that must stay Django-free.
"""

import csv

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_ARROW_PATTERN = r"^([=+\-@\t\r])"  # RE2 (pyarrow.compute): the same characters as DANGEROUS_PREFIXES


def csv_cell(value):
    """``value`` as a CSV cell: a string beginning with a dangerous character gets a leading ``'``;
    anything else (numbers, None, safe text) is answered unchanged."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def csv_row(values) -> list:
    return [csv_cell(v) for v in values]


class SafeCsvWriter:
    """``csv.writer`` whose rows are neutralised cell by cell (``csv_cell``)."""

    def __init__(self, handle, **kwargs):
        self._writer = csv.writer(handle, **kwargs)

    def writerow(self, row):
        return self._writer.writerow(csv_row(row))

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(handle, **kwargs) -> SafeCsvWriter:
    """A ``csv.writer`` for ``handle`` that neutralises formula cells; use it for every CSV written."""
    return SafeCsvWriter(handle, **kwargs)


def arrow_strings(array):
    """A pyarrow string array with the same rule applied, vectorised (nulls stay null)."""
    import pyarrow.compute as pc

    return pc.replace_substring_regex(array, pattern=_ARROW_PATTERN, replacement="'\\1", max_replacements=1)
