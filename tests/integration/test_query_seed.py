"""The query benchmark's dataset (tests/bench/query_seed.py) at 1% scale, on real PostgreSQL: exact
counts, ids as shared/ids.py derives them, records that match the testcases of the pinned testset
version, and counters / aggregates equal to what the record and score rows give."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.ids import counter_shard, record_id, score_id
from tests.bench.query_seed import BIG_RUN_ID, METRICS, PROJECT_ID, Shape, seed
from tests.conftest import clone_database

pytestmark = [pytest.mark.postgres]

SHAPE = Shape.scaled(0.01)
# shard = record id as an integer mod 16 = the last hex digit of the uuid
# A record's counter shard (shared/ids.py counter_shard); a finished run's shards are folded into
# shard 0, as the orchestrator does when it finishes a run (shared/db/shards.py).
COUNTER_SHARD = "('x' || right(r.id::text, 1))::bit(4)::int"
SHARD = f"CASE WHEN ru.status IN ('completed', 'failed', 'cancelled') THEN 0 ELSE {COUNTER_SHARD} END"


@pytest.fixture(scope="module")
async def seeded(pg_server: str, template_database: str) -> str:
    url = await clone_database(pg_server, template_database)
    report = await seed(url, SHAPE, log=lambda _: None)
    assert not report.skipped
    return url


@pytest.fixture
async def conn(seeded: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(seeded)
    yield connection
    await connection.close()


async def test_counts_are_exact(conn: asyncpg.Connection) -> None:
    assert await conn.fetchval("SELECT count(*) FROM projects") == 1
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE project_id = $1", PROJECT_ID) == SHAPE.runs == 20
    assert await conn.fetchval("SELECT count(*) FROM records") == SHAPE.records == 10_000
    assert await conn.fetchval("SELECT count(*) FROM scores") == SHAPE.scores == 30_000
    assert await conn.fetchval("SELECT count(*) FROM records WHERE run_id = $1", BIG_RUN_ID) == SHAPE.big_run_records
    assert await conn.fetchval("SELECT count(*) FROM metrics") == len(METRICS)
    assert {r["output_type"] for r in await conn.fetch("SELECT output_type FROM metric_versions")} == {
        "boolean",
        "float",
    }
    # every metric appears among the runs; some records errored (and are not scored)
    used = await conn.fetchval(
        "SELECT count(DISTINCT v.metric_id) FROM runs, unnest(metric_version_ids) AS u(id)"
        " JOIN metric_versions v ON v.id = u.id"
    )
    assert used == len(METRICS)
    assert await conn.fetchval("SELECT count(*) FROM records WHERE status = 'errored'") > 0
    assert await conn.fetchval("SELECT count(*) FROM scores WHERE status = 'errored'") > 0
    assert await conn.fetchval("SELECT count(DISTINCT status) FROM runs") >= 2


async def test_every_completed_run_is_complete(conn: asyncpg.Connection) -> None:
    """Completed runs: every testcase × trial of the pinned version has a record, and every
    completed record one score per pinned metric version; errored records have none."""
    rows = await conn.fetch(
        "SELECT r.id, r.status, r.expected_records, cardinality(r.metric_version_ids) AS metrics,"
        " (SELECT count(*) FROM records x WHERE x.run_id = r.id) AS records,"
        " (SELECT count(*) FROM records x WHERE x.run_id = r.id AND x.status = 'errored') AS errored,"
        " (SELECT count(*) FROM scores s WHERE s.run_id = r.id) AS scores,"
        " (SELECT count(*) FROM scores s WHERE s.run_id = r.id"
        "   AND s.metric_version_id <> ALL(r.metric_version_ids)) AS foreign_scores,"
        " (SELECT testcase_count FROM testset_versions v"
        "   WHERE v.testset_id = r.testset_id AND v.version = r.testset_version) * r.trials AS version_size"
        " FROM runs r"
    )
    for row in rows:
        assert row["foreign_scores"] == 0
        if row["status"] == "completed":
            assert row["records"] == row["expected_records"] == row["version_size"], dict(row)
            assert row["scores"] == (row["records"] - row["errored"]) * row["metrics"], dict(row)
        else:
            assert row["status"] in ("cancelled", "failed")
            assert row["records"] == row["scores"] == 0
    errored_unscored = await conn.fetchval(
        "SELECT count(*) FROM scores s JOIN records r ON r.id = s.record_id WHERE r.status = 'errored'"
    )
    assert errored_unscored == 0


async def test_records_are_the_pinned_versions_testcases(conn: asyncpg.Connection) -> None:
    mismatched = await conn.fetchval(
        "SELECT count(*) FROM records r JOIN runs ON runs.id = r.run_id"
        " LEFT JOIN testcase_revisions v ON v.testcase_id = r.testcase_id AND v.testset_id = runs.testset_id"
        "  AND v.from_version <= runs.testset_version"
        "  AND (v.to_version IS NULL OR v.to_version > runs.testset_version)"
        " WHERE v.testcase_id IS NULL OR v.inputs <> r.inputs OR v.expected <> r.expected"
        "  OR v.metadata <> r.metadata OR r.trial >= runs.trials"
    )
    assert mismatched == 0


async def test_ids_follow_shared_ids(conn: asyncpg.Connection) -> None:
    records = await conn.fetch("SELECT id, run_id, testcase_id, trial FROM records")
    assert all(r["id"] == record_id(r["run_id"], r["testcase_id"], r["trial"]) for r in records)
    scores = await conn.fetch("SELECT id, record_id, metric_version_id FROM scores")
    assert all(s["id"] == score_id(s["record_id"], s["metric_version_id"]) for s in scores)
    # the SQL shard expression used below is counter_shard
    sample = await conn.fetch(f"SELECT r.id, {COUNTER_SHARD} AS shard FROM records r LIMIT 200")
    assert all(r["shard"] == counter_shard(r["id"]) for r in sample)


async def test_record_counts_equal_the_records(conn: asyncpg.Connection) -> None:
    """run_record_counts as the orchestrator keeps them, with the usage sums of migration 0006 when
    the schema has them (latency and cost sums compared to float precision)."""
    present = {
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'run_record_counts'"
        )
    }
    usage = {
        "latency_ms": "sum(r.latency_ms)",
        "prompt_tokens": "sum(r.prompt_tokens)",
        "completion_tokens": "sum(r.completion_tokens)",
        "cost_usd": "coalesce(sum(r.cost_usd), 0)",
        "costed": "count(r.cost_usd)",
    }
    kept_columns = ["records", "errored", *(c for c in usage if c in present)]
    computed = ["count(*)", "count(*) FILTER (WHERE r.status = 'errored')", *(usage[c] for c in kept_columns[2:])]
    kept = {
        (r["run_id"], r["shard"]): tuple(r)[2:]
        for r in await conn.fetch(f"SELECT run_id, shard, {', '.join(kept_columns)} FROM run_record_counts")
    }
    recomputed = {
        (r["run_id"], r["shard"]): tuple(r)[2:]
        for r in await conn.fetch(
            f"SELECT r.run_id, {SHARD} AS shard, {', '.join(computed)}"
            " FROM records r JOIN runs ru ON ru.id = r.run_id GROUP BY 1, 2"
        )
    }
    assert kept.keys() == recomputed.keys()
    for key, values in kept.items():
        assert values == pytest.approx(recomputed[key], rel=1e-9, abs=1e-9), key
    if "costed" in present:
        assert await conn.fetchval("SELECT sum(costed) FROM run_record_counts") > 0


async def test_aggregates_equal_the_scores(conn: asyncpg.Connection) -> None:
    """run_metric_aggregates as the scorer keeps them: per run × metric version × trial × shard,
    with the confusion counts of a boolean metric against expected[label_field]."""
    columns = "scored, passed, sum, sum_sq, errored, pending, true_pos, false_pos, false_neg, true_neg"
    kept = {
        (r["run_id"], r["metric_version_id"], r["trial"], r["shard"]): tuple(r)[4:]
        for r in await conn.fetch(
            f"SELECT run_id, metric_version_id, trial, shard, {columns} FROM run_metric_aggregates"
        )
    }
    recomputed = {
        (r["run_id"], r["metric_version_id"], r["trial"], r["shard"]): tuple(r)[4:]
        for r in await conn.fetch(
            "WITH s AS ("
            f"  SELECT s.*, r.trial, {SHARD} AS shard, s.status = 'completed' AS ok,"
            "   CASE WHEN v.output_type = 'boolean' AND v.config ? 'label_field'"
            "     THEN (r.expected ->> (v.config ->> 'label_field')) = 'yes' END AS label"
            "  FROM scores s JOIN records r ON r.id = s.record_id JOIN runs ru ON ru.id = r.run_id"
            "  JOIN metric_versions v ON v.id = s.metric_version_id)"
            " SELECT run_id, metric_version_id, trial, shard,"
            "  count(*) FILTER (WHERE ok)::int, count(*) FILTER (WHERE ok AND passed)::int,"
            "  coalesce(sum(value_num) FILTER (WHERE ok), 0),"
            "  coalesce(sum(value_num * value_num) FILTER (WHERE ok), 0),"
            "  count(*) FILTER (WHERE status = 'errored')::int, count(*) FILTER (WHERE status = 'pending')::int,"
            "  count(*) FILTER (WHERE ok AND passed AND label)::int,"
            "  count(*) FILTER (WHERE ok AND passed AND NOT label)::int,"
            "  count(*) FILTER (WHERE ok AND NOT passed AND label)::int,"
            "  count(*) FILTER (WHERE ok AND NOT passed AND NOT label)::int"
            " FROM s GROUP BY 1, 2, 3, 4"
        )
    }
    # float values are multiples of 1/1024, so the sums are exact in any order
    assert kept == recomputed
    labelled = await conn.fetchval("SELECT sum(true_pos + false_pos + false_neg + true_neg) FROM run_metric_aggregates")
    assert labelled > 0
    assert await conn.fetchval("SELECT sum(true_pos) FROM run_metric_aggregates") > 0


async def test_seed_is_idempotent_and_deterministic(seeded: str, pg_server: str, template_database: str) -> None:
    again = await seed(seeded, SHAPE, log=lambda _: None)
    assert again.skipped
    assert again.counts["records"] == SHAPE.records and again.counts["scores"] == SHAPE.scores
    with pytest.raises(RuntimeError, match="another query benchmark dataset"):
        await seed(seeded, Shape.scaled(0.02), log=lambda _: None)

    other = await clone_database(pg_server, template_database)
    await seed(other, SHAPE, log=lambda _: None, vacuum=False)
    digest = (
        "SELECT md5(string_agg(id::text || status || coalesce(value::text, '') || reasoning, ',' ORDER BY id))"
        " FROM scores"
    )
    records_digest = "SELECT md5(string_agg(id::text || outputs::text || latency_ms, ',' ORDER BY id)) FROM records"
    first, second = await asyncpg.connect(seeded), await asyncpg.connect(other)
    try:
        assert await first.fetchval(digest) == await second.fetchval(digest)
        assert await first.fetchval(records_digest) == await second.fetchval(records_digest)
    finally:
        await first.close()
        await second.close()


async def test_history_is_meaningful(conn: asyncpg.Connection) -> None:
    """Completed runs over months; each metric scored by several runs; pass rates vary between runs."""
    span = await conn.fetchval("SELECT max(created_at) - min(created_at) FROM runs")
    assert span.days > 120
    rows = await conn.fetch(
        "SELECT m.name, count(DISTINCT a.run_id) AS runs,"
        " count(DISTINCT round(a.passed::numeric / nullif(a.scored, 0), 2)) AS distinct_rates"
        " FROM (SELECT run_id, metric_version_id, sum(passed) AS passed, sum(scored) AS scored"
        "       FROM run_metric_aggregates GROUP BY 1, 2) a"
        " JOIN metric_versions v ON v.id = a.metric_version_id JOIN metrics m ON m.id = v.metric_id GROUP BY m.name"
    )
    assert len(rows) == len(METRICS)
    for row in rows:
        assert row["runs"] >= 5, dict(row)
        assert row["distinct_rates"] >= 2, dict(row)
    assert isinstance(BIG_RUN_ID, uuid.UUID)
