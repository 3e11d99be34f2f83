"""``python -m shared.db migrate``: apply the schema migrations to the configured database."""

from __future__ import annotations

import argparse
import asyncio
import logging

from shared import logs
from shared.auth.bootstrap import ensure_instance_key
from shared.config import ServiceSettings
from shared.db.migrate import migrate
from shared.embedded import embedded_database_url


async def _migrate() -> None:
    settings = ServiceSettings()
    logs.configure("migrate", settings.log_level)
    url = settings.database_url or await embedded_database_url(settings.data_dir)
    applied = await migrate(url)
    logging.getLogger("migrate").info("schema up to date", extra={"applied": applied})
    if not settings.admin_key.get_secret_value():
        secret = await ensure_instance_key(url)
        if secret is not None:
            # Shown once: only its hash is stored. A deployment may instead set SCOREKEEPER_ADMIN_KEY.
            print(f"instance admin key (shown once, keep it safe): {secret}", flush=True)  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.db")
    parser.add_argument("command", choices=["migrate"])
    parser.parse_args()
    asyncio.run(_migrate())


if __name__ == "__main__":
    main()
