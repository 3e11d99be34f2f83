"""The console in a real browser (Debian's chromium) against the whole stack: sign-in, the runs
list with its history charts, kickoff, the run page (status, notes, re-scoring, live progress,
export), and what a key may not see."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from playwright.async_api import Browser, Page

from scorekeeper_sdk.client import qpb
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.console_world import ConsoleWorld, build_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


@pytest.fixture(scope="module")
async def world(stack: Stack) -> ConsoleWorld:
    return await build_world(stack)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


@pytest.fixture
async def page(browser: Browser, stack: Stack, world: ConsoleWorld) -> AsyncIterator[Page]:
    """Signed in with project A's write key."""
    context, signed = await signed_in(browser, stack.console_url, world.a.key)
    yield signed
    await context.close()


async def test_sign_in_refuses_a_bad_key_and_lands_on_the_projects_runs(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    context, page = await signed_in(browser, stack.console_url, "sk_000000000000_not-a-key")
    assert await page.locator("[role=alert]").inner_text() == "This API key is not valid: it is unknown or was revoked."
    await screenshot(page, "sign-in")
    await page.fill("input[name=api_key]", world.a.key)
    await page.click("form[action='/sign-in'] button[type=submit]")
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs")
    # The project switcher offers the key's own project only.
    assert await page.locator(".switcher option").all_inner_texts() == ["console A"]
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["sk_session"]["httpOnly"] and cookies["sk_session"]["sameSite"] == "Lax"
    await context.close()


async def test_the_admin_key_switches_between_every_project(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    context, page = await signed_in(browser, stack.console_url, stack.admin_key)
    assert await page.locator(f"table a[href^='/projects/{world.b.project_id}/']", has_text="console B").count() == 1
    await page.goto(f"/projects/{world.a.project_id}/runs")
    await page.select_option(".switcher select", value=world.b.project_id)
    await page.wait_for_url(f"**/projects/{world.b.project_id}/runs")
    assert await page.locator("#runs-table tbody tr").count() == 1
    await context.close()


async def test_runs_list_filters_by_source(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs")
    async with stack.client(world.a.key) as client:
        every = [r.id async for r in client.list_runs(world.a.project_id)]
    assert await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)") == every
    await screenshot(page, "runs-list")
    await page.check("form.filters input[name=source][value=ci]")  # applies on change
    await page.wait_for_url("**source=ci**")
    rows = page.locator("#runs-table tbody tr")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-run") == world.a.runs[1]
    assert "CI" in await rows.first.locator("td.source").inner_text()


async def test_history_charts_draw_one_point_per_run_with_the_apis_values(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs")
    await page.wait_for_function("document.querySelectorAll('[data-chart] canvas').length === 3")
    drawn = await page.evaluate(
        """() => [...document.querySelectorAll('[data-chart]')].map(el => {
            const option = echarts.getInstanceByDom(el).getOption();
            return {metric: el.dataset.metric, data: option.series[0].data, group: echarts.getInstanceByDom(el).group};
        })"""
    )
    async with stack.client(world.a.key) as client:
        history = await client.run_history(world.a.project_id, world.a.ids.metric_ids)
    assert [d["metric"] for d in drawn] == world.a.ids.metric_ids
    for series, chart in zip(history.series, drawn, strict=True):
        assert len(series.points) == len(chart["data"]) >= 2
        assert chart["data"] == [pytest.approx(p.value, abs=1e-4) for p in series.points]
        assert chart["group"] == "run-history"
    # A metric's title links to the metric; hovering a point shows that run in every chart.
    title = page.locator(".chart-title").first
    assert await title.get_attribute("href") == f"/projects/{world.a.project_id}/metrics/{world.a.ids.metric_ids[0]}"
    box = await page.locator("[data-chart='0']").bounding_box()
    assert box is not None
    # Where the chart drew the newest run's point.
    x, y = await page.evaluate(
        """() => { const chart = echarts.getInstanceByDom(document.querySelector("[data-chart='0']"));
                   const data = chart.getOption().series[0].data;
                   return chart.convertToPixel({seriesIndex: 0}, [data.length - 1, data[data.length - 1]]); }"""
    )
    newest = f"Run {world.a.runs[1][:8]}"
    tips = page.locator(".history-tip:visible", has_text=newest)
    for step in range(20):  # the charts draw on animation frames: hover until a tooltip answers
        canvas = page.locator("[data-chart='0'] canvas").first
        await canvas.hover(position={"x": x - 10 + step, "y": y + step % 3})
        if await tips.count() == 3:
            break
        await page.wait_for_timeout(250)
    await screenshot(page, "runs-history-hover")
    assert await tips.count() == 3


async def test_kickoff_from_the_dialog_then_watch_the_run_complete(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs")
    await page.click("a.kickoff")
    dialog = page.locator("dialog#modal")
    await dialog.locator("select[name=testset_id]").wait_for()
    await dialog.locator("select[name=testset_id]").select_option(world.a.ids.testset_id)
    await dialog.locator("select[name=system_version_id]").select_option(world.a.ids.system_version_id)
    for metric_id in world.a.ids.metric_ids[:2]:
        await dialog.locator(f"input[name=metric_id][value='{metric_id}']").check()
    await dialog.locator("textarea[name=notes]").fill("kicked off in the browser")
    await screenshot(page, "kickoff-dialog")
    await dialog.locator("button[type=submit]").click()
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    await page.evaluate("window.sameDocument = true")
    await screenshot(page, "run-page-live")
    await page.locator("#run-progress[data-status=completed]").wait_for(timeout=90_000)
    # Completed in place: the page was never reloaded, and the records table filled in.
    assert await page.evaluate("window.sameDocument") is True
    await page.locator("#records-table tbody tr[data-record]").nth(23).wait_for()
    async with stack.client(world.a.key) as client:
        run = await client.get_run(run_id)
    # The actions followed the status: Cancel went, Retry came for the errored record.
    assert await page.locator("#run-actions form[action$='/cancel']").count() == 0
    assert await page.locator("#retry-errors button").inner_text() == f"Retry {run.errored_records} errored"
    assert (run.source, run.notes, run.records) == ("kickoff", "kicked off in the browser", 24)
    assert [m.metric_id for m in run.metrics] == world.a.ids.metric_ids[:2]
    result = page.locator(f"#aggregates tr[data-metric='{run.metrics[0].metric_id}'] td.result b")
    assert await result.inner_text() == f"{run.metrics[0].pass_rate * 100:.1f}%"


async def test_kickoff_a_prompt_run_on_the_server(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/kickoff")  # the dialog's own page, no script needed
    await page.select_option("select[name=testset_id]", world.a.ids.testset_id)
    await page.check("input[name=mode][value=prompt]")
    assert await page.locator(".mode-panel[data-mode=version]").is_hidden()
    await page.fill("input[name=model]", "demo-bot")
    await page.fill("textarea[name=system_prompt]", "Answer with the answer only.")
    await page.fill("textarea[name=user_template]", "{{ inputs.question }}")
    await page.fill("input[name=temperature]", "0.3")
    await page.fill("input[name=base_url]", stack.demo_judge_url)  # a local endpoint, never the internet
    await page.check(f"input[name=metric_id][value='{world.a.ids.metric_ids[0]}']")
    await page.fill("input[name=trials]", "2")
    await page.click("#kickoff-form button[type=submit]")
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    async with stack.client(world.a.key) as client:
        run = await client.get_run(run_id)
        assert (run.source, run.trials, run.expected_records) == ("kickoff", 2, 48)
        version = run.system_version
        assert (version.kind, version.system_name) == ("llm", "Kickoff prompts")
        config = json_format.MessageToDict(version.config)
    expected = {
        "model": "demo-bot",
        "messages": [
            {"role": "system", "content": "Answer with the answer only."},
            {"role": "user", "content": "{{ inputs.question }}"},
        ],
        "temperature": 0.3,
        "base_url": stack.demo_judge_url,
    }
    assert {key: config.get(key) for key in expected} == expected
    await page.click("#run-details summary")
    assert "Kickoff prompts · v1 llm" in await page.locator("#run-details").inner_text()


async def test_kickoff_without_a_system_says_what_is_missing(page: Page, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/kickoff")
    await page.select_option("select[name=testset_id]", world.a.ids.testset_id)
    await page.check(f"input[name=metric_id][value='{world.a.ids.metric_ids[0]}']")
    await page.click("#kickoff-form button[type=submit]")
    assert await page.locator("[role=alert]").inner_text() == "Choose a system version, or run a prompt on the server."
    # What was chosen is still chosen.
    assert await page.locator("select[name=testset_id]").input_value() == world.a.ids.testset_id


async def test_a_refused_kickoff_stays_in_its_dialog(page: Page, world: ConsoleWorld) -> None:
    runs = f"/projects/{world.a.project_id}/runs"
    await page.goto(runs)
    await page.click("a.kickoff")
    dialog = page.locator("dialog#modal")
    await dialog.locator("select[name=testset_id]").wait_for()
    await dialog.locator("select[name=testset_id]").select_option(world.a.ids.testset_id)
    await dialog.locator(f"input[name=metric_id][value='{world.a.ids.metric_ids[0]}']").check()
    await dialog.locator("input[name=trials]").fill("2")
    await dialog.locator("select[name=system_version_id]").select_option("")
    await dialog.locator("button[type=submit]").click()
    alert = dialog.locator("[role=alert]")
    await alert.wait_for()
    assert await alert.inner_text() == "Choose a system version, or run a prompt on the server."
    assert page.url.endswith(runs) and await dialog.evaluate("d => d.open")  # the page behind is kept
    assert await dialog.locator("input[name=trials]").input_value() == "2"  # what was typed, too
    await screenshot(page, "kickoff-dialog-refused")
    await dialog.locator("select[name=system_version_id]").select_option(world.a.ids.system_version_id)
    await dialog.locator("button[type=submit]").click()
    await page.wait_for_url(f"**{runs}/*")
    assert await page.locator("#run-progress").count() == 1


async def test_run_again_prefills_the_kickoff_dialog(page: Page, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    await page.click("text=Run again")
    dialog = page.locator("dialog#modal")
    await dialog.locator("select[name=testset_id]").wait_for()
    assert await dialog.locator("select[name=testset_id]").input_value() == world.a.ids.testset_id
    assert await dialog.locator("select[name=system_version_id]").input_value() == world.a.ids.system_version_id
    checked = await dialog.locator("input[name=metric_id]:checked").evaluate_all("els => els.map(e => e.value)")
    assert sorted(checked) == sorted(world.a.ids.metric_ids)
    assert await dialog.locator("textarea[name=notes]").input_value() == "console A run 1"


async def test_status_expands_to_the_per_metric_explanation(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    explanations = page.locator(".metric-explanations li")
    assert not await explanations.first.is_visible()
    await page.click("#status-details summary")
    async with stack.client(world.a.key) as client:
        run = await client.get_run(world.a.runs[0])
    texts = await explanations.all_inner_texts()
    assert len(texts) == 3
    for metric, text in zip(run.metrics, texts, strict=True):
        assert metric.name in text and metric.explanation in text
    assert run.status_explanation in await page.locator("#status-details summary").inner_text()
    await screenshot(page, "run-page")


async def test_notes_are_saved_and_still_there_after_a_reload(page: Page, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    await page.click("#run-details summary")
    await page.fill("#notes", "baseline: the demo system, unchanged")
    await page.click("#notes-form button[type=submit]")
    await page.locator("#notes-form .flash.ok").wait_for()
    await page.reload()
    await page.click("#run-details summary")
    assert await page.locator("#notes").input_value() == "baseline: the demo system, unchanged"
    await screenshot(page, "run-details")


async def test_csv_download_is_the_apis_export(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    await page.click("details.export summary")
    async with page.expect_download() as download_info:
        await page.click("text=Export as CSV")
    download = await download_info.value
    assert download.suggested_filename == f"run-{world.a.runs[0]}.csv"
    downloaded = (await download.path()).read_bytes()
    async with stack.client(world.a.key) as client:
        exported = b"".join([chunk async for chunk in client.export_run(world.a.runs[0])])
    assert downloaded == exported
    rows = list(csv.DictReader(io.StringIO(downloaded.decode())))
    assert len(rows) == 24
    # Latencies to the microsecond, as measured (not a double's 15 noise digits).
    async with stack.client(world.a.key) as client:
        measured = {r.id: r.latency_ms async for r in client.records(world.a.runs[0])}
    assert all(len(r["latency_ms"].partition(".")[2]) <= 3 for r in rows)
    latencies = {r["record_id"]: float(r["latency_ms"]) for r in rows}
    assert latencies == pytest.approx(measured, abs=0.0005)


async def test_rerun_scoring_with_one_metric_shows_the_new_scores(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    concise = world.a.ids.metric_ids[2]
    async with stack.client(world.a.key) as client:
        # A stricter version: nothing is concise any more.
        await client.update_metric(
            concise, heuristic={"kind": "regex", "params": {"pattern": "^$", "mode": "fullmatch"}}
        )
    run_id = world.a.runs[1]
    await page.goto(f"/projects/{world.a.project_id}/runs/{run_id}")
    await page.click("text=Re-run scoring")
    dialog = page.locator("dialog#modal")
    await dialog.locator("#rescore-form").wait_for()
    for box in await dialog.locator("input[name=metric]").all():
        await box.set_checked(await box.get_attribute("value") == concise)
    await screenshot(page, "rescore-dialog")
    await dialog.locator("button[type=submit]").click()
    await page.wait_for_url(f"**/runs/{run_id}")
    # The aggregates follow the scoring live; the records table reloads when the run settles.
    cell = page.locator(f"#aggregates tr[data-metric='{concise}'] td.result b")
    await page.locator(f"#aggregates tr[data-metric='{concise}'] td.result b", has_text="0.0%").wait_for(timeout=60_000)
    await page.locator("#run-progress[data-status=completed]").wait_for(timeout=60_000)
    await page.reload()
    assert await cell.inner_text() == "0.0%"
    assert "v2" in await page.locator(f"#aggregates tr[data-metric='{concise}'] td").first.inner_text()
    column = await page.locator(
        "#records-table tbody tr[data-record]:not(.errored) td.score-cell:nth-child(7)"
    ).all_inner_texts()
    assert column and set(column) == {"fail"}


async def test_an_unknown_run_shows_the_not_found_page(page: Page, world: ConsoleWorld) -> None:
    runs = f"/projects/{world.a.project_id}/runs"
    await page.goto(runs)
    response = await page.goto(f"{runs}/00000000-0000-4000-8000-000000000000")
    assert response is not None and response.status == 404
    assert await page.locator("h1").inner_text() == "Not found"
    await screenshot(page, "not-found")
    # The way on: back where the visitor came from, or the project's runs.
    assert await page.locator(".error-links a").all_inner_texts() == ["Go back", "This project's runs", "Your projects"]
    await page.click("text=Go back")
    await page.wait_for_url(f"**{runs}")
    await page.go_forward()
    await page.click("text=This project's runs")
    await page.wait_for_url(f"**{runs}")
    # An id that could never exist is not found either (not "That did not work").
    for path in ("runs/not-a-uuid", "records/nope", "metrics/12"):
        response = await page.goto(f"/projects/{world.a.project_id}/{path}")
        assert response is not None and response.status == 404, path
        assert await page.locator("h1").inner_text() == "Not found"


async def test_a_key_of_project_a_cannot_open_project_bs_pages(page: Page, world: ConsoleWorld) -> None:
    b = world.b
    for path in (
        f"/projects/{b.project_id}/runs",
        f"/projects/{b.project_id}/runs/{b.runs[0]}",
        f"/projects/{world.a.project_id}/runs/{b.runs[0]}",  # B's run under A's project
        f"/projects/{b.project_id}/testsets/{b.ids.testset_id}",
        f"/projects/{b.project_id}/metrics/{b.ids.metric_ids[0]}",
        f"/projects/{b.project_id}/runs/{b.runs[0]}/export.csv",
        f"/projects/{world.a.project_id}/runs/{b.runs[0]}/vs-previous",  # its testcases against the previous run
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        assert await page.locator("h1").inner_text() == "Not found"
        assert "console B" not in await page.content()


async def test_every_form_post_needs_its_csrf_token(stack: Stack, world: ConsoleWorld) -> None:
    run = f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}"
    async with httpx.AsyncClient(base_url=stack.console_url, cookies={"sk_session": world.a.key}) as http:
        for path in (f"{run}/notes", f"{run}/rescore", f"{run}/cancel", f"/projects/{world.a.project_id}/kickoff"):
            response = await http.post(path, data={"notes": "forged"})
            assert response.status_code == 403, path
            assert "Form expired" in response.text
    async with stack.client(world.a.key) as client:
        assert (await client.get_run(world.a.runs[0])).notes != "forged"


async def test_signed_out_visitors_are_sent_to_sign_in(stack: Stack, world: ConsoleWorld) -> None:
    async with httpx.AsyncClient(base_url=stack.console_url) as http:
        response = await http.get(f"/projects/{world.a.project_id}/runs")
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next=/projects/{world.a.project_id}/runs"
        # The probes every service serves.
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).json() == {"status": "ready", "orchestrator": True, "query": True}
        assert 'scorekeeper_console_request_seconds_count{handler="runs_page"' in (await http.get("/metrics")).text


async def test_the_run_url_the_api_prints_opens_the_runs_page(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        run: qpb.RunView = await client.get_run(world.a.runs[0])
    response = await page.goto(run.url)
    assert response is not None and response.status == 200
    assert await page.locator("h1").first.inner_text() == "questions v1 → demo-qa v1"


async def test_a_run_archived_from_its_page_leaves_the_list_and_comes_back(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    old = world.a.runs[0]
    runs_url = f"/projects/{world.a.project_id}/runs"
    await page.goto(f"{runs_url}/{old}")
    assert await page.locator("#archived-banner").count() == 0
    await page.click("#archive-run button[type=submit]")
    await page.locator("#archived-banner").wait_for()
    assert (await page.locator("#archived-banner p").inner_text()).startswith("Archived ")
    assert await page.locator("#archive-run").count() == 0
    await screenshot(page, "run-archived")
    await page.goto(runs_url)
    listed = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert old not in listed and listed
    async with stack.client(world.a.key) as client:
        history = await client.run_history(world.a.project_id, world.a.ids.metric_ids[:1])
    assert old not in [p.run_id for p in history.series[0].points]
    await page.click("#archived-toggle")
    await page.wait_for_url(f"**{runs_url}?archived=1")
    assert await page.locator("h1").inner_text() == "Archived runs"
    assert await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)") == [old]
    assert await page.locator("#charts").count() == 0  # the run history leaves archived runs out
    await page.locator("#runs-table a", has_text=old[:8]).click()
    await page.click("#unarchive-run button[type=submit]")
    await page.locator("#archive-run").wait_for()
    assert await page.locator("#archived-banner").count() == 0
    await page.goto(runs_url)
    assert old in await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")


async def test_two_metrics_verdicts_compared_on_the_run_page(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    exact, _, concise = world.a.ids.metric_ids
    run_id = world.a.runs[0]
    await page.goto(f"/projects/{world.a.project_id}/runs/{run_id}")
    await page.click("#agreement summary")
    await page.select_option("#agreement-form select[name=agree_a]", exact)
    await page.select_option("#agreement-form select[name=agree_b]", concise)
    await page.click("#agreement-form button[type=submit]")
    await page.wait_for_url(f"**agree_a={exact}&agree_b={concise}")
    async with stack.sdk(world.a.key) as sdk:
        found = await sdk.metric_agreement(run_id, exact, concise)
    cells = await page.locator("#agreement-table td").all_inner_texts()
    assert cells == [str(n) for n in (found.both_passed, found.only_a_passed, found.only_b_passed, found.both_failed)]
    assert found.compared > 0 and found.agreement is not None
    summary = await page.locator("#agreement-summary").inner_text()
    assert summary.startswith(f"They agree on {found.agreement * 100:.1f}% of {found.compared} records")
    await screenshot(page, "run-agreement")
    # A cell opens its records: those "exact answer" passes and "concise" fails.
    await page.locator("#agreement-table td").nth(1).locator("a").click()
    await page.wait_for_url("**cond_op=passed**cond_op=failed**")
    rows = page.locator("#records-table tbody tr[data-record]")
    assert await rows.count() == found.only_a_passed
    # The same metric twice: the API's reason, in place.
    await page.goto(f"/projects/{world.a.project_id}/runs/{run_id}?agree_a={exact}&agree_b={exact}")
    assert await page.locator("#agreement .flash.error").inner_text() == (
        "metric_a and metric_b are the same metric (exact answer): name two"
    )


async def test_a_float_metrics_scores_are_drawn_by_bin(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.sdk(world.a.key) as sdk:
        f1 = await sdk.create_metric(
            world.a.project_id,
            "answer overlap",
            eval_type="heuristic",
            output_type="float",
            heuristic={"kind": "token_f1", "params": {"expected_field": "answer"}},
        )
        run = await sdk.create_run(world.a.project_id, world.a.ids.testset_id, world.a.ids.system_version_id, [f1.id])
        await sdk.wait_for_run(run.id, timeout_s=60)
        (spread,) = await sdk.score_distribution(run.id)
    await page.goto(f"/projects/{world.a.project_id}/runs/{run.id}")
    figure = page.locator(f"#distributions .distribution[data-metric='{f1.id}']")
    assert await figure.locator("figcaption").inner_text() == f"answer overlap {spread.scored} scored"
    shown = await figure.locator("tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.bucket, r.querySelector('td.num').textContent])"
    )
    assert shown == [[b.label, str(b.count)] for b in spread.buckets]
    assert sum(b.count for b in spread.buckets) == spread.scored > 0
    await screenshot(page, "run-distribution")
    # A run of boolean metrics only has nothing to spread.
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    assert await page.locator("#distributions").count() == 0


async def test_ticked_runs_are_archived_together_and_one_still_running_is_refused(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    ids = world.a.ids
    async with stack.sdk(world.a.key) as sdk:
        junk = [await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])]
        junk.append(await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1]))
        for run in junk:
            await sdk.wait_for_run(run.id, timeout_s=60)
        uploader = await sdk.create_system_version_by_name(ids.project_id, "uploader", "sdk")
        waiting = await sdk.create_run(ids.project_id, ids.testset_id, uploader.id, ids.metric_ids[:1])
    runs_url = f"/projects/{world.a.project_id}/runs"
    await page.goto(runs_url)
    for run in junk:
        await page.check(f"tr[data-run='{run.id}'] input[type=checkbox]")
    # A run not finished can be ticked (to compare it) but archiving it is refused.
    await page.check(f"tr[data-run='{waiting.id}'] input[type=checkbox]")
    await page.click("#archive-ticked")
    await page.locator("#bulk-archived").wait_for()
    assert await page.locator("#bulk-archived").inner_text() == "Archived 2 runs: they are in Archived runs."
    assert await page.locator(".flash.error").inner_text() == (
        f"run {waiting.id} is awaiting_execution: cancel it, or let it finish, before archiving it"
    )
    listed = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert not {r.id for r in junk} & set(listed) and waiting.id in listed
    await page.goto(f"{runs_url}?archived=1")
    archived = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert set(archived) >= {r.id for r in junk}
    await page.check(f"tr[data-run='{junk[0].id}'] input[type=checkbox]")
    await page.click("#archive-ticked")
    await page.locator("#bulk-archived").wait_for()
    assert await page.locator("#bulk-archived").inner_text() == "Unarchived 1 run."
    assert junk[0].id not in await page.locator("#runs-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.run)"
    )
    await screenshot(page, "runs-archived")
    async with stack.sdk(world.a.key) as sdk:
        await sdk.cancel_run(waiting.id)


async def test_kickoff_of_part_of_the_testset_and_run_it_again(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/kickoff")
    await page.select_option("select[name=testset_id]", world.a.ids.testset_id)
    await page.select_option("select[name=system_version_id]", world.a.ids.system_version_id)
    await page.check(f"input[name=metric_id][value='{world.a.ids.metric_ids[0]}']")
    await page.click("#subset summary")
    await page.fill("input[name=only]", "category")
    await page.click("#kickoff-form button[type=submit]")
    assert await page.locator("[role=alert]").inner_text() == (
        "Only testcases whose metadata: write KEY=VALUE, not 'category'"
    )
    assert await page.locator("input[name=only]").input_value() == "category"  # kept to fix
    await page.fill("input[name=only]", "category=arithmetic")
    await page.fill("input[name=sample]", "5")
    await page.fill("input[name=sample_seed]", "2")
    await page.click("#kickoff-form button[type=submit]")
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    async with stack.client(world.a.key) as client:
        run = await client.get_run(run_id)
    assert run.expected_records == 5
    subset = page.locator("#run-subset")
    assert await subset.inner_text() == "5 of 24 testcases: category=arithmetic, a sample of 5 (draw 2)"
    await screenshot(page, "run-subset")
    # Run again: the same choice, filled in.
    await page.goto(f"/projects/{world.a.project_id}/kickoff?from_run={run_id}")
    assert await page.locator("#subset").get_attribute("open") is not None
    assert await page.locator("input[name=only]").input_value() == "category=arithmetic"
    assert await page.locator("input[name=sample]").input_value() == "5"
    assert await page.locator("input[name=sample_seed]").input_value() == "2"


async def test_run_again_of_named_testcases_runs_the_same_ones(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    ids = world.a.ids
    async with stack.sdk(world.a.key) as sdk:
        every = [t.id async for t in sdk.list_testcases(ids.testset_id)]
        named = await sdk.create_run(
            ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1], testcase_ids=every[3:6]
        )
    await page.goto(f"/projects/{world.a.project_id}/kickoff?from_run={named.id}")
    same = page.locator("#same-testcases input[name=same_testcases_as]")
    assert await same.is_checked() and await same.get_attribute("value") == named.id
    await page.click("#kickoff-form button[type=submit]")
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs/*")
    again_id = page.url.rsplit("/", 1)[-1]
    assert again_id != named.id
    assert await page.locator("#run-subset").inner_text() == f"3 of 24 testcases: those of run {named.id[:8]}"
    assert (
        await page.locator("#run-subset a").get_attribute("href") == f"/projects/{world.a.project_id}/runs/{named.id}"
    )
    author = page.locator("#run-author")  # the key the visitor signed in with
    assert await author.inner_text() == "console test"
    assert await author.get_attribute("title") == f"the API key {world.a.key[:15]}"
    async with stack.sdk(world.a.key) as sdk:
        assert [t.id async for t in sdk.list_testcases(ids.testset_id, run_id=again_id)] == every[3:6]


async def test_run_tags_filter_the_list_and_are_edited_on_the_run_page(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client(world.a.key) as client:
        run = await client.create_run(
            world.a.project_id, world.a.ids.testset_id, world.a.ids.system_version_id, world.a.ids.metric_ids[:1]
        )
    async with stack.sdk(world.a.key) as sdk:
        await sdk.update_run_tags(run.id, add=["nightly-ui"])
    await page.goto(f"/projects/{world.a.project_id}/runs")
    await page.locator(f"#runs-table tr[data-run='{run.id}'] a.run-tag", has_text="nightly-ui").click()
    await page.wait_for_url("**/runs?tag=nightly-ui")
    assert await page.locator("#runs-table tbody tr[data-run]").evaluate_all(
        "rows => rows.map(r => r.dataset.run)"
    ) == [run.id]
    assert "Runs tagged nightly-ui" in await page.locator("#tag-filter").inner_text()
    await screenshot(page, "runs-tagged")

    await page.goto(f"/projects/{world.a.project_id}/runs/{run.id}")
    await page.click("#run-details summary")
    await page.fill("#tags", "nightly-ui, " + "x" * 101)
    await page.click("#tags-form button[type=submit]")
    await page.locator("#tags-form .flash.error").wait_for()
    assert (await page.locator("#tags-form .flash.error").inner_text()).startswith("tags must be 1..100 characters")
    await page.fill("#tags", "release, nightly-ui")
    await page.click("#tags-form button[type=submit]")
    await page.locator("#tags-form .flash.ok").wait_for()
    async with stack.sdk(world.a.key) as sdk:
        assert (await sdk.get_run(run.id)).tags == ["nightly-ui", "release"]


async def test_ticked_runs_are_compared_two_as_a_and_b_more_side_by_side(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    ids = world.a.ids
    async with stack.client() as admin:
        third = await admin.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])
        await admin.wait_for_run(third.id, timeout_s=60)
        reader = (await admin.create_api_key(ids.project_id, "compare ticks", "read")).secret
    context, page = await signed_in(browser, stack.console_url, reader)
    try:
        runs_url = f"/projects/{world.a.project_id}/runs"
        await page.goto(runs_url)
        assert await page.locator("#archive-ticked").count() == 0  # a read key compares, it does not archive
        older, newer = world.a.runs
        await page.check(f"tr[data-run='{newer}'] input[type=checkbox]")
        await page.click("#compare-ticked")
        await page.wait_for_url(f"**{runs_url}?refused=*")
        assert await page.locator(".flash.error").inner_text() == (
            "Tick two runs or more, of one testset, to compare them."
        )
        for run_id in (older, newer):
            await page.check(f"tr[data-run='{run_id}'] input[type=checkbox]")
        await page.click("#compare-ticked")
        await page.wait_for_url(f"**/compare?baseline={older}&run={newer}")
        await page.locator("#compare-table").wait_for()
        await page.goto(runs_url)
        for run_id in (older, newer, third.id):
            await page.check(f"tr[data-run='{run_id}'] input[type=checkbox]")
        await page.click("#compare-ticked")
        await page.locator("#matrix-table").wait_for()
        headers = await page.locator("#matrix-table th.matrix-run").evaluate_all("hs => hs.map(h => h.dataset.run)")
        assert headers == [older, newer, third.id]  # oldest first, left to right
        await screenshot(page, "runs-ticked-side-by-side")
    finally:
        await context.close()


async def test_my_runs_are_those_kicked_off_with_my_key(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    ids = world.a.ids
    async with stack.sdk(world.a.key) as sdk:
        mine = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])
        prefix = world.a.key[:15]
        listed = [r async for r in sdk.list_runs(ids.project_id, created_by_key_prefix=prefix)]
    assert mine.id in {r.id for r in listed}
    assert {(r.created_by, r.created_by_key_prefix) for r in listed} == {("console test", prefix)}
    await page.goto(f"/projects/{world.a.project_id}/runs")
    everyone = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert set(world.a.runs) <= set(everyone)  # kicked off with the instance admin key
    await page.check("#mine")
    await page.wait_for_url("**mine=1*")
    shown = await page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert shown == [r.id for r in listed][: len(shown)] and not set(world.a.runs) & set(shown)
    authors = await page.locator("#runs-table .run-author").all_inner_texts()
    assert authors and set(authors) == {"by console test"}
