"""Ingesting records executed outside Scorekeeper (the SDK; monitors): only into runs of sdk
systems, every record checked before any is published, duplicates left as they are."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs import client_scores
from services.run_orchestrator.runs.repository import RunRepository
from shared.edge.errors import ApiError, Code, invalid
from shared.edge.validation import checked
from shared.events import ProducedRecord
from shared.ids import record_id
from shared.json_limits import storable
from shared.messaging.bus import Bus
from shared.record_batches import pack
from shared.run_status import RunStatus


@dataclass(frozen=True)
class Taken:
    index: int
    testcase_id: uuid.UUID
    trial: int
    record_id: uuid.UUID
    reason: str = ""  # why its outputs were refused


@dataclass
class IngestOutcome:
    stored: list[Taken] = field(default_factory=list)
    duplicates: list[Taken] = field(default_factory=list)
    refused: list[Taken] = field(default_factory=list)


class Ingest:
    def __init__(self, catalog: CatalogRepository, runs: RunRepository, bus: Bus) -> None:
        self._catalog = catalog
        self._runs = runs
        self._bus = bus

    async def __call__(self, run: asyncpg.Record, records: list[dict[str, Any]]) -> IngestOutcome:
        """``records``: ProducedRecord fields (testcase_id, trial, outputs, status …), the
        ``scores`` the client's code gave them and their ``spans`` (steps), checked one by one."""
        if run["status"] in (RunStatus.CANCELLED, RunStatus.FAILED):
            raise ApiError(Code.FAILED_PRECONDITION, f"run {run['id']} is {run['status']}; it takes no records")
        version = (
            None
            if run["system_version_id"] is None
            else await self._catalog.get_system_version(run["system_version_id"])
        )
        # A playground try runs its prompt (llm_config) as an llm system.
        kind = version["kind"] if version is not None else "llm" if run["llm_config"] is not None else ""
        if kind != "sdk":
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {run['id']} executes its {kind} system itself; records can be ingested only into runs "
                "of sdk systems",
            )
        seen: dict[tuple[uuid.UUID, int], int] = {}
        for i, fields in enumerate(records):
            key = (fields["testcase_id"], fields["trial"])
            if key in seen:
                raise invalid(f"records[{i}] repeats records[{seen[key]}] (testcase {key[0]}, trial {key[1]})")
            seen[key] = i
        testcases = await self._runs.testcases_at(
            run["testset_id"], run["testset_version"], [r["testcase_id"] for r in records]
        )
        outside = set()
        if run["subset"] is not None:
            outside = set(await self._runs.outside_subset(run["id"], [r["testcase_id"] for r in records]))
        for i, fields in enumerate(records):
            if fields["testcase_id"] not in testcases:
                raise invalid(
                    f"records[{i}].testcase_id {fields['testcase_id']} is not in version {run['testset_version']} "
                    "of the run's testset"
                )
            if fields["testcase_id"] in outside:
                raise invalid(
                    f"records[{i}].testcase_id {fields['testcase_id']} is not among the testcases the run chose"
                    " (its subset)"
                )
        if any(r["scores"] for r in records):
            pinned = {
                v["metric_id"]: v for v in await self._catalog.metric_versions_in_order(run["metric_version_ids"])
            }
            for i, fields in enumerate(records):
                checked(client_scores.check, i, fields["scores"], fields["status"] == "errored", pinned)
        ids = [record_id(run["id"], r["testcase_id"], r["trial"]) for r in records]
        existing = await self._runs.existing_records(ids)
        outcome = IngestOutcome()
        records_to_store: list[ProducedRecord] = []
        scores: list[tuple[uuid.UUID, uuid.UUID, client_scores.ClientScore]] = []
        for i, (fields, rid) in enumerate(zip(records, ids, strict=True)):
            taken = Taken(i, fields["testcase_id"], fields["trial"], rid)
            if rid in existing:
                outcome.duplicates.append(taken)
                continue
            testcase = testcases[fields["testcase_id"]]
            produced = {k: v for k, v in fields.items() if k != "scores"}
            record, reason = storable(
                ProducedRecord(
                    inputs=testcase["inputs"], expected=testcase["expected"], metadata=testcase["metadata"], **produced
                )
            )
            if reason is None:
                outcome.stored.append(taken)
                scores.extend((rid, metric_id, score) for metric_id, score in fields["scores"].items())
            else:
                outcome.refused.append(Taken(i, taken.testcase_id, taken.trial, rid, reason))
            records_to_store.append(record)
        if scores:  # before the records are published: the scorer finds them when it scores
            await self._runs.save_client_scores(scores)
        events = pack(run["id"], records_to_store, f"run:{run['id']}")
        await asyncio.gather(*(self._bus.publish(event) for event in events))
        return outcome
