"""PostgreSQL servers of the tests' own (pgserver), in directories outside pytest's temporary root.

pytest sets its root (``/tmp/pytest-of-<user>``) back to mode 0700 whenever any session starts. A
server running as pgserver's own user (as it does under root) then can no longer reach its data
directory or socket, and dies or refuses to start. So test servers live under the system's
temporary directory instead, and are stopped and removed by the test that made them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from pgserver._commands import pg_ctl

from shared.embedded import postgres_server_url


class OwnPostgres:
    """``url`` reaches the server while it is up; ``stop()`` / ``start()`` take it down and back
    (an outage)."""

    def __init__(self, home: Path) -> None:
        self.url = postgres_server_url(home, keep_running=True)
        self._pgdata = (home / "pg").resolve()
        self._socket_dir = parse_qs(urlparse(self.url).query)["host"][0]
        self._user = "pgserver" if os.geteuid() == 0 else None

    def stop(self, mode: str = "fast") -> None:
        """A fast shutdown: every connection is cut, new ones are refused. ``immediate``: without
        the shutdown checkpoint, for a server whose data is thrown away next."""
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._pgdata, user=self._user)

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


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A fresh server for the block; stopped and its directory removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="scorekeeper-test-pg-"))
    try:
        server = OwnPostgres(home)
        try:
            yield server
        finally:
            if server.running():
                # Its data is removed next: no checkpoint of the session's many databases (~20 s).
                server.stop("immediate")
    finally:
        shutil.rmtree(home, ignore_errors=True)
