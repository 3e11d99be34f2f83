"""Everything on one machine: embedded PostgreSQL, a broker (NATS JetStream, or Tansu for Kafka),
each service as its own process, and the demo AI system. Used by ``make demo``/``make up``, the
benchmarks and the end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from scorekeeper_sdk import AsyncScorekeeper, Client
from shared.auth.bootstrap import local_admin_key
from shared.db.migrate import migrate
from shared.devstack.processes import ManagedProcess
from shared.embedded import DATABASE_NAME, ensure_database, free_port, port_open, postgres_server_url, start_nats
from shared.embedded_kafka import fast_join_env, start_tansu, stop_process
from shared.messaging.kafka_topics import create_topics

# service module → (process name, serves gRPC)
SERVICES: dict[str, tuple[str, bool]] = {
    "run_orchestrator": ("run-orchestrator", True),
    "query": ("query", True),
    "system_executor": ("system-executor", False),
    "scorer": ("scorer", False),
    # The web pages: an edge over the orchestrator's and the query service's gRPC.
    "console": ("console", False),
}


@dataclass
class StackConfig:
    data_dir: Path = Path(".scorekeeper")
    database_url: str = ""
    bus_url: str = ""
    # The broker started when bus_url is empty: "nats" (nats-server) or "kafka" (Tansu).
    bus: str = "nats"
    topic_prefix: str = ""
    replicas: dict[str, int] = field(default_factory=dict)
    demo_system: bool = True
    demo_latency_ms: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    detached: bool = False
    # Use the documented default ports (8080/50051 orchestrator, 8081/50052 query, …) when free.
    default_ports: bool = False
    # The instance admin key the services accept; empty: the one kept under data_dir.
    admin_key: str = ""


BUSES = ("nats", "kafka")


def bus_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(bus kind, bus URL) from ``SCOREKEEPER_BUS`` / ``SCOREKEEPER_BUS_URL``: a URL names its
    broker (and must agree with ``SCOREKEEPER_BUS`` when both are set); without one the stack
    starts the embedded broker of ``SCOREKEEPER_BUS`` (NATS by default)."""
    url = environ.get("SCOREKEEPER_BUS_URL", "").strip()
    kind = environ.get("SCOREKEEPER_BUS", "").strip().lower()
    if url:
        scheme = urlsplit(url).scheme
        if scheme not in BUSES:
            raise ValueError(f"SCOREKEEPER_BUS_URL={url!r}: use kafka://host:port or nats://host:port")
        if kind and kind != scheme:
            raise ValueError(f"SCOREKEEPER_BUS={kind} but SCOREKEEPER_BUS_URL is a {scheme} URL")
        return scheme, url
    kind = kind or "nats"
    if kind not in BUSES:
        raise ValueError(f"SCOREKEEPER_BUS={kind!r}: use nats or kafka")
    return kind, ""


