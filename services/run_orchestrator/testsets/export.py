"""CSV export of testcases: one row per testcase, one column per top-level data field; cells as
shared.spreadsheet writes them (formulas escaped), a missing field as an empty cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.run_orchestrator.testsets.validation import FieldMapping
from shared.spreadsheet import CSV_CONTENT_TYPE, cell, csv_bytes, escape_formula

CONTENT_TYPE = CSV_CONTENT_TYPE


def columns(fields: Iterable[str], mapping: FieldMapping) -> list[str]:
    """The mapped fields in mapping order (inputs, expected, metadata), then the others by name;
    only fields some testcase has. (Stored JSON keeps no key order, so names give a stable one.)"""
    present = set(fields)
    mapped = [f for f in dict.fromkeys([*mapping.inputs, *mapping.expected, *mapping.metadata]) if f in present]
    return mapped + sorted(present - set(mapped))


def header(names: list[str]) -> bytes:
    return csv_bytes([[escape_formula(n) for n in names]])


def testcase_rows(names: list[str], data: Iterable[dict[str, Any]]) -> bytes:
    return csv_bytes([cell(d.get(n)) for n in names] for d in data)
