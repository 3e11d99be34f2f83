"""Monitors on the real processes: 20,000 logged calls sampled at 10% into windows whose runs hold
exactly the sampled calls, scored; a replay that changes nothing; filters; pause; the alert that
fires once below its threshold and not above; the console's page; bad input refused clearly."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import asyncpg
import pytest

from scorekeeper_sdk import AlreadyExists, AsyncScorekeeper, CallIn, FailedPrecondition, InvalidArgument, NotFound
from shared.devstack.stack import Stack
from shared.ids import call_id_of
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import calls_of, is_sampled, polite_calls, posted, receiver, settled, signed

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


def polite(i: int) -> bool:
    return i % 4 != 0


def production_calls(n: int) -> list[CallIn]:
    return [
        CallIn(
            inputs={"question": f"question {i}"},
            outputs={"response": "please hold on" if polite(i) else "no"},
            metadata={"route": "checkout" if i % 2 else "search", "i": i},
            latency_ms=float(i % 97),
            prompt_tokens=10,
            completion_tokens=i % 7,
            cost_usd=0.0001,
            trace_id=f"trace-{i}",
        )
        for i in range(n)
    ]


async def log_all(sk: AsyncScorekeeper, project_id: str, calls: list[CallIn]) -> tuple[int, int, int]:
    stored = duplicates = sampled = 0
    for start in range(0, len(calls), 1000):
        result = await sk.log_calls(project_id, calls[start : start + 1000])
        assert result.call_ids == [c.call_id for c in calls[start : start + 1000]]
        stored, duplicates, sampled = stored + result.stored, duplicates + result.duplicates, sampled + result.sampled
    return stored, duplicates, sampled


async def test_windows_of_20000_calls_at_10_percent_hold_exactly_the_sampled_calls_scored(
    sk: AsyncScorekeeper,
) -> None:
    project = await sk.create_project("monitored")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    every = await sk.create_monitor(project.id, "every call", [metric.id], sample_rate=10, window_calls=250)
    checkout = await sk.create_monitor(
        project.id, "checkout", [metric.id], sample_rate=10, window_calls=100, metadata_filter={"route": "checkout"}
    )
    calls = production_calls(20_000)
    index = {c.call_id: i for i, c in enumerate(calls)}
    expected_every = {c.call_id for c in calls if is_sampled(c.call_id, 10)}
    expected_checkout = {c for c in expected_every if (calls[index[c]].metadata or {})["route"] == "checkout"}
    assert 1800 < len(expected_every) < 2200

    started = time.monotonic()
    assert await log_all(sk, project.id, calls) == (20_000, 0, len(expected_every) + len(expected_checkout))
    logging_s = time.monotonic() - started
    # A replay (the same call ids) stores nothing and samples nothing again.
    assert await log_all(sk, project.id, calls) == (0, 20_000, 0)

    for monitor, expected, size in ((every, expected_every, 250), (checkout, expected_checkout, 100)):
        full = len(expected) // size
        detail = await settled(sk, monitor.id, full)
        assert detail.monitor.windows == full
        assert detail.monitor.pending_calls == len(expected) % size
        in_runs: list[str] = []
        for window in detail.windows:
            assert window.calls == size
            run = await sk.get_run(window.run_id)
            assert (run.source, run.status, run.monitor_id, run.monitor_name) == (
                "monitor",
                "completed",
                monitor.id,
                monitor.name,
            )
            assert run.records == run.expected_records == size and run.testset_id == ""
            held = await calls_of(sk, run.id)
            assert len(held) == size
            in_runs += held
            summary = run.metric("polite")
            assert summary.scored == size and summary.errored == 0
            assert summary.passed == sum(polite(index[c]) for c in held)
        # Exactly the sampled calls, each in one window; the rest wait in the open window.
        assert len(in_runs) == len(set(in_runs)) == full * size
        assert set(in_runs) <= expected
        assert sorted(w.number for w in detail.windows) == list(range(1, full + 1))

    # A record is the call as it was logged, its trace id in the metadata; scores are on it.
    window = (await sk.get_monitor(every.id)).windows[0]
    record = await anext(sk.list_records(window.run_id))
    call = calls[index[record.testcase_id]]
    assert (record.inputs, record.outputs, record.latency_ms, record.cost_usd) == (
        call.inputs,
        call.outputs,
        call.latency_ms,
        call.cost_usd,
    )
    assert record.metadata == {**(call.metadata or {}), "trace_id": call.trace_id}
    assert [s.passed for s in record.scores] == [polite(index[call.call_id])]
    # The runs list and the history filter by monitor.
    listed = [r.id async for r in sk.list_runs(project.id, sources=["monitor"], monitor_id=every.id)]
    assert sorted(listed) == sorted(w.run_id for w in (await sk.get_monitor(every.id)).windows)
    (series,) = await sk.run_history(project.id, [metric.id], monitor_id=checkout.id)
    assert len(series.points) == len(expected_checkout) // 100
    print(f"logged 20,000 calls in {logging_s:.1f}s")


async def test_calls_logged_under_your_own_ids_are_the_same_calls_again_and_keep_the_id(
    sk: AsyncScorekeeper, stack: Stack
) -> None:
    project = await sk.create_project("own call ids")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    monitor = await sk.create_monitor(project.id, "ids", [metric.id], sample_rate=100, window_calls=3)
    upper = str(uuid.uuid4()).upper()
    calls = [
        CallIn(call_id="req_01HX8Z", outputs={"response": "please"}, trace_id="t-1"),
        CallIn(call_id="chatcmpl-abc 42", outputs={"response": "no"}),
        CallIn(call_id=upper, outputs={"response": "please"}),
    ]
    first = await sk.log_calls(project.id, calls)
    assert first.call_ids == ["req_01HX8Z", "chatcmpl-abc 42", upper.lower()]
    assert (first.stored, first.duplicates, first.sampled) == (3, 0, 3)
    again = await sk.log_calls(project.id, calls)  # the same texts: the same calls
    assert (again.stored, again.duplicates, again.sampled) == (0, 3, 0)
    (window,) = (await settled(sk, monitor.id, 1)).windows
    records = {r.testcase_id: r async for r in sk.list_records(window.run_id)}
    assert set(records) == {str(call_id_of("req_01HX8Z")), str(call_id_of("chatcmpl-abc 42")), upper.lower()}
    assert records[str(call_id_of("req_01HX8Z"))].metadata == {"call_id": "req_01HX8Z", "trace_id": "t-1"}
    assert records[str(call_id_of("chatcmpl-abc 42"))].metadata == {"call_id": "chatcmpl-abc 42"}
    assert records[upper.lower()].metadata == {}  # a UUID is the call's id itself
    # A window's slice over runs: over the monitor's windows (a window has no testset).
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/runs/{window.run_id}?by=metadata.trace_id")
        over_runs = page.locator("#breakdown tr[data-value=t-1] a", has_text="over runs")
        assert await over_runs.get_attribute("href") == (
            f"/projects/{project.id}/runs?monitor={monitor.id}&metric={metric.id}&field=metadata.trace_id%3Dt-1"
        )


async def test_a_paused_monitor_samples_nothing_and_resumes(sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("paused")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    monitor = await sk.create_monitor(project.id, "all", [metric.id], sample_rate=100, window_minutes=60)
    assert (await sk.pause_monitor(monitor.id)).status == "paused"
    assert (await sk.log_calls(project.id, production_calls(50))).sampled == 0
    assert (await sk.resume_monitor(monitor.id)).status == "active"
    assert (await sk.log_calls(project.id, production_calls(50))).sampled == 50
    assert (await sk.get_monitor(monitor.id)).monitor.pending_calls == 50


async def test_a_monitor_is_changed_and_the_open_window_closes_by_its_new_size_and_metrics(
    sk: AsyncScorekeeper,
) -> None:
    project = await sk.create_project("changed")
    polite_metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    short = await sk.create_heuristic_metric(project.id, "holds", "contains", {"value": "hold"})
    exact = await sk.create_heuristic_metric(project.id, "exact", "exact_match", {})
    monitor = await sk.create_monitor(project.id, "checkout", [polite_metric.id], sample_rate=100, window_calls=100)
    taken = await sk.create_monitor(project.id, "taken", [polite_metric.id], sample_rate=1, window_minutes=60)
    first = production_calls(4)
    assert (await sk.log_calls(project.id, first)).sampled == 4 + sum(is_sampled(c.call_id, 1) for c in first)
    # The window open now closes by its new size, scored with the new metrics.
    changed = await sk.update_monitor(monitor.id, window_calls=4, metric_ids=[short.id, polite_metric.id])
    assert (changed.window_calls, changed.window_minutes) == (4, 0)
    assert [m.metric_id for m in changed.metrics] == [short.id, polite_metric.id]
    detail = await settled(sk, monitor.id, 1)
    run = await sk.get_run(detail.windows[0].run_id)
    assert ([m.metric_id for m in run.metrics], run.records) == ([short.id, polite_metric.id], 4)
    assert run.created_by == "monitor 'checkout'"
    # The filter and the sample rate apply to calls logged from now on.
    filtered = await sk.update_monitor(
        monitor.id, metadata_filter={"route": "checkout"}, sample_rate=50, name="renamed"
    )
    assert (filtered.name, filtered.sample_rate, filtered.metadata_filter) == ("renamed", 50, {"route": "checkout"})
    calls = production_calls(40)
    expected = sum(1 for c in calls if (c.metadata or {})["route"] == "checkout" and is_sampled(c.call_id, 50))
    logged = await sk.log_calls(project.id, calls)
    assert (await sk.get_monitor(monitor.id)).monitor.pending_calls == expected
    assert logged.sampled == expected + sum(1 for c in calls if is_sampled(c.call_id, 1))
    # An alert added, then taken away.
    alerting = await sk.update_monitor(monitor.id, alert_url="http://127.0.0.1:9/hook", alert_below={short.id: 0.5})
    assert (alerting.alert.webhook_url, [(t.metric_id, t.below) for t in alerting.alert.thresholds]) == (
        "http://127.0.0.1:9/hook",
        [(short.id, 0.5)],
    )
    # Refused, and nothing changed.
    refusals: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"name": "taken"}, AlreadyExists, f"project {project.id} already has a monitor named 'taken'"),
        ({"window_minutes": 5, "window_calls": 5}, InvalidArgument, "give exactly one of window_minutes and"),
        ({"sample_rate": 0}, InvalidArgument, "sample_rate must be a percentage more than 0 and at most 100, got 0"),
        (
            {"metric_ids": [exact.id]},
            InvalidArgument,
            "metric 'exact' compares the output with expected values, which logged calls do not carry",
        ),
        (
            {"metric_ids": [polite_metric.id]},
            InvalidArgument,
            f"alert.thresholds[0].metric_id {short.id} is not one of the monitor's metrics",
        ),
        (
            {"alert_below": {short.id: 2}, "alert_url": "http://127.0.0.1:9/hook"},
            InvalidArgument,
            "alert.thresholds[0].below must be within 0..1",
        ),
        ({"alert_url": "gopher://x", "alert_below": {short.id: 0.5}}, InvalidArgument, "must be an http or https URL"),
        (
            {"alert_url": "http://127.0.0.1:9/hook", "alert_below": {short.id: 0.5}, "alert_format": "xml"},
            InvalidArgument,
            "alert.format must be one of json, slack, got 'xml'",
        ),
        ({"alert_format": "slack"}, ValueError, "alert_format replaces the alert whole: give alert_url"),
        ({"alert_recovery": True}, ValueError, "alert_recovery replaces the alert whole: give alert_url"),
    ]
    for kwargs, error, message in refusals:
        with pytest.raises(error, match=re.escape(message)):
            await sk.update_monitor(monitor.id, **kwargs)
    with pytest.raises(NotFound, match="does not exist"):
        await sk.update_monitor(str(uuid.uuid4()), name="x")
    kept = (await sk.get_monitor(monitor.id)).monitor
    assert (kept.name, kept.sample_rate, kept.window_calls, [m.metric_id for m in kept.metrics]) == (
        "renamed",
        50,
        4,
        [short.id, polite_metric.id],
    )
    quiet = await sk.update_monitor(monitor.id, alert_url="", alert_below={}, metadata_filter={})
    assert (quiet.alert.webhook_url, quiet.alert.thresholds, quiet.metadata_filter) == ("", [], {})
    # Deleted: its open window's calls dropped, nothing sampled, found nowhere; its runs stay.
    assert (await sk.get_monitor(monitor.id)).monitor.pending_calls == expected
    gone = await sk.delete_monitor(monitor.id)
    assert (gone.status, gone.pending_calls) == ("deleted", 0)
    for call in (sk.get_monitor, sk.pause_monitor, sk.delete_monitor):
        with pytest.raises(NotFound, match=f"monitor {monitor.id} does not exist"):
            await call(monitor.id)
    assert [m.name for m in await sk.list_monitors(project.id)] == ["taken"]
    later = production_calls(10)  # sampled by "taken" (1%) alone
    assert (await sk.log_calls(project.id, later)).sampled == sum(is_sampled(c.call_id, 1) for c in later)
    kept_run = await sk.get_run(detail.windows[0].run_id)
    assert (kept_run.monitor_id, kept_run.monitor_name, kept_run.records) == (monitor.id, "renamed", 4)
    assert kept_run.monitor_deleted and not run.monitor_deleted
    again = await sk.create_monitor(project.id, "renamed", [polite_metric.id], sample_rate=100, window_calls=5)
    assert again.id != monitor.id  # the name is free again
    await sk.pause_monitor(taken.id)


async def test_the_alert_fires_once_below_its_threshold_and_not_above(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("alerting")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "alerting",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
        )
        # Windows of 10 calls, in order: 5 polite (0.5: below), 10 (1.0), 8 (0.8: not below, equal).
        for polite_calls in (5, 10, 8):
            calls = [
                CallIn(outputs={"response": "please" if i < polite_calls else "no"}, metadata={"n": polite_calls})
                for i in range(10)
            ]
            assert (await sk.log_calls(project.id, calls)).sampled == 10
            await settled(sk, monitor.id, (5, 10, 8).index(polite_calls) + 1)
        deadline = time.monotonic() + 60
        while not hook.posts or any(w.alert_state == "waiting" for w in (await sk.get_monitor(monitor.id)).windows):
            assert time.monotonic() < deadline, "the alert was not delivered"
            await asyncio.sleep(0.3)
        await asyncio.sleep(3)  # several delivery ticks: nothing more arrives
        detail = await sk.get_monitor(monitor.id)
    states = {w.number: (w.alert_state, w.alert_delivery) for w in detail.windows}
    assert states == {1: ("below", "delivered"), 2: ("ok", ""), 3: ("ok", "")}
    # Each window's result per metric, against the alert's threshold (equal is not below).
    results = {
        w.number: [(m.name, m.measure, m.value, m.scored, m.alert_below, m.below) for m in w.metrics]
        for w in detail.windows
    }
    assert results == {
        1: [("polite", "pass_rate", 0.5, 10, 0.8, True)],
        2: [("polite", "pass_rate", 1.0, 10, 0.8, False)],
        3: [("polite", "pass_rate", 0.8, 10, 0.8, False)],
    }
    assert [w.run_status for w in detail.windows] == ["completed"] * 3
    # Each window's run names the window before as its previous run (the runs list's and run page's
    # "vs previous": polite 1.0 after 0.5 is +50 points).
    runs = {w.number: w.run_id for w in detail.windows}
    previous = {n: (await sk.get_run(r)).previous_run_id for n, r in runs.items()}
    assert previous == {1: "", 2: runs[1], 3: runs[2]}
    # runs show of a window: against the window before's metrics (calls are not testcases to pair).
    shown = scorekeeper(stack, "--project", project.id, "runs", "show", runs[2])
    assert shown.returncode == 0, shown.stderr
    assert f"previous run: {runs[1]} (created " in shown.stdout
    assert (
        "  the window before: no testcases to compare one by one; against its metrics: polite +50.0 points"
        in shown.stdout.splitlines()
    ), shown.stdout
    (listed,) = await sk.list_monitors(project.id)
    assert listed.latest_window == detail.windows[0] and listed.latest_window.number == 3
    assert len(hook.posts) == 1
    headers, body = hook.posts[0]
    first = next(w for w in detail.windows if w.number == 1)
    assert body["run"]["id"] == first.run_id and body["run"]["url"].endswith(f"/runs/{first.run_id}")
    assert body["monitor"] == {"id": monitor.id, "name": "alerting"}
    assert body["window"]["number"] == 1 and body["window"]["calls"] == 10
    assert body["metrics"] == [
        {"metric_id": metric.id, "name": "polite", "measure": "pass_rate", "value": 0.5, "below": 0.8, "scored": 10}
    ]
    assert headers["X-Scorekeeper-Alert-Id"] == body["alert_id"]
    # Signed with the secret CreateMonitor answered with (and shown nowhere since).
    assert monitor.alert_secret.startswith("whsec_") and signed(monitor.alert_secret, headers, hook.raw[0])
    assert detail.monitor.alert_secret == "" and all(m.alert_secret == "" for m in await sk.list_monitors(project.id))


async def test_a_recovery_is_told_once_after_windows_below_when_the_monitor_asks(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("recoveries")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    polite_per_window = (5, 10, 10, 3, 2, 9)  # below, recovered, ok, below, below, recovered
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "recovering",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
            alert_recovery=True,
        )
        assert monitor.alert.notify_recovery
        for number, polite in enumerate(polite_per_window, 1):
            assert (await sk.log_calls(project.id, polite_calls(polite))).sampled == 10
            await settled(sk, monitor.id, number)
        deadline = time.monotonic() + 60
        while len(hook.posts) < 5 or any(
            w.alert_delivery != "delivered" for w in (await sk.get_monitor(monitor.id)).windows if w.alert_delivery
        ):
            assert time.monotonic() < deadline, hook.posts
            await asyncio.sleep(0.3)
        await asyncio.sleep(2)  # several delivery ticks: nothing more arrives
        detail = await sk.get_monitor(monitor.id)
    states = {w.number: w.alert_state for w in detail.windows}
    assert states == {1: "below", 2: "recovered", 3: "ok", 4: "below", 5: "below", 6: "recovered"}
    assert {w.number: w.alert_delivery for w in detail.windows if w.alert_delivery} == dict.fromkeys(
        (1, 2, 4, 5, 6), "delivered"
    )
    posted = sorted((body["window"]["number"], body["type"]) for _, body in hook.posts)
    assert posted == [
        (1, "monitor.alert"),
        (2, "monitor.recovered"),
        (4, "monitor.alert"),
        (5, "monitor.alert"),
        (6, "monitor.recovered"),
    ]
    (_, recovered) = next(p for p in hook.posts if p[1]["window"]["number"] == 6)
    run_id = next(w.run_id for w in detail.windows if w.number == 6)
    url = f"{stack.console_url}/projects/{project.id}/runs/{run_id}"
    assert recovered["metrics"] == [
        {"metric_id": metric.id, "name": "polite", "measure": "pass_rate", "value": 0.9, "below": 0.8, "scored": 10}
    ]
    assert recovered["text"] == (
        f"Monitor 'recovering' window 6 (10 calls) recovered: polite 90.0% passed, at or above 80.0% — {url}"
    )
    # Turned off: below only from then on.
    quiet = await sk.update_monitor(monitor.id, alert_url=hook.url, alert_below={metric.id: 0.8})
    assert not quiet.alert.notify_recovery


async def test_muted_alerts_post_nothing_and_the_recovery_is_told_once_they_are_back_on(
    sk: AsyncScorekeeper,
) -> None:
    project = await sk.create_project("muted alerts")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    quiet = await sk.create_monitor(project.id, "no alert", [metric.id], sample_rate=100, window_calls=100)
    with pytest.raises(InvalidArgument, match="mute_alert_minutes: the monitor has no alert to mute"):
        await sk.update_monitor(quiet.id, mute_alert_minutes=60)
    await sk.pause_monitor(quiet.id)

    async def window(number: int, polite: int) -> None:
        assert (await sk.log_calls(project.id, polite_calls(polite))).sampled == 10
        await settled(sk, monitor.id, number)
        deadline = time.monotonic() + 60
        while any(w.alert_state == "waiting" for w in (await sk.get_monitor(monitor.id)).windows):
            assert time.monotonic() < deadline, "the window's alert was not decided"
            await asyncio.sleep(0.2)

    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "muted",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
            alert_recovery=True,
        )
        await window(1, 5)  # below: told
        with pytest.raises(InvalidArgument, match=r"mute_alert_minutes must be within 1..10,080 \(0 unmutes\)"):
            await sk.update_monitor(monitor.id, mute_alert_minutes=10_081)
        muted = await sk.update_monitor(monitor.id, mute_alert_minutes=60)
        assert muted.alert_muted_until > muted.updated_at
        await window(2, 4)  # below, muted
        await window(3, 10)  # back above, muted: not told yet
        back_on = await sk.update_monitor(monitor.id, mute_alert_minutes=0)
        assert back_on.alert_muted_until == ""
        await window(4, 9)  # above: the recovery is told now
        await posted(hook, 2)
        await asyncio.sleep(2)  # several delivery ticks: nothing more arrives
        detail = await sk.get_monitor(monitor.id)
    assert {w.number: w.alert_state for w in detail.windows} == {1: "below", 2: "muted", 3: "muted", 4: "recovered"}
    assert [(body["window"]["number"], body["type"]) for _, body in hook.posts] == [
        (1, "monitor.alert"),
        (4, "monitor.recovered"),
    ]


async def test_a_window_with_too_many_errored_calls_alerts_though_nothing_is_below(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("errored calls")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with pytest.raises(InvalidArgument, match=r"alert\.max_error_rate must be a share of the calls, 0 to below 1"):
        await sk.create_monitor(
            project.id,
            "x",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url="http://127.0.0.1:9/h",
            alert_max_error_rate=1.0,
        )
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "failing",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_max_error_rate=0.2,
            alert_recovery=True,
        )
        assert (monitor.alert.max_error_rate, monitor.alert.thresholds) == (0.2, [])
        for number, errored in enumerate((3, 1), 1):  # 30% errored: fires; 10%: recovered
            calls = [
                CallIn(outputs={"response": "please"}, status="errored", error="503")
                if i < errored
                else CallIn(outputs={"response": "please"})
                for i in range(10)
            ]
            await sk.log_calls(project.id, calls)
            await settled(sk, monitor.id, number)
        await posted(hook, 2)
        detail = await sk.get_monitor(monitor.id)
    windows = {w.number: (w.alert_state, w.errored_calls) for w in detail.windows}
    assert windows == {1: ("below", 3), 2: ("recovered", 1)}
    (_, fired), (_, recovered) = sorted(hook.posts, key=lambda p: p[1]["window"]["number"])
    assert (fired["type"], fired["metrics"]) == ("monitor.alert", [])  # polite passed every scored call
    assert fired["errors"] == {"errored": 3, "calls": 10, "rate": 0.3, "above": 0.2}
    run_url = f"{stack.console_url}/projects/{project.id}/runs/{fired['run']['id']}"
    assert (
        fired["text"]
        == f"Monitor 'failing' window 1 (10 calls): 3 of 10 calls errored (30.0%, above 20.0%) — {run_url}"
    )
    assert recovered["type"] == "monitor.recovered" and recovered["errors"]["errored"] == 1


async def test_a_window_that_scored_nothing_alerts_and_reviewers_hold_back_no_alert(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("nothing scored")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    tone = await sk.create_metric(project.id, "tone", eval_type="human")
    with pytest.raises(InvalidArgument) as refused:
        await sk.create_monitor(
            project.id, "x", [metric.id, tone.id], sample_rate=100, window_calls=10,
            alert_url="http://127.0.0.1:9/h", alert_below={tone.id: 0.5},
        )  # fmt: skip
    assert "alert.thresholds[0]: 'tone' is a human metric" in str(refused.value)
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "failing",
            [metric.id, tone.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
            alert_recovery=True,
        )
        # Window 1: every call errored, no max_error_rate: polite scored nothing, which is below.
        await sk.log_calls(project.id, [CallIn(status="errored", error="503") for _ in range(10)])
        await posted(hook, 1)
        # Window 2: polite again; its run waits for reviewers of tone, its alert does not.
        await sk.log_calls(project.id, polite_calls(10))
        await posted(hook, 2)
        detail = await sk.get_monitor(monitor.id)
    windows = {w.number: (w.alert_state, w.run_status, w.errored_calls) for w in detail.windows}
    assert windows == {1: ("below", "completed", 10), 2: ("recovered", "awaiting_human_scoring", 0)}
    first = next(w for w in detail.windows if w.number == 1)
    polite = next(m for m in first.metrics if m.name == "polite")
    assert (polite.scored, polite.below, polite.alert_below) == (0, True, 0.8)
    (_, fired), (_, recovered) = sorted(hook.posts, key=lambda p: p[1]["window"]["number"])
    assert fired["metrics"] == [
        {"metric_id": metric.id, "name": "polite", "measure": "pass_rate", "value": None, "below": 0.8, "scored": 0}
    ]
    assert (fired["window"]["calls"], fired["window"]["errored"], fired["errors"]) == (10, 10, None)
    run_url = f"{stack.console_url}/projects/{project.id}/runs/{fired['run']['id']}"
    assert fired["text"] == (
        f"Monitor 'failing' window 1 (10 calls): polite: no call scored (10 of 10 calls errored) — {run_url}"
    )
    assert recovered["type"] == "monitor.recovered" and recovered["metrics"][0]["value"] == 1.0


async def test_a_new_alert_secret_signs_the_alerts_from_then_on(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("alert secrets")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "signed",
            [metric.id],
            sample_rate=100,
            window_calls=2,
            alert_url=hook.url,
            alert_below={metric.id: 0.5},
            alert_format="slack",
        )
        assert monitor.alert.format == "slack"
        rotated = await sk.update_monitor(monitor.id, rotate_alert_secret=True)
        assert rotated.alert_secret.startswith("whsec_") and rotated.alert_secret != monitor.alert_secret
        changed = await sk.update_monitor(monitor.id, sample_rate=100)
        assert changed.alert_secret == ""  # shown when drawn, and only then
        assert (await sk.log_calls(project.id, polite_calls(0, 2))).sampled == 2
        await posted(hook, 1)
    headers, body = hook.posts[0]
    assert signed(rotated.alert_secret, headers, hook.raw[0])
    assert not signed(monitor.alert_secret, headers, hook.raw[0])
    # Slack's format: the alert's text alone.
    run_id = (await sk.get_monitor(monitor.id)).windows[0].run_id
    assert body == {
        "text": f"Monitor 'signed' window 1 (2 calls): polite 0.0% passed, below 50.0%"
        f" — {stack.console_url}/projects/{project.id}/runs/{run_id}"
    }


async def test_a_test_alert_reaches_the_url_signed_and_formatted_as_its_alerts(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("test alerts")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "checkout",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
            paused=True,
        )
        sent = await sk.test_monitor_alert(monitor.id)
        assert (sent.status, sent.response_status, sent.error) == ("delivered", 204, "")
        await sk.update_monitor(monitor.id, alert_url=hook.url, alert_below={metric.id: 0.8}, alert_format="slack")
        slack = await sk.test_monitor_alert(monitor.id)
        assert slack.status == "delivered" and slack.id != sent.id
        detail = await sk.get_monitor(monitor.id)
    assert len(hook.posts) == 2
    (headers, body), (_, text) = hook.posts
    page = f"{stack.console_url}/projects/{project.id}/monitors/{monitor.id}"
    assert body == {
        "type": "monitor.test",
        "alert_id": sent.id,
        "project_id": project.id,
        "monitor": {"id": monitor.id, "name": "checkout"},
        "text": f"Scorekeeper test alert of the monitor 'checkout': its alerts reach you — {page}",
    }
    assert headers["X-Scorekeeper-Alert-Id"] == sent.id
    assert signed(monitor.alert_secret, headers, hook.raw[0])
    assert text == {"text": f"Scorekeeper test alert of the monitor 'checkout': its alerts reach you — {page}"}
    # The monitor tells its latest test; a test is no window and no alert.
    assert detail.monitor.last_test_alert is not None and detail.monitor.last_test_alert.id == slack.id
    assert detail.monitor.last_test_alert.status == "delivered" and detail.monitor.last_test_alert.delivered_at
    assert detail.windows == [] and detail.monitor.windows == 0


async def test_a_test_alert_is_tried_once_and_says_what_the_url_answered(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("failing test alerts")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with receiver([503, 404]) as hook:
        monitor = await sk.create_monitor(
            project.id,
            "failing",
            [metric.id],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_below={metric.id: 0.8},
        )
        unavailable = await sk.test_monitor_alert(monitor.id)
        missing = await sk.test_monitor_alert(monitor.id)
        await asyncio.sleep(3)  # several delivery ticks: a 503 is not tried again
        assert len(hook.posts) == 2
    assert (unavailable.status, unavailable.response_status) == ("failed", 503)
    assert unavailable.error == "the webhook answered HTTP 503"
    assert (missing.status, missing.response_status, missing.error) == ("failed", 404, "the webhook answered HTTP 404")
    off_list = await sk.update_monitor(monitor.id, alert_url="http://10.255.255.1:9/hook", alert_below={metric.id: 0.8})
    refused = await sk.test_monitor_alert(off_list.id)
    assert refused.status == "failed" and refused.response_status == 0
    assert "is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)" in refused.error
    assert (await sk.get_monitor(monitor.id)).monitor.last_test_alert == refused


async def test_a_test_alert_of_a_monitor_without_an_alert_is_refused(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("no alert to test")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    monitor = await sk.create_monitor(project.id, "quiet", [metric.id], sample_rate=100, window_calls=10)
    with pytest.raises(FailedPrecondition, match="monitor 'quiet' has no alert to test: give it an alert webhook_url"):
        await sk.test_monitor_alert(monitor.id)
    with pytest.raises(InvalidArgument, match="monitor_id"):
        await sk.test_monitor_alert("not-a-uuid")
    await sk.delete_monitor(monitor.id)
    with pytest.raises(NotFound, match=f"monitor {monitor.id} does not exist"):
        await sk.test_monitor_alert(monitor.id)
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM monitor_test_alerts WHERE monitor_id = $1", uuid.UUID(monitor.id))
            == 0
        )
    finally:
        await conn.close()


async def test_an_alert_not_sent_within_7_days_is_given_up(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("stale alert")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    with receiver([503] * 50) as hook:
        monitor = await sk.create_monitor(
            project.id,
            "stale",
            [metric.id],
            sample_rate=100,
            window_calls=2,
            alert_url=hook.url,
            alert_below={metric.id: 0.9},
        )
        await sk.log_calls(project.id, [CallIn(outputs={"response": "no"}) for _ in range(2)])
        (window,) = (await settled(sk, monitor.id, 1)).windows
        deadline = time.monotonic() + 60
        while not hook.posts:  # tried, answered 503: to be tried again
            assert time.monotonic() < deadline, "the alert was not tried"
            await asyncio.sleep(0.2)
        # As if it had closed 7 days and an hour ago with no executor running since.
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(
                "UPDATE monitor_windows SET closed_at = now() - interval '7 days 1 hour' WHERE run_id = $1",
                uuid.UUID(window.run_id),
            )
        finally:
            await conn.close()
        while (given_up := (await sk.get_monitor(monitor.id)).windows[0]).alert_delivery != "failed":
            assert time.monotonic() < deadline, given_up
            await asyncio.sleep(0.2)
        tried = len(hook.posts)
        await asyncio.sleep(3)
    assert given_up.alert_state == "below"
    assert given_up.alert_error == "given up: not sent within 7 days (no executor ran)"
    assert len(hook.posts) == tried  # never tried again


async def test_a_webhook_off_the_allowlist_is_not_called_and_says_why(sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("refused hook")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    monitor = await sk.create_monitor(
        project.id,
        "refused",
        [metric.id],
        sample_rate=100,
        window_calls=5,
        alert_url="http://10.255.255.1:9/hook",
        alert_below={metric.id: 0.5},
    )
    await sk.log_calls(project.id, [CallIn(outputs={"response": "no"}) for _ in range(5)])
    deadline = time.monotonic() + 120
    while True:
        detail = await sk.get_monitor(monitor.id)
        if detail.windows and detail.windows[0].alert_delivery == "failed":
            break
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.5)
    assert "is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)" in detail.windows[0].alert_error


async def test_bad_input_is_refused_clearly_and_writes_nothing(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("bad input")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    other = await sk.create_heuristic_metric(project.id, "other", "contains", {"value": "x"})
    exact = await sk.create_heuristic_metric(project.id, "exact", "exact_match", {})
    base = f"/v1/projects/{project.id}"
    good = {"name": "m", "metric_ids": [metric.id], "sample_rate": 10, "window_minutes": 5}
    first_id = str(uuid.uuid4())
    too_many = [
        {"call_id": first_id if i == 0 else str(uuid.uuid4()), "outputs": {"response": "x"}} for i in range(1001)
    ]
    cases = [
        ("calls:log", {"calls": too_many}, 400, "at most 1,000 calls per request, got 1,001"),
        (
            "calls:log",
            {"calls": [{"call_id": "r" * 201}]},
            400,
            "calls[0].call_id must be a UUID or text of 1..200 characters without NUL, got 'rrrrr",
        ),
        ("calls:log", {"calls": [{"call_id": "req\u00001"}]}, 400, "calls[0].call_id must be a UUID or text of"),
        ("calls:log", {"calls": [{"call_id": "req-1"}] * 2}, 400, "calls[1] repeats the call id of calls[0] (req-1)"),
        (
            "calls:log",
            {"calls": [{"latency_ms": -1}]},
            400,
            "calls[0].latency_ms must be a number that is not negative",
        ),
        ("calls:log", {"calls": [{"status": "fine"}]}, 400, "calls[0].status must be completed or errored"),
        ("calls:log", {"calls": [{"call_id": first_id}] * 2}, 400, "calls[1] repeats the call id"),
        ("calls:log", {"calls": []}, 400, "calls must hold at least one call"),
        ("calls:log", {"calls": [{"trace_id": "a\u0000b"}]}, 400, "calls[0].trace_id contains a NUL character"),
        ("monitors", {**good, "sample_rate": 0}, 400, "sample_rate must be a percentage more than 0 and at most 100"),
        ("monitors", {**good, "sample_rate": 150}, 400, "got 150"),
        ("monitors", {**good, "metric_ids": [str(uuid.uuid4())]}, 404, "do not exist in project"),
        ("monitors", {**good, "metric_ids": ["nope"]}, 400, "metric_ids 'nope' is not a valid id"),
        ("monitors", {**good, "metric_ids": []}, 400, "a monitor needs at least one metric"),
        ("monitors", {**good, "window_calls": 10}, 400, "give exactly one of window_minutes and window_calls"),
        ("monitors", {**good, "window_minutes": 0}, 400, "give exactly one of window_minutes and window_calls"),
        ("monitors", {**good, "alert": {"webhook_url": "gopher://x"}}, 400, "must be an http or https URL"),
        (
            "monitors",
            {
                **good,
                "alert": {"webhook_url": "http://h.example/", "thresholds": [{"metric_id": other.id, "below": 1}]},
            },
            400,
            "is not one of the monitor's metrics",
        ),
        (
            "monitors",
            {
                **good,
                "alert": {"webhook_url": "http://h.example/", "thresholds": [{"metric_id": metric.id, "below": 2}]},
            },
            400,
            "alert.thresholds[0].below must be within 0..1 for the boolean metric 'polite', got 2",
        ),
        ("monitors", {**good, "name": " "}, 400, "name must not be empty"),
        (
            "monitors",
            {**good, "metric_ids": [metric.id, exact.id]},
            400,
            "metric 'exact' compares the output with expected values, which logged calls do not carry: a monitor"
            " scores with metrics that judge a call by its inputs and output alone",
        ),
    ]
    async with stack.http(stack.orchestrator_http) as http:
        wrong = []
        for path, body, status, message in cases:
            answer = await http.post(f"{base}/{path}", json=body)
            if answer.status_code != status or message not in answer.json()["error"]["message"]:
                wrong.append((path, status, message, answer.status_code, answer.text[:300]))
        assert wrong == []
        assert (await http.post(f"{base}/monitors", json=good)).status_code == 200
        again = await http.post(f"{base}/monitors", json=good)
        assert again.status_code == 409 and "already has a monitor named 'm'" in again.json()["error"]["message"]
        assert (await http.get(f"/v1/monitors/{uuid.uuid4()}")).status_code == 404
        assert (await http.post(f"/v1/monitors/{uuid.uuid4()}:pause", json={})).status_code == 404
    # Refused requests wrote nothing: one monitor, and the 1,001 calls were not stored.
    assert [m.name for m in await sk.list_monitors(project.id)] == ["m"]
    assert (await sk.log_calls(project.id, [CallIn(call_id=first_id)])).stored == 1
    # Text PostgreSQL cannot store, or outputs beyond the limit, in a call: kept as errored, saying why.
    kept = await sk.log_calls(
        project.id,
        [
            CallIn(outputs={"response": "a\u0000b"}),
            CallIn(metadata={"x": "y" * 600_000}),
            CallIn(outputs={"n": 2**70, "f": 1.0}),
        ],
    )
    assert kept.stored == 3 and [r.index for r in kept.refused] == [0, 1]
    assert kept.refused[0].reason.startswith("the outputs were not kept: it holds a NUL character")
    assert kept.refused[1].reason.startswith("the metadata were not kept: it is 600,")
    # gRPC says INVALID_ARGUMENT with the same message.
    with pytest.raises(InvalidArgument, match="at most 1,000 calls per request, got 1,001"):
        await sk.log_calls(project.id, [CallIn() for _ in range(1001)])


async def test_the_console_lists_creates_and_pauses_monitors(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("console monitors")
    metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    exact = await sk.create_heuristic_metric(project.id, "exact", "exact_match", {})
    assert ((await sk.get_metric(metric.id)).reads_expected, exact.reads_expected) == (False, True)
    other = await sk.create_project("someone else's")
    hidden = await sk.create_monitor(
        other.id,
        "hidden",
        [(await sk.create_heuristic_metric(other.id, "m", "contains", {"value": "x"})).id],
        sample_rate=5,
        window_minutes=5,
    )
    key = (await sk.create_api_key(project.id, "console", "write")).secret
    async with chromium() as browser:
        context, page = await signed_in(browser, stack.console_url, key)
        base = f"/projects/{project.id}/monitors"
        await page.goto(base)
        form = page.locator("#monitor-form")
        await form.locator("input[name=name]").fill("checkout")
        await form.locator("input[name=sample_rate]").fill("12.5")
        await form.locator("input[name=window]").fill("200")
        await form.locator("select[name=window_kind]").select_option("calls")
        await form.locator("input[name=metadata_filter]").fill('{"route": "checkout"}')
        # A metric that compares with expected values cannot score logged calls: offered, not choosable.
        hints = await form.locator(".reads-expected").all_inner_texts()
        assert hints == ["compares with expected values, which logged calls do not carry"]
        assert await form.locator(f"input[name=metric][value='{exact.id}']").is_disabled()
        await form.locator(f"input[name=metric][value='{metric.id}']").check()
        await form.locator(f"input[name=below_{metric.id}]").fill("0.75")
        await form.locator("input[name=alert_url]").fill("http://127.0.0.1:9/hook")
        await form.locator("input[name=alert_recovery]").check()
        await form.locator("input[name=alert_errors_above]").fill("10")
        # Made with an alert: the secret signing its alerts is shown this once, never cached.
        async with page.expect_navigation() as made:
            await form.locator("button[type=submit]").click()
        answered = await made.value
        assert answered is not None and answered.headers["cache-control"] == "no-store"
        first_secret = await page.locator("#alert-secret-value").inner_text()
        assert first_secret.startswith("whsec_") and page.url.endswith(base)
        await screenshot(page, "monitor")
        (created,) = await sk.list_monitors(project.id)
        assert (created.name, created.sample_rate, created.window_calls, created.metadata_filter) == (
            "checkout",
            12.5,
            200,
            {"route": "checkout"},
        )
        assert [(t.metric_id, t.below) for t in created.alert.thresholds] == [(metric.id, 0.75)]
        assert created.alert.notify_recovery and created.alert.max_error_rate == 0.1
        assert [(m.name, m.reads_expected) for m in created.metrics] == [("polite", False)]
        assert await page.locator("#monitor-status").inner_text() == "active"
        settings = await page.locator("main").inner_text()  # the settings as typed, not 12.5000% / 0.7500
        assert "samples 12.5% of the calls" in settings
        assert "when polite < 0.75 or more than 10% of a window's calls errored, and when it recovers" in settings
        # Its runs, before a window closed: the runs list names it.
        await page.goto(f"/projects/{project.id}/runs?monitor={created.id}")
        assert "The runs of the monitor checkout" in await page.locator(".flash.ok").first.inner_text()
        await page.goto(f"{base}/{created.id}")
        # Changed on its page: the form shows its settings; refused as typed (kept), then saved.
        await page.locator("#edit-monitor summary").click()
        edit = page.locator("#edit-monitor-form")
        assert await edit.locator("input[name=sample_rate]").input_value() == "12.5"
        assert await edit.locator("input[name=metadata_filter]").input_value() == '{"route": "checkout"}'
        assert await edit.locator(f"input[name=below_{metric.id}]").input_value() == "0.75"
        await edit.locator("input[name=sample_rate]").fill("25")
        await edit.locator("input[name=metadata_filter]").fill("")
        await edit.locator(f"input[name=below_{metric.id}]").fill("2")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_load_state()
        assert (await page.locator("#monitor-error").inner_text()).startswith(
            "Nothing was saved: alert.thresholds[0].below must be within 0..1"
        )
        assert await edit.locator("input[name=sample_rate]").input_value() == "25"
        await edit.locator(f"input[name=below_{metric.id}]").fill("0.5")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_url("**saved=1")
        saved = (await sk.get_monitor(created.id)).monitor
        assert (saved.sample_rate, saved.metadata_filter, saved.window_calls) == (25, {}, 200)
        assert [(t.metric_id, t.below) for t in saved.alert.thresholds] == [(metric.id, 0.5)]
        assert saved.alert.notify_recovery and saved.alert.max_error_rate == 0.1  # as the Edit form showed them
        await screenshot(page, "monitor-edited")
        assert await page.locator("#alert-secret").count() == 0  # not shown again
        await page.locator("#rotate-alert-secret summary").click()
        await page.locator("#rotate").click()
        await page.wait_for_load_state()
        rotated = await page.locator("#alert-secret").inner_text()
        assert "Its new alert signing secret" in rotated and "The old one signs nothing from now on." in rotated
        assert (await page.locator("#alert-secret-value").inner_text()) not in ("", first_secret)
        await screenshot(page, "monitor-secret")
        # A test alert: what its URL answered, on its page (nothing listens at port 9; then a receiver).
        await page.locator("#test-alert").click()
        await page.wait_for_url("**tested=1")
        refused = await page.locator("#last-test-alert").inner_text()
        assert refused.startswith("Test alert sent: failed could not call http://127.0.0.1:9/hook: ConnectError")
        with receiver() as hook:
            await sk.update_monitor(
                created.id,
                alert_url=hook.url,
                alert_below={metric.id: 0.5},
                alert_recovery=True,
                alert_max_error_rate=0.1,
            )
            await page.goto(f"{base}/{created.id}")
            assert "last test alert: failed" in await page.locator("#last-test-alert").inner_text()
            await page.locator("#test-alert").click()
            await page.wait_for_url("**tested=1")
            assert (await page.locator("#last-test-alert").inner_text()).startswith(
                "Test alert sent: delivered HTTP 204"
            )
            assert [body["type"] for _, body in hook.posts] == ["monitor.test"]
        await screenshot(page, "monitor-test-alert")
        # Muted for an hour from its page, then on again.
        await page.locator("#mute-alerts summary").click()
        await page.locator("#mute-alerts button", has_text="for 1 hour").click()
        await page.wait_for_load_state()
        assert (await page.locator("#alerts-muted").inner_text()).startswith("Alerts muted until ")
        assert (await sk.get_monitor(created.id)).monitor.alert_muted_until
        await screenshot(page, "monitor-muted")
        await page.locator("#unmute").click()
        await page.wait_for_load_state()
        assert await page.locator("#alerts-muted").count() == 0
        assert (await sk.get_monitor(created.id)).monitor.alert_muted_until == ""
        await page.goto(base)
        await screenshot(page, "monitors")
        row = page.locator("#monitors-table tr[data-monitor='checkout']")
        assert "· errors above 10% · and recoveries" in await row.inner_text()
        await row.locator("button", has_text="Pause").click()
        await page.wait_for_url(f"**{base}")
        assert (await sk.get_monitor(created.id)).monitor.status == "paused"
        assert "Resume" in await page.locator("#monitors-table tr[data-monitor='checkout'] button").inner_text()
        # A bad form keeps the visitor's values and says what the API said.
        await page.locator("#new-monitor summary").click()
        await page.locator("#monitor-form input[name=name]").fill("second")
        # (within the field's bounds, so the browser sends it; below the API's resolution)
        await page.locator("#monitor-form input[name=sample_rate]").fill("0.00001")
        await page.locator(f"#monitor-form input[name=metric][value='{metric.id}']").check()
        await page.locator("#monitor-form button[type=submit]").click()
        await page.wait_for_load_state()
        assert "sample_rate 1e-05 is below the resolution of 0.0001%" in await page.locator(".flash.error").inner_text()
        assert await page.locator("#monitor-form input[name=name]").input_value() == "second"
        # Another project's monitor, even under this project's address, is not found.
        answer = await page.goto(f"{base}/{hidden.id}")
        assert answer is not None and answer.status == 404
        # Deleted from its page: gone from the list, its page not found.
        await page.goto(f"{base}/{created.id}")
        await page.locator("#delete-monitor summary").click()
        await page.locator("#delete-monitor button", has_text="Delete checkout").click()
        await page.wait_for_url(f"**{base}?deleted=*")
        assert await page.locator("#monitor-deleted").inner_text() == "Deleted checkout: the runs of its windows stay."
        assert await page.locator("#monitors-table tr[data-monitor='checkout']").count() == 0
        answer = await page.goto(f"{base}/{created.id}")
        assert answer is not None and answer.status == 404
        # A deleted monitor's runs name it, with no link to a page that is no more.
        brief = await sk.create_monitor(
            project.id,
            "brief",
            [metric.id],
            sample_rate=100,
            window_calls=1,
            alert_url="http://127.0.0.1:9/hook",
            alert_below={metric.id: 0.5},
        )
        await sk.log_calls(project.id, [CallIn(outputs={"response": "no"})])
        run_id = (await settled(sk, brief.id, 1)).windows[0].run_id
        # Production's health at a glance: the latest window's results in the list, each window's on its page.
        await page.goto(base)
        latest = page.locator("#monitors-table tr[data-monitor='brief'] .latest-window")
        assert " ".join((await latest.inner_text()).split()) == "#1 polite 0.0% below 50.0%"
        assert await latest.locator(".window-metric.below").count() == 1
        assert await latest.locator(f"a[href$='/runs/{run_id}']").count() == 1
        await page.goto(f"{base}/{brief.id}")
        assert " ".join((await page.locator(".window-results").first.inner_text()).split()) == "polite 0.0% below 50.0%"
        await screenshot(page, "monitor-windows")
        await sk.delete_monitor(brief.id)
        for address in (f"/projects/{project.id}/runs/{run_id}", f"/projects/{project.id}/runs?monitor={brief.id}"):
            await page.goto(address)
            assert await page.locator(".deleted-monitor").first.inner_text() == "(deleted)"
            assert await page.locator(f"a[href$='/monitors/{brief.id}']").count() == 0
        await context.close()
