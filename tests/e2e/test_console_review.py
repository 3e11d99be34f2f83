"""The Review pages and the run page's retry in a real browser (Debian's chromium) against the
whole stack: two reviewers in two browser sessions take different items and finish a run's
reviews (the run completes); skip and back; the queues' progress; a run's errored records
retried from its page, and a record's earlier attempts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from scorekeeper.v1 import catalog_pb2 as cpb

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.fake_system import FakeSystemServer, fake_system_server
from tests.support.reviews import awaiting_reviews

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

system = pytest.fixture(scope="module")(fake_system_server)
ITEM = re.compile(r"/review/[0-9a-f-]+/records/([0-9a-f-]+)")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def _run_awaiting_reviews(
    client: Client, stack: Stack, name: str, testcases: int, output_type: str = "int"
) -> tuple[str, str, str, str]:
    """(project id, human metric id, run id, a write key of the project)."""
    world = await awaiting_reviews(
        client, stack, name, testcases, guidelines="5: complete and right.", output_type=output_type
    )
    key = (await client.create_api_key(world.project_id, "reviewers", "write")).secret
    return world.project_id, world.metric_id, world.run_id, key


async def _fake_system_version(
    client: Client, project_id: str, name: str, url: str, **config: Any
) -> cpb.SystemVersion:
    """An http system version asking the fake system at ``url`` each testcase's question."""
    return await client.create_http_system(
        project_id,
        name,
        {
            "url": url,
            "body_template": {"question": "{{ inputs.question }}"},
            "response_path": "choices.0.message.content",
            **config,
        },
    )


async def _start(page: Page, project_id: str, metric_id: str, run_id: str, reviewer: str) -> str:
    """Open the run's queue, say who reviews, land on an item; its record id."""
    await page.goto(f"/projects/{project_id}/review/{metric_id}?run={run_id}")
    await page.fill("#reviewer-form input[name=reviewer]", reviewer)
    await page.click("#reviewer-form button[type=submit]")
    await page.wait_for_url(ITEM)
    return _record(page)


def _moved_on(record: str) -> Callable[[str], bool]:
    """The page left this item: for another item or the queue's end."""
    return lambda url: ITEM.search(url) is None or record not in url


def _record(page: Page) -> str:
    found = ITEM.search(page.url)
    assert found is not None, page.url
    return found.group(1)


async def test_two_reviewers_in_two_browsers_finish_a_runs_reviews(
    browser: Browser, client: Client, stack: Stack
) -> None:
    project_id, metric_id, run_id, key = await _run_awaiting_reviews(client, stack, "console review", 8)
    alice_context, alice = await signed_in(browser, stack.console_url, key)
    bob_context, bob = await signed_in(browser, stack.console_url, key)
    try:
        pages = {"alice": alice, "bob": bob}
        # Both use one key: who reviews is asked of each person, never taken from the key's name.
        await alice.goto(f"/projects/{project_id}/review")
        assert await alice.locator("#reviewer-form input[name=reviewer]").input_value() == ""
        holding = {name: await _start(page, project_id, metric_id, run_id, name) for name, page in pages.items()}
        assert holding["alice"] != holding["bob"]
        assert await alice.locator("#review-lease").get_attribute("data-yours") == "true"
        assert "5: complete and right." in await alice.locator(".guidelines").inner_text()
        assert await alice.locator("#record-outputs").inner_text()
        assert await alice.locator("#other-scores tbody tr").count() == 1
        await screenshot(alice, "review-item")
        # Bob opening alice's item reads it, and cannot review it.
        await bob.goto(f"/projects/{project_id}/review/{metric_id}/records/{holding['alice']}?run={run_id}")
        assert "alice is reviewing this item now" in await bob.locator("#review-lease").inner_text()
        assert await bob.locator("button[value=submit]").is_disabled()
        await bob.goto(f"/projects/{project_id}/review/{metric_id}/records/{holding['bob']}?run={run_id}")

        reviewed: dict[str, list[str]] = {"alice": [], "bob": []}
        active = dict(pages)
        while active:
            for name, page in list(active.items()):
                record = _record(page)
                await page.select_option("#review-form select[name=value]", "4")
                await page.fill("#review-form textarea[name=comment]", f"seen by {name}")
                await page.click("#review-form button[value=submit]")
                await page.wait_for_url(_moved_on(record))
                reviewed[name].append(record)
                if await page.locator("#queue-done").count():
                    del active[name]
        assert not set(reviewed["alice"]) & set(reviewed["bob"])
        completed = [r.id async for r in client.records(run_id) if r.status == "completed"]
        assert sorted(reviewed["alice"] + reviewed["bob"]) == sorted(completed)
        await screenshot(alice, "review-done")
        final = await client.wait_for_run(run_id, timeout_s=60)
        assert final.status == "completed"

        # The queues page shows the progress the API gives.
        await alice.goto(f"/projects/{project_id}/review")
        queue = alice.locator(f"article.review-queue[data-metric='{metric_id}']")
        assert await queue.locator(".reviewed").inner_text() == str(len(completed))
        assert await queue.locator(".to-review").inner_text() == "0"
        for name in ("alice", "bob"):
            row = queue.locator(f"table.reviewers tr[data-reviewer='{name}'] td")
            assert await row.nth(1).inner_text() == str(len(reviewed[name]))
        await screenshot(alice, "review-queues")
    finally:
        await alice_context.close()
        await bob_context.close()


