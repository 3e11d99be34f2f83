"""The stack for end-to-end tests: every service as its own OS process on real NATS + PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from scorekeeper_sdk import Client
from shared.devstack.stack import Stack, StackConfig
from tests.conftest import clone_database


@asynccontextmanager
async def running_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, nats_url: str, **config: Any
) -> AsyncIterator[Stack]:
    """A whole stack on its own database and topic prefix, stopped (SIGTERM) on exit."""
    stack = Stack(
        StackConfig(
            data_dir=tmp_path_factory.mktemp("stack"),
            database_url=await clone_database(pg_server, template_database),
            bus_url=nats_url,
            topic_prefix=f"e{uuid.uuid4().hex[:8]}.",
            **config,
        )
    )
    try:
        await stack.start()
        yield stack
    finally:
        await stack.stop()


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, nats_url: str
) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path_factory, pg_server, template_database, nats_url) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with Client(stack.orchestrator_grpc, stack.query_grpc) as c:
        yield c
