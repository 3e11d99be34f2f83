"""A phrase search across a project, read in windows of time through records_search_keys (0010).

The index holds each record's adjacent word pairs and the time buckets of its created_at. A
phrase's pairs AND-ed with the buckets covering a window give exactly the window's records where
the phrase's words stand side by side, so a page sorts and probes those, and a common word in the
phrase ("disconnect the") costs nothing. Pure functions: records.py writes the statements.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The bucket widths, 2^k seconds (~18 h, ~6 days, ~49 days, ~1 year): as in record_search_keys.
LEVELS = (16, 19, 22, 25)
# A window takes the narrowest width that covers it in at most this many buckets.
MAX_BUCKETS = 32
# A phrase in more of the records than this is walked instead: matches that frequent fill a page
# within a short walk (~0.4 µs a record), while each window match costs a heap fetch (~1.5 µs).
SHARE_MAX = 0.2
# The first window is sized to hold about this many matches; the next ones to what the page
# still needs, at the rate of rows per match seen so far (a page with two common score conditions
# needed 3,500 matches, one with a refusal's conditions a few hundred), within these bounds.
WINDOW_MATCHES = 1_000
GROWTH = 4.0
SHRINK = 0.25

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEXEME = re.compile(r"'((?:[^'\\]|''|\\.)*)'(:[*A-D]+)?|<->|<\d+>|&")
_QUOTED = re.compile(r"'(?:[^'\\]|''|\\.)*'")


def pairs(query: str) -> list[str]:
    """The adjacent word pairs every match of a tsquery (its text, as PostgreSQL prints it) holds,
    as record_search_keys writes them ('disconnect the'); none when the query is not an AND of
    words and phrases (an OR, a NOT, a group), since then no pair is certain."""
    if re.search(r"[|!()]", _QUOTED.sub("", query)):
        return []
    found: list[str] = []
    previous: str | None = None  # the lexeme a `<->` would follow
    adjacent = False
    for token in _LEXEME.finditer(query):
        if token[1] is None:  # an operator
            adjacent = token[0] == "<->" and previous is not None
            if not adjacent:
                previous = None
            continue
        lexeme = token[1].replace("''", "'").replace("\\\\", "\\")
        exact = token[2] is None  # a prefix (:*) or weighted lexeme is not one word of the vector
        if adjacent and previous is not None and exact:
            found.append(f"{previous} {lexeme}")
        previous = lexeme if exact else None
        adjacent = False
    return list(dict.fromkeys(found))


def next_step(step: float, needed: int, found: int) -> float:
    """The size of the next window (a share of the records) after one of ``step`` gave ``found``
    rows, when the page still needs ``needed``: as large as that rate says, and a quarter more."""
    if found == 0:
        return step * GROWTH
    return step * min(GROWTH, max(SHRINK, 1.25 * needed / found))


def buckets(first: datetime, last: datetime) -> list[str] | None:
    """The bucket keys covering every created_at from ``first`` to ``last`` (in either order), at
    the narrowest width needing at most MAX_BUCKETS; None when even the widest needs more."""
    lo, hi = sorted((_micros(first), _micros(last)))
    for level in LEVELS:
        width = (1 << level) * 1_000_000
        start, end = lo // width, hi // width  # floor, as PostgreSQL's floor(epoch / 2^k)
        if end - start < MAX_BUCKETS:
            return [f"b{level}:{b}" for b in range(start, end + 1)]
    return None


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)
