"""TestsetService (proto/scorekeeper/v1/testsets.proto): one implementation behind gRPC and HTTP."""

from __future__ import annotations

import uuid

from scorekeeper.v1 import testsets_pb2 as pb

from services.run_orchestrator.catalog import require_name
from services.run_orchestrator.repository import CatalogRepository
from services.run_orchestrator.testsets import validation
from services.run_orchestrator.testsets.repository import TestsetRepository
from shared.edge.convert import dict_to_struct, parse_uuid, struct_to_dict, timestamp
from shared.edge.errors import invalid, not_found
from shared.edge.validation import checked


class TestsetApi:
    """Testsets and their testcases."""

    def __init__(self, testsets: TestsetRepository, catalog: CatalogRepository) -> None:
        self._testsets = testsets
        self._catalog = catalog

    async def _project(self, project_id: str) -> uuid.UUID:
        pid: uuid.UUID = parse_uuid(project_id, "project_id")
        if await self._catalog.get_project(pid) is None:
            raise not_found(f"project {project_id} does not exist")
        return pid

    async def create_testset(self, request: pb.CreateTestsetRequest) -> pb.Testset:
        pid = await self._project(request.project_id)
        name = checked(require_name, request.name)
        m = request.field_mapping
        mapping = checked(validation.parse_mapping, list(m.inputs), list(m.expected), list(m.metadata))
        schema = struct_to_dict(request.json_schema) if request.HasField("json_schema") else None
        validator = checked(validation.schema_validator, schema)
        if not request.testcases:
            raise invalid("testcases must hold at least one testcase")
        if len(request.testcases) > validation.MAX_TESTCASES_PER_REQUEST:
            raise invalid(
                f"at most {validation.MAX_TESTCASES_PER_REQUEST} testcases per request, got {len(request.testcases)}"
            )
        rows = [validation.derive_testcase(struct_to_dict(t), mapping, validator) for t in request.testcases]
        row = await self._testsets.create_testset(pid, name, request.description, schema, mapping, rows)
        return pb.Testset(
            id=str(row["id"]),
            project_id=str(pid),
            name=row["name"],
            description=row["description"],
            field_mapping=pb.FieldMapping(**mapping.as_json()),
            json_schema=dict_to_struct(schema),
            version=row["version"],
            testcase_count=len(rows),
            created_at=timestamp(row["created_at"]),
        )
