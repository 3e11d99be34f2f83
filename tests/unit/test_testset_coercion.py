"""Coercion of CSV/TSV cells to the schema's property types."""

from __future__ import annotations

from typing import Any

import pytest

from services.run_orchestrator.testsets.coercion import ABSENT, coerce_cell, column_types


def test_column_types_reads_top_level_property_types() -> None:
    schema = {
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": ["number", "null"]},
            "c": {"description": "untyped"},
            "d": {"type": ["string", "weird"]},
        }
    }
    assert column_types(schema) == {"a": ("integer",), "b": ("number", "null"), "c": (), "d": ("string",)}
    assert column_types(None) == {}
    assert column_types({"properties": []}) == {}


@pytest.mark.parametrize(
    ("raw", "types", "value"),
    [
        ("hello", (), "hello"),
        ("", (), ""),
        ("", ("string",), ""),
        ("", ("integer", "null"), None),
        ("", ("integer",), ABSENT),
        ("null", ("integer", "null"), None),
        ("null", ("string", "null"), "null"),
        ("42", ("integer",), 42),
        (" -7 ", ("integer",), -7),
        ("42", ("number",), 42),
        ("2.5", ("number",), 2.5),
        ("1e3", ("number",), 1000.0),
        ("true", ("boolean",), True),
        ("FALSE", ("boolean",), False),
        ("1", ("integer", "boolean"), 1),
        ("yes", ("boolean",), True),
        ('{"k": [1]}', ("object",), {"k": [1]}),
        ("[1, 2]", ("array",), [1, 2]),
        ("12", ("integer", "string"), 12),
        ("twelve", ("integer", "string"), "twelve"),
        ("[1", ("array", "string"), "[1"),
    ],
)
def test_coerce_cell(raw: str, types: tuple[str, ...], value: Any) -> None:
    assert coerce_cell(raw, types) == value if value is not ABSENT else coerce_cell(raw, types) is ABSENT


@pytest.mark.parametrize(
    ("raw", "types", "message"),
    [
        ("two", ("integer",), "'two' is not an integer"),
        ("1.5", ("integer",), "'1.5' is not an integer"),
        ("nan", ("number",), "'nan' is not a number"),
        ("inf", ("number",), "'inf' is not a number"),
        ("maybe", ("boolean",), "'maybe' is not a boolean (true or false)"),
        ("[1]", ("object",), "'[1]' is not a JSON object"),
        ("{", ("array",), "'{' is not a JSON array"),
        ("x", ("integer", "null"), "'x' is not an integer or null"),
        ("x" * 100, ("integer",), "'" + "x" * 57 + "...' is not an integer"),
    ],
)
def test_coerce_cell_rejects(raw: str, types: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        coerce_cell(raw, types)
    assert str(exc.value) == message
