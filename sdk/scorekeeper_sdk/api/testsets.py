"""Testsets and testcases (TestsetService): versions, edits, streamed import and export."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.api.base import Operations, path
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.models import ImportResult, Testcase, Testset, TestsetChanges, TestsetVersion

TESTSETS = "TestsetService"
# The most calls or records one request adds to a testset (AddTestcasesFrom).
MAX_TO_TESTSET = 10_000
IMPORT_CHUNK_BYTES = 64 * 1024
FORMATS = ("csv", "tsv", "json", "jsonl")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(file: str | Path) -> str:
    """The import format a file's suffix names; ValueError when it names none."""
    fmt = _SUFFIX_FORMATS.get(Path(file).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the format of {file} from its suffix: give format= (csv, tsv, json or jsonl)")
    return fmt


@dataclass(frozen=True)
class AddedTestcases:
    """The testset at its new version and the new testcases' ids, in the request's order."""

    testset: Testset
    testcase_ids: list[str]


@dataclass(frozen=True)
class AddedFrom:
    """What ``add_to_testset`` did: the testset (at its new version, or as it was when nothing was
    new), the new testcases' ids, how many were added, already held (or repeated) and without an
    output to keep."""

    testset: Testset
    testcase_ids: list[str]
    added: int
    already: int
    no_output: int


def added_from(response: tpb.AddTestcasesFromResponse) -> AddedFrom:
    return AddedFrom(
        from_proto(Testset, response.testset),
        list(response.testcase_ids),
        response.added,
        response.already,
        response.no_output,
    )


async def _file_chunks(file: Path) -> AsyncIterator[bytes]:
    with file.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, IMPORT_CHUNK_BYTES):
            yield chunk


async def _chunks(source: bytes | Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), IMPORT_CHUNK_BYTES):
            yield source[start : start + IMPORT_CHUNK_BYTES]
    elif isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


