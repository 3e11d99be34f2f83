"""Re-scoring a run: pin the chosen metric versions and ask for every completed record's scores
again, without executing the system."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from services.run_orchestrator.catalog.pinning import refuse_archived
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.scoring import ScoreRequests
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.scoring.eval_types import refuse_client_scored

log = logging.getLogger(__name__)

# (metric id, version id or None for the metric's latest version)
MetricChoice = tuple[uuid.UUID, uuid.UUID | None]


class Rescore:
    def __init__(self, catalog: CatalogRepository, runs: RunRepository, scores: ScoreRequests) -> None:
        self._catalog = catalog
        self._runs = runs
        self._scores = scores

    async def __call__(self, run: asyncpg.Record, choices: list[MetricChoice]) -> asyncpg.Record:
        if not choices:
            raise invalid("metrics must name at least one metric to re-score with")
        chosen = [await self._version(run, metric_id, version_id) for metric_id, version_id in choices]
        refuse_archived(chosen)
        checked(refuse_client_scored, chosen, "re-scoring has none of your code to run")
        if len({v["metric_id"] for v in chosen}) != len(chosen):
            raise invalid("metrics lists a metric twice")
        # The chosen version replaces the run's version of the same metric, or joins the run.
        current = {v["metric_id"]: v for v in await self._catalog.metric_versions_in_order(run["metric_version_ids"])}
        for v in chosen:
            current[v["metric_id"]] = v
        pinned = list(current.values())
        row = await self._runs.rescore(
            run["id"], [v["version_id"] for v in pinned], [v["version_id"] for v in pinned if v["eval_type"] == "human"]
        )
        if row is None:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {run['id']} is {run['status']}; only a run whose records are all in can be re-scored",
            )
        async for batch in self._runs.completed_record_ids(run["id"]):
            await self._scores.for_records(run["id"], batch, [v["version_id"] for v in chosen], f"run:{run['id']}")
        log.info(
            "run re-scoring",
            extra={"run_id": str(run["id"]), "metric_versions": [str(v["version_id"]) for v in chosen]},
        )
        return row

    async def _version(self, run: asyncpg.Record, metric_id: uuid.UUID, version_id: uuid.UUID | None) -> asyncpg.Record:
        versions = {v["version_id"]: v for v in await self._catalog.metric_versions(metric_id)}
        if not versions or next(iter(versions.values()))["project_id"] != run["project_id"]:
            raise not_found(f"metric {metric_id} does not exist in the run's project")
        if version_id is None:
            return max(versions.values(), key=lambda v: v["version"])
        if version_id not in versions:
            raise not_found(f"metric {metric_id} has no version {version_id}")
        return versions[version_id]
