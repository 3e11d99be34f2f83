"""CSV export of testcases: one row per testcase, one column per top-level data field.

Scalars are written as text (numbers and booleans as JSON: ``3``, ``0.5``, ``true``), objects and
arrays as JSON, null and missing fields as an empty cell. A text cell that a spreadsheet would
run as a formula (starting with = + - @, tab or carriage return) gets a leading apostrophe
(OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from services.run_orchestrator.testsets.validation import FieldMapping

CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape_formula(value)
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def columns(fields: Iterable[str], mapping: FieldMapping) -> list[str]:
    """The mapped fields in mapping order (inputs, expected, metadata), then the others by name;
    only fields some testcase has. (Stored JSON keeps no key order, so names give a stable one.)"""
    present = set(fields)
    mapped = [f for f in dict.fromkeys([*mapping.inputs, *mapping.expected, *mapping.metadata]) if f in present]
    return mapped + sorted(present - set(mapped))


def encode(rows: Iterable[Iterable[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode()


def header(names: list[str]) -> bytes:
    return encode([[escape_formula(n) for n in names]])


def testcase_rows(names: list[str], data: Iterable[dict[str, Any]]) -> bytes:
    return encode([cell(d.get(n)) for n in names] for d in data)
