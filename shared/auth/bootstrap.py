"""The first key of an instance: without it nobody could create a project.

- Deployments set ``SCOREKEEPER_ADMIN_KEY`` (a secret of theirs), or let ``python -m shared.db
  migrate`` store a generated instance admin key (its hash) and print the key, once.
- The devstack (``make up``, ``make demo``, the tests) keeps a generated key in ``<data dir>/admin-key``
  (mode 0600) and hands it to the services as ``SCOREKEEPER_ADMIN_KEY``.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from shared.auth import keys
from shared.auth.store import insert_key

_LOCK_KEY = 0x5C0E_4B11


async def ensure_instance_key(dsn: str) -> str | None:
    """A new instance admin key when none is stored and active (returned to be shown once), else None."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'instance_admin' AND revoked_at IS NULL)"
            ):
                return None
            _, secret = await insert_key(conn, None, "instance admin (generated on first start)", "instance_admin")
            return secret
    finally:
        await conn.close()


def local_admin_key(data_dir: Path) -> tuple[str, bool]:
    """The devstack's instance admin key under ``data_dir`` (made on first use); and whether it is new."""
    path = data_dir / "admin-key"
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    secret, _ = keys.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret, True
