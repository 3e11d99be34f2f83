"""Composition root of the scorer."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

from services.scorer.handlers import ScorerHandlers
from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.judge import Judge
from services.scorer.repository import ScoreRepository
from services.scorer.scorers import scorers
from services.scorer.settings import ScorerSettings
from shared.db.pool import create_pool, database_reachable
from shared.llm import Endpoint, LlmGateway
from shared.outbound.allowlist import openai_http_client
from shared.runtime import ServiceParts, database_url, make_bus

SERVICE = "scorer"


async def build(stack: AsyncExitStack, settings: ScorerSettings) -> ServiceParts:
    pool = await stack.enter_async_context(create_pool(await database_url(settings), max_size=settings.db_pool_max))
    bus = await make_bus(settings, SERVICE)
    gateway = LlmGateway(
        settings.limits(),
        settings.prices(),
        purpose="judge",
        http_client=openai_http_client(
            settings.allowlist(settings.judge_base_url),
            platform=settings.platform(),
            max_connections=64,
            label="judge endpoint",
            owner="scorer",
        ),
    )
    stack.push_async_callback(gateway.aclose)
    judge = Judge(
        gateway,
        Endpoint(base_url=settings.judge_base_url, api_key_env=settings.judge_api_key_env or None),
        settings.secret_env(),
    )
    heuristics = HeuristicPool(settings.heuristic_workers, settings.heuristic_cpu_s)
    stack.callback(heuristics.close)
    await heuristics.warm()
    repo = ScoreRepository(pool)
    ScorerHandlers(repo, bus, scorers(heuristics, judge, repo)).register()
    return ServiceParts(bus=bus, readiness=[partial(database_reachable, pool), bus.connected])
