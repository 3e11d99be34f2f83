"""A search across a project, read in windows of time through records_search_keys (0010, 0011).

The index holds each record's words, its adjacent word pairs and the time buckets of its
created_at. The words and pairs a search's matches must hold, AND-ed with the buckets covering a
window, give the window's candidates from one GIN scan, which skips through the posting lists: a
page sorts and probes only those, and a common word ("disconnect the") costs nothing. For an AND
of words the keys are the search itself. Pure functions and the rates that size first windows
(Rates); records/plans/key_windows.py writes the statements.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# The bucket widths, 2^k seconds (~18 h, ~6 days, ~49 days, ~1 year): as in record_search_keys.
LEVELS = (16, 19, 22, 25)
# A window takes the narrowest width that covers it in at most this many buckets.
MAX_BUCKETS = 32
# A search matching more of the records than this is walked instead: matches that frequent fill a page
# within a short walk, while each window match costs a heap fetch (docs/query-performance.md).
SHARE_MAX = 0.2
# The first window is sized to hold about this many matches; the next ones to what the page
# still needs, at the rate of rows per match seen so far (which differs by the page's score
# conditions tenfold), at most GROWTH times the last and never smaller than the first: a window
# has a fixed cost however few its matches.
WINDOW_MATCHES = 1_000
GROWTH = 4.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEXEME = re.compile(r"'((?:[^'\\]|''|\\.)*)'(:[*A-D]+)?|<->|<\d+>|&")
_QUOTED = re.compile(r"'(?:[^'\\]|''|\\.)*'")


@dataclass(frozen=True)
class Terms:
    """What records_search_keys holds of every match of a tsquery: all of ``keys`` (its words and
    the adjacent pairs of its phrases), or, for an OR of words, one of ``any``. ``exact`` when the
    keys alone decide a match: no longer phrase, word apart, prefix or weight is left for the
    vector to check."""

    keys: list[str]
    exact: bool
    any: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keys or self.any)


def terms(query: str) -> Terms:
    """The keys of a tsquery (its text, as PostgreSQL prints it), as record_search_keys writes them
    ('disconnect', 'disconnect the'); none when it is neither an AND of words and phrases nor an
    OR of words (a NOT, a group, an OR of anything else), since then no key is certain."""
    operators = _QUOTED.sub("", query)
    if "|" in operators:
        words = [t for t in _LEXEME.finditer(query) if t[1] is not None]
        if re.fullmatch(r"[\s|]*", operators) and words:  # words only: no prefix or weight either
            return Terms([], True, list(dict.fromkeys(_unquoted(t[1]) for t in words)))
        return Terms([], False)
    if re.search(r"[!()]", operators):
        return Terms([], False)
    found: list[str] = []
    exact = True
    previous: str | None = None  # the lexeme a `<->` would follow
    adjacent = False
    chain = 0  # the words of the phrase so far
    for token in _LEXEME.finditer(query):
        if token[1] is None:  # an operator
            exact = exact and token[0] in ("&", "<->")
            adjacent = token[0] == "<->" and previous is not None
            if not adjacent:
                previous = None
            continue
        lexeme = _unquoted(token[1])
        plain = token[2] is None  # a prefix (:*) or weighted lexeme is not one word of the vector
        chain = chain + 1 if adjacent else 1
        if plain:
            found.append(lexeme)
            if adjacent and previous is not None:
                found.append(f"{previous} {lexeme}")
        exact = exact and plain and chain <= 2  # a pair is its phrase; three words are not two pairs
        previous = lexeme if plain else None
        adjacent = False
    return Terms(list(dict.fromkeys(found)), exact and bool(found))


def _unquoted(lexeme: str) -> str:
    return lexeme.replace("''", "'").replace("\\\\", "\\")


def first_step(matches: float, needed: int, rate: float | None) -> float:
    """The size of the first window (a share of the records) of a search expected to match
    ``matches`` records: WINDOW_MATCHES of them, or, when the rate (rows per match) at which the
    page's other filters held among a search's matches is known, enough of them for ``needed``
    rows and a quarter more, within GROWTH times WINDOW_MATCHES either way."""
    if matches <= 0:
        return 1.0
    target = float(WINDOW_MATCHES)
    if rate is not None:
        target = min(max(1.25 * needed / max(rate, 1e-9), WINDOW_MATCHES / GROWTH), WINDOW_MATCHES * GROWTH)
    return target / matches


def next_step(step: float, needed: int, found: int, first: float) -> float:
    """The size of the next window (a share of the records) after one of ``step`` gave ``found``
    rows, when the page still needs ``needed``: as large as that rate says and a quarter more,
    within GROWTH times ``step`` and no smaller than the ``first`` window."""
    grown = step * GROWTH if found == 0 else step * min(GROWTH, 1.25 * needed / found)
    return max(first, grown)


class Rates:
    """The rate (rows per match) at which a page's other filters (score conditions, statuses,
    tags) held among a search's matches, as last seen, by those filters. It sizes the next first
    window with them (first_step), whatever the words: a page that needs more than WINDOW_MATCHES
    matches then reads one window, not two. A wrong rate costs time, never rows."""

    # Fewer matches than this say too little of a rate.
    MIN_MATCHES = 200.0

    def __init__(self, ttl_s: float = 300.0, capacity: int = 1024) -> None:
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._seen: dict[Hashable, tuple[float, float]] = {}

    def get(self, key: Hashable, now: float) -> float | None:
        seen = self._seen.get(key)
        return seen[0] if seen is not None and now - seen[1] < self._ttl_s else None

    def note(self, key: Hashable, rows: int, matches: float, now: float) -> None:
        """``rows`` came of ``matches`` matches, in windows read whole."""
        if matches < self.MIN_MATCHES:
            return
        if len(self._seen) >= self._capacity and key not in self._seen:
            self._seen.clear()
        self._seen[key] = (rows / matches, now)


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
