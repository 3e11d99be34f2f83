"""What the monitor tests share: the sampling rule written out independently, a webhook receiver
(a real HTTP server), and waiting for a monitor's windows to be closed and scored."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scorekeeper_sdk import AsyncScorekeeper, CallIn
from scorekeeper_sdk.views import FINAL_STATUSES
from scorekeeper_sdk.views.monitors import MonitorWithWindows


def is_sampled(call_id: str, rate_percent: float) -> bool:
    """README's rule: the first 8 bytes of SHA-256 of the call id's 16 bytes, big-endian, modulo
    1,000,000, below rate × 10,000."""
    digest = hashlib.sha256(uuid.UUID(call_id).bytes).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000 < round(rate_percent * 10_000)


class Receiver:
    """A webhook receiver: every POST's headers, JSON body and raw bytes, answered with the next of
    ``answers`` (HTTP statuses) while some are left, then 204."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.raw: list[bytes] = []
        received, raw, queued = self.posts, self.raw, list(answers or [])

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                raw.append(body)
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(queued.pop(0) if queued else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hook"


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check of ``X-Scorekeeper-Signature``, as the protos document it."""
    parts = dict(p.split("=", 1) for p in headers["X-Scorekeeper-Signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected) and abs(time.time() - int(parts["t"])) < 60


@contextmanager
def receiver(answers: list[int] | None = None) -> Iterator[Receiver]:
    running = Receiver(answers)
    thread = threading.Thread(target=running._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running._server.shutdown()
        running._server.server_close()


async def settled(sk: AsyncScorekeeper, monitor_id: str, windows: int, timeout_s: float = 300) -> MonitorWithWindows:
    """The monitor once ``windows`` windows are closed and each one's run has finished."""
    deadline = time.monotonic() + timeout_s
    while True:
        detail = await sk.get_monitor(monitor_id)
        if detail.monitor.windows >= windows:
            runs = [await sk.get_run(w.run_id) for w in detail.windows[:windows]]
            if all(r.status in FINAL_STATUSES for r in runs):
                return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"monitor {monitor_id}: {detail.monitor.windows} of {windows} windows settled")
        await asyncio.sleep(0.5)


async def alerts_decided(
    sk: AsyncScorekeeper, monitor_id: str, hook: Receiver, posts: int, timeout_s: float = 60
) -> MonitorWithWindows:
    """The monitor once ``hook`` received ``posts`` alerts and no window's alert waits, a few
    delivery ticks later (nothing more arrives)."""
    deadline = time.monotonic() + timeout_s
    while len(hook.posts) < posts or any(
        w.alert_state == "waiting" for w in (await sk.get_monitor(monitor_id)).windows
    ):
        assert time.monotonic() < deadline, hook.posts
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    return await sk.get_monitor(monitor_id)


async def calls_of(sk: AsyncScorekeeper, run_id: str) -> list[str]:
    """The call ids a monitor run holds (a record's testcase id is its call's id)."""
    return [r.testcase_id async for r in sk.list_records(run_id)]


def polite_calls(polite: int, size: int = 10) -> list[CallIn]:
    """A window's calls: the first ``polite`` answer "please" (a polite metric passes them), the rest "no"."""
    return [CallIn(outputs={"response": "please" if i < polite else "no"}) for i in range(size)]


async def posted(hook: Receiver, posts: int, timeout_s: float = 60) -> None:
    """Until the receiver holds at least ``posts`` POSTs."""
    deadline = time.monotonic() + timeout_s
    while len(hook.posts) < posts:
        assert time.monotonic() < deadline, f"{len(hook.posts)} of {posts} POSTs arrived: {hook.posts}"
        await asyncio.sleep(0.2)


async def feedback_project(sk: AsyncScorekeeper) -> tuple[str, dict[str, str]]:
    """A project with a boolean human metric (thumbs), an int one (rating, passing at 4) and a
    heuristic one (polite); its id and the metrics' ids by name."""
    project = await sk.create_project(f"support bot {uuid.uuid4().hex[:6]}")
    thumbs = await sk.create_metric(project.id, "thumbs", eval_type="human")
    rating = await sk.create_metric(project.id, "rating", eval_type="human", output_type="int", passing_threshold=4)
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    return project.id, {"thumbs": thumbs.id, "rating": rating.id, "polite": polite.id}
