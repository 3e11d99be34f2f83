"""Composition root of the system-executor."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from functools import partial

import httpx

from services.system_executor.executor import RunExecutor
from services.system_executor.handlers import ExecutorHandlers
from services.system_executor.http_system import Execution, call_http_system
from services.system_executor.repository import ExecutorRepository, RunPlan, Testcase
from services.system_executor.settings import ExecutorSettings
from shared.db.pool import create_pool, database_reachable
from shared.runtime import ServiceParts, database_url, make_bus
from shared.system_config import parse_http_config

SERVICE = "system-executor"


async def build(stack: AsyncExitStack, settings: ExecutorSettings) -> ServiceParts:
    pool = await stack.enter_async_context(create_pool(await database_url(settings), max_size=settings.db_pool_max))
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
            follow_redirects=False,
        )
    )
    bus = await make_bus(settings, SERVICE)
    repo = ExecutorRepository(pool)

    async def call(plan: RunPlan, testcase: Testcase) -> Execution:
        config = parse_http_config(plan.system_config)
        context = {"inputs": testcase.inputs, "metadata": testcase.metadata}
        return await call_http_system(client, config, context, max_response_bytes=settings.max_response_bytes)

    executor = RunExecutor(
        repo,
        call,
        bus.publish,
        global_limit=asyncio.Semaphore(settings.max_concurrency),
        default_run_concurrency=settings.default_run_concurrency,
    )
    ExecutorHandlers(repo, executor, bus).register()
    return ServiceParts(bus=bus, readiness=[partial(database_reachable, pool), bus.connected])
