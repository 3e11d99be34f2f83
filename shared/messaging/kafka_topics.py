"""The Kafka topics of one topic prefix with their partition counts: the one place that creates them.

The devstack, the tests, the benchmarks and the compose / Kubernetes jobs
(``python -m shared.messaging.kafka_topics create``) all create topics through
``create_topics``. Nothing may rely on a broker creating them: Apache Kafka would make
``num.partitions`` (1 by default) of each, Tansu makes 4 and silently loses writes to partitions a
topic does not have, and FastStream itself would create a subscribed topic with one partition
(the transport turns that off). So topics exist, with their counts, before any service starts.

Data topics get ``DATA_PARTITIONS`` partitions (a consumer group runs at most one busy consumer
per partition, across all replicas); dead-letter topics get one partition and a 30-day retention
(dead letters are settled by the services at once, and kept for inspection and replay).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code

from shared.topics import Topic, physical

log = logging.getLogger(__name__)

DATA_PARTITIONS = 12
DLQ_PARTITIONS = 1
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One physical topic as Scorekeeper creates it."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(prefix: str = "", *, partitions: int = DATA_PARTITIONS) -> list[TopicSpec]:
    """Every topic of ``prefix``: each topic of ``shared.topics.Topic`` and its ``.dlq``."""
    specs: list[TopicSpec] = []
    for topic in Topic:
        specs.append(TopicSpec(physical(topic.value, prefix), partitions))
        specs.append(
            TopicSpec(
                physical(topic.dlq, prefix),
                DLQ_PARTITIONS,
                {"retention.ms": str(DLQ_RETENTION_MS), "cleanup.policy": "delete"},
            )
        )
    return specs


@dataclass
class Provisioned:
    """What ``create_topics`` found and did: every topic of the prefix with its partition count."""

    created: list[str]
    partitions: dict[str, int]
    # Topics that already existed with another partition count than Scorekeeper creates: left as
    # they are (raising partitions is an operator's decision), reported here and logged.
    mismatched: dict[str, tuple[int, int]]  # name → (has, wanted)


def bootstrap_servers(url: str) -> list[str]:
    """``kafka://host:9092[,host2:9092]`` (or a bare ``host:9092,…``) → the bootstrap list."""
    netloc = urlsplit(url).netloc if "://" in url else url
    servers = [h.strip() for h in netloc.split(",") if h.strip()]
    if not servers:
        raise ValueError(f"no Kafka bootstrap servers in {url!r}")
    return servers


async def _admin(servers: list[str], wait_s: float) -> AIOKafkaAdminClient:
    """An admin client of a broker that may still be starting (a Kubernetes job, compose)."""
    deadline = time.monotonic() + wait_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=20_000)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if time.monotonic() > deadline:
                raise
            log.info("Kafka is not answering yet; trying again", extra={"servers": servers})
            await asyncio.sleep(2.0)


async def create_topics(
    url: str,
    prefix: str = "",
    *,
    partitions: int = DATA_PARTITIONS,
    replication_factor: int = 1,
    wait_s: float = 30.0,
) -> Provisioned:
    """Create the missing topics of ``prefix``; idempotent. ``wait_s``: how long a broker that is
    not answering yet is waited for."""
    specs = topic_specs(prefix, partitions=partitions)
    admin = await _admin(bootstrap_servers(url), wait_s)
    try:
        # Listing asks for no topic by name: a metadata request naming a missing topic would have
        # Tansu create it with 4 partitions.
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, replication_factor, topic_configs=dict(s.configs)) for s in missing]
            )
            for name, code, *message in response.topic_errors:
                if code == 0:
                    created.append(name)
                elif for_code(code) is not TopicAlreadyExistsError:  # exists: another job was quicker
                    raise for_code(code)(f"cannot create topic {name}: {''.join(map(str, message))}")
        described = await admin.describe_topics([s.name for s in specs])
    finally:
        await admin.close()
    counts = {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}
    absent = [s.name for s in specs if s.name not in counts]
    if absent:
        raise KafkaError(f"topics missing after creating them: {', '.join(absent)}")
    mismatched = {s.name: (counts[s.name], s.partitions) for s in specs if counts[s.name] != s.partitions}
    for name, (has, wanted) in mismatched.items():
        log.warning(
            "a Kafka topic has another partition count than Scorekeeper creates; left as it is",
            extra={"topic": name, "partitions": has, "wanted": wanted},
        )
    return Provisioned(created=created, partitions=counts, mismatched=mismatched)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.messaging.kafka_topics",
        description="Create Scorekeeper's Kafka topics with their partition counts (idempotent).",
    )
    parser.add_argument("command", choices=["create"])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("SCOREKEEPER_BUS_URL", ""),
        help="kafka://host:9092[,host2:9092] or host:9092,… (default: SCOREKEEPER_BUS_URL)",
    )
    parser.add_argument("--prefix", default=os.environ.get("SCOREKEEPER_TOPIC_PREFIX", ""))
    parser.add_argument("--partitions", type=int, default=DATA_PARTITIONS, help="of each data topic")
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--wait-s", type=float, default=120.0, help="how long to wait for the broker")
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("no broker: pass --bootstrap or set SCOREKEEPER_BUS_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    done = asyncio.run(
        create_topics(
            args.bootstrap,
            args.prefix,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            wait_s=args.wait_s,
        )
    )
    for name, count in sorted(done.partitions.items()):
        state = "created" if name in done.created else "exists"
        note = f" (Scorekeeper creates {done.mismatched[name][1]})" if name in done.mismatched else ""
        sys.stdout.write(f"{name:<40} {count:>3} partitions  {state}{note}\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
