"""The console's other pages in a real browser against the whole stack: a record, the Records
page, compare, testsets (import, export), metrics (create, edit), systems, review, and
back / forward through filtered tables."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest
from playwright.async_api import Browser, Page

from scorekeeper_sdk.client import cpb, qpb
from shared.devstack.stack import Stack
from shared.edge.convert import struct_to_dict
from tests.support.browser import chromium, screenshot, signed_in, visitor
from tests.support.console_world import ConsoleWorld, build_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


@pytest.fixture(scope="module")
async def world(stack: Stack) -> ConsoleWorld:
    built = await build_world(stack)
    async with stack.client(built.a.key) as client:
        # The candidate run re-scored with a stricter "concise": every concise pass is a regression.
        concise = built.a.ids.metric_ids[2]
        await client.update_metric(
            concise, heuristic={"kind": "regex", "params": {"pattern": "^$", "mode": "fullmatch"}}
        )
        await client.rescore_run(built.a.runs[1], [(concise, "")])
        await client.wait_for_run(built.a.runs[1], timeout_s=60)
    return built


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


@pytest.fixture
async def page(browser: Browser, stack: Stack, world: ConsoleWorld) -> AsyncIterator[Page]:
    context, signed = await signed_in(browser, stack.console_url, world.a.key)
    yield signed
    await context.close()


async def test_a_record_shows_its_data_and_every_score(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    first = page.locator("#records-table tbody tr[data-record]:not(.errored)").first
    record_id = await first.get_attribute("data-record")
    assert record_id is not None
    await first.locator("td a").first.click()
    await page.wait_for_url(f"**/records/{record_id}")
    async with stack.client(world.a.key) as client:
        record = await client.get_record(record_id)
    assert str(record.inputs["question"]) in await page.locator("#record-inputs").inner_text()
    assert str(record.outputs["response"]) in await page.locator("#record-outputs").inner_text()
    assert str(record.expected["answer"]) in await page.locator("#record-expected").inner_text()
    rows = page.locator("#scores tbody tr")
    assert await rows.count() == 3
    for score in record.scores:
        row = page.locator(f"#scores tr[data-metric='{score.metric_id}']")
        assert await row.locator("td.reasoning").inner_text() == score.reasoning
        assert await row.locator("td.value").inner_text() == ("pass" if score.value.bool_value else "fail")
    # The same testcase in the other run (run 2, re-scored with a stricter "concise"): its record and scores.
    async with stack.client(world.a.key) as client:
        (twin,) = [r async for r in client.records(world.a.runs[1]) if r.testcase_id == record.testcase_id]
    history = page.locator("#testcase-history tbody tr")
    assert await history.evaluate_all("rows => rows.map(r => r.dataset.record)") == [twin.id]
    assert world.a.runs[1][:8] in await history.locator("td").nth(1).inner_text()
    chips = await history.locator("td.scores .score-chip").all_inner_texts()
    assert sorted(chips) == sorted(
        f"{s.metric_name} {'pass' if s.passed else 'fail'}" for s in twin.scores if s.current
    )
    await screenshot(page, "record")
    # Side by side with that run: this record's run as B, the other as A.
    await history.locator("a.side-by-side").click()
    await page.wait_for_url(
        f"**/compare/testcase?baseline={world.a.runs[1]}&run={world.a.runs[0]}&testcase={record.testcase_id}"
    )
    assert await page.locator(".side-b a.mono").inner_text() == record.id[:8]


async def test_a_record_becomes_a_testcase_of_a_testset(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        record = next(r for r in [r async for r in client.records(world.a.runs[0])] if r.status == "completed")
        keep = await client.create_testset(
            world.a.project_id,
            "kept answers",
            [{"question": "seed", "answer": "s"}],
            inputs=["question"],
            expected=["answer"],
        )
        two = await client.create_testset(
            world.a.project_id, "two expected", [{"question": "seed", "answer": "s", "why": "w"}],
            inputs=["question"], expected=["answer", "why"],
        )  # fmt: skip
    await page.goto(f"/projects/{world.a.project_id}/records/{record.id}")
    form = page.locator("#to-testset-form")
    # The output cannot stand for two expected fields: said, nothing added.
    await form.locator("select[name=testset_id]").select_option(two.id)
    await form.locator("input[name=output_as_expected]").check()
    await form.locator("button[type=submit]").click()
    await page.locator("#to-testset .flash.error").wait_for()
    assert await page.locator("#to-testset .flash.error").inner_text() == (
        "'two expected' has 2 expected fields (answer, why): the output can stand for one only"
    )
    await form.locator("select[name=testset_id]").select_option(keep.id)
    await form.locator("input[name=output_as_expected]").check()
    await form.locator("button[type=submit]").click()
    await page.locator("#to-testset .flash.ok").wait_for()
    assert await page.locator("#to-testset .flash.ok").inner_text() == "Added to kept answers as a testcase: version 2."
    async with stack.client(world.a.key) as client:
        cases = [struct_to_dict(t.data) async for t in client.testcases(keep.id)]
        assert (await client.get_testset(two.id)).version == 1
    assert cases[1] == {
        **struct_to_dict(record.metadata),
        "question": record.inputs["question"],
        "answer": record.outputs["response"],  # the output, not the record's own expected value
    }


async def test_a_records_tags_are_edited_on_its_page(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        record = await anext(client.records(world.a.runs[0]))
    await page.goto(f"/projects/{world.a.project_id}/records/{record.id}")
    tags = page.locator("#tags-form input[name=tags]")
    await tags.fill("regressed, #checked, regressed")
    await page.click("#tags-form button[type=submit]")
    await page.locator("#tags-form .flash.ok").wait_for()
    assert await tags.input_value() == "checked, regressed"  # as stored: once each, in order
    await tags.fill("checked, " + "x" * 101)
    await page.click("#tags-form button[type=submit]")
    await page.locator("#tags-form .flash.error").wait_for()
    assert (await page.locator("#tags-form .flash.error").inner_text()).startswith("tags must be 1..100 characters")
    assert await tags.input_value() == "checked, " + "x" * 101  # kept to fix
    await tags.fill("checked")
    await page.click("#tags-form button[type=submit]")
    await page.locator("#tags-form .flash.ok").wait_for()
    async with stack.client(world.a.key) as client:
        assert list((await client.get_record(record.id)).tags) == ["checked"]


async def test_records_page_search_and_score_filter(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    exact = world.a.ids.metric_ids[0]
    await page.goto(f"/projects/{world.a.project_id}/records")
    await screenshot(page, "records-page")
    await page.fill("#records-filters input[name=search]", "capital")
    condition = page.locator("#records-filters [data-condition]").first
    await condition.locator("select[name=cond_metric]").select_option(exact)
    await condition.locator("select[name=cond_op]").select_option("passed")
    await page.click("#records-filters button[type=submit]")
    await page.wait_for_url("**search=capital**")
    shown = await page.locator("#records-table tbody tr[data-record]").evaluate_all(
        "rows => rows.map(r => r.dataset.record)"
    )
    async with stack.client(world.a.key) as client:
        expected = [
            r.id
            async for r in client.list_records(
                project_id=world.a.project_id, search="capital", where=[f"{exact}:passed"]
            )
        ]
    assert shown == expected[:25]
    assert len(shown) > 0
    for text in await page.locator("#records-table tbody tr td:nth-child(3)").all_inner_texts():
        assert "capital" in text.lower()
    await screenshot(page, "records-page-filtered")


async def test_the_records_a_filter_matches_download_as_csv(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    exact = world.a.ids.metric_ids[0]
    await page.goto(f"/projects/{world.a.project_id}/records?search=capital&cond_metric={exact}&cond_op=passed")
    await page.click("#records-export summary")
    assert await page.locator("#records-export summary").inner_text() == "Export the matching records"
    async with page.expect_download() as download_info:
        await page.click("#records-export >> text=Export as CSV")
    download = await download_info.value
    assert download.suggested_filename == "records.csv"
    rows = list(csv.DictReader(io.StringIO((await download.path()).read_text())))
    async with stack.sdk(world.a.key) as sdk:
        matching = [
            r.id
            async for r in sdk.list_records(project_id=world.a.project_id, search="capital", where=[f"{exact}:passed"])
        ]
        # Two runs' records, one file: the run column says whose each is.
        by_run = {r.id: r.run_id async for r in sdk.list_records(project_id=world.a.project_id, search="capital")}
    assert [r["record_id"] for r in rows] == matching and len(matching) > 1
    assert {r["run_id"] for r in rows} == {by_run[rid] for rid in matching}
    assert {r["exact answer passed"] for r in rows} == {"true"}


async def test_the_records_a_filter_matches_go_into_a_testset_once(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    exact = world.a.ids.metric_ids[0]
    async with stack.client(world.a.key) as client:
        matching = [
            r
            async for r in client.list_records(
                project_id=world.a.project_id, search="capital", where=[f"{exact}:passed"]
            )
        ]
        fields = [
            {**struct_to_dict(r.metadata), **struct_to_dict(r.inputs), **struct_to_dict(r.expected)} for r in matching
        ]
        distinct = {json.dumps(f, sort_keys=True) for f in fields}
        kept = await client.create_testset(
            world.a.project_id, "capitals kept", fields[:1], inputs=["question"], expected=["answer"]
        )
        two = await client.create_testset(
            world.a.project_id, "two expected", fields[:1], inputs=["question"], expected=["answer", "category"]
        )
    assert len(matching) > len(distinct) > 1  # each capital question passed in both runs

    async def add_matching(testset_id: str, output_as_expected: bool = False) -> None:
        await page.click("#to-testset summary")
        form = page.locator("#to-testset-form")
        await form.locator("select[name=testset_id]").select_option(testset_id)
        if output_as_expected:
            await form.locator("input[name=output_as_expected]").check()
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()

    filtered = f"/projects/{world.a.project_id}/records?search=capital&cond_metric={exact}&cond_op=passed&cond_value="
    await page.goto(filtered)
    await add_matching(kept.id)
    done = page.locator("#to-testset-done")
    await done.wait_for()
    repeated = len(matching) - (len(distinct) - 1)
    assert await done.inner_text() == (
        f"Added {len(distinct) - 1} testcases to capitals kept (version 2);"
        f" {repeated} records were already there or repeated another."
    )
    assert "search=capital" in page.url and await page.locator("#records-table tbody tr[data-record]").count() == len(
        matching
    )  # the filters stay
    await screenshot(page, "records-to-testset")
    async with stack.client(world.a.key) as client:
        cases = [json.dumps(struct_to_dict(t.data), sort_keys=True) async for t in client.testcases(kept.id)]
    assert sorted(cases) == sorted(distinct)

    # Again: nothing new, no new version.
    await add_matching(kept.id)
    await done.wait_for()
    assert (await done.inner_text()).startswith(
        "Nothing added to capitals kept: every record's testcase is already there;"
    )
    # The output cannot stand for two expected fields: said in the form, nothing written.
    await add_matching(two.id, output_as_expected=True)
    await page.locator("#to-testset-form .flash.error").wait_for()
    assert await page.locator("#to-testset-form .flash.error").inner_text() == (
        "'two expected' has 2 expected fields (answer, category): the output can stand for one only"
    )
    assert await page.locator("#records-filters input[name=search]").input_value() == "capital"  # filters kept
    assert await page.locator("#records-filters select[name=cond_metric]").first.input_value() == exact
    async with stack.client(world.a.key) as client:
        assert ((await client.get_testset(kept.id)).version, (await client.get_testset(two.id)).version) == (2, 1)


async def test_the_records_a_filter_matches_are_tagged_and_untagged(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client(world.a.key) as client:
        matching = {r.id async for r in client.list_records(project_id=world.a.project_id, search="brazil")}
    assert len(matching) == 2  # the Brazil question in both runs

    async def tag(add: str = "", remove: str = "") -> None:
        if await page.locator("#tag-records").get_attribute("open") is None:  # open again after a refusal
            await page.click("#tag-records summary")
        form = page.locator("#tag-records-form")
        await form.locator("input[name=add_tags]").fill(add)
        await form.locator("input[name=remove_tags]").fill(remove)
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()

    await page.goto(f"/projects/{world.a.project_id}/records?search=brazil")
    await tag(add="#brazil-check, second look")
    assert await page.locator("#tag-records-done").inner_text() == "Tagged 2 records: added brazil-check, second look."
    assert (
        await page.locator("#records-table tbody tr[data-record] .record-tags").all_inner_texts()
        == ["brazil-check second look"] * 2
    )
    await screenshot(page, "records-tagged")
    async with stack.client(world.a.key) as client:
        (in_run,) = [r.id async for r in client.records(world.a.runs[0]) if r.id in matching]
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    row = page.locator(f"#records-table tr[data-record='{in_run}'] .record-tags")
    assert await row.inner_text() == "brazil-check second look"  # the run page shows them too
    async with stack.client(world.a.key) as client:
        tagged = {r.id async for r in client.list_records(project_id=world.a.project_id, tags=["brazil-check"])}
        assert tagged == matching
        # Removed through a tag filter: the page says what it did, and the filter now matches nothing.
        await page.goto(f"/projects/{world.a.project_id}/records?tags=brazil-check")
        await tag(remove="brazil-check, second look")
        assert await page.locator("#tag-records-done").inner_text() == (
            "Tagged 2 records: removed brazil-check, second look."
        )
        assert [r async for r in client.list_records(project_id=world.a.project_id, tags=["second look"])] == []
    await page.goto(f"/projects/{world.a.project_id}/records?search=brazil")
    await tag()
    assert await page.locator("#tag-records-form .flash.error").inner_text() == (
        "Type the tags to add or to remove, separated by commas."
    )
    await tag(add="x" * 101)
    assert (await page.locator("#tag-records-form .flash.error").inner_text()).startswith(
        "tags must be 1..100 characters"
    )


async def test_compare_says_what_it_needs_when_a_project_has_one_run(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with visitor(browser, stack.console_url, world.b.key) as page:
        await page.goto(f"/projects/{world.b.project_id}/compare")
        assert (await page.locator("#compare-empty").inner_text()).startswith(
            "One run so far: a comparison needs two runs of the same testset"
        )
        assert await page.locator("#compare-empty a[data-dialog]").inner_text() == "Kick off a run"
    async with visitor(browser, stack.console_url, world.a.key) as page:
        await page.goto(f"/projects/{world.a.project_id}/compare")
        assert await page.locator("#compare-empty").count() == 0


async def test_run_records_filter_keeps_back_and_forward(page: Page, world: ConsoleWorld) -> None:
    run_url = f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}"
    await page.goto(run_url)
    everything = await page.locator("#records-table tbody tr[data-record]").count()
    assert everything == 24
    await page.fill("#records input[name=search]", "capital")
    await page.click("#records button[type=submit]")
    await page.wait_for_url("**search=capital**")
    filtered = await page.locator("#records-table tbody tr[data-record]").count()
    assert 0 < filtered < everything
    await page.go_back()
    await page.wait_for_url(f"**{run_url}")
    await page.locator("#records-table tbody tr[data-record]").nth(everything - 1).wait_for()
    assert await page.locator("#records-table tbody tr[data-record]").count() == everything
    await page.go_forward()
    await page.wait_for_url("**search=capital**")
    assert await page.locator("#records-table tbody tr[data-record]").count() == filtered


async def test_compare_two_runs_with_the_regressions_toggle(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    baseline, candidate = world.a.runs
    concise = world.a.ids.metric_ids[2]
    await page.goto(f"/projects/{world.a.project_id}/compare")
    await page.select_option("select[name=baseline]", baseline)
    await page.select_option("select[name=run]", candidate)
    await page.click(".compare-pick button[type=submit]")
    await page.wait_for_url("**baseline=**")
    async with stack.client(world.a.key) as client:
        comparison = await client.compare_runs(candidate, baseline)
        regressed = await client.compare_runs(candidate, baseline, regressions_only=True)
    for metric in comparison.metrics:
        card = page.locator(f".metric-delta[data-metric='{metric.metric_id}']")
        assert await card.locator("[data-count=regressions]").inner_text() == f"{metric.regressions} regressed"
        assert await card.locator("[data-count=unchanged]").inner_text() == f"{metric.unchanged} unchanged"
    by_id = {m.metric_id: m for m in comparison.metrics}
    assert by_id[concise].regressions == 22  # every concise pass of the baseline
    # Boolean metrics read as pass rates and pass / fail, as on the run page.
    means = page.locator(f".metric-delta[data-metric='{concise}'] .delta-means")
    assert await means.inner_text() == (
        f"{by_id[concise].baseline_mean * 100:.1f}% → {by_id[concise].mean * 100:.1f}% pass rate"
    )
    # 22 regressed, none improved: worse beyond chance (a sign test), said with the mean change.
    verdict = page.locator(f".metric-delta[data-metric='{concise}'] .delta-verdict")
    assert await verdict.get_attribute("data-verdict") == "worse"
    said = " ".join((await verdict.inner_text()).split())
    drop = by_id[concise].mean_delta * 100
    assert said.startswith(f"B is worse beyond chance: {drop:+.1f} points [")
    assert f"· p = {by_id[concise].p_value:.2g}, {by_id[concise].pairs} pairs" in said
    same = page.locator(f".metric-delta[data-metric='{world.a.ids.metric_ids[0]}'] .delta-verdict")
    assert " ".join((await same.inner_text()).split()).startswith(
        "No difference: each of the 23 testcases both runs scored has the same value"
    )
    change = page.locator("#compare-table .change-regression:has-text('concise')").first
    assert (await change.inner_text()).startswith("concise pass → fail")
    assert await page.locator("#compare-table tbody tr[data-testcase]").count() == 20  # one page
    await screenshot(page, "compare")
    await page.click("#regressions-toggle")
    await page.wait_for_url("**regressions=1**")
    rows = page.locator("#compare-table tbody tr[data-testcase]")
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.testcase)") == [
        t.testcase_id for t in regressed.testcases[:20]
    ]
    assert await rows.first.locator("td").nth(2).inner_text() == await rows.first.locator("td").nth(3).inner_text()


async def test_import_a_testset_file_and_see_its_validation_errors(
    page: Page, stack: Stack, world: ConsoleWorld, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with stack.client(world.a.key) as client:
        testset = await client.create_testset(
            world.a.project_id,
            "imported questions",
            [{"question": "What is 1 + 1?", "answer": "2"}],
            inputs=["question"],
            expected=["answer"],
            json_schema={
                "type": "object",
                "required": ["answer"],
                "properties": {"answer": {"type": "string", "minLength": 1}},
            },
        )
    testset_id = testset.id
    await page.goto(f"/projects/{world.a.project_id}/testsets/{testset_id}")
    upload = tmp_path_factory.mktemp("upload") / "questions.csv"
    upload.write_text("question,answer\nWhat is 2 + 2?,4\nCapital of Peru?,Lima\nWho knows?,\n")
    await page.click("text=Import a file")
    await page.set_input_files("#import-form input[type=file]", str(upload))
    await page.click("#import-form button[type=submit]")
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Imported 3 testcases into version 2."
    rows = page.locator("#testcases-table tbody tr")
    assert await rows.count() == 4
    assert "What is 2 + 2?" in await rows.nth(1).inner_text()
    invalid = page.locator("#testcases-table tbody tr.invalid")
    assert await invalid.count() == 1
    assert "/answer" in await invalid.locator("td").nth(4).inner_text()
    await screenshot(page, "testset")
    # A bad file imports nothing and says which row.
    broken = upload.with_name("broken.json")
    broken.write_text('[{"question": "ok", "answer": "1"}, 5]')
    await page.click("text=Import a file")
    await page.set_input_files("#import-form input[type=file]", str(broken))
    await page.click("#import-form button[type=submit]")
    await page.locator(".flash.error").wait_for()
    assert (await page.locator(".flash.error").inner_text()).startswith("Nothing was imported:")
    async with stack.client(world.a.key) as client:
        assert (await client.get_testset(testset_id)).testcase_count == 4


async def test_create_a_testset_from_a_file_or_pasted_rows(
    page: Page, stack: Stack, world: ConsoleWorld, tmp_path_factory: pytest.TempPathFactory
) -> None:
    await page.goto(f"/projects/{world.a.project_id}/testsets")
    await page.click("text=New testset")
    form = page.locator("#new-testset-form")
    await form.locator("input[name=name]").fill("pasted capitals")
    await form.locator("input[name=inputs]").fill("question")
    await form.locator("input[name=expected]").fill("answer")
    await form.locator("textarea[name=pasted]").fill("question,answer\nCapital of Chile?,Santiago\n")
    await form.locator("button[type=submit]").click()
    # The format of pasted rows cannot be told: the form comes back with what was typed.
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == (
        "Choose the format of the pasted testcases: CSV, TSV, JSON or JSONL."
    )
    assert await form.locator("input[name=name]").input_value() == "pasted capitals"
    await screenshot(page, "testset-new")
    assert await form.locator("textarea[name=pasted]").input_value() == "question,answer\nCapital of Chile?,Santiago\n"
    await form.locator("select[name=format]").select_option("csv")
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Created version 1 with 1 testcase."
    assert await page.locator("h1").inner_text() == "pasted capitals v1"
    assert "Capital of Chile?" in await page.locator("#testcases-table tbody tr").first.inner_text()

    # From a file; the API's refusal (an input column missing) creates nothing and keeps the form.
    upload = tmp_path_factory.mktemp("new-testset") / "capitals.csv"
    upload.write_text("question,answer\nCapital of Peru?,Lima\nCapital of Mali?,Bamako\n")
    await page.goto(f"/projects/{world.a.project_id}/testsets")
    await page.click("text=New testset")
    await form.locator("input[name=name]").fill("capitals from a file")
    await form.locator("input[name=inputs]").fill("question, country")
    await form.locator("input[name=expected]").fill("answer")
    await form.locator("input[type=file]").set_input_files(str(upload))
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.error").wait_for()
    assert (await page.locator(".flash.error").inner_text()).startswith(
        "Nothing was created: header: no column 'country' (the testset's inputs: question, country)"
    )
    async with stack.client(world.a.key) as client:
        names = [t.name async for t in client.list_testsets(world.a.project_id)]
    assert "capitals from a file" not in names and names[0] == "pasted capitals"
    await form.locator("input[name=inputs]").fill("question")
    await form.locator("input[type=file]").set_input_files(str(upload))
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Created version 1 with 2 testcases."
    assert await page.locator("#testcases-table tbody tr").count() == 2
    async with stack.client(world.a.key) as client:
        made = await anext(client.list_testsets(world.a.project_id))
    assert (made.name, made.version, made.testcase_count, list(made.field_mapping.expected)) == (
        "capitals from a file",
        1,
        2,
        ["answer"],
    )
    await screenshot(page, "testset-created")


async def test_add_edit_and_delete_testcases_in_place(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        testset = await client.create_testset(
            world.a.project_id,
            "hand-curated",
            [
                {"question": "Capital of Peru?", "answer": "Lim"},
                {"question": "Capital of Chad?", "answer": "N'Djamena"},
            ],
            inputs=["question"],
            expected=["answer"],
        )
    await page.goto(f"/projects/{world.a.project_id}/testsets/{testset.id}")
    await page.click("text=Add a testcase")
    box = page.locator("#add-testcase-form textarea[name=data]")
    assert await box.input_value() == '{"question": "", "answer": ""}'  # the testset's fields to fill in
    await box.fill('{"question": "Capital of Fiji?", "answer": Suva}')
    await page.click("#add-testcase-form button[type=submit]")
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == (
        "Nothing was changed: The testcase is not JSON: Expecting value (line 1)."
    )
    assert await box.input_value() == '{"question": "Capital of Fiji?", "answer": Suva}'  # kept to fix
    await box.fill('{"question": "Capital of Fiji?", "answer": "Suva"}')
    await page.click("#add-testcase-form button[type=submit]")
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Added the testcase: version 2."
    rows = page.locator("#testcases-table tbody tr")
    assert await rows.count() == 3

    # The typo in the first answer, fixed; then the second testcase deleted.
    first = rows.nth(0)
    await first.locator("summary", has_text="Edit").click()
    await first.locator("textarea[name=data]").fill('{"question": "Capital of Peru?", "answer": "Lima"}')
    await first.locator(".edit-testcase-form button[type=submit]").click()
    await page.locator(".flash.ok", has_text="Saved the testcase: version 3.").wait_for()
    second = page.locator("#testcases-table tbody tr").nth(1)
    await second.locator("summary", has_text="Edit").click()
    await second.locator(".delete-testcase-form button[type=submit]").click()
    await page.locator(".flash.ok", has_text="Deleted the testcase: version 4.").wait_for()
    await screenshot(page, "testset-edited")
    # A testcase deleted meanwhile elsewhere: this page's form for it says so, nothing changes.
    stale = page.locator("#testcases-table tbody tr").nth(1)
    async with stack.client(world.a.key) as client:
        gone = [t.id async for t in client.testcases(testset.id)][1]
        await client.add_testcases(testset.id, [{"question": "Capital of Laos?", "answer": "Vientiane"}])
        await client.delete_testcases(testset.id, [gone])
    await stale.locator("summary", has_text="Edit").click()
    await stale.locator(".delete-testcase-form button[type=submit]").click()
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == (
        f"Nothing was changed: testcases not in testset {testset.id}: {gone}"
    )
    async with stack.client(world.a.key) as client:
        assert (await client.get_testset(testset.id)).version == 6  # the API's two changes only
    async with stack.client(world.a.key) as client:
        cases = [struct_to_dict(t.data) async for t in client.testcases(testset.id)]
        first_version = [struct_to_dict(t.data) async for t in client.testcases(testset.id, 1)]
    assert cases == [
        {"question": "Capital of Peru?", "answer": "Lima"},
        {"question": "Capital of Laos?", "answer": "Vientiane"},
    ]
    assert first_version[0]["answer"] == "Lim"  # runs that pinned version 1 keep it
    assert await page.locator(".delete-testset").count() == 0  # deleting needs the admin role
    # An earlier version is shown as it was, without the controls that edit.
    await page.goto(f"/projects/{world.a.project_id}/testsets/{testset.id}?version=1")
    assert await page.locator(".edit-testcase, #add-testcase").count() == 0


async def test_a_testsets_versions_are_compared_field_by_field(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        testset = await client.create_testset(
            world.a.project_id,
            "versions compared",
            # Not "capital": the Records page tests search for it.
            [
                {"question": f"Highest peak of {c}?", "answer": a}
                for c, a in (("Peru", "Huascara"), ("Chad", "Emi Koussi"))
            ],
            inputs=["question"],
            expected=["answer"],
        )
        ids = [t.id async for t in client.testcases(testset.id)]
        system, metrics = world.a.ids.system_version_id, world.a.ids.metric_ids[:1]  # a heuristic: no review
        before = await client.create_run(world.a.project_id, testset.id, system, metrics)  # on v1
        await client.add_testcases(testset.id, [{"question": "Highest peak of Fiji?", "answer": "Tomanivi"}])  # v2
        await client.update_testcase(
            testset.id, ids[0], {"question": "Highest peak of Peru?", "answer": "Huascaran"}
        )  # v3
        await client.delete_testcases(testset.id, [ids[1]])  # v4
        await client.update_testset(testset.id, inputs=["question", "answer"], expected=[])  # v5
        after = await client.create_run(world.a.project_id, testset.id, system, metrics)  # on v5
        for run in (before, after):
            await client.wait_for_run(run.id, timeout_s=60)
    here = f"/projects/{world.a.project_id}/testsets/{testset.id}"
    await page.goto(here)
    await page.locator(".versions li", has_text="v4").locator("a.version-changes").click()
    await page.wait_for_url(f"**{here}/changes?to=4")
    assert " ".join((await page.locator("#change-counts").inner_text()).split()) == (
        "0 added 1 removed 0 changed 2 unchanged"
    )
    assert await page.locator("#changes-table tbody tr").evaluate_all("rows => rows.map(r => r.className)") == [
        "change-removed"
    ]
    await page.select_option("#versions-form select[name=from]", "1")
    await page.click("#versions-form button[type=submit]")
    await page.wait_for_url(f"**{here}/changes?from=1&to=4")
    rows = page.locator("#changes-table tbody tr")
    assert await rows.evaluate_all("rows => rows.map(r => r.className)") == [
        "change-changed",
        "change-removed",
        "change-added",
    ]
    changed = rows.nth(0).locator("td")
    assert await changed.nth(2).inner_text() == "Highest peak of Peru?"  # the same in both: shown once
    assert await changed.nth(3).locator("del").inner_text() == "Huascara"
    assert await changed.nth(3).locator("ins").inner_text() == "Huascaran"
    assert await rows.nth(2).locator("td").nth(2).inner_text() == "Highest peak of Fiji?"
    # The mapping change of v5 re-derived every testcase's inputs.
    await page.goto(f"{here}/changes?from=4&to=5")
    assert " ".join((await page.locator("#mapping-change").inner_text()).split()) == (
        "The field mapping changed: inputs question question, answer, expected answer —."
    )
    assert await rows.count() == 2
    await screenshot(page, "testset-changes")
    await page.goto(f"{here}/changes?from=5&to=2")
    assert await page.locator(".flash.error").inner_text() == "from_version (5) must be before to_version (2)"
    assert await page.locator("#versions-form select[name=from]").input_value() == "5"
    # Compare: two runs of different versions of the testset link to what changed between them.
    await page.goto(f"/projects/{world.a.project_id}/compare?baseline={before.id}&run={after.id}")
    differ = page.locator("#testset-versions-differ")
    assert await differ.inner_text() == "A ran v1 of the testset, B v5: what changed"
    await differ.locator("a").click()
    await page.wait_for_url(f"**{here}/changes?from=1&to=5")
    assert " ".join((await page.locator("#change-counts").inner_text()).split()) == (
        "1 added 1 removed 1 changed 0 unchanged"
    )


async def test_a_testcase_is_found_by_search_and_edited_there(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    countries = [f"Country{n:02d}" for n in range(40)]  # more than a page of 25
    async with stack.client(world.a.key) as client:
        testset = await client.create_testset(
            world.a.project_id,
            "many capitals",
            [{"question": f"Capital of {c}?", "answer": f"City{n:02d}"} for n, c in enumerate(countries)],
            inputs=["question"],
            expected=["answer"],
            json_schema={"type": "object", "properties": {"answer": {"type": "string", "pattern": "^[A-Z]"}}},
        )
    await page.goto(f"/projects/{world.a.project_id}/testsets/{testset.id}")
    assert await page.locator("#testcases-table tbody tr").count() == 25
    await page.fill("#testcase-search input[name=search]", "country37")  # on the second page
    await page.press("#testcase-search input[name=search]", "Enter")
    await page.wait_for_url(re.compile(r"search=country37"))
    rows = page.locator("#testcases-table tbody tr")
    assert await rows.count() == 1
    assert (await rows.first.locator("td").nth(0).inner_text(), "City37" in await rows.first.inner_text()) == (
        "38",
        True,
    )
    await screenshot(page, "testset-search")

    # Edited where it was found: the page comes back to the search, with the edit in it.
    await rows.first.locator("summary", has_text="Edit").click()
    await rows.first.locator("textarea[name=data]").fill('{"question": "Capital of Country37?", "answer": "city37"}')
    await rows.first.locator(".edit-testcase-form button[type=submit]").click()
    await page.locator(".flash.ok", has_text="Saved the testcase: version 2.").wait_for()
    assert "search=country37" in page.url
    assert await rows.count() == 1 and "city37" in await rows.first.inner_text()
    assert await rows.first.get_attribute("class") == "invalid"  # the schema wants a capital letter
    # The invalid toggle keeps the search; a search nothing holds says so.
    await page.click("#invalid-toggle")
    await page.wait_for_url(re.compile(r"invalid=1.*search=country37"))
    assert await rows.count() == 1
    await page.fill("#testcase-search input[name=search]", "country37 -city37")
    await page.press("#testcase-search input[name=search]", "Enter")
    await page.wait_for_url(re.compile(r"city37"))
    assert await rows.first.inner_text() == "No testcases hold “country37 -city37” and violate the schema."
    await page.click("#testcase-search a")  # Clear
    assert await rows.count() == 1  # the invalid one; the search is gone
    assert "search" not in page.url


async def test_testset_export_is_the_apis_csv(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/testsets/{world.a.ids.testset_id}")
    async with page.expect_download() as download_info:
        await page.click("text=Export CSV")
    downloaded = (await (await download_info.value).path()).read_bytes()
    async with stack.client(world.a.key) as client:
        exported = b"".join([c async for c in client.export_testcases(world.a.ids.testset_id)])
    assert downloaded == exported
    await page.goto(f"/projects/{world.a.project_id}/testsets")
    await screenshot(page, "testsets")


async def test_create_a_metric_then_edit_it_into_a_new_version(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/metrics")
    await screenshot(page, "metrics")
    await page.click("text=New metric")
    await page.fill("input[name=name]", "short answer")
    await page.fill("input[name=heuristic_kind]", "length_between")
    await page.fill("textarea[name=heuristic_params]", '{"max_length": -1}')
    await page.click("#metric-form button[type=submit]")
    assert "max_length" in await page.locator("[role=alert]").inner_text()  # the API's message, form kept
    assert await page.locator("input[name=name]").input_value() == "short answer"
    await page.fill("textarea[name=heuristic_params]", '{"max_length": 40}')
    await page.click("#metric-form button[type=submit]")
    await page.wait_for_url(f"**/projects/{world.a.project_id}/metrics/*")
    metric_id = page.url.rsplit("/", 1)[-1]
    await page.fill("textarea[name=guidelines]", "Short answers read better.")
    await page.click("#metric-form button[type=submit]")
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Saved as version 2."
    assert await page.locator(".versions-table tbody tr").count() == 2
    await screenshot(page, "metric")
    # Saved again unchanged: no version 3.
    await page.click("#metric-form button[type=submit]")
    await page.wait_for_url("**saved=unchanged")
    assert await page.locator(".flash.ok").inner_text() == "Nothing in the definition changed: still version 2."
    assert await page.locator(".versions-table tbody tr").count() == 2
    async with stack.client(world.a.key) as client:
        metric = await client.get_metric(metric_id)
    assert (metric.metric.version, metric.metric.guidelines, metric.metric.heuristic.kind) == (
        2,
        "Short answers read better.",
        "length_between",
    )


async def test_a_metrics_earlier_version_is_shown_compared_and_restored(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    guidelines = "Rate the answer from 1 to 5.\nA wrong fact caps it at 2.\nIgnore style."
    async with stack.client(world.a.key) as client:
        made = await client.create_metric(
            world.a.project_id,
            "graded answer",
            eval_type="ai",
            output_type="int",
            guidelines=guidelines,
            threshold=4,
            ai={"model": "gpt-4o-mini", "template": "answer_correctness"},
        )
        await client.update_metric(
            made.id, passing_threshold=3, guidelines=guidelines.replace("caps it at 2", "caps it at 1")
        )
    here = f"/projects/{world.a.project_id}/metrics/{made.id}"
    await page.goto(here)
    changes = page.locator("#version-changes")
    assert await changes.get_attribute("open") is None  # the latest version: folded
    await changes.locator("summary").click()
    assert await changes.locator("dt").all_inner_texts() == ["Passing threshold", "Guidelines"]
    assert await changes.locator("dd").first.inner_text() == "4 → 3"
    assert await changes.locator("pre.diff span").evaluate_all(
        "spans => spans.map(s => s.className + ' ' + s.textContent)"
    ) == [
        "same   Rate the answer from 1 to 5.",
        "removed - A wrong fact caps it at 2.",
        "added + A wrong fact caps it at 1.",
        "same   Ignore style.",
    ]

    await page.locator(".versions-table a", has_text="v1").click()
    await page.wait_for_url(f"**{here}?version=1")
    assert " ".join((await page.locator("h1").inner_text()).split()) == "graded answer v1 of 2"
    assert await page.locator("textarea[name=guidelines]").input_value() == guidelines
    assert await page.locator("input[name=passing_threshold]").input_value() == "4"
    assert await page.locator("input[name=name]").is_disabled()  # an earlier version is read, not edited
    assert await page.locator("#metric-form button[type=submit]").count() == 0
    assert await page.locator("#version-changes").count() == 0  # nothing before version 1
    await screenshot(page, "metric-old-version")
    await page.click("#restore-form button[type=submit]")
    await page.locator(".flash.ok").wait_for()
    assert await page.locator(".flash.ok").inner_text() == "Restored version 1 as version 3."
    async with stack.client(world.a.key) as client:
        restored = (await client.get_metric(made.id)).metric
    assert (restored.version, restored.guidelines, restored.passing_threshold) == (3, guidelines, 4)
    assert (restored.ai.model, restored.ai.template) == ("gpt-4o-mini", "answer_correctness")
    assert await page.locator("#version-changes dt").all_inner_texts() == ["Passing threshold", "Guidelines"]
    await screenshot(page, "metric-restored")
    assert (await page.goto(f"{here}?version=9")).status == 404  # type: ignore[union-attr]

    # A run names the version of each metric it pinned, and links to it.
    await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")
    link = page.locator("a.metric-version").first
    assert re.fullmatch(r"/projects/[-\w]+/metrics/[-\w]+\?version=\d+", await link.get_attribute("href") or "")


async def test_a_metrics_page_lists_the_runs_scored_with_it_and_their_versions(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    concise = world.a.ids.metric_ids[2]  # the candidate run was re-scored with its version 2
    baseline, candidate = world.a.runs
    await page.goto(f"/projects/{world.a.project_id}/metrics/{concise}")
    rows = page.locator("#recent-runs tbody tr")
    shown = await rows.evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert shown.index(candidate) < shown.index(baseline)  # newest first
    async with stack.client(world.a.key) as client:
        history = await client.run_history(world.a.project_id, [concise])
    values = {p.run_id: p.value for p in history.series[0].points}
    for run_id, version, rescore in ((baseline, "v1", 1), (candidate, "v2", 0)):
        cells = rows.locator(f"xpath=self::*[@data-run='{run_id}']").locator("td")
        assert (await cells.nth(1).locator("a").first.inner_text(), await cells.nth(2).inner_text()) == (
            version,
            f"{values[run_id]:.1f}%",
        )
        assert await cells.nth(1).locator("a", has_text="re-score").count() == rescore  # only an older version
    await screenshot(page, "metric-recent-runs")


async def test_a_metric_group_made_on_the_metrics_page_kicks_off_its_metrics(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    await page.goto(f"/projects/{world.a.project_id}/metrics")
    await page.click("text=New group")
    form = page.locator("#metric-group-form")
    await form.locator("input[name=name]").fill("release gate")
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == "Choose the group's metrics."
    for metric_id in world.a.ids.metric_ids[:2]:
        await form.locator(f"input[value='{metric_id}']").check()
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok", has_text="Group saved.").wait_for()
    assert (await page.locator("#metric-groups li").last.inner_text()).startswith("release gate: exact answer, ")
    async with stack.client(world.a.key) as client:
        groups = await client.catalog.ListMetricGroups(cpb.ListMetricGroupsRequest(project_id=world.a.project_id))
    group = next(g for g in groups.groups if g.name == "release gate")
    assert list(group.metric_ids) == world.a.ids.metric_ids[:2]
    # The Kickoff dialog offers it.
    await page.goto(f"/projects/{world.a.project_id}/kickoff")
    options = await page.locator("select[name=metric_group_id] option").all_inner_texts()
    assert any(o.startswith("release gate") for o in options), options


async def test_systems_list_their_versions(page: Page, world: ConsoleWorld) -> None:
    await page.goto(f"/projects/{world.a.project_id}/systems")
    card = page.locator(".system-card")
    assert await card.count() == 1
    assert await card.locator("h2").inner_text() == "demo-qa"
    assert await card.locator("tbody tr").count() == 1
    assert "production" in await card.locator("tbody tr").first.inner_text()
    await screenshot(page, "systems")


async def test_a_new_http_system_from_the_systems_page_then_a_run_of_it(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    await page.goto(f"/projects/{world.a.project_id}/systems")
    await page.click("text=New HTTP system or version")
    form = page.locator("#http-system-form")
    await form.locator("input[name=system_name]").fill("faq-bot")
    await form.locator("input[name=url]").fill(stack.demo_system_url)
    await form.locator("input[name=response_path]").fill("answer")
    await form.locator("textarea[name=body_template]").fill('{"question": "{{ inputs.question }}"}')
    await form.locator("textarea[name=headers]").fill('{"X-Team": qa}')
    await form.locator("input[name=timeout_s]").fill("10")
    await form.locator("button[type=submit]").click()
    # Malformed JSON: said in the form's words, what was typed kept, nothing written.
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == "Headers must be JSON: Expecting value (line 1)."
    assert await form.locator("input[name=url]").input_value() == stack.demo_system_url
    assert await page.locator(".system-card").count() == 1
    # The kind's own check (a URL that is not http) before anything is written.
    await form.locator("textarea[name=headers]").fill('{"X-Team": "qa"}')
    await form.locator("input[name=url]").fill("ftp://files.example/answer")
    await form.locator("button[type=submit]").click()
    await page.wait_for_function("document.querySelector('.flash.error').innerText.includes('ftp')")
    assert await page.locator(".flash.error").inner_text() == (
        "The config is not valid: config.url: Value error, must be an http:// or https:// URL,"
        " got 'ftp://files.example/answer'"
    )
    await screenshot(page, "system-new")
    await form.locator("input[name=url]").fill(stack.demo_system_url)
    # The API's own refusal (a secret the operator's policy forbids) makes no system either.
    await form.locator("textarea[name=secret_headers]").fill('{"X-Key": {"env": "HOME"}}')
    await form.locator("button[type=submit]").click()
    await page.wait_for_function("document.querySelector('.flash.error').innerText.includes('HOME')")
    assert (await page.locator(".flash.error").inner_text()).startswith(
        "config.secret_headers.X-Key.env 'HOME' is not a variable configs may name"
    )
    assert await page.locator(".system-card").count() == 1  # no faq-bot without versions
    await form.locator("textarea[name=secret_headers]").fill("")
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok").wait_for()
    assert (await page.locator(".flash.ok").inner_text()).startswith("Saved version v1 of faq-bot.")
    async with stack.client(world.a.key) as client:
        listed = await client.catalog.ListSystems(cpb.ListSystemsRequest(project_id=world.a.project_id))
    systems = {s.system.name: s for s in listed.systems}
    version = systems["faq-bot"].versions[0]
    assert (version.name, version.kind) == ("v1", "http")
    assert struct_to_dict(version.config) | {"url": "<demo>"} == {
        "url": "<demo>", "method": "POST", "headers": {"X-Team": "qa"}, "secret_headers": {}, "body_mapping": None,
        "body_template": {"question": "{{ inputs.question }}"}, "response_path": "answer", "outputs": None,
        "timeout_s": 10.0, "requests_per_s": None, "max_attempts": 3, "usage": {}, "spans_path": "",
    }  # fmt: skip

    # Its next version starts from its config; then a run of it, kicked off from the message.
    await page.click(f"[id='{systems['faq-bot'].system.id}'] >> text=New version from this")
    assert await form.locator("input[name=system_name]").input_value() == "faq-bot"
    assert await form.locator("input[name=response_path]").input_value() == "answer"
    await form.locator("input[name=max_attempts]").fill("2")
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok").wait_for()
    assert (await page.locator(".flash.ok").inner_text()).startswith("Saved version v2 of faq-bot.")
    # v2 made the production version (v1 was, being the first).
    v2_row = page.locator(f"[id='{systems['faq-bot'].system.id}'] tbody tr", has_text="v2")
    await v2_row.locator(".make-production button").click()
    await page.locator(".flash.ok", has_text="faq-bot · v2 is the production version now").wait_for()
    assert (
        "production"
        in await page.locator(f"[id='{systems['faq-bot'].system.id}'] tbody tr", has_text="v2").inner_text()
    )
    await (
        page.locator(f"[id='{systems['faq-bot'].system.id}'] tbody tr", has_text="v2")
        .locator("a", has_text="Kick off")
        .click()
    )
    dialog = page.locator("dialog#modal")
    await dialog.locator("select[name=testset_id]").wait_for()
    await dialog.locator("select[name=testset_id]").select_option(world.a.ids.testset_id)
    await dialog.locator(f"input[name=metric_id][value='{world.a.ids.metric_ids[0]}']").check()
    await dialog.locator("button[type=submit]").click()
    await page.wait_for_url(f"**/projects/{world.a.project_id}/runs/*")
    await page.locator("#run-progress[data-status=completed]").wait_for(timeout=90_000)
    async with stack.client(world.a.key) as client:
        run = await client.get_run(page.url.rsplit("/", 1)[-1])
    assert (run.system_version.name, run.system_version.system_id, run.records) == (
        "v2",
        systems["faq-bot"].system.id,
        24,
    )


async def test_a_read_only_key_sees_every_page_and_no_control_that_writes(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client() as admin:
        reader = (await admin.create_api_key(world.a.project_id, "stakeholder", "read")).secret
        record = await anext(admin.records(world.a.runs[0]))
    base = f"/projects/{world.a.project_id}"
    pages = [
        "/runs", f"/runs/{world.a.runs[0]}", f"/records/{record.id}", "/records", "/testsets",
        f"/testsets/{world.a.ids.testset_id}", "/metrics", f"/metrics/{world.a.ids.metric_ids[0]}", "/systems",
        "/monitors", "/playground", "/review", f"/compare?baseline={world.a.runs[0]}&run={world.a.runs[1]}",
        f"/compare/testcase?baseline={world.a.runs[0]}&run={world.a.runs[1]}&testcase={record.testcase_id}",
    ]  # fmt: skip
    shown = {}
    async with visitor(browser, stack.console_url, reader) as page:
        for path in pages:
            response = await page.goto(base + path)
            assert response is not None and response.status == 200, path
            assert await page.locator("#read-only").inner_text() == "Read-only key", path
            posts = page.locator("form[method=post]:not([action='/sign-out']) button:not([formmethod=get])")
            shown[path] = (await posts.count(), await page.locator("a[href*='/kickoff']").count())
            if path.startswith("/runs/"):
                await screenshot(page, "run-read-only")
        assert shown == dict.fromkeys(pages, (0, 0))
        # What the pages say instead of a form.
        await page.goto(f"{base}/metrics/{world.a.ids.metric_ids[0]}")
        assert await page.locator(".read-only-note").inner_text() == (
            "Saving needs the write role: this API key has the read role."
        )
        await page.goto(f"{base}/playground")
        assert "Trying a prompt" in await page.locator(".read-only-note").inner_text()


async def test_a_project_admin_makes_and_revokes_keys_in_the_console(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client() as instance:
        admin_key = (await instance.create_api_key(world.a.project_id, "team lead", "admin")).secret
    keys = f"/projects/{world.a.project_id}/keys"
    async with visitor(browser, stack.console_url, admin_key) as page:
        await page.click("nav .sections a[href$='/keys']")
        await page.wait_for_url(f"**{keys}")
        mine = page.locator("#keys-table tr", has_text="team lead")
        assert "your key" in await mine.inner_text() and "active" in await mine.inner_text()
        await page.click("text=New key")
        await page.fill("#new-key-form input[name=name]", "")
        await page.locator("#new-key-form select[name=role]").select_option("read")
        await page.fill("#new-key-form input[name=name]", "quarterly review")
        await page.locator("#new-key-form select[name=expires_in_days]").select_option(label="in 90 days")
        async with page.expect_response(lambda r: r.request.method == "POST") as answered:
            await page.click("#new-key-form button[type=submit]")
        assert (await answered.value).headers["cache-control"] == "no-store"  # the secret is kept nowhere
        secret = await page.locator("#new-key-secret").inner_text()
        assert re.fullmatch(r"sk_[0-9a-f]{12}_\S+", secret)
        assert "not shown again" in await page.locator("#new-key").inner_text()
        assert "(read, until 20" in await page.locator("#new-key").inner_text()
        listed = page.locator("#keys-table tr", has_text="quarterly review")
        assert (await listed.locator(".expires").inner_text()).startswith("until 20")
        await screenshot(page, "keys")
        # The new key works, with its role, in another browser.
        async with visitor(browser, stack.console_url, secret) as reader:
            assert await reader.locator("#read-only").inner_text() == "Read-only key"
            assert await reader.locator("nav .sections a[href$='/keys']").count() == 0
            # Rotated with an hour's grace: a successor shown once; the old key still works.
            row = page.locator("#keys-table tr", has_text="quarterly review")
            await row.locator("summary", has_text="Rotate").click()
            await row.locator("select[name=grace_hours]").select_option("1")
            async with page.expect_response(lambda r: r.request.method == "POST") as answered:
                await row.locator("button", has_text="Rotate quarterly review").click()
            assert (await answered.value).headers["cache-control"] == "no-store"
            successor = await page.locator("#new-key-secret").inner_text()
            assert re.fullmatch(r"sk_[0-9a-f]{12}_\S+", successor) and successor != secret
            until = await page.locator("#replaced-until").inner_text()
            assert re.fullmatch(r"works until 20\d\d-\d\d-\d\d \d\d:\d\d UTC", until), until
            await screenshot(page, "keys-rotated")
            async with stack.client() as instance:
                prefixes = {k.prefix: k.id for k in await instance.list_api_keys(world.a.project_id)}
            old_row = page.locator(f"tr[data-key='{prefixes[secret[:15]]}']")
            assert "until 20" in await old_row.locator(".expires").inner_text()
            await reader.goto(f"/projects/{world.a.project_id}/runs")
            assert "/sign-in" not in reader.url
            # Revoked: listed as such, and refused at once.
            await page.goto(keys)
            await old_row.locator("summary", has_text="Revoke").click()
            await old_row.locator("button", has_text="Revoke quarterly review").click()
            await page.locator(".flash.ok", has_text="Key revoked").wait_for()
            assert "revoked" in await old_row.inner_text()
            assert "active" in await page.locator(f"tr[data-key='{prefixes[successor[:15]]}']").inner_text()
            await reader.goto(f"/projects/{world.a.project_id}/runs")
            assert "/sign-in" in reader.url

        # The project renamed and described here; an empty name refused with what was typed kept.
        await page.goto(keys)
        await page.click("#project-settings summary")
        await page.fill("#project-form input[name=name]", " ")
        await page.fill("#project-form input[name=description]", "answers about capitals")
        await page.click("#project-form button[type=submit]")
        assert await page.locator(".flash.error").inner_text() == "Nothing was saved: name must not be empty"
        assert await page.locator("#project-form input[name=description]").input_value() == "answers about capitals"
        await page.fill("#project-form input[name=name]", "console A (renamed)")
        await page.fill("#project-form input[name=call_retention_days]", "90")
        await page.click("#project-form button[type=submit]")
        await page.locator("#project-saved").wait_for()
        assert await page.locator(".switcher select option:checked").inner_text() == "console A (renamed)"
        async with stack.client() as instance:
            (project,) = [p for p in await instance.list_projects() if p.id == world.a.project_id]
            assert (project.name, project.description, project.call_retention_days) == (
                "console A (renamed)",
                "answers about capitals",
                90,
            )
        # A retention the API refuses: nothing saved, what was typed kept.
        await page.click("#project-settings summary")
        await page.fill("#project-form input[name=call_retention_days]", "3651")
        await page.evaluate("document.querySelector('#project-form').noValidate = true")
        await page.click("#project-form button[type=submit]")
        assert await page.locator(".flash.error").inner_text() == (
            "Nothing was saved: call_retention_days must be 0 (kept for ever) or 1..3,650, got 3,651"
        )
        assert await page.locator("#project-form input[name=call_retention_days]").input_value() == "3651"
        await page.fill("#project-form input[name=name]", "console A")  # as the other tests know it
        await page.fill("#project-form input[name=call_retention_days]", "0")
        await page.click("#project-form button[type=submit]")
        await page.locator("#project-saved").wait_for()


async def test_an_admin_deletes_a_testset_and_its_runs_stay(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client() as instance:
        admin_key = (await instance.create_api_key(world.a.project_id, "testset admin", "admin")).secret
        doomed = await instance.create_testset(
            world.a.project_id, "doomed", [{"question": "q", "answer": "a"}], inputs=["question"], expected=["answer"]
        )
    async with visitor(browser, stack.console_url, admin_key) as page:
        await page.goto(f"/projects/{world.a.project_id}/testsets/{doomed.id}")
        await page.click(".delete-testset summary")
        await screenshot(page, "testset-delete")
        await page.click("#delete-testset-form button[type=submit]")
        await page.wait_for_url("**/testsets?deleted=doomed")
        assert await page.locator(".flash.ok").inner_text() == "Deleted doomed."
        assert "doomed" not in await page.locator("#testsets-table").inner_text()
        response = await page.goto(f"/projects/{world.a.project_id}/testsets/{doomed.id}")
        assert response is not None and response.status == 404
        response = await page.goto(f"/projects/{world.a.project_id}/runs/{world.a.runs[0]}")  # others' runs stay
        assert response is not None and response.status == 200


async def test_a_write_key_has_no_keys_page(page: Page, world: ConsoleWorld) -> None:
    assert await page.locator("nav .sections a[href$='/keys']").count() == 0
    response = await page.goto(f"/projects/{world.a.project_id}/keys")
    assert response is not None and response.status == 403
    assert "admin role" in await page.locator("main").inner_text()


async def test_the_instance_admin_creates_a_project_from_the_projects_page(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with visitor(browser, stack.console_url, stack.admin_key) as page:
        await page.goto("/")
        await page.click("text=New project")
        await page.fill("#new-project-form input[name=name]", "console C")
        await page.fill("#new-project-form input[name=description]", "made in the browser")
        await page.click("#new-project-form button[type=submit]")
        await page.wait_for_url("**/projects/*/keys")
        project_id = page.url.split("/projects/")[1].split("/")[0]
        assert await page.locator("#keys-table tbody").inner_text() == "No keys yet."
        async with stack.client() as instance:
            made = {p.id: p for p in await instance.list_projects()}[project_id]
        assert (made.name, made.description) == ("console C", "made in the browser")


async def test_a_reviewer_scores_a_human_metric_on_the_record_page(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client(world.a.key) as client:
        human = await client.create_metric(world.a.project_id, "helpfulness", eval_type="human", output_type="int")
        run = await client.create_run(
            world.a.project_id, world.a.ids.testset_id, world.a.ids.system_version_id, [human.id], notes="review me"
        )
        for _ in range(200):
            view: qpb.RunView = await client.get_run(run.id)
            if view.status == "awaiting_human_scoring":
                break
            await page.wait_for_timeout(100)
        completed = [r async for r in client.records(run.id) if r.status == "completed"]
        errored = [r async for r in client.records(run.id) if r.status == "errored"]
        record = completed[0]
    # An errored record has nothing to review: no form, and its scores say why there are none.
    await page.goto(f"/projects/{world.a.project_id}/records/{errored[0].id}")
    assert await page.locator("form.review-form").count() == 0
    assert "this record errored" in await page.locator("#no-review").inner_text()
    assert "the system's call errored" in await page.locator(f"#scores tr[data-metric='{human.id}']").inner_text()
    await page.goto(f"/projects/{world.a.project_id}/records/{record.id}")
    form = page.locator("form.review-form")
    await form.locator("select[name=value]").select_option("4")
    await form.locator("input[name=reviewer]").fill("ada")
    await form.locator("textarea[name=comment]").fill("clear and right")
    await form.locator("button[type=submit]").click()
    await page.locator(".flash.ok").wait_for()
    row = page.locator(f"#scores tr[data-metric='{human.id}']")
    await row.locator("td.value", has_text="4").wait_for(timeout=15_000)  # refreshes in place
    assert "Reviewed by ada: “clear and right”" in await row.locator("td.reasoning").inner_text()
    await screenshot(page, "record-review")
    # The browser reviews as ada from now on: the next record's form and the review queues say so.
    await page.goto(f"/projects/{world.a.project_id}/records/{completed[1].id}")
    assert await page.locator("form.review-form input[name=reviewer]").input_value() == "ada"
    await page.goto(f"/projects/{world.a.project_id}/review")
    assert await page.locator("#reviewer-form input[name=reviewer]").input_value() == "ada"


async def test_a_metric_is_archived_from_its_page_and_brought_back(
    page: Page, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client(world.a.key) as client:
        retired = await client.create_heuristic_metric(
            world.a.project_id, "retired check", "contains", {"expected_field": "answer"}
        )
        group = await client.catalog.CreateMetricGroup(
            cpb.CreateMetricGroupRequest(
                project_id=world.a.project_id, name="retiring group", metric_ids=[world.a.ids.metric_ids[0], retired.id]
            )
        )
    here = f"/projects/{world.a.project_id}/metrics/{retired.id}"
    await page.goto(here)
    assert await page.locator("#archived-banner").count() == 0
    await page.click("#archive-metric button[type=submit]")
    await page.locator("#archived-banner").wait_for()
    assert (await page.locator("#archived-banner p").inner_text()).startswith("Archived ")
    assert await page.locator("#archive-metric").count() == 0
    await screenshot(page, "metric-archived")
    async with stack.client(world.a.key) as client:
        assert (await client.get_metric(retired.id)).metric.archived_at

    await page.goto(f"/projects/{world.a.project_id}/metrics")
    assert "retired check" not in await page.locator("#metrics-table").inner_text()
    assert re.fullmatch(r"Archived metrics \(\d+\)", await page.locator("#archived-toggle").inner_text())
    member = page.locator("#metric-groups li", has_text="retiring group")
    assert "retired check (archived: left out)" in await member.inner_text()
    assert await page.locator(f"#metric-group-form input[value='{retired.id}']").count() == 0
    await page.click("#archived-toggle")
    await page.wait_for_url("**/metrics?archived=1")
    assert await page.locator("h1").inner_text() == "Archived metrics"
    assert "retired check" in await page.locator("#metrics-table tbody").inner_text()
    await screenshot(page, "metrics-archived")
    # Not offered for a run; the group kicks off without it.
    await page.goto(f"/projects/{world.a.project_id}/kickoff")
    assert await page.locator(f"input[name=metric_id][value='{retired.id}']").count() == 0
    assert await page.locator(f"select[name=metric_group_id] option[value='{group.id}']").count() == 1

    await page.goto(here)
    await page.click("#unarchive-metric button[type=submit]")
    await page.locator("#archive-metric").wait_for()
    assert await page.locator("#archived-banner").count() == 0
    await page.goto(f"/projects/{world.a.project_id}/metrics")
    assert "retired check" in await page.locator("#metrics-table").inner_text()


async def test_an_expired_key_is_listed_as_such_and_signing_in_with_it_says_when_it_expired(
    browser: Browser, stack: Stack, world: ConsoleWorld
) -> None:
    async with stack.client() as instance:
        admin_key = (await instance.create_api_key(world.a.project_id, "keys admin", "admin")).secret
        lapsed = await instance.create_api_key(world.a.project_id, "lapsed contractor", "write", expires_in_days=1)
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 hour' WHERE id = $1", lapsed.key.id)
    finally:
        await conn.close()
    async with visitor(browser, stack.console_url, admin_key) as page:
        await page.goto(f"/projects/{world.a.project_id}/keys")
        row = page.locator("#keys-table tr", has_text="lapsed contractor")
        assert (await row.locator(".chip").inner_text()).startswith("expired 20")
        assert await row.locator("details.revoke").count() == 0  # nothing left to revoke
    context, refused = await signed_in(browser, stack.console_url, lapsed.secret)
    try:
        said = await refused.locator("[role=alert]").inner_text()
        assert re.fullmatch(
            r"The API key expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; ask the project's admin for a new one\.", said
        ), said
    finally:
        await context.close()


async def test_several_runs_side_by_side(page: Page, stack: Stack, world: ConsoleWorld) -> None:
    async with stack.client(world.a.key) as client:
        third = await client.create_run(
            world.a.project_id, world.a.ids.testset_id, world.a.ids.system_version_id, world.a.ids.metric_ids
        )
        for _ in range(300):
            if (await client.get_run(third.id)).status == "completed":
                break
            await page.wait_for_timeout(100)
    runs = [*world.a.runs, third.id]
    async with stack.sdk(world.a.key) as sdk:
        expected = await sdk.compare_run_matrix(runs)
    await page.goto(f"/projects/{world.a.project_id}/compare")
    await page.click("#matrix-link")
    await page.wait_for_url("**/compare/matrix")
    assert await page.locator(".flash.error").count() == 0
    # A run's page opens the picker with that run ticked; one run alone is refused.
    await page.goto(f"/projects/{world.a.project_id}/runs/{runs[0]}")
    await page.click("#side-by-side")
    await page.wait_for_url(f"**/compare/matrix?run={runs[0]}")
    pick = page.locator("#matrix-pick")
    assert await pick.locator(f"input[value='{runs[0]}']").is_checked()
    assert await page.locator(".flash.error").count() == 0
    await pick.locator("button[type=submit]").click()
    await page.locator(".flash.error").wait_for()
    assert await page.locator(".flash.error").inner_text() == "Tick two runs or more, of the same testset."
    for run_id in runs[1:]:
        await page.locator(f"#matrix-pick input[value='{run_id}']").check()
    await page.locator("#matrix-pick button[type=submit]").click()
    await page.locator("#matrix-table").wait_for()
    headers = page.locator("#matrix-table th.matrix-run")
    assert await headers.evaluate_all("cells => cells.map(c => c.dataset.run)") == runs
    assert await page.locator("#matrix-counts").inner_text() == (
        f"{expected.testcases_compared} testcases · the runs part on {expected.testcases_differing}"
    )
    rows = page.locator("#matrix-table tbody tr[data-testcase]")
    assert await rows.count() == min(expected.testcases_compared, 25)
    assert await rows.first.locator("td.matrix-cell").count() == 3
    await screenshot(page, "runs-side-by-side")
    await page.click("#differing-toggle")
    await page.wait_for_url("**differing=1**")
    shown = await rows.count()
    assert shown == min(expected.testcases_differing, 25)
    assert await page.locator("#matrix-table tbody tr.differs").count() == shown
