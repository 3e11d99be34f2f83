"""Logged calls and their feedback on the real processes: a user's thumbs up or down (and a 1–5
rating) given after the call, replaced and taken back; bad feedback refused whole, naming the item;
the calls listed newest first and filtered by status, trace, metadata, time and feedback, with the
feedback summed up per metric; one call with the records monitors made of it; another project's key
sees none of it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from scorekeeper_sdk import AsyncScorekeeper, FeedbackIn, InvalidArgument, NotFound, Scorekeeper
from scorekeeper_sdk.api.calls import Call, FeedbackResult
from scorekeeper_sdk.api.monitors import CallIn
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import feedback_project, settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


async def test_feedback_is_given_replaced_taken_back_and_summed_up(sk: AsyncScorekeeper) -> None:
    project_id, metrics = await feedback_project(sk)
    thumbs_id = metrics["thumbs"]
    calls = [
        CallIn(
            call_id=f"req-{n}",
            inputs={"question": f"q{n}"},
            outputs={"answer": f"a{n}"},
            metadata={"route": "checkout" if n % 2 else "search", "tier": n % 3},
            trace_id=f"trace-{n // 2}",
            status="errored" if n == 5 else "completed",
            error="timeout" if n == 5 else "",
        )
        for n in range(6)
    ]
    for call in calls:  # one request each: calls logged together share their time, ordered by id
        assert (await sk.log_calls(project_id, [call])).stored == 1

    given = await sk.send_feedback_batch(
        [
            FeedbackIn("req-0", "thumbs", True, author="user-17"),
            FeedbackIn("req-1", thumbs_id, False, comment="wrong total"),
            FeedbackIn("req-2", "thumbs", True),
            FeedbackIn("req-1", "rating", 2),
            FeedbackIn("req-3", "rating", 5),
        ],
        project_id=project_id,
    )
    assert (given.stored, given.replaced, given.removed) == (5, 0, 0)
    # The user changes their mind on req-2; req-0's thumbs is taken back.
    again = await sk.send_feedback(
        "req-2", "thumbs", False, comment="actually no", author="user-9", project_id=project_id
    )
    assert (again.stored, again.replaced) == (0, 1)
    taken = await sk.send_feedback("req-0", "thumbs", None, project_id=project_id)
    assert (taken.stored, taken.replaced, taken.removed) == (0, 0, 1)

    listed = [c async for c in sk.list_calls(project_id)]
    assert [c.ref for c in listed] == [f"req-{n}" for n in range(5, -1, -1)]
    by_ref = {c.ref: c for c in listed}
    assert by_ref["req-0"].feedback == []
    two = by_ref["req-2"].feedback
    assert [(f.metric_name, f.value, f.passed, f.comment, f.author) for f in two] == [
        ("thumbs", False, False, "actually no", "user-9")
    ]
    assert [(f.metric_name, f.value, f.passed) for f in by_ref["req-1"].feedback] == [
        ("rating", 2, False),
        ("thumbs", False, False),
    ]
    assert by_ref["req-5"].status == "errored" and by_ref["req-5"].error == "timeout"

    async def refs(**filters: object) -> list[str]:
        return [c.ref async for c in sk.list_calls(project_id, **filters)]  # type: ignore[arg-type]

    assert await refs(status="errored") == ["req-5"]
    assert await refs(trace_id="trace-1") == ["req-3", "req-2"]
    assert await refs(metadata=["route=checkout"]) == ["req-5", "req-3", "req-1"]
    assert await refs(metadata=["route=checkout", "tier=0"]) == ["req-3"]  # numbers compare as text
    assert await refs(feedback=["thumbs=failed"]) == ["req-2", "req-1"]
    assert await refs(feedback=["rating=passed"]) == ["req-3"]
    assert await refs(feedback=["thumbs=given", "rating=none"]) == ["req-2"]
    assert await refs(feedback=["thumbs=none", "rating=none"]) == ["req-5", "req-4", "req-0"]
    assert await refs(search="a3 or q1") == ["req-3", "req-1"]  # words of the inputs or outputs
    assert await refs(search="q2", feedback=["thumbs=failed"]) == ["req-2"]
    assert await refs(search="checkout") == []  # metadata is filtered, not searched
    # Pages of one call continue where the last left off.
    assert [c.ref async for c in sk.list_calls(project_id, page_size=1)] == [c.ref for c in listed]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await refs(logged_after=later) == []

    summary = {s.metric_name: s for s in await sk.feedback_summary(project_id)}
    assert (summary["thumbs"].given, summary["thumbs"].passed, summary["thumbs"].pass_rate) == (2, 0, 0.0)
    assert (summary["rating"].given, summary["rating"].passed, summary["rating"].mean) == (2, 1, 3.5)
    checkout = {s.metric_name: s.given for s in await sk.feedback_summary(project_id, metadata=["route=search"])}
    assert checkout == {"thumbs": 1}


async def test_bad_feedback_is_refused_whole_naming_the_item(sk: AsyncScorekeeper) -> None:
    project_id, metrics = await feedback_project(sk)
    await sk.log_calls(project_id, [CallIn(call_id="req-1"), CallIn(call_id="req-2")])

    async def refused(item: FeedbackIn, error: type[Exception], match: str) -> None:
        with pytest.raises(error, match=match):
            await sk.send_feedback_batch([FeedbackIn("req-1", "thumbs", True), item], project_id=project_id)

    await refused(FeedbackIn("req-2", "thumbs", 3), InvalidArgument, r"feedback\[1\]\.value must be true or false")
    await refused(FeedbackIn("req-2", "rating", 7), InvalidArgument, r"whole number within 1\.\.5.*'rating'")
    await refused(FeedbackIn("req-2", "rating", True), InvalidArgument, "value must be a number for an int metric")
    await refused(FeedbackIn("req-2", "polite", True), InvalidArgument, "'polite' is a heuristic metric, which")
    await refused(FeedbackIn("req-2", "kindness", True), InvalidArgument, r"feedback\[1\]\.metric: unknown metric")
    await refused(FeedbackIn("req-1", "thumbs", False), InvalidArgument, r"feedback\[1\] repeats .*feedback\[0\]")
    await refused(FeedbackIn("req-9", "thumbs", True), NotFound, r"feedback\[1\]\.call_id 'req-9' names no call")
    await refused(FeedbackIn("req-2", "thumbs", True, author="x" * 201), InvalidArgument, "author must be at most")
    with pytest.raises(InvalidArgument, match="at most 1,000 feedback items per request"):
        await sk.send_feedback_batch([FeedbackIn(f"c{i}", "thumbs", True) for i in range(1001)], project_id=project_id)
    # Nothing of a refused request was written: req-1 has no feedback.
    assert (await sk.get_call(project_id, "req-1")).feedback == []
    await sk.archive_metric(metrics["thumbs"])
    with pytest.raises(InvalidArgument, match="'thumbs' is archived"):
        await sk.send_feedback("req-1", "thumbs", True, project_id=project_id)

    with pytest.raises(InvalidArgument, match="feedback filter 'thumbs=maybe' must be metric=passed"):
        [c async for c in sk.list_calls(project_id, feedback=["thumbs=maybe"])]
    with pytest.raises(InvalidArgument, match="feedback: unknown metric 'kindness'"):
        [c async for c in sk.list_calls(project_id, feedback=["kindness=given"])]
    with pytest.raises(InvalidArgument, match="metadata filter 'route' must be key=value"):
        [c async for c in sk.list_calls(project_id, metadata=["route"])]
    with pytest.raises(InvalidArgument, match="status must be any of completed, errored"):
        [c async for c in sk.list_calls(project_id, status="pending")]
    with pytest.raises(InvalidArgument, match="logged_after 'yesterday' is not an RFC 3339 time"):
        [c async for c in sk.list_calls(project_id, logged_after="yesterday")]
    with pytest.raises(InvalidArgument, match="search '!!' holds no word to look for"):
        [c async for c in sk.list_calls(project_id, search="!!")]
    with pytest.raises(NotFound, match="call 'req-404' was not logged in project"):
        await sk.get_call(project_id, "req-404")


async def test_a_call_shows_what_monitors_made_of_it_and_the_judge_meets_the_users(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project_id, metrics = await feedback_project(sk)
    monitor = await sk.create_monitor(project_id, "all", [metrics["polite"]], sample_rate=100, window_calls=6)
    replies = ["yes please", "no", "please wait", "never", "please", "go away"]  # polite: 0, 2, 4
    calls = [CallIn(call_id=f"m-{n}", outputs={"response": reply}) for n, reply in enumerate(replies)]
    assert (await sk.log_calls(project_id, calls)).sampled == 6
    detail = await settled(sk, monitor.id, windows=1)
    # Users liked m-0, m-2 and m-3, disliked m-1 and m-4; m-5 got none.
    liked = {0: True, 1: False, 2: True, 3: True, 4: False}
    await sk.send_feedback_batch([FeedbackIn(f"m-{n}", "thumbs", v) for n, v in liked.items()], project_id=project_id)
    call = await sk.get_call(project_id, "m-0")
    assert [(s.monitor_name, s.status) for s in call.samples] == [("all", "completed")]
    assert [(x.metric_name, x.value, x.passed) for x in call.samples[0].scores] == [("polite", True, True)]
    run_id = detail.windows[0].run_id
    assert call.samples[0].run_id == run_id and (await sk.get_run(run_id)).source == "monitor"

    # polite (the judge) against thumbs (the users), on the 5 calls both judged.
    met = await sk.metric_agreement(run_id, "polite", "thumbs")
    cells = (met.both_passed, met.only_a_passed, met.only_b_passed, met.both_failed, met.not_compared)
    # Both: m-0, m-2; polite only: m-4; liked only: m-3; neither: m-1; m-5 not compared.
    assert cells == (2, 1, 1, 1, 1)
    assert (met.compared, met.agreement, met.metric_a_feedback, met.metric_b_feedback) == (5, 0.6, False, True)
    with pytest.raises(InvalidArgument, match="a heuristic metric takes no feedback"):
        await sk.metric_agreement(
            run_id, "thumbs", (await sk.create_heuristic_metric(project_id, "x", "contains", {"value": "x"})).id
        )
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/runs/{run_id}")
        await page.click("#agreement summary")
        assert "thumbs (users' feedback)" in await page.locator("#agreement-form").inner_text()
        await page.select_option("#agreement-form select[name=agree_b]", metrics["thumbs"])
        await page.click("#agreement-form button")
        summary = await page.locator("#agreement-summary").inner_text()
        assert "They agree on 60.0% of 5 records" in summary and "1 not judged by both" in summary
        assert await page.locator("#agreement-table a").count() == 0  # no records list to open
        assert "thumbs (users) passed" in await page.locator("#agreement-table").inner_text()
        await screenshot(page, "monitor-run-agreement-with-users")


async def test_another_project_s_key_sees_no_call_and_gives_no_feedback(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    other, _ = await feedback_project(sk)
    await sk.log_calls(project_id, [CallIn(call_id="secret", outputs={"answer": "42"})])
    key = await sk.create_api_key(other, "other team", role="write")
    async with stack.sdk(api_key=key.secret) as theirs:
        with pytest.raises(NotFound):
            await theirs.get_call(project_id, "secret")
        with pytest.raises(NotFound):
            [c async for c in theirs.list_calls(project_id)]
        with pytest.raises(NotFound):
            await theirs.send_feedback("secret", "thumbs", False, project_id=project_id)
        # Its own project has no such call.
        with pytest.raises(NotFound, match="names no call logged in this project"):
            await theirs.send_feedback("secret", "thumbs", False, project_id=other)
    assert (await sk.get_call(project_id, "secret")).feedback == []


async def test_the_console_lists_calls_and_takes_feedback_on_a_call_s_page(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, metrics = await feedback_project(sk)
    for n in range(3):
        call = CallIn(
            call_id=f"chat-{n}",
            inputs={"question": f"question {n}"},
            outputs={"answer": f"answer {n}"},
            metadata={"route": "orders"},
            trace_id="trace-9" if n == 1 else "",
        )
        await sk.log_calls(project_id, [call])
    await sk.send_feedback("chat-0", "thumbs", True, author="user-1", project_id=project_id)
    reader = await sk.create_api_key(project_id, "viewer", role="read")
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls")
        rows = page.locator("#calls-table tbody tr")
        assert [await rows.nth(i).get_attribute("data-call") for i in range(3)] == ["chat-2", "chat-1", "chat-0"]
        assert "thumbs pass" in await rows.nth(2).inner_text()
        summary = page.locator('#feedback-summary [data-metric="thumbs"]')
        assert (
            "100% passed" in await summary.inner_text() and "1 of 1 calls with feedback" in await summary.inner_text()
        )

        # A call's page: give a thumbs down with a comment, then a rating; the list shows them.
        await rows.nth(1).locator("a").first.click()
        await page.wait_for_url("**/calls/*")
        assert "question 1" in await page.locator("#call-inputs").inner_text()
        thumbs = page.locator('#give-feedback form[data-metric="thumbs"]')
        await thumbs.locator('input[value="fail"]').check()
        await thumbs.locator("input[name=author]").fill("Dana")
        await thumbs.locator("textarea[name=comment]").fill("wrong order number")
        await thumbs.locator("button[type=submit]").click()
        await page.wait_for_url("**?given=thumbs")
        row = page.locator('#feedback-table tr[data-metric="thumbs"]')
        said = await row.inner_text()
        assert all(t in said for t in ("false", "failed", "Dana", "wrong order number"))
        await page.click("#give-feedback summary")  # closed once the call has feedback
        rating = page.locator('#give-feedback form[data-metric="rating"]')
        assert await rating.locator("input[name=author]").input_value() == "Dana"  # remembered
        await rating.locator("select[name=value]").select_option("2")
        await rating.locator("button[type=submit]").click()
        await page.wait_for_url("**?given=rating")
        assert "failed" in await page.locator('#feedback-table tr[data-metric="rating"]').inner_text()
        await screenshot(page, "call-page")
        # A bad value is refused on the page, nothing saved.
        await page.goto(f"/projects/{project_id}/calls?metric={metrics['thumbs']}&state=failed")
        assert [await rows.nth(i).get_attribute("data-call") for i in range(await rows.count())] == ["chat-1"]
        summary_text = await page.locator('#feedback-summary [data-metric="thumbs"]').inner_text()
        assert "0% passed" in summary_text  # over the calls that failed it
        await page.goto(f"/projects/{project_id}/calls?trace=trace-9&window=")
        assert await rows.count() == 1
        await screenshot(page, "calls-page")

        # Taken back from the call's page.
        await page.goto(f"/projects/{project_id}/calls/{(await sk.get_call(project_id, 'chat-1')).id}")
        await page.locator('#feedback-table tr[data-metric="thumbs"] button').click()
        await page.wait_for_url("**?removed=thumbs")
        assert await page.locator('#feedback-table tr[data-metric="thumbs"]').count() == 0
        assert [f.metric_name for f in (await sk.get_call(project_id, "chat-1")).feedback] == ["rating"]

        # A read key's visitor sees the calls and their feedback, and no form.
        _, theirs = await signed_in(browser, stack.console_url, reader.secret)
        await theirs.goto(f"/projects/{project_id}/calls/{(await sk.get_call(project_id, 'chat-0')).id}")
        assert await theirs.locator("#give-feedback").count() == 0
        assert await theirs.locator(".read-only-note").count() == 1
        assert "user-1" in await theirs.locator("#feedback-table").inner_text()
        missing = await theirs.goto(f"/projects/{project_id}/calls/no-such-call")
        assert missing is not None and missing.status == 404


async def test_the_cli_lists_shows_and_gives_feedback(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    for n in range(2):
        await sk.log_calls(project_id, [CallIn(call_id=f"cli-{n}", inputs={"q": f"q{n}"}, outputs={"a": f"a{n}"})])
    given = scorekeeper(
        stack, "calls", "feedback", "cli-1", "thumbs", "down", "--comment", "rude", "--project", project_id
    )
    assert given.returncode == 0, given.stderr
    assert "feedback of thumbs on call cli-1: given" in given.stdout
    listed = scorekeeper(stack, "calls", "list", "--feedback", "thumbs=failed", "--project", project_id)
    assert listed.returncode == 0, listed.stderr
    assert "cli-1" in listed.stdout and "cli-0" not in listed.stdout and "thumbs FAIL" in listed.stdout
    assert "feedback: thumbs: 0 of 1 passed (0.0%)" in listed.stdout
    shown = scorekeeper(stack, "calls", "show", "cli-1", "--project", project_id)
    assert "rude" in shown.stdout and "no monitor" not in shown.stdout and "/calls/" in shown.stdout
    taken = scorekeeper(stack, "calls", "feedback", "cli-1", "thumbs", "--take-back", "--project", project_id)
    assert "taken back" in taken.stdout
    bad = scorekeeper(stack, "calls", "feedback", "cli-1", "polite", "up", "--project", project_id)
    assert bad.returncode == 2 and "'polite' is a heuristic metric" in bad.stderr
    missing = scorekeeper(stack, "calls", "show", "nope", "--project", project_id)
    assert missing.returncode != 0 and "call 'nope' was not logged" in missing.stderr


async def test_feedback_over_time_per_day_and_hour(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    await sk.log_calls(project_id, [CallIn(call_id=f"t-{n}", metadata={"route": "orders"}) for n in range(6)])
    # t-0, t-1 and t-4 were logged two days ago (aged in the database, as time would).
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "UPDATE logged_calls SET logged_at = date_trunc('hour', now()) - interval '47 hours'"
            " WHERE project_id = $1 AND call_key = ANY($2::text[])",
            uuid.UUID(project_id),
            ["t-0", "t-1", "t-4"],
        )
    finally:
        await conn.close()
    await sk.send_feedback_batch(
        [
            *(FeedbackIn(f"t-{n}", "thumbs", n != 1) for n in range(4)),  # t-1 failed
            FeedbackIn("t-4", "rating", 2),
            FeedbackIn("t-5", "rating", 5),
        ],
        project_id=project_id,
    )
    today = datetime.now(UTC).date()
    days = await sk.feedback_trend(project_id, by="day")
    shown = [(p.bucket_start[:10], p.metric_name, p.given, p.passed, p.value) for p in days]
    earlier = (datetime.now(UTC) - timedelta(hours=47)).replace(minute=0).date().isoformat()
    assert shown == [
        (earlier, "rating", 1, 0, 2.0),
        (earlier, "thumbs", 2, 1, 0.5),
        (today.isoformat(), "rating", 1, 1, 5.0),
        (today.isoformat(), "thumbs", 2, 2, 1.0),
    ]
    through_calls = await sk.feedback_trend(project_id, by="day", metadata=["route=orders"])
    assert [(p.bucket_start, p.metric_name, p.given, p.passed) for p in through_calls] == [
        (p.bucket_start, p.metric_name, p.given, p.passed) for p in days
    ]
    hours = await sk.feedback_trend(project_id, by="hour", feedback=["thumbs=given"])
    assert [(p.metric_name, p.given) for p in hours] == [("thumbs", 2), ("thumbs", 2)]
    assert hours[0].bucket_start.endswith(":00:00Z") or hours[0].bucket_start.endswith(":00:00+00:00")
    with pytest.raises(InvalidArgument, match="trend must be any of hour, day; got 'week'"):
        await sk.feedback_trend(project_id, by="week")
    trend = scorekeeper(stack, "calls", "trend", "--by", "day", "--project", project_id)
    assert trend.returncode == 0, trend.stderr
    assert "50.0% of 2" in trend.stdout and "100.0% of 2" in trend.stdout and "5.00 of 1" in trend.stdout
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls?window=30d")
        assert await page.locator("#charts .chart").count() == 2
        await page.locator("#charts .chart canvas").first.wait_for()
        await screenshot(page, "calls-feedback-trend")


async def test_calls_users_disliked_become_testcases(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    for n in range(4):
        call = CallIn(
            call_id=f"k-{n}",
            inputs={"question": f"q{n}"},
            outputs={"response": f"a{n}"},
            metadata={"route": "orders"},
            status="errored" if n == 3 else "completed",
        )
        await sk.log_calls(project_id, [call])
    await sk.send_feedback_batch([FeedbackIn(f"k-{n}", "thumbs", n == 0) for n in range(4)], project_id=project_id)
    testset = await sk.create_testset(
        project_id, "regressions", [{"question": "q1", "route": "orders"}], inputs=["question"], expected=["answer"]
    )
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls?metric=thumbs&state=failed&window=")
        assert "unknown metric" not in await page.content()  # the filter names the metric by name too
        assert await page.locator("#calls-table tbody tr").count() == 3
        await page.click("#to-testset summary")
        await page.select_option("#to-testset-form select[name=testset_id]", testset.id)
        await page.click("#to-testset-form button[type=submit]")
        done = page.locator("#to-testset-done")
        await done.wait_for()
        # k-1 was there already (the same fields), k-2 and k-3 (errored: its inputs are kept) are new.
        text = await done.inner_text()
        assert "Added 2 testcases to regressions (version 2)" in text and "1 call was already there" in text
        held = sorted([t.data["question"] async for t in sk.list_testcases(testset.id)])
        assert held == ["q1", "q2", "q3"]

        # One call, its output as the expected value.
        await page.goto(f"/projects/{project_id}/calls/{(await sk.get_call(project_id, 'k-0')).id}")
        await page.select_option("#to-testset-form select[name=testset_id]", testset.id)
        await page.check("#to-testset-form input[name=output_as_expected]")
        await page.click("#to-testset-form button[type=submit]")
        await page.wait_for_url("**?curated=*")
        assert "as a testcase: version 3" in await page.locator("#to-testset").inner_text()
        kept = [t.data async for t in sk.list_testcases(testset.id) if t.data["question"] == "q0"]
        assert kept == [{"question": "q0", "route": "orders", "answer": "a0"}]
        # An errored call has no output to keep.
        await page.goto(f"/projects/{project_id}/calls/{(await sk.get_call(project_id, 'k-3')).id}")
        await page.select_option("#to-testset-form select[name=testset_id]", testset.id)
        await page.check("#to-testset-form input[name=output_as_expected]")
        await page.click("#to-testset-form button[type=submit]")
        assert "This call errored: it has no output to keep" in await page.locator("#to-testset").inner_text()


async def test_feedback_follows_log_at_once_in_the_key_s_own_project(stack: Stack, sk: AsyncScorekeeper) -> None:
    """An application's client: it logs a call and its user's thumbs down a moment later, naming no
    project (the key's own); the call still buffered is sent first."""
    project_id, _ = await feedback_project(sk)
    key = await sk.create_api_key(project_id, "the app", role="write")

    def app() -> tuple[FeedbackResult, Call]:
        with Scorekeeper(
            f"grpc://{stack.orchestrator_grpc}", key.secret, query_url=f"grpc://{stack.query_grpc}"
        ) as client:
            call_id = client.log({"question": "hi"}, {"answer": "go away"}, call_id="app-1")
            result = client.send_feedback(call_id, "thumbs", False, comment="rude", author="user-5")
            return result, client.get_call(project_id, "app-1")

    result, call = await asyncio.to_thread(app)
    assert (result.stored, call.outputs) == (1, {"answer": "go away"})
    assert [(f.metric_name, f.value, f.comment, f.author) for f in call.feedback] == [
        ("thumbs", False, "rude", "user-5")
    ]


async def test_calls_export_as_csv_and_jsonl_with_their_feedback(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    for n in range(3):
        call = CallIn(
            call_id=f"x-{n}",
            inputs={"question": f"=HYPERLINK(q{n})" if n == 2 else f"q{n}"},
            outputs={"answer": f"a{n}"},
            metadata={"route": "orders"},
            latency_ms=12.5 * (n + 1),
            trace_id="tr",
        )
        await sk.log_calls(project_id, [call])
    await sk.send_feedback("x-1", "thumbs", False, comment="wrong", author="u-1", project_id=project_id)
    await sk.send_feedback("x-1", "rating", 2, project_id=project_id)
    await sk.send_feedback("x-2", "thumbs", True, project_id=project_id)

    csv_text = b"".join([c async for c in sk.export_calls(project_id)]).decode()
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == [
        *("call_id", "id", "logged_at", "status", "error", "latency_ms", "prompt_tokens", "completion_tokens"),
        *("cost_usd", "trace_id", "session_id", "inputs", "outputs", "metadata"),
        *("rating", "rating passed", "rating comment", "rating by", "thumbs", "thumbs passed", "thumbs comment"),
        "thumbs by",
    ]
    by_call = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert [r[0] for r in rows[1:]] == ["x-2", "x-1", "x-0"]
    one = by_call["x-1"]
    assert (one["inputs"], one["latency_ms"], one["trace_id"]) == ('{"question":"q1"}', "25.0", "tr")
    thumbs = (one["thumbs"], one["thumbs passed"], one["thumbs comment"], one["thumbs by"])
    assert thumbs == ("false", "false", "wrong", "u-1")
    assert (one["rating"], one["rating passed"]) == ("2", "false")
    assert by_call["x-0"]["thumbs"] == "" and by_call["x-2"]["thumbs"] == "true"
    assert by_call["x-2"]["inputs"] == '{"question":"=HYPERLINK(q2)"}'  # JSON, not a formula
    jsonl = b"".join([c async for c in sk.export_calls(project_id, format="jsonl", feedback=["thumbs=failed"])])
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [(x["call_id"], x["feedback"]["thumbs"]["value"], x["feedback"]["rating"]["value"]) for x in lines] == [
        ("x-1", False, 2)
    ]
    limited = b"".join([c async for c in sk.export_calls(project_id, limit=1)]).decode().splitlines()
    assert len(limited) == 2 and limited[1].startswith("x-2,")
    with pytest.raises(InvalidArgument, match="feedback filter 'thumbs' must be"):
        [c async for c in sk.export_calls(project_id, feedback=["thumbs"])]

    exported = scorekeeper(stack, "calls", "export", "--format", "jsonl", "--search", "q0", "--project", project_id)
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(x)["call_id"] for x in exported.stdout.splitlines()] == ["x-0"]
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls?metric=thumbs&state=failed")
        await page.click("#calls-export summary")
        async with page.expect_download() as download:
            await page.click('#calls-export a[href*="calls-export.csv"]')
        path = await (await download.value).path()
        downloaded = list(csv.reader(io.StringIO(await asyncio.to_thread(Path(path).read_text))))
        assert [r[0] for r in downloaded[1:]] == ["x-1"]


async def test_the_calls_page_pages_on_within_the_same_window(stack: Stack, sk: AsyncScorekeeper) -> None:
    """Older calls… continues the list the first page began: the window's start is pinned (a window
    of "the last 24 hours" read a moment later would be another list, and its token refused)."""
    project_id, _ = await feedback_project(sk)
    await sk.log_calls(project_id, [CallIn(call_id=f"p-{n:02}", outputs={"answer": str(n)}) for n in range(53)])
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls")
        rows = page.locator("#calls-table tbody tr")
        first = [str(await rows.nth(i).get_attribute("data-call")) for i in range(await rows.count())]
        await asyncio.sleep(1.1)  # the window's end moves on
        await page.click("#older")
        await page.wait_for_url("**page=*")
        assert await page.locator(".flash.error").count() == 0
        rest = [str(await rows.nth(i).get_attribute("data-call")) for i in range(await rows.count())]
        assert (len(first), len(rest)) == (50, 3)
        assert sorted(first + rest) == [f"p-{n:02}" for n in range(53)]
        assert await page.locator("#older").count() == 0


async def test_feedback_over_http_json(stack: Stack, sk: AsyncScorekeeper) -> None:
    """What a web front end sends: JSON over HTTP; null takes feedback back, a forgotten value is
    refused; the calls read back over HTTP."""
    project_id, _ = await feedback_project(sk)
    await sk.log_calls(project_id, [CallIn(call_id="web-1", outputs={"answer": "hi"})])
    path = f"/v1/projects/{project_id}/calls:feedback"
    async with stack.http(stack.orchestrator_http) as http:
        given = await http.post(path, json={"feedback": [{"call_id": "web-1", "metric": "thumbs", "value": False}]})
        assert (given.status_code, given.json()) == (200, {"stored": 1, "replaced": 0, "removed": 0})
        forgotten = await http.post(path, json={"feedback": [{"call_id": "web-1", "metric": "thumbs"}]})
        assert forgotten.status_code == 400
        assert "feedback[0].value is required" in forgotten.json()["error"]["message"]
        async with stack.http(stack.query_http) as query:
            listed = (await query.get(f"/v1/projects/{project_id}/calls", params={"feedback": "thumbs=failed"})).json()
            assert [(c["call_key"], c["feedback"][0]["value"]) for c in listed["calls"]] == [("web-1", False)]
            taken = await http.post(path, json={"feedback": [{"call_id": "web-1", "metric": "thumbs", "value": None}]})
            assert (taken.status_code, taken.json()) == (200, {"stored": 0, "replaced": 0, "removed": 1})
            one = (await query.get(f"/v1/projects/{project_id}/calls/web-1")).json()
            assert (one["call_key"], one.get("feedback", [])) == ("web-1", [])
            # Broken down by a metadata key the call lacks: one group, the calls without it.
            calls = f"/v1/projects/{project_id}/calls"
            groups = (await query.get(calls, params={"breakdown": "model"})).json()["breakdown"]
            assert [(g.get("no_value"), g["traffic"]["calls"]) for g in groups] == [(True, "1")]
            blank = await query.get(calls, params={"breakdown": " "})
            assert blank.status_code == 400
            assert blank.json()["error"]["message"] == "breakdown must be a metadata key, not blank"


async def test_a_session_reads_as_a_conversation(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    turns: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"message": "Where is my order 12?"}, {"response": "It ships tomorrow."}, "completed"),
        ({"message": "Can I change the address?"}, {}, "errored"),
        ({"message": "Can I change the address?", "retry": 1}, {"response": "Yes: until it ships."}, "completed"),
    ]
    for n, (inputs, outputs, status) in enumerate(turns):
        call = CallIn(
            call_id=f"turn-{n}",
            inputs=inputs,
            outputs=outputs,
            status=status,
            error="model timeout" if status == "errored" else "",
            session_id="s-42",
            latency_ms=100.0 * (n + 1),
            prompt_tokens=10,
            completion_tokens=5,
        )
        await sk.log_calls(project_id, [call])
    await sk.log_calls(project_id, [CallIn(call_id="elsewhere", inputs={"message": "hi"}, session_id="s-7")])
    await sk.send_feedback("turn-2", "thumbs", False, comment="too late", project_id=project_id)
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls/{(await sk.get_call(project_id, 'turn-0')).id}")
        await page.click("#session-conversation")
        await page.wait_for_url("**/conversation?session=s-42")
        # Oldest first; a lone text field as text, anything else as JSON; the errored turn's error.
        shown = page.locator("#conversation li")
        assert [await shown.nth(i).get_attribute("data-call") for i in range(3)] == ["turn-0", "turn-1", "turn-2"]
        first, failed, last = [" ".join((await shown.nth(i).inner_text()).split()) for i in range(3)]
        assert "Where is my order 12?" in first and "It ships tomorrow." in first and "100 ms" in first
        assert "errored" in failed and "model timeout" in failed
        assert '"retry": 1' in last and "Yes: until it ships." in last and "thumbs fail" in last
        meta = " ".join((await page.locator("#conversation-meta").inner_text()).split())
        assert meta.startswith("3 calls from ") and "600 ms answering in all · 45 tokens · 1 errored" in meta
        assert "thumbs: 0 of 1 passed" in meta
        await screenshot(page, "conversation")
        await page.click("text=as a list")
        await page.click("#as-conversation")  # and back
        await page.wait_for_url("**/conversation?session=s-42")
        # The CLI reads it the same way.
        told = scorekeeper(stack, "--project", project_id, "calls", "conversation", "s-42")
        assert told.returncode == 0, told.stderr
        lines = told.stdout.splitlines()
        assert [line for line in lines if line.startswith("  ")] == [
            "  > Where is my order 12?",
            "  < It ships tomorrow.",
            "  > Can I change the address?",
            "  < errored: model timeout",
            '  > {"message": "Can I change the address?", "retry": 1}',
            "  < Yes: until it ships.",
        ]
        assert "300 ms · call turn-2 · thumbs FAIL" in lines[-3]
        nothing = scorekeeper(stack, "--project", project_id, "calls", "conversation", "s-0")
        assert nothing.returncode == 2 and "no call was logged with the session 's-0'" in nothing.stderr
        # Without a session or trace: said so.
        answer = await page.goto(f"/projects/{project_id}/conversation")
        assert answer is not None and answer.status == 400
        assert "Open a conversation from a call's session or trace." in await page.locator("main").inner_text()


