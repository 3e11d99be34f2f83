"""Run webhooks on the real processes: a finished run told once to each webhook that asks for it,
signed, with its metrics (the whole document, or Slack's text); filters by status, source and
tag; a failing receiver tried again with backoff, a 4xx and a host off the allowlist failed at
once; bad input refused clearly; a key of another project or of a lesser role refused; the
console's pages."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, NotFound, PermissionDenied
from scorekeeper_sdk.models import Webhook, WebhookDelivery
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.monitors import receiver, signed

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

TESTCASES = 6


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def _settled(sk: AsyncScorekeeper, webhook_id: str, count: int, timeout_s: float = 30) -> list[WebhookDelivery]:
    """The webhook's deliveries once ``count`` of them exist and none is still to be made."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [d async for d in sk.list_webhook_deliveries(webhook_id)]
        if len(found) >= count and all(d.status in ("delivered", "failed") for d in found):
            return found
        assert time.monotonic() < deadline, f"webhook {webhook_id}: {[d.status for d in found]}"
        await asyncio.sleep(0.2)


async def test_a_finished_run_is_told_once_to_each_webhook_that_asks(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"hooks {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "hooks", "admin")).secret
    with receiver() as nightly_url, receiver() as slack_url:
        async with stack.sdk(key) as sk:
            nightly = await sk.create_webhook(ids.project_id, "nightly runs", nightly_url.url, tags=["nightly"])
            slack = await sk.create_webhook(
                ids.project_id, "#evals", slack_url.url, format="slack", statuses=["completed"], sources=["api"]
            )
            assert nightly.secret.startswith("whsec_") and nightly.secret != slack.secret
            assert nightly.webhook.statuses == ["completed", "failed", "cancelled"]
            assert (slack.webhook.format, slack.webhook.sources, slack.webhook.last_delivery) == (
                "slack",
                ["api"],
                None,
            )

            run = await sk.create_run(
                ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, tags=["nightly", "main"]
            )
            done = await sk.wait_for_run(run.id, timeout_s=60)
            assert done.status == "completed"
            await _until(lambda: len(nightly_url.posts) == 1 and len(slack_url.posts) == 1, "the run was not told")

            headers, body = nightly_url.posts[0]
            assert signed(nightly.secret, headers, nightly_url.raw[0])
            assert not signed(slack.secret, headers, nightly_url.raw[0])
            assert headers["X-Scorekeeper-Event"] == "run.finished"
            assert headers["X-Scorekeeper-Delivery"] == body["delivery_id"]
            assert body["type"] == "run.finished" and body["webhook_id"] == nightly.webhook.id
            assert body["project_id"] == ids.project_id
            told = body["run"]
            assert (told["id"], told["status"], told["source"], told["tags"], told["created_by"]) == (
                run.id,
                "completed",
                "api",
                ["nightly", "main"],
                "hooks",  # the key that kicked it off
            )
            assert (told["records"], told["errored"], told["testset_id"]) == (
                done.records,
                done.errored_records,
                ids.testset_id,
            )
            assert told["url"].endswith(f"/projects/{ids.project_id}/runs/{run.id}")
            by_name = {m.name: m for m in done.metrics}
            assert [m["name"] for m in body["metrics"]] == [m.name for m in done.metrics]
            for metric in body["metrics"]:
                summary = by_name[metric["name"]]
                expected = summary.pass_rate if metric["output_type"] == "boolean" else summary.mean
                assert metric["value"] == pytest.approx(expected)
                assert metric["scored"] == summary.scored
            assert body["text"].startswith(f"Run {run.id[:8]} completed (api, nightly, main): {done.records} records")
            assert body["text"].endswith(told["url"])
            # Slack's incoming webhook takes the text alone.
            slack_headers, slack_body = slack_url.posts[0]
            assert slack_body == {"text": body["text"]}
            assert signed(slack.secret, slack_headers, slack_url.raw[0])

            # A run without the tag is not told to the nightly webhook; a kickoff run not to Slack's
            # (api only); a cancelled one is told to the nightly webhook, not to Slack's (completed only).
            untagged = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
            assert (await sk.wait_for_run(untagged.id, timeout_s=60)).status == "completed"
            kicked = await sk.create_run(
                ids.project_id,
                ids.testset_id,
                ids.system_version_id,
                ids.metric_ids,
                source="kickoff",
                tags=["nightly"],
            )
            assert (await sk.wait_for_run(kicked.id, timeout_s=60)).status == "completed"
            # An sdk system's run waits for its records: cancelled before they come.
            sdk_version = await sk.create_system_version_by_name(ids.project_id, "by hand", "sdk", {}, "v1")
            cancelled = await sk.create_run(
                ids.project_id, ids.testset_id, sdk_version.id, ids.metric_ids, tags=["nightly"]
            )
            await sk.cancel_run(cancelled.id)
            told_nightly = await _settled(sk, nightly.webhook.id, 3)
            told_slack = await _settled(sk, slack.webhook.id, 2)
            await asyncio.sleep(1.5)  # nothing more comes
            assert [(d.run_id, d.run_status) for d in told_nightly] == [
                (cancelled.id, "cancelled"),
                (kicked.id, "completed"),
                (run.id, "completed"),
            ]
            assert [d.run_id for d in told_slack] == [untagged.id, run.id]
            assert len(nightly_url.posts) == 3 and len(slack_url.posts) == 2
            assert all(d.status == "delivered" and d.attempts == 1 and d.response_status == 204 for d in told_nightly)
            assert nightly_url.posts[2][1]["run"]["status"] == "cancelled"
            # Each metric against the latest completed run of the testset before it (the demo
            # system answers alike every time: no change); the first run had none.
            assert body["baseline"] is None and all(m["previous"] is None for m in body["metrics"])
            later = nightly_url.posts[1][1]
            assert later["baseline"]["id"] == untagged.id
            assert [(m["previous"], m["change"]) for m in later["metrics"]] == [
                (m["value"], 0.0) for m in body["metrics"]
            ]
            assert f"(no change) · vs run {untagged.id[:8]} — " in later["text"]

            listed = await sk.list_webhooks(ids.project_id)
            assert [w.name for w in listed] == ["#evals", "nightly runs"]
            assert listed[1].last_delivery is not None and listed[1].last_delivery.run_id == cancelled.id

            # Deleted: told of nothing more.
            assert (await sk.delete_webhook(slack.webhook.id)).name == "#evals"
            again = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
            assert (await sk.wait_for_run(again.id, timeout_s=60)).status == "completed"
            await asyncio.sleep(1.5)
            assert len(slack_url.posts) == 2
            with pytest.raises(NotFound, match=f"webhook {slack.webhook.id} does not exist"):
                await sk.test_webhook(slack.webhook.id)
            assert [w.name for w in await sk.list_webhooks(ids.project_id)] == ["nightly runs"]


async def _tested(sk: AsyncScorekeeper, webhook_id: str, timeout_s: float = 30) -> WebhookDelivery:
    sent = await sk.test_webhook(webhook_id)
    assert (sent.event, sent.status, sent.run_id) == ("webhook.test", "pending", "")
    deadline = time.monotonic() + timeout_s
    while True:
        found = {d.id: d async for d in sk.list_webhook_deliveries(webhook_id)}[sent.id]
        if found.status in ("delivered", "failed"):
            return found
        assert time.monotonic() < deadline, f"delivery {sent.id} is {found.status}"
        await asyncio.sleep(0.2)


async def test_a_webhook_with_thresholds_is_told_only_of_runs_below_them(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"below {uuid.uuid4().hex[:6]}")
        other = await scenario.prepare(admin, stack.demo_system_url, 1, name=f"other {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "hooks", "admin")).secret
    with receiver() as gate_url, receiver() as quiet_url:
        async with stack.sdk(key) as sk:
            never = await sk.create_heuristic_metric(ids.project_id, "never", "contains", {"value": "zzz-never"})
            always = await sk.create_heuristic_metric(ids.project_id, "always", "length_between", {"max_length": 10**6})
            refusals: list[tuple[dict[str, float], type[Exception], str]] = [
                (
                    {always.id: 1.5},
                    InvalidArgument,
                    "below[0].below must be within 0..1 for the boolean metric 'always'",
                ),
                ({other.metric_ids[0]: 0.5}, NotFound, f"below[0].metric_id: metric {other.metric_ids[0]} does not"),
            ]
            for below, error, message in refusals:
                with pytest.raises(error, match=re.escape(message)):
                    await sk.create_webhook(ids.project_id, "x", gate_url.url, below=below)
            gate = await sk.create_webhook(ids.project_id, "gate", gate_url.url, below={never.id: 0.5})
            quiet = await sk.create_webhook(ids.project_id, "quiet", quiet_url.url, below={always.id: 0.9})
            assert [(t.metric_id, t.below) for t in gate.webhook.below] == [(never.id, 0.5)]

            run = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [never.id, always.id])
            done = await sk.wait_for_run(run.id, timeout_s=60)
            assert done.status == "completed"
            await _until(lambda: len(gate_url.posts) == 1, "the run below the gate's threshold was not told")
            await _settled(sk, gate.webhook.id, 1)
            _, body = gate_url.posts[0]
            assert (
                body["below"]
                == [
                    {
                        "metric_id": never.id,
                        "name": "never",
                        "measure": "pass_rate",
                        "value": 0.0,
                        "below": 0.5,
                        "scored": TESTCASES - 1,
                    }
                ]
                or body["below"][0]["value"] == 0.0
            )
            assert " · below: never 0.0% < 50.0% — " in body["text"]
            assert quiet_url.posts == []  # always passed: 100% is not below 90%
            assert [d async for d in sk.list_webhook_deliveries(quiet.webhook.id)] == []

            # Without thresholds again: told of every completed run.
            updated = await sk.update_webhook(quiet.webhook.id, below={})
            assert updated.webhook.below == []
            again = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [always.id])
            await sk.wait_for_run(again.id, timeout_s=60)
            await _until(lambda: len(quiet_url.posts) == 1, "the webhook without thresholds was not told")
            assert quiet_url.posts[0][1]["below"] == []


