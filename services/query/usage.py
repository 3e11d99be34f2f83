"""What runs used (RunUsage): their records' latency, tokens and cost and their judges' cost, from
the counters the services keep per run (no scan), or for a slice (``fields``) from the runs'
records holding its values and their scores — GetRunHistory's ``usage``, CompareRuns'
``baseline_usage`` and ``usage``, and CompareRunMatrix's columns."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters
from services.query.db import Where
from services.query.records.clauses import field_tests, testcase_tests
from shared.db import latency
from shared.db.pool import Connection
from shared.edge.convert import timestamp


async def runs_usage(
    conn: Connection,
    run_ids: Sequence[str],
    sliced: Sequence[filters.FieldFilter] = (),
    testcase_ids: Sequence[uuid.UUID] = (),
) -> list[pb.RunUsage]:
    """Each run's usage, in the order given (of the records holding ``sliced``'s values, and of
    those testcases when given)."""
    if not run_ids:
        return []
    where = Where(list(run_ids))  # $1
    of_slice = " AND ".join(field_tests(where, sliced) + testcase_tests(where, testcase_ids)) or None
    return [_usage_pb(row) for row in await conn.fetch(_usage_sql(of_slice), *where.args)]


def _usage_pb(row: asyncpg.Record) -> pb.RunUsage:
    run_id, created, records, latency, prompt, completion, cost, costed, percentiles, judge_cost = row
    usage = pb.RunUsage(
        run_id=run_id,
        created_at=timestamp(created),
        records=records,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        costed_records=costed,
        judge_cost_usd=judge_cost,
    )
    if records:
        usage.latency_ms_mean = latency / records
    if percentiles is not None:
        usage.latency_p50_ms, usage.latency_p95_ms, usage.latency_p99_ms = percentiles
    return usage


def _usage_sql(of_slice: str | None) -> str:
    """Per run of $1 (text ids, in that order): its records, their latency, tokens and cost summed,
    their latency percentiles, and its judges' cost over its pinned metric versions — from its
    counters and its row, or for a slice (records r meeting ``of_slice``, its parameters from $2)
    from its records holding the values and their scores."""
    if of_slice is None:
        kept = "ARRAY[ru.latency_p50_ms, ru.latency_p95_ms, ru.latency_p99_ms]"
        records = (
            "SELECT coalesce(sum(c.records), 0)::int, coalesce(sum(c.latency_ms), 0)::float8,"
            " coalesce(sum(c.prompt_tokens), 0)::bigint, coalesce(sum(c.completion_tokens), 0)::bigint,"
            " coalesce(sum(c.cost_usd), 0)::float8, coalesce(sum(c.costed), 0)::int,"
            f" CASE WHEN ru.latency_p50_ms IS NOT NULL THEN {kept} END"
            " FROM run_record_counts c WHERE c.run_id = ru.id"
        )
        judges = (
            "SELECT coalesce(sum(a.cost_usd), 0)::float8 FROM run_metric_aggregates a"
            " WHERE a.run_id = ru.id AND a.metric_version_id = ANY(ru.metric_version_ids)"
        )
    else:
        records = (
            "SELECT count(*)::int, coalesce(sum(r.latency_ms), 0)::float8, coalesce(sum(r.prompt_tokens), 0)::bigint,"
            " coalesce(sum(r.completion_tokens), 0)::bigint, coalesce(sum(r.cost_usd), 0)::float8,"
            f" count(r.cost_usd)::int, {latency.percentiles('r.latency_ms')}"
            f" FROM records r WHERE r.run_id = ru.id AND {of_slice}"
        )
        judges = (
            "SELECT coalesce(sum(s.cost_usd), 0)::float8 FROM records r JOIN scores s ON s.record_id = r.id"
            f" WHERE r.run_id = ru.id AND {of_slice} AND s.run_id = ru.id"
            " AND s.metric_version_id = ANY(ru.metric_version_ids)"
        )
    return (
        "SELECT ru.id::text, ru.created_at, u.*, j.* FROM unnest($1::text[]) WITH ORDINALITY AS p(id, n)"
        " JOIN runs ru ON ru.id = p.id::uuid"
        f" CROSS JOIN LATERAL ({records}) AS u CROSS JOIN LATERAL ({judges}) AS j ORDER BY p.n"
    )
