"""Reads while a run is being written: keyset pages never skip or repeat a row as records arrive,
and a gRPC deadline shorter than the query stops the query in PostgreSQL too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb, qpb
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 120
# Pages of each walk between which records arrive (two each time).
ARRIVING_PAGES = 4


class LiveRun:
    """An sdk run whose records the test ingests a few at a time."""

    def __init__(self, client: Client, project_id: str, run_id: str, testcase_ids: list[str]) -> None:
        self.client, self.project_id, self.run_id = client, project_id, run_id
        self._pending = list(enumerate(testcase_ids))
        self.ingested = 0

    async def ingest(self, count: int) -> None:
        """Ingest ``count`` more records and wait until they are in the database."""
        batch, self._pending = self._pending[:count], self._pending[count:]
        await self.client.ingest_records(
            self.run_id,
            [
                {"testcase_id": t, "outputs": {"response": f"answer {i % 3}"}, "latency_ms": float((i * 37) % 101)}
                for i, t in batch
            ],
        )
        self.ingested += len(batch)
        for _ in range(300):
            if (await self.client.get_run(self.run_id)).records == self.ingested:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.ingested} records did not arrive")


@pytest.fixture(scope="module")
async def live(stack: Stack) -> AsyncIterator[LiveRun]:
    async with stack.client() as client:
        yield await _live_run(client, stack)


async def _live_run(client: Client, stack: Stack) -> LiveRun:
    project = await client.create_project("live")
    testset = await client.create_testset(
        project.id,
        "many",
        [{"question": f"question {i}", "answer": f"answer {i % 2}"} for i in range(TESTCASES)],
        inputs=["question"],
        expected=["answer"],
    )
    metric = await client.create_heuristic_metric(project.id, "exact", "exact_match", {"expected_field": "answer"})
    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=project.id, name="live-bot"))
    version = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system.id, kind="sdk", name="v1")
    )
    run = await client.create_run(project.id, testset.id, version.id, [metric.id])
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT testcase_id FROM testcase_revisions WHERE testset_id = $1 ORDER BY position",
            uuid.UUID(testset.id),
        )
    finally:
        await conn.close()
    live = LiveRun(client, project.id, run.id, [str(r["testcase_id"]) for r in rows])
    await live.ingest(20)
    return live


async def page_through_while_ingesting(
    live: LiveRun, scope: dict[str, Any], order_by: str
) -> tuple[set[str], list[str]]:
    """Every record present before the first page, and every record the pages gave, in order."""
    before = {r.id async for r in live.client.list_records(order_by=order_by, **scope)}
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        request = qpb.ListRecordsRequest(page_size=3, page_token=token, order_by=order_by, **scope)
        page = await live.client.query.ListRecords(request, timeout=10)
        seen += [r.id for r in page.records]
        token = page.next_page_token
        if not token:
            return before, seen
        pages += 1
        if pages <= ARRIVING_PAGES:
            await live.ingest(2)  # new records land between two pages


@pytest.mark.parametrize("order_by", ["created_at desc", "created_at", "latency_ms desc", "latency_ms", "score.exact"])
@pytest.mark.parametrize("scope", ["run", "project"])
async def test_pages_never_skip_or_repeat_while_records_arrive(live: LiveRun, order_by: str, scope: str) -> None:
    filters = {"run_id": live.run_id} if scope == "run" else {"project_id": live.project_id}
    arrived = live.ingested
    before, seen = await page_through_while_ingesting(live, filters, order_by)
    assert len(seen) == len(set(seen)), "a record was repeated"
    assert before <= set(seen), f"records skipped: {before - set(seen)}"
    assert len(before) >= 20
    assert live.ingested - arrived == 2 * ARRIVING_PAGES  # records did arrive during the walk


async def test_a_deadline_shorter_than_the_query_is_honoured(live: LiveRun, stack: Stack) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        # Hold a lock every record read waits for: the query cannot finish before the deadline.
        locked = conn.transaction()
        await locked.start()
        await conn.execute("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
        request = qpb.ListRecordsRequest(project_id=live.project_id, search="question")
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await live.client.query.ListRecords(request, timeout=1.0)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 3
        # The query service gave up in PostgreSQL too: no statement of it still waits on the lock.
        waiting = -1
        for _ in range(40):
            # pg_stat_activity is read once per transaction unless its snapshot is cleared.
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                " AND state = 'active'"
                " AND query LIKE '%sort_key%'"
            )
            if waiting == 0:
                break
            await asyncio.sleep(0.05)
        assert waiting == 0
        # Over HTTP the deadline comes in the grpc-timeout header, as gRPC gateways send it.
        async with stack.http(stack.query_http, timeout=10) as http:
            url = f"/v1/projects/{live.project_id}/records"
            started = time.monotonic()
            answer = await http.get(url, params={"search": "question"}, headers={"grpc-timeout": "800m"})
            assert time.monotonic() - started < 3
            assert answer.status_code == 504
            assert answer.json()["error"]["code"] == "DEADLINE_EXCEEDED"
            malformed = await http.get(url, headers={"grpc-timeout": "soon"})
            assert (malformed.status_code, malformed.json()["error"]["message"]) == (
                400,
                "grpc-timeout header 'soon' is malformed: use up to 8 digits and a unit of H, M, S, m, u or n",
            )
        await locked.rollback()
    finally:
        await conn.close()
    # Still serving.
    page = await live.client.query.ListRecords(qpb.ListRecordsRequest(project_id=live.project_id), timeout=10)
    assert len(page.records) == min(live.ingested, 100)