async def test_a_scheduled_run_is_told_against_its_schedule_s_run_before(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"hooks {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "hooks", "admin")).secret
    with receiver() as hook:
        async with stack.sdk(key) as sk:
            await sk.create_webhook(ids.project_id, "nightly", hook.url, sources=["schedule"])
            nightly = await sk.create_schedule(
                ids.project_id,
                "nightly",
                "0 2 * * *",
                ids.testset_id,
                ids.metric_ids,
                system_version_id=ids.system_version_id,
            )
            first = await sk.run_schedule_now(nightly.id)
            assert (await sk.wait_for_run(first.id, timeout_s=60)).status == "completed"
            # A run of the same testset in between, not by the schedule: not what the night is told against.
            between = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
            assert (await sk.wait_for_run(between.id, timeout_s=60)).status == "completed"
            second = await sk.run_schedule_now(nightly.id)
            assert (await sk.wait_for_run(second.id, timeout_s=60)).status == "completed"
            await _until(lambda: len(hook.posts) == 2, "both scheduled runs told")
    told = [body for _, body in hook.posts]
    assert [b["run"]["id"] for b in told] == [first.id, second.id]
    assert [b["run"]["schedule_id"] for b in told] == [nightly.id, nightly.id]
    assert told[0]["baseline"] is None and told[1]["baseline"]["id"] == first.id
    # The same run each names as its previous one (RunView.previous_run_id): a scheduled run the
    # schedule's run before it, any other run the testset's.
    async with stack.sdk(key) as sk:
        previous = {r: (await sk.get_run(r)).previous_run_id for r in (first.id, between.id, second.id)}
    assert previous == {first.id: "", between.id: first.id, second.id: first.id}


async def test_a_webhook_is_changed_paused_and_its_secret_rotated(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"hook edits {uuid.uuid4().hex[:6]}")
    with receiver() as hook:
        async with stack.sdk() as sk:

            async def finished_run(**kwargs: Any) -> str:
                run = await sk.create_run(
                    ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, **kwargs
                )
                assert (await sk.wait_for_run(run.id, timeout_s=60)).status == "completed"
                return run.id

            made = await sk.create_webhook(ids.project_id, "edited", "http://127.0.0.1:9/nowhere", tags=["x"])
            changed = await sk.update_webhook(made.webhook.id, name="renamed", url=hook.url, tags=[], sources=["api"])
            assert changed.secret == ""
            assert (changed.webhook.name, changed.webhook.url, changed.webhook.tags, changed.webhook.sources) == (
                "renamed",
                hook.url,
                [],
                ["api"],
            )
            assert changed.webhook.statuses == ["completed", "failed", "cancelled"] and not changed.webhook.paused_at

            # Paused: a run that finishes meanwhile is not told, even once resumed.
            paused = await sk.update_webhook(made.webhook.id, paused=True)
            assert paused.webhook.paused_at and paused.webhook.name == "renamed"
            await finished_run()
            await asyncio.sleep(1.5)
            assert hook.posts == [] and [d async for d in sk.list_webhook_deliveries(made.webhook.id)] == []
            # A test sent while paused waits for the resume; one held for more than 7 days is given up.
            stale = await sk.test_webhook(made.webhook.id)
            held = await sk.test_webhook(made.webhook.id)
            await _aged(stack, stale.id, days=8)
            await asyncio.sleep(1.5)
            assert hook.posts == []
            given_up = {d.id: d async for d in sk.list_webhook_deliveries(made.webhook.id)}[stale.id]
            assert (given_up.status, given_up.attempts, given_up.error) == (
                "failed",
                0,
                "given up: not sent within 7 days (its webhook was paused, or no executor ran)",
            )
            resumed = await sk.update_webhook(made.webhook.id, paused=False)
            assert not resumed.webhook.paused_at
            await _settled(sk, made.webhook.id, 2)
            assert [h["X-Scorekeeper-Delivery"] for h, _ in hook.posts] == [held.id]

            # A new secret signs from now on; the old one no longer does.
            rotated = await sk.update_webhook(made.webhook.id, rotate_secret=True)
            assert rotated.secret.startswith("whsec_") and rotated.secret != made.secret
            told = await finished_run()
            await _until(lambda: len(hook.posts) == 2, "the run was not told")
            headers, body = hook.posts[1]
            assert body["run"]["id"] == told
            assert signed(rotated.secret, headers, hook.raw[1]) and not signed(made.secret, headers, hook.raw[1])

            # Refused, and nothing changed.
            for kwargs, message in [
                ({"url": "ftp://x/"}, "url must be an http or https URL with a host, got 'ftp://x/'"),
                ({"statuses": ["running"]}, "statuses must be among completed"),
                ({"name": ""}, "name must not be empty"),
            ]:
                with pytest.raises(InvalidArgument, match=re.escape(message)):
                    await sk.update_webhook(made.webhook.id, **kwargs)  # type: ignore[arg-type]
            (kept,) = await sk.list_webhooks(ids.project_id)
            assert (kept.name, kept.url, kept.sources) == ("renamed", hook.url, ["api"])
            await sk.delete_webhook(made.webhook.id)
            with pytest.raises(NotFound, match=f"webhook {made.webhook.id} does not exist"):
                await sk.update_webhook(made.webhook.id, name="gone")


async def _aged(stack: Stack, delivery_id: str, days: int) -> None:
    """The delivery made ``days`` ago, as time passing would."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "UPDATE webhook_deliveries SET created_at = created_at - make_interval(days => $2) WHERE id = $1",
            uuid.UUID(delivery_id),
            days,
        )
    finally:
        await conn.close()


async def _posts(stack: Stack) -> dict[str, float]:
    """The executor's scorekeeper_webhook_posts_total of run webhooks, by outcome."""
    (executor,) = [p for p in stack.processes if p.module == "services.system_executor"]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{executor.http_port}/metrics")).text
    pattern = r'scorekeeper_webhook_posts_total\{kind="run_webhook",outcome="(\w+)"\} (\S+)'
    return {outcome: float(n) for outcome, n in re.findall(pattern, text)}


async def test_a_failing_receiver_is_tried_again_and_a_refusal_fails_at_once(stack: Stack) -> None:
    before = await _posts(stack)
    async with stack.sdk() as sk:
        project = await sk.create_project(f"hook failures {uuid.uuid4().hex[:6]}")
        with receiver([500, 503]) as flaky:
            hook = await sk.create_webhook(project.id, "flaky", flaky.url)
            delivered = await _tested(sk, hook.webhook.id)
            assert (delivered.status, delivered.attempts, delivered.response_status) == ("delivered", 3, 204)
            assert delivered.error == "" and delivered.delivered_at
            assert len(flaky.posts) == 3
            # Every attempt is the same delivery.
            assert len({h["X-Scorekeeper-Delivery"] for h, _ in flaky.posts}) == 1
            assert flaky.posts[0][1]["type"] == "webhook.test" and "reaches you" in flaky.posts[0][1]["text"]
        with receiver([410]) as gone:
            hook = await sk.create_webhook(project.id, "gone", gone.url)
            failed = await _tested(sk, hook.webhook.id)
            assert (failed.status, failed.attempts, failed.response_status) == ("failed", 1, 410)
            assert failed.error == "the webhook answered HTTP 410"
        outside = await sk.create_webhook(project.id, "outside", "http://10.255.255.1:9/hook")
        refused = await _tested(sk, outside.webhook.id)
        assert (refused.status, refused.attempts) == ("failed", 1)
        assert "is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)" in refused.error
        # The executor counts each POST by what the delivery became.
        after = await _posts(stack)
        assert {k: after.get(k, 0) - before.get(k, 0) for k in after} == {"retrying": 2, "delivered": 1, "failed": 2}
        listed = {w.name: w.last_delivery for w in await sk.list_webhooks(project.id)}
        assert {n: d.status if d else None for n, d in listed.items()} == {
            "outside": "failed",
            "gone": "failed",
            "flaky": "delivered",
        }


async def test_bad_input_and_other_keys_are_refused(stack: Stack) -> None:
    async with stack.sdk() as admin:
        project = await admin.create_project(f"hook rules {uuid.uuid4().hex[:6]}")
        other = await admin.create_project(f"hook stranger {uuid.uuid4().hex[:6]}")
        writer = (await admin.create_api_key(project.id, "writer", "write")).secret
        stranger = (await admin.create_api_key(other.id, "stranger", "admin")).secret
        good: dict[str, Any] = {"name": "ok", "url": "http://127.0.0.1:9/hook"}
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"url": "gopher://x"}, "url must be an http or https URL with a host, got 'gopher://x'"),
            ({"url": "http://user:pw@h.example/"}, "url must not carry credentials"),
            ({"url": "http://h.example/" + "a" * 2000}, "url must be at most 2,000 characters"),
            ({"name": " "}, "name must not be empty"),
            ({"format": "teams"}, "format must be among json, slack, got 'teams'"),
            ({"statuses": ["running"]}, "statuses must be among completed, failed, cancelled, awaiting_human_scoring"),
            (
                {"sources": ["cron"]},
                "sources must be among api, kickoff, playground, monitor, ci, schedule, got 'cron'",
            ),
            ({"tags": [""]}, "tags must be 1..100 characters"),
            ({"tags": [f"t{i}" for i in range(21)]}, "tags: at most 20, got 21"),
        ]
        for changes, message in refusals:
            args = {**good, **changes}
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await admin.create_webhook(project.id, args.pop("name"), args.pop("url"), **args)
        assert await admin.list_webhooks(project.id) == []
        made = await admin.create_webhook(project.id, "ok", good["url"])

    async with stack.sdk(writer) as sk:
        with pytest.raises(PermissionDenied):
            await sk.create_webhook(project.id, "mine", good["url"])
        with pytest.raises(PermissionDenied):
            await sk.list_webhooks(project.id)
    async with stack.sdk(stranger) as sk:
        missing = f"webhook {made.webhook.id} does not exist"
        with pytest.raises(NotFound, match=missing):
            await sk.test_webhook(made.webhook.id)
        with pytest.raises(NotFound, match=missing):
            await sk.delete_webhook(made.webhook.id)
        with pytest.raises(NotFound, match=missing):
            [d async for d in sk.list_webhook_deliveries(made.webhook.id)]
        with pytest.raises(NotFound):
            await sk.create_webhook(project.id, "theirs", good["url"])
        assert await sk.list_webhooks(other.id) == []
    async with stack.sdk() as admin:
        assert [w.id for w in await admin.list_webhooks(project.id)] == [made.webhook.id]


