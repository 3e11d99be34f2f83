"""The scorer's incrementally kept aggregates and what GetRun derives from them, on real PostgreSQL.

Scores are written through ScoreRepository.save (the scorer's one write path) in orders and
repetitions a bus can produce; GetRun's figures must equal those computed from the score rows.
"""

from __future__ import annotations

import math
import statistics
import uuid

import asyncpg
import pytest
from scipy import stats as scipy_stats
from scorekeeper.v1 import query_pb2 as pb

from services.query.api import QueryApi
from services.scorer.repository import RecordToScore, ScoreRepository
from shared.db.shards import fold_run_shards
from shared.ids import record_id, score_id
from shared.scoring.metric import MetricVersion, ScoreOutcome, passes
from shared.scoring.record import ScoringInput
from tests.support.db_seed import seed

pytestmark = [pytest.mark.postgres]


async def add_record(
    db: asyncpg.Pool, run: uuid.UUID, case: uuid.UUID, trial: int, expected: dict[str, object]
) -> RecordToScore:
    rid = record_id(run, case, trial)
    await db.execute(
        "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status)"
        " VALUES ($1, $2, $3, $4, '{}', $5, '{}', 'completed')",
        rid,
        run,
        case,
        trial,
        expected,
    )
    await db.execute(
        "INSERT INTO run_record_counts AS c (run_id, shard, records) VALUES ($1, 0, 1)"
        " ON CONFLICT (run_id, shard) DO UPDATE SET records = c.records + 1",
        run,
    )
    metric_ids = await db.fetchval("SELECT metric_version_ids FROM runs WHERE id = $1", run)
    return RecordToScore(rid, run, trial, "completed", tuple(metric_ids), ScoringInput(outputs={}, expected=expected))


async def metric_of(repo: ScoreRepository, version: uuid.UUID) -> MetricVersion:
    metric = await repo.metric_version(version)
    assert metric is not None
    return metric


def completed(metric: MetricVersion, value: bool | float, **usage: float) -> ScoreOutcome:
    passed = passes(metric.output_type, value, metric.passing_threshold)
    return ScoreOutcome("completed", value, passed, "r", "", **usage)  # type: ignore[arg-type]


async def get_run(db: asyncpg.Pool, run: uuid.UUID) -> pb.RunView:
    return await QueryApi(db, "http://q").get_run(pb.GetRunRequest(run_id=str(run)))


async def test_float_metric_over_three_trials(db: asyncpg.Pool) -> None:
    run, cases, [version] = await seed(db, 4, 3, [("quality", "float", {"kind": "x"})])
    repo = ScoreRepository(db)
    metric = await metric_of(repo, version)
    values = {0: [0.9, 0.4, 0.7, 1.0], 1: [0.8, 0.5, 0.6, 1.0], 2: [1.0, 0.2, 0.7, 0.9]}
    for trial, per_case in values.items():
        for case, value in zip(cases, per_case, strict=True):
            record = await add_record(db, run, case, trial, {})
            outcome = completed(metric, value)
            assert await repo.save(score_id(record.id, version), record, metric, outcome)
            # A redelivery changes nothing.
            assert not await repo.save(score_id(record.id, version), record, metric, outcome)
    every = [v for vs in values.values() for v in vs]
    means = [statistics.fmean(vs) for vs in values.values()]
    half = scipy_stats.t.ppf(0.975, 2) * statistics.stdev(means) / math.sqrt(3)
    [summary] = (await get_run(db, run)).metrics
    assert (summary.scored, summary.passed, summary.errored) == (12, 10, 0)  # 10 values ≥ 0.5
    assert summary.mean == pytest.approx(statistics.fmean(every))
    assert summary.std_dev == pytest.approx(statistics.stdev(every))
    assert summary.ci_method == "t over 3 trials"
    assert (summary.ci_low, summary.ci_high) == pytest.approx(
        (statistics.fmean(means) - half, statistics.fmean(means) + half)
    )
    assert not summary.HasField("precision")
    assert summary.labelled == 0


