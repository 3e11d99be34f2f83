"""python -m shared.devstack {demo,up,down}"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from shared.devstack import otel_demo, scenario
from shared.devstack.stack import Stack, StackConfig, bus_from_env, write_state

DATA_DIR = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper"))
STATE = DATA_DIR / "stack.json"


def _say(message: str) -> None:
    print(message, flush=True)


def _config(data_dir: Path, **options: Any) -> StackConfig:
    """The stack on the bus of SCOREKEEPER_BUS / SCOREKEEPER_BUS_URL (embedded NATS by default)."""
    bus, bus_url = bus_from_env()
    prefix = os.environ.get("SCOREKEEPER_TOPIC_PREFIX", "")
    return StackConfig(data_dir=data_dir, bus=bus, bus_url=bus_url, topic_prefix=prefix, **options)


def _broker_words(config: StackConfig) -> str:
    if config.bus_url:
        return f"the {'Kafka' if config.bus == 'kafka' else 'NATS'} broker at {config.bus_url}"
    return "Kafka (Tansu)" if config.bus == "kafka" else "NATS JetStream"


def _admin_key_line(stack: Stack) -> str:
    """The instance admin key, in full only the first time (it is kept, mode 0600, in the data dir)."""
    where = stack.config.data_dir / "admin-key"
    if stack.admin_key_is_new:
        return f"instance admin key (shown once; kept in {where}): {stack.admin_key}"
    return f"instance admin key: {stack.admin_key[:15]}… (in {where})"


async def demo(testcases: int) -> int:
    stack = Stack(_config(DATA_DIR / "demo"))
    _say(f"starting PostgreSQL, {_broker_words(stack.config)}, 4 services, the console and the demo AI system …")
    started = time.perf_counter()
    try:
        await stack.start()
        _say(f"stack ready in {time.perf_counter() - started:.1f}s (logs in {stack.log_dir})")
        _say(_admin_key_line(stack))
        async with stack.client() as client:
            ids = await scenario.prepare(client, stack.demo_system_url, testcases, traced=True)
            judged = await scenario.add_judged_metric(client, ids.project_id)
            metric_ids = [*ids.metric_ids, judged.id]
            run = await client.create_run(
                ids.project_id, ids.testset_id, ids.system_version_id, metric_ids, source="api", notes="make demo"
            )
            _say(f"kicked off run {run.id} over {run.expected_records} testcases × {len(metric_ids)} metrics")
            final = await client.wait_for_run(run.id, timeout_s=300)
            _say(scenario.summary(final))
            _say(await scenario.steps(client, final, stack.console_url))
            _say(await scenario.slices(client, final))
            _say(await scenario.weak_slices(client, final))
        async with stack.sdk() as sk:
            _say(await scenario.watch_production(sk, ids, run.id, stack.demo_system_url, stack.console_url))
            _say(await scenario.users_feedback(sk, ids, run.id, stack.console_url))
            async with stack.http(stack.orchestrator_http) as http:
                _say(await otel_demo.send_traces(sk, http, ids.project_id, run.id, stack.console_url))
        if sys.stdin.isatty():
            _say(
                f"the console shows this run and the monitor at the addresses above ({stack.console_url}; sign in"
                " with the instance admin key); press Enter to stop everything"
            )
            try:
                await _line_typed()
            except asyncio.CancelledError:  # Ctrl+C here ends the demo as Enter does
                if task := asyncio.current_task():
                    task.uncancel()
        return 0 if final.status == "completed" else 1
    finally:
        await stack.stop()
        _say("stopped everything the demo started")


async def _line_typed() -> None:
    """Until a line (or end of input) arrives on stdin, a terminal: without a thread, so Ctrl+C ends
    the wait at once like the rest of the demo."""
    loop = asyncio.get_running_loop()
    typed = loop.create_future()

    def read() -> None:
        sys.stdin.readline()  # a terminal reports a line complete: this does not block
        if not typed.done():
            typed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), read)
    try:
        await typed
    finally:
        loop.remove_reader(sys.stdin.fileno())


async def up() -> int:
    if STATE.exists():
        _say(f"a stack is already up ({STATE}); run `make down` first")
        return 1
    stack = Stack(_config(DATA_DIR / "up", detached=True, default_ports=True))
    await stack.start()
    write_state(STATE, stack)
    _say(f"""stack is up (stop it with `make down`; logs in {stack.log_dir})
  orchestrator  gRPC {stack.orchestrator_grpc}   HTTP {stack.orchestrator_http}
  query         gRPC {stack.query_grpc}   HTTP {stack.query_http}
  console       {stack.console_url}   (sign in with the instance admin key)
  demo system   {stack.demo_system_url}
  {_admin_key_line(stack)}
  PostgreSQL    {stack.database_url}
  {stack.bus_label:<13} {stack.bus_url}
for the SDK and the scorekeeper command:
  export SCOREKEEPER_URL=grpc://{stack.orchestrator_grpc} SCOREKEEPER_QUERY_URL=grpc://{stack.query_grpc}
  export SCOREKEEPER_API_KEY=$(cat {stack.config.data_dir / "admin-key"})
for an application traced with OpenTelemetry (a project's write key), over HTTP:
  export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={stack.orchestrator_http}/v1/projects/PROJECT_ID/traces
  export OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Bearer $KEY"
or over gRPC (the key's project): OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc and
  export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://{stack.orchestrator_grpc}""")
    return 0


def down() -> int:
    if not STATE.exists():
        _say("no stack is up")
        return 0
    state = json.loads(STATE.read_text())
    # nats_pid: a state file written before the broker could be Kafka.
    for pid in [*state["pids"], state.get("broker_pid", state.get("nats_pid"))]:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    from shared.embedded import stop_postgres

    stop_postgres(DATA_DIR / "up")
    STATE.unlink()
    _say("stack stopped")
    return 0


async def _cancel_on_signal(work: Coroutine[Any, Any, int]) -> int:
    """SIGTERM/SIGINT cancel the work, so its ``finally`` stops every process it started."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        _say("interrupted")
        return 130


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devstack")
    parser.add_argument("command", choices=["demo", "up", "down"])
    parser.add_argument("--testcases", type=int, default=240)
    args = parser.parse_args()
    try:
        bus_from_env()
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "demo":
        sys.exit(asyncio.run(_cancel_on_signal(demo(args.testcases))))
    if args.command == "up":
        sys.exit(asyncio.run(_cancel_on_signal(up())))
    sys.exit(down())


if __name__ == "__main__":
    main()
