"""Reads of the system-executor (it writes no table: records go out as events)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class RunPlan:
    id: uuid.UUID
    status: str
    testset_id: uuid.UUID
    # The version the run pinned: it executes exactly that version's testcases.
    testset_version: int
    trials: int
    max_concurrency: int | None
    system_kind: str
    system_config: dict[str, Any]


@dataclass(frozen=True)
class Testcase:
    id: uuid.UUID
    inputs: dict[str, Any]
    expected: dict[str, Any]
    metadata: dict[str, Any]


class ExecutorRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def run_plan(self, run_id: uuid.UUID) -> RunPlan | None:
        row = await self._pool.fetchrow(
            "SELECT r.id, r.status, r.testset_id, r.testset_version, r.trials, r.max_concurrency, v.kind, v.config"
            " FROM runs r JOIN system_versions v ON v.id = r.system_version_id WHERE r.id = $1",
            run_id,
        )
        if row is None:
            return None
        return RunPlan(
            row["id"],
            row["status"],
            row["testset_id"],
            row["testset_version"],
            row["trials"],
            row["max_concurrency"],
            row["kind"],
            row["config"],
        )

    async def testcases(
        self, testset_id: uuid.UUID, testset_version: int, batch: int = 1000
    ) -> AsyncIterator[list[Testcase]]:
        """The testcases of one version of the testset in position order, a batch at a time (keyset on
        position; the index testcase_revisions_by_position serves it). The same version always gives
        the same testcases, however the testset changed since."""
        after = -1
        while True:
            rows = await self._pool.fetch(
                "SELECT testcase_id, position, inputs, expected, metadata FROM testcase_revisions"
                " WHERE testset_id = $1 AND from_version <= $2 AND (to_version IS NULL OR to_version > $2)"
                " AND position > $3 ORDER BY position LIMIT $4",
                testset_id,
                testset_version,
                after,
                batch,
            )
            if not rows:
                return
            yield [Testcase(r["testcase_id"], r["inputs"], r["expected"], r["metadata"]) for r in rows]
            after = rows[-1]["position"]

    async def run_status(self, run_id: uuid.UUID) -> str | None:
        """The run's current status (None for an unknown run), e.g. to stop executing a cancelled run."""
        status: str | None = await self._pool.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
        return status

    async def done(self, run_id: uuid.UUID) -> set[tuple[uuid.UUID, int]]:
        """(testcase, trial) pairs that already have a record: a redelivered run resumes after them."""
        rows = await self._pool.fetch("SELECT testcase_id, trial FROM records WHERE run_id = $1", run_id)
        return {(r["testcase_id"], r["trial"]) for r in rows}
