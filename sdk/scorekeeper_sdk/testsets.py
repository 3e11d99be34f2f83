"""Client methods for testsets and testcases (TestsetService)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.calls import Calls
from scorekeeper_sdk.exact_json import struct

IMPORT_CHUNK_BYTES = 64 * 1024
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


async def _file_chunks(path: Path, chunk_bytes: int) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, chunk_bytes):
            yield chunk


class TestsetMethods(Calls):
    """Testsets: create, read, version, edit, import and export."""

    testsets: Any

    async def create_testset(
        self,
        project_id: str,
        name: str,
        testcases: list[dict[str, Any]],
        *,
        inputs: Sequence[str],
        expected: Sequence[str] = (),
        metadata: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        description: str = "",
    ) -> tpb.Testset:
        request = tpb.CreateTestsetRequest(
            project_id=project_id,
            name=name,
            description=description,
            field_mapping=tpb.FieldMapping(inputs=list(inputs), expected=list(expected), metadata=list(metadata)),
            testcases=[struct(t) for t in testcases],
        )
        if json_schema is not None:
            request.json_schema.CopyFrom(struct(json_schema))
        return await self._call(self.testsets.CreateTestset, request, tpb.Testset)

    async def get_testset(self, testset_id: str, version: int = 0) -> tpb.Testset:
        """The testset as of ``version`` (0: the latest)."""
        request = tpb.GetTestsetRequest(testset_id=testset_id, version=version)
        return await self._call(self.testsets.GetTestset, request, tpb.Testset)

    async def list_testsets(self, project_id: str, page_size: int = 100) -> AsyncIterator[tpb.Testset]:
        """Every testset of the project, newest first."""
        token = ""
        while True:
            request = tpb.ListTestsetsRequest(project_id=project_id, page_size=page_size, page_token=token)
            page = await self._call(self.testsets.ListTestsets, request, tpb.ListTestsetsResponse)
            for testset in page.testsets:
                yield testset
            if not (token := page.next_page_token):
                return

    async def list_testset_versions(self, testset_id: str, page_size: int = 100) -> AsyncIterator[tpb.TestsetVersion]:
        """Every version of the testset, newest first."""
        token = ""
        while True:
            request = tpb.ListTestsetVersionsRequest(testset_id=testset_id, page_size=page_size, page_token=token)
            page = await self._call(self.testsets.ListTestsetVersions, request, tpb.ListTestsetVersionsResponse)
            for version in page.versions:
                yield version
            if not (token := page.next_page_token):
                return

    async def compare_testset_versions(
        self, testset_id: str, from_version: int = 0, to_version: int = 0, page_size: int = 100, page_token: str = ""
    ) -> tpb.CompareTestsetVersionsResponse:
        """One page of what changed from ``from_version`` to ``to_version`` (0 / 0: the latest
        version and the one before it); the counts cover every testcase."""
        request = tpb.CompareTestsetVersionsRequest(
            testset_id=testset_id,
            from_version=from_version,
            to_version=to_version,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._call(self.testsets.CompareTestsetVersions, request, tpb.CompareTestsetVersionsResponse)

    async def update_testset(
        self,
        testset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        json_schema: dict[str, Any] | None = None,
        remove_json_schema: bool = False,
        inputs: Sequence[str] | None = None,
        expected: Sequence[str] = (),
        metadata: Sequence[str] = (),
    ) -> tpb.Testset:
        """Rename / re-describe in place; a new schema or mapping (``inputs`` given) makes a new version."""
        request = tpb.UpdateTestsetRequest(testset_id=testset_id)
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        if json_schema is not None or remove_json_schema:
            request.json_schema.CopyFrom(struct(json_schema))
        if inputs is not None:
            request.field_mapping.CopyFrom(
                tpb.FieldMapping(inputs=list(inputs), expected=list(expected), metadata=list(metadata))
            )
        return await self._call(self.testsets.UpdateTestset, request, tpb.Testset)

    async def delete_testset(self, testset_id: str) -> None:
        request = tpb.DeleteTestsetRequest(testset_id=testset_id)
        await self._call(self.testsets.DeleteTestset, request, tpb.DeleteTestsetResponse)

    async def add_testcases(self, testset_id: str, testcases: list[dict[str, Any]]) -> tpb.AddTestcasesResponse:
        request = tpb.AddTestcasesRequest(testset_id=testset_id, testcases=[struct(t) for t in testcases])
        return await self._call(self.testsets.AddTestcases, request, tpb.AddTestcasesResponse)

    async def update_testcase(
        self, testset_id: str, testcase_id: str, data: dict[str, Any]
    ) -> tpb.UpdateTestcaseResponse:
        request = tpb.UpdateTestcaseRequest(testset_id=testset_id, testcase_id=testcase_id, data=struct(data))
        return await self._call(self.testsets.UpdateTestcase, request, tpb.UpdateTestcaseResponse)

    async def delete_testcases(self, testset_id: str, testcase_ids: Sequence[str]) -> tpb.Testset:
        request = tpb.DeleteTestcasesRequest(testset_id=testset_id, testcase_ids=list(testcase_ids))
        return (await self._call(self.testsets.DeleteTestcases, request, tpb.DeleteTestcasesResponse)).testset

    async def testcases(
        self, testset_id: str, version: int = 0, *, page_size: int = 500, invalid_only: bool = False, search: str = ""
    ) -> AsyncIterator[tpb.Testcase]:
        """Every testcase of one version (0: the latest when the first page is read), in order;
        with ``search``, those whose inputs, expected values or metadata hold its words."""
        token = ""
        while True:
            request = tpb.ListTestcasesRequest(
                testset_id=testset_id,
                version=version,
                page_size=page_size,
                page_token=token,
                invalid_only=invalid_only,
                search=search,
            )
            page = await self._call(self.testsets.ListTestcases, request, tpb.ListTestcasesResponse)
            for testcase in page.testcases:
                yield testcase
            if not (token := page.next_page_token):
                return
            version = page.version

    async def import_testcases(
        self,
        testset_id: str,
        source: str | Path | AsyncIterable[bytes],
        format: str | None = None,
        *,
        replace: bool = False,
        chunk_bytes: int = IMPORT_CHUNK_BYTES,
        timeout_s: float | None = None,
    ) -> tpb.ImportTestcasesResponse:
        """Streams a CSV / TSV / JSON / JSONL file (a path, or an async iterator of bytes) into one
        new version; ``format`` defaults to the file's suffix. Nothing is written on a bad row."""
        if isinstance(source, str | Path):
            path = Path(source)
            fmt = format or _SUFFIX_FORMATS.get(path.suffix.lower(), "")
            chunks: AsyncIterable[bytes] = _file_chunks(path, chunk_bytes)
        else:
            fmt, chunks = format or "", source
        if not fmt:
            raise ValueError("format is required (csv, tsv, json or jsonl) when the file's suffix does not say it")

        async def requests() -> AsyncIterator[tpb.ImportTestcasesRequest]:
            yield tpb.ImportTestcasesRequest(testset_id=testset_id, format=fmt, replace=replace)
            async for chunk in chunks:
                yield tpb.ImportTestcasesRequest(data=chunk)

        response = await self.testsets.ImportTestcases(requests(), timeout=timeout_s)
        if not isinstance(response, tpb.ImportTestcasesResponse):
            raise TypeError(f"expected ImportTestcasesResponse, got {type(response).__name__}")
        return response

    async def export_testcases(
        self, testset_id: str, version: int = 0, *, timeout_s: float | None = None
    ) -> AsyncIterator[bytes]:
        """The testcases of one version as CSV (UTF-8), chunk by chunk."""
        call = self.testsets.ExportTestcases(
            tpb.ExportTestcasesRequest(testset_id=testset_id, version=version, format="csv"), timeout=timeout_s
        )
        async for chunk in call:
            yield chunk.data

    async def export_testcases_to(self, testset_id: str, path: str | Path, version: int = 0) -> int:
        """Writes the CSV export to ``path``; returns the bytes written."""
        written = 0
        with Path(path).open("wb") as file:
            async for chunk in self.export_testcases(testset_id, version):
                written += await asyncio.to_thread(file.write, chunk)
        return written
