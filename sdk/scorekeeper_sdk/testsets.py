"""Client methods for testsets and testcases (TestsetService)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.calls import Calls, struct


class TestsetMethods(Calls):
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
