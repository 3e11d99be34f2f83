"""GetRun and ListRuns: a run with its status explanation, aggregates, pinned versions and totals.

Everything comes from the runs row, the sharded counters and the per-metric aggregates the
scorer keeps; no read here scans records or scores.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
from cachetools import TTLCache
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters
from services.query.db import Reader, Where
from services.query.explanation import run_explanation
from services.query.views import metric_summary, progress
from shared.db import latency
from shared.db.pool import Connection
from shared.db.previous_run import PREVIOUS_RUN_ID, previous_run_joins
from shared.edge import page_tokens
from shared.edge.convert import dict_to_struct, parse_uuid, timestamp
from shared.edge.errors import not_found
from shared.scoring.stats import TrialSums

_RUNS = (
    "SELECT r.*, t.name AS testset_name, sv.name AS system_version_name, sv.kind AS system_kind,"
    " sv.config AS system_config, sv.system_id, sy.name AS system_name, mo.name AS monitor_name,"
    " mo.status = 'deleted' AS monitor_deleted, sc.name AS schedule_name, c.*,"
    f" {PREVIOUS_RUN_ID} AS previous_run_id"
    # A monitor's run has no testset: its records are logged calls.
    " FROM runs r LEFT JOIN testsets t ON t.id = r.testset_id LEFT JOIN monitors mo ON mo.id = r.monitor_id"
    " LEFT JOIN schedules sc ON sc.id = r.schedule_id"
    " LEFT JOIN system_versions sv ON sv.id = r.system_version_id LEFT JOIN systems sy ON sy.id = sv.system_id"
    " LEFT JOIN LATERAL (SELECT coalesce(sum(records), 0)::int AS records,"
    "   coalesce(sum(errored), 0)::int AS errored_records, coalesce(sum(latency_ms), 0) AS latency_ms_total,"
    "   coalesce(sum(prompt_tokens), 0)::bigint AS record_prompt_tokens,"
    "   coalesce(sum(completion_tokens), 0)::bigint AS record_completion_tokens,"
    "   coalesce(sum(cost_usd), 0) AS record_cost_usd, coalesce(sum(costed), 0)::int AS costed_records"
    "   FROM run_record_counts WHERE run_id = r.id) c ON true" + previous_run_joins("r")
)

# The pinned metric versions of each run, in kick-off order, with aggregates summed over shards
# and trials.
_METRICS = (
    "SELECT r.id AS run_id, v.id AS metric_version_id, v.metric_id, v.version, m.name, v.output_type, v.eval_type,"
    " coalesce(a.scored, 0) AS scored, coalesce(a.passed, 0) AS passed, coalesce(a.errored, 0) AS errored,"
    " coalesce(a.true_pos, 0) AS true_pos, coalesce(a.false_pos, 0) AS false_pos,"
    " coalesce(a.false_neg, 0) AS false_neg, coalesce(a.true_neg, 0) AS true_neg,"
    " coalesce(a.prompt_tokens, 0) AS prompt_tokens, coalesce(a.completion_tokens, 0) AS completion_tokens,"
    " coalesce(a.cost_usd, 0) AS cost_usd"
    " FROM runs r CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
    " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
    " LEFT JOIN LATERAL (SELECT sum(scored)::int AS scored, sum(passed)::int AS passed, sum(errored)::int AS errored,"
    "   sum(true_pos)::int AS true_pos, sum(false_pos)::int AS false_pos, sum(false_neg)::int AS false_neg,"
    "   sum(true_neg)::int AS true_neg, sum(prompt_tokens)::bigint AS prompt_tokens,"
    "   sum(completion_tokens)::bigint AS completion_tokens, sum(cost_usd) AS cost_usd"
    "   FROM run_metric_aggregates WHERE run_id = r.id AND metric_version_id = v.id) a ON true"
    " WHERE r.id = ANY($1::uuid[]) ORDER BY r.id, p.n"
)

# Per run, metric version and trial: the sums behind means, standard deviations and intervals.
_TRIALS = (
    "SELECT run_id, metric_version_id, trial, sum(scored)::int AS scored, sum(passed)::int AS passed,"
    " sum(sum) AS sum, sum(sum_sq) AS sum_sq FROM run_metric_aggregates WHERE run_id = ANY($1::uuid[])"
    " GROUP BY run_id, metric_version_id, trial ORDER BY run_id, metric_version_id, trial"
)


def select_runs(where: Where, request: pb.ListRunsRequest | pb.GetRunHistoryRequest) -> None:
    """The run filters ListRuns and GetRunHistory share (runs aliased ``r``): sources, testset,
    monitor, schedule, system version, system, tags and the created time range. Playground tries
    are never listed (the playground lists them); a run kicked off from the playground is. Archived
    runs are left out, unless ListRuns asks for them alone."""
    where.add("NOT r.playground_try")
    archived = isinstance(request, pb.ListRunsRequest) and request.archived
    where.add("r.archived_at IS NOT NULL" if archived else "r.archived_at IS NULL")
    if isinstance(request, pb.ListRunsRequest) and request.created_by_key_prefix:
        where.add(f"r.created_by_key_prefix = {where.param(request.created_by_key_prefix)}")
    if sources := filters.sources(request.sources):
        where.add(f"r.source = ANY({where.param(sources)}::text[])")
    if testset_id := filters.optional_uuid(request.testset_id, "testset_id"):
        where.add(f"r.testset_id = {where.param(testset_id)}")
    if monitor_id := filters.optional_uuid(request.monitor_id, "monitor_id"):
        where.add(f"r.monitor_id = {where.param(monitor_id)}")
    if schedule_id := filters.optional_uuid(request.schedule_id, "schedule_id"):
        where.add(f"r.schedule_id = {where.param(schedule_id)}")
    if system_version_id := filters.optional_uuid(request.system_version_id, "system_version_id"):
        where.add(f"r.system_version_id = {where.param(system_version_id)}")
    if system_id := filters.optional_uuid(request.system_id, "system_id"):
        where.add(f"r.system_version_id IN (SELECT id FROM system_versions WHERE system_id = {where.param(system_id)})")
    if request.tags:
        where.add(f"r.tags @> {where.param(list(request.tags))}::text[]")
    after, before = filters.time_range(request.created_after, request.created_before)
    if after is not None:
        where.add(f"r.created_at >= {where.param(after)}")
    if before is not None:
        where.add(f"r.created_at < {where.param(before)}")


# A live run's latency percentiles are recomputed at most this often (seconds), for this many runs.
LIVE_TTL_S = 5.0
LIVE_RUNS = 1024


class RunReads:
    """GetRun and ListRuns."""

    def __init__(self, reader: Reader, public_url: str) -> None:
        self._reader = reader
        self._public_url = public_url.rstrip("/")
        # Live runs' latency percentiles, by run: GetRun is polled (a watch, a run page, a
        # benchmark every 0.1 s) and each computation reads every record of the run.
        self._live: TTLCache[uuid.UUID, list[float] | None] = TTLCache(maxsize=LIVE_RUNS, ttl=LIVE_TTL_S)

    async def _so_far(self, conn: Connection, run_id: uuid.UUID) -> list[float] | None:
        """The percentiles of a run still going, of its records so far: at most every LIVE_TTL_S."""
        if run_id not in self._live:
            self._live[run_id] = await latency.so_far(conn, run_id)
        return self._live[run_id]

    async def get_run(self, request: pb.GetRunRequest) -> pb.RunView:
        run_id = parse_uuid(request.run_id, "run_id")
        async with self._reader.snapshot() as conn:
            rows = await conn.fetch(_RUNS + " WHERE r.id = $1", run_id)
            if not rows:
                raise not_found(f"run {request.run_id} does not exist")
            transitions = await conn.fetch(
                "SELECT status, at FROM run_status_transitions WHERE run_id = $1 ORDER BY at", run_id
            )
            (view,) = await self._views(conn, rows)
            live = view.records and view.status not in latency.SETTLED and not view.totals.HasField("latency_p50_ms")
            if live and (found := await self._so_far(conn, run_id)) is not None:
                view.totals.latency_p50_ms, view.totals.latency_p95_ms, view.totals.latency_p99_ms = found
                view.totals.latency_live = True
        view.transitions.extend(pb.StatusTransition(status=t["status"], at=timestamp(t["at"])) for t in transitions)
        return view

    async def list_runs(self, request: pb.ListRunsRequest) -> pb.ListRunsResponse:
        project_id = parse_uuid(request.project_id, "project_id")
        size = filters.page_size(request.page_size)
        where = Where()
        where.add(f"r.project_id = {where.param(project_id)}")
        select_runs(where, request)
        if statuses := filters.run_statuses(request.statuses):
            where.add(f"r.status = ANY({where.param(statuses)}::text[])")
        if request.page_token:
            position = page_tokens.decode(request.page_token, ("c", "id"), request)
            created_at, last_id = page_tokens.timestamp(position["c"]), page_tokens.uuid_of(position["id"])
            where.add(f"(r.created_at, r.id) < ({where.param(created_at)}, {where.param(last_id)})")
        async with self._reader.snapshot() as conn:
            if not await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id):
                raise not_found(f"project {request.project_id} does not exist")
            rows = await conn.fetch(
                f"{_RUNS} WHERE {where.sql()} ORDER BY r.created_at DESC, r.id DESC LIMIT {where.param(size + 1)}",
                *where.args,
            )
            page = rows[:size]
            views = await self._views(conn, page)
        token = ""
        if len(rows) > size:
            token = page_tokens.encode({"c": page[-1]["created_at"].isoformat(), "id": str(page[-1]["id"])}, request)
        return pb.ListRunsResponse(runs=views, next_page_token=token)

    async def _views(self, conn: Connection, rows: list[asyncpg.Record]) -> list[pb.RunView]:
        ids = [r["id"] for r in rows]
        metrics: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
        for m in await conn.fetch(_METRICS, ids):
            metrics[m["run_id"]].append(m)
        trials: dict[tuple[uuid.UUID, uuid.UUID], list[TrialSums]] = defaultdict(list)
        for t in await conn.fetch(_TRIALS, ids):
            trials[t["run_id"], t["metric_version_id"]].append(
                TrialSums(t["trial"], t["scored"], t["passed"], t["sum"], t["sum_sq"])
            )
        return [self._view(r, metrics[r["id"]], trials) for r in rows]

    def _view(
        self,
        run: asyncpg.Record,
        metrics: list[asyncpg.Record],
        trials: dict[tuple[uuid.UUID, uuid.UUID], list[TrialSums]],
    ) -> pb.RunView:
        completed_records = run["records"] - run["errored_records"]
        summaries = [metric_summary(m, trials[run["id"], m["metric_version_id"]], completed_records) for m in metrics]
        end = run["finished_at"] or datetime.now(UTC)
        view = pb.RunView(
            id=str(run["id"]),
            project_id=str(run["project_id"]),
            testset_id=str(run["testset_id"] or ""),
            testset_version=run["testset_version"],
            testset_name=run["testset_name"] or "",
            monitor_id=str(run["monitor_id"] or ""),
            monitor_name=run["monitor_name"] or "",
            monitor_deleted=bool(run["monitor_deleted"]),
            schedule_id=str(run["schedule_id"] or ""),
            schedule_name=run["schedule_name"] or "",
            previous_run_id=str(run["previous_run_id"] or ""),
            archived_at=timestamp(run["archived_at"]),
            subset=dict_to_struct(run["subset"] or {}),
            tags=run["tags"],
            created_by=run["created_by"],
            created_by_key_prefix=run["created_by_key_prefix"],
            system_version_id=str(run["system_version_id"] or ""),
            source=run["source"],
            status=run["status"],
            trials=run["trials"],
            expected_records=run["expected_records"],
            records=run["records"],
            errored_records=run["errored_records"],
            expected_scores=completed_records * len(summaries),
            scores=sum(s.scored + s.errored for s in summaries),
            metrics=summaries,
            notes=run["notes"],
            created_at=timestamp(run["created_at"]),
            started_at=timestamp(run["started_at"]),
            finished_at=timestamp(run["finished_at"]),
            duration_s=(end - run["created_at"]).total_seconds(),
            url=f"{self._public_url}/projects/{run['project_id']}/runs/{run['id']}",
            status_explanation=run_explanation(
                run["status"],
                run["expected_records"],
                run["records"],
                run["errored_records"],
                [progress(m) for m in summaries],
                run["error"],
                run["retries"],
            ),
            error=run["error"],
            retries=run["retries"],
            totals=pb.RunTotals(
                latency_ms_total=run["latency_ms_total"],
                prompt_tokens=run["record_prompt_tokens"],
                completion_tokens=run["record_completion_tokens"],
                cost_usd=run["record_cost_usd"],
                costed_records=run["costed_records"],
                judge_prompt_tokens=sum(s.judge_prompt_tokens for s in summaries),
                judge_completion_tokens=sum(s.judge_completion_tokens for s in summaries),
                judge_cost_usd=sum(s.judge_cost_usd for s in summaries),
            ),
        )
        if run["records"]:
            view.totals.latency_ms_mean = run["latency_ms_total"] / run["records"]
        if run["latency_p50_ms"] is not None:
            view.totals.latency_p50_ms = run["latency_p50_ms"]
            view.totals.latency_p95_ms = run["latency_p95_ms"]
            view.totals.latency_p99_ms = run["latency_p99_ms"]
        if run["llm_config"] is not None:  # a playground try: the prompt it was given
            view.system_version.CopyFrom(pb.SystemVersionView(kind="llm", config=dict_to_struct(run["llm_config"])))
        if run["system_version_id"] is not None:
            view.system_version.CopyFrom(
                pb.SystemVersionView(
                    id=str(run["system_version_id"]),
                    name=run["system_version_name"],
                    kind=run["system_kind"],
                    config=dict_to_struct(run["system_config"]),
                    system_id=str(run["system_id"]),
                    system_name=run["system_name"],
                )
            )
        return view
