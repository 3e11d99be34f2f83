"""Reads of the system-executor (it writes no table: records go out as events)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.ids import record_id

# A testcase revision the run (a parameter; NULL: none) chose, when it chose part of the testset.
_CHOSEN = (
    "({run}::uuid IS NULL OR EXISTS (SELECT 1 FROM run_subsets s"
    " WHERE s.run_id = {run}::uuid AND s.testcase_id = testcase_revisions.testcase_id))"
)


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
    # The run chose part of the version (run_subsets holds which testcases).
    subset: bool = False


@dataclass(frozen=True)
class ChunkBounds:
    first_position: int
    last_position: int
    testcases: int


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
        # A playground try runs the prompt it was given (runs.llm_config) as a version of kind llm.
        row = await self._pool.fetchrow(
            "SELECT r.id, r.status, r.testset_id, r.testset_version, r.trials, r.max_concurrency,"
            " r.subset IS NOT NULL AS subset,"
            " CASE WHEN r.llm_config IS NULL THEN v.kind ELSE 'llm' END AS kind,"
            " coalesce(r.llm_config, v.config) AS config"
            " FROM runs r LEFT JOIN system_versions v ON v.id = r.system_version_id WHERE r.id = $1",
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
            row["subset"],
        )

    async def chunks(
        self, testset_id: uuid.UUID, testset_version: int, size: int, subset_of: uuid.UUID | None = None
    ) -> list[ChunkBounds]:
        """The testcases of one version of the testset (those run ``subset_of`` chose) cut into
        chunks of ``size`` in position order (one pass over the testcase_revisions_by_position
        index). The same version always gives the same chunks, however the testset changed since."""
        rows = await self._pool.fetch(
            "SELECT min(position) AS first, max(position) AS last, count(*) AS n FROM ("
            " SELECT position, (row_number() OVER (ORDER BY position) - 1) / $3 AS chunk FROM testcase_revisions"
            " WHERE testset_id = $1 AND from_version <= $2 AND (to_version IS NULL OR to_version > $2)"
            f" AND {_CHOSEN.format(run='$4')}"
            ") numbered GROUP BY chunk ORDER BY chunk",
            testset_id,
            testset_version,
            size,
            subset_of,
        )
        return [ChunkBounds(r["first"], r["last"], r["n"]) for r in rows]

    async def testcases(
        self,
        testset_id: uuid.UUID,
        testset_version: int,
        first_position: int,
        last_position: int,
        subset_of: uuid.UUID | None = None,
    ) -> list[Testcase]:
        """The testcases of one version of the testset between two positions (inclusive), those
        run ``subset_of`` chose when given."""
        rows = await self._pool.fetch(
            "SELECT testcase_id, inputs, expected, metadata FROM testcase_revisions"
            " WHERE testset_id = $1 AND from_version <= $2 AND (to_version IS NULL OR to_version > $2)"
            f" AND position BETWEEN $3 AND $4 AND {_CHOSEN.format(run='$5')}"
            " ORDER BY position",
            testset_id,
            testset_version,
            first_position,
            last_position,
            subset_of,
        )
        return [Testcase(r["testcase_id"], r["inputs"], r["expected"], r["metadata"]) for r in rows]

    async def run_status(self, run_id: uuid.UUID) -> str | None:
        """The run's current status (None for an unknown run), e.g. to stop executing a cancelled run."""
        status: str | None = await self._pool.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
        return status

    async def recorded(self, run_id: uuid.UUID, pairs: list[tuple[uuid.UUID, int]]) -> set[tuple[uuid.UUID, int]]:
        """Those (testcase, trial) pairs of the run that already have a record: a redelivered
        chunk resumes after them (a primary-key lookup each, by the deterministic record id). A
        record a retry set pending waits for its new answer: it is not recorded."""
        by_id = {record_id(run_id, testcase, trial): (testcase, trial) for testcase, trial in pairs}
        rows = await self._pool.fetch(
            "SELECT id FROM records WHERE id = ANY($1::uuid[]) AND status <> 'pending'", list(by_id)
        )
        return {by_id[r["id"]] for r in rows}

    async def pending_positions(self, run_id: uuid.UUID, testset_id: uuid.UUID, testset_version: int) -> list[int]:
        """The positions (in the run's testset version) of the testcases with a record a retry set
        pending, in order: what the retry executes."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT t.position FROM records r JOIN testcase_revisions t ON t.testcase_id = r.testcase_id"
            " AND t.testset_id = $2 AND t.from_version <= $3 AND (t.to_version IS NULL OR t.to_version > $3)"
            " WHERE r.run_id = $1 AND r.status = 'pending' ORDER BY t.position",
            run_id,
            testset_id,
            testset_version,
        )
        return [r["position"] for r in rows]