async def test_the_projects_traffic_per_hour_and_day(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    # 40 calls: latencies 10, 20, …, 400 ms; every tenth errored; tokens and a cost on each.
    calls = [
        CallIn(
            inputs={"q": f"q{n}"},
            outputs={"response": "ok"},
            latency_ms=10.0 * (n + 1),
            status="errored" if n % 10 == 9 else "completed",
            prompt_tokens=100,
            completion_tokens=20,
            cost_usd=0.001,
        )
        for n in range(40)
    ]
    for start in range(0, 40, 7):  # several requests: each adds to the hour's figures
        await sk.log_calls(project_id, calls[start : start + 7])
    await sk.log_calls(project_id, calls[:3])  # the same calls again count once
    await sk.log_calls(project_id, [CallIn(inputs={"q": "no latency"})])  # left out of the latency
    (hour,) = await sk.call_traffic(project_id, by="hour")
    assert (hour.calls, hour.errored, hour.prompt_tokens, hour.completion_tokens) == (41, 4, 4000, 800)
    assert hour.cost_usd == pytest.approx(0.04)
    assert hour.latency_mean_ms == pytest.approx(205.0)
    # The exact median and 95th percentile are 205 and 390 ms: within a bucket's 25%.
    assert 205 / 1.25 <= hour.latency_p50_ms <= 205 * 1.25
    assert 390 / 1.25 <= hour.latency_p95_ms <= 390 * 1.25
    (day,) = await sk.call_traffic(project_id, by="day", logged_after="2020-01-01T00:00:00Z")
    assert (day.calls, day.errored) == (41, 4) and day.bucket_start.endswith("T00:00:00+00:00")
    assert await sk.call_traffic(project_id, by="day", logged_before="2020-01-01T00:00:00Z") == []
    shown = scorekeeper(stack, "--project", project_id, "calls", "traffic", "--since", "2h")
    assert shown.returncode == 0, shown.stderr
    row = " ".join(next(line for line in shown.stdout.splitlines() if ":00 " in line).split())
    assert "│ 41 │ 4 (9.8%) │" in row and "│ 4,800 │ $0.0400 │" in row
    bad = scorekeeper(stack, "--project", project_id, "calls", "traffic", "--by", "week")
    assert bad.returncode == 2 and "--by must be hour or day, got 'week'" in bad.stderr
    # Filtered, read from the matching calls: exact. The errored ones: 100, 200, 300 and 400 ms.
    (errored,) = await sk.call_traffic(project_id, by="hour", status="errored")
    assert (errored.calls, errored.errored, errored.prompt_tokens) == (4, 4, 400)
    assert (errored.latency_mean_ms, errored.latency_p50_ms, errored.latency_p95_ms) == (250.0, 250.0, 385.0)
    assert errored.cost_usd == pytest.approx(0.004) and errored.bucket_start == hour.bucket_start
    (worded,) = await sk.call_traffic(project_id, by="day", search="latency")  # the call logged without one
    assert (worded.calls, worded.errored, worded.latency_mean_ms, worded.latency_p95_ms) == (1, 0, 0.0, 0.0)
    assert await sk.call_traffic(project_id, by="hour", metadata=["route=none"]) == []
    shown = scorekeeper(stack, "--project", project_id, "calls", "traffic", "--status", "errored")
    assert shown.returncode == 0, shown.stderr
    row = " ".join(next(line for line in shown.stdout.splitlines() if ":00 " in line).split())
    assert "│ 4 │ 4 (100.0%) │ 250 ms │ 385 ms │ 480 │ $0.0040 │" in row
    nothing = scorekeeper(stack, "--project", project_id, "calls", "traffic", "--meta", "route=none")
    assert nothing.returncode == 0 and "no call matches" in nothing.stderr
    # An earlier hour's figures (as LogCalls kept them three hours ago): the Calls page charts both.
    db = await asyncpg.connect(stack.database_url)
    try:
        await db.execute(
            "INSERT INTO call_stats (project_id, hour, shard, calls, errored, latency_n, latency_sum, latency_hist,"
            " prompt_tokens, completion_tokens, cost_usd) SELECT $1, date_trunc('hour', now()) - interval '3 hours',"
            " 0, 10, 5, 10, 5000, call_latency_hist(array_fill(500::float8, ARRAY[10])), 1000, 100, 0.01",
            uuid.UUID(project_id),
        )
        # And one errored call logged then (the project's figures above are not changed by it).
        await db.execute(
            "UPDATE logged_calls SET logged_at = logged_at - interval '3 hours'"
            " WHERE project_id = $1 AND inputs ->> 'q' = 'q9'",
            uuid.UUID(project_id),
        )
    finally:
        await db.close()
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls")
        charts = page.locator("#traffic-charts [data-traffic]")
        assert [await charts.nth(i).get_attribute("data-traffic") for i in range(4)] == [
            "calls",
            "errored",
            "p95 latency",
            "cost",
        ]
        await page.locator("#traffic-charts canvas").first.wait_for()
        assert "every call logged, per hour" in await page.locator("#traffic-charts").evaluate(
            "e => e.previousElementSibling.textContent"
        )
        await screenshot(page, "calls-traffic")
        # Filtered: the traffic of the errored calls alone, from the calls: one three hours ago, three
        # now, the hours between at 0.
        await page.goto(f"/projects/{project_id}/calls?status=errored")
        await page.locator("#traffic-charts canvas").first.wait_for()
        head = await page.locator("#traffic-charts").evaluate("e => e.previousElementSibling.textContent")
        assert "the calls that match, per hour" in head
        data = await page.evaluate("() => JSON.parse(document.getElementById('history-data').textContent)")
        assert data["charts"][0]["name"] == "calls" and data["charts"][0]["values"] == [1.0, 0.0, 0.0, 3.0]
        await screenshot(page, "calls-traffic-filtered")


async def test_calls_break_down_by_a_metadata_key(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    big = [  # gpt-4o: 100, 200, …, 1200 ms, two errored, a cent each
        CallIn(
            inputs={"q": f"big {n}"},
            outputs={"a": "ok"},
            metadata={"model": "gpt-4o"},
            latency_ms=100.0 * (n + 1),
            status="errored" if n in (3, 7) else "completed",
            cost_usd=0.01,
            prompt_tokens=50,
        )
        for n in range(12)
    ]
    mini = [CallIn(inputs={"q": f"mini {n}"}, metadata={"model": "mini"}, latency_ms=10.0 * (n + 1)) for n in range(8)]
    number = [CallIn(inputs={"q": f"num {n}"}, metadata={"model": 4}) for n in range(2)]  # shown as "4"
    others = [CallIn(inputs={"q": f"other {n}"}, metadata={"model": f"m{n:02d}"}) for n in range(27)]
    without = [CallIn(inputs={"q": f"none {n}"}, metadata={"route": "x"}) for n in range(3)]
    without.append(CallIn(inputs={"q": "null"}, metadata={"model": None}))
    await sk.log_calls(project_id, big + mini + number + others + without)
    verdicts = [(big[0], True), (big[1], True), (big[2], True), (big[4], False), (mini[0], False), (mini[1], False)]
    await sk.send_feedback_batch(
        [FeedbackIn(c.call_id, "thumbs", v) for c, v in [*verdicts, (without[0], True)]], project_id=project_id
    )
    await sk.send_feedback(big[0].call_id, "rating", 5, project_id=project_id)

    groups = await sk.call_breakdown(project_id, "model")
    # The 25 values with the most calls (ties by value), then the other 5 values, then none.
    assert [g.label for g in groups] == [
        "gpt-4o",
        "mini",
        "4",
        *[f"m{n:02d}" for n in range(22)],
        "(the 5 other values)",
        "(none)",
    ]
    gpt = groups[0].traffic
    assert (gpt.calls, gpt.errored, gpt.prompt_tokens, gpt.bucket_start) == (12, 2, 600, "")
    assert (gpt.latency_mean_ms, gpt.latency_p50_ms, gpt.latency_p95_ms) == (650.0, 650.0, 1145.0)
    assert gpt.cost_usd == pytest.approx(0.12)
    assert {(f.metric_name, f.given, f.passed) for f in groups[0].feedback} == {("thumbs", 4, 3), ("rating", 1, 1)}
    assert [(f.metric_name, f.given, f.passed) for f in groups[1].feedback] == [("thumbs", 2, 0)]
    assert (groups[2].traffic.calls, groups[2].traffic.latency_p95_ms, groups[2].feedback) == (2, 0.0, [])
    rest, none = groups[-2:]
    assert (rest.rest, rest.rest_values, rest.traffic.calls, rest.value) == (True, 5, 5, "")
    assert (none.no_value, none.traffic.calls) == (True, 4)
    assert [(f.metric_name, f.given, f.passed) for f in none.feedback] == [("thumbs", 1, 1)]
    # A value's calls are what the metadata filter finds (the number 4 as "4").
    assert len([c async for c in sk.list_calls(project_id, metadata=["model=4"])]) == 2
    # With the other filters.
    (errored,) = await sk.call_breakdown(project_id, "model", status="errored")
    assert (errored.value, errored.traffic.calls, errored.traffic.errored) == ("gpt-4o", 2, 2)
    disliked = await sk.call_breakdown(project_id, "model", feedback=["thumbs=failed"])
    assert [(g.label, g.traffic.calls) for g in disliked] == [("mini", 2), ("gpt-4o", 1)]
    (untold,) = await sk.call_breakdown(project_id, "tier")  # a key no call has
    assert (untold.no_value, untold.traffic.calls, untold.traffic.errored) == (True, 53, 2)
    for key, message in [("  ", "breakdown must be a metadata key, not blank"), ("k" * 201, "at most 200 characters")]:
        with pytest.raises(InvalidArgument, match=message):
            await sk.call_breakdown(project_id, key)

    shown = scorekeeper(stack, "--project", project_id, "calls", "breakdown", "model", "--since", "1h")
    assert shown.returncode == 0, shown.stderr
    rows = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    gpt_row = next(r for r in rows if "gpt-4o" in r)
    assert "│ 12 (23%) │ 2 (16.7%) │ 650 ms │ 1,145 ms │ 600 │ $0.1200 │" in gpt_row
    assert "thumbs: 3 of 4 passed (75.0%)" in gpt_row
    assert any("(the 5 other values)" in r for r in rows) and any("(none)" in r for r in rows)
    nothing = scorekeeper(stack, "--project", project_id, "calls", "breakdown", "model", "--search", "zebra")
    assert nothing.returncode == 0 and "no call matches" in nothing.stderr

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls?window=1h")
        await page.fill("input[name=by]", "model")
        await page.click("#call-filters button[type=submit]")
        table = page.locator("#breakdown")
        await table.wait_for()
        heads = await table.locator("thead th").all_inner_texts()
        assert heads == ["model", "Calls", "Errored", "p50", "p95", "Tokens", "Cost", "rating", "thumbs"]
        first = await table.locator("tbody tr").first.locator("td").all_inner_texts()
        assert first == ["gpt-4o", "12 23%", "2 16.7%", "650 ms", "1,145 ms", "600", "$0.1200", "5 of 1", "75% of 4"]
        assert await table.locator("tbody tr").count() == 27
        assert "the 5 other values" in await table.locator("tr[data-rest]").inner_text()
        await screenshot(page, "calls-breakdown")
        # A value narrows the page to its calls.
        await table.locator("a", has_text="mini").click()
        await page.wait_for_url("**meta=model%3Dmini**")
        assert await page.locator("#calls-table tbody tr").count() == 8
        assert await page.locator("#breakdown").count() == 0


async def test_slow_and_costly_calls_are_found_summed_and_exported(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id, _ = await feedback_project(sk)
    # c0..c9: 250, 500 … 2,500 ms; 100 tokens each; a cent a call on the even ones, none said on the odd.
    calls = [
        CallIn(
            call_id=f"c{n}",
            inputs={"q": f"question {n}"},
            outputs={"a": "ok"},
            metadata={"model": "big" if n >= 5 else "small"},
            latency_ms=250.0 * (n + 1),
            prompt_tokens=60,
            completion_tokens=40,
            cost_usd=0.01 * (n + 1) if n % 2 == 0 else None,
        )
        for n in range(10)
    ]
    await sk.log_calls(project_id, calls)

    async def keys(**filters: Any) -> list[str]:
        return [c.call_key async for c in sk.list_calls(project_id, page_size=3, **filters)]

    # Newest first: logged together, so ties by id — compared as sets where the order is not asked.
    assert set(await keys(usage=["latency_ms:gt:2000"])) == {"c8", "c9"}
    assert set(await keys(usage=["latency_ms:gt:700", "latency_ms:lt:1300"])) == {"c2", "c3", "c4"}
    assert set(await keys(usage=["cost_usd:gt:0.04"])) == {"c4", "c6", "c8"}  # the odd ones said no cost
    assert await keys(usage=["tokens:gt:100"]) == []
    with pytest.raises(InvalidArgument, match="usage condition 'cost:gt:1' is malformed"):
        await keys(usage=["cost:gt:1"])
    # The summaries sum up the same calls: per model, the slow ones are the big model's.
    (slow,) = await sk.call_breakdown(project_id, "model", usage=["latency_ms:gt:1400"])
    assert (slow.value, slow.traffic.calls, slow.traffic.latency_p50_ms) == ("big", 5, 2000.0)

    async with stack.http(stack.query_http) as http:
        listed = await http.get(f"/v1/projects/{project_id}/calls", params={"usage": "latency_ms:gt:2300"})
        assert listed.status_code == 200, listed.text
        assert [c["call_key"] for c in listed.json()["calls"]] == ["c9"]
        refused = await http.get(f"/v1/projects/{project_id}/calls", params={"usage": "latency_ms:gt:soon"})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "usage condition 'latency_ms:gt:soon': 'soon' is not a number"

    shown = scorekeeper(stack, "--project", project_id, "calls", "list", "--usage", "latency_ms:gt:2000")
    assert shown.returncode == 0, shown.stderr
    rows = [" ".join(line.split()) for line in shown.stdout.splitlines() if "question" in line]
    assert sorted(r.split("│")[-2].strip() for r in rows) == ["2,250 ms", "2,500 ms"]
    exported = scorekeeper(
        stack, "--project", project_id, "calls", "export", "--usage", "cost_usd:gt:0.04", "--format", "jsonl"
    )
    assert exported.returncode == 0, exported.stderr
    assert sorted(json.loads(line)["call_id"] for line in exported.stdout.splitlines()) == ["c4", "c6", "c8"]

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/calls?window=1h")
        await page.fill("input[name=latency_ms_gt]", "1700")
        await page.fill("input[name=cost_usd_gt]", "0.05")
        await page.click("#call-filters button[type=submit]")
        await page.wait_for_url("**cost_usd_gt=0.05**")
        shown_rows = page.locator("#calls-table tbody tr")
        listed_keys = {await row.get_attribute("data-call") for row in await shown_rows.all()}
        assert listed_keys == {"c6", "c8"}  # 1,750 and 2,250 ms, 7 and 9 cents; c7 and c9 said no cost
        assert "$0.0700" in await page.locator("#calls-table tbody tr[data-call=c6]").inner_text()
        await screenshot(page, "calls-slow-and-costly")
