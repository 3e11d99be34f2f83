"""The one place that creates Kafka topics, on Tansu: what the devstack, the tests and the
compose / k8s jobs (``python -m shared.messaging.kafka_topics create``) get."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.messaging.kafka_topics import bootstrap_servers, create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

DATA = ["run.created", "chunk.requested", "record.produced", "score.requested", "score.completed"]


async def _partitions(url: str, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def test_every_topic_is_created_once_with_its_partition_count(tansu_url: str) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}."
    first = await create_topics(tansu_url, prefix)
    again = await create_topics(tansu_url, prefix)

    expected = {f"{prefix}{t}": 12 for t in DATA} | {f"{prefix}{t}.dlq": 1 for t in DATA}
    assert sorted(first.created) == sorted(expected)
    assert (again.created, again.mismatched) == ([], {})
    assert first.partitions == again.partitions == expected
    assert await _partitions(tansu_url, sorted(expected)) == expected
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(tansu_url))
    await admin.start()
    try:
        (described,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{prefix}run.created.dlq")]
        )
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in described.resources[0][4]}
    assert configs["retention.ms"] == str(30 * 24 * 3600 * 1000)


async def test_a_topic_the_broker_auto_created_is_reported_not_recreated(tansu_url: str) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}."
    # A publish before the topics exist: Tansu creates the topic itself, with 4 partitions.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(tansu_url))
    await producer.start()
    try:
        await producer.send_and_wait(f"{prefix}score.requested", b"{}")
    finally:
        await producer.stop()

    done = await create_topics(tansu_url, prefix)

    assert done.mismatched == {f"{prefix}score.requested": (4, 12)}
    assert len(done.created) == 9 and f"{prefix}score.requested" not in done.created


async def test_the_command_creates_the_topics_of_the_configured_bus_and_prefix(tansu_url: str) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "SCOREKEEPER_BUS_URL": tansu_url, "SCOREKEEPER_TOPIC_PREFIX": prefix}
    command = [sys.executable, "-m", "shared.messaging.kafka_topics", "create", "--partitions", "3"]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 10
    assert f"{prefix}score.requested" in lines[-2] and "3 partitions  created" in lines[-2]
    assert await _partitions(tansu_url, [f"{prefix}record.produced", f"{prefix}record.produced.dlq"]) == {
        f"{prefix}record.produced": 3,
        f"{prefix}record.produced.dlq": 1,
    }
