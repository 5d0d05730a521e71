"""The one CSV rule: text a spreadsheet would run as a formula is written as text; numbers stay numbers."""

import csv
import io

import pyarrow as pa
import pytest

from labelhub.csvsafe import DANGEROUS_PREFIXES, arrow_strings, csv_cell, csv_writer

ATTACKS = ['=HYPERLINK("http://x.example","click")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", ATTACKS)
def test_a_formula_like_text_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-0.5, -3, 0, 2.5, None, "plain", "a=b", "", "'=already quoted"])
def test_numbers_and_harmless_text_are_written_as_they_are(value):
    assert csv_cell(value) == value


def test_the_writer_neutralises_every_cell_of_every_row():
    buffer = io.StringIO(newline="")
    csv_writer(buffer).writerows([["=1", -0.5, "ok"], ["@x", 3, "+y"]])
    rows = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert rows == [["'=1", "-0.5", "ok"], ["'@x", "3", "'+y"]]


def test_arrow_columns_follow_the_same_rule():
    values = [c + "x" for c in DANGEROUS_PREFIXES] + ["ok", "a-b", "", None]
    assert arrow_strings(pa.array(values, pa.string())).to_pylist() == [csv_cell(v) for v in values]
