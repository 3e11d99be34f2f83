"""Logging calls and closing monitor windows on real PostgreSQL: a replay samples nothing twice,
closers racing over one monitor (replicas) close each window once and put each sample in exactly
one run, and a window of minutes takes the calls logged before its end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import cast

import asyncpg
import pytest

from services.run_orchestrator.monitors.calls import LogCalls
from services.run_orchestrator.monitors.repository import CallRow, MonitorRepository
from services.run_orchestrator.monitors.slices import SliceCalls
from services.run_orchestrator.monitors.window_repository import WindowRepository
from tests.support.db_seed import heuristic_monitor

pytestmark = [pytest.mark.postgres]


async def seed(
    db: asyncpg.Pool, *, window_calls: int = 0, window_minutes: int = 0, rate: float = 100.0
) -> tuple[uuid.UUID, uuid.UUID]:
    """A project with one metric version and one monitor; returns (project, monitor)."""
    project = uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    monitor = await heuristic_monitor(db, project, rate=rate, window_minutes=window_minutes, window_calls=window_calls)
    return project, monitor


def calls(n: int) -> list[CallRow]:
    return [
        CallRow(
            uuid.uuid4(),
            {"i": i},
            {"response": f"answer {i}"},
            {"route": "a"},
            "completed",
            "",
            5.0,
            3,
            4,
            0.001,
            "",
            "",
        )
        for i in range(n)
    ]


async def test_logging_again_stores_and_samples_nothing_twice(db: asyncpg.Pool) -> None:
    project, monitor = await seed(db, window_calls=10, rate=50)
    log = LogCalls(MonitorRepository(db))
    batch = calls(400)
    first = await log(project, batch)
    assert first.stored == 400 and first.duplicates == 0 and 150 < first.sampled < 250
    again = await log(project, batch)
    assert (again.stored, again.duplicates, again.sampled) == (0, 400, 0)
    assert await db.fetchval("SELECT count(*) FROM monitor_samples WHERE monitor_id = $1", monitor) == first.sampled


async def test_closers_racing_close_each_window_once_and_each_sample_lands_in_one_run(db: asyncpg.Pool) -> None:
    project, monitor = await seed(db, window_calls=50)
    logged = calls(2010)
    log = LogCalls(MonitorRepository(db))
    for i in range(0, len(logged), 1000):
        await log(project, logged[i : i + 1000])
    windows = WindowRepository(db)

    async def closer() -> int:
        closed = 0
        while True:
            window = await windows.close(monitor, 50_000, timedelta(0))
            if window is None:
                if await windows.pending_up_to(monitor, 50) < 50:
                    return closed
                await asyncio.sleep(0)  # another closer holds the monitor
                continue
            closed += 1

    counts = await asyncio.gather(*(closer() for _ in range(4)))
    assert sum(counts) == 40
    rows = await db.fetch("SELECT number, run_id, calls FROM monitor_windows WHERE monitor_id = $1", monitor)
    assert sorted(r["number"] for r in rows) == list(range(1, 41))
    assert all(r["calls"] == 50 for r in rows)
    records = await db.fetch(
        "SELECT r.testcase_id, r.run_id FROM records r JOIN runs ON runs.id = r.run_id WHERE runs.monitor_id = $1",
        monitor,
    )
    in_runs = [r["testcase_id"] for r in records]
    pending = [
        r["call_id"] for r in await db.fetch("SELECT call_id FROM monitor_samples WHERE monitor_id = $1", monitor)
    ]
    assert len(in_runs) == len(set(in_runs)) == 2000
    assert len(pending) == 10
    assert set(in_runs) | set(pending) == {c.id for c in logged}
    per_run = await db.fetch(
        "SELECT runs.id, runs.expected_records, runs.source, (SELECT sum(records) FROM run_record_counts c"
        "  WHERE c.run_id = runs.id) AS counted, (SELECT count(*) FROM records WHERE run_id = runs.id) AS stored"
        " FROM runs WHERE monitor_id = $1",
        monitor,
    )
    assert all(
        (r["expected_records"], r["counted"], r["stored"], r["source"]) == (50, 50, 50, "monitor") for r in per_run
    )
    record = await db.fetchrow(
        "SELECT r.* FROM records r JOIN runs ON runs.id = r.run_id WHERE runs.monitor_id = $1 LIMIT 1", monitor
    )
    assert record is not None
    call = next(c for c in logged if c.id == record["testcase_id"])
    assert (record["inputs"], record["outputs"], record["metadata"]) == (call.inputs, call.outputs, call.metadata)
    assert (record["latency_ms"], record["prompt_tokens"], record["cost_usd"]) == (5.0, 3, 0.001)


async def test_a_window_of_minutes_takes_the_calls_logged_before_its_end(db: asyncpg.Pool) -> None:
    project, monitor = await seed(db, window_minutes=1)
    log = LogCalls(MonitorRepository(db))
    early = calls(30)
    await log(project, early)
    # The open window ends now: the calls above are in it, the ones logged next are not.
    await db.execute("UPDATE monitors SET window_started_at = now() - interval '1 minute' WHERE id = $1", monitor)
    late = calls(20)
    await log(project, late)
    windows = WindowRepository(db)
    window = await windows.close(monitor, 50_000, timedelta(0))
    assert window is not None and window.calls == 30
    run_calls = {
        r["testcase_id"] for r in await db.fetch("SELECT testcase_id FROM records WHERE run_id = $1", window.run_id)
    }
    assert run_calls == {c.id for c in early}
    assert await windows.close(monitor, 50_000, timedelta(0)) is None  # the next window is not over yet
    assert await db.fetchval("SELECT count(*) FROM monitor_samples WHERE monitor_id = $1", monitor) == 20


async def test_a_monitors_alerts_are_decided_in_order_each_knowing_the_one_before(db: asyncpg.Pool) -> None:
    project, monitor = await seed(db, window_calls=10)
    await db.execute(
        "UPDATE monitors SET alert_url = 'http://127.0.0.1:9/hook', alert_recovery = true WHERE id = $1", monitor
    )
    await LogCalls(MonitorRepository(db))(project, calls(20))
    windows = WindowRepository(db)
    first, second = [await windows.close(monitor, 50_000, timedelta(0)) for _ in range(2)]
    assert first is not None and second is not None
    await db.execute("UPDATE runs SET status = 'completed' WHERE id = $1", second.run_id)
    # The second window's run finished first: it waits for the first window's decision.
    assert await windows.finished_waiting() == []
    await db.execute("UPDATE runs SET status = 'completed' WHERE id = $1", first.run_id)
    assert [(w["number"], w["previous"]) for w in await windows.finished_waiting()] == [(1, None)]
    assert await windows.decide_alert(first.id, "below", {"type": "monitor.alert"})
    assert [(w["number"], w["previous"], w["alert_recovery"]) for w in await windows.finished_waiting()] == [
        (2, "below", True)
    ]


async def test_a_stored_slice_field_that_no_longer_parses_is_left_out(
    db: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """A window's alert is decided without it: never a window (and the monitor's later ones) waiting for good."""
    windows = WindowRepository(db)
    assert await windows.slice_results(uuid.uuid4(), [], [], ['metadata."unclosed'], 1) == []
    assert "a monitor's slice field is left out: it does not parse" in caplog.text


async def test_a_windows_slices_count_their_errored_calls_and_their_latencys_95th_percentile(
    db: asyncpg.Pool,
) -> None:
    project, monitor = await seed(db, window_calls=20)

    def call(region: str | None, latency_ms: float, errored: bool = False) -> CallRow:
        metadata = {"user": {"region": region}} if region is not None else {}
        status, error = ("errored", "timeout") if errored else ("completed", "")
        return CallRow(uuid.uuid4(), {}, {}, metadata, status, error, latency_ms, 0, 0, None, "", "")

    eu = [call("eu", 100.0 * n) for n in range(1, 11)]  # 100..1,000 ms
    us = [call("us", 50.0), call("us", 0.0), call("us", 0.0, errored=True), call("us", 70.0, errored=True)]
    ap = [call("ap", 5000.0), call("ap", 5000.0)]  # two calls: under min_calls
    await LogCalls(MonitorRepository(db))(project, eu + us + ap + [call(None, 10.0) for _ in range(4)])
    windows = WindowRepository(db)
    closed = await windows.close(monitor, 50_000, timedelta(0))
    assert closed is not None and closed.calls == 20
    found = await windows.slice_calls(closed.run_id, ["metadata.user.region"], 3)
    # eu: the 95th percentile of 100..1,000 (interpolated: 955); us: of its two calls with a latency.
    assert found == [
        SliceCalls("metadata.user.region", "eu", 10, 0, 10, 955.0),
        SliceCalls("metadata.user.region", "us", 4, 2, 2, 69.0),
    ]
    assert [s.value for s in await windows.slice_calls(closed.run_id, ["metadata.user.region"], 1)] == [
        "ap",
        "eu",
        "us",
    ]


async def test_a_windows_feedback_slices_count_the_verdicts_given_during_it_on_each_calls_value(
    db: asyncpg.Pool,
) -> None:
    project, _ = await seed(db, window_calls=20)
    thumbs, version = uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO metrics (id, project_id, name) VALUES ($1, $2, 'thumbs')", thumbs, project)
    await db.execute(
        "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
        " VALUES ($1, $2, 1, 'human', 'boolean', '{}')",
        version,
        thumbs,
    )

    def call(lang: str, topic: str) -> CallRow:
        return CallRow(
            uuid.uuid4(), {"topic": topic}, {}, {"user": {"lang": lang}}, "completed", "", 1.0, 0, 0, None, "", ""
        )

    fr, en = [call("fr", "billing") for _ in range(4)], [call("en", "billing") for _ in range(3)]
    await LogCalls(MonitorRepository(db))(project, fr + en)
    start = await db.fetchval("SELECT now() - interval '1 hour'")
    given = [(c, up, start + timedelta(minutes=10)) for c, up in zip(fr, [True, False, False, False], strict=True)]
    given += [(c, True, start + timedelta(minutes=20)) for c in en]
    given.append((en[0], False, start + timedelta(hours=2)))  # replaces en[0]'s verdict, after the window
    for c, up, at in given:
        await db.execute(
            "INSERT INTO call_feedback (project_id, call_id, metric_id, metric_version_id, value, passed, given_at,"
            " call_logged_at) VALUES ($1, $2, $3, $4, $5::float8, $5::float8 = 1, $6, now())"
            " ON CONFLICT (project_id, call_id, metric_id) DO UPDATE SET value = excluded.value,"
            " passed = excluded.passed, given_at = excluded.given_at",
            project,
            c.id,
            thumbs,
            version,
            1.0 if up else 0.0,
            at,
        )
    window = {
        "project_id": project,
        "started_at": start,
        "ended_at": start + timedelta(hours=1),
        "alert_feedback_thresholds": [{"metric_id": str(thumbs), "below": 0.8}],
    }
    windows = WindowRepository(db)
    found = await windows.feedback_slice_results(
        cast(asyncpg.Record, window), ["metadata.user.lang", "inputs.topic", "expected.answer"], 2
    )
    assert [(s.field, s.value, s.result.scored, s.result.passed, s.result.output_type) for s in found] == [
        ("metadata.user.lang", "en", 2, 2, "boolean"),  # en[0]'s verdict was given again after the window
        ("metadata.user.lang", "fr", 4, 1, "boolean"),
        ("inputs.topic", "billing", 6, 3, "boolean"),
        # expected.answer: a logged call has no expected values, so no slice
    ]
    assert await windows.feedback_slice_results(cast(asyncpg.Record, window), ["metadata.user.lang"], 3) == [found[1]]
