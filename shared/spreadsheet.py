"""Cells of CSV files people open in a spreadsheet (testset and run exports).

Scalars are written as text (numbers and booleans as JSON: ``3``, ``0.5``, ``true``), objects and
arrays as JSON, null as an empty cell. A text cell that a spreadsheet could run as a formula gets
a leading apostrophe (OWASP "CSV injection"): one starting with = + - @ or their full-width forms
＝ ＋ － ＠, also after leading whitespace or invisible format characters (zero-width spaces,
direction marks …), and one starting with a tab or a carriage return.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

import orjson

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"

# What a spreadsheet runs as a formula when a cell starts with it (full-width forms included:
# some spreadsheets fold them to ASCII).
FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


@functools.cache
def invisible_leaders() -> str:
    """What spreadsheets skip before looking for a formula: blanks and invisible format characters
    (zero-width spaces, direction marks, the byte order mark …), every one Unicode has (worked out
    on first use: it takes ~0.2 s)."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() or unicodedata.category(c) == "Cf")


def escape_formula(text: str) -> str:
    if text.startswith(("\t", "\r")) or text.lstrip(invisible_leaders())[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return escape_formula(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)  # what json.dumps writes, without its encoder's cost (exports write many)
    if isinstance(value, dict | list):
        try:
            return orjson.dumps(value).decode()  # the same text as the json.dumps below, ~10x sooner
        except orjson.JSONEncodeError:  # an integer beyond 64 bits
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def csv_bytes(rows: Iterable[Iterable[str]], line_end: str = "\r\n") -> bytes:
    """Rows of cells as CSV (RFC 4180: quoted as needed; CRLF line ends unless told), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows(rows)
    return buffer.getvalue().encode()
