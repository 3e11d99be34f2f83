"""Retrying what errored, on the real processes: a system failing ~20% of its calls, retried until
it recovers, ends with every record completed, each retry executing exactly what was still
errored, and counts and aggregates equal to the rows; the refusals; two retries at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from scorekeeper_sdk import AsyncScorekeeper, Client, FailedPrecondition
from scorekeeper_sdk.client import cpb, rpb
from scorekeeper_sdk.exact_json import struct
from shared.db.pool import fetch_one
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.cli import scorekeeper
from tests.support.fake_system import FakeSystemServer, delay, fake_system_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

system = pytest.fixture(scope="module")(fake_system_server)

TESTCASES, TRIALS = 60, 2


@pytest.fixture
async def sdk(stack: Stack) -> AsyncIterator[AsyncScorekeeper]:
    async with stack.sdk() as client:
        yield client


def flaky_config(system: FakeSystemServer, path: str = "/flaky") -> dict[str, Any]:
    # One attempt: a 503 is an errored record at once.
    return {
        "url": system.url(path),
        "body_template": {"question": "{{ inputs.question }}"},
        "response_path": "choices.0.message.content",
        "max_attempts": 1,
        "timeout_s": 10,
    }


async def flaky_run(
    client: Client, stack: Stack, system: FakeSystemServer, name: str, testcases: int, percent: int
) -> tuple[str, int]:
    """A finished run of a system failing about ``percent`` % of its calls, after which the system
    recovers: (run id, its errored records)."""
    ids = await scenario.prepare(client, stack.demo_system_url, testcases, name=name)
    version = await client.create_http_system(ids.project_id, "flaky", flaky_config(system))
    system.set_flaky(percent)
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids)
    errored = (await client.wait_for_run(run.id, timeout_s=120)).errored_records
    assert errored > 0
    system.set_flaky(0)
    return run.id, errored


async def _rows(database_url: str, run_id: str) -> dict[str, Any]:
    """What the rows say, against what the counters and aggregates say."""
    conn = await asyncpg.connect(database_url)
    try:
        rid = uuid.UUID(run_id)
        records = await fetch_one(
            conn,
            "SELECT count(*) AS records, count(*) FILTER (WHERE status = 'errored') AS errored,"
            " count(*) FILTER (WHERE status = 'pending') AS pending, coalesce(sum(latency_ms), 0) AS latency_ms,"
            " coalesce(sum(prompt_tokens), 0) AS prompt_tokens, count(cost_usd) AS costed"
            " FROM records WHERE run_id = $1",
            rid,
        )
        counters = await fetch_one(
            conn,
            "SELECT sum(records) AS records, sum(errored) AS errored, sum(latency_ms) AS latency_ms,"
            " sum(prompt_tokens) AS prompt_tokens, sum(costed) AS costed FROM run_record_counts WHERE run_id = $1",
            rid,
        )
        from_scores = await conn.fetch(
            "SELECT metric_version_id, trial, count(*) FILTER (WHERE s.status = 'completed') AS scored,"
            " count(*) FILTER (WHERE s.passed) AS passed, coalesce(sum(value_num), 0) AS sum,"
            " coalesce(sum(value_num * value_num), 0) AS sum_sq,"
            " count(*) FILTER (WHERE s.status = 'errored') AS errored,"
            " count(*) FILTER (WHERE s.status = 'pending') AS pending"
            " FROM scores s JOIN records r ON r.id = s.record_id WHERE s.run_id = $1"
            " GROUP BY metric_version_id, trial ORDER BY 1, 2",
            rid,
        )
        aggregates = await conn.fetch(
            "SELECT metric_version_id, trial, sum(scored) AS scored, sum(passed) AS passed, sum(sum) AS sum,"
            " sum(sum_sq) AS sum_sq, sum(errored) AS errored, sum(pending) AS pending FROM run_metric_aggregates"
            " WHERE run_id = $1 GROUP BY metric_version_id, trial"
            " HAVING sum(scored) + sum(errored) + sum(pending) > 0 ORDER BY 1, 2",
            rid,
        )
        attempts = await conn.fetchval("SELECT count(*) FROM record_attempts WHERE run_id = $1", rid)
    finally:
        await conn.close()
    return {
        "records": dict(records),
        "counters": dict(counters),
        "from_scores": [dict(r) for r in from_scores],
        "aggregates": [dict(r) for r in aggregates],
        "attempts": attempts,
    }


def _assert_exact(rows: dict[str, Any]) -> None:
    records, counters = rows["records"], rows["counters"]
    assert records["pending"] == 0
    for field in ("records", "errored", "prompt_tokens", "costed"):
        assert counters[field] == records[field], field
    assert counters["latency_ms"] == pytest.approx(records["latency_ms"], rel=1e-9, abs=1e-6)
    assert len(rows["aggregates"]) == len(rows["from_scores"])
    for computed, kept in zip(rows["from_scores"], rows["aggregates"], strict=True):
        assert {k: computed[k] for k in ("metric_version_id", "trial", "scored", "passed", "errored", "pending")} == {
            k: kept[k] for k in ("metric_version_id", "trial", "scored", "passed", "errored", "pending")
        }
        assert kept["sum"] == pytest.approx(computed["sum"]) and kept["sum_sq"] == pytest.approx(computed["sum_sq"])


async def test_retries_until_the_system_recovers_keep_every_count_exact(
    client: Client, sdk: AsyncScorekeeper, stack: Stack, system: FakeSystemServer
) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, TESTCASES, name="retry")
    version = await client.create_http_system(ids.project_id, "flaky", flaky_config(system))
    system.set_flaky(20)
    before = len(system.received("/flaky"))
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids, trials=TRIALS)
    first = await client.wait_for_run(run.id, timeout_s=120)
    assert len(system.received("/flaky")) - before == TESTCASES * TRIALS
    assert first.status == "completed" and first.records == TESTCASES * TRIALS
    assert 0.1 * first.records < first.errored_records < 0.3 * first.records, first.errored_records
    errored_first = {r.id: r.error async for r in client.records(run.id) if r.status == "errored"}
    assert all("HTTP 503" in e for e in errored_first.values())
    _assert_exact(await _rows(stack.database_url, run.id))

    # First retry, the system still failing 20%: exactly the errored pairs are called again.
    calls = len(system.received("/flaky"))
    retried = await sdk.retry_errored_records(run.id)
    assert (retried.retried, retried.retry) == (len(errored_first), 1)
    assert retried.run.status in ("awaiting_execution", "running_execution", "completed")
    second = await sdk.wait_for_run(run.id, timeout_s=120)
    assert len(system.received("/flaky")) - calls == len(errored_first)
    assert second.status == "completed" and second.records == TESTCASES * TRIALS and second.retries == 1
    errored_second = {r.id async for r in client.records(run.id) if r.status == "errored"}
    assert errored_second < set(errored_first) and errored_second, "the flaky system fails some again"
    _assert_exact(await _rows(stack.database_url, run.id))

    # The system recovers: the second retry executes only what is still errored.
    system.set_flaky(0)
    calls = len(system.received("/flaky"))
    again = await sdk.retry_errored_records(run.id)
    assert (again.retried, again.retry) == (len(errored_second), 2)
    final = await sdk.wait_for_run(run.id, timeout_s=120)
    assert len(system.received("/flaky")) - calls == len(errored_second)
    assert (final.status, final.records, final.errored_records, final.retries) == (
        "completed",
        TESTCASES * TRIALS,
        0,
        2,
    )
    assert final.scores == final.expected_scores == TESTCASES * TRIALS * len(ids.metric_ids)
    records = [r async for r in client.records(run.id)]
    assert len(records) == TESTCASES * TRIALS and all(r.status == "completed" for r in records)
    rows = await _rows(stack.database_url, run.id)
    _assert_exact(rows)
    assert rows["attempts"] == len(errored_first) + len(errored_second)
    # Each metric's aggregates in GetRun are the rows'.
    for m in final.metrics:
        kept = [a for a in rows["from_scores"] if str(a["metric_version_id"]) == m.metric_version_id]
        assert (m.scored, m.passed, m.errored) == (
            sum(a["scored"] for a in kept),
            sum(a["passed"] for a in kept),
            sum(a["errored"] for a in kept),
        )

    # The old errors stay readable in the record's history.
    twice = next(iter(errored_second))
    record = await sdk.get_record(twice)
    assert record.status == "completed" and record.outputs["response"].startswith("echo: ")
    assert [(a.attempt, a.status, a.retry) for a in record.attempts] == [(1, "errored", 1), (2, "errored", 2)]
    assert record.attempts[0].error == errored_first[twice] and "HTTP 503" in record.attempts[1].error
    once = next(iter(set(errored_first) - errored_second))
    assert [(a.attempt, a.retry) for a in (await sdk.get_record(once)).attempts] == [(1, 1)]
    async with stack.http(stack.query_http) as http:
        body = (await http.get(f"/v1/records/{twice}")).json()
        assert [a["status"] for a in body["attempts"]] == ["errored", "errored"]

    # The run's timeline shows each retry; nothing is left to retry.
    statuses = [t.status for t in final.transitions]
    assert statuses.count("completed") == 3 and statuses.count("awaiting_execution") == 3
    with pytest.raises(FailedPrecondition, match="has no errored records to retry"):
        await sdk.retry_errored_records(run.id)


async def test_two_retries_at_once_execute_each_pair_once(
    client: Client, sdk: AsyncScorekeeper, stack: Stack, system: FakeSystemServer
) -> None:
    run_id, errored = await flaky_run(client, stack, system, "retry race", 30, 30)
    calls = len(system.received("/flaky"))
    outcomes = await asyncio.gather(*(sdk.retry_errored_records(run_id) for _ in range(4)), return_exceptions=True)
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, FailedPrecondition)]
    assert len(started) == 1 and len(refused) == 3, outcomes
    final = await sdk.wait_for_run(run_id, timeout_s=120)
    assert len(system.received("/flaky")) - calls == errored
    assert (final.status, final.errored_records, final.records) == ("completed", 0, 30)
    _assert_exact(await _rows(stack.database_url, run_id))


async def test_refusals_are_clear(
    client: Client, sdk: AsyncScorekeeper, stack: Stack, system: FakeSystemServer
) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 4, name="retry refusals")
    # Nothing errored.
    echo = await client.create_http_system(ids.project_id, "echo", flaky_config(system, "/echo"))
    clean = await client.create_run(ids.project_id, ids.testset_id, echo.id, ids.metric_ids)
    await client.wait_for_run(clean.id, timeout_s=60)
    with pytest.raises(FailedPrecondition, match=f"run {clean.id} has no errored records to retry"):
        await sdk.retry_errored_records(clean.id)
    # Still running (over HTTP: 409 with the message).
    slow = await client.create_http_system(ids.project_id, "slow", flaky_config(system, "/slow/3000"))
    running = await client.create_run(ids.project_id, ids.testset_id, slow.id, ids.metric_ids)
    async with stack.http(stack.orchestrator_http) as http:
        answer = await http.post(f"/v1/runs/{running.id}:retry-errors", json={})
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "FAILED_PRECONDITION"
        assert "is still executing" in answer.json()["error"]["message"]
        unknown = await http.post(f"/v1/runs/{uuid.uuid4()}:retry-errors", json={})
        assert unknown.status_code == 404
        bad = await http.post("/v1/runs/not-an-id:retry-errors", json={})
        assert bad.status_code == 400
    await client.cancel_run(running.id)
    with pytest.raises(FailedPrecondition, match="is cancelled"):
        await sdk.retry_errored_records(running.id)
    # An sdk run: its client executes it.
    system_row = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=ids.project_id, name="mine"))
    sdk_version = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system_row.id, kind="sdk", config=struct({}))
    )
    ingested = await client.create_run(ids.project_id, ids.testset_id, sdk_version.id, ids.metric_ids)
    testcases = [t async for t in client.testcases(ids.testset_id)]
    await client.ingest_records(
        ingested.id, [{"testcase_id": t.id, "status": "errored", "error": "boom"} for t in testcases]
    )
    assert (await client.wait_for_run(ingested.id, timeout_s=60)).errored_records == 4
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.runs.RetryErroredRecords(rpb.RetryErroredRecordsRequest(run_id=ingested.id))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "sdk system, which a client executes" in (refused.value.details() or "")


async def test_the_command_line_retries_and_says_when_nothing_is_left(
    client: Client, stack: Stack, system: FakeSystemServer
) -> None:
    run_id, errored = await flaky_run(client, stack, system, "retry cli", 10, 40)
    done = await asyncio.to_thread(scorekeeper, stack, "runs", "retry-errors", run_id, "--wait")
    assert done.returncode == 0, done.stderr
    assert f"run {run_id}: retrying {errored} errored records (retry 1)" in done.stdout
    assert f"run {run_id}: completed" in done.stdout and "(0 errored)" in done.stdout
    again = await asyncio.to_thread(scorekeeper, stack, "runs", "retry-errors", run_id)
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: run {run_id} has no errored records to retry"


async def test_a_retry_cancelled_midway_leaves_its_records_errored_and_counted(
    client: Client, sdk: AsyncScorekeeper, stack: Stack, system: FakeSystemServer
) -> None:
    run_id, errored = await flaky_run(client, stack, system, "retry cancelled", 10, 40)
    system.script(*(delay(5) for _ in range(errored)), path="/flaky")
    await sdk.retry_errored_records(run_id)
    await asyncio.sleep(0.5)
    await sdk.cancel_run(run_id)
    view = await sdk.get_run(run_id)
    assert (view.status, view.records, view.errored_records) == ("cancelled", 10, errored)
    waited = [r async for r in client.records(run_id) if r.status != "completed"]
    assert len(waited) == errored
    assert all(r.status == "errored" and r.error.startswith("the retry was cancelled") for r in waited)
    _assert_exact(await _rows(stack.database_url, run_id))
    await asyncio.sleep(5)  # the calls cut off are never recorded
    assert (await sdk.get_run(run_id)).errored_records == errored
    system.reset()  # no scripted delay is left for others
