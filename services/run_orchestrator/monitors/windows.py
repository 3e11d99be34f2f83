"""Closing monitor windows: a periodic task of every orchestrator replica.

Each tick closes the windows that are due, hands their runs over to scoring, and decides the
alerts of windows whose runs have finished. Replicas never close a window twice: a window closes
in one transaction that locks its monitor row (``FOR UPDATE SKIP LOCKED``: a replica that finds it
locked moves on) and deletes the samples it takes, so each sample lands in exactly one run. What
happens after that commit is idempotent and resumable: the run's status is advanced and its score
requests are published (score ids are deterministic), then the window is marked; a replica that
dies in between leaves the window unmarked, and any replica publishes again once the claim is
``stale``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from services.run_orchestrator.monitors import rules, slices
from services.run_orchestrator.monitors.window_repository import WindowRepository
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.results import Threshold, below_thresholds, measured
from services.run_orchestrator.runs.scoring import ScoreRequests
from shared.edge.convert import timestamp
from shared.logs import correlation_id
from shared.periodic import every
from shared.run_status import RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowSettings:
    tick_s: float = 1.0
    # A window of minutes holds at most this many calls (it closes early when full).
    max_calls: int = 50_000
    # Calls logged just before a window's end may still be committing: it closes this much later.
    grace_s: float = 2.0
    # A window whose score requests a replica has not finished publishing after this is taken over.
    stale_s: float = 30.0
    console_url: str = "http://127.0.0.1:8084"


class WindowCloser:
    def __init__(
        self, windows: WindowRepository, runs: RunRepository, scores: ScoreRequests, settings: WindowSettings
    ) -> None:
        self._windows = windows
        self._runs = runs
        self._scores = scores
        self._settings = settings

    async def run(self) -> None:
        """The periodic task (cancelled on shutdown; a window mid-close rolls back)."""
        await every(self._settings.tick_s, "monitor windows", self.tick)

    async def tick(self) -> int:
        """One pass; returns how many windows were closed."""
        settings = self._settings
        grace = timedelta(seconds=settings.grace_s)
        closed = 0
        for monitor in await self._windows.monitors():
            shape = rules.WindowShape(monitor["window_minutes"] or 0, monitor["window_calls"] or 0, settings.max_calls)
            pending = await self._windows.pending_up_to(monitor["id"], shape.size())
            if not rules.due(shape, monitor["window_started_at"], monitor["now"], pending, grace):
                continue
            while (window := await self._windows.close(monitor["id"], settings.max_calls, grace)) is not None:
                closed += 1
                log.info(
                    "monitor window closed",
                    extra={"monitor_id": str(window.monitor_id), "window": window.number, "calls": window.calls},
                )
                await self.hand_over(window.id, window.run_id)
        for row in await self._windows.claim_unrequested(timedelta(seconds=settings.stale_s)):
            log.info("monitor window: its score requests published again", extra={"run_id": str(row["run_id"])})
            await self.hand_over(row["id"], row["run_id"])
        await self.decide_alerts()
        return closed

    async def hand_over(self, window_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Advance the window's run (its records are all in) and request its scores; idempotent."""
        token = correlation_id.set(f"run:{run_id}")
        try:
            await self._runs.advance(run_id)
            status, versions = await self._runs.scoring_targets(run_id)
            if status != RunStatus.CANCELLED and versions:
                async for batch in self._runs.completed_record_ids(run_id):
                    await self._scores.for_records(run_id, batch, versions, correlation_id.get())
            await self._windows.requested(window_id)
        finally:
            correlation_id.reset(token)

    async def decide_alerts(self) -> None:
        """Decide the alerts of windows whose runs finished: each monitor's in the order closed (a
        pass takes the earliest waiting window of each monitor; passes go on while one is found)."""
        while windows := await self._windows.finished_waiting():
            await self._decide(windows)

    async def _decide(self, windows: list[asyncpg.Record]) -> None:
        for window in windows:
            if window["run_status"] not in rules.DECIDABLE:
                await self._windows.decide_alert(window["id"], "skipped", None)
                continue
            thresholds = rules.stored_thresholds(window["alert_thresholds"])
            results = await self._windows.metric_results(window["run_id"], list(window["metric_version_ids"]))
            feedback = rules.feedback_measured(
                await self._windows.feedback_results(window),
                rules.stored_thresholds(window["alert_feedback_thresholds"]),
                window["alert_min_feedback"],
            )
            below = below_thresholds(results, thresholds, window["calls"]) + [
                m for m in feedback if m["value"] < m["below"]
            ]
            sliced = await self._slices_below(window, thresholds)
            erring, slow = await self._slices_of_calls(window)
            errors = rules.error_share(window["errored"], window["calls"], window["alert_max_error_rate"])
            latency = rules.latency_share(window["latency_p95_ms"], window["alert_max_latency_ms"])
            previous, muted = window["previous"], window["muted"]
            failing = below + sliced + erring + slow
            state = rules.alert_state(failing, window["alert_recovery"], previous, muted, errors, latency)
            kept, erring_kept, slow_kept = (x[: slices.MAX_SLICES_KEPT] for x in (sliced, erring, slow))
            payload = None
            if state == "below":
                text = rules.alert_text(
                    *self._said(window),
                    below,
                    self._run_url(window),
                    errors,
                    window["errored"],
                    latency,
                    kept,
                    len(sliced) - len(kept),
                    erring,
                    slow,
                )
                payload = self._payload(window, "monitor.alert", below, errors, latency, text)
                payload |= {
                    "slices": kept,
                    "slices_below": len(sliced),
                    "error_slices": erring_kept,
                    "latency_slices": slow_kept,
                }
            elif state == "recovered":
                every = measured(results, thresholds, window["calls"]) + feedback
                text = rules.recovered_text(
                    *self._said(window), every, self._run_url(window), errors, window["errored"], latency
                )
                payload = self._payload(window, "monitor.recovered", every, errors, latency, text)
            decided = await self._windows.decide_alert(window["id"], state, payload, kept, erring_kept, slow_kept)
            if decided and payload is not None:
                log.info("monitor alert due", extra={"run_id": str(window["run_id"]), "state": state})

    async def _slices_below(self, window: asyncpg.Record, thresholds: tuple[Threshold, ...]) -> list[dict[str, Any]]:
        """The window's slices below a threshold (its monitor's slice fields) — a metric's or its
        users' feedback's —, worst first."""
        fields, least = list(window["alert_slice_fields"]), window["alert_min_slice_calls"]
        if not fields:
            return []
        low = []
        if thresholds:
            metric_ids = [t.metric_id for t in thresholds]
            versions = list(window["metric_version_ids"])
            found = await self._windows.slice_results(window["run_id"], versions, metric_ids, fields, least)
            low += slices.below(found, thresholds, least)
        if users := rules.stored_thresholds(window["alert_feedback_thresholds"]):
            given = await self._windows.feedback_slice_results(window, fields, least)
            low += slices.below(given, users, least, feedback=True)
        return sorted(low, key=slices.worst_first)

    async def _slices_of_calls(self, window: asyncpg.Record) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The window's slices with more of their calls errored than max_error_rate, highest share
        first, and those whose 95th percentile latency is above max_latency_ms, slowest first."""
        max_rate, max_ms = window["alert_max_error_rate"], window["alert_max_latency_ms"]
        if not window["alert_slice_fields"] or max_rate is max_ms is None:
            return [], []
        least = window["alert_min_slice_calls"]
        found = await self._windows.slice_calls(window["run_id"], list(window["alert_slice_fields"]), least)
        return slices.erring(found, max_rate, least), slices.slow(found, max_ms, least)

    @staticmethod
    def _said(window: asyncpg.Record) -> tuple[str, int, int]:
        """The monitor's name, the window's number and its calls, as its alert's text begins."""
        return window["monitor_name"], window["number"], window["calls"]

    def _run_url(self, window: asyncpg.Record) -> str:
        return f"{self._settings.console_url}/projects/{window['project_id']}/runs/{window['run_id']}"

    def _payload(
        self,
        window: asyncpg.Record,
        kind: str,
        metrics: list[dict[str, Any]],
        errors: dict[str, Any] | None,
        latency: dict[str, Any] | None,
        text: str,
    ) -> dict[str, Any]:
        """What the webhook receives (the system-executor POSTs it as it is): ``kind``
        monitor.alert (``metrics``: those below) or monitor.recovered (each thresholded metric);
        ``errors``: the window's errored calls against max_error_rate, ``latency``: its 95th
        percentile latency against max_latency_ms, when the alert has them (an alert adds the slices
        below a threshold: ``slices``, at most MAX_SLICES_KEPT, and ``slices_below``, how many; those
        with too many errored calls: ``error_slices``; and those too slow: ``latency_slices``)."""
        project, run = window["project_id"], window["run_id"]
        return {
            "type": kind,
            "alert_id": str(window["id"]),
            "project_id": str(project),
            "monitor": {"id": str(window["monitor_id"]), "name": window["monitor_name"]},
            "window": {
                "number": window["number"],
                "started_at": timestamp(window["started_at"]),
                "ended_at": timestamp(window["ended_at"]),
                "calls": window["calls"],
                "errored": window["errored"],
                "latency_p50_ms": window["latency_p50_ms"],
                "latency_p95_ms": window["latency_p95_ms"],
            },
            "run": {"id": str(run), "url": self._run_url(window)},
            "metrics": metrics,
            "errors": errors,
            "latency": latency,
            "text": text,
        }
