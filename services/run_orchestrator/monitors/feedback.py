"""Feedback on logged calls (SendFeedback): each item checked against the project's metrics, then
the whole request written in one transaction once every call it names is found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from scorekeeper.v1 import monitors_pb2 as pb

from services.run_orchestrator.monitors import rules
from services.run_orchestrator.runs.rules import MAX_ERROR_CHARS, human_value
from shared.edge.convert import value_to_python
from shared.edge.errors import invalid, not_found
from shared.ids import call_id_of
from shared.scoring.eval_types import FEEDBACK_EVAL_TYPES, scored_by_platform
from shared.scoring.metric import passes

MAX_FEEDBACK_PER_REQUEST = 1000


@dataclass(frozen=True)
class Verdict:
    """One item, checked: the value is None when it takes the feedback back."""

    call_id: uuid.UUID
    call_text: str
    metric_id: uuid.UUID
    metric_version_id: uuid.UUID
    value: float | None
    passed: bool
    comment: str
    author: str


@dataclass(frozen=True)
class FeedbackOutcome:
    stored: int
    replaced: int
    removed: int


def _metric(i: int, ref: str, metrics: list[asyncpg.Record]) -> asyncpg.Record:
    field = f"feedback[{i}].metric"
    if not ref.strip():
        raise ValueError(f"{field} is required: a metric of eval type human or code, by id or name")
    found = [m for m in metrics if str(m["metric_id"]) == ref.lower() or m["name"] == ref]
    if not found:
        raise ValueError(f"{field}: unknown metric {ref[:200]!r} in this project")
    if len(found) > 1:
        raise ValueError(f"{field}: the metric name {ref!r} is ambiguous in this project; use its id")
    metric = found[0]
    takes_feedback(field, metric, "give feedback on it")
    return metric


def takes_feedback(field: str, metric: asyncpg.Record, purpose: str) -> None:
    """ValueError unless the metric (its latest version) takes users' feedback: of eval type human
    or code (the platform scores the others), and not archived (``purpose``: what bringing it back
    allows)."""
    if metric["eval_type"] not in FEEDBACK_EVAL_TYPES:
        raise ValueError(
            f"{field}: {scored_by_platform(metric['name'], metric['eval_type'])};"
            " users' feedback goes to metrics of eval type human or code"
        )
    if metric["archived_at"] is not None:
        raise ValueError(f"{field}: {metric['name']!r} is archived; bring it back to {purpose}")


def verdict(i: int, item: pb.Feedback, metrics: list[asyncpg.Record]) -> Verdict:
    """One item checked against the project's metrics (their latest versions); ValueError names
    the field as feedback[i].field."""
    if not item.call_id.strip() or len(item.call_id) > rules.MAX_ID_TEXT:
        raise ValueError(
            f"feedback[{i}].call_id must be the id a call was logged with (1..{rules.MAX_ID_TEXT} characters)"
        )
    metric = _metric(i, item.metric, metrics)
    if len(item.comment) > MAX_ERROR_CHARS:
        raise ValueError(f"feedback[{i}].comment must be at most {MAX_ERROR_CHARS:,} characters")
    if len(item.author) > rules.MAX_ID_TEXT:
        raise ValueError(f"feedback[{i}].author must be at most {rules.MAX_ID_TEXT} characters")
    if not item.HasField("value"):  # an explicit null takes feedback back; a forgotten value does not
        raise ValueError(f"feedback[{i}].value is required: true / false, a number, or null to take the feedback back")
    try:
        raw: Any = value_to_python(item.value)
    except ValueError:  # inf or NaN, which JSON cannot hold
        raise ValueError(f"feedback[{i}].value must be true / false, a finite number or null") from None
    value: float | None = None
    passed = False
    if raw is not None:
        try:
            given = human_value(metric["output_type"], raw)
        except ValueError as exc:
            raise ValueError(f"feedback[{i}].{exc} ({metric['name']!r})") from exc
        value = float(given)
        passed = passes(metric["output_type"], given, metric["passing_threshold"])
    return Verdict(
        call_id=call_id_of(item.call_id),
        call_text=item.call_id,
        metric_id=metric["metric_id"],
        metric_version_id=metric["version_id"],
        value=value,
        passed=passed,
        comment=item.comment,
        author=item.author.strip(),
    )


def once_each(verdicts: list[Verdict]) -> None:
    """A call and metric at most once per request."""
    seen: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for i, v in enumerate(verdicts):
        key = (v.call_id, v.metric_id)
        if key in seen:
            raise ValueError(f"feedback[{i}] repeats the call and metric of feedback[{seen[key]}] ({v.call_text})")
        seen[key] = i


class FeedbackRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def give(self, project_id: uuid.UUID, verdicts: list[Verdict]) -> FeedbackOutcome:
        """Every verdict written, or none: NOT_FOUND naming the first call the project never logged."""
        async with self._pool.acquire() as conn, conn.transaction():
            call_ids = list({v.call_id for v in verdicts})
            logged = {
                r["id"]: r["logged_at"]
                for r in await conn.fetch(
                    "SELECT id, logged_at FROM logged_calls WHERE project_id = $1 AND id = ANY($2::uuid[]) FOR SHARE",
                    project_id,
                    call_ids,
                )
            }
            for i, v in enumerate(verdicts):
                if v.call_id not in logged:
                    raise not_found(f"feedback[{i}].call_id {v.call_text[:200]!r} names no call logged in this project")
            given = [v for v in verdicts if v.value is not None]
            rows = await conn.fetch(
                "INSERT INTO call_feedback AS f"
                " (project_id, call_id, metric_id, metric_version_id, value, passed, comment, author, call_logged_at)"
                " SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::float8[], $6::bool[],"
                " $7::text[], $8::text[], $9::timestamptz[])"
                " ON CONFLICT (project_id, call_id, metric_id) DO UPDATE SET"
                " metric_version_id = excluded.metric_version_id, value = excluded.value,"
                " passed = excluded.passed, comment = excluded.comment,"
                " author = excluded.author, given_at = now()"
                " RETURNING (xmax = 0) AS inserted",
                project_id,
                [v.call_id for v in given],
                [v.metric_id for v in given],
                [v.metric_version_id for v in given],
                [v.value for v in given],
                [v.passed for v in given],
                [v.comment for v in given],
                [v.author for v in given],
                [logged[v.call_id] for v in given],
            )
            taken_back = [v for v in verdicts if v.value is None]
            removed = await conn.fetch(
                "DELETE FROM call_feedback f USING unnest($2::uuid[], $3::uuid[]) AS t(call_id, metric_id)"
                " WHERE f.project_id = $1 AND f.call_id = t.call_id AND f.metric_id = t.metric_id RETURNING 1",
                project_id,
                [v.call_id for v in taken_back],
                [v.metric_id for v in taken_back],
            )
        inserted = sum(1 for r in rows if r["inserted"])
        return FeedbackOutcome(stored=inserted, replaced=len(rows) - inserted, removed=len(removed))


class SendFeedback:
    def __init__(self, feedback: FeedbackRepository) -> None:
        self._feedback = feedback

    async def __call__(
        self, project_id: uuid.UUID, items: list[pb.Feedback], metrics: list[asyncpg.Record]
    ) -> FeedbackOutcome:
        """``metrics``: the latest version of each of the project's metrics."""
        if not items:
            raise invalid("feedback must hold at least one item")
        if len(items) > MAX_FEEDBACK_PER_REQUEST:
            raise invalid(f"at most {MAX_FEEDBACK_PER_REQUEST:,} feedback items per request, got {len(items):,}")
        try:
            verdicts = [verdict(i, item, metrics) for i, item in enumerate(items)]
            once_each(verdicts)
        except ValueError as exc:
            raise invalid(str(exc)) from exc
        return await self._feedback.give(project_id, verdicts)