async def test_skip_back_and_the_lease_renewed_by_the_page(browser: Browser, client: Client, stack: Stack) -> None:
    project_id, metric_id, run_id, key = await _run_awaiting_reviews(client, stack, "console skip", 5)
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        first = await _start(page, project_id, metric_id, run_id, "carol")
        await page.click("#review-form button[value=skip]")
        await page.wait_for_url(lambda url: first not in url and ITEM.search(url) is not None)
        second = _record(page)
        # Back: the skipped item, hers again.
        await page.click("#review-form button[value=back]")
        await page.wait_for_url(f"**/records/{first}**")
        assert await page.locator("#review-lease").get_attribute("data-yours") == "true"
        # No score is chosen for her: the browser would refuse a submit, not record a 1.
        score = page.locator("#review-form select[name=value]")
        assert await score.input_value() == ""
        assert await score.evaluate("s => s.validity.valueMissing") is True
        await page.select_option("#review-form select[name=value]", "3")
        await page.click("#review-form button[value=submit]")
        await page.wait_for_url(lambda url: first not in url and ITEM.search(url) is not None)
        # Back again: the verdict she gave, shown to change (once the scorer wrote it).
        current = _record(page)
        for _ in range(50):
            await page.click("#review-form button[value=back]")
            await page.wait_for_url(f"**/records/{first}**")
            if await page.locator("text=Reviewed by carol").count():
                break
            await page.goto(f"/projects/{project_id}/review/{metric_id}/records/{current}?run={run_id}")
        assert await page.locator("#review-form select[name=value]").input_value() == "3"
        # Further back: nothing (her skip of this item was replaced by her verdict on it).
        await page.click("#review-form button[value=back]")
        await page.wait_for_url("**note=first**")
        assert second != first
        # The page renews its lease (htmx, every minute): the renewal answers with the lease.
        before = await page.locator("#review-lease span").get_attribute("title")
        await page.wait_for_timeout(1100)
        await page.evaluate(
            """() => htmx.ajax('POST', document.querySelector('[hx-post$="/renew"]').getAttribute('hx-post'),
                               {target: '#review-lease', swap: 'outerHTML'})"""
        )
        await page.wait_for_function(
            "(before) => document.querySelector('#review-lease span').title !== before", arg=before
        )
        await screenshot(page, "review-back")
    finally:
        await context.close()


