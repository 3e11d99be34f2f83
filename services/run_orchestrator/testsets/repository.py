"""SQL for testsets and testcases (written by the run-orchestrator)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.run_orchestrator.testsets.validation import FieldMapping, TestcaseRow
from shared.db.pool import fetch_one


class TestsetRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_testset(
        self,
        project_id: uuid.UUID,
        name: str,
        description: str,
        schema: dict[str, Any] | None,
        mapping: FieldMapping,
        testcases: list[TestcaseRow],
    ) -> asyncpg.Record:
        testset_id = uuid.uuid4()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await fetch_one(
                conn,
                "INSERT INTO testsets (id, project_id, name, description, json_schema, field_mapping)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                testset_id,
                project_id,
                name,
                description,
                schema,
                mapping.as_json(),
            )
            await conn.executemany(
                "INSERT INTO testcases (id, testset_id, position, data, inputs, expected, metadata, validation_errors)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [
                    (uuid.uuid4(), testset_id, i, t.data, t.inputs, t.expected, t.metadata, t.validation_errors)
                    for i, t in enumerate(testcases)
                ],
            )
        return row

    async def get_testset(self, testset_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT t.*, (SELECT count(*) FROM testcases c WHERE c.testset_id = t.id) AS testcase_count"
            " FROM testsets t WHERE t.id = $1",
            testset_id,
        )
