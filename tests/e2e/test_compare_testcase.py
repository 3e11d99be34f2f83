"""One testcase in two runs side by side (the compare page's testcase link), on the real processes:
CompareRuns of that testcase alone, each run's output trial by trial with the words only one of
them has marked, each record's scores; an id that is not one, or in neither run."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from playwright.async_api import Page, expect

from scorekeeper_sdk import AsyncScorekeeper, RecordIn
from scorekeeper_sdk.views import ComparedNeighbours
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.sdk_projects import qa_project

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROWS = [{"question": "Capital of Japan?", "answer": "Tokyo"}, {"question": "Capital of France?", "answer": "Paris"}]


async def place(page: Page) -> str:
    """Where the side-by-side page says its testcase stands in the comparison."""
    return " ".join((await page.locator("#testcase-place").inner_text()).split())


async def test_a_testcase_in_both_runs_shows_the_words_that_changed(stack: Stack, sk: AsyncScorekeeper) -> None:
    qa = await qa_project(sk, "side by side", ROWS)
    japan, france = qa.cases["Capital of Japan?"], qa.cases["Capital of France?"]
    # A answers both right once; B twice each, Japan wrong in its first trial and right in its second.
    answers = {"A": [["Tokyo", "Paris"]], "B": [["Kyoto, I think", "Paris"], ["Tokyo", "Paris"]]}
    runs = {}
    for name, trials in answers.items():
        run = await qa.run(sk, trials=len(trials))
        records = [
            RecordIn(case, trial=t, outputs={"response": said}, latency_ms=100.0 * (t + 1))
            for t, said_per_case in enumerate(trials)
            for case, said in zip((japan, france), said_per_case, strict=True)
        ]
        await sk.ingest_records(run.id, records)
        await sk.wait_for_run(run.id, timeout_s=60)
        runs[name] = run.id

    # CompareRuns of one testcase: its changes, and the counts of it alone.
    alone = await sk.compare_runs(runs["B"], runs["A"], testcase_ids=[japan], with_usage=True)
    assert [t.testcase_id for t in alone.testcases] == [japan] and alone.testcases_compared == 1
    [exact] = alone.metrics
    assert (exact.regressions, exact.unchanged, exact.baseline_mean, exact.mean) == (1, 0, 1.0, 0.5)
    assert alone.baseline_usage is not None and alone.usage is not None
    assert (alone.baseline_usage.records, alone.usage.records) == (1, 2)  # its records alone
    assert (await sk.compare_runs(runs["B"], runs["A"], testcase_ids=[japan, france])).testcases_compared == 2
    # Where a testcase stands, the largest drop first: Japan, then France.
    ordered = await sk.compare_runs(runs["B"], runs["A"], order_by="delta", around_testcase_id=france)
    assert ordered.around is not None and ordered.around.page_token
    assert ordered.around == ComparedNeighbours(
        previous_testcase_id=japan, position=2, listed=2, page_token=ordered.around.page_token
    )
    resumed = await sk.compare_runs(runs["B"], runs["A"], order_by="delta", page_token=ordered.around.page_token)
    assert [t.testcase_id for t in resumed.testcases] == [france]
    assert alone.around is None
    with pytest.raises(Exception, match="testcase_ids may hold at most 100 ids, got 101"):
        await sk.compare_runs(runs["B"], runs["A"], testcase_ids=[str(uuid.uuid4()) for _ in range(101)])

    # The same in a terminal.
    shown = scorekeeper(stack, "--project", qa.project.id, "runs", "compare", runs["A"], runs["B"], "--testcase", japan)
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert lines[0] == f"testcase {japan}: {runs['A']} (A) → {runs['B']} (B)"
    assert "exact: 1.0 → 0.5 (regression)" in lines and "latency 100 ms → 150 ms (+50%)" in lines
    trial = lines.index("trial 1: output")
    assert lines[trial + 2 : trial + 4] == ["Tokyo", "exact: pass — exact match: 'Tokyo'"]
    assert lines[trial + 5 : trial + 7] == [
        "Kyoto, I think",
        "exact: fail — expected 'Tokyo', got 'Kyoto, I think'",
    ]
    assert lines[lines.index("trial 2: output") + 1] == "A: no such trial"
    same = scorekeeper(stack, "--project", qa.project.id, "runs", "compare", runs["A"], runs["B"], "--testcase", france)
    assert "trial 1: output (the same in both runs)" in same.stdout
    as_json = scorekeeper(
        stack, "--project", qa.project.id, "runs", "compare", runs["A"], runs["B"], "--testcase", france, "--json"
    )
    assert [t["testcase_id"] for t in json.loads(as_json.stdout)["testcases"]] == [france]
    nowhere = scorekeeper(
        stack, "--project", qa.project.id, "runs", "compare", runs["A"], runs["B"], "--testcase", str(uuid.uuid4())
    )
    assert nowhere.returncode != 0 and "is in neither run" in nowhere.stderr

    base = f"/projects/{qa.project.id}/compare"
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"{base}?baseline={runs['A']}&run={runs['B']}&regressions=1")
        await page.locator(f"tr[data-testcase='{japan}'] a.testcase-link").click()
        await page.wait_for_url(
            f"**/compare/testcase?baseline={runs['A']}&run={runs['B']}&testcase={japan}&regressions=1"
        )
        # The only regressed testcase: nothing before or after it.
        assert await place(page) == "Testcase 1 of 1 regressed · by testcase"
        await expect(page.locator("#testcase-pager a")).to_have_count(0)
        changes = [" ".join(t.split()) for t in await page.locator("#testcase-changes li").all_inner_texts()]
        assert changes == ["exact pass → 50.0% regression", "latency 100 ms → 150 ms"]
        assert "Capital of Japan?" in await page.locator("#testcase-inputs").inner_text()
        # Trial 1: "Tokyo" against "Kyoto, I think", each side marking the words the other lacks.
        first = page.locator(".trial-pair[data-trial='0']")
        assert await first.locator("pre.word-diff").all_inner_texts() == ["Tokyo", "Kyoto, I think"]
        assert await first.locator(".side-a del").all_inner_texts() == ["Tokyo"]
        assert await first.locator(".side-b ins").all_inner_texts() == ["Kyoto, I think"]
        verdicts = [" ".join(t.split()) for t in await first.locator("tr[data-metric] td.value").all_inner_texts()]
        assert verdicts == ["pass", "fail"]
        # Trial 2: only B has it.
        second = page.locator(".trial-pair[data-trial='1']")
        assert await second.locator(".side-a .not-in-run").inner_text() == "Not in A: this run has no such trial."
        assert await second.locator(".side-b pre.word-diff").inner_text() == "Tokyo"
        assert await second.locator(".side-b ins").count() == 0
        await screenshot(page, "compare-testcase")
        await page.click("#back-to-compare")
        # Back where it stands: listed first, so on the first page, its row marked.
        await page.wait_for_url(f"**{base}?baseline={runs['A']}&run={runs['B']}&regressions=1#testcase-{japan}")
        await expect(page.locator("#compare-table tr:target")).to_have_attribute("data-testcase", japan)
        assert await page.locator("#listed-range").inner_text() == "Testcase 1 of 1 regressed"

        # Every testcase, the largest drop first: Japan (1.0 → 0.5), then France (unchanged); the
        # next and previous testcase by link or key (j / k), the order kept.
        await page.goto(f"{base}?baseline={runs['A']}&run={runs['B']}&order=delta")
        await page.locator(f"tr[data-testcase='{japan}'] a.testcase-link").click()
        pair = f"baseline={runs['A']}&run={runs['B']}"
        await page.wait_for_url(f"**/compare/testcase?{pair}&testcase={japan}&order=delta")
        assert await place(page) == "Testcase 1 of 2 · largest drop first"
        await expect(page.locator("#testcase-pager a[rel=prev]")).to_have_count(0)
        # The next one is fetched ahead (a speculation rule), while this one is read.
        next_url = await page.locator("#testcase-pager a[rel=next]").get_attribute("href")
        rule = json.loads(await page.locator("script#prefetch-next").text_content() or "")
        assert rule == {"prefetch": [{"source": "list", "urls": [next_url]}]}
        await page.locator("#testcase-pager a[rel=next]").click()
        await page.wait_for_url(f"**/compare/testcase?{pair}&testcase={france}&order=delta")
        assert await place(page) == "Testcase 2 of 2 · largest drop first"
        await expect(page.locator("#testcase-pager a[rel=next]")).to_have_count(0)
        await expect(page.locator("script#prefetch-next")).to_have_count(0)  # the last: nothing ahead
        await screenshot(page, "compare-testcase-next")
        await page.keyboard.press("k")
        await page.wait_for_url(f"**/compare/testcase?{pair}&testcase={japan}&order=delta")
        await page.keyboard.press("j")
        await page.wait_for_url(f"**/compare/testcase?{pair}&testcase={france}&order=delta")
        await page.click("#back-to-compare")
        # France is second: the comparison opens at it (the page that starts with it), the first
        # page a link away.
        await page.wait_for_url(f"**{base}?{pair}&order=delta&token=*#testcase-{france}")
        listed = page.locator("#compare-table tbody tr[data-testcase]")
        await expect(listed).to_have_count(1)
        assert await listed.get_attribute("data-testcase") == france
        await expect(page.locator("#compare-table tr:target")).to_have_attribute("data-testcase", france)
        assert await page.locator("#listed-range").inner_text() == "Testcase 2 of 2"
        await screenshot(page, "compare-back-at-testcase")
        await page.get_by_role("link", name="« First page").click()
        await expect(listed).to_have_count(2)
        assert await page.locator("#listed-range").inner_text() == "Testcases 1–2 of 2"
        # France did not regress: not one of the regressed testcases, nothing before or after it.
        await page.goto(f"{base}/testcase?{pair}&testcase={france}&regressions=1")
        assert await place(page) == "Not one of the 1 regressed · by testcase"
        await expect(page.locator("#testcase-pager a")).to_have_count(0)

        # Outputs the same in both runs: said so, nothing marked.
        await page.goto(f"{base}/testcase?baseline={runs['A']}&run={runs['B']}&testcase={france}")
        heading = " ".join((await page.locator(".trial-pair[data-trial='0'] h2").inner_text()).split())
        assert heading == "Trial 1: Output (the same in both runs)"
        assert await page.locator("pre.word-diff ins, pre.word-diff del").count() == 0

        # The run page's "Compare with the previous run": B against A, the newest earlier run.
        await page.goto(f"/projects/{qa.project.id}/runs/{runs['B']}")
        # Each metric against the previous run: A passed both, B 3 of its 4 records.
        moved = page.locator(f"#aggregates tr[data-metric='{exact.metric_id}'] td.moved")
        assert " ".join((await moved.inner_text()).split()) == "-25.0 points"
        assert await moved.locator(".worse").count() == 1
        assert await page.locator("#vs-previous a").get_attribute("href") == (
            f"{base}?baseline={runs['A']}&run={runs['B']}&regressions=1&order=delta"
        )
        # Its testcases against the previous run, loaded after the page: Japan regressed.
        against = page.locator("#testcases-vs-previous")
        await expect(against.locator("#regressed-count")).to_have_text(
            "1 of 2 testcases regressed · exact: 1 regressed, 0 improved · all on the compare page"
        )
        regressed = against.locator(".regressed-list li")
        await expect(regressed).to_have_count(1)
        assert " ".join((await regressed.inner_text()).split()) == (
            f"{japan[:8]} Capital of Japan? — exact pass → 50.0%"
        )
        assert await regressed.locator("a").get_attribute("href") == (
            f"{base}/testcase?baseline={runs['A']}&run={runs['B']}&testcase={japan}&regressions=1&order=delta"
        )
        assert await against.locator("#every-regressed").get_attribute("href") == (
            f"{base}?baseline={runs['A']}&run={runs['B']}&regressions=1&order=delta"
        )
        await screenshot(page, "run-vs-previous")
        await page.locator("#compare-previous").click()
        await page.wait_for_url(f"**{base}?baseline={runs['A']}&run={runs['B']}")
        assert await page.locator("#compare-table tbody tr[data-testcase]").count() == 2
        await page.goto(f"/projects/{qa.project.id}/runs/{runs['A']}")  # the first run: none before it
        await expect(page.locator("#vs-previous")).to_have_count(0)
        await expect(page.locator("#testcases-vs-previous")).to_have_count(0)
        await page.locator("#compare-previous").click()
        await page.wait_for_url(f"**{base}?baseline=previous&run={runs['A']}")
        assert (await page.locator("p.flash.error").inner_text()).startswith(
            "There is no earlier run of this testset with scores to compare with"
        )
        assert await page.locator("select[name=run]").input_value() == runs["A"]

        # A testcase id that is not one, or in neither run; a run of another project.
        url = f"{base}/testcase?baseline={runs['A']}&run={runs['B']}&testcase="
        response = await page.goto(url + "nope")
        assert response is not None and response.status == 400
        assert "testcase_ids 'nope' is not a valid id" in await page.locator("main").inner_text()
        response = await page.goto(url + str(uuid.uuid4()))
        assert response is not None and response.status == 404
        other = await qa_project(sk, "elsewhere", ROWS)
        response = await page.goto(
            f"/projects/{other.project.id}/compare/testcase?baseline={runs['A']}&run={runs['B']}&testcase={japan}"
        )
        assert response is not None and response.status == 404


async def _reviewing(sk: AsyncScorekeeper, run_id: str) -> None:
    """Until the run waits for its reviewers (its records and machine scores all in)."""
    for _ in range(600):
        if (await sk.get_run(run_id)).status == "awaiting_human_scoring":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never waited for reviewers")


async def test_a_run_waiting_for_reviewers_lists_its_testcases_against_the_previous_run(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    qa = await qa_project(sk, "reviewed", ROWS)
    japan, france = qa.cases["Capital of Japan?"], qa.cases["Capital of France?"]
    human = await sk.create_metric(qa.project.id, "helpful", eval_type="human", output_type="boolean")
    runs = {}
    for name, said in {"A": ("Tokyo", "Paris"), "B": ("Kyoto", "Paris")}.items():
        run = await sk.create_run(qa.project.id, qa.testset.id, qa.version.id, [qa.exact.id, human.id])
        await sk.ingest_records(
            run.id, [RecordIn(case, outputs={"response": a}) for case, a in zip((japan, france), said, strict=True)]
        )
        await _reviewing(sk, run.id)
        runs[name] = run.id
    assert (await sk.get_run(runs["B"])).previous_run_id == runs["A"]  # waiting for reviewers: it has scores

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url.split("?")[0].rsplit("/", 1)[-1]))
        await page.goto(f"/projects/{qa.project.id}/runs/{runs['B']}")
        # Its machine scores are in: Japan regressed on exact, whatever the reviewers will say.
        against = page.locator("#testcases-vs-previous")
        await expect(against.locator("#regressed-count")).to_have_text(
            "1 of 2 testcases regressed · exact: 1 regressed, 0 improved · all on the compare page"
        )
        assert [li.split()[0] for li in await against.locator(".regressed-list li").all_inner_texts()] == [japan[:8]]
        # The page follows the reviews (a poll a second); the comparison and the steps stay as loaded.
        await expect(page.locator("#run-progress")).to_have_attribute("data-status", "awaiting_human_scoring")
        polls = asked.count("progress")
        while asked.count("progress") < polls + 3:
            await asyncio.sleep(0.2)
        assert (asked.count("vs-previous"), asked.count("steps")) == (1, 1)
        await expect(against.locator("#regressed-count")).to_have_count(1)
        await screenshot(page, "run-reviewing-vs-previous")

        # The reviews done, the run completes: both are read once more, for the finished run.
        async for record in sk.list_records(runs["B"]):
            await sk.submit_human_score(record.id, human.id, True, reviewer="ann")
        await expect(page.locator("#run-progress")).to_have_attribute("data-status", "completed", timeout=30_000)
        await expect(against.locator("#regressed-count")).to_have_text(
            "1 of 2 testcases regressed · exact: 1 regressed, 0 improved · all on the compare page"
        )
        for _ in range(100):
            if (asked.count("vs-previous"), asked.count("steps")) == (2, 2):
                break
            await asyncio.sleep(0.1)
        assert (asked.count("vs-previous"), asked.count("steps")) == (2, 2)