async def test_boolean_metric_precision_recall_f1_against_expected_labels(db: asyncpg.Pool) -> None:
    run, cases, [by_name, by_field] = await seed(
        db,
        8,
        1,
        [("is_toxic", "boolean", {"kind": "x"}), ("flagged", "boolean", {"kind": "x", "label_field": "toxic"})],
    )
    repo = ScoreRepository(db)
    # (label, prediction): TP, TP, TP, FP, FN, TN, TN, and one testcase without a label.
    table: list[tuple[object, bool]] = [
        (True, True),
        ("yes", True),
        (1, True),
        (False, True),
        (True, False),
        ("no", False),
        (0, False),
        (None, True),
    ]
    for case, (label, prediction) in zip(cases, table, strict=True):
        expected = {} if label is None else {"is_toxic": label, "toxic": label}
        record = await add_record(db, run, case, 0, expected)
        for version in (by_name, by_field):
            metric = await metric_of(repo, version)
            await repo.save(score_id(record.id, version), record, metric, completed(metric, prediction))
    for summary in (await get_run(db, run)).metrics:
        assert (summary.scored, summary.passed, summary.labelled) == (8, 5, 7), summary.name
        assert summary.precision == pytest.approx(3 / 4)
        assert summary.recall == pytest.approx(3 / 4)
        assert summary.f1 == pytest.approx(3 / 4)
        assert summary.ci_method == "wilson"


async def test_replaced_scores_move_the_aggregates_by_the_difference(db: asyncpg.Pool) -> None:
    run, cases, [version] = await seed(db, 2, 1, [("judge", "boolean", {"kind": "x"})])
    repo = ScoreRepository(db)
    metric = await metric_of(repo, version)
    first = await add_record(db, run, cases[0], 0, {"judge": True})
    second = await add_record(db, run, cases[1], 0, {"judge": False})
    sid = score_id(first.id, version)
    # An errored judge call, then a retry that succeeds: the errored count goes back to zero,
    # the usage is the successful call's.
    errored = ScoreOutcome("errored", None, None, "", "judge down", 100, 0, 0.001)
    assert await repo.save(sid, first, metric, errored)
    assert (await get_run(db, run)).metrics[0].errored == 1
    assert await repo.save(sid, first, metric, completed(metric, True, prompt_tokens=300, completion_tokens=20))
    assert await repo.save(
        score_id(second.id, version),
        second,
        metric,
        completed(metric, True, prompt_tokens=200, completion_tokens=10, cost_usd=0.002),
    )
    # A human-style replacement flips the first verdict.
    assert await repo.save(sid, first, metric, completed(metric, False), replace=True)
    [summary] = (await get_run(db, run)).metrics
    assert (summary.scored, summary.passed, summary.errored, summary.labelled) == (2, 1, 0, 2)
    assert (summary.precision, summary.recall) == (0.0, 0.0)  # one FP (second), one FN (first)
    assert (summary.judge_prompt_tokens, summary.judge_completion_tokens) == (200, 10)
    assert summary.judge_cost_usd == pytest.approx(0.002)
    rows = await db.fetch(
        "SELECT status, passed, prompt_tokens, cost_usd FROM scores WHERE run_id = $1 ORDER BY prompt_tokens", run
    )
    assert [tuple(r) for r in rows] == [("completed", False, 0, None), ("completed", True, 200, 0.002)]
    totals = await db.fetchrow(
        "SELECT sum(scored) AS scored, sum(true_pos + false_pos + false_neg + true_neg) AS labelled"
        " FROM run_metric_aggregates WHERE run_id = $1",
        run,
    )
    assert totals is not None
    assert (totals["scored"], totals["labelled"]) == (2, 2)
    # Score conditions read the replaced verdict: 0008's index carries status, passed, value_num.
    api = QueryApi(db, "http://q")
    failing = await api.list_records(pb.ListRecordsRequest(run_id=str(run), where=["judge:failed"]))
    assert [r.id for r in failing.records] == [str(first.id)]
    passing = await api.list_records(pb.ListRecordsRequest(run_id=str(run), where=["judge:passed"]))
    assert [r.id for r in passing.records] == [str(second.id)]


