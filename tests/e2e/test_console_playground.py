"""The Playground in a real browser (Debian's chromium) against the whole stack, with a real HTTP
server speaking the chat-completions protocol as the model: start from a saved prompt, try it on
picked testcases (outputs and scores appear without a page load), edit the prompt and try again,
save it as a version, kick off a full run; tries stay out of the runs list, the run does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Page

from scorekeeper_sdk import AsyncScorekeeper
from scorekeeper_sdk.client import cpb
from services.demo_system.app import answer
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import LLM_KEY, bot_or_judge
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.fake_llm import FakeLlmServer
from tests.support.playground import llm_version, sdk

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

# The bot answers bare questions only: this prompt makes it answer "I don't know".
FIRST_PROMPT = {
    "model": "e2e-bot",
    "messages": [
        {"role": "system", "content": "Answer with the answer only."},
        {"role": "user", "content": "Please answer: {{ inputs.question }}"},
    ],
}


@dataclass
class World:
    ids: scenario.DemoIds
    version: cpb.SystemVersion
    key: str  # a write key named "console tester"


@pytest.fixture(scope="module")
async def world(llm_stack: Stack) -> World:
    async with llm_stack.client() as admin:
        ids = await scenario.prepare(admin, llm_stack.demo_system_url, 12, name="playground console")
        version = await llm_version(admin, ids.project_id, FIRST_PROMPT)
        key = (await admin.create_api_key(ids.project_id, "console tester", "write")).secret
    return World(ids, version, key)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


@pytest.fixture
async def page(browser: Browser, llm_stack: Stack, llm: FakeLlmServer, world: World) -> AsyncIterator[Page]:
    llm.reset(bot_or_judge)
    llm.expected_key = LLM_KEY
    context, signed = await signed_in(browser, llm_stack.console_url, world.key)
    yield signed
    await context.close()


@pytest.fixture
async def sk(llm_stack: Stack, world: World) -> AsyncIterator[AsyncScorekeeper]:
    async with sdk(llm_stack, world.key) as client:
        yield client


async def _try_and_wait(page: Page, previous: str | None) -> str:
    """Click Try; the results of the new try, complete, without leaving the page."""
    await page.click("#try-button")
    results = page.locator(f"#try-results[data-status=completed]:not([data-try='{previous}'])")
    await results.wait_for(timeout=30_000)
    try_id = await results.get_attribute("data-try")
    assert try_id and try_id != previous
    assert page.url.endswith(f"/playground?try={try_id}")
    return try_id


async def _shown(page: Page) -> list[dict[str, str]]:
    shown: list[dict[str, str]] = await page.locator("#try-table tbody tr").evaluate_all(
        """rows => rows.map(r => ({
            output: r.querySelector('td.output').innerText.trim(),
            exact: r.querySelectorAll('td.score-cell')[0].innerText.trim(),
        }))"""
    )
    return shown


async def test_try_edit_try_again_save_and_kick_off(page: Page, sk: AsyncScorekeeper, world: World) -> None:
    pid = world.ids.project_id
    testcases = [t async for t in sk.list_testcases(world.ids.testset_id)]
    picked = [testcases[0], testcases[2], testcases[5]]  # the order the page lists them in
    await page.goto(f"/projects/{pid}/runs")
    await page.click("nav .sections a[href$='/playground']")  # a section of every project page
    await page.wait_for_url(f"**/projects/{pid}/playground")
    await page.select_option("select[name=version]", label="bot · v1")  # loads the saved prompt
    await page.wait_for_url(f"**/playground?version={world.version.id}")
    assert await page.input_value("textarea[name=user_template]") == "Please answer: {{ inputs.question }}"
    assert await page.input_value("input[name=model]") == "e2e-bot"
    await page.select_option("select[name=testset_id]", label="questions — 12 testcases")
    for t in picked:
        await page.check(f"#testcase-picker input[value='{t.id}']")
    for metric in world.ids.metric_ids[:2]:
        await page.check(f"input[name=metric_id][value='{metric}']")
    await page.evaluate("window.stayedOnThePage = true")

    first = await _try_and_wait(page, None)
    await screenshot(page, "playground-first-try")
    assert await page.evaluate("window.stayedOnThePage") is True  # results arrived in place
    assert await _shown(page) == [{"output": "I don't know", "exact": "fail"}] * 3

    await page.fill("textarea[name=user_template]", "{{ inputs.question }}")
    second = await _try_and_wait(page, first)
    await screenshot(page, "playground-second-try")
    assert await page.evaluate("window.stayedOnThePage") is True
    tried = await sk.get_try(second)
    expected = [answer(t.inputs["question"])[1] for t in picked]
    assert [r.outputs["response"] for r in tried.records] == expected
    shown = await _shown(page)
    assert [s["output"] for s in shown] == expected
    passed = [{s.metric_id: s.passed for s in r.scores}[world.ids.metric_ids[0]] for r in tried.records]
    assert [s["exact"] for s in shown] == ["pass" if p else "fail" for p in passed]
    assert tried.config["messages"][-1]["content"] == "{{ inputs.question }}"
    assert (tried.system_version_id, tried.created_by) == (world.version.id, "console tester")
    assert [c.source_testcase_id for c in tried.cases] == [t.id for t in picked]
    # Both tries are listed, newest first, with who made them.
    rows = page.locator("#tries-table tbody tr")
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.try)") == [second, first]
    assert "console tester" in await rows.first.inner_text()

    await page.fill("input[name=save_version]", "v2")
    await page.click("#save-button")
    saved = page.locator("#save-status .flash.ok")
    await saved.wait_for()
    assert await saved.inner_text() == "Saved as bot · v2."
    system = next(s for s in await sk.list_systems(pid) if s.system.name == "bot")
    v2 = next(v for v in system.versions if v.name == "v2")
    assert v2.kind == "llm" and v2.config["messages"] == tried.config["messages"]

    await page.click("#kickoff-button")
    await page.wait_for_url(f"**/projects/{pid}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    await page.locator("#run-progress[data-status=completed]").wait_for(timeout=60_000)
    run = await sk.get_run(run_id)
    assert (run.source, run.system_version_id, run.records) == ("playground", v2.id, 12)
    system = next(s for s in await sk.list_systems(pid) if s.system.name == "bot")
    assert len(system.versions) == 2  # the kickoff ran the saved version, it made no other

    await page.goto(f"/projects/{pid}/runs")
    listed = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert listed == [run_id]  # the tries are not in the runs list
    assert "Playground" in await page.locator("#runs-table tbody tr").first.inner_text()
    await screenshot(page, "playground-runs-list")
    assert {r.id async for r in sk.list_runs(pid)} == {run_id}
    assert tried.run_id != run_id and (await sk.get_run(tried.run_id)).source == "playground"


async def test_a_bad_prompt_is_refused_in_place(page: Page, world: World) -> None:
    await page.goto(f"/projects/{world.ids.project_id}/playground")
    await page.fill("input[name=model]", "e2e-bot")
    await page.fill("textarea[name=user_template]", "{{ inputs.topic }}")
    await page.fill("textarea[name=typed]", '{"question": "What is 2 + 2?"}')
    await page.click("#try-button")
    alert = page.locator("#try-results [role=alert]")
    await alert.wait_for()
    assert "cannot be rendered for case 1: UndefinedError" in await alert.inner_text()
    assert await page.input_value("textarea[name=user_template]") == "{{ inputs.topic }}"  # kept to fix
    await page.fill("textarea[name=typed]", "not json")
    await page.click("#try-button")
    await page.locator("#try-results [role=alert]", has_text="Typed inputs, line 1: not JSON").wait_for()
    await screenshot(page, "playground-refused")


async def test_a_try_whose_every_call_failed_says_so(page: Page, llm: FakeLlmServer, world: World) -> None:
    llm.expected_key = "another key"  # the model refuses the executor's key: 401 on every call
    await page.goto(f"/projects/{world.ids.project_id}/playground")
    await page.fill("input[name=model]", "e2e-bot")
    await page.fill("textarea[name=user_template]", "{{ inputs.question }}")
    await page.fill("textarea[name=typed]", '{"question": "What is 2 + 2?"}\n{"question": "Capital of Peru?"}')
    await page.click("#try-button")
    await page.locator("#try-results[data-status=completed]").wait_for(timeout=30_000)
    assert await page.locator("#try-failed").inner_text() == "every call failed"
    alert = await page.locator("#try-results [role=alert]").inner_text()
    assert alert.startswith("No output to score: every call to the model failed (") and "401" in alert
    assert await page.locator("#try-table tbody tr.errored").count() == 2
    await screenshot(page, "playground-every-call-failed")
    await page.reload()  # the Tries list says it too, not a green "completed"
    assert await page.locator("#tries-table tbody tr").first.locator("td").nth(4).inner_text() == "every call failed"
