"""Database rows to the messages of query.proto."""

from __future__ import annotations

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query.explanation import MetricProgress, metric_explanation
from shared.edge.convert import dict_to_struct, python_to_value, timestamp
from shared.scoring.stats import Confusion, TrialSums, summarize


def metric_summary(row: asyncpg.Record, trials: list[TrialSums], completed_records: int) -> pb.MetricSummary:
    """A run's aggregates of one pinned metric version (summed over shards and trials)."""
    scored = row["scored"]
    summary = pb.MetricSummary(
        metric_id=str(row["metric_id"]),
        metric_version_id=str(row["metric_version_id"]),
        metric_version=row["version"],
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
    summary.explanation = metric_explanation(progress(summary))
    confusion = Confusion(row["true_pos"], row["false_pos"], row["false_neg"], row["true_neg"])
    stats = summarize(row["output_type"], trials, confusion)
    summary.labelled = confusion.labelled
    summary.ci_method = stats.ci_method
    for field in ("pass_rate", "mean", "std_dev", "ci_low", "ci_high", "precision", "recall", "f1"):
        value = getattr(stats, field)
        if value is not None:
            setattr(summary, field, value)
    return summary


def progress(m: pb.MetricSummary) -> MetricProgress:
    return MetricProgress(m.name, m.eval_type, m.scored, m.errored, m.pending)


def score_view(row: asyncpg.Record) -> pb.ScoreView:
    view = pb.ScoreView(
        id=str(row["id"]),
        metric_id=str(row["metric_id"]),
        metric_version_id=str(row["metric_version_id"]),
        metric_version=row["metric_version"],
        current=row["current"],
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


def record_view(r: asyncpg.Record, scores: list[pb.ScoreView]) -> pb.RecordView:
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


def attempt_view(row: asyncpg.Record) -> pb.RecordAttempt:
    """What a record was before a retry replaced it."""
    view = pb.RecordAttempt(
        attempt=row["attempt"],
        status=row["status"],
        error=row["error"],
        outputs=dict_to_struct(row["outputs"]),
        latency_ms=row["latency_ms"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        retry=row["retry"],
        replaced_at=timestamp(row["replaced_at"]),
    )
    if row["cost_usd"] is not None:
        view.cost_usd = row["cost_usd"]
    return view