async def test_a_reviewer_works_through_the_queue_from_the_keyboard(
    browser: Browser, client: Client, stack: Stack
) -> None:
    project_id, metric_id, run_id, key = await _run_awaiting_reviews(client, stack, "console keys", 4)
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        first = await _start(page, project_id, metric_id, run_id, "dana")
        assert "1–5 a score" in await page.locator("#review-keys").inner_text()
        await page.keyboard.press("5")
        assert await page.locator("#review-form select[name=value]").input_value() == "5"
        # Keys typed into the comment are text: "s" and "b" there neither skip nor go back.
        await page.locator("#review-form textarea[name=comment]").press_sequentially("sb 5")
        await page.keyboard.press("Control+Enter")
        await page.wait_for_url(_moved_on(first))
        second = _record(page)
        await page.keyboard.press("s")  # skipped
        await page.wait_for_url(_moved_on(second))
        third = _record(page)
        await page.keyboard.press("Enter")  # no score chosen: the browser refuses, nothing is sent
        await page.wait_for_timeout(300)
        assert _record(page) == third
        await page.keyboard.press("2")
        await page.keyboard.press("Enter")
        await page.wait_for_url(_moved_on(third))
        fourth = _record(page)
        await page.keyboard.press("b")  # back: an item she reviewed or skipped (the order: test_skip_back_…)
        await page.wait_for_url(_moved_on(fourth))
        assert _record(page) in (first, second, third)
        await screenshot(page, "review-keyboard")
    finally:
        await context.close()
    for record, value, comment in [(first, 5.0, "sb 5"), (third, 2.0, "")]:
        for _ in range(100):  # the scorer writes the verdict a moment later
            scores = {s.metric_id: s for s in (await client.get_record(record)).scores if s.current}
            if scores[metric_id].status == "completed":
                break
            await asyncio.sleep(0.1)
        assert (scores[metric_id].value.number_value, scores[metric_id].comment, scores[metric_id].reviewer) == (
            value,
            comment,
            "dana",
        )
    skipped = {s.metric_id: s for s in (await client.get_record(second)).scores if s.current}
    assert skipped[metric_id].status == "pending"


async def test_a_pass_fail_verdict_from_the_keyboard(browser: Browser, client: Client, stack: Stack) -> None:
    project_id, metric_id, run_id, key = await _run_awaiting_reviews(client, stack, "console keys pf", 2, "boolean")
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        first = await _start(page, project_id, metric_id, run_id, "emil")
        assert "p pass · f fail" in await page.locator("#review-keys").inner_text()
        await page.keyboard.press("p")
        await page.keyboard.press("f")  # changed her mind
        assert await page.locator("#review-form input[value=fail]").is_checked()
        await page.keyboard.press("Enter")
        await page.wait_for_url(_moved_on(first))
    finally:
        await context.close()
    for _ in range(100):
        (score,) = [s for s in (await client.get_record(first)).scores if s.current and s.metric_id == metric_id]
        if score.status == "completed":
            break
        await asyncio.sleep(0.1)
    assert (score.passed, score.reviewer) == (False, "emil")


async def test_the_run_page_retries_errored_records(
    browser: Browser, client: Client, stack: Stack, system: FakeSystemServer
) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 20, name="console retry")
    version = await _fake_system_version(client, ids.project_id, "flaky", system.url("/flaky"), max_attempts=1)
    system.set_flaky(30)
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids)
    done = await client.wait_for_run(run.id, timeout_s=60)
    assert done.errored_records > 0
    errored = [r.id async for r in client.records(run.id) if r.status == "errored"]
    key = (await client.create_api_key(ids.project_id, "retrier", "write")).secret
    system.set_flaky(0)
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        await page.goto(f"/projects/{ids.project_id}/runs/{run.id}")
        button = page.locator("#retry-errors button")
        assert await button.inner_text() == f"Retry {done.errored_records} errored"
        await button.click()
        await page.locator("#run-progress[data-status=completed]").wait_for(timeout=60_000)
        assert "retried 1 time" in await page.locator("#run-retries").inner_text()
        assert await page.locator("#retry-errors").count() == 0
        final = await client.get_run(run.id)
        assert (final.errored_records, final.records) == (0, 20)
        await screenshot(page, "run-retried")
        await page.goto(f"/projects/{ids.project_id}/records/{errored[0]}")
        history = page.locator("#record-attempts tbody tr")
        assert await history.count() == 1
        assert "HTTP 503" in await history.first.inner_text()
        assert "this is attempt 2" in await page.locator("#record-attempts summary").inner_text()
        await screenshot(page, "record-attempts")
    finally:
        await context.close()


