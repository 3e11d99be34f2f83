"""`make demo` (``python -m shared.devstack demo``): an evaluation end to end that prints its
results and stops everything, keeping the console up until Enter only when run from a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "shared.devstack", "demo", "--testcases", "20"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo's own data directory (its PostgreSQL, NATS, logs and admin key), not the user's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCOREKEEPER_")}
    return {**clean, "SCOREKEEPER_DATA_DIR": str(tmp_path_factory.mktemp("demo-data"))}


def test_without_a_terminal_the_demo_prints_its_results_and_stops(env: dict[str, str]) -> None:
    ran = subprocess.run(DEMO, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"^run \S+: completed$", ran.stdout, flags=re.M)
    assert re.search(r"^  records: 20/20 \(\d+ errored\)$", ran.stdout, flags=re.M)
    # The demo system says what each call used and how it reached its answer.
    assert re.search(
        r"^  used: +[\d,]+ tokens \([\d,]+ prompt\), \$0\.\d{4} over \d+ calls that said$", ran.stdout, re.M
    )
    steps = r"^each answer's steps are kept with its record \(3 here: understand → (calculate|look up the capital) → "
    assert re.search(steps + r"phrase the answer\):\n  http://\S+/records/\S+$", ran.stdout, flags=re.M), ran.stdout
    # Where it fails: the run per category of its questions, their records adding up to the run's.
    sliced = re.findall(r"^  (arithmetic|geography) +(\d+) records  exact answer \d+\.\d%", ran.stdout, flags=re.M)
    assert sorted(c for c, _ in sliced) == ["arithmetic", "geography"], ran.stdout
    assert sum(int(n) for _, n in sliced) == 20
    assert "press Enter" not in ran.stdout
    # The same answers logged as production calls, watched by a monitor alerting the demo system.
    assert "monitor 'production': the same 20 answers logged as production calls, a window every 10:" in ran.stdout
    windows = re.findall(r"^  window (\d): 10 calls, concise \d+/\d+ passed \((\S+)\) — (.+)$", ran.stdout, flags=re.M)
    assert [w[0] for w in windows] == ["1", "2"], ran.stdout
    for _, rate, said in windows:
        below = float(rate.rstrip("%")) < 95
        told = re.fullmatch(
            r"(below|a category below|back at or above) 95%: (alert|recovery) delivered to"
            r" http://127\.0\.0\.1:\d+/alerts",
            said,
        )
        quiet = said == "at or above 95%: no alert"
        assert (told is not None and (told.group(1) == "below") == below) or (quiet and not below), said
    assert re.search(r"^  http://127\.0\.0\.1:\d+/projects/\S+/monitors/\S+$", ran.stdout, flags=re.M)
    rated = re.search(
        r"^users' feedback: (\d+) calls rated with 'thumbs' \(a human metric\), (\d+) thumbs up", ran.stdout, re.M
    )
    assert rated is not None and int(rated.group(1)) >= 6, ran.stdout  # two in five of the completed calls
    agreed = re.search(r"agrees with the users on (\d+) of the (\d+) calls both judged$", ran.stdout, re.M)
    assert agreed is not None and agreed.group(2) == rated.group(1) and int(agreed.group(1)) <= int(agreed.group(2))
    # Then the monitor alerts on the users' thumbs: the window open while they rated.
    users = re.search(
        r"^  the monitor now alerts below 90% thumbs up: window 3, open while they rated, (\S+)% thumbs up of (\d+)"
        r" — (.+)$",
        ran.stdout,
        re.M,
    )
    assert users is not None and users.group(2) == rated.group(1), ran.stdout
    share = int(rated.group(2)) / int(rated.group(1))
    assert users.group(1) == f"{share * 100:.1f}"
    said = users.group(3)
    told = re.fullmatch(
        r"(below|back at or above) 90%: (alert|recovery) delivered to http://127\.0\.0\.1:\d+/alerts", said
    )
    quiet = said == "at or above 90%: no alert"
    assert (told is not None and (told.group(1) == "below") == (share < 0.9)) or (quiet and share >= 0.9), said
    assert re.search(r"^  http://127\.0\.0\.1:\d+/projects/\S+/calls$", ran.stdout, flags=re.M)
    # Three answers sent again as OpenTelemetry traces: each a call, its request and 3 steps its spans.
    traced = (
        r"^OpenTelemetry: 3 of the answers sent as traces \(12 spans\) to POST /v1/projects/\S+/traces, as an"
        r" instrumented app's OTLP exporter sends them: 3 calls, each span a step\n"
        r"  http://127\.0\.0\.1:\d+/projects/\S+/calls/[0-9a-f]{32}$"
    )
    assert re.search(traced, ran.stdout, flags=re.M), ran.stdout
    assert ran.stdout.rstrip().endswith("stopped everything the demo started")


def test_from_a_terminal_the_run_page_stays_up_until_enter(env: dict[str, str]) -> None:
    controller, terminal = pty.openpty()
    demo = subprocess.Popen(DEMO, stdin=terminal, stdout=terminal, stderr=terminal, cwd=ROOT, env=env)
    os.close(terminal)
    try:
        shown = _read_until(controller, "press Enter to stop everything", timeout_s=300)
        (page,) = re.findall(r"^  (http://127\.0\.0\.1:\d+/projects/\S+/runs/\S+)\s*$", shown, flags=re.M)
        # The console answers for the run's page: signed out, it sends the reader to sign in first.
        answer = httpx.get(page, follow_redirects=False, timeout=10)
        assert answer.status_code == 303 and "/sign-in?next=" in answer.headers["location"]
        os.write(controller, b"\n")
        assert demo.wait(timeout=120) == 0
        assert "stopped everything the demo started" in _read_until(controller, "stopped everything", timeout_s=10)
        with pytest.raises(httpx.ConnectError):
            httpx.get(page, follow_redirects=False, timeout=5)
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(timeout=60)
        os.close(controller)


def _read_until(fd: int, text: str, *, timeout_s: float) -> str:
    """What the terminal showed, up to and including ``text`` (fails after ``timeout_s``)."""
    shown = b""
    deadline = time.monotonic() + timeout_s
    while text.encode() not in shown:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} within {timeout_s}s; the terminal showed:\n{shown.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the demo ended and closed the terminal
                chunk = b""
            assert chunk, f"the terminal closed before {text!r}:\n{shown.decode(errors='replace')}"
            shown += chunk
    return shown.decode(errors="replace").replace("\r\n", "\n")
