"""Monitor alerts delivered: a periodic task of every executor replica (the service that calls out).

The orchestrator decides, once per window, that an alert is due (``monitor_windows.alert_state``
'below', or 'recovered' for a monitor telling of recoveries, with the JSON to send). A replica
claims a due alert in ``alert_deliveries`` (a row per window, the claim a lease), POSTs the JSON to
the monitor's webhook through the checked outbound client (the allowlist and the platform's own
listeners, like every system call), and records the outcome. So one POST is made per alert; only a
replica dying between the receiver's answer and its write makes a second one, which carries the
same ``X-Scorekeeper-Alert-Id``. Each POST is signed with the monitor's alert secret
(``X-Scorekeeper-Signature``, as run webhooks are). A failed POST is tried again with backoff, up
to ``max_attempts``; a host the allowlist refuses fails at once.

Test alerts (``monitor_test_alerts``, added by MonitorService.TestMonitorAlert) go the same way,
tried once: what the URL answered is what its owner asked to see.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from services.system_executor.posts import (
    HORIZON,
    DeliverySettings,
    Outcome,
    body_of,
    deliver_forever,
    given_up,
    next_step,
    post,
    signature,
)

log = logging.getLogger(__name__)

# A test alert no executor sent within this long is given up (its owner is waiting for it).
TEST_HORIZON = timedelta(minutes=10)


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
            "  WHERE w.alert_state IN ('below', 'recovered') AND w.closed_at > now() - $3::interval"
            "   AND (d.window_id IS NULL"
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
            " SELECT c.window_id, c.attempts, w.alert, m.alert_url, m.alert_secret, m.alert_format FROM claimed c"
            " JOIN monitor_windows w ON w.id = c.window_id JOIN monitors m ON m.id = w.monitor_id",
            ttl,
            limit,
            HORIZON,
        )

    async def expire(self) -> int:
        """Alerts of windows closed more than ``HORIZON`` ago (and less than a day before that:
        the windows' index bounds the look) and still not sent — no executor ran meanwhile —
        given up: failed, saying why."""
        done: str = await self._pool.execute(
            "INSERT INTO alert_deliveries AS d (window_id, status, attempts, error)"
            " SELECT w.id, 'failed', 0, $2 FROM monitor_windows w WHERE w.alert_state IN ('below', 'recovered')"
            " AND w.closed_at <= now() - $1::interval AND w.closed_at > now() - $1::interval - interval '1 day'"
            " ON CONFLICT (window_id) DO UPDATE SET status = 'failed', error = $2, claimed_until = NULL,"
            " updated_at = now() WHERE d.status = 'retrying' OR (d.status = 'sending' AND d.claimed_until < now())",
            HORIZON,
            given_up("no executor ran"),
        )
        return int(done.split()[-1])

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

    async def claim_tests(self, ttl: timedelta, limit: int = 10) -> list[asyncpg.Record]:
        """Test alerts to send (new, or whose claimer's lease lapsed), each claimed by this replica
        alone, with their monitor's alert URL, secret and format as they are now."""
        return await self._pool.fetch(
            "WITH due AS ("
            "  SELECT id FROM monitor_test_alerts"
            "  WHERE status IN ('pending', 'sending') AND (status = 'pending' OR claimed_until < now())"
            "   AND created_at > now() - $3::interval"
            "  ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE monitor_test_alerts t SET status = 'sending', attempts = t.attempts + 1,"
            "  claimed_until = now() + $1::interval, updated_at = now()"
            " FROM due, monitors m WHERE t.id = due.id AND m.id = t.monitor_id"
            " RETURNING t.id, t.payload, m.alert_url, m.alert_secret, m.alert_format",
            ttl,
            limit,
            TEST_HORIZON,
        )

    async def expire_tests(self) -> int:
        """Test alerts no executor sent within ``TEST_HORIZON``, failed, saying why."""
        done: str = await self._pool.execute(
            "UPDATE monitor_test_alerts SET status = 'failed', claimed_until = NULL, updated_at = now(), error = $2"
            " WHERE status IN ('pending', 'sending') AND (status = 'pending' OR claimed_until < now())"
            " AND created_at <= now() - $1::interval",
            TEST_HORIZON,
            f"given up: no executor sent it within {TEST_HORIZON.seconds // 60} minutes",
        )
        return int(done.split()[-1])

    async def settle_test(self, test_id: uuid.UUID, status: str, outcome: Outcome) -> None:
        await self._pool.execute(
            "UPDATE monitor_test_alerts SET status = $2, response_status = $3, error = $4, claimed_until = NULL,"
            " updated_at = now(), delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE id = $1",
            test_id,
            status,
            outcome.status,
            outcome.error[:2000],
        )


class AlertDeliveries:
    def __init__(self, repo: AlertRepository, client: httpx.AsyncClient, settings: DeliverySettings) -> None:
        self._repo = repo
        self._client = client
        self._settings = settings

    async def run(self) -> None:
        await deliver_forever("monitor alerts", self.tick, self._settings)

    async def tick(self) -> int:
        """Deliver what is due, test alerts first (someone is waiting for them); returns how many
        were delivered."""
        delivered = await self._tests()
        if await self._repo.expire():
            log.warning("monitor alerts given up after %s days", HORIZON.days)
        for row in await self._repo.claim(timedelta(seconds=self._settings.claim_ttl_s)):
            outcome = await self._post(row["window_id"], row["alert"], row)
            status, wait = next_step("monitor_alert", outcome, row["attempts"], self._settings)
            await self._repo.settle(row["window_id"], status, outcome, wait)
            if outcome.delivered:
                delivered += 1
                log.info("monitor alert delivered", extra={"window_id": str(row["window_id"])})
            elif status == "failed":
                log.warning(
                    "monitor alert not delivered", extra={"window_id": str(row["window_id"]), "error": outcome.error}
                )
        return delivered

    async def _tests(self) -> int:
        if await self._repo.expire_tests():
            log.warning("monitor test alerts given up: not sent within %s", TEST_HORIZON)
        once = replace(self._settings, max_attempts=1)
        delivered = 0
        for row in await self._repo.claim_tests(timedelta(seconds=self._settings.claim_ttl_s)):
            if not row["alert_url"]:  # the alert was removed since it was asked for
                outcome = Outcome(False, False, None, "the monitor has no alert URL any more")
            else:
                outcome = await self._post(row["id"], row["payload"], row)
            status, _ = next_step("monitor_test_alert", outcome, 1, once)
            await self._repo.settle_test(row["id"], status, outcome)
            delivered += outcome.delivered
        return delivered

    async def _post(self, alert_id: uuid.UUID, payload: dict[str, Any], monitor: asyncpg.Record) -> Outcome:
        """One POST of an alert document to the monitor's URL, formatted and signed as it says."""
        body = body_of(payload, monitor["alert_format"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "scorekeeper-alerts",
            "X-Scorekeeper-Alert-Id": str(alert_id),
            "X-Scorekeeper-Signature": signature(monitor["alert_secret"], body),
        }
        return await post(self._client, monitor["alert_url"], body, headers, self._settings.timeout_s)
