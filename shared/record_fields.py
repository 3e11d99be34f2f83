"""A record's fields named as text: metadata.<key>, inputs.<key>, expected.<key> (deeper with more
dots), the names ListRecords' filters, breakdowns, weak slices and monitor alerts' slices share.

A key holding a dot, a double quote or an = is written in double quotes, a quote in it doubled, as
SQL names an identifier: metadata."gen_ai.request.model" is the one key, metadata.gen_ai.request.model
three levels. Values are compared as text (a number or true as JSON writes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.edge.errors import invalid

FIELD_ROOTS = ("metadata", "inputs", "expected")
MAX_FIELD = 200
_NEEDS_QUOTES = re.compile(r'[."=]')


def field_text(root: str, path: Sequence[str]) -> str:
    """A field as its text, the inverse of ``field_path``: (metadata, ("a.b",)) → metadata."a.b"."""
    return ".".join([root, *(_quoted(key) for key in path)])


def _quoted(key: str) -> str:
    if key and not _NEEDS_QUOTES.search(key):
        return key
    doubled = key.replace('"', '""')
    return f'"{doubled}"'


def split_unquoted(text: str, at: str) -> tuple[list[str], bool]:
    """``text`` split at each ``at`` outside double quotes (quotes kept), and whether every quote
    was closed."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted  # a doubled quote closes and reopens: the same state after both
        elif char == at and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts, not quoted


def _key(segment: str) -> str | None:
    """A path segment's key: as written, or the text between its double quotes (a doubled quote
    one quote); None when it is empty or quoted only in part."""
    if '"' not in segment:
        return segment or None
    inner = segment[1:-1]
    if len(segment) < 2 or segment[0] != '"' or segment[-1] != '"' or inner.replace('""', "").count('"'):
        return None
    return inner.replace('""', '"') or None


def field_path(text: str) -> tuple[str, tuple[str, ...]]:
    """A field as (its column, the path within it): "metadata.user.tier" → metadata, (user, tier);
    'metadata."a.b"' → metadata, ("a.b",)."""
    shape = f"field must be metadata.<key>, inputs.<key> or expected.<key>, got {text[:100]!r}"
    root, _, rest = text.partition(".")
    segments, closed = split_unquoted(rest, ".")
    if not closed:
        raise invalid(f"{shape}: a double quote is not closed")
    keys = [_key(segment) for segment in segments]
    if root not in FIELD_ROOTS or not all(keys):
        raise invalid(shape)
    if len(text) > MAX_FIELD:
        raise invalid(f"field must be at most {MAX_FIELD} characters, got {len(text)}")
    return root, tuple(k for k in keys if k)
