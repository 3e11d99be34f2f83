"""A service's periodic tasks (monitor windows, schedules, call retention, a gauge): a pass, then a
pause, for as long as the service runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(interval_s: float, what: str, tick: Callable[[], Awaitable[object]]) -> None:
    """Call ``tick`` with ``interval_s`` between the end of a pass and the next, until cancelled (on
    shutdown); a failed pass is logged and the next one comes as usual."""
    while True:
        try:
            await tick()
        except Exception:
            log.warning("%s: the pass failed; trying again", what, exc_info=True)
        await asyncio.sleep(interval_s)
