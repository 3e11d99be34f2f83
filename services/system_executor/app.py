"""Composition root of the system-executor."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

from services.system_executor.alerts import AlertDeliveries, AlertRepository
from services.system_executor.callers import callers
from services.system_executor.execution import Execution, Wait
from services.system_executor.executor import RunExecutor
from services.system_executor.handlers import ExecutorHandlers
from services.system_executor.http_system import HttpSystemCaller, RetryPolicy
from services.system_executor.leases import ChunkClaims, LeaseStore
from services.system_executor.llm_system import LlmSystemCaller
from services.system_executor.posts import DeliverySettings
from services.system_executor.repository import ExecutorRepository, RunPlan, Testcase
from services.system_executor.run_webhooks import RunWebhookDeliveries, RunWebhookRepository
from services.system_executor.settings import ExecutorSettings
from shared.db.pool import create_pool, database_reachable
from shared.llm import Endpoint, LlmGateway
from shared.outbound.allowlist import openai_http_client, outbound_http_client
from shared.outbound.session import outbound_session
from shared.runtime import ServiceParts, database_url, make_bus

SERVICE = "system-executor"


async def build(stack: AsyncExitStack, settings: ExecutorSettings) -> ServiceParts:
    pool = await stack.enter_async_context(create_pool(await database_url(settings), max_size=settings.db_pool_max))
    platform = settings.platform()
    session = await stack.enter_async_context(
        outbound_session(settings.allowlist(), platform=platform, max_connections=settings.max_concurrency)
    )
    caller = HttpSystemCaller(
        session,
        max_response_bytes=settings.max_response_bytes,
        max_redirects=settings.max_redirects,
        retry=RetryPolicy(settings.retry_backoff_base_s, settings.retry_backoff_max_s, settings.max_retry_after_s),
        secret_env=settings.secret_env(),
    )
    gateway = LlmGateway(
        settings.limits(),
        settings.prices(),
        purpose="system",
        http_client=openai_http_client(
            settings.allowlist(settings.llm_base_url),
            platform=platform,
            max_connections=settings.max_concurrency,
            label="llm system endpoint",
            owner="executor",
        ),
    )
    stack.push_async_callback(gateway.aclose)
    llm_caller = LlmSystemCaller(
        gateway,
        Endpoint(base_url=settings.llm_base_url, api_key_env=settings.llm_api_key_env or None),
        settings.secret_env(),
    )
    bus = await make_bus(settings, SERVICE)
    repo = ExecutorRepository(pool)

    by_kind = callers(caller, llm_caller)

    async def call(plan: RunPlan, testcase: Testcase, rate_share: float, wait: Wait) -> Execution:
        context = {"inputs": testcase.inputs, "metadata": testcase.metadata}
        return await by_kind[plan.system_kind](plan.system_config, context, rate_share, wait)

    executor = RunExecutor(
        repo,
        LeaseStore(pool, settings.lease_ttl_s),
        ChunkClaims(pool, settings.lease_ttl_s),
        call,
        bus.publish,
        global_limit=settings.max_concurrency,
        default_run_concurrency=settings.default_run_concurrency,
        poll_s=settings.lease_poll_s,
    )
    ExecutorHandlers(
        repo,
        executor,
        bus,
        chunk_calls=settings.chunk_calls,
        run_concurrency=settings.consumer_concurrency,
        chunk_concurrency=settings.chunk_concurrency,
        kinds=frozenset(by_kind),
    ).register()
    # Monitor alerts and run webhooks: the same checks as every call out, a client of their own.
    webhooks = await stack.enter_async_context(
        outbound_http_client(settings.allowlist(), platform=platform, max_connections=4, label="webhook URL")
    )
    deliveries = DeliverySettings(
        poll_s=settings.alert_poll_s, timeout_s=settings.alert_timeout_s, max_attempts=settings.alert_max_attempts
    )
    alerts = AlertDeliveries(AlertRepository(pool), webhooks, deliveries)
    runs_told = RunWebhookDeliveries(RunWebhookRepository(pool), webhooks, deliveries)
    return ServiceParts(
        bus=bus, background=[alerts.run, runs_told.run], readiness=[partial(database_reachable, pool), bus.connected]
    )
