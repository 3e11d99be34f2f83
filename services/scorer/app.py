"""Composition root of the scorer."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

from services.scorer.handlers import ScorerHandlers
from services.scorer.repository import ScoreRepository
from services.scorer.settings import ScorerSettings
from shared.db.pool import create_pool, database_reachable
from shared.runtime import ServiceParts, database_url, make_bus

SERVICE = "scorer"


async def build(stack: AsyncExitStack, settings: ScorerSettings) -> ServiceParts:
    pool = await stack.enter_async_context(create_pool(await database_url(settings), max_size=settings.db_pool_max))
    bus = await make_bus(settings, SERVICE)
    ScorerHandlers(ScoreRepository(pool), bus).register()
    return ServiceParts(bus=bus, readiness=[partial(database_reachable, pool), bus.connected])
