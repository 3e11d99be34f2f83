"""Composition root of the run-orchestrator."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial

from scorekeeper.v1 import (
    access_pb2,
    catalog_pb2,
    monitors_pb2,
    playground_pb2,
    review_pb2,
    runs_pb2,
    schedules_pb2,
    testsets_pb2,
    webhooks_pb2,
)

from services.run_orchestrator.access.api import AccessApi
from services.run_orchestrator.access.audit import AuditRepository, audited_actions
from services.run_orchestrator.access.repository import KeyRepository
from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.monitors.api import MonitorApi
from services.run_orchestrator.monitors.calls import LogCalls
from services.run_orchestrator.monitors.feedback import FeedbackRepository, SendFeedback
from services.run_orchestrator.monitors.repository import MonitorRepository
from services.run_orchestrator.monitors.retention import CallRetention
from services.run_orchestrator.monitors.trace_store import TraceStore
from services.run_orchestrator.monitors.window_repository import WindowRepository
from services.run_orchestrator.monitors.windows import WindowCloser, WindowSettings
from services.run_orchestrator.playground.api import PlaygroundApi
from services.run_orchestrator.playground.repository import TryRepository
from services.run_orchestrator.playground.tries import Tries
from services.run_orchestrator.reviews.api import ReviewApi
from services.run_orchestrator.reviews.repository import ReviewRepository
from services.run_orchestrator.runs.api import RunApi
from services.run_orchestrator.runs.attempts import AttemptRepository
from services.run_orchestrator.runs.handlers import OrchestratorHandlers
from services.run_orchestrator.runs.human_review import HumanReview
from services.run_orchestrator.runs.ingest import Ingest
from services.run_orchestrator.runs.kickoff import Kickoff
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.rescore import Rescore
from services.run_orchestrator.runs.retry import Retry
from services.run_orchestrator.runs.scoring import ScoreRequests
from services.run_orchestrator.runs.settlement import Settlement
from services.run_orchestrator.schedules.api import ScheduleApi
from services.run_orchestrator.schedules.firing import Firing
from services.run_orchestrator.schedules.repository import ScheduleRepository
from services.run_orchestrator.settings import OrchestratorSettings
from services.run_orchestrator.testsets.api import TestsetApi
from services.run_orchestrator.testsets.repository import TestsetRepository
from services.run_orchestrator.webhooks.api import WebhookApi
from services.run_orchestrator.webhooks.repository import RunWebhooks, WebhookRepository
from shared import telemetry
from shared.auth.guard import Guard
from shared.db.pool import create_pool, database_reachable
from shared.edge.api import bind
from shared.periodic import every
from shared.run_status import RunStatus
from shared.runtime import ServiceParts, database_url, make_bus

SERVICE = "run-orchestrator"
# The gRPC services it serves, by name (their audited RPCs are the actions its audit log holds).
SERVICES = {
    service.name: service
    for module in (
        catalog_pb2,
        runs_pb2,
        testsets_pb2,
        access_pb2,
        review_pb2,
        playground_pb2,
        monitors_pb2,
        schedules_pb2,
        webhooks_pb2,
    )
    for service in module.DESCRIPTOR.services_by_name.values()
}


async def build(stack: AsyncExitStack, settings: OrchestratorSettings) -> ServiceParts:
    pool = await stack.enter_async_context(create_pool(await database_url(settings), max_size=settings.db_pool_max))
    bus = await make_bus(settings, SERVICE)
    runs = RunRepository(pool, RunWebhooks(settings.public_console_url).run_moved)
    catalog, testsets = CatalogRepository(pool), TestsetRepository(pool)
    attempts, reviews = AttemptRepository(pool), ReviewRepository(pool)
    scores = ScoreRequests(bus)
    settlement = Settlement(runs, attempts)
    OrchestratorHandlers(runs, bus, scores, settlement).register()
    catalog_api = CatalogApi(catalog, settings.secret_env(), settings.call_retention_max_days)
    human = HumanReview(catalog, runs, reviews, scores)
    kickoff = Kickoff(catalog, testsets, runs, bus)
    tries = TryRepository(pool)
    run_api = RunApi(
        catalog_api,
        runs,
        kickoff=kickoff,
        rescore=Rescore(catalog, runs, scores),
        ingest=Ingest(catalog, runs, bus),
        human=human,
        retry=Retry(catalog, attempts, settlement, bus),
    )
    monitors = MonitorRepository(pool)
    traces = TraceStore(pool, monitors)
    schedules = ScheduleRepository(pool)
    firing = Firing(pool, schedules, catalog, kickoff, settings.schedule_tick_s)
    windows = WindowCloser(
        WindowRepository(pool),
        runs,
        scores,
        WindowSettings(
            tick_s=settings.monitor_tick_s,
            max_calls=settings.monitor_max_window_calls,
            grace_s=settings.monitor_grace_s,
            stale_s=settings.monitor_stale_s,
            console_url=settings.public_console_url,
        ),
    )

    guard = Guard.over(pool, SERVICE, settings.admin_key.get_secret_value(), audit=True)
    audit, audit_days = guard.audit, settings.audit_retention_days
    assert audit is not None

    async def refresh_status_gauge() -> None:
        counts = await runs.count_by_status()
        for status in RunStatus:
            telemetry.RUNS_BY_STATUS.labels(status).set(counts.get(status, 0))

    return ServiceParts(
        bus=bus,
        apis=[
            bind(SERVICES["CatalogService"], catalog_api),
            bind(SERVICES["RunService"], run_api),
            bind(SERVICES["TestsetService"], TestsetApi(testsets, catalog_api)),
            bind(
                SERVICES["AccessService"],
                AccessApi(KeyRepository(pool), catalog_api, AuditRepository(pool), audited_actions(SERVICES.values())),
            ),
            bind(SERVICES["ReviewService"], ReviewApi(catalog, reviews, human)),
            bind(
                SERVICES["PlaygroundService"],
                PlaygroundApi(
                    catalog_api,
                    Tries(pool, catalog, testsets, runs, kickoff, tries, settings.secret_env()),
                    tries,
                ),
            ),
            bind(
                SERVICES["MonitorService"],
                MonitorApi(
                    catalog_api,
                    catalog,
                    monitors,
                    LogCalls(monitors),
                    SendFeedback(FeedbackRepository(pool)),
                    settings.public_console_url,
                    traces,
                ),
            ),
            bind(
                SERVICES["ScheduleService"],
                ScheduleApi(catalog_api, kickoff, schedules, firing),
            ),
            bind(
                SERVICES["WebhookService"],
                WebhookApi(catalog_api, catalog, WebhookRepository(pool), settings.public_console_url),
            ),
        ],
        guard=guard,
        background=[
            partial(every, settings.status_gauge_interval_s, "the runs-by-status gauge", refresh_status_gauge),
            windows.run,
            firing.run,
            CallRetention(pool, settings.retention_tick_s, limit_days=settings.call_retention_max_days).run,
            partial(every, settings.retention_tick_s, "audit retention", partial(audit.purge, audit_days)),
            partial(every, settings.retention_tick_s, "pending trace spans", traces.purge),
        ],
        readiness=[partial(database_reachable, pool), bus.connected],
    )
