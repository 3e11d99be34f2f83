"""Monitor alerts delivered: a periodic task of every executor replica (the service that calls out).

The orchestrator decides, once per window, that an alert is due (``monitor_windows.alert_state =
'below'``, with the JSON to send). A replica claims a due alert in ``alert_deliveries`` (a row per
window, the claim a lease), POSTs the JSON to the monitor's webhook through the checked outbound
client (the allowlist and the platform's own listeners, like every system call), and records the
outcome. So one POST is made per alert; only a replica dying between the receiver's answer and
its write makes a second one, which carries the same ``X-Scorekeeper-Alert-Id``. A failed POST is
tried again with backoff, up to ``max_attempts``; a host the allowlist refuses fails at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import httpx

from shared.outbound.allowlist import HostNotAllowed

log = logging.getLogger(__name__)

# An alert older than this is no longer delivered (executors were down for that long).
_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class AlertSettings:
    poll_s: float = 1.0
    claim_ttl_s: float = 30.0
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_base_s: float = 2.0


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool
    status: int | None
    error: str


class AlertRepository:
    """alert_deliveries (written by the executor only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, ttl: timedelta, limit: int = 10) -> list[asyncpg.Record]:
        """Due alerts (never tried, or due for another try, or whose claimer's lease lapsed), each
        claimed by this replica alone: a replica racing for the same window finds the lease held."""
        return await self._pool.fetch(
            "WITH due AS ("
            "  SELECT w.id FROM monitor_windows w LEFT JOIN alert_deliveries d ON d.window_id = w.id"
            "  WHERE w.alert_state = 'below' AND w.closed_at > now() - $3::interval AND (d.window_id IS NULL"
            "   OR (d.status = 'retrying' AND d.next_attempt_at <= now())"
            "   OR (d.status = 'sending' AND d.claimed_until < now()))"
            "  ORDER BY w.closed_at LIMIT $2)"
            " , claimed AS ("
            "  INSERT INTO alert_deliveries AS d (window_id, status, attempts, claimed_until)"
            "  SELECT id, 'sending', 1, now() + $1::interval FROM due"
            "  ON CONFLICT (window_id) DO UPDATE SET status = 'sending', attempts = d.attempts + 1,"
            "   claimed_until = now() + $1::interval, updated_at = now()"
            "  WHERE (d.status = 'retrying' AND d.next_attempt_at <= now())"
            "   OR (d.status = 'sending' AND d.claimed_until < now())"
            "  RETURNING d.window_id, d.attempts)"
            " SELECT c.window_id, c.attempts, w.alert, m.alert_url FROM claimed c"
            " JOIN monitor_windows w ON w.id = c.window_id JOIN monitors m ON m.id = w.monitor_id",
            ttl,
            limit,
            _HORIZON,
        )

    async def settle(
        self, window_id: uuid.UUID, status: str, outcome: Outcome, retry_in: timedelta | None = None
    ) -> None:
        await self._pool.execute(
            "UPDATE alert_deliveries SET status = $2, response_status = $3, error = $4, claimed_until = NULL,"
            " next_attempt_at = now() + $5::interval, updated_at = now(),"
            " delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE window_id = $1",
            window_id,
            status,
            outcome.status,
            outcome.error[:2000],
            retry_in or timedelta(0),
        )


class AlertDeliveries:
    def __init__(self, repo: AlertRepository, client: httpx.AsyncClient, settings: AlertSettings) -> None:
        self._repo = repo
        self._client = client
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.warning("monitor alerts: the delivery tick failed; trying again", exc_info=True)
            await asyncio.sleep(self._settings.poll_s)

    async def tick(self) -> int:
        """Deliver what is due; returns how many were delivered."""
        delivered = 0
        for row in await self._repo.claim(timedelta(seconds=self._settings.claim_ttl_s)):
            outcome = await self.post(row["alert_url"], row["window_id"], row["alert"])
            if outcome.delivered:
                delivered += 1
                await self._repo.settle(row["window_id"], "delivered", outcome)
                log.info("monitor alert delivered", extra={"window_id": str(row["window_id"])})
            elif outcome.retryable and row["attempts"] < self._settings.max_attempts:
                wait = timedelta(seconds=self._settings.backoff_base_s * 2 ** (row["attempts"] - 1))
                await self._repo.settle(row["window_id"], "retrying", outcome, wait)
            else:
                await self._repo.settle(row["window_id"], "failed", outcome)
                log.warning(
                    "monitor alert not delivered", extra={"window_id": str(row["window_id"]), "error": outcome.error}
                )
        return delivered

    async def post(self, url: str, alert_id: uuid.UUID, payload: object) -> Outcome:
        """One POST of the alert's JSON; the answer's body is not read."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "scorekeeper-alerts",
            "X-Scorekeeper-Alert-Id": str(alert_id),
        }
        body = json.dumps(payload).encode()
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                async with self._client.stream("POST", url, content=body, headers=headers) as response:
                    status = response.status_code
        except HostNotAllowed as exc:
            return Outcome(False, False, None, str(exc))
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(False, True, None, f"no answer within {self._settings.timeout_s:g}s from {url}")
        except httpx.HTTPError as exc:
            return Outcome(False, True, None, f"could not call {url}: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return Outcome(True, False, status, "")
        return Outcome(False, status >= 500 or status in (408, 429), status, f"the webhook answered HTTP {status}")
