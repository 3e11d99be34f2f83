"""Import (client streaming) and CSV export (server streaming) of testcases.

An import is parsed while it arrives and written in batches inside one version write: the whole
file becomes one new version, or — on the first bad row — nothing at all.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
from scorekeeper.v1 import testsets_pb2 as pb

from services.run_orchestrator.catalog.rules import require_name
from services.run_orchestrator.testsets import export, parsing, validation
from services.run_orchestrator.testsets.coercion import column_types
from services.run_orchestrator.testsets.messages import testset_pb
from services.run_orchestrator.testsets.repository import TestsetNotFound, TestsetRepository
from services.run_orchestrator.testsets.versions import VersionWrite
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.edge.validation import checked

IMPORT_BATCH = 1000
EXPORT_BATCH = 1000


class TestcaseTransfer:
    """ImportTestcases and ExportTestcases (mixed into TestsetApi)."""

    def __init__(self, testsets: TestsetRepository, project: Callable[[str], Awaitable[uuid.UUID]]) -> None:
        self._testsets = testsets
        self._project = project

    async def _testset_at(self, testset_id: uuid.UUID, version: int) -> asyncpg.Record:
        """The testset at ``version`` (0: the latest); NOT_FOUND naming what is missing."""
        if version < 0:
            raise invalid("version must not be negative")
        row = await self._testsets.get_testset_at(testset_id, version or None)
        if row is not None:
            return row
        if version and await self._testsets.get_testset(testset_id) is not None:
            raise not_found(f"testset {testset_id} has no version {version}")
        raise not_found(f"testset {testset_id} does not exist")

    async def _import_target(
        self, first: pb.ImportTestcasesRequest
    ) -> tuple[AbstractAsyncContextManager[VersionWrite], str]:
        """The version write an import fills, and its change: a new version of ``testset_id``, or
        version 1 of a new testset (``project_id`` + ``name``)."""
        new_fields = [f for f in ("name", "description", "inputs", "expected", "metadata") if getattr(first, f)]
        if first.testset_id:
            if first.project_id or new_fields:
                named = ", ".join(["project_id", *new_fields] if first.project_id else new_fields)
                raise invalid(f"{named}: only for a new testset; an import into testset_id keeps its own")
            return self._testsets.new_version(parse_uuid(first.testset_id, "testset_id")), "imported"
        if not first.project_id:
            raise invalid("name the testset to import into (testset_id), or the project_id and name of a new one")
        if first.replace:
            raise invalid("replace: a new testset has no testcases to replace")
        project_id = await self._project(first.project_id)
        name = checked(require_name, first.name)
        try:
            mapping = validation.parse_mapping(list(first.inputs), list(first.expected), list(first.metadata))
        except ValueError as exc:
            raise invalid(str(exc).replace("field_mapping.", "")) from None
        return self._testsets.testset_from_import(project_id, name, first.description, mapping), "created"

    async def import_testcases(self, requests: AsyncIterator[pb.ImportTestcasesRequest]) -> pb.ImportTestcasesResponse:
        first = await anext(requests, None)
        if first is None:
            raise invalid("the import stream is empty: its first message names the testset and the format")
        fmt = checked(parsing.parse_format, first.format)
        target, change = await self._import_target(first)

        async def chunks() -> AsyncIterator[bytes]:
            if first.data:
                yield first.data
            async for message in requests:
                if message.data:
                    yield message.data

        imported = 0
        try:
            async with target as write:
                schema = write.testset["json_schema"]
                mapping = validation.mapping_from_json(write.testset["field_mapping"])
                validator = validation.schema_validator(schema)
                if first.replace:
                    await write.delete_all()
                batch: list[validation.TestcaseRow] = []
                async for data in parsing.rows(chunks(), fmt, column_types(schema), mapping.inputs):
                    batch.append(validation.derive_testcase(data, mapping, validator))
                    if len(batch) >= IMPORT_BATCH:
                        await write.add(batch)
                        imported += len(batch)
                        batch = []
                if batch:
                    await write.add(batch)
                    imported += len(batch)
                if imported == 0:
                    raise invalid("the file holds no testcases")
                row = await write.finish(change, schema, mapping)
        except TestsetNotFound:
            raise not_found(f"testset {first.testset_id} does not exist") from None
        except parsing.BadImport as exc:
            raise invalid(str(exc)) from None
        return pb.ImportTestcasesResponse(testset=testset_pb(row), imported=imported)

    async def export_testcases(self, request: pb.ExportTestcasesRequest) -> AsyncIterator[pb.ExportTestcasesChunk]:
        tid = parse_uuid(request.testset_id, "testset_id")
        if request.format not in ("", "csv"):
            raise invalid(f"format must be csv, got {request.format!r}")
        testset = await self._testset_at(tid, request.version)
        version = testset["version"]
        mapping = validation.mapping_from_json(testset["field_mapping"])
        names = export.columns(await self._testsets.data_fields(tid, version), mapping)
        yield pb.ExportTestcasesChunk(content_type=export.CONTENT_TYPE, data=export.header(names))
        after = -1
        while rows := await self._testsets.list_testcases(tid, version, after, EXPORT_BATCH):
            yield pb.ExportTestcasesChunk(data=export.testcase_rows(names, (r["data"] for r in rows)))
            after = rows[-1]["position"]
