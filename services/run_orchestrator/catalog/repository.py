"""All SQL of the run-orchestrator (the writer of catalog, runs and records)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.run_orchestrator.catalog.rules import MetricDefinition
from shared.db.pool import Connection, fetch_one


@dataclass(frozen=True)
class NewSystem:
    """A system named rather than given by id: created with its first version when there is none."""

    project_id: uuid.UUID
    name: str
    description: str


class CatalogRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_project(self, name: str, description: str, call_retention_days: int = 0) -> asyncpg.Record:
        return await fetch_one(
            self._pool,
            "INSERT INTO projects (id, name, description, call_retention_days) VALUES ($1, $2, $3, $4) RETURNING *",
            uuid.uuid4(),
            name,
            description,
            call_retention_days,
        )

    async def projects(self, ids: list[uuid.UUID] | None) -> list[asyncpg.Record]:
        """Projects by name: these ones, or every project."""
        if ids is None:
            return await self._pool.fetch("SELECT * FROM projects ORDER BY name, id")
        return await self._pool.fetch("SELECT * FROM projects WHERE id = ANY($1::uuid[]) ORDER BY name, id", ids)

    async def update_project(
        self,
        project_id: uuid.UUID,
        name: str | None,
        description: str | None,
        call_retention_days: int | None = None,
    ) -> asyncpg.Record | None:
        """The project renamed, re-described or given another call retention (None keeps a field);
        None when it does not exist."""
        return await self._pool.fetchrow(
            "UPDATE projects SET name = coalesce($2, name), description = coalesce($3, description),"
            " call_retention_days = coalesce($4, call_retention_days) WHERE id = $1 RETURNING *",
            project_id,
            name,
            description,
            call_retention_days,
        )

    async def get_project(self, project_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)

    async def create_metric(
        self, project_id: uuid.UUID, name: str, description: str, d: MetricDefinition
    ) -> asyncpg.Record:
        metric_id = uuid.uuid4()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO metrics (id, project_id, name, description) VALUES ($1, $2, $3, $4)",
                metric_id,
                project_id,
                name,
                description,
            )
            await self._insert_version(conn, metric_id, 1, d)
        return (await self.latest_metric_versions(project_id, [metric_id]))[0]

    async def update_metric(
        self, metric_id: uuid.UUID, name: str, description: str, d: MetricDefinition
    ) -> asyncpg.Record:
        """Rename/describe the metric and add the next version, atomically; a definition equal to
        the latest version's adds none (saving an unchanged form makes no duplicate version)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await fetch_one(
                conn,
                "UPDATE metrics SET name = $2, description = $3 WHERE id = $1 RETURNING project_id",
                metric_id,
                name,
                description,
            )
            latest = await fetch_one(
                conn,
                "SELECT version, eval_type, output_type, guidelines, passing_threshold, config FROM metric_versions"
                " WHERE metric_id = $1 ORDER BY version DESC LIMIT 1",
                metric_id,
            )
            fields = ("eval_type", "output_type", "guidelines", "passing_threshold", "config")
            if [latest[f] for f in fields] != [getattr(d, f) for f in fields]:
                await self._insert_version(conn, metric_id, int(latest["version"]) + 1, d)
        return (await self.latest_metric_versions(row["project_id"], [metric_id]))[0]

    @staticmethod
    async def _insert_version(conn: Connection, metric_id: uuid.UUID, version: int, d: MetricDefinition) -> None:
        await conn.execute(
            "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, guidelines,"
            " passing_threshold, config) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            uuid.uuid4(),
            metric_id,
            version,
            d.eval_type,
            d.output_type,
            d.guidelines,
            d.passing_threshold,
            d.config,
        )

    async def metric_project(self, metric_id: uuid.UUID) -> uuid.UUID | None:
        value: uuid.UUID | None = await self._pool.fetchval("SELECT project_id FROM metrics WHERE id = $1", metric_id)
        return value

    _METRIC_COLUMNS = (
        "m.id AS metric_id, m.project_id, m.name, m.description, m.archived_at, v.created_at,"
        " v.id AS version_id, v.version, v.eval_type, v.output_type, v.guidelines, v.passing_threshold, v.config"
    )

    async def latest_metric_versions(
        self, project_id: uuid.UUID, metric_ids: list[uuid.UUID] | None = None, archived: bool | None = None
    ) -> list[asyncpg.Record]:
        """The latest version of the given metrics (all the project's metrics when None), by name;
        ``archived`` True / False keeps only the archived metrics / the others, None every one."""
        return await self._pool.fetch(
            f"SELECT * FROM (SELECT DISTINCT ON (m.id) {self._METRIC_COLUMNS}"
            " FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
            " WHERE m.project_id = $1 AND ($2::uuid[] IS NULL OR m.id = ANY($2::uuid[]))"
            " AND ($3::bool IS NULL OR (m.archived_at IS NOT NULL) = $3)"
            " ORDER BY m.id, v.version DESC) latest ORDER BY name, metric_id",
            project_id,
            metric_ids,
            archived,
        )

    async def set_metric_archived(self, metric_id: uuid.UUID, archived: bool) -> bool:
        """Archive (or bring back) a metric; False when it already is (or is not) archived."""
        status: str = await self._pool.execute(
            "UPDATE metrics SET archived_at = CASE WHEN $2 THEN now() END WHERE id = $1 AND (archived_at IS NULL) = $2",
            metric_id,
            archived,
        )
        return status == "UPDATE 1"

    async def metric_versions(self, metric_id: uuid.UUID) -> list[asyncpg.Record]:
        """Every version of a metric, oldest first."""
        return await self._pool.fetch(
            f"SELECT {self._METRIC_COLUMNS} FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
            " WHERE m.id = $1 ORDER BY v.version",
            metric_id,
        )

    async def create_metric_group(
        self, project_id: uuid.UUID, name: str, metric_ids: list[uuid.UUID]
    ) -> asyncpg.Record | None:
        """None when the project already has a group of that name."""
        return await self._pool.fetchrow(
            "INSERT INTO metric_groups (id, project_id, name, metric_ids) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING *",
            uuid.uuid4(),
            project_id,
            name,
            metric_ids,
        )

    async def metric_groups(self, project_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch("SELECT * FROM metric_groups WHERE project_id = $1 ORDER BY name", project_id)

    async def metric_group(self, group_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM metric_groups WHERE id = $1", group_id)

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

    @staticmethod
    async def _system_named(conn: Connection, system: NewSystem) -> uuid.UUID:
        """The id of the project's system of that name, created (with the description) when there is none."""
        row = await fetch_one(
            conn,
            "INSERT INTO systems (id, project_id, name, description) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (project_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            uuid.uuid4(),
            system.project_id,
            system.name,
            system.description,
        )
        return uuid.UUID(str(row["id"]))

    async def systems_with_versions(self, project_id: uuid.UUID) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        """The project's systems by name, and all their versions (oldest first)."""
        systems = await self._pool.fetch("SELECT * FROM systems WHERE project_id = $1 ORDER BY name", project_id)
        versions = await self._pool.fetch(
            "SELECT v.* FROM system_versions v JOIN systems s ON s.id = v.system_id"
            " WHERE s.project_id = $1 ORDER BY v.created_at, v.name",
            project_id,
        )
        return systems, versions

    async def get_system(self, system_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM systems WHERE id = $1", system_id)

    async def create_system_version(
        self, system: uuid.UUID | NewSystem, name: str, kind: str, config: dict[str, Any]
    ) -> tuple[asyncpg.Record, bool]:
        """Insert a version of the system (its id, or the system of a name, made in the same
        transaction when there is none); an existing one of that name is returned instead (created=False)."""
        async with self._pool.acquire() as conn, conn.transaction():
            system_id = system if isinstance(system, uuid.UUID) else await self._system_named(conn, system)
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

    async def system_versions(self, system_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT * FROM system_versions WHERE system_id = $1 ORDER BY created_at, name", system_id
        )

    async def set_production_version(self, system_id: uuid.UUID, version_id: uuid.UUID) -> asyncpg.Record | None:
        """None when the version does not belong to the system."""
        return await self._pool.fetchrow(
            "UPDATE systems SET production_version_id = $2 WHERE id = $1"
            " AND EXISTS (SELECT 1 FROM system_versions WHERE id = $2 AND system_id = $1) RETURNING *",
            system_id,
            version_id,
        )

    async def get_system_version(self, version_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT v.*, s.project_id FROM system_versions v JOIN systems s ON s.id = v.system_id WHERE v.id = $1",
            version_id,
        )

    async def metric_versions_in_order(self, version_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
        """These metric versions (with their metric's name) in the order given; unknown ones left out."""
        rows = await self._pool.fetch(
            f"SELECT {self._METRIC_COLUMNS} FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
            " WHERE v.id = ANY($1::uuid[])",
            version_ids,
        )
        by_id = {r["version_id"]: r for r in rows}
        return [by_id[v] for v in version_ids if v in by_id]
