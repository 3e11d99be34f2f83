"""A monitor's alert on its calls' latency, on the real processes: each window keeps the median and
the 95th percentile of its calls' latencies; above max_latency_ms the alert fires, back under it the
recovery is told; calls logged without a latency leave a window unjudged; the CLI and the console
show it."""

from __future__ import annotations

import pytest

from scorekeeper_sdk import AsyncScorekeeper, CallIn, InvalidArgument
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import alerts_decided, receiver, settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


async def test_slow_windows_fire_the_alert_and_quick_ones_recover(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("latency alerts")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    # Windows of 10 calls: 100..1000 ms (p95 955: above 500), 10..100 ms (p95 95.5), no latency logged.
    windows = [[100.0 * (i + 1) for i in range(10)], [10.0 * (i + 1) for i in range(10)], [0.0] * 10]
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "latency",
            [polite.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_max_latency_ms=500,
            alert_recovery=True,
        )
        assert monitor.alert.max_latency_ms == 500 and monitor.alert.thresholds == []
        for number, latencies in enumerate(windows, 1):
            calls = [CallIn(outputs={"response": "please"}, latency_ms=ms) for ms in latencies]
            assert (await sk.log_calls(project.id, calls)).sampled == 10
            await settled(sk, monitor.id, number)
        detail = await alerts_decided(sk, monitor.id, hook, 2)

    by_number = {w.number: w for w in detail.windows}
    assert {n: w.alert_state for n, w in by_number.items()} == {1: "below", 2: "recovered", 3: "ok"}
    assert {n: (w.latency_p50_ms, w.latency_p95_ms) for n, w in by_number.items()} == {
        1: (550.0, 955.0),
        2: (55.0, 95.5),
        3: (None, None),
    }
    assert [by_number[n].latency_above for n in (1, 2, 3)] == [True, False, False]
    bodies = {body["window"]["number"]: body for _, body in hook.posts}
    assert sorted(bodies) == [1, 2]
    assert bodies[1]["latency"] == {"p95_ms": 955.0, "above": 500.0} and bodies[1]["metrics"] == []
    assert (bodies[1]["window"]["latency_p50_ms"], bodies[1]["window"]["latency_p95_ms"]) == (550.0, 955.0)
    url = f"{stack.console_url}/projects/{project.id}/runs/{by_number[1].run_id}"
    assert bodies[1]["text"] == f"Monitor 'latency' window 1 (10 calls): p95 latency 955 ms, above 500 ms — {url}"
    assert bodies[2]["type"] == "monitor.recovered" and bodies[2]["latency"] == {"p95_ms": 95.5, "above": 500.0}
    url = f"{stack.console_url}/projects/{project.id}/runs/{by_number[2].run_id}"
    assert (
        bodies[2]["text"]
        == f"Monitor 'latency' window 2 (10 calls) recovered: p95 latency 96 ms, at most 500 ms — {url}"
    )

    printed = scorekeeper(stack, "--project", project.id, "monitors", "show", "latency")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "when the calls' p95 latency is above 500 ms, and when back at or above" in out
    assert "polite 100.0%, p95 955 ms too slow" in out
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        said = " ".join((await page.locator("main").inner_text()).split())
        assert "when the 95th percentile of a window's call latencies is above 500 ms, and when it recovers" in said
        rows = await page.locator("#windows-table tbody tr .window-results").all_inner_texts()
        assert [" ".join(r.split()) for r in rows] == [
            "polite 100.0%",
            "polite 100.0% p50 55 ms · p95 96 ms",
            "polite 100.0% p50 550 ms · p95 955 ms above the alert's threshold",
        ]
        await screenshot(page, "monitor-latency-alert")
        # Changed on its Edit form.
        await page.locator("#edit-monitor summary").click()
        edit = page.locator("#edit-monitor-form")
        assert await edit.locator("input[name=alert_latency_above]").input_value() == "500"
        await edit.locator("input[name=alert_latency_above]").fill("1500")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_url("**saved=1")
    assert (await sk.get_monitor(monitor.id)).monitor.alert.max_latency_ms == 1500
    dropped = scorekeeper(
        stack,
        "--project",
        project.id,
        "monitors",
        "update",
        "latency",
        "--no-alert-latency",
        "--alert-errors-above",
        "10%",
    )
    assert dropped.returncode == 0, dropped.stderr
    assert (await sk.get_monitor(monitor.id)).monitor.alert.max_latency_ms is None


async def test_a_bad_latency_threshold_is_refused(sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("latency refusals")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    for url, ms, message in [
        ("http://127.0.0.1:9/hook", 0.0, "alert.max_latency_ms must be a number of milliseconds above 0"),
        ("http://127.0.0.1:9/hook", 1e9, "and at most 86,400,000, got 1e+09"),
        ("", 500.0, "alert.max_latency_ms needs an alert.webhook_url"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await sk.create_monitor(
                project.id, "m", [polite.id], sample_rate=1, window_minutes=5, alert_url=url, alert_max_latency_ms=ms
            )
        assert message in str(refused.value)
    # With a latency threshold alone, an alert needs no other.
    made = await sk.create_monitor(
        project.id,
        "m",
        [polite.id],
        sample_rate=1,
        window_minutes=5,
        alert_url="http://127.0.0.1:9/hook",
        alert_max_latency_ms=250,
    )
    assert made.alert.max_latency_ms == 250
