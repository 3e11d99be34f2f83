"""RunExecutor on real PostgreSQL, with a system that is a Python function: the run's
concurrency cap over the calls the system is answering, retries' waits holding no slot (and
freeing the chunk's pull loop when nothing else is left), and a run stopped while a call waits to
try again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.system_executor.execution import Execution, Wait
from services.system_executor.executor import RunExecutor
from services.system_executor.leases import ChunkClaims, LeaseStore
from services.system_executor.repository import ExecutorRepository, RunPlan
from services.system_executor.repository import Testcase as Case
from shared.events import RecordsProduced
from shared.messaging.transport import FETCH_NEXT
from tests.support.db_seed import seed_http_run

pytestmark = [pytest.mark.postgres]

LIMIT = 2


class System:
    """Answers after ``call_s``; the first attempt of testcase 0 fails and waits ``backoff_s``
    before trying again. Counts the calls it is answering at once."""

    def __init__(self, first: uuid.UUID, *, call_s: float, backoff_s: float) -> None:
        self.first = first
        self.call_s = call_s
        self.backoff_s = backoff_s
        self.answering = 0
        self.most = 0
        self.most_during_backoff = 0
        self.backing_off = asyncio.Event()

    async def __call__(self, plan: RunPlan, testcase: Case, rate_share: float, wait: Wait) -> Execution:
        await self._answer()
        if testcase.id == self.first:
            self.backing_off.set()
            await wait(self.backoff_s)
            self.backing_off.clear()
            await self._answer()
        return Execution("completed", outputs={"response": "ok"}, latency_ms=self.call_s * 1000)

    async def _answer(self) -> None:
        self.answering += 1
        self.most = max(self.most, self.answering)
        if self.backing_off.is_set():
            self.most_during_backoff = max(self.most_during_backoff, self.answering)
        try:
            await asyncio.sleep(self.call_s)
        finally:
            self.answering -= 1


@pytest.fixture
async def run(db: asyncpg.Pool) -> AsyncIterator[RunPlan]:
    run_id = await seed_http_run(db, max_concurrency=LIMIT)
    yield RunPlan(run_id, "running_execution", uuid.uuid4(), 1, 1, LIMIT, "http", {})


def _executor(db: asyncpg.Pool, system: System, published: list[RecordsProduced]) -> RunExecutor:
    async def publish(event: RecordsProduced) -> None:
        published.append(event)

    return RunExecutor(
        ExecutorRepository(db),
        LeaseStore(db, 10.0),
        ChunkClaims(db, 10.0),
        system,
        publish,
        global_limit=64,
        default_run_concurrency=16,
        poll_s=0.1,
    )


def _testcases(n: int) -> list[Case]:
    return [Case(uuid.uuid4(), {"q": str(i)}, {}, {}) for i in range(n)]


async def test_a_call_waiting_to_try_again_holds_no_slot_and_the_cap_still_holds(
    db: asyncpg.Pool, run: RunPlan
) -> None:
    testcases = _testcases(12)
    system = System(testcases[0].id, call_s=0.05, backoff_s=0.5)
    published: list[RecordsProduced] = []
    # Whether testcase 0 was waiting to try again each time the chunk freed its pull loop.
    freed: list[bool] = []
    token = FETCH_NEXT.set(lambda: freed.append(system.backing_off.is_set()))
    try:
        produced = await _executor(db, system, published).execute_chunk(run, 0, testcases, "test")
    finally:
        FETCH_NEXT.reset(token)
    assert produced == 12
    # Once the 11 others were answered, only a retry's wait was left: the loop could fetch another
    # chunk (and again when the chunk was done).
    assert freed == [True, False]
    assert sorted(r.testcase_id for e in published for r in e.records) == sorted(t.id for t in testcases)
    # While testcase 0 waited, two other calls were answered at once; never more than the cap.
    assert (system.most_during_backoff, system.most) == (LIMIT, LIMIT)


async def test_a_run_stopped_while_a_call_waits_to_try_again_abandons_that_call(db: asyncpg.Pool, run: RunPlan) -> None:
    testcases = _testcases(4)
    system = System(testcases[0].id, call_s=0.01, backoff_s=60.0)
    published: list[RecordsProduced] = []
    chunk = asyncio.create_task(_executor(db, system, published).execute_chunk(run, 0, testcases, "test"))
    await asyncio.wait_for(system.backing_off.wait(), 10)
    await db.execute("UPDATE runs SET status = 'cancelled' WHERE id = $1", run.id)
    produced = await asyncio.wait_for(chunk, 10)
    assert produced == 3
    assert testcases[0].id not in {r.testcase_id for e in published for r in e.records}
    assert await db.fetchval("SELECT count(*) FROM execution_leases WHERE run_id = $1", run.id) == 0