async def test_the_console_makes_tests_shows_and_deletes_webhooks(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"hook pages {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "pages", "admin")).secret
        writer = (await admin.create_api_key(ids.project_id, "writer", "write")).secret
    base = f"/projects/{ids.project_id}/webhooks"
    async with stack.sdk(key) as sk:
        other = await sk.create_webhook(ids.project_id, "other", "http://127.0.0.1:9/other")
        await sk.delete_webhook(other.webhook.id)
    with receiver() as hook:
        async with chromium() as browser:
            context, page = await signed_in(browser, stack.console_url, key)
            await page.goto(base)
            assert "No webhooks yet" in await page.locator("#webhooks-table").inner_text()
            form = page.locator("#new-webhook-form")
            # The defaults: finished runs from the API, the console, CI and schedules.
            ticked = await form.locator("input:checked").evaluate_all("els => els.map(e => e.value)")
            assert ticked == ["completed", "failed", "cancelled", "api", "kickoff", "ci", "schedule"]
            await form.locator("input[name=name]").fill("#evals")
            await form.locator("input[name=url]").fill("ftp://files.example/")
            await form.locator("input[name=tags]").fill("nightly, main")
            await form.locator("button[type=submit]").click()
            await page.wait_for_load_state()
            assert await page.locator("#webhook-error").inner_text() == (
                "Nothing was created: url must be an http or https URL with a host, got 'ftp://files.example/'"
            )
            assert await form.locator("input[name=tags]").input_value() == "nightly, main"
            await screenshot(page, "webhooks-form")
            await form.locator("input[name=url]").fill(hook.url)
            await form.locator("input[value=failed]").uncheck()
            await form.locator("button[type=submit]").click()
            await page.wait_for_load_state()
            secret = await page.locator("#new-webhook-secret").inner_text()
            assert secret.startswith("whsec_")
            await screenshot(page, "webhooks-created")
            (made,) = await sk_list(stack, key, ids.project_id)
            assert (made.name, made.statuses, made.sources, made.tags) == (
                "#evals",
                ["completed", "cancelled"],
                ["api", "kickoff", "ci", "schedule"],
                ["nightly", "main"],
            )

            async with stack.sdk(key) as sk:
                run = await sk.create_run(
                    ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, tags=["nightly"]
                )
                assert (await sk.wait_for_run(run.id, timeout_s=60)).status == "completed"
                await _settled(sk, made.id, 1)
            await page.goto(base)
            row = page.locator(f"tr[data-webhook='{made.id}']")
            assert "delivered" in await row.inner_text() and "HTTP 204" in await row.inner_text()
            await row.locator("a").click()
            await page.wait_for_url(f"**/webhooks/{made.id}")
            await page.locator("#send-test").click()
            await page.wait_for_url("**tested=*")
            async with stack.sdk(key) as sk:
                await _settled(sk, made.id, 2)
            await page.reload()
            rows = await page.locator("#deliveries-table tbody tr").all_inner_texts()
            assert len(rows) == 2 and rows[0].split("\t")[1] == "webhook.test" and "delivered" in rows[0]
            assert f"{run.id[:8]} completed" in rows[1]
            await screenshot(page, "webhook")
            assert len(hook.posts) == 2
            # Edit: refused as typed, then saved; pause and resume; a new secret shown once.
            edit = page.locator("#edit-webhook-form")
            await page.locator("#edit-webhook summary").click()
            assert await edit.locator("input[name=tags]").input_value() == "nightly, main"
            await edit.locator("input[name=url]").fill("ftp://x.example/")
            await edit.locator("button[type=submit]").click()
            await page.wait_for_load_state()
            assert await page.locator("#webhook-error").inner_text() == (
                "Nothing was saved: url must be an http or https URL with a host, got 'ftp://x.example/'"
            )
            await edit.locator("input[name=url]").fill(hook.url)
            await edit.locator("input[name=tags]").fill("")
            await edit.locator("input[name=sources][value=ci]").uncheck()
            await edit.locator("button[type=submit]").click()
            await page.wait_for_url("**saved=settings")
            (saved,) = await sk_list(stack, key, ids.project_id)
            assert (saved.tags, saved.sources, saved.statuses) == (
                [],
                ["api", "kickoff", "schedule"],
                ["completed", "cancelled"],
            )
            # Only when a metric is below a threshold: named as the project names its metrics.
            async with stack.sdk(key) as sk:
                metric = (await sk.list_metrics(ids.project_id))[0]
            await page.locator("#edit-webhook summary").click()
            await edit.locator("input[name=below]").fill("nope=90%")
            await edit.locator("button[type=submit]").click()
            await page.wait_for_load_state()
            assert (await page.locator("#webhook-error").inner_text()).startswith(
                "Nothing was saved: Only when below: give METRIC=THRESHOLD for metrics of the project ("
            )
            shown = f"{metric.name}=90%" if metric.output_type == "boolean" else f"{metric.name}=3.5"
            await edit.locator("input[name=below]").fill(shown)
            await edit.locator("button[type=submit]").click()
            await page.wait_for_url("**saved=settings")
            (saved,) = await sk_list(stack, key, ids.project_id)
            assert [(t.metric_id, t.below) for t in saved.below] == [
                (metric.id, 0.9 if metric.output_type == "boolean" else 3.5)
            ]
            assert await page.locator("#below").inner_text() == shown
            await page.locator("#pause").click()
            await page.wait_for_url("**saved=paused")
            assert "Paused since" in await page.locator("#paused").inner_text()
            assert await page.locator("#pause").inner_text() == "Resume"
            await page.goto(base)
            assert "paused" in await page.locator(f"tr[data-webhook='{made.id}']").inner_text()
            await page.goto(f"{base}/{made.id}")
            await page.locator("#pause").click()
            await page.wait_for_url("**saved=resumed")
            assert await page.locator("#paused").count() == 0
            await page.locator("summary", has_text="New secret").click()
            await page.locator("#rotate").click()
            await page.wait_for_load_state()
            rotated = await page.locator("#rotated-secret").inner_text()
            assert rotated.startswith("whsec_") and rotated != secret
            await screenshot(page, "webhook-rotated")
            # Another project's (or a deleted) webhook under this project's address: not found.
            missing = await page.goto(f"{base}/{other.webhook.id}")
            assert missing is not None and missing.status == 404
            await page.goto(f"{base}/{made.id}")
            await page.locator("summary", has_text="Delete").click()
            await page.locator("button", has_text="Delete #evals").click()
            await page.wait_for_url("**deleted=*")
            assert "Webhook #evals deleted" in await page.locator("main").inner_text()
            assert await sk_list(stack, key, ids.project_id) == []
            await context.close()
            # A write key: no Webhooks in the menu, and the page says the role it needs.
            context, page = await signed_in(browser, stack.console_url, writer)
            await page.goto(f"/projects/{ids.project_id}/runs")
            assert await page.locator("nav a", has_text="Webhooks").count() == 0
            refused = await page.goto(base)
            assert refused is not None and refused.status == 403
            await context.close()


async def sk_list(stack: Stack, key: str, project_id: str) -> list[Webhook]:
    async with stack.sdk(key) as sk:
        return await sk.list_webhooks(project_id)
