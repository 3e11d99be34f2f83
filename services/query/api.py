"""QueryService (proto/scorekeeper/v1/query.proto): one implementation behind gRPC and HTTP."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import cursor
from services.query.explanation import MetricProgress, metric_explanation, run_explanation
from services.query.repository import QueryRepository
from shared.edge.convert import dict_to_struct, parse_uuid, python_to_value, timestamp
from shared.edge.errors import invalid, not_found
from shared.scoring.stats import Confusion, TrialSums, summarize

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _summary(row: asyncpg.Record, trials: list[TrialSums], completed_records: int) -> pb.MetricSummary:
    scored = row["scored"]
    summary = pb.MetricSummary(
        metric_id=str(row["metric_id"]),
        metric_version_id=str(row["metric_version_id"]),
        name=row["name"],
        output_type=row["output_type"],
        eval_type=row["eval_type"],
        scored=scored,
        passed=row["passed"],
        errored=row["errored"],
        pending=max(completed_records - scored - row["errored"], 0),
        judge_prompt_tokens=row["prompt_tokens"],
        judge_completion_tokens=row["completion_tokens"],
        judge_cost_usd=row["cost_usd"],
    )
    summary.explanation = metric_explanation(_progress(summary))
    confusion = Confusion(row["true_pos"], row["false_pos"], row["false_neg"], row["true_neg"])
    stats = summarize(row["output_type"], trials, confusion)
    summary.labelled = confusion.labelled
    summary.ci_method = stats.ci_method
    for field in ("pass_rate", "mean", "std_dev", "ci_low", "ci_high", "precision", "recall", "f1"):
        value = getattr(stats, field)
        if value is not None:
            setattr(summary, field, value)
    return summary


def _progress(m: pb.MetricSummary) -> MetricProgress:
    return MetricProgress(m.name, m.eval_type, m.scored, m.errored, m.pending)


def _score_pb(row: asyncpg.Record) -> pb.ScoreView:
    view = pb.ScoreView(
        id=str(row["id"]),
        metric_id=str(row["metric_id"]),
        metric_version_id=str(row["metric_version_id"]),
        metric_name=row["metric_name"],
        status=row["status"],
        reasoning=row["reasoning"],
        error=row["error"],
        scored_at=timestamp(row["scored_at"]),
        reviewer=row["reviewer"],
        comment=row["comment"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
    )
    if row["value"] is not None:
        view.value.CopyFrom(python_to_value(row["value"]))
    if row["passed"] is not None:
        view.passed = row["passed"]
    if row["cost_usd"] is not None:
        view.cost_usd = row["cost_usd"]
    return view


def _record_pb(r: asyncpg.Record, scores: list[pb.ScoreView]) -> pb.RecordView:
    view = pb.RecordView(
        id=str(r["id"]),
        run_id=str(r["run_id"]),
        testcase_id=str(r["testcase_id"]),
        trial=r["trial"],
        status=r["status"],
        inputs=dict_to_struct(r["inputs"]),
        expected=dict_to_struct(r["expected"]),
        outputs=dict_to_struct(r["outputs"]),
        metadata=dict_to_struct(r["metadata"]),
        error=r["error"],
        latency_ms=r["latency_ms"],
        prompt_tokens=r["prompt_tokens"],
        completion_tokens=r["completion_tokens"],
        scores=scores,
        created_at=timestamp(r["created_at"]),
        tags=list(r["tags"]),
    )
    if r["cost_usd"] is not None:
        view.cost_usd = r["cost_usd"]
    return view


class QueryApi:
    def __init__(self, repo: QueryRepository, public_url: str) -> None:
        self._repo = repo
        self._public_url = public_url.rstrip("/")

    async def get_run(self, request: pb.GetRunRequest) -> pb.RunView:
        run_id = parse_uuid(request.run_id, "run_id")
        run = await self._repo.run(run_id)
        if run is None:
            raise not_found(f"run {request.run_id} does not exist")
        completed_records = run["records"] - run["errored_records"]
        trials: dict[uuid.UUID, list[TrialSums]] = defaultdict(list)
        for t in await self._repo.run_metric_trials(run_id):
            trials[t["metric_version_id"]].append(
                TrialSums(t["trial"], t["scored"], t["passed"], t["sum"], t["sum_sq"])
            )
        summaries = [
            _summary(r, trials[r["metric_version_id"]], completed_records) for r in await self._repo.run_metrics(run_id)
        ]
        end = run["finished_at"] or datetime.now(UTC)
        return pb.RunView(
            id=str(run["id"]),
            project_id=str(run["project_id"]),
            testset_id=str(run["testset_id"]),
            testset_version=run["testset_version"],
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
            url=f"{self._public_url}/v1/runs/{run['id']}",
            status_explanation=run_explanation(
                run["status"],
                run["expected_records"],
                run["records"],
                run["errored_records"],
                [_progress(m) for m in summaries],
                run["error"],
            ),
            error=run["error"],
        )

    async def list_records(self, request: pb.ListRecordsRequest) -> pb.ListRecordsResponse:
        run_id = parse_uuid(request.run_id, "run_id")
        size = request.page_size or DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            raise invalid(f"page_size must be within 1..{MAX_PAGE}, got {request.page_size}")
        after = None
        if request.page_token:
            position = cursor.decode(request.page_token, ("after",))
            after = parse_uuid(str(position["after"]), "page_token")
        if not await self._repo.run_exists(run_id):
            raise not_found(f"run {request.run_id} does not exist")
        rows = await self._repo.records_page(run_id, after, size + 1)
        page, more = rows[:size], len(rows) > size
        scores: dict[uuid.UUID, list[pb.ScoreView]] = defaultdict(list)
        for row in await self._repo.scores_of([r["id"] for r in page]):
            scores[row["record_id"]].append(_score_pb(row))
        return pb.ListRecordsResponse(
            records=[_record_pb(r, scores[r["id"]]) for r in page],
            next_page_token=cursor.encode({"after": str(page[-1]["id"])}) if more else "",
        )
