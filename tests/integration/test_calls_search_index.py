"""ListCalls' search goes through the index of the calls' words (migration 0047): the index's
expression and the one ListCalls searches are the same, so the planner can use it, and a word
searched through it finds exactly the calls holding it."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.query.calls import _CALL_WORDS
from shared.edge.search import tsquery

pytestmark = [pytest.mark.postgres]

_SEARCH = (
    f"SELECT c.id FROM logged_calls c WHERE c.project_id = $1 AND {_CALL_WORDS} @@ {tsquery('$2')}"
    " ORDER BY c.logged_at DESC, c.id DESC LIMIT 51"
)


async def test_a_word_is_searched_through_the_index_of_the_calls_words(db: asyncpg.Pool) -> None:
    project = uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, $2)", project, f"search {project.hex[:6]}")
    await db.execute(
        "INSERT INTO logged_calls (project_id, id, logged_at, inputs, outputs, metadata, status)"
        " SELECT $1, gen_random_uuid(), now() - make_interval(secs => n),"
        "  jsonb_build_object('question', 'where is order ' || n, 'n', n),"
        "  jsonb_build_object('response', CASE WHEN n % 100 = 7 THEN 'a refund is on its way' ELSE 'shipped' END),"
        "  '{}', 'completed' FROM generate_series(1, 2000) AS n",
        project,
    )
    await db.execute("ANALYZE logged_calls")
    async with db.acquire() as conn:
        # Only a bitmap scan is left to the planner: of the words' index if it matches, else of the
        # project's time index.
        await conn.execute("SET enable_indexscan = off; SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {_SEARCH}", project, "refund"))
        assert "logged_calls_words" in plan, plan
        found = await conn.fetch(_SEARCH, project, "refund")
        await conn.execute("RESET enable_indexscan; RESET enable_seqscan")
    assert len(found) == 20
    # A number of the inputs is a word too.
    assert len(await db.fetch(_SEARCH, project, "1234")) == 1
