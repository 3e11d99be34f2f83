"""GetRunSteps: where a run's calls spend their time, step by step — each step (by name, kind and
the step it ran inside) summed over the steps the run's records hold (``record_spans``; a monitor's
run: its calls' ``call_spans``), in the order steps come in a call."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from scorekeeper_sdk.tracing import depth_first
from services.query.db import Reader, work_mem
from shared.edge.convert import parse_uuid
from shared.edge.errors import not_found

MAX_STEPS = 100
# 100,000 records of 4 steps sort 400,000 rows by step: in memory rather than on disk.
STEPS_WORK_MEM = "64MB"

# Each step of each record (or call), by its name, kind and the name of the step it ran inside
# (kept with it when stored: shared.spans), the records that took it counted by its first time in
# each. ``{spans}``: a query of the rows whose jsonb column ``spans`` holds the steps.
# Names compare byte by byte (COLLATE "C"): grouping sorts them, and the locale's rules cost more.
_STEPS = """
SELECT s.name COLLATE "C" AS name, coalesce(s.kind, '') COLLATE "C" AS kind,
       coalesce(s.parent_name, '') COLLATE "C" AS parent, count(*) FILTER (WHERE s.repeat IS NOT TRUE) AS records,
       count(*) AS taken, count(*) FILTER (WHERE coalesce(s.error, '') <> '') AS failed,
       avg(s.duration_ms) AS mean_ms, percentile_cont(0.5) WITHIN GROUP (ORDER BY s.duration_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.duration_ms) AS p95_ms, max(s.duration_ms) AS max_ms,
       avg(s.start_ms) AS mean_start_ms, coalesce(sum(s.prompt_tokens), 0)::bigint AS prompt_tokens,
       coalesce(sum(s.completion_tokens), 0)::bigint AS completion_tokens, coalesce(sum(s.cost_usd), 0) AS cost_usd,
       count(s.cost_usd) AS costed
FROM ({spans}) x
CROSS JOIN LATERAL jsonb_to_recordset(x.spans) AS s(name text, kind text, parent_name text, repeat boolean,
                                                   start_ms float8, duration_ms float8, error text,
                                                   prompt_tokens bigint, completion_tokens bigint, cost_usd float8)
GROUP BY 1, 2, 3
ORDER BY avg(s.start_ms), 1
LIMIT {limit}
"""


def summed(spans: str) -> str:
    """The statement summing up, step by step, the steps ``spans`` selects (rows with a jsonb
    column ``spans``): its rows make ``summaries``."""
    return _STEPS.format(spans=spans, limit=MAX_STEPS)


# Where a run's records' steps are, by whether it is a monitor's run (its records are the calls,
# by testcase_id, their steps logged with them).
_SOURCES = {
    False: "record_spans x ON x.record_id = r.id",
    True: "runs ru ON ru.id = r.run_id JOIN call_spans x ON x.project_id = ru.project_id AND x.call_id = r.testcase_id",
}
_SUMMED = {
    monitored: summed(f"SELECT x.spans FROM records r JOIN {source} WHERE r.run_id = $1")
    for monitored, source in _SOURCES.items()
}
_HOLDING = {
    monitored: f"SELECT count(*) FROM records r JOIN {source} WHERE r.run_id = $1"
    for monitored, source in _SOURCES.items()
}


def summaries(rows: Sequence[asyncpg.Record]) -> list[pb.StepSummary]:
    """The rows as summaries, each after the one it ran inside (by name), siblings in the order
    they come."""
    found = [
        pb.StepSummary(
            name=r["name"],
            kind=r["kind"],
            parent=r["parent"],
            records=r["records"],
            taken=r["taken"],
            failed=r["failed"],
            mean_ms=r["mean_ms"] or 0.0,
            p50_ms=r["p50_ms"] or 0.0,
            p95_ms=r["p95_ms"] or 0.0,
            max_ms=r["max_ms"] or 0.0,
            mean_start_ms=r["mean_start_ms"] or 0.0,
            prompt_tokens=r["prompt_tokens"],
            completion_tokens=r["completion_tokens"],
            cost_usd=r["cost_usd"],
            costed=r["costed"],
        )
        for r in rows
    ]
    ordered = []
    for depth, summary in depth_first(found, lambda s: s.name, lambda s: s.parent):
        summary.depth = depth
        ordered.append(summary)
    return ordered


class StepReads:
    """GetRunSteps."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_run_steps(self, request: pb.GetRunStepsRequest) -> pb.RunSteps:
        run_id = parse_uuid(request.run_id, "run_id")
        async with self._reader.snapshot() as conn:
            run = await conn.fetchrow(
                "SELECT monitor_id IS NOT NULL AS monitored,"
                " (SELECT count(*) FROM records WHERE run_id = $1) AS records FROM runs WHERE id = $1",
                run_id,
            )
            if run is None:
                raise not_found(f"run {run_id} does not exist")
            monitored = bool(run["monitored"])
            await work_mem(conn, STEPS_WORK_MEM)
            rows = await conn.fetch(_SUMMED[monitored], run_id)
            holding = await conn.fetchval(_HOLDING[monitored], run_id)
        return pb.RunSteps(
            run_id=str(run_id), records=run["records"], records_with_steps=holding, steps=summaries(rows)
        )
