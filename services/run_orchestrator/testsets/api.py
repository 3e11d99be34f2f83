"""TestsetService (proto/scorekeeper/v1/testsets.proto): one implementation behind gRPC and HTTP.

Every write that changes a testset's content makes one new version in one transaction (see
versions.py); import and export live in transfer.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from scorekeeper.v1 import testsets_pb2 as pb

from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.catalog.rules import require_name
from services.run_orchestrator.testsets import curation, validation
from services.run_orchestrator.testsets.messages import (
    change_pb,
    page_size,
    testcase_pb,
    testset_pb,
    version_pb,
)
from services.run_orchestrator.testsets.repository import TestsetNotFound, TestsetRepository
from services.run_orchestrator.testsets.transfer import TestcaseTransfer
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import invalid, not_found
from shared.edge.search import search
from shared.edge.validation import checked

REDERIVE_BATCH = 1000


def _testcases(structs: Any) -> list[dict[str, Any]]:
    if not structs:
        raise invalid("testcases must hold at least one testcase")
    if len(structs) > validation.MAX_TESTCASES_PER_REQUEST:
        raise invalid(f"at most {validation.MAX_TESTCASES_PER_REQUEST} testcases per request, got {len(structs)}")
    return [struct_to_dict(t) for t in structs]


def _mapping(m: pb.FieldMapping) -> validation.FieldMapping:
    return checked(validation.parse_mapping, list(m.inputs), list(m.expected), list(m.metadata))


class TestsetApi(TestcaseTransfer):
    """Testsets, their versions and their testcases."""

    def __init__(self, testsets: TestsetRepository, catalog_api: CatalogApi) -> None:
        super().__init__(testsets, catalog_api.project)

    async def create_testset(self, request: pb.CreateTestsetRequest) -> pb.Testset:
        pid = await self._project(request.project_id)
        name = checked(require_name, request.name)
        mapping = _mapping(request.field_mapping)
        schema = struct_to_dict(request.json_schema) if request.HasField("json_schema") else None
        validator = checked(validation.schema_validator, schema)
        rows = [validation.derive_testcase(t, mapping, validator) for t in _testcases(request.testcases)]
        return testset_pb(await self._testsets.create_testset(pid, name, request.description, schema, mapping, rows))

    async def get_testset(self, request: pb.GetTestsetRequest) -> pb.Testset:
        tid = parse_uuid(request.testset_id, "testset_id")
        return testset_pb(await self._testset_at(tid, request.version))

    async def list_testsets(self, request: pb.ListTestsetsRequest) -> pb.ListTestsetsResponse:
        pid = await self._project(request.project_id)
        limit = page_size(request.page_size, 50, 500)
        rows = await self._testsets.list_testsets(pid, page_tokens.newest_first_after(request), limit + 1)
        return pb.ListTestsetsResponse(
            testsets=[testset_pb(r) for r in rows[:limit]],
            next_page_token=page_tokens.newest_first_token(rows, limit, request),
        )

    async def list_testset_versions(self, request: pb.ListTestsetVersionsRequest) -> pb.ListTestsetVersionsResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        await self._testset_at(tid, 0)
        limit = page_size(request.page_size, 100, 1000)
        before = None
        if request.page_token:
            before = page_tokens.integer(page_tokens.decode(request.page_token, ("v",), request)["v"])
        rows = await self._testsets.list_versions(tid, before, limit + 1)
        response = pb.ListTestsetVersionsResponse(versions=[version_pb(r) for r in rows[:limit]])
        if len(rows) > limit:
            response.next_page_token = page_tokens.encode({"v": rows[limit - 1]["version"]}, request)
        return response

    async def compare_testset_versions(
        self, request: pb.CompareTestsetVersionsRequest
    ) -> pb.CompareTestsetVersionsResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        limit = page_size(request.page_size, 100, 500)
        start = None
        if request.page_token:
            # The token pins the versions of the first page (0 / 0 would move with a new version).
            token = page_tokens.decode(request.page_token, ("f", "t", "p", "i"), request)
            before_v, after_v = page_tokens.integer(token["f"]), page_tokens.integer(token["t"])
            start = (page_tokens.integer(token["p"]), page_tokens.uuid_of(token["i"]))
        else:
            before_v, after_v = await self._compared_versions(tid, request.from_version, request.to_version)
        old = await self._testset_at(tid, before_v)
        new = await self._testset_at(tid, after_v)
        counts = await self._testsets.change_counts(tid, before_v, after_v)
        rows = await self._testsets.changes(tid, before_v, after_v, start, limit + 1)
        added, removed, changed = (counts.get(c, 0) for c in ("added", "removed", "changed"))
        response = pb.CompareTestsetVersionsResponse(
            testset_id=str(tid),
            from_version=before_v,
            to_version=after_v,
            added=added,
            removed=removed,
            changed=changed,
            unchanged=new["testcase_count"] - added - changed,
            schema_changed=old["json_schema"] != new["json_schema"],
            mapping_changed=validation.mapping_from_json(old["field_mapping"])
            != validation.mapping_from_json(new["field_mapping"]),
            changes=[change_pb(str(tid), r) for r in rows[:limit]],
        )
        if len(rows) > limit:
            last = rows[limit - 1]
            response.next_page_token = page_tokens.encode(
                {"f": before_v, "t": after_v, "p": last["position"], "i": str(last["testcase_id"])}, request
            )
        return response

    async def _compared_versions(self, testset_id: uuid.UUID, before: int, after: int) -> tuple[int, int]:
        """(from, to) of a comparison: 0 is the latest for ``to`` and the one before ``to`` for ``from``."""
        if before < 0 or after < 0:
            raise invalid("from_version and to_version must not be negative")
        after = after or (await self._testset_at(testset_id, 0))["version"]
        before = before or after - 1
        if before < 1:
            raise invalid(f"version {after} is the first version of testset {testset_id}: there is nothing before it")
        if before >= after:
            raise invalid(f"from_version ({before}) must be before to_version ({after})")
        return before, after

    async def update_testset(self, request: pb.UpdateTestsetRequest) -> pb.Testset:
        tid = parse_uuid(request.testset_id, "testset_id")
        name = checked(require_name, request.name) if request.HasField("name") else None
        description = request.description if request.HasField("description") else None
        mapping = _mapping(request.field_mapping) if request.HasField("field_mapping") else None
        schema = (struct_to_dict(request.json_schema) or None) if request.HasField("json_schema") else None
        validator = checked(validation.schema_validator, schema)
        current = await self._testset_at(tid, 0)
        old_mapping = validation.mapping_from_json(current["field_mapping"])
        schema_changed = request.HasField("json_schema") and schema != current["json_schema"]
        mapping_changed = mapping is not None and mapping != old_mapping
        if not schema_changed and not mapping_changed:
            row = await self._testsets.update_details(tid, name, description)
            if row is None:
                raise not_found(f"testset {request.testset_id} does not exist")
            return testset_pb(row)
        try:
            async with self._testsets.new_version(tid) as write:
                new_schema = schema if schema_changed else write.testset["json_schema"]
                new_mapping = mapping or validation.mapping_from_json(write.testset["field_mapping"])
                if not schema_changed:
                    validator = checked(validation.schema_validator, new_schema)
                await write.rename(name, description)
                after = -1
                while stored := await write.current(after, REDERIVE_BATCH):
                    derived = [(r, validation.derive_testcase(r["data"], new_mapping, validator)) for r in stored]
                    await write.revise(
                        [(r["testcase_id"], d) for r, d in derived if not validation.same_derivation(d, r)]
                    )
                    after = stored[-1]["position"]
                change = "schema_changed" if schema_changed else "mapping_changed"
                return testset_pb(await write.finish(change, new_schema, new_mapping))
        except TestsetNotFound:
            raise not_found(f"testset {request.testset_id} does not exist") from None

    async def delete_testset(self, request: pb.DeleteTestsetRequest) -> pb.DeleteTestsetResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        if not await self._testsets.delete_testset(tid):
            raise not_found(f"testset {request.testset_id} does not exist")
        return pb.DeleteTestsetResponse()

    async def add_testcases(self, request: pb.AddTestcasesRequest) -> pb.AddTestcasesResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        data = _testcases(request.testcases)
        try:
            async with self._testsets.new_version(tid) as write:
                schema, mapping, validator = _derivation(write.testset)
                ids = await write.add([validation.derive_testcase(d, mapping, validator) for d in data])
                row = await write.finish("testcases_added", schema, mapping)
        except TestsetNotFound:
            raise not_found(f"testset {request.testset_id} does not exist") from None
        return pb.AddTestcasesResponse(testset=testset_pb(row), testcase_ids=[str(i) for i in ids])

    async def add_testcases_from(self, request: pb.AddTestcasesFromRequest) -> pb.AddTestcasesFromResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        call_ids, record_ids = list(request.call_ids), list(request.record_ids)
        curation.checked_ids(call_ids, record_ids)
        try:
            async with self._testsets.new_version(tid) as write:
                testset = write.testset
                schema, mapping, validator = _derivation(testset)
                field = None
                if request.output_as_expected:
                    field = checked(curation.output_field, list(mapping.expected), testset["name"])
                project = testset["project_id"]
                if call_ids:
                    sources = await curation.calls_as_sources(write.conn, project, call_ids)
                else:
                    sources = await curation.records_as_sources(write.conn, project, record_ids)
                made = curation.curate(sources, field)
                held = await write.held(made.testcases) if made.testcases else set()
                fresh = [d for i, d in enumerate(made.testcases) if i not in held]
                ids: list[uuid.UUID] = []
                if fresh:
                    ids = await write.add([validation.derive_testcase(d, mapping, validator) for d in fresh])
                    testset = await write.finish("testcases_added", schema, mapping)
        except TestsetNotFound:
            raise not_found(f"testset {request.testset_id} does not exist") from None
        if not fresh:  # nothing new: no version was made
            unchanged = await self._testsets.get_testset(tid)
            if unchanged is None:
                raise not_found(f"testset {request.testset_id} does not exist")
            testset = unchanged
        return pb.AddTestcasesFromResponse(
            testset=testset_pb(testset),
            testcase_ids=[str(i) for i in ids],
            added=len(ids),
            already=made.already + len(held),
            no_output=made.no_output,
        )

    async def update_testcase(self, request: pb.UpdateTestcaseRequest) -> pb.UpdateTestcaseResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        cid: uuid.UUID = parse_uuid(request.testcase_id, "testcase_id")
        if not request.HasField("data"):
            raise invalid("data is required: the testcase's new JSON object")
        data = struct_to_dict(request.data)
        try:
            async with self._testsets.new_version(tid) as write:
                schema, mapping, validator = _derivation(write.testset)
                derived = validation.derive_testcase(data, mapping, validator)
                positions = await write.revise([(cid, derived)])
                if cid not in positions:
                    raise not_found(f"testcase {request.testcase_id} is not in testset {request.testset_id}")
                row = await write.finish("testcase_updated", schema, mapping)
        except TestsetNotFound:
            raise not_found(f"testset {request.testset_id} does not exist") from None
        stored = {
            "testcase_id": cid,
            "position": positions[cid],
            "from_version": row["version"],
            **vars(derived),
        }
        return pb.UpdateTestcaseResponse(testset=testset_pb(row), testcase=testcase_pb(str(tid), stored))

    async def delete_testcases(self, request: pb.DeleteTestcasesRequest) -> pb.DeleteTestcasesResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        if not request.testcase_ids:
            raise invalid("testcase_ids must name at least one testcase")
        ids: list[uuid.UUID] = list(dict.fromkeys(parse_uuid(i, "testcase_ids") for i in request.testcase_ids))
        try:
            async with self._testsets.new_version(tid) as write:
                deleted = await write.delete(ids)
                missing = [str(i) for i in ids if i not in deleted]
                if missing:
                    raise not_found(f"testcases not in testset {request.testset_id}: {', '.join(missing[:10])}")
                schema, mapping, _ = _derivation(write.testset)
                row = await write.finish("testcases_deleted", schema, mapping)
        except TestsetNotFound:
            raise not_found(f"testset {request.testset_id} does not exist") from None
        return pb.DeleteTestcasesResponse(testset=testset_pb(row))

    async def list_testcases(self, request: pb.ListTestcasesRequest) -> pb.ListTestcasesResponse:
        tid = parse_uuid(request.testset_id, "testset_id")
        limit = page_size(request.page_size, 100, 1000)
        searched = search(request.search)
        after = -1
        version = request.version
        if request.page_token:
            # The token pins the version of the first page: later pages never mix versions.
            token = page_tokens.decode(request.page_token, ("v", "p"), request, ignore=("version",))
            pinned = page_tokens.integer(token["v"])
            if version and version != pinned:
                raise invalid(f"version {version} differs from the page_token's version {pinned}")
            version, after = pinned, page_tokens.integer(token["p"])
        subset_of = None
        if request.run_id:  # the run's testcases: of the version it pinned, the part it chose
            run = await self._testsets.run_testcases(parse_uuid(request.run_id, "run_id"))
            if run is None:
                raise not_found(f"run {request.run_id} does not exist")
            if run["testset_id"] != tid:
                raise invalid(f"run {request.run_id} is not a run of testset {request.testset_id}")
            if version and version != run["testset_version"]:
                raise invalid(f"run {request.run_id} pinned version {run['testset_version']}, not {version}")
            version = run["testset_version"]
            subset_of = parse_uuid(request.run_id, "run_id") if run["subset"] else None
        testset = await self._testset_at(tid, version)
        version = testset["version"]
        rows = await self._testsets.list_testcases(
            tid, version, after, limit + 1, invalid_only=request.invalid_only, search=searched, subset_of=subset_of
        )
        response = pb.ListTestcasesResponse(testcases=[testcase_pb(str(tid), r) for r in rows[:limit]], version=version)
        if len(rows) > limit:
            response.next_page_token = page_tokens.encode(
                {"v": version, "p": rows[limit - 1]["position"]}, request, ignore=("version",)
            )
        return response


def _derivation(
    testset: asyncpg.Record,
) -> tuple[dict[str, Any] | None, validation.FieldMapping, Any]:
    """The stored schema and mapping of a testset, and the schema's validator."""
    schema = testset["json_schema"]
    return schema, validation.mapping_from_json(testset["field_mapping"]), validation.schema_validator(schema)
