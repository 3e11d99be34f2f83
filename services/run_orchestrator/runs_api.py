"""RunService (proto/scorekeeper/v1/runs.proto): kick-off and the rest of a run's lifecycle."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
from scorekeeper.v1 import runs_pb2 as pb

from services.run_orchestrator import catalog
from services.run_orchestrator.api import CatalogApi
from services.run_orchestrator.repository import CatalogRepository
from services.run_orchestrator.run_repository import RunRepository
from services.run_orchestrator.testsets.repository import TestsetRepository
from shared import metrics
from shared.edge.convert import parse_uuid, struct_to_dict, timestamp, value_to_python
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.events import HumanVerdict, RecordProduced, RunCreated, ScoreRequested
from shared.ids import record_id, score_id
from shared.json_limits import storable
from shared.logs import correlation_id
from shared.messaging.bus import Bus
from shared.scoring.metric import passes

log = logging.getLogger(__name__)


def run_pb(row: asyncpg.Record) -> pb.Run:
    return pb.Run(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        testset_id=str(row["testset_id"]),
        testset_version=row["testset_version"],
        system_version_id=str(row["system_version_id"]),
        metric_version_ids=[str(m) for m in row["metric_version_ids"]],
        source=row["source"],
        status=row["status"],
        trials=row["trials"],
        expected_records=row["expected_records"],
        notes=row["notes"],
        created_at=timestamp(row["created_at"]),
    )


def human_value(output_type: str, raw: Any) -> bool | int | float:
    """A reviewer's value checked against the metric's output type."""
    if output_type == "boolean":
        if not isinstance(raw, bool):
            raise ValueError(f"value must be true or false for a boolean metric, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"value must be a number for a {output_type} metric, got {raw!r}")
    if output_type == "int":
        if raw != int(raw) or not 1 <= raw <= 5:
            raise ValueError(f"value must be a whole number within 1..5 for an int metric, got {raw!r}")
        return int(raw)
    if not 0 <= raw <= 1:
        raise ValueError(f"value must be within 0..1 for a float metric, got {raw!r}")
    return float(raw)


MAX_INGEST = 1000
MAX_ERROR_CHARS = 10_000


def _ingested(i: int, r: pb.IngestedRecord, trials: int) -> dict[str, Any]:
    """One ingested record, checked, as RecordProduced fields; ValueError names the field as records[i].field."""
    try:
        tid = uuid.UUID(r.testcase_id)
    except ValueError:
        raise ValueError(f"records[{i}].testcase_id {r.testcase_id!r} is not a valid id") from None
    if not 0 <= r.trial < trials:
        raise ValueError(f"records[{i}].trial must be within 0..{trials - 1}, got {r.trial}")
    status = r.status or "completed"
    if status not in ("completed", "errored"):
        raise ValueError(f"records[{i}].status must be completed or errored, got {r.status!r}")
    if len(r.error) > MAX_ERROR_CHARS:
        raise ValueError(f"records[{i}].error must be at most {MAX_ERROR_CHARS} characters")
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
    }


class RunApi:
    def __init__(
        self,
        catalog_api: CatalogApi,
        catalog_repo: CatalogRepository,
        testsets: TestsetRepository,
        runs: RunRepository,
        bus: Bus,
    ) -> None:
        self._catalog_api = catalog_api
        self._catalog = catalog_repo
        self._testsets = testsets
        self._runs = runs
        self._bus = bus

    async def _run(self, run_id: str) -> asyncpg.Record:
        rid = parse_uuid(run_id, "run_id")
        row = await self._runs.get(rid)
        if row is None:
            raise not_found(f"run {run_id} does not exist")
        return row

    async def _metric_versions(
        self, project_id: uuid.UUID, metric_ids: list[uuid.UUID], field: str = "metric_ids"
    ) -> list[asyncpg.Record]:
        """The latest version of each metric, in the order given; NOT_FOUND names the missing ones."""
        if len(set(metric_ids)) != len(metric_ids):
            raise invalid(f"{field} lists a metric twice")
        found = {r["metric_id"]: r for r in await self._catalog.latest_metric_versions(project_id, metric_ids)}
        missing = [str(m) for m in metric_ids if m not in found]
        if missing:
            raise not_found(f"metric(s) {', '.join(missing)} do not exist in project {project_id}")
        return [found[m] for m in metric_ids]

    async def create_run(self, request: pb.CreateRunRequest) -> pb.Run:
        pid = await self._catalog_api.project(request.project_id)
        source, trials = checked(catalog.validate_run, request.source, request.trials, request.max_concurrency)
        tid = parse_uuid(request.testset_id, "testset_id")
        testset = await self._testsets.get_testset(tid)
        if testset is None or testset["project_id"] != pid:
            raise not_found(f"testset {request.testset_id} does not exist in project {request.project_id}")
        if testset["testcase_count"] == 0:
            raise invalid(f"testset {request.testset_id} has no testcases")
        vid = parse_uuid(request.system_version_id, "system_version_id")
        version = await self._catalog.get_system_version(vid)
        if version is None or version["project_id"] != pid:
            raise not_found(
                f"system version {request.system_version_id} does not exist in project {request.project_id}"
            )
        metric_ids = [parse_uuid(m, "metric_ids") for m in request.metric_ids]
        if request.metric_group_id:
            group = await self._catalog.metric_group(parse_uuid(request.metric_group_id, "metric_group_id"))
            if group is None or group["project_id"] != pid:
                raise not_found(f"metric group {request.metric_group_id} does not exist in project {pid}")
            metric_ids += [m for m in group["metric_ids"] if m not in metric_ids]
        versions = await self._metric_versions(pid, metric_ids)
        run = await self._runs.create_run(
            project_id=pid,
            testset_id=tid,
            testset_version=testset["version"],
            system_version_id=vid,
            metric_version_ids=[v["version_id"] for v in versions],
            human_metric_version_ids=[v["version_id"] for v in versions if v["eval_type"] == "human"],
            source=source,
            trials=trials,
            max_concurrency=request.max_concurrency or None,
            expected_records=testset["testcase_count"] * trials,
            notes=request.notes,
        )
        token = correlation_id.set(f"run:{run['id']}")
        try:
            await self._bus.publish(RunCreated(run_id=run["id"], project_id=pid, correlation_id=correlation_id.get()))
        except Exception as exc:
            log.exception("could not publish run.created")
            await self._runs.set_status(
                run["id"], "failed", only_from=("pending",), error=f"could not publish run.created: {exc!r}"
            )
            metrics.RUN_TRANSITIONS.labels("failed").inc()
            raise ApiError(Code.UNAVAILABLE, "the event bus is unavailable; the run was marked failed") from exc
        finally:
            correlation_id.reset(token)
        updated = await self._runs.set_status(run["id"], "awaiting_execution", only_from=("pending",))
        metrics.RUN_TRANSITIONS.labels("awaiting_execution").inc()
        log.info("run created", extra={"run_id": str(run["id"]), "expected_records": run["expected_records"]})
        return run_pb(updated or run)

    async def update_run_notes(self, request: pb.UpdateRunNotesRequest) -> pb.Run:
        run = await self._run(request.run_id)
        if len(request.notes) > 100_000:
            raise invalid(f"notes must be at most 100000 characters, got {len(request.notes)}")
        row = await self._runs.update_notes(run["id"], request.notes)
        assert row is not None
        return run_pb(row)

    async def cancel_run(self, request: pb.CancelRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        row = await self._runs.cancel(run["id"])
        if row is None:
            raise ApiError(Code.FAILED_PRECONDITION, f"run {request.run_id} is already {run['status']}")
        metrics.RUN_TRANSITIONS.labels("cancelled").inc()
        return run_pb(row)

    async def rescore_run(self, request: pb.RescoreRunRequest) -> pb.Run:
        run = await self._run(request.run_id)
        if not request.metrics:
            raise invalid("metrics must name at least one metric to re-score with")
        chosen: list[asyncpg.Record] = []
        for i, choice in enumerate(request.metrics):
            mid = parse_uuid(choice.metric_id, f"metrics[{i}].metric_id")
            versions = {v["version_id"]: v for v in await self._catalog.metric_versions(mid)}
            if not versions or next(iter(versions.values()))["project_id"] != run["project_id"]:
                raise not_found(f"metric {choice.metric_id} does not exist in the run's project")
            if choice.version_id:
                vid = parse_uuid(choice.version_id, f"metrics[{i}].version_id")
                if vid not in versions:
                    raise not_found(f"metric {choice.metric_id} has no version {choice.version_id}")
                version = versions[vid]
            else:
                version = max(versions.values(), key=lambda v: v["version"])
            chosen.append(version)
        if len({v["metric_id"] for v in chosen}) != len(chosen):
            raise invalid("metrics lists a metric twice")
        # The chosen version replaces the run's version of the same metric, or joins the run.
        current = {v["metric_id"]: v for v in await self._versions_by_id(run["metric_version_ids"])}
        for v in chosen:
            current[v["metric_id"]] = v
        pinned = [current[m] for m in current]
        row = await self._runs.rescore(
            run["id"], [v["version_id"] for v in pinned], [v["version_id"] for v in pinned if v["eval_type"] == "human"]
        )
        if row is None:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {request.run_id} is {run['status']}; only a run whose records are all in can be re-scored",
            )
        metrics.RUN_TRANSITIONS.labels("awaiting_scoring").inc()
        cid = f"run:{run['id']}"
        async for batch in self._runs.completed_record_ids(run["id"]):
            await asyncio.gather(
                *(
                    self._bus.publish(
                        ScoreRequested(
                            run_id=run["id"], record_id=rid, metric_version_id=v["version_id"], correlation_id=cid
                        )
                    )
                    for rid in batch
                    for v in chosen
                )
            )
        log.info(
            "run re-scoring",
            extra={"run_id": str(run["id"]), "metric_versions": [str(v["version_id"]) for v in chosen]},
        )
        return run_pb(row)

    async def _versions_by_id(self, version_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
        rows = await self._catalog.metric_versions_by_id(version_ids)
        by_id = {r["version_id"]: r for r in rows}
        return [by_id[v] for v in version_ids if v in by_id]

    async def submit_human_score(self, request: pb.SubmitHumanScoreRequest) -> pb.SubmitHumanScoreResponse:
        rid = parse_uuid(request.record_id, "record_id")
        record = await self._runs.record_run(rid)
        if record is None:
            raise not_found(f"record {request.record_id} does not exist")
        mid = parse_uuid(request.metric_id, "metric_id")
        version = next(
            (v for v in await self._versions_by_id(record["metric_version_ids"]) if v["metric_id"] == mid), None
        )
        if version is None:
            raise not_found(f"metric {request.metric_id} is not part of the run of record {request.record_id}")
        if version["eval_type"] != "human":
            raise invalid(
                f"metric {version['name']!r} is {version['eval_type']}, not human: it cannot take a reviewer's score"
            )
        if record["status"] != "completed":
            raise ApiError(
                Code.FAILED_PRECONDITION, f"record {request.record_id} is {record['status']} and is not scored"
            )
        if not request.reviewer.strip():
            raise invalid("reviewer is required")
        if not request.HasField("value"):
            raise invalid("value is required")
        value = checked(human_value, version["output_type"], value_to_python(request.value))
        verdict = HumanVerdict(value=value, reviewer=request.reviewer.strip(), comment=request.comment)
        await self._bus.publish(
            ScoreRequested(
                run_id=record["run_id"],
                record_id=rid,
                metric_version_id=version["version_id"],
                human=verdict,
                correlation_id=f"run:{record['run_id']}",
            )
        )
        return pb.SubmitHumanScoreResponse(
            score_id=str(score_id(rid, version["version_id"])),
            passed=passes(version["output_type"], value, version["passing_threshold"]),
        )

    async def ingest_records(self, request: pb.IngestRecordsRequest) -> pb.IngestRecordsResponse:
        """Records executed outside Scorekeeper: every one is checked before any is published."""
        run = await self._run(request.run_id)
        if run["status"] in ("cancelled", "failed"):
            raise ApiError(Code.FAILED_PRECONDITION, f"run {request.run_id} is {run['status']}; it takes no records")
        version = await self._catalog.get_system_version(run["system_version_id"])
        kind = version["kind"] if version is not None else ""
        if kind != "sdk":
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {request.run_id} executes its {kind} system itself; records can be ingested only into runs "
                "of sdk systems",
            )
        if not request.records:
            raise invalid("records must hold at least one record")
        if len(request.records) > MAX_INGEST:
            raise invalid(f"at most {MAX_INGEST} records per call, got {len(request.records)}")
        parsed = [checked(_ingested, i, r, run["trials"]) for i, r in enumerate(request.records)]
        seen: dict[tuple[uuid.UUID, int], int] = {}
        for i, fields in enumerate(parsed):
            key = (fields["testcase_id"], fields["trial"])
            if key in seen:
                raise invalid(f"records[{i}] repeats records[{seen[key]}] (testcase {key[0]}, trial {key[1]})")
            seen[key] = i
        testcases = await self._runs.testcases_at(
            run["testset_id"], run["testset_version"], [p["testcase_id"] for p in parsed]
        )
        for i, fields in enumerate(parsed):
            tid = fields["testcase_id"]
            if tid not in testcases:
                raise invalid(
                    f"records[{i}].testcase_id {tid} is not in version {run['testset_version']} of the run's testset"
                )
        ids = [record_id(run["id"], p["testcase_id"], p["trial"]) for p in parsed]
        existing = await self._runs.existing_records(ids)
        response = pb.IngestRecordsResponse()
        publish = []
        cid = f"run:{run['id']}"
        for i, (fields, rid) in enumerate(zip(parsed, ids, strict=True)):
            ref = pb.IngestedRecordRef(
                index=i, testcase_id=str(fields["testcase_id"]), trial=fields["trial"], record_id=str(rid)
            )
            if rid in existing:
                response.duplicates.append(ref)
                continue
            testcase = testcases[fields["testcase_id"]]
            event, reason = storable(
                RecordProduced(
                    run_id=run["id"],
                    inputs=testcase["inputs"],
                    expected=testcase["expected"],
                    metadata=testcase["metadata"],
                    correlation_id=cid,
                    **fields,
                )
            )
            if reason is not None:
                response.refused.append(pb.RefusedRecord(record=ref, reason=reason))
            else:
                response.stored.append(ref)
            publish.append(event)
        await asyncio.gather(*(self._bus.publish(event) for event in publish))
        response.accepted = len(publish)
        return response

    async def tag_records(self, request: pb.TagRecordsRequest) -> pb.TagRecordsResponse:
        run = await self._run(request.run_id)
        ids = [parse_uuid(r, "record_ids") for r in request.record_ids]
        if not ids:
            raise invalid("record_ids must name at least one record")
        for tag in [*request.add, *request.remove]:
            if not tag.strip() or len(tag) > 100:
                raise invalid(f"tags must be 1..100 characters, got {tag!r}")
        updated = await self._runs.tag_records(run["id"], ids, list(request.add), list(request.remove))
        return pb.TagRecordsResponse(updated=updated)
