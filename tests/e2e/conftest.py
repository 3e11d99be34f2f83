"""The stack for end-to-end tests: every service as its own OS process on real NATS + PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import Client
from shared.devstack.stack import Stack, StackConfig
from tests.conftest import clone_database


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, nats_url: str
) -> AsyncIterator[Stack]:
    import uuid

    running = Stack(
        StackConfig(
            data_dir=tmp_path_factory.mktemp("stack"),
            database_url=await clone_database(pg_server, template_database),
            bus_url=nats_url,
            topic_prefix=f"e{uuid.uuid4().hex[:8]}.",
        )
    )
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with Client(stack.orchestrator_grpc, stack.query_grpc) as c:
        yield c
