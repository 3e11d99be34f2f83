"""Kicking off a run: the testset version, system version and metric versions it pins, then
run.created for the executor."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

import asyncpg

from services.run_orchestrator.catalog.pinning import pin_metrics
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs import subsets
from services.run_orchestrator.runs.authors import Author
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.subsets import SubsetRequest
from services.run_orchestrator.testsets.repository import TestsetRepository
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.events import RunCreated
from shared.logs import correlation_id
from shared.messaging.bus import Bus
from shared.run_status import RunStatus
from shared.scoring.eval_types import refuse_client_scored
from shared.system_kinds import SYSTEM_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KickoffRequest:
    project_id: uuid.UUID
    testset_id: uuid.UUID
    system_version_id: uuid.UUID
    source: str
    trials: int
    metric_ids: list[uuid.UUID] = field(default_factory=list)
    metric_group_id: uuid.UUID | None = None
    max_concurrency: int | None = None
    notes: str = ""
    subset: SubsetRequest = field(default_factory=SubsetRequest)
    tags: list[str] = field(default_factory=list)
    # The run's id, when the caller draws it (a schedule's firing: the same firing, the same run).
    run_id: uuid.UUID | None = None
    created_by: Author | None = None
    # The schedule kicking it off (its firing, or its Run now).
    schedule_id: uuid.UUID | None = None


class Kickoff:
    def __init__(self, catalog: CatalogRepository, testsets: TestsetRepository, runs: RunRepository, bus: Bus) -> None:
        self._catalog = catalog
        self._testsets = testsets
        self._runs = runs
        self._bus = bus

    async def __call__(self, request: KickoffRequest) -> asyncpg.Record:
        """The new run, awaiting execution; NOT_FOUND for what is not in the project, UNAVAILABLE
        (and the run failed) when run.created cannot be published."""
        pid = request.project_id
        if request.run_id is not None:
            made = await self._runs.get(request.run_id)
            if made is not None:  # kicked off already: handed to the executor unless it was
                return await self.launch(made) if made["status"] == RunStatus.PENDING else made
        testset = await self.testset(pid, request.testset_id)
        if testset["testcase_count"] == 0:
            raise invalid(f"testset {request.testset_id} has no testcases")
        system = await self.system_version(pid, request.system_version_id)
        versions = await self.metric_versions(pid, request.metric_ids, request.metric_group_id)
        if SYSTEM_KINDS[system["kind"]].executed_by_platform:
            why = (
                f"a run of an {system['kind']} system is executed and scored by the platform; run an sdk system"
                " with run_and_evaluate(..., scorers=...)"
            )
            checked(refuse_client_scored, versions, why)
        subset = await subsets.choose(self._testsets, testset, request.subset)
        testcases = testset["testcase_count"] if subset.testcase_ids is None else len(subset.testcase_ids)
        run = await self._runs.create_run(
            project_id=pid,
            testset_id=request.testset_id,
            testset_version=testset["version"],
            system_version_id=request.system_version_id,
            metric_version_ids=[v["version_id"] for v in versions],
            human_metric_version_ids=[v["version_id"] for v in versions if v["eval_type"] == "human"],
            source=request.source,
            trials=request.trials,
            max_concurrency=request.max_concurrency,
            expected_records=testcases * request.trials,
            notes=request.notes,
            testcase_ids=subset.testcase_ids,
            subset=subset.description,
            tags=request.tags,
            run_id=request.run_id,
            created_by=request.created_by,
            schedule_id=request.schedule_id,
        )
        return await self.launch(run)

    async def testset(self, project_id: uuid.UUID, testset_id: uuid.UUID) -> asyncpg.Record:
        """The testset (its latest version), NOT_FOUND unless it is of the project."""
        testset = await self._testsets.get_testset(testset_id)
        if testset is None or testset["project_id"] != project_id:
            raise not_found(f"testset {testset_id} does not exist in project {project_id}")
        return testset

    async def system_version(self, project_id: uuid.UUID, version_id: uuid.UUID) -> asyncpg.Record:
        """The system version, NOT_FOUND unless it is of the project."""
        version = await self._catalog.get_system_version(version_id)
        if version is None or version["project_id"] != project_id:
            raise not_found(f"system version {version_id} does not exist in project {project_id}")
        return version

    async def metric_versions(
        self, project_id: uuid.UUID, metric_ids: list[uuid.UUID], metric_group_id: uuid.UUID | None
    ) -> list[asyncpg.Record]:
        """The latest version of each metric (then of the group's others), in that order, as the run
        pins them (pin_metrics, shared with monitors)."""
        return await pin_metrics(self._catalog, project_id, list(metric_ids), metric_group_id)

    async def launch(self, run: asyncpg.Record) -> asyncpg.Record:
        """A pending run handed to the executor (run.created), now awaiting execution; UNAVAILABLE
        (and the run failed) when run.created cannot be published."""
        token = correlation_id.set(f"run:{run['id']}")
        try:
            await self._bus.publish(
                RunCreated(run_id=run["id"], project_id=run["project_id"], correlation_id=correlation_id.get())
            )
        except Exception as exc:
            log.exception("could not publish run.created")
            await self._runs.set_status(
                run["id"],
                RunStatus.FAILED,
                only_from=(RunStatus.PENDING,),
                error=f"could not publish run.created: {exc!r}",
            )
            raise ApiError(Code.UNAVAILABLE, "the event bus is unavailable; the run was marked failed") from exc
        finally:
            correlation_id.reset(token)
        updated = await self._runs.set_status(run["id"], RunStatus.AWAITING_EXECUTION, only_from=(RunStatus.PENDING,))
        log.info("run created", extra={"run_id": str(run["id"]), "expected_records": run["expected_records"]})
        return updated or run
