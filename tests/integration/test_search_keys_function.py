"""record_search_keys, rewritten in PL/pgSQL by migration 0017 without rebuilding the index on
it, gives every record exactly the keys of the SQL function of 0011 (same keys, same order):
otherwise records_search_keys would hold keys the reads no longer ask for."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

pytestmark = [pytest.mark.postgres]

MIGRATIONS = Path(__file__).resolve().parents[2] / "shared" / "db" / "migrations"
WORDS = ["refund", "the", "order", "42", "3.14", "Zürich", "naïve", "a", "b", "x-ray", "don't", "東京"]


def _sql_function_of_0011() -> str:
    text = (MIGRATIONS / "0011_search_keys_words.sql").read_text()
    body = re.search(r"CREATE OR REPLACE FUNCTION record_search_keys.*?\$\$;", text, re.S)
    assert body is not None
    return body.group(0).replace("FUNCTION record_search_keys", "FUNCTION pg_temp.keys_0011", 1)


def _texts(rng: random.Random) -> list[str]:
    texts = ["", "   ", "one", "the the the", "a b a b a b", " ".join(["w"] * 17_000) + " tail end"]
    for _ in range(300):
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))))
    return texts


def _times(rng: random.Random) -> list[datetime]:
    fixed = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # a negative, fractional epoch
        datetime(1901, 6, 1, tzinfo=UTC),
        datetime(2026, 12, 5, 0, 0, 0, 999_999, tzinfo=UTC),
    ]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    return fixed + [start + timedelta(seconds=rng.uniform(0, 3e8)) for _ in range(100)]


async def test_the_plpgsql_keys_are_the_sql_functions_keys(db: asyncpg.Pool) -> None:
    rng = random.Random(17)
    texts, times = _texts(rng), _times(rng)
    async with db.acquire() as conn:
        await conn.execute(_sql_function_of_0011())
        rows = await conn.fetch(
            """
            SELECT t.text, c.at,
                   record_search_keys(v.search, c.at) AS now_keys,
                   pg_temp.keys_0011(v.search, c.at) AS old_keys
            FROM unnest($1::text[]) t(text)
            CROSS JOIN LATERAL (SELECT to_tsvector('simple', t.text) AS search) v
            CROSS JOIN LATERAL (SELECT ($2::timestamptz[])[1 + (abs(hashtext(t.text)) % cardinality($2))] AS at) c
            UNION ALL
            SELECT 'stripped', $2[1], record_search_keys(strip(to_tsvector('simple', 'a b c')), $2[1]),
                   pg_temp.keys_0011(strip(to_tsvector('simple', 'a b c')), $2[1])
            """,
            texts,
            times,
        )
        every_time = await conn.fetch(
            "SELECT record_search_keys(to_tsvector('simple', 'two words'), at) AS now_keys,"
            " pg_temp.keys_0011(to_tsvector('simple', 'two words'), at) AS old_keys FROM unnest($1::timestamptz[]) at",
            times,
        )

    assert len(rows) == len(texts) + 1
    differing = [(r["text"][:40], r["at"]) for r in [*rows, *every_time] if r["now_keys"] != r["old_keys"]]
    assert differing == []
    # Not vacuous: pairs and buckets are there.
    keys = {k for r in rows for k in r["now_keys"]}
    assert {"the the", "a b", "b a"} <= keys
    assert sum(k.startswith("b16:") for k in keys) > 50
