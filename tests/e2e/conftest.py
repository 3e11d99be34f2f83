"""The stack for end-to-end tests: every service as its own OS process on a real broker + PostgreSQL.

The broker comes from the module-scoped ``bus`` fixture: a module lists the buses it runs on in
``BUSES`` (NATS alone by default; the lifecycle, resilience, executor replica and failure modules
name both), and ``pytest --bus=kafka`` (``make test-kafka``) runs every module on Kafka (Tansu).

A module that sets ``SHARED_STACK = True`` gets, as ``stack``, one stack per broker shared with the
other such modules of its worker (pytest-xdist) for the whole session (starting five service
processes costs ~5 s): it must do nothing to the stack but add projects and their data — stop no
process, count nothing instance-wide (an admin's project list, a process's /metrics). What it
leaves running is stopped after it: its live runs cancelled, its schedules deleted. The others
get a stack of their own.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, Client, FailedPrecondition
from services.demo_system.app import answer
from shared.devstack.stack import Stack, StackConfig
from shared.embedded_kafka import fast_join_env
from shared.run_status import LIVE
from tests.conftest import clone_database
from tests.support.browser import page_problems
from tests.support.fake_llm import FakeLlmServer, Reply
from tests.support.judge_brain import judge_brain


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bus" in metafunc.fixturenames:
        if metafunc.config.getoption("--bus") == "kafka":
            buses: tuple[str, ...] = ("kafka",)
        else:
            buses = getattr(metafunc.module, "BUSES", ("nats",))
        metafunc.parametrize("bus", buses, indirect=True, scope="module")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("bus") == "kafka":
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="module")
def bus(request: pytest.FixtureRequest) -> str:
    """The broker kind this module's stacks run on: "nats" or "kafka"."""
    return str(request.param)


@pytest.fixture(scope="module")
def bus_url(bus: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("tansu_url" if bus == "kafka" else "nats_url"))


async def started_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str, **config: Any
) -> Stack:
    """A whole stack started on its own database and topic prefix (its topics created first on
    Kafka). On Kafka (Tansu) the services take fast group joins."""
    if bus_url.startswith("kafka://"):
        config["env"] = {**fast_join_env(), **config.get("env", {})}
    stack = Stack(
        StackConfig(
            data_dir=tmp_path_factory.mktemp("stack"),
            database_url=await clone_database(pg_server, template_database),
            bus_url=bus_url,
            topic_prefix=f"e{uuid.uuid4().hex[:8]}.",
            **config,
        )
    )
    try:
        await stack.start()
    except BaseException:
        await stack.stop()
        raise
    return stack


@asynccontextmanager
async def running_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str, **config: Any
) -> AsyncIterator[Stack]:
    """``started_stack``, stopped (SIGTERM) on exit."""
    stack = await started_stack(tmp_path_factory, pg_server, template_database, bus_url, **config)
    try:
        yield stack
    finally:
        await stack.stop()


@pytest.fixture(scope="session")
async def shared_stacks() -> AsyncIterator[dict[str, Stack]]:
    """The stacks SHARED_STACK modules share, by broker URL; stopped at the session's end."""
    stacks: dict[str, Stack] = {}
    try:
        yield stacks
    finally:
        for shared in stacks.values():
            await shared.stop()


@pytest.fixture(scope="module")
async def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: str,
    template_database: str,
    bus_url: str,
    shared_stacks: dict[str, Stack],  # after the servers, so it is stopped before them
) -> AsyncIterator[Stack]:
    if not getattr(request.module, "SHARED_STACK", False):
        async with running_stack(tmp_path_factory, pg_server, template_database, bus_url) as running:
            yield running
        return
    shared = shared_stacks.get(bus_url)
    if shared is None:
        shared = await started_stack(tmp_path_factory, pg_server, template_database, bus_url)
        shared_stacks[bus_url] = shared
    if gone := [p.name for p in shared.processes if not p.running()]:
        pytest.fail(f"the shared stack lost {', '.join(gone)} before this module (logs: {shared.log_dir})")
    async with shared.sdk() as admin:
        before = {p.id for p in await admin.list_projects()}
    yield shared
    await _stop_what_is_left(shared, before)


async def _stop_what_is_left(shared: Stack, before: set[str]) -> None:
    """A module's live runs cancelled and its schedules deleted, so the next module's tests run on
    a quiet stack."""
    async with shared.sdk() as admin:
        for project in await admin.list_projects():
            if project.id in before:
                continue
            async for run in admin.list_runs(project.id, statuses=sorted(LIVE)):
                with contextlib.suppress(FailedPrecondition):  # it ended meanwhile
                    await admin.cancel_run(run.id)
            for schedule in await admin.list_schedules(project.id):
                await admin.delete_schedule(schedule.id)


@pytest.fixture(autouse=True)
def no_page_problems() -> Iterator[None]:
    """A test whose browser pages threw or had the console's CSP refuse something fails."""
    page_problems()
    yield
    problems = page_problems()
    assert not problems, "the pages went wrong:\n" + "\n".join(problems)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with stack.client() as c:
        yield c


@pytest.fixture
async def sk(stack: Stack) -> AsyncIterator[AsyncScorekeeper]:
    """The SDK's async client with the instance admin key."""
    async with AsyncScorekeeper(
        f"grpc://{stack.orchestrator_grpc}", stack.admin_key, query_url=f"grpc://{stack.query_grpc}"
    ) as c:
        yield c


# A stack whose scorer (judge) and executor (llm systems) call a fake chat-completions server.
LLM_KEY_ENV = "SCOREKEEPER_E2E_LLM_KEY"
LLM_KEY = "sk-e2e-51d0-not-a-real-key"
# USD per million tokens.
LLM_PRICES = {
    "e2e-judge": {"input_per_mtok": 1.0, "output_per_mtok": 4.0},
    "e2e-bot": {"input_per_mtok": 3.0, "output_per_mtok": 15.0},
}


def bot_or_judge(body: dict[str, Any]) -> Reply:
    """Models named e2e-bot* answer the last message like the demo system; the others judge."""
    if str(body.get("model", "")).startswith("e2e-bot"):
        _, text = answer(body["messages"][-1]["content"])
        return Reply(content=text)
    return judge_brain(body)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(bot_or_judge, expected_key=LLM_KEY) as server:
        yield server


@pytest.fixture(scope="module")
async def llm_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str, llm: FakeLlmServer
) -> AsyncIterator[Stack]:
    env = {
        "SCOREKEEPER_JUDGE_BASE_URL": llm.base_url,
        "SCOREKEEPER_JUDGE_API_KEY_ENV": LLM_KEY_ENV,
        "SCOREKEEPER_LLM_BASE_URL": llm.base_url,
        "SCOREKEEPER_LLM_API_KEY_ENV": LLM_KEY_ENV,
        LLM_KEY_ENV: LLM_KEY,
        "SCOREKEEPER_LLM_PRICES_JSON": json.dumps(LLM_PRICES),
        "SCOREKEEPER_LLM_BACKOFF_BASE_S": "0.05",
    }
    async with running_stack(tmp_path_factory, pg_server, template_database, bus_url, env=env) as stack:
        yield stack
