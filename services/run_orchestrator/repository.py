"""All SQL of the run-orchestrator (the writer of catalog, runs and records)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.run_orchestrator.lifecycle import RunProgress, next_status
from shared.db.pool import Connection, fetch_one
from shared.events import RecordProduced
from shared.ids import counter_shard, record_id


@dataclass(frozen=True)
class RunHeader:
    """What a record handler needs to know of its run (immutable fields only)."""

    id: uuid.UUID
    testset_id: uuid.UUID
    trials: int
    metric_version_ids: tuple[uuid.UUID, ...]


class CatalogRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_project(self, name: str, description: str) -> asyncpg.Record:
        return await fetch_one(
            self._pool,
            "INSERT INTO projects (id, name, description) VALUES ($1, $2, $3) RETURNING *",
            uuid.uuid4(),
            name,
            description,
        )

    async def get_project(self, project_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)

    async def create_metric(
        self,
        project_id: uuid.UUID,
        name: str,
        description: str,
        eval_type: str,
        output_type: str,
        guidelines: str,
        threshold: float | None,
        config: dict[str, Any],
    ) -> asyncpg.Record:
        metric_id, version_id = uuid.uuid4(), uuid.uuid4()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO metrics (id, project_id, name, description) VALUES ($1, $2, $3, $4)",
                metric_id,
                project_id,
                name,
                description,
            )
            await conn.execute(
                "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, guidelines,"
                " passing_threshold, config) VALUES ($1, $2, 1, $3, $4, $5, $6, $7)",
                version_id,
                metric_id,
                eval_type,
                output_type,
                guidelines,
                threshold,
                config,
            )
        return (await self.latest_metric_versions(project_id, [metric_id]))[0]

    async def latest_metric_versions(self, project_id: uuid.UUID, metric_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT DISTINCT ON (m.id) m.id AS metric_id, m.project_id, m.name, m.description, m.created_at,"
            " v.id AS version_id, v.version, v.eval_type, v.output_type, v.guidelines, v.passing_threshold, v.config"
            " FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
            " WHERE m.project_id = $1 AND m.id = ANY($2::uuid[])"
            " ORDER BY m.id, v.version DESC",
            project_id,
            metric_ids,
        )

    async def upsert_system(self, project_id: uuid.UUID, name: str, description: str) -> asyncpg.Record:
        return await fetch_one(
            self._pool,
            "INSERT INTO systems (id, project_id, name, description) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (project_id, name) DO UPDATE SET description = EXCLUDED.description"
            " RETURNING *",
            uuid.uuid4(),
            project_id,
            name,
            description,
        )

    async def get_system(self, system_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM systems WHERE id = $1", system_id)

    async def create_system_version(
        self, system_id: uuid.UUID, name: str, kind: str, config: dict[str, Any]
    ) -> tuple[asyncpg.Record, bool]:
        """Insert a version; an existing one of that name is returned instead (created=False)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not name:
                count = await conn.fetchval("SELECT count(*) FROM system_versions WHERE system_id = $1", system_id)
                name = f"v{count + 1}"
            row = await conn.fetchrow(
                "INSERT INTO system_versions (id, system_id, name, kind, config) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (system_id, name) DO NOTHING RETURNING *",
                uuid.uuid4(),
                system_id,
                name,
                kind,
                config,
            )
            if row is not None:
                await conn.execute(
                    "UPDATE systems SET production_version_id = coalesce(production_version_id, $2) WHERE id = $1",
                    system_id,
                    row["id"],
                )
                return row, True
            existing = await fetch_one(
                conn, "SELECT * FROM system_versions WHERE system_id = $1 AND name = $2", system_id, name
            )
            return existing, False

    async def get_system_version(self, version_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT v.*, s.project_id FROM system_versions v JOIN systems s ON s.id = v.system_id WHERE v.id = $1",
            version_id,
        )


class RunRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._headers: dict[uuid.UUID, RunHeader] = {}

    async def create_run(
        self,
        *,
        project_id: uuid.UUID,
        testset_id: uuid.UUID,
        testset_version: int,
        system_version_id: uuid.UUID,
        metric_version_ids: list[uuid.UUID],
        source: str,
        trials: int,
        max_concurrency: int | None,
        expected_records: int,
        notes: str,
    ) -> asyncpg.Record:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await fetch_one(
                conn,
                "INSERT INTO runs (id, project_id, testset_id, testset_version, system_version_id,"
                " metric_version_ids, source, status, trials, max_concurrency, expected_records, notes)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11) RETURNING *",
                uuid.uuid4(),
                project_id,
                testset_id,
                testset_version,
                system_version_id,
                metric_version_ids,
                source,
                trials,
                max_concurrency,
                expected_records,
                notes,
            )
            await conn.execute("INSERT INTO run_status_transitions (run_id, status) VALUES ($1, 'pending')", row["id"])
        return row

    async def set_status(
        self, run_id: uuid.UUID, status: str, *, only_from: str, error: str = ""
    ) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE runs SET status = $2, error = $4, updated_at = now(),"
                " finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() ELSE finished_at END"
                " WHERE id = $1 AND status = $3 RETURNING *",
                run_id,
                status,
                only_from,
                error,
            )
            if row is not None:
                await conn.execute(
                    "INSERT INTO run_status_transitions (run_id, status) VALUES ($1, $2)", run_id, status
                )
            return row

    async def header(self, run_id: uuid.UUID) -> RunHeader | None:
        cached = self._headers.get(run_id)
        if cached is not None:
            return cached
        row = await self._pool.fetchrow(
            "SELECT id, testset_id, trials, metric_version_ids FROM runs WHERE id = $1", run_id
        )
        if row is None:
            return None
        header = RunHeader(row["id"], row["testset_id"], row["trials"], tuple(row["metric_version_ids"]))
        if len(self._headers) > 10_000:
            self._headers.clear()
        self._headers[run_id] = header
        return header

    async def testcase_in_testset(self, testcase_id: uuid.UUID, testset_id: uuid.UUID) -> bool:
        return bool(
            await self._pool.fetchval(
                "SELECT 1 FROM testcases WHERE id = $1 AND testset_id = $2", testcase_id, testset_id
            )
        )

    async def save_record(self, event: RecordProduced) -> tuple[uuid.UUID, str | None]:
        """Insert the record once (deterministic id) and count it, in one transaction; then
        advance the run. Returns the record id and the run's new status when it changed."""
        rid = record_id(event.run_id, event.testcase_id, event.trial)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                inserted = await conn.fetchval(
                    "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, error,"
                    " latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    " ON CONFLICT (id) DO NOTHING RETURNING id",
                    rid,
                    event.run_id,
                    event.testcase_id,
                    event.trial,
                    event.inputs,
                    event.expected,
                    event.outputs,
                    event.status,
                    event.error,
                    event.latency_ms,
                )
                if inserted is not None:
                    await conn.execute(
                        "INSERT INTO run_record_counts AS c (run_id, shard, records, errored) VALUES ($1, $2, 1, $3)"
                        " ON CONFLICT (run_id, shard) DO UPDATE SET records = c.records + 1,"
                        " errored = c.errored + EXCLUDED.errored",
                        event.run_id,
                        counter_shard(rid),
                        1 if event.status == "errored" else 0,
                    )
            return rid, await self._advance(conn, event.run_id)

    async def advance(self, run_id: uuid.UUID) -> str | None:
        async with self._pool.acquire() as conn:
            return await self._advance(conn, run_id)

    async def _advance(self, conn: Connection, run_id: uuid.UUID) -> str | None:
        """Move the run to the status its counts call for.

        Called after the caller's own write committed, so the last writer always sees every
        write before it. The counts are read without a lock; the run row is locked (and the
        counts read again) only when the status really changes, which happens a handful of
        times per run, so concurrent handlers do not queue on the run row.
        """
        progress = await self._progress(conn, run_id, lock=False)
        if progress is None or next_status(progress) == progress.status:
            return None
        async with conn.transaction():
            progress = await self._progress(conn, run_id, lock=True)
            assert progress is not None
            target = next_status(progress)
            if target == progress.status:
                return None
            await conn.execute(
                "UPDATE runs SET status = $2, updated_at = now(),"
                " started_at = CASE WHEN started_at IS NULL AND $2 <> 'awaiting_execution'"
                "   THEN now() ELSE started_at END,"
                " finished_at = CASE WHEN $2 = 'completed' THEN now() ELSE finished_at END"
                " WHERE id = $1",
                run_id,
                target,
            )
            await conn.execute("INSERT INTO run_status_transitions (run_id, status) VALUES ($1, $2)", run_id, target)
            return target

    @staticmethod
    async def _progress(conn: Connection, run_id: uuid.UUID, *, lock: bool) -> RunProgress | None:
        row = await conn.fetchrow(
            "SELECT status, expected_records, cardinality(metric_version_ids) AS metrics,"
            " (SELECT coalesce(sum(c.records), 0) FROM run_record_counts c WHERE c.run_id = runs.id) AS records,"
            " (SELECT coalesce(sum(c.errored), 0) FROM run_record_counts c WHERE c.run_id = runs.id) AS errored,"
            " (SELECT coalesce(sum(a.scored + a.errored), 0) FROM run_metric_aggregates a"
            "   WHERE a.run_id = runs.id AND a.metric_version_id = ANY(runs.metric_version_ids)) AS scores_done"
            " FROM runs WHERE id = $1" + (" FOR NO KEY UPDATE" if lock else ""),
            run_id,
        )
        if row is None:
            return None
        return RunProgress(
            row["status"],
            row["expected_records"],
            int(row["records"]),
            int(row["errored"]),
            row["metrics"],
            int(row["scores_done"]),
        )

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._pool.fetch("SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}
