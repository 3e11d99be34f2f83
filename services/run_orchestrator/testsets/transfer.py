"""Import (client streaming) and CSV export (server streaming) of testcases.

An import is parsed while it arrives and written in batches inside one version write: the whole
file becomes one new version, or — on the first bad row — nothing at all.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
from scorekeeper.v1 import testsets_pb2 as pb

from services.run_orchestrator.testsets import export, parsing, validation
from services.run_orchestrator.testsets.coercion import column_types
from services.run_orchestrator.testsets.messages import testset_pb
from services.run_orchestrator.testsets.repository import TestsetNotFound, TestsetRepository
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.edge.validation import checked

IMPORT_BATCH = 1000
EXPORT_BATCH = 1000


class TestcaseTransfer:
    """ImportTestcases and ExportTestcases (mixed into TestsetApi)."""

    def __init__(self, testsets: TestsetRepository) -> None:
        self._testsets = testsets

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

    async def import_testcases(self, requests: AsyncIterator[pb.ImportTestcasesRequest]) -> pb.ImportTestcasesResponse:
        first = await anext(requests, None)
        if first is None:
            raise invalid("the import stream is empty: its first message names the testset and the format")
        tid = parse_uuid(first.testset_id, "testset_id")
        fmt = checked(parsing.parse_format, first.format)

        async def chunks() -> AsyncIterator[bytes]:
            if first.data:
                yield first.data
            async for message in requests:
                if message.data:
                    yield message.data

        imported = 0
        try:
            async with self._testsets.new_version(tid) as write:
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
                row = await write.finish("imported", schema, mapping)
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
