"""What the playground's end-to-end tests share: a saved llm version, and the SDK on a stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from scorekeeper_sdk import AsyncScorekeeper, Client
from scorekeeper_sdk.client import cpb
from scorekeeper_sdk.exact_json import struct
from shared.devstack.stack import Stack


async def llm_version(client: Client, project_id: str, config: dict[str, Any]) -> cpb.SystemVersion:
    """Version v1 of the system "bot": the prompt ``config``."""
    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=project_id, name="bot"))
    version: cpb.SystemVersion = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system.id, kind="llm", name="v1", config=struct(config))
    )
    return version


@asynccontextmanager
async def sdk(stack: Stack, api_key: str) -> AsyncIterator[AsyncScorekeeper]:
    async with AsyncScorekeeper(
        f"grpc://{stack.orchestrator_grpc}", api_key, query_url=f"grpc://{stack.query_grpc}"
    ) as client:
        yield client
