"""CSV and TSV cells are strings: coerce each to the JSON type the schema declares for its column.

Pure functions; ValueError says what is wrong with the cell (the caller adds row and field).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# What a column may hold, from the schema's top-level ``properties.<name>.type``; () = untyped.
ColumnTypes = dict[str, tuple[str, ...]]

_KNOWN = ("null", "boolean", "integer", "number", "string", "object", "array")
# Tried in this order, so "1" is an integer before it is a boolean or a string.
_ORDER = ("integer", "number", "boolean", "object", "array")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_NAMES = {
    "null": "null",
    "boolean": "a boolean (true or false)",
    "integer": "an integer",
    "number": "a number",
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "a string",
}

# A cell that yields no field at all (its column is absent from the testcase's data).
ABSENT = object()


def column_types(schema: dict[str, Any] | None) -> ColumnTypes:
    """Declared JSON types of the schema's top-level properties (unknown type names are ignored)."""
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict):
        return {}
    result: ColumnTypes = {}
    for name, spec in properties.items():
        declared = spec.get("type") if isinstance(spec, dict) else None
        names = [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
        result[name] = tuple(t for t in names if t in _KNOWN)
    return result


def coerce_cell(raw: str, types: tuple[str, ...]) -> Any:
    """The JSON value of one cell for a column of ``types``, or ABSENT.

    An empty cell is "" where a string is allowed (or the column is untyped), null where null is
    allowed, and otherwise absent (so a required column reports a validation error, not a crash).
    The literal ``null`` is null when the column allows null and no string.
    """
    textual = not types or "string" in types
    if raw == "":
        if textual:
            return ""
        return None if "null" in types else ABSENT
    if raw == "null" and "null" in types and not textual:
        return None
    for name in _ORDER:
        if name in types:
            parsed = _parse(raw, name)
            if parsed is not _NO:
                return parsed
    if textual:
        return raw
    raise ValueError(f"{_shorten(raw)} is not {' or '.join(_NAMES[t] for t in types)}")


_NO = object()


def _parse(raw: str, name: str) -> Any:
    text = raw.strip()
    if name == "integer":
        return int(text) if _INTEGER.fullmatch(text) else _NO
    if name == "number":
        if _INTEGER.fullmatch(text):
            return int(text)
        if not _NUMBER.fullmatch(text):
            return _NO
        value = float(text)
        return value if math.isfinite(value) else _NO
    if name == "boolean":
        return _BOOLEANS.get(text.lower(), _NO)
    try:
        value = json.loads(text)
    except ValueError:
        return _NO
    wanted = dict if name == "object" else list
    return value if isinstance(value, wanted) else _NO


def _shorten(raw: str) -> str:
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")
