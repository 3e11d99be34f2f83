"""A PostgreSQL of one test's own (pgserver), which the test stops and starts again: an outage."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from pgserver._commands import pg_ctl

from shared.embedded import postgres_server_url


class PostgresOutage:
    """``url`` reaches the server while it is up; ``stop()`` / ``start()`` take it down and back."""

    def __init__(self, data_dir: Path) -> None:
        self.url = postgres_server_url(data_dir, keep_running=True)
        self._pgdata = (data_dir / "pg").resolve()
        self._socket_dir = parse_qs(urlparse(self.url).query)["host"][0]
        self._user = "pgserver" if os.geteuid() == 0 else None

    def stop(self) -> None:
        """A fast shutdown: every connection is cut, new ones are refused."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._pgdata, user=self._user)

    def start(self) -> None:
        """Started again as pgserver starts it: on the same socket directory, no TCP."""
        log = self._pgdata / "restart.log"
        pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(log), "start"],
            pgdata=self._pgdata,
            user=self._user,
        )

    def running(self) -> bool:
        pid = self._pgdata / "postmaster.pid"
        return pid.exists() and re.match(r"\d+", pid.read_text()) is not None
