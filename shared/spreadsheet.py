"""Cells of CSV files people open in a spreadsheet (testset and run exports).

Scalars are written as text (numbers and booleans as JSON: ``3``, ``0.5``, ``true``), objects and
arrays as JSON, null as an empty cell. A text cell that a spreadsheet would run as a formula
(starting with = + - @, tab or carriage return) gets a leading apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"

# What a spreadsheet runs as a formula when a cell starts with it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape_formula(value)
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def csv_bytes(rows: Iterable[Iterable[str]], line_end: str = "\r\n") -> bytes:
    """Rows of cells as CSV (RFC 4180: quoted as needed; CRLF line ends unless told), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows(rows)
    return buffer.getvalue().encode()