async def test_the_run_page_follows_a_run_until_it_waits_for_reviewers(
    browser: Browser, client: Client, stack: Stack, system: FakeSystemServer
) -> None:
    """Opened before any record exists, the page fills its table in place as the records arrive,
    and its actions follow: the review button comes, Cancel stays (the run is not over)."""
    ids = await scenario.prepare(client, stack.demo_system_url, 6, name="console live reviews")
    human = await client.create_metric(ids.project_id, "helpfulness", eval_type="human", output_type="int")
    slow = await _fake_system_version(client, ids.project_id, "slow", system.url("/slow/4000"))
    key = (await client.create_api_key(ids.project_id, "watcher", "write")).secret
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        run = await client.create_run(ids.project_id, ids.testset_id, slow.id, [ids.metric_ids[0], human.id])
        await page.goto(f"/projects/{ids.project_id}/runs/{run.id}")
        await page.evaluate("window.sameDocument = true")
        rows = page.locator("#records-table tbody tr[data-record]")
        assert await rows.count() == 0
        await page.locator("#run-progress[data-status=awaiting_human_scoring]").wait_for(timeout=60_000)
        await rows.nth(5).wait_for(timeout=15_000)
        assert await rows.count() == 6
        await page.wait_for_function(
            "() => document.querySelector('#run-actions a.review-run')?.innerText === 'Review helpfulness (6)'",
            timeout=15_000,
        )
        assert await page.locator("#run-actions form[action$='/cancel']").count() == 1
        assert await page.evaluate("window.sameDocument") is True
        # Its duration grows while it waits; the machines' part is said apart.
        machines = await page.locator("#until-reviewers").inner_text()
        assert re.fullmatch(r"\(\d+\.\d s to execute and score, then the reviewers\)", machines), machines
        await screenshot(page, "run-awaiting-reviews-live")
    finally:
        await context.close()


async def test_the_records_table_reloads_when_a_review_lands_but_not_under_the_reader(
    browser: Browser, client: Client, stack: Stack
) -> None:
    """While a run waits for reviewers its page polls every second: the records table reloads only
    when the counts changed (a review landed), and not while the reader is in it (typing a search)."""
    project_id, metric_id, run_id, key = await _run_awaiting_reviews(client, stack, "table follows", 3)
    context, page = await signed_in(browser, stack.console_url, key)
    try:
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.split("?")[0].rsplit("/", 1)[-1]))
        await page.goto(f"/projects/{project_id}/runs/{run_id}")

        async def polls(n: int) -> None:
            seen = asked.count("progress")
            while asked.count("progress") < seen + n:
                await asyncio.sleep(0.1)

        await polls(4)
        assert asked.count("records") == 0  # nothing changed: the table stays as drawn
        pending = page.locator("#records-table tbody td.score-cell .chip.pending")  # the reviews to come
        assert await pending.count() == 3
        # The reader types a search; a review lands meanwhile: the table waits for them.
        search = page.locator("#records input[name=search]")
        await search.fill("Capital")
        records = [r.id async for r in client.records(run_id)]
        await client.submit_human_score(records[0], metric_id, 5, reviewer="ann")
        await polls(5)  # past the 3 s a reload may wait
        assert asked.count("records") == 0
        assert (await search.input_value(), await search.evaluate("e => e === document.activeElement")) == (
            "Capital",
            True,
        )
        # Once they leave it, the next poll brings the review in.
        await page.locator("h1").click()
        await polls(2)
        assert asked.count("records") == 1
        await expect(pending).to_have_count(2)
    finally:
        await context.close()
