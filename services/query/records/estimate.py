"""What the newest records say of a search: the estimate plans are chosen by (choose.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.query import search_keys
from shared.db.pool import Connection

NO_TERMS = search_keys.Terms([], False)

# How many of the newest records sample() tests.
SAMPLE = 2000


@dataclass(frozen=True)
class Estimate:
    """About how many records the search's GIN bitmap holds (``matches``), the share of the
    records it matches itself (``share``, phrases checked), the records there are, and its keys in
    records_search_keys (search_keys.terms)."""

    matches: float
    share: float
    terms: search_keys.Terms
    records: float = 0.0


async def sample(conn: Connection, search: str) -> Estimate:
    """How often the search matches among the newest records, scaled to the table. The planner's
    own estimate multiplies the words' frequencies as if they were independent, which misses words
    that come together (a refusal's words; docs/query-performance.md). For ``matches`` a phrase
    counts as all of its words: GIN on records.search cannot check their positions, so its bitmap
    holds every record with all of them."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE s.search @@ q.words) AS hits, count(*) FILTER (WHERE s.search @@ q.q) AS exact,"
        " count(*) AS sampled, q.q::text AS query,"
        " (SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass) AS records"
        " FROM (SELECT r.search FROM records r ORDER BY r.created_at DESC LIMIT $2) s,"
        " (SELECT q, regexp_replace(q::text, '<[0-9]+>|<->', '&', 'g')::tsquery AS words"
        "  FROM websearch_to_tsquery('simple', $1) q) q GROUP BY q.q",
        search,
        SAMPLE,
    )
    if row is None:  # no records at all
        return Estimate(0.0, 0.0, NO_TERMS)
    sampled = int(row["sampled"])
    records = max(float(row["records"]), sampled)
    share = float(row["exact"]) / sampled
    terms = search_keys.terms(row["query"])
    if sampled < SAMPLE:  # every record was tested
        return Estimate(float(row["hits"]), share, terms, sampled)
    return Estimate(float(row["hits"]) / sampled * records, share, terms, records)
