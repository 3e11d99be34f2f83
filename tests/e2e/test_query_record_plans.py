"""ListRecords read every way the planner knows (services/query/records/plans/) gives the same pages:
matches first, two windows, the walk, and key windows, on the seeded project."""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import pytest

from scorekeeper_sdk import Client
from services.query import search_keys
from services.query.api import QueryApi
from services.query.records import choose
from services.query.records.plans import two_windows
from services.query.records.spread import Spread
from shared.db.pool import create_pool, read_json
from shared.devstack.stack import Stack
from tests.support import query_seed
from tests.support.query_records import expected_where, listed, pages, record_keys
from tests.support.query_seed import Seeded

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


@pytest.fixture(scope="module")
async def seeded(stack: Stack) -> Seeded:
    async with stack.client() as client:
        return await query_seed.seed(client, stack.database_url)


async def test_a_search_with_conditions_reads_the_same_pages_every_way(
    client: Client, seeded: Seeded, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A project-wide search with score conditions by created_at that records_search_keys cannot
    # serve (a NOT) is read "matches first" when the search is expected to match few records
    # (always, on this small project), in two created_at windows once the planner has a histogram
    # of records.created_at, and by walking records_created when it is expected to match many.
    # Every way gives the same pages.
    project = seeded.project_id
    asked: dict[str, Any] = {"search": "capital -zanzibar", "where": ["exact:failed", "overlap:lt:0.9"]}
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("ANALYZE records")
    finally:
        await conn.close()
    windows: list[object] = []
    window = two_windows.first_bound

    def spy(spread: Spread, descending: bool, start: Any) -> Any:
        bound = window(spread, descending, start)
        windows.append(bound)
        return bound

    monkeypatch.setattr(two_windows, "first_bound", spy)
    monkeypatch.setattr(choose, "WINDOWED_MATCHES", 0)  # this project's few matches are windowed too

    threshold = choose.MATCHES_FIRST_MAX
    async with create_pool(stack.database_url, max_size=2, json_decoder=read_json) as pool:
        for order_by in ("", "created_at"):
            served = [r.id for r in await listed(client, project_id=project, order_by=order_by, **asked)]
            assert len(served) == 2
            for size in (1, 100):
                api = QueryApi(pool, stack.query_http)
                monkeypatch.setattr(choose, "MATCHES_FIRST_MAX", threshold)
                assert await pages(api, project, asked, order_by, size) == served, (order_by, size)
                monkeypatch.setattr(choose, "MATCHES_FIRST_MAX", -1)  # walked
                assert await pages(api, project, asked, order_by, size) == served, (order_by, size)
    assert any(bound is not None for bound in windows)  # the windows were taken


async def test_words_and_phrases_with_conditions_read_the_same_pages_every_way(
    client: Client, seeded: Seeded, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An AND of words and phrases is read by its words and word pairs (records_search_keys, 0010,
    # 0011) in windows of time, from the page's start outward, unless it is common enough to be
    # walked. Every way gives the same pages, and a phrase only records holding its words side by
    # side, in that order.
    keys = await record_keys(client, seeded)
    project = seeded.project_id
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("ANALYZE records")
        vector = "to_tsvector('simple', 'Is e-mail the capital of it?')"
        assert await conn.fetchval(f"SELECT record_search_keys({vector}, '2025-01-01Z')") == [
            *("capital", "e", "e-mail", "is", "it", "mail", "of", "the"),
            *("is e-mail", "e-mail e", "e mail", "mail the", "the capital", "capital of", "of it"),
            *(f"b{k}:{1735689600 // 2**k}" for k in search_keys.LEVELS),  # 2025-01-01 in buckets of 2^k s
        ]
    finally:
        await conn.close()

    def failed_on(words: str) -> set[tuple[str, int]]:
        return expected_where(
            lambda p, i: (
                p.answers[i] is not None
                and query_seed.passed("exact", p, i) is False
                and words in query_seed.cases(p.testset)[i][0]
            )
        )

    expected = failed_on("capital of")
    assert expected == {("cand", 1), ("mon", 0)}
    asked: dict[str, Any] = {"search": '"capital of"', "where": ["exact:failed"]}
    served = [r.id for r in await listed(client, project_id=project, **asked)]
    assert {keys[r] for r in served} == expected and len(served) == 2
    # Both words in every capital question, never in this order: as words they match, as a phrase not.
    words: dict[str, Any] = {"search": "of capital", "where": ["exact:failed"]}
    assert [r.id for r in await listed(client, project_id=project, **words)] == served
    either: dict[str, Any] = {"search": "zanzibar or capital", "where": ["exact:failed"]}
    assert [r.id for r in await listed(client, project_id=project, **either)] == served
    assert await listed(client, project_id=project, search='"of capital"', where=["exact:failed"]) == []
    # A phrase and a word: the pairs narrow, the whole search decides.
    japan = await listed(client, project_id=project, search='"capital of" japan', where=["exact:failed"])
    assert [keys[r.id] for r in japan] == [("cand", 1)]

    windows: list[object] = []  # a window's buckets, each time one is read
    buckets = search_keys.buckets

    def spy(first: Any, last: Any) -> Any:
        windows.append(covered := buckets(first, last))
        return covered

    monkeypatch.setattr(search_keys, "buckets", spy)

    ways = {
        "keys, one window": (1.0, 10**9),
        "keys, a window per few records": (1.0, 1e-6),
        "walked or matches first": (-1.0, search_keys.WINDOW_MATCHES),
    }
    async with create_pool(stack.database_url, max_size=2, json_decoder=read_json) as pool:
        for search, order_by, size, (way, (share_max, window_matches)) in itertools.product(
            (asked, words, either), ("", "created_at"), (1, 100), ways.items()
        ):
            whole = served if order_by == "" else served[::-1]
            monkeypatch.setattr(search_keys, "SHARE_MAX", share_max)
            monkeypatch.setattr(search_keys, "WINDOW_MATCHES", window_matches)
            windows.clear()
            api = QueryApi(pool, stack.query_http)
            got = await pages(api, project, search, order_by, size)
            assert got == whole, (search, way, order_by, size)
            calls = -(-len(whole) // size)
            if share_max < 0:
                assert windows == []
            elif window_matches > 1:
                assert len(windows) == calls
            else:
                assert len(windows) >= 3 * calls
            # again, the first windows sized by the rates the first pages saw (search_keys.Rates)
            assert await pages(api, project, search, order_by, size) == whole, (search, way, order_by, size)


async def test_a_testcase_field_narrows_the_pages_of_every_way(
    client: Client, seeded: Seeded, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ListRecords' fields (a slice of a run's breakdown) are tested on the record's own columns
    # by every plan: matches first, the walk, and the plain read ordered by a metric's value.
    project = seeded.project_id
    asked: dict[str, Any] = {"search": "capital -zanzibar", "where": ["exact:failed", "overlap:lt:0.9"]}
    both = await listed(client, project_id=project, **asked)
    assert len(both) == 2
    first, other = (dict(r.inputs.items()) for r in both)
    key = next(k for k, v in first.items() if other.get(k) != v)
    narrowed = {**asked, "fields": [f"inputs.{key}={first[key]}"]}
    async with create_pool(stack.database_url, max_size=2, json_decoder=read_json) as pool:
        api = QueryApi(pool, stack.query_http)
        for order_by, size, matches_first_max in itertools.product(
            ("", "created_at", "score.overlap desc"), (1, 100), (choose.MATCHES_FIRST_MAX, -1)
        ):
            monkeypatch.setattr(choose, "MATCHES_FIRST_MAX", matches_first_max)
            assert await pages(api, project, narrowed, order_by, size) == [both[0].id], (order_by, size)
    # Alone, across the project: every record of that testcase, in every run.
    alone = await listed(client, project_id=project, fields=[f"inputs.{key}={first[key]}"])
    assert both[0].id in [r.id for r in alone]
    assert all(dict(r.inputs.items())[key] == first[key] for r in alone)
