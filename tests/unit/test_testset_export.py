"""CSV export cells, formula escaping and column order."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from services.run_orchestrator.testsets import export
from services.run_orchestrator.testsets.validation import FieldMapping
from shared.spreadsheet import cell


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("plain", "plain"),
        ("", ""),
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r=x", "'\r=x"),
        # After blanks and invisible characters a spreadsheet still sees the formula.
        (" =1", "' =1"),
        ("\n\u00a0+1", "'\n\u00a0+1"),
        ("\u200b=cmd|' /C calc'!A0", "'\u200b=cmd|' /C calc'!A0"),
        ("\ufeff@SUM(A1)", "'\ufeff@SUM(A1)"),
        ("\u202e-2", "'\u202e-2"),
        # Full-width forms, which some spreadsheets fold to ASCII.
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20x", "'\uff20x"),
        (" plain", " plain"),
        ("\u200b", "\u200b"),
        ("a=b", "a=b"),
        (True, "true"),
        (3, "3"),
        (-3, "-3"),
        (0.25, "0.25"),
        ({"k": ["é", 1]}, '{"k":["é",1]}'),
        ([1, "=x"], '[1,"=x"]'),
    ],
)
def test_cell(value: Any, text: str) -> None:
    assert cell(value) == text


def test_columns_put_mapped_fields_first_then_the_rest_by_name() -> None:
    mapping = FieldMapping(("question", "absent"), ("answer",), ("source",))
    fields = ["zeta", "answer", "alpha", "question", "source"]
    assert export.columns(fields, mapping) == ["question", "answer", "source", "alpha", "zeta"]


def test_rows_read_back_with_the_csv_module() -> None:
    names = ["q", "=evil", "n"]
    raw = export.header(names) + export.testcase_rows(names, [{"q": 'a "b",\nc', "n": 1}, {"=evil": "-1"}])
    assert list(csv.reader(io.StringIO(raw.decode(), newline=""))) == [
        ["q", "'=evil", "n"],
        ['a "b",\nc', "", "1"],
        ["", "'-1", ""],
    ]
