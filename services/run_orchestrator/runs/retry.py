"""Retrying what errored: a finished http / llm run executes again only its errored testcase ×
trial pairs (the executor plans a retry's chunks from the records it set pending); their new
records replace them, are scored, and are counted, so every count and aggregate stays exact."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs.attempts import AttemptRepository, RetryStarted
from services.run_orchestrator.runs.settlement import Settlement
from shared.edge.errors import ApiError, Code
from shared.events import RunCreated
from shared.messaging.bus import Bus
from shared.system_kinds import SYSTEM_KINDS

log = logging.getLogger(__name__)


class Retry:
    def __init__(
        self, catalog: CatalogRepository, attempts: AttemptRepository, settlement: Settlement, bus: Bus
    ) -> None:
        self._catalog = catalog
        self._attempts = attempts
        self._settlement = settlement
        self._bus = bus

    async def __call__(self, run: asyncpg.Record) -> RetryStarted:
        """FAILED_PRECONDITION for a run whose system a client executes, a run that has not
        finished, and a run with nothing errored; UNAVAILABLE (the records errored again) when the
        retry cannot be handed to the executor."""
        version = await self._catalog.get_system_version(run["system_version_id"])
        kind = SYSTEM_KINDS.get(version["kind"]) if version is not None else None
        if kind is None or not kind.executed_by_platform:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"run {run['id']} is of an {version['kind'] if version else 'unknown'} system, which a client "
                "executes and ingests: Scorekeeper cannot execute its errored records again",
            )
        started = await self._attempts.start_retry(run["id"])
        correlation = f"run:{run['id']}"
        try:
            await self._bus.publish(
                RunCreated(
                    run_id=run["id"], project_id=run["project_id"], retry=started.retry, correlation_id=correlation
                )
            )
        except Exception as exc:
            log.exception("could not publish the retry's run.created", extra={"run_id": str(run["id"])})
            await self._settlement.retry_abandoned(run["id"], f"the retry could not be requested: {exc!r}")
            raise ApiError(
                Code.UNAVAILABLE, "the event bus is unavailable; the records stay errored, retry them later"
            ) from exc
        log.info(
            "retrying errored records",
            extra={"run_id": str(run["id"]), "retry": started.retry, "records": started.retried},
        )
        return started

    async def cancelled(self, run_id: uuid.UUID) -> None:
        """A run cancelled during a retry: the records still waiting for it are errored again."""
        await self._settlement.retry_abandoned(run_id, "the retry was cancelled before this record was executed again")
