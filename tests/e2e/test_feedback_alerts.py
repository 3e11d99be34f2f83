"""A monitor's alert on its users' feedback, on the real processes: per window, the thumbs and
ratings users gave while it was open, against thresholds — fired below, told when recovered, not
judged on too few verdicts; the windows show it; bad thresholds refused clearly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, CallIn, FeedbackIn, InvalidArgument
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import feedback_project, receiver, settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


async def test_users_feedback_given_during_a_window_fires_its_alert_and_its_recovery(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project_id, metrics = await feedback_project(sk)
    # What users say while each window is open: thumbs up/down, 1-5 ratings.
    windows = [
        ([True, True, False, False, False], [2, 2]),  # thumbs 40%: below; 2 ratings: too few to judge
        ([True, True, True, True], [1, 2, 2, 3]),  # thumbs 100%; rating mean 2.0: below 3
        ([True, True, True, True, True], [4, 4, 5, 3]),  # both at or above: recovered
    ]
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project_id,
            "users",
            [metrics["polite"]],
            sample_rate=100,
            window_calls=10,
            alert_url=hook.url,
            alert_feedback_below={metrics["thumbs"]: 0.8, metrics["rating"]: 3},
            min_feedback=4,
            alert_recovery=True,
        )
        assert [(t.metric_id, t.below) for t in monitor.alert.feedback_thresholds] == [
            (metrics["thumbs"], 0.8),
            (metrics["rating"], 3.0),
        ]
        assert monitor.alert.min_feedback == 4 and monitor.alert.thresholds == []
        for number, (thumbs, ratings) in enumerate(windows, 1):
            calls = [CallIn(call_id=f"w{number}-{i}", outputs={"response": "please"}) for i in range(10)]
            # Nine calls, the users' feedback on them, then the tenth call closes the window.
            assert (await sk.log_calls(project_id, calls[:9])).sampled == 9
            verdicts = [FeedbackIn(f"w{number}-{i}", "thumbs", up) for i, up in enumerate(thumbs)]
            verdicts += [FeedbackIn(f"w{number}-{i}", "rating", r) for i, r in enumerate(ratings)]
            assert (await sk.send_feedback_batch(verdicts, project_id=project_id)).stored == len(verdicts)
            assert (await sk.log_calls(project_id, calls[9:])).sampled == 1
            await settled(sk, monitor.id, number)
        deadline = time.monotonic() + 60
        while len(hook.posts) < 3:
            assert time.monotonic() < deadline, hook.posts
            await asyncio.sleep(0.3)
        await asyncio.sleep(2)  # several delivery ticks: nothing more arrives
        detail = await sk.get_monitor(monitor.id)

    assert {w.number: w.alert_state for w in detail.windows} == {1: "below", 2: "below", 3: "recovered"}
    shown = {
        w.number: [(m.name, m.measure, m.value, m.scored, m.alert_below, m.below) for m in w.feedback]
        for w in detail.windows
    }
    assert shown == {
        1: [("thumbs", "pass_rate", 0.4, 5, 0.8, True), ("rating", "mean", 2.0, 2, 3.0, False)],
        2: [("thumbs", "pass_rate", 1.0, 4, 0.8, False), ("rating", "mean", 2.0, 4, 3.0, True)],
        3: [("thumbs", "pass_rate", 1.0, 5, 0.8, False), ("rating", "mean", 4.0, 4, 3.0, False)],
    }
    # The window's run is scored as before: the feedback does not change its metrics.
    assert [[(m.name, m.value) for m in w.metrics] for w in detail.windows] == [[("polite", 1.0)]] * 3

    bodies = {body["window"]["number"]: body for _, body in hook.posts}
    assert sorted((n, b["type"]) for n, b in bodies.items()) == [
        (1, "monitor.alert"),
        (2, "monitor.alert"),
        (3, "monitor.recovered"),
    ]
    up = {"metric_id": metrics["thumbs"], "name": "thumbs", "measure": "pass_rate", "source": "feedback"}
    stars = {"metric_id": metrics["rating"], "name": "rating", "measure": "mean", "source": "feedback"}
    assert bodies[1]["metrics"] == [{**up, "value": 0.4, "below": 0.8, "scored": 5, "given": 5}]
    assert bodies[2]["metrics"] == [{**stars, "value": 2.0, "below": 3.0, "scored": 4, "given": 4}]
    assert bodies[3]["metrics"] == [
        {**up, "value": 1.0, "below": 0.8, "scored": 5, "given": 5},
        {**stars, "value": 4.0, "below": 3.0, "scored": 4, "given": 4},
    ]
    run_1 = next(w.run_id for w in detail.windows if w.number == 1)
    assert bodies[1]["text"] == (
        "Monitor 'users' window 1 (10 calls): thumbs (users' feedback, 5 given) 40.0% passed, below 80.0%"
        f" — {stack.console_url}/projects/{project_id}/runs/{run_1}"
    )
    assert bodies[3]["text"].startswith(
        "Monitor 'users' window 3 (10 calls) recovered: thumbs (users' feedback, 5 given) 100.0% passed,"
        " at or above 80.0% · rating (users' feedback, 4 given) mean 4, at or above 3 — "
    )

    # The console's monitor page: the alert's feedback thresholds and each window's users' verdicts.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/monitors/{monitor.id}")
        said = await page.locator("main").inner_text()
        assert (
            "when your users' feedback given during a window is thumbs < 0.8 or rating < 3"
            " (judged with at least 4 verdicts), and when it recovers"
        ) in said
        rows = await page.locator("#windows-table tbody tr .window-results").all_inner_texts()
        assert [" ".join(r.split()) for r in rows] == [
            "polite 100.0% users' thumbs 100.0% of 5 users' rating 4 of 4",
            "polite 100.0% users' thumbs 100.0% of 4 users' rating 2 of 4 below 3",
            "polite 100.0% users' thumbs 40.0% of 5 below 80.0% users' rating 2 of 2",
        ]
        await screenshot(page, "monitor-feedback-alert")
    # The CLI says the same.
    printed = scorekeeper(stack, "--project", project_id, "monitors", "show", "users")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert (
        "when users' feedback thumbs < 0.8, rating < 3 (with at least 4 given in a window), and when back at or above"
    ) in out
    assert "users' thumbs 40.0% below 80.0% (5 given)" in out  # the table's other cells are unit-tested

    # Changed: the alert replaced whole keeps or drops the feedback thresholds as asked.
    changed = await sk.update_monitor(
        monitor.id, alert_url=hook.url, alert_below={metrics["polite"]: 0.5}, alert_feedback_below={}
    )
    assert changed.alert.feedback_thresholds == [] and changed.alert.min_feedback == 10
    assert [w.feedback for w in (await sk.get_monitor(monitor.id)).windows] == [[], [], []]


async def test_bad_feedback_thresholds_are_refused_clearly(sk: AsyncScorekeeper) -> None:
    project_id, metrics = await feedback_project(sk)
    other_id, other = await feedback_project(sk)
    await sk.archive_metric(metrics["rating"])
    base: dict[str, Any] = {"sample_rate": 100, "window_calls": 10, "alert_url": "http://127.0.0.1:9/hook"}
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"alert_feedback_below": {metrics["polite"]: 0.5}},
            "alert.feedback_thresholds[0]: 'polite' is a heuristic metric, which the platform scores; users'"
            " feedback goes to metrics of eval type human or code",
        ),
        (
            {"alert_feedback_below": {other["thumbs"]: 0.5}},
            f"alert.feedback_thresholds[0].metric_id {other['thumbs']} is not a metric of this project",
        ),
        (
            {"alert_feedback_below": {metrics["thumbs"]: 1.5}},
            "alert.feedback_thresholds[0].below must be within 0..1 for the boolean metric 'thumbs', got 1.5",
        ),
        (
            {"alert_feedback_below": {metrics["thumbs"]: 0.5, metrics["rating"]: 3}},
            "alert.feedback_thresholds[1]: 'rating' is archived; bring it back to alert on its feedback",
        ),
        (
            {"alert_feedback_below": {metrics["thumbs"]: 0.5}, "min_feedback": 10_001},
            "alert.min_feedback must be within 1..10,000 (0: 10), got 10,001",
        ),
        (
            {"alert_feedback_below": {metrics["thumbs"]: 0.5}, "alert_url": ""},
            "alert.feedback_thresholds need an alert.webhook_url",
        ),
        (
            {"alert_feedback_below": {"not-a-uuid": 0.5}},
            "alert.feedback_thresholds[0].metric_id 'not-a-uuid' is not a valid id",
        ),
    ]
    for i, (fields, message) in enumerate(cases):
        with pytest.raises(InvalidArgument) as refused:
            await sk.create_monitor(project_id, f"bad {i}", [metrics["polite"]], **{**base, **fields})
        assert message in str(refused.value), (fields, str(refused.value))
    assert await sk.list_monitors(project_id) == []
    assert other_id != project_id


async def test_the_cli_and_the_console_set_feedback_thresholds(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, metrics = await feedback_project(sk)
    cli = ("--project", project_id, "monitors")
    made = scorekeeper(
        stack,
        *cli,
        "create",
        "users",
        "--sample-rate",
        "100",
        "--every-calls",
        "10",
        "--metric",
        "polite",
        "--alert-url",
        "http://127.0.0.1:9/hook",
        "--alert-feedback-below",
        "thumbs=80%",
        "--min-feedback",
        "20",
    )
    assert made.returncode == 0, made.stderr
    (monitor,) = await sk.list_monitors(project_id)
    assert [(t.metric_id, t.below) for t in monitor.alert.feedback_thresholds] == [(metrics["thumbs"], 0.8)]
    assert (monitor.alert.min_feedback, monitor.alert.thresholds) == (20, [])
    # Another threshold; the others stay as they were.
    changed = scorekeeper(stack, *cli, "update", "users", "--alert-feedback-below", "rating=3.5")
    assert changed.returncode == 0, changed.stderr
    alert = (await sk.get_monitor(monitor.id)).monitor.alert
    assert [(t.metric_id, t.below) for t in alert.feedback_thresholds] == [(metrics["rating"], 3.5)]
    assert (alert.min_feedback, alert.webhook_url) == (20, "http://127.0.0.1:9/hook")
    refused = scorekeeper(stack, *cli, "update", "users", "--alert-feedback-below", "polite=0.5")
    assert refused.returncode == 2 and "'polite' is a heuristic metric, which the platform scores" in refused.stderr
    # Without them (an alert needs some threshold: here the errored calls').
    dropped = scorekeeper(stack, *cli, "update", "users", "--no-alert-feedback", "--alert-errors-above", "5%")
    assert dropped.returncode == 0, dropped.stderr
    assert (await sk.get_monitor(monitor.id)).monitor.alert.feedback_thresholds == []

    # The console's Edit form: a feedback threshold for each human metric, kept as typed when refused.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/monitors/{monitor.id}")
        await page.locator("#edit-monitor summary").click()
        edit = page.locator("#edit-monitor-form")
        assert await edit.locator(f"input[name=feedback_below_{metrics['polite']}]").count() == 0
        await screenshot(page, "monitor-edit-feedback")
        await edit.locator(f"input[name=feedback_below_{metrics['thumbs']}]").fill("1.5")
        await edit.locator("input[name=min_feedback]").fill("5")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_load_state()
        assert (await page.locator("#monitor-error").inner_text()).startswith(
            "Nothing was saved: alert.feedback_thresholds[0].below must be within 0..1 for the boolean metric"
        )
        assert await edit.locator(f"input[name=feedback_below_{metrics['thumbs']}]").input_value() == "1.5"
        await edit.locator(f"input[name=feedback_below_{metrics['thumbs']}]").fill("0.7")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_url("**saved=1")
    alert = (await sk.get_monitor(monitor.id)).monitor.alert
    assert [(t.metric_id, t.below) for t in alert.feedback_thresholds] == [(metrics["thumbs"], 0.7)]
    assert alert.min_feedback == 5 and alert.max_error_rate == 0.05