class TestsetOperations(Operations):
    """Testsets with a JSON Schema and a field mapping; every change makes a new immutable version."""

    async def create_testset(
        self,
        project_id: str,
        name: str,
        testcases: Sequence[dict[str, Any]] = (),
        *,
        inputs: Sequence[str],
        expected: Sequence[str] = (),
        metadata: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        description: str = "",
    ) -> Testset:
        """A testset; ``inputs`` / ``expected`` / ``metadata`` name the testcase fields of each role."""
        request = tpb.CreateTestsetRequest(
            project_id=project_id,
            name=name,
            description=description,
            field_mapping=tpb.FieldMapping(inputs=list(inputs), expected=list(expected), metadata=list(metadata)),
            testcases=[struct(t) for t in testcases],
        )
        if json_schema is not None:
            request.json_schema.CopyFrom(struct(json_schema))
        response = await self._unary(TESTSETS, "CreateTestset", request, tpb.Testset, creates=True)
        return from_proto(Testset, response)

    async def get_testset(self, testset_id: str, version: int = 0) -> Testset:
        """The testset as of ``version`` (0: the latest)."""
        request = tpb.GetTestsetRequest(testset_id=testset_id, version=version)
        return from_proto(Testset, await self._unary(TESTSETS, "GetTestset", request, tpb.Testset))

    async def list_testsets(self, project_id: str, page_size: int = 100) -> AsyncIterator[Testset]:
        """Every testset of the project, newest first."""
        request = tpb.ListTestsetsRequest(project_id=project_id, page_size=page_size)
        async for t in self._pages(TESTSETS, "ListTestsets", request, tpb.ListTestsetsResponse, lambda p: p.testsets):
            yield from_proto(Testset, t)

    async def list_testset_versions(self, testset_id: str, page_size: int = 100) -> AsyncIterator[TestsetVersion]:
        """Every version of the testset, newest first."""
        request = tpb.ListTestsetVersionsRequest(testset_id=testset_id, page_size=page_size)
        response_type = tpb.ListTestsetVersionsResponse
        async for v in self._pages(TESTSETS, "ListTestsetVersions", request, response_type, lambda p: p.versions):
            yield from_proto(TestsetVersion, v)

    async def compare_testset_versions(
        self, testset_id: str, from_version: int = 0, to_version: int = 0, page_size: int = 100, page_token: str = ""
    ) -> TestsetChanges:
        """One page of what changed from ``from_version`` to ``to_version`` (0 / 0: the latest
        version and the one before it); the counts cover every testcase, ``next_page_token``
        continues the list."""
        request = tpb.CompareTestsetVersionsRequest(
            testset_id=testset_id,
            from_version=from_version,
            to_version=to_version,
            page_size=page_size,
            page_token=page_token,
        )
        response_type = tpb.CompareTestsetVersionsResponse
        return from_proto(TestsetChanges, await self._unary(TESTSETS, "CompareTestsetVersions", request, response_type))

    async def update_testset(
        self,
        testset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        json_schema: dict[str, Any] | None = None,
        inputs: Sequence[str] | None = None,
        expected: Sequence[str] = (),
        metadata: Sequence[str] = (),
    ) -> Testset:
        """Renames in place; a new schema (``{}`` removes it) or mapping (``inputs``) makes a version."""
        request = tpb.UpdateTestsetRequest(testset_id=testset_id)
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        if json_schema is not None:
            request.json_schema.CopyFrom(struct(json_schema))
        if inputs is not None:
            request.field_mapping.CopyFrom(
                tpb.FieldMapping(inputs=list(inputs), expected=list(expected), metadata=list(metadata))
            )
        return from_proto(Testset, await self._unary(TESTSETS, "UpdateTestset", request, tpb.Testset))

    async def delete_testset(self, testset_id: str) -> None:
        request = tpb.DeleteTestsetRequest(testset_id=testset_id)
        await self._unary(TESTSETS, "DeleteTestset", request, tpb.DeleteTestsetResponse)

    async def add_testcases(self, testset_id: str, testcases: Sequence[dict[str, Any]]) -> AddedTestcases:
        request = tpb.AddTestcasesRequest(testset_id=testset_id, testcases=[struct(t) for t in testcases])
        response = await self._unary(TESTSETS, "AddTestcases", request, tpb.AddTestcasesResponse, creates=True)
        return AddedTestcases(from_proto(Testset, response.testset), list(response.testcase_ids))

    async def add_to_testset(
        self,
        testset_id: str,
        *,
        call_ids: Sequence[str] = (),
        record_ids: Sequence[str] = (),
        output_as_expected: bool = False,
    ) -> AddedFrom:
        """Logged calls (by the id they were logged with) or records of runs (at most 10,000) as
        testcases of the testset's next version: their inputs, expected values (a record's) and
        metadata as fields; ``output_as_expected``: the output as the testset's one expected field
        (errored ones left out). Those it holds already are added once; nothing new: no version."""
        request = tpb.AddTestcasesFromRequest(
            testset_id=testset_id,
            call_ids=list(call_ids),
            record_ids=list(record_ids),
            output_as_expected=output_as_expected,
        )
        return added_from(await self._unary(TESTSETS, "AddTestcasesFrom", request, tpb.AddTestcasesFromResponse))

    async def update_testcase(self, testset_id: str, testcase_id: str, data: dict[str, Any]) -> Testcase:
        """New data for a testcase (its id is kept), in a new version."""
        request = tpb.UpdateTestcaseRequest(testset_id=testset_id, testcase_id=testcase_id, data=struct(data))
        response = await self._unary(TESTSETS, "UpdateTestcase", request, tpb.UpdateTestcaseResponse)
        return from_proto(Testcase, response.testcase)

    async def delete_testcases(self, testset_id: str, testcase_ids: Sequence[str]) -> Testset:
        request = tpb.DeleteTestcasesRequest(testset_id=testset_id, testcase_ids=list(testcase_ids))
        response = await self._unary(TESTSETS, "DeleteTestcases", request, tpb.DeleteTestcasesResponse)
        return from_proto(Testset, response.testset)

    async def list_testcases(
        self,
        testset_id: str,
        version: int = 0,
        *,
        page_size: int = 500,
        invalid_only: bool = False,
        search: str = "",
        run_id: str = "",
    ) -> AsyncIterator[Testcase]:
        """Every testcase of one version (0: the latest when the first page is read), in order,
        a page at a time (a large testset is never held whole); with ``search``, those whose
        inputs, expected values or metadata hold its words (as the Records page searches); with
        ``run_id``, those that run executes (of the version it pinned, the part it chose)."""
        request = tpb.ListTestcasesRequest(
            testset_id=testset_id,
            version=version,
            page_size=page_size,
            invalid_only=invalid_only,
            search=search,
            run_id=run_id,
        )
        async for t in self._pages(
            TESTSETS, "ListTestcases", request, tpb.ListTestcasesResponse, lambda p: p.testcases
        ):
            yield from_proto(Testcase, t)

    async def import_testcases(
        self,
        testset_id: str,
        source: str | Path | bytes | Iterable[bytes] | AsyncIterable[bytes],
        format: str | None = None,
        *,
        replace: bool = False,
        timeout_s: float | None = None,
    ) -> ImportResult:
        """Streams a CSV / TSV / JSON / JSONL file (a path, bytes, or an iterator of chunks) into one new
        version; ``format`` defaults to the file's suffix. A bad row refuses the whole import."""
        first = tpb.ImportTestcasesRequest(testset_id=testset_id, replace=replace)
        return await self._import(first, source, format, timeout_s)

    async def import_testset(
        self,
        project_id: str,
        name: str,
        source: str | Path | bytes | Iterable[bytes] | AsyncIterable[bytes],
        format: str | None = None,
        *,
        inputs: Sequence[str],
        expected: Sequence[str] = (),
        metadata: Sequence[str] = (),
        description: str = "",
        timeout_s: float | None = None,
    ) -> ImportResult:
        """A new testset whose version 1 holds a CSV / TSV / JSON / JSONL file's testcases (streamed
        as ``import_testcases`` streams); a bad row creates nothing."""
        first = tpb.ImportTestcasesRequest(
            project_id=project_id,
            name=name,
            description=description,
            inputs=inputs,
            expected=expected,
            metadata=metadata,
        )
        return await self._import(first, source, format, timeout_s)

    async def _import(
        self,
        first: tpb.ImportTestcasesRequest,
        source: str | Path | bytes | Iterable[bytes] | AsyncIterable[bytes],
        format: str | None,
        timeout_s: float | None,
    ) -> ImportResult:
        if isinstance(source, str | Path):
            file = Path(source)
            fmt = format or format_of(file)
            if not await asyncio.to_thread(file.is_file):
                raise FileNotFoundError(f"no such file: {file}")
            chunks = _file_chunks(file)
        else:
            if not format:
                raise ValueError("format is required (csv, tsv, json or jsonl) when the source is not a file")
            fmt, chunks = format, _chunks(source)
        first.format = fmt

        async def requests() -> AsyncIterator[tpb.ImportTestcasesRequest]:
            yield first
            async for chunk in chunks:
                yield tpb.ImportTestcasesRequest(data=chunk)

        response = await self._transport.client_stream(
            path(TESTSETS, "ImportTestcases"),
            requests(),
            tpb.ImportTestcasesRequest,
            tpb.ImportTestcasesResponse,
            timeout_s=timeout_s,
        )
        return ImportResult(from_proto(Testset, response.testset), response.imported)

    async def export_testcases(self, testset_id: str, version: int = 0) -> AsyncIterator[bytes]:
        """The testcases of one version as CSV (UTF-8), chunk by chunk."""
        request = tpb.ExportTestcasesRequest(testset_id=testset_id, version=version, format="csv")
        async for chunk in self._transport.server_stream(
            path(TESTSETS, "ExportTestcases"), request, tpb.ExportTestcasesChunk
        ):
            if chunk.data:
                yield chunk.data

    async def export_testcases_to(self, testset_id: str, file: str | Path, version: int = 0) -> int:
        """Writes the CSV export to ``file``; returns the bytes written."""
        written = 0
        with Path(file).open("wb") as handle:
            async for chunk in self.export_testcases(testset_id, version):
                written += await asyncio.to_thread(handle.write, chunk)
        return written
