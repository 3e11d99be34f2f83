"""PlaygroundService (proto/scorekeeper/v1/playground.proto): proto ⇄ domain, then the use case."""

from __future__ import annotations

import uuid

import asyncpg
from scorekeeper.v1 import playground_pb2 as pb

from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.playground.messages import try_pb
from services.run_orchestrator.playground.repository import TryRepository
from services.run_orchestrator.playground.rules import typed_case
from services.run_orchestrator.playground.tries import Tries, TryRequest
from services.run_orchestrator.testsets.messages import page_size
from shared.auth.access import caller
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import not_found


def _optional_uuid(value: str, field: str) -> uuid.UUID | None:
    return parse_uuid(value, field) if value else None


class PlaygroundApi:
    """Tries: create one, read one, list a project's."""

    def __init__(self, catalog_api: CatalogApi, tries: Tries, repository: TryRepository) -> None:
        self._project = catalog_api.project
        self._tries = tries
        self._repository = repository

    async def create_try(self, request: pb.CreateTryRequest) -> pb.Try:
        pid = await self._project(request.project_id)
        try_id = await self._tries(
            TryRequest(
                project_id=pid,
                system_version_id=_optional_uuid(request.system_version_id, "system_version_id"),
                config=struct_to_dict(request.config) if request.HasField("config") else None,
                testset_id=_optional_uuid(request.testset_id, "testset_id"),
                testcase_ids=[parse_uuid(t, "testcase_ids") for t in request.testcase_ids],
                typed=[
                    typed_case(struct_to_dict(c.inputs), struct_to_dict(c.expected), struct_to_dict(c.metadata))
                    for c in request.cases
                ],
                metric_ids=[parse_uuid(m, "metric_ids") for m in request.metric_ids],
                metric_group_id=_optional_uuid(request.metric_group_id, "metric_group_id"),
            ),
            caller(),
        )
        return await self._try(try_id)

    async def get_try(self, request: pb.GetTryRequest) -> pb.Try:
        return await self._try(parse_uuid(request.try_id, "try_id"))

    async def list_tries(self, request: pb.ListTriesRequest) -> pb.ListTriesResponse:
        pid = await self._project(request.project_id)
        limit = page_size(request.page_size, 20, 100)
        rows = await self._repository.list_tries(pid, page_tokens.newest_first_after(request), limit + 1)
        return pb.ListTriesResponse(
            tries=await self._views(rows[:limit]),
            next_page_token=page_tokens.newest_first_token(rows, limit, request),
        )

    async def _try(self, try_id: uuid.UUID) -> pb.Try:
        row = await self._repository.get(try_id)
        if row is None:
            raise not_found(f"try {try_id} does not exist")
        (view,) = await self._views([row])
        return view

    async def _views(self, rows: list[asyncpg.Record]) -> list[pb.Try]:
        cases = await self._repository.cases([r["run_id"] for r in rows])
        return [try_pb(r, cases[r["run_id"]]) for r in rows]