DEFAULT_PORTS = {
    "run_orchestrator.http": 8080,
    "run_orchestrator.grpc": 50051,
    "query.http": 8081,
    "query.grpc": 50052,
    "system_executor.http": 8082,
    "scorer.http": 8083,
    "console.http": 8084,
    "demo_system.http": 8090,
}


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: list[ManagedProcess] = []
        self.database_url = config.database_url
        self.bus_url = config.bus_url
        self._broker: subprocess.Popen[bytes] | None = None
        # Settings every service gets for the broker the stack started (Tansu's fast group joins).
        self._broker_env: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self.admin_key_is_new = False
        if config.admin_key:
            self.admin_key = config.admin_key
        else:
            self.admin_key, self.admin_key_is_new = local_admin_key(config.data_dir)

    @property
    def log_dir(self) -> Path:
        return self.config.data_dir / "logs"

    @property
    def orchestrator_grpc(self) -> str:
        return f"127.0.0.1:{self.ports['run_orchestrator.grpc']}"

    @property
    def query_grpc(self) -> str:
        return f"127.0.0.1:{self.ports['query.grpc']}"

    @property
    def orchestrator_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['run_orchestrator.http']}"

    @property
    def query_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['query.http']}"

    @property
    def bus_kind(self) -> str:
        return urlsplit(self.bus_url).scheme if self.bus_url else self.config.bus

    @property
    def bus_label(self) -> str:
        """The broker in words: "NATS JetStream", "Kafka (Tansu)" or "Kafka"."""
        if self.bus_kind == "kafka":
            return "Kafka (Tansu)" if self._broker is not None else "Kafka"
        return "NATS JetStream"

    def platform_addresses(self) -> str:
        """Every listener of the stack (services, broker): systems and judges never call them."""
        ports = [p for key, p in self.ports.items() if not key.startswith("demo_system")]
        broker = urlsplit(self.bus_url).port if self.bus_url else None
        return ",".join(f"127.0.0.1:{p}" for p in sorted({*ports, *([broker] if broker else [])}))

    def client(self, api_key: str | None = None) -> Client:
        """A gRPC client of this stack, with the instance admin key unless another is given."""
        return Client(self.orchestrator_grpc, self.query_grpc, api_key=api_key or self.admin_key)

    def sdk(self, api_key: str | None = None) -> AsyncScorekeeper:
        """The SDK's async client of this stack (``async with``), with the admin key unless another is given."""
        return AsyncScorekeeper(
            f"grpc://{self.orchestrator_grpc}", api_key or self.admin_key, query_url=f"grpc://{self.query_grpc}"
        )

    def http(self, base_url: str, api_key: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client of one of this stack's edges, sending the instance admin key unless another is given."""
        headers = {"Authorization": f"Bearer {api_key or self.admin_key}", **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=base_url, headers=headers, **kwargs)

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['console.http']}"

    @property
    def demo_system_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['demo_system.http']}/answer"

    @property
    def demo_judge_url(self) -> str:
        """The demo LLM judge's OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.ports['demo_system.http']}/v1"

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url:
            server = await asyncio.to_thread(
                partial(postgres_server_url, self.config.data_dir, keep_running=self.config.detached)
            )
            self.database_url = await ensure_database(server, DATABASE_NAME)
        await migrate(self.database_url)
        if not self.bus_url:
            await self._start_broker()
        if self.bus_kind == "kafka":
            # Before any service subscribes: never a topic auto-created with the broker's count.
            await create_topics(self.bus_url, self.config.topic_prefix)
        for key in (
            "run_orchestrator.grpc",
            "query.grpc",
            "query.http",
            "run_orchestrator.http",
            "system_executor.http",
            "scorer.http",
            "console.http",
        ):
            self.ports[key] = self._pick_port(key)
        starting: list[ManagedProcess] = []
        if self.config.demo_system:
            self.ports["demo_system.http"] = self._pick_port("demo_system.http")
            starting.append(
                self._process(
                    "demo-system",
                    "services.demo_system",
                    {
                        "DEMO_SYSTEM_PORT": str(self.ports["demo_system.http"]),
                        "DEMO_SYSTEM_LATENCY_MS": str(self.config.demo_latency_ms),
                    },
                    self.ports["demo_system.http"],
                )
            )
        for module in SERVICES:
            for _ in range(self.config.replicas.get(module, 1)):
                starting.append(self.service_process(module))
        for proc in starting:
            proc.start()
        self.processes.extend(starting)
        await asyncio.gather(*(p.wait_ready() for p in starting))

    async def _start_broker(self) -> None:
        port = free_port()
        if self.config.bus == "kafka":
            self._broker = await asyncio.to_thread(
                start_tansu, port, self.config.data_dir / "tansu.log", detached=self.config.detached
            )
            self.bus_url = f"kafka://127.0.0.1:{port}"
            self._broker_env = fast_join_env()
        elif self.config.bus == "nats":
            self._broker = await asyncio.to_thread(
                start_nats, self.config.data_dir / "nats", port, detached=self.config.detached
            )
            self.bus_url = f"nats://127.0.0.1:{port}"
        else:
            raise ValueError(f"unknown bus {self.config.bus!r}: use nats or kafka")

    def _pick_port(self, key: str) -> int:
        preferred = DEFAULT_PORTS.get(key)
        if self.config.default_ports and preferred and not port_open(preferred):
            return preferred
        return free_port()

    def service_process(self, module: str) -> ManagedProcess:
        """A new (not yet started) replica of a service, wired to this stack."""
        name, grpc = SERVICES[module]
        index = self._counts.get(module, 0)
        self._counts[module] = index + 1
        http_port = self.ports[f"{module}.http"] if index == 0 else free_port()
        env = {
            "SCOREKEEPER_DATABASE_URL": self.database_url,
            "SCOREKEEPER_BUS_URL": self.bus_url,
            "SCOREKEEPER_TOPIC_PREFIX": self.config.topic_prefix,
            "SCOREKEEPER_HTTP_PORT": str(http_port),
            "SCOREKEEPER_GRPC_PORT": str(self.ports.get(f"{module}.grpc", 0) if index == 0 else free_port()),
            "SCOREKEEPER_PUBLIC_QUERY_URL": f"http://127.0.0.1:{self.ports['query.http']}",
            # Run URLs open the run's page in the console.
            "SCOREKEEPER_PUBLIC_CONSOLE_URL": self.console_url,
            "SCOREKEEPER_ORCHESTRATOR_GRPC": self.orchestrator_grpc,
            "SCOREKEEPER_QUERY_GRPC": self.query_grpc,
            "SCOREKEEPER_DATA_DIR": str(self.config.data_dir),
            "SCOREKEEPER_ADMIN_KEY": self.admin_key,
            "SCOREKEEPER_PLATFORM_ADDRESSES": self.platform_addresses(),
            # AI metrics that name no judge are judged by the local demo judge (no key, no rate limit).
            **(
                {
                    "SCOREKEEPER_JUDGE_BASE_URL": self.demo_judge_url,
                    "SCOREKEEPER_JUDGE_API_KEY_ENV": "",
                    "SCOREKEEPER_LLM_REQUESTS_PER_S": "1000",
                    "SCOREKEEPER_LLM_BURST": "100",
                    "SCOREKEEPER_LLM_MAX_CONCURRENCY": "16",
                }
                if self.config.demo_system
                else {}
            ),
            **self._broker_env,
            **self.config.env,
        }
        if not grpc:
            env.pop("SCOREKEEPER_GRPC_PORT")
        return self._process(name if index == 0 else f"{name}-{index}", f"services.{module}", env, http_port)

    async def add_replica(self, module: str) -> ManagedProcess:
        proc = self.service_process(module)
        proc.start()
        self.processes.append(proc)
        await proc.wait_ready()
        return proc

    async def restart(self, stopped: ManagedProcess) -> ManagedProcess:
        """A stopped (or killed) process started again as it was: same env, same ports."""
        proc = self._process(stopped.name, stopped.module, stopped.env, stopped.http_port)
        proc.start()
        self.processes.append(proc)
        await proc.wait_ready()
        return proc

    def _process(self, name: str, module: str, env: dict[str, str], port: int) -> ManagedProcess:
        return ManagedProcess(name, module, env, port, self.log_dir, detached=self.config.detached)

    async def stop(self) -> None:
        # Services first (they drain), then the demo system and the broker.
        services = [p for p in self.processes if p.name != "demo-system"]
        await asyncio.gather(*(asyncio.to_thread(p.terminate) for p in services))
        for p in self.processes:
            if p.name == "demo-system":
                p.terminate(5)
        if self._broker is not None:
            stop_process(self._broker)

    @property
    def broker_pid(self) -> int | None:
        """The broker process the stack started; None with an outside broker."""
        return self._broker.pid if self._broker else None

    def state(self) -> dict[str, object]:
        return {
            "pids": [p.pid for p in self.processes],
            "broker_pid": self.broker_pid,
            "ports": self.ports,
            "database_url": self.database_url,
            "bus_url": self.bus_url,
        }


def write_state(path: Path, stack: Stack) -> None:
    path.write_text(json.dumps(stack.state(), indent=2))
