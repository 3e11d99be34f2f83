"""Composition root of the query service."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

from scorekeeper.v1 import query_pb2

from services.query.api import QueryApi
from services.query.settings import QuerySettings
from shared.auth.guard import Guard
from shared.db.pool import create_pool, database_reachable, read_json
from shared.edge.api import bind
from shared.runtime import ServiceParts, database_url

SERVICE = "query"


async def build(stack: AsyncExitStack, settings: QuerySettings) -> ServiceParts:
    pool = await stack.enter_async_context(
        create_pool(await database_url(settings), max_size=settings.db_pool_max, json_decoder=read_json)
    )
    api = QueryApi(pool, settings.public_console_url)
    return ServiceParts(
        apis=[bind(query_pb2.DESCRIPTOR.services_by_name["QueryService"], api)],
        readiness=[partial(database_reachable, pool)],
        guard=Guard.over(pool, SERVICE, settings.admin_key.get_secret_value()),
    )
