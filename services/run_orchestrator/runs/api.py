"""RunService (proto/scorekeeper/v1/runs.proto): proto ⇄ domain, then the use case."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from scorekeeper.v1 import runs_pb2 as pb

from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.runs import client_scores, rules, subsets
from services.run_orchestrator.runs.authors import the_caller
from services.run_orchestrator.runs.human_review import HumanReview
from services.run_orchestrator.runs.ingest import Ingest, Taken
from services.run_orchestrator.runs.kickoff import Kickoff, KickoffRequest
from services.run_orchestrator.runs.messages import run_pb
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.rescore import Rescore
from services.run_orchestrator.runs.retry import Retry
from shared import spans
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.run_status import ARCHIVABLE


def _ingested(i: int, r: pb.IngestedRecord, trials: int) -> dict[str, Any]:
    """One ingested record, checked, as ProducedRecord fields; ValueError names the field as records[i].field."""
    try:
        tid = uuid.UUID(r.testcase_id)
    except ValueError:
        raise ValueError(f"records[{i}].testcase_id {r.testcase_id!r} is not a valid id") from None
    if not 0 <= r.trial < trials:
        raise ValueError(f"records[{i}].trial must be within 0..{trials - 1}, got {r.trial}")
    status = r.status or "completed"
    if status not in ("completed", "errored"):
        raise ValueError(f"records[{i}].status must be completed or errored, got {r.status!r}")
    if len(r.error) > rules.MAX_ERROR_CHARS:
        raise ValueError(f"records[{i}].error must be at most {rules.MAX_ERROR_CHARS} characters")
    for field in ("latency_ms", "prompt_tokens", "completion_tokens", "cost_usd"):
        if getattr(r, field) < 0:
            raise ValueError(f"records[{i}].{field} must not be negative, got {getattr(r, field)}")
    return {
        "testcase_id": tid,
        "trial": r.trial,
        "outputs": struct_to_dict(r.outputs),
        "status": status,
        "error": r.error,
        "latency_ms": r.latency_ms,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_usd if r.HasField("cost_usd") else None,
        "scores": client_scores.parse(i, r.scores),
        "spans": spans.parse(r.spans, f"records[{i}].spans"),
    }


def _ref(taken: Taken) -> pb.IngestedRecordRef:
    return pb.IngestedRecordRef(
        index=taken.index, testcase_id=str(taken.testcase_id), trial=taken.trial, record_id=str(taken.record_id)
    )


class RunApi:
    def __init__(
        self,
        catalog_api: CatalogApi,
        runs: RunRepository,
        kickoff: Kickoff,
        rescore: Rescore,
        ingest: Ingest,
        human: HumanReview,
        retry: Retry,
    ) -> None:
        self._catalog_api = catalog_api
        self._runs = runs
        self._kickoff = kickoff
        self._rescore = rescore
        self._ingest = ingest
        self._human = human
        self._retry = retry

    async def _run(self, run_id: str) -> asyncpg.Record:
        row = await self._runs.get(parse_uuid(run_id, "run_id"))
        if row is None:
            raise not_found(f"run {run_id} does not exist")
        return row

    async def create_run(self, request: pb.CreateRunRequest) -> pb.Run:
        pid = await self._catalog_api.project(request.project_id)
        source, trials = checked(rules.validate_run, request.source, request.trials, request.max_concurrency)
        group = request.metric_group_id
        kickoff = KickoffRequest(
            project_id=pid,
            testset_id=parse_uuid(request.testset_id, "testset_id"),
            system_version_id=parse_uuid(request.system_version_id, "system_version_id"),
            source=source,
            trials=trials,
            metric_ids=[parse_uuid(m, "metric_ids") for m in request.metric_ids],
            metric_group_id=parse_uuid(group, "metric_group_id") if group else None,
            max_concurrency=request.max_concurrency or None,
            notes=request.notes,
            subset=subsets.parse(request),
            tags=checked(rules.run_tags, [], list(request.tags), []),
            created_by=the_caller(),
        )
        return run_pb(await self._kickoff(kickoff))

    async def update_run_notes(self, request: pb.UpdateRunNotesRequest) -> pb.Run:
        run = await self._run(request.run_id)
        row = await self._runs.update_notes(run["id"], checked(rules.check_notes, request.notes))
        assert row is not None
        return run_pb(row)

    async def update_run_tags(self, request: pb.UpdateRunTagsRequest) -> pb.Run:
        run = await self._run(request.run_id)
        add, remove = list(request.add), list(request.remove)
        checked(rules.run_tags, [], add, remove)  # malformed before the row is locked
        row = await self._runs.update_tags(run["id"], lambda current: checked(rules.run_tags, current, add, remove))
        if row is None:
            raise not_found(f"run {request.run_id} does not exist")
        return run_pb(row)

    async def cancel_run(self, request: pb.CancelRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        row = await self._runs.cancel(run["id"])
        if row is None:
            now = await self._runs.get(run["id"])
            raise ApiError(Code.FAILED_PRECONDITION, f"run {request.run_id} is already {(now or run)['status']}")
        if row["retries"]:
            await self._retry.cancelled(row["id"])
        return run_pb(row)

    async def archive_run(self, request: pb.ArchiveRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        row = await self._runs.archive(run["id"], sorted(ARCHIVABLE))
        if row is None:
            now = await self._runs.get(run["id"]) or run
            if now["archived_at"] is not None:
                raise ApiError(Code.FAILED_PRECONDITION, f"run {request.run_id} is already archived")
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {request.run_id} is {now['status']}: cancel it, or let it finish, before archiving it",
            )
        return run_pb(row)

    async def unarchive_run(self, request: pb.UnarchiveRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        row = await self._runs.unarchive(run["id"])
        if row is None:
            raise ApiError(Code.FAILED_PRECONDITION, f"run {request.run_id} is not archived")
        return run_pb(row)

    async def rescore_run(self, request: pb.RescoreRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        choices = [
            (
                parse_uuid(c.metric_id, f"metrics[{i}].metric_id"),
                parse_uuid(c.version_id, f"metrics[{i}].version_id") if c.version_id else None,
            )
            for i, c in enumerate(request.metrics)
        ]
        return run_pb(await self._rescore(run, choices))

    async def submit_human_score(self, request: pb.SubmitHumanScoreRequest) -> pb.SubmitHumanScoreResponse:
        target = await self._human.target(request.record_id, request.metric_id)
        value = request.value if request.HasField("value") else None
        verdict = await self._human.submit(target, value, request.reviewer, request.comment)
        return pb.SubmitHumanScoreResponse(score_id=str(verdict.score_id), passed=verdict.passed)

    async def retry_errored_records(self, request: pb.RetryErroredRecordsRequest) -> pb.RetryErroredRecordsResponse:
        started = await self._retry(await self._run(request.run_id))
        return pb.RetryErroredRecordsResponse(run=run_pb(started.run), retried=started.retried, retry=started.retry)

    async def ingest_records(self, request: pb.IngestRecordsRequest) -> pb.IngestRecordsResponse:
        run = await self._run(request.run_id)
        if not request.records:
            raise invalid("records must hold at least one record")
        if len(request.records) > rules.MAX_INGEST:
            raise invalid(f"at most {rules.MAX_INGEST} records per call, got {len(request.records)}")
        records = [checked(_ingested, i, r, run["trials"]) for i, r in enumerate(request.records)]
        outcome = await self._ingest(run, records)
        return pb.IngestRecordsResponse(
            accepted=len(outcome.stored) + len(outcome.refused),
            stored=[_ref(t) for t in outcome.stored],
            duplicates=[_ref(t) for t in outcome.duplicates],
            refused=[pb.RefusedRecord(record=_ref(t), reason=t.reason) for t in outcome.refused],
        )

    async def tag_records(self, request: pb.TagRecordsRequest) -> pb.TagRecordsResponse:
        run = await self._run(request.run_id)
        ids = [parse_uuid(r, "record_ids") for r in request.record_ids]
        if not ids:
            raise invalid("record_ids must name at least one record")
        checked(rules.check_tags, [*request.add, *request.remove])
        updated = await self._runs.tag_records(run["id"], ids, list(request.add), list(request.remove))
        return pb.TagRecordsResponse(updated=updated)