async def test_a_record_has_one_score_per_metric_version(db: asyncpg.Pool) -> None:
    run, [case], [version] = await seed(db, 1, 1, [("judge", "boolean", {"kind": "x"})])
    record = await add_record(db, run, case, 0, {"judge": True})
    insert = (
        "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value_num, passed)"
        " VALUES ($1, $2, $3, $4, 'completed', 1, true)"
    )
    await db.execute(insert, score_id(record.id, version), record.id, run, version)
    with pytest.raises(asyncpg.UniqueViolationError, match="scores_record_version"):
        await db.execute(insert, uuid.uuid4(), record.id, run, version)


async def test_folding_a_finished_runs_shards_keeps_every_figure(db: asyncpg.Pool) -> None:
    run, cases, versions = await seed(
        db, 40, 2, [("quality", "float", {"kind": "x"}), ("judge", "boolean", {"kind": "x", "label_field": "ok"})]
    )
    repo = ScoreRepository(db)
    metrics = [await metric_of(repo, v) for v in versions]
    for trial in range(2):
        for i, case in enumerate(cases[:-1]):
            record = await add_record(db, run, case, trial, {"ok": i % 3 == 0})
            for metric in metrics:
                # Binary fractions: their sums are exact in any order, so figures compare with ==.
                value = (i % 4) / 4 if metric.output_type == "float" else i % 2 == 0
                await repo.save(score_id(record.id, metric.id), record, metric, completed(metric, value, cost_usd=0.25))
    # The orchestrator's record counts are sharded too (here: as many rows as the scorer's shards).
    await db.execute(
        "INSERT INTO run_record_counts (run_id, shard, records, latency_ms, costed)"
        " SELECT $1, s, 1, 10 * s, 1 FROM generate_series(1, 15) s",
        run,
    )
    before = await get_run(db, run)
    shards = await db.fetchval("SELECT count(*) FROM run_metric_aggregates WHERE run_id = $1", run)
    assert shards > 2 * 2 * 8  # 2 metrics x 2 trials, on most of the 16 shards each

    async with db.acquire() as conn, conn.transaction():
        await fold_run_shards(conn, run)

    rows = await db.fetch(
        "SELECT metric_version_id, trial, shard FROM run_metric_aggregates WHERE run_id = $1 ORDER BY 1, 2", run
    )
    assert sorted((r["metric_version_id"], r["trial"], r["shard"]) for r in rows) == sorted(
        (v, t, 0) for v in versions for t in range(2)
    )
    assert await db.fetchval("SELECT array_agg(shard) FROM run_record_counts WHERE run_id = $1", run) == [0]
    after = await get_run(db, run)
    before.duration_s = after.duration_s = 0  # the run is still running: its duration grows
    assert after == before
    assert after.records == 78 + 15

    # A score written after the fold (a late or human one) adds to a shard row again: nothing lost.
    record = await add_record(db, run, cases[-1], 0, {"ok": True})
    for metric in metrics:
        await repo.save(
            score_id(record.id, metric.id),
            record,
            metric,
            completed(metric, 1.0 if metric.output_type == "float" else True),
        )
    late = {m.name: m for m in (await get_run(db, run)).metrics}
    assert late["quality"].scored == {m.name: m for m in before.metrics}["quality"].scored + 1
    assert late["judge"].passed == {m.name: m for m in before.metrics}["judge"].passed + 1
    async with db.acquire() as conn, conn.transaction():
        await fold_run_shards(conn, run)
    assert {m.name: m for m in (await get_run(db, run)).metrics} == late
