"""The runner with a fake client: testcases read a page at a time and never far ahead of the calls,
uploads in batches of at most 1,000 while calls run, an upload failure stops the calls, and a
cancellation (Ctrl-C) still uploads what finished."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from scorekeeper_sdk import AsyncScorekeeper, FailedPrecondition, models
from scorekeeper_sdk.api.runs import RecordIn
from scorekeeper_sdk.evaluate.progress import Quiet
from scorekeeper_sdk.evaluate.runner import Runner
from scorekeeper_sdk.evaluate.scoring import is_async
from scorekeeper_sdk.views import IngestedRef, IngestResult, RefusedRecord, Run


class FakeClient:
    """list_testcases and ingest_records, counting how far reading runs ahead of the calls."""

    def __init__(self, testcases: int, fail_ingest_after: int | None = None) -> None:
        self.testcases = testcases
        self.read = 0
        self.batches: list[list[RecordIn]] = []
        self.fail_after = fail_ingest_after

    async def list_testcases(
        self, testset_id: str, version: int = 0, *, page_size: int = 500, run_id: str = ""
    ) -> AsyncIterator[models.Testcase]:
        for n in range(self.testcases):
            self.read += 1
            yield models.Testcase(id=f"t{n}", testset_id=testset_id, position=n, inputs={"n": n})

    async def ingest_records(self, run_id: str, records: list[RecordIn]) -> IngestResult:
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise FailedPrecondition(f"run {run_id} is cancelled; it takes no records")
        self.batches.append(list(records))
        await asyncio.sleep(0)
        return IngestResult(accepted=len(records))


def runner(fake: FakeClient, system: Any, *, trials: int = 1, limit: int = 4, flush_s: float = 1.0) -> Runner:
    run = Run(id="r1", project_id="p1", status="awaiting_execution", testset_id="ts", testset_version=1, trials=trials)
    return Runner(cast(AsyncScorekeeper, fake), run, system, max_concurrency=limit, tracker=Quiet(), flush_s=flush_s)


async def test_every_pair_once_in_batches_of_at_most_1000_with_reading_never_far_ahead() -> None:
    fake = FakeClient(2500)
    done = 0
    ahead = 0

    async def system(inputs: dict[str, Any]) -> str:
        nonlocal done, ahead
        ahead = max(ahead, fake.read - done)
        await asyncio.sleep(0)
        done += 1
        return str(inputs["n"])

    tally = await runner(fake, system, trials=2, limit=8).execute(done={("t0", 0), ("t1", 1)})
    assert (tally.calls, tally.errored, tally.uploaded) == (4998, 0, 4998)
    pairs = [(r.testcase_id, r.trial) for batch in fake.batches for r in batch]
    assert len(pairs) == len(set(pairs)) == 4998 and ("t0", 0) not in pairs and ("t1", 1) not in pairs
    assert max(len(b) for b in fake.batches) == 1000
    # In flight (8) plus the one testcase being planned: the testset is never read ahead.
    assert ahead <= 9


async def test_a_slow_trickle_is_uploaded_by_time_not_only_by_size() -> None:
    fake = FakeClient(3)

    async def system(inputs: dict[str, Any]) -> str:
        await asyncio.sleep(0.05 * inputs["n"])
        return "ok"

    await runner(fake, system, limit=1, flush_s=0.02).execute(done=set())
    assert [len(b) for b in fake.batches] == [1, 1, 1]


async def test_an_upload_refused_stops_the_calls_and_raises() -> None:
    fake = FakeClient(10_000, fail_ingest_after=1)
    calls = 0

    def system(inputs: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(FailedPrecondition, match="run r1 is cancelled"):
        await runner(fake, system, limit=2).execute(done=set())
    assert len(fake.batches) == 1 and calls < 10_000


async def test_cancelled_mid_way_the_finished_records_are_still_uploaded() -> None:
    fake = FakeClient(1000)
    finished = 0
    started = asyncio.Event()

    async def system(inputs: dict[str, Any]) -> str:
        nonlocal finished
        if inputs["n"] >= 100:
            started.set()
            await asyncio.sleep(3600)
        finished += 1
        return "ok"

    task = asyncio.create_task(runner(fake, system, limit=4).execute(done=set()))
    await started.wait()
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == 100 and sum(len(b) for b in fake.batches) == 100


def test_what_counts_as_an_async_system() -> None:
    async def coroutine(inputs: dict[str, Any]) -> str:
        return ""

    class Callable:
        async def __call__(self, inputs: dict[str, Any]) -> str:
            return ""

    assert is_async(coroutine) and is_async(Callable()) and not is_async(str) and not is_async(lambda i: i)


async def _peak_bytes(testcases: int) -> int:
    fake = FakeClient(testcases)
    uploaded = 0

    async def keep_count(run_id: str, records: list[RecordIn]) -> IngestResult:
        nonlocal uploaded
        uploaded += len(records)  # counted, not kept: the server holds the records, not the SDK
        return IngestResult(accepted=len(records))

    fake.ingest_records = keep_count  # type: ignore[method-assign]

    async def system(inputs: dict[str, Any]) -> dict[str, str]:
        return {"response": "x" * 200}

    tracemalloc.start()
    try:
        await runner(fake, system, limit=8).execute(done=set())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert uploaded == testcases
    return peak


async def test_memory_stays_flat_from_4000_to_20000_testcases() -> None:
    """Past the first few thousand (a full queue and batch), more testcases take no more memory:
    what is held is a page of testcases, the calls in flight, the queue and one batch (~1.3 MB
    here, measured the same at 5,000, 10,000 and 40,000 testcases)."""
    small, large = await _peak_bytes(4_000), await _peak_bytes(20_000)
    assert large < 1.1 * small, (small, large)
    assert large < 4 * 1024 * 1024


async def test_records_the_server_refused_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClient(3)

    async def refusing(run_id: str, records: list[RecordIn]) -> IngestResult:
        refused = RefusedRecord(IngestedRef(1, records[1].testcase_id, 0), "outputs nest deeper than 64 levels")
        return IngestResult(accepted=len(records), refused=[refused])

    fake.ingest_records = refusing  # type: ignore[method-assign]
    tally = await runner(fake, lambda inputs: "ok", flush_s=10).execute(done=set())
    assert (tally.calls, tally.uploaded, tally.refused) == (3, 3, 1)
    assert (
        "1 records' outputs were refused by the server and stored as errored"
        " (testcase t1 trial 0: outputs nest deeper than 64 levels)"
    ) in caplog.text
