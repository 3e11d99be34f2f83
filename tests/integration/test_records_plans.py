"""Each way of reading a ListRecords page (services/query/records/plans/), read directly on real
PostgreSQL: every page, at every size, is the plain ordering of the records that pass the filters.

The choice between the ways is tested apart (tests/unit/test_query_records_choose.py); here each
way is made to read pages it may be chosen for, and the rows must be the same whichever reads them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.query import filters, search_keys
from services.query.db import Reader
from services.query.records import estimate
from services.query.records.choose import Plan, Way
from services.query.records.plans import READS, Learned, two_windows
from services.query.records.query import Condition, RecordQuery

pytestmark = [pytest.mark.postgres]

NEWEST_AT = datetime(2025, 6, 1, tzinfo=UTC)
WORDS = ("renew", "coupon", "server", "update")


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    run: str
    created_at: datetime
    latency_ms: float
    status: str
    text: str
    value: float | None  # of the similarity version the run pins, when completed with a number
    exact_failed: bool
    tokens: int = 0  # prompt + completion
    cost_usd: float | None = None
    exact: bool | None = None  # its exact score passed, failed, or there is none


@dataclass(frozen=True)
class Seeded:
    project: uuid.UUID
    runs: dict[str, uuid.UUID]
    rows: list[Row]  # the project's, not the other project's
    similarity: tuple[uuid.UUID, uuid.UUID]
    exact: uuid.UUID


async def seed(db: asyncpg.Pool) -> Seeded:
    """Project p: runs A (pins similarity v1 and exact) and B (similarity v2 and exact), 30 records
    each, one a day, their words two of WORDS; project q: a run of 10 such records pinning v2.
    Every record also has a score of the similarity version its run does not pin, far off."""
    rng = random.Random(7)
    used = random.Random(11)  # tokens and costs, apart: the rest stays as seed 7 made it
    project, other, testset = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p'), ($2, 'q')", project, other)
    await db.execute(
        "INSERT INTO testsets (id, project_id, name, field_mapping) VALUES ($1, $2, 't', '{}')", testset, project
    )
    testcase = uuid.uuid4()
    await db.execute("INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", testcase, testset)
    similarity, exact = uuid.uuid4(), uuid.uuid4()
    sim_v1, sim_v2, exact_v1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO metrics (id, project_id, name) VALUES ($1, $3, 'similarity'), ($2, $3, 'exact')",
        similarity,
        exact,
        project,
    )
    for version_id, metric, version, output in (
        (sim_v1, similarity, 1, "float"),
        (sim_v2, similarity, 2, "float"),
        (exact_v1, exact, 1, "boolean"),
    ):
        await db.execute(
            "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
            " VALUES ($1, $2, $3, 'heuristic', $4, '{}')",
            version_id,
            metric,
            version,
            output,
        )
    pins = {"A": (project, [sim_v1, exact_v1]), "B": (project, [sim_v2, exact_v1]), "Q": (other, [sim_v2])}
    runs = {name: uuid.uuid4() for name in pins}
    for name, (owner, versions) in pins.items():
        await db.execute(
            "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, source, status,"
            " trials, expected_records) VALUES ($1, $2, $3, 1, $4, 'api', 'completed', 1, 30)",
            runs[name],
            owner,
            testset,
            versions,
        )
    rows = []
    for n in range(70):
        run = "Q" if n % 7 == 6 else "AB"[n % 2]
        rid = uuid.uuid4()
        text = " ".join(rng.sample(WORDS, 2))
        created_at = NEWEST_AT - timedelta(days=n, minutes=rng.randrange(600))
        status = "errored" if n % 11 == 5 else "completed"
        latency = float(rng.choice((10, 20, 30)))  # ties, broken by id
        prompt, completion = used.choice((0, 40, 100)), used.choice((0, 60))
        cost = used.choice((None, 0.001, 0.002, 0.004))
        await db.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, latency_ms,"
            " created_at, prompt_tokens, completion_tokens, cost_usd)"
            " VALUES ($1, $2, $3, $4, $5, '{}', '{}', $6, $7, $8, $9, $10, $11)",
            rid,
            runs[run],
            testcase,
            n,
            {"q": text},
            status,
            latency,
            created_at,
            prompt,
            completion,
            cost,
        )
        pinned, unpinned = (sim_v1, sim_v2) if run == "A" else (sim_v2, sim_v1)
        value: float | None = round(rng.random(), 2)
        kind = rng.choice(("number", "number", "number", "errored", "none"))
        if kind == "number":
            await score(db, rid, runs[run], pinned, "completed", value, None)
        else:
            value = None
            if kind == "errored":
                await score(db, rid, runs[run], pinned, "errored", None, None)
        await score(db, rid, runs[run], unpinned, "completed", 9.9 if n % 2 else -9.9, None)
        failed, verdict = False, None
        if run != "Q" and n % 5 != 2:
            verdict = passed = rng.random() < 0.5
            await score(db, rid, runs[run], exact_v1, "completed", float(passed), passed)
            failed = not passed
        if run != "Q":
            rows.append(
                Row(rid, run, created_at, latency, status, text, value, failed, prompt + completion, cost, verdict)
            )
    await db.execute("ANALYZE records; ANALYZE scores")
    return Seeded(project, runs, rows, (sim_v1, sim_v2), exact_v1)


async def score(
    db: asyncpg.Pool, record: uuid.UUID, run: uuid.UUID, version: uuid.UUID, status: str, value: Any, passed: Any
) -> None:
    number = value if isinstance(value, float) else None
    await db.execute(
        "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value, value_num, passed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        uuid.uuid4(),
        record,
        run,
        version,
        status,
        value,
        number,
        passed,
    )


def has(search: str) -> Callable[[Row], bool]:
    """The searches used here, as Python: words (all of them), a phrase, or an OR of words."""
    words = None
    if search.startswith('"'):
        return lambda r: search.strip('"') in r.text
    if " or " in search:
        words = search.split(" or ")
        return lambda r: any(w in r.text.split() for w in words)
    return lambda r: all(w in r.text.split() for w in search.split())


def expected(rows: list[Row], order: filters.Order) -> list[uuid.UUID]:
    if order.nullable:

        def value(r: Row) -> float | None:
            return r.value if order.key == "score" else r.cost_usd

        valued = sorted(
            (r for r in rows if value(r) is not None), key=lambda r: (value(r), r.id), reverse=order.descending
        )
        without = sorted((r.id for r in rows if value(r) is None), reverse=order.descending)
        return [r.id for r in valued] + without
    key = {
        "created_at": lambda r: (r.created_at, r.id),
        "latency_ms": lambda r: (r.latency_ms, r.id),
        "tokens": lambda r: (r.tokens, r.id),
    }[order.key]
    return [r.id for r in sorted(rows, key=key, reverse=order.descending)]


# Usage conditions with what they keep; a record without a cost meets no cost condition.
USAGE: dict[tuple[filters.UsageFilter, ...], Callable[[Row], bool]] = {
    (filters.UsageFilter("latency_ms", "gt", 15),): lambda r: r.latency_ms > 15,
    (filters.UsageFilter("tokens", "gt", 50), filters.UsageFilter("tokens", "lt", 150)): lambda r: 50 < r.tokens < 150,
    (filters.UsageFilter("cost_usd", "lt", 0.003),): lambda r: r.cost_usd is not None and r.cost_usd < 0.003,
}


async def every_page(db: asyncpg.Pool, way: Way, query: RecordQuery, learned: Learned) -> list[uuid.UUID]:
    """Every page of ``query`` read by ``way``, each from where the last ended (its sort key and
    id, as a page token carries them), each in a read snapshot of its own, as ListRecords reads."""
    seen: list[uuid.UUID] = []
    for _ in range(200):  # a way that never ends the list fails, not hangs
        async with Reader(db).snapshot() as conn:
            sampled = await estimate.sample(conn, query.search) if query.search is not None else None
            rows = await READS[way](conn, query, Plan(way, sampled), learned)
        page = rows[: query.size]
        seen += [r["id"] for r in page]
        if len(rows) <= query.size:
            return seen
        query = replace(query, after=(page[-1]["sort_key"], page[-1]["id"]))
    raise AssertionError(f"still paging after 200 pages of {query.size}")


NEWEST = filters.Order("created_at", descending=True)
OLDEST = filters.Order("created_at", descending=False)
SEARCHES = ("renew", "renew coupon", '"renew coupon"', "renew or server")


def conditions(s: Seeded) -> dict[str, tuple[tuple[Condition, ...], Callable[[Row], bool]]]:
    failed = Condition(filters.Condition("exact", "failed"), (s.exact,))
    below = Condition(filters.Condition("similarity", "lt", 0.5), s.similarity)
    return {
        "exact:failed": ((failed,), lambda r: r.exact_failed),
        "exact:failed, similarity:lt:0.5": (
            (failed, below),
            lambda r: r.exact_failed and r.value is not None and r.value < 0.5,
        ),
    }


# A project's search with score conditions, newest or oldest first: every way may be chosen for it.
BY_TIME = (Way.PLAIN, Way.WALK, Way.MATCHES_FIRST, Way.TWO_WINDOWS, Way.KEY_WINDOWS)


@pytest.mark.parametrize("way", BY_TIME)
async def test_a_search_with_conditions_by_time_reads_the_plain_pages(
    db: asyncpg.Pool, way: Way, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await seed(db)
    # A window per few matches: key windows read many windows to fill a page, from the rates so far.
    monkeypatch.setattr(search_keys, "WINDOW_MATCHES", 2)
    windows: list[object] = []
    buckets = search_keys.buckets

    def spy(first: datetime, last: datetime) -> list[str] | None:
        windows.append(covered := buckets(first, last))
        return covered

    monkeypatch.setattr(search_keys, "buckets", spy)
    learned = Learned()
    checked = reads = 0
    for search in SEARCHES:
        for named, (tests, holds) in conditions(s).items():
            for order in (NEWEST, OLDEST):
                for statuses in ((), ("completed",)):
                    want = expected(
                        [r for r in s.rows if has(search)(r) and holds(r) and (not statuses or r.status in statuses)],
                        order,
                    )
                    for size in (1, 3, 100):
                        query = RecordQuery(s.project, order, size, search=search, conditions=tests, statuses=statuses)
                        got = await every_page(db, way, query, learned)
                        assert got == want, (search, named, order, statuses, size)
                        checked += len(want)
                        reads += len(want) // size + 1
    assert checked > 100  # the filters left rows to read
    if way == Way.KEY_WINDOWS:
        assert len(windows) > 2 * reads  # most pages took several windows
    else:
        assert windows == []


async def test_two_windows_split_the_time_line(db: asyncpg.Pool) -> None:
    s = await seed(db)
    learned = Learned()
    async with Reader(db).snapshot() as conn:
        spread = await learned.spread.get(conn)
    assert spread is not None  # ANALYZE left a histogram of records.created_at
    # From the newest record, and from a page started halfway, the first window ends within the data.
    middle = sorted(r.created_at for r in s.rows)[len(s.rows) // 2]
    for descending in (True, False):
        assert two_windows.first_bound(spread, descending, None) is not None
    assert two_windows.first_bound(spread, True, middle) is not None
    failed, _ = conditions(s)["exact:failed"]
    want = expected([r for r in s.rows if has("renew")(r) and r.exact_failed], NEWEST)
    query = RecordQuery(s.project, NEWEST, 4, search="renew", conditions=failed)
    assert await every_page(db, Way.TWO_WINDOWS, query, learned) == want


@pytest.mark.parametrize("way", [Way.PLAIN, Way.SCORES_FIRST])
async def test_an_order_by_value_reads_the_plain_pages(db: asyncpg.Pool, way: Way) -> None:
    s = await seed(db)
    learned = Learned()
    cases: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
        ({}, lambda r: True),
        ({"statuses": ("completed",)}, lambda r: r.status == "completed"),
        ({"search": "coupon"}, has("coupon")),
        *(({"conditions": tests}, holds) for tests, holds in conditions(s).values()),
    ]
    for asked, keep in cases:
        for descending in (True, False):
            order = filters.Order("score", descending, "similarity")
            want = expected([r for r in s.rows if keep(r)], order)
            for size in (1, 4, 100):
                query = RecordQuery(s.project, order, size, order_versions=s.similarity, **asked)
                assert await every_page(db, way, query, learned) == want, (asked, descending, size)


async def test_the_plain_statement_reads_a_run_and_every_order(db: asyncpg.Pool) -> None:
    s = await seed(db)
    learned = Learned()
    failed, holds = conditions(s)["exact:failed"]
    for order in (NEWEST, OLDEST, filters.Order("latency_ms", False), filters.Order("latency_ms", True)):
        for size in (1, 7, 100):
            in_run = RecordQuery(s.project, order, size, run_id=s.runs["B"], conditions=failed)
            want = expected([r for r in s.rows if r.run == "B" and holds(r)], order)
            assert await every_page(db, Way.PLAIN, in_run, learned) == want, (order, size)
            in_runs = RecordQuery(s.project, order, size, run_ids=(s.runs["A"], s.runs["B"]), search="update")
            want = expected([r for r in s.rows if has("update")(r)], order)
            assert await every_page(db, Way.PLAIN, in_runs, learned) == want, (order, size)


@pytest.mark.parametrize(
    ("way", "settings"),
    [
        (Way.PLAIN, {"enable_bitmapscan": "on", "enable_seqscan": "on"}),
        (Way.WALK, {"enable_bitmapscan": "off", "enable_seqscan": "on"}),
        (Way.KEY_WINDOWS, {"enable_bitmapscan": "on", "enable_seqscan": "off", "max_parallel_workers_per_gather": "0"}),
    ],
)
async def test_a_ways_settings_hold_for_its_own_transaction_only(
    db: asyncpg.Pool, way: Way, settings: dict[str, str]
) -> None:
    s = await seed(db)
    failed, _ = conditions(s)["exact:failed"]
    query = RecordQuery(s.project, NEWEST, 10, search="renew", conditions=failed)
    async with db.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            sampled = await estimate.sample(conn, "renew")
            await READS[way](conn, query, Plan(way, sampled), Learned())
            for name, value in settings.items():
                assert await conn.fetchval(f"SHOW {name}") == value, name
        # The connection goes back to the pool as it came.
        assert await conn.fetchval("SHOW enable_bitmapscan") == "on"
        assert await conn.fetchval("SHOW enable_seqscan") == "on"


@pytest.mark.parametrize("way", BY_TIME)
async def test_usage_conditions_hold_in_every_way_a_search_by_time_is_read(db: asyncpg.Pool, way: Way) -> None:
    s = await seed(db)
    learned = Learned()
    failed, holds = conditions(s)["exact:failed"]
    for usage, keeps in USAGE.items():
        for order in (NEWEST, OLDEST):
            want = expected([r for r in s.rows if has("renew")(r) and holds(r) and keeps(r)], order)
            assert want  # the conditions leave records to read
            for size in (1, 100):
                query = RecordQuery(s.project, order, size, search="renew", conditions=failed, usage=usage)
                assert await every_page(db, way, query, learned) == want, (usage, order, size)


@pytest.mark.parametrize("way", [Way.PLAIN, Way.SCORES_FIRST])
async def test_usage_conditions_hold_in_an_order_by_value(db: asyncpg.Pool, way: Way) -> None:
    s = await seed(db)
    for usage, keeps in USAGE.items():
        order = filters.Order("score", True, "similarity")
        want = expected([r for r in s.rows if keeps(r)], order)
        for size in (1, 100):
            query = RecordQuery(s.project, order, size, order_versions=s.similarity, usage=usage)
            assert await every_page(db, way, query, Learned()) == want, (usage, size)


async def test_records_in_the_order_of_their_tokens_or_cost_the_costless_last(db: asyncpg.Pool) -> None:
    s = await seed(db)
    learned = Learned()
    orders = [filters.Order(key, descending) for key in ("tokens", "cost_usd") for descending in (True, False)]
    for order in orders:
        for size in (1, 7, 100):
            everywhere = RecordQuery(s.project, order, size)
            assert await every_page(db, Way.PLAIN, everywhere, learned) == expected(s.rows, order), (order, size)
            in_run = RecordQuery(s.project, order, size, run_id=s.runs["A"], usage=next(iter(USAGE)))
            want = expected([r for r in s.rows if r.run == "A" and r.latency_ms > 15], order)
            assert await every_page(db, Way.PLAIN, in_run, learned) == want, (order, size)
    costless = [r.id for r in s.rows if r.cost_usd is None]
    assert 5 < len(costless) < len(s.rows) - 5
    assert expected(s.rows, orders[2])[-len(costless) :] == sorted(costless, reverse=True)


@pytest.mark.parametrize("way", BY_TIME)
async def test_records_whose_trials_disagree_are_found_in_every_way(db: asyncpg.Pool, way: Way) -> None:
    s = await seed(db)
    # Each run's records are the trials of one testcase: unstable when some passed exact and some
    # failed — every record of the run then, those without an exact score too.
    await db.execute(
        "UPDATE scores SET passed = true WHERE run_id = $1 AND metric_version_id = $2", s.runs["A"], s.exact
    )
    unstable = (Condition(filters.Condition("exact", "unstable"), (s.exact,)),)
    assert {r.exact for r in s.rows if r.run == "B"} - {None} == {True, False}  # run A's all pass now: stable
    learned = Learned()
    for search in SEARCHES:
        for order in (NEWEST, OLDEST):
            want = expected([r for r in s.rows if has(search)(r) and r.run == "B"], order)
            for size in (1, 100):
                query = RecordQuery(s.project, order, size, search=search, conditions=unstable)
                assert await every_page(db, way, query, learned) == want, (search, order, size)
