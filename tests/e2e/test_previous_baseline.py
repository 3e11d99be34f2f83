"""The baseline "previous" on the real processes: the newest earlier run of the same testset with
scores (of the runs with some tags when asked) — the SDK's previous_run, `scorekeeper eval --baseline
previous` in CI (the first run has none: the gates on it are skipped and said so), `runs compare
previous RUN`, `runs breakdown` / `runs slices --baseline previous`."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from playwright.async_api import expect

from scorekeeper_sdk import AsyncScorekeeper, RecordIn
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.sdk_projects import qa_project

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

# sdk_bots.right answers every one; sdk_bots.answer answers n = 5 wrong.
ROWS = [{"n": n, "answer": str(n + 1), "kind": "five" if n == 5 else "other"} for n in range(1, 7)]
QA_ROWS = [{"question": "Capital of Japan?", "answer": "Tokyo"}, {"question": "Capital of France?", "answer": "Paris"}]
NONE_BEFORE = 'no earlier run of testset "numbers" with scores (completed or waiting for reviewers) before'


def said(text: str) -> str:
    return " ".join(text.split())


async def test_ci_compares_with_the_previous_run(stack: Stack, sk: AsyncScorekeeper, tmp_path: Path) -> None:
    project = await sk.create_project(f"previous {uuid.uuid4().hex[:6]}")
    testset = await sk.create_testset(project.id, "numbers", ROWS, inputs=["n"], expected=["answer"], metadata=["kind"])
    exact = {"kind": "exact_match", "params": {"expected_field": "answer"}}
    await sk.create_metric(project.id, "exact", eval_type="heuristic", heuristic=exact)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return scorekeeper(stack, "--project", project.id, *args)

    def evaluate(bot: str, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(
            "eval", "--testset", "numbers", "--metric", "exact", "--source", "api", "--callable",
            f"tests.support.sdk_bots:{bot}", "--baseline", "previous", *args,
        )  # fmt: skip

    # The first run of the testset: nothing before it. The gates on a baseline are skipped, said so.
    summary = tmp_path / "first.md"
    first = evaluate(
        "right", "--tag", "main", "--fail-on-regressions", "--fail-above", "latency=+50%", "--summary-md", str(summary)
    )
    assert first.returncode == 0, first.stderr
    assert (
        f"--baseline previous: {NONE_BEFORE} this run; skipped: --fail-on-regressions,"
        " --fail-above latency <= +50% of the baseline's"
    ) in said(first.stderr)
    assert f"No baseline to compare with: {NONE_BEFORE} this run." in summary.read_text()
    main = await anext(sk.list_runs(project.id))
    assert await sk.previous_run(main.id) is None

    # A branch's run: against the main run, it regressed on n = 5 and fails its gate.
    summary = tmp_path / "branch.md"
    branch = evaluate("answer", "--tag", "pr-7", "--fail-on-regressions", "--summary-md", str(summary))
    assert branch.returncode == 1, branch.stderr
    assert f"baseline: {main.id}, the previous run (" in said(branch.stderr)
    assert "FAIL regressed testcases: exact: 1" in said(branch.stdout)
    assert f"Against baseline {main.id} (6 testcases)" in summary.read_text()
    [five] = [t.id async for t in sk.list_testcases(testset.id) if t.inputs["n"] == 5]
    assert f"regressed: testcase {five}: exact 1.0 → 0.0" in said(branch.stdout)  # the largest drops, first
    # In the summary, linked to the testcase side by side.
    assert "Regressed testcases, the largest drop first:" in summary.read_text()
    assert f"testcase={five}&regressions=1&order=delta) | 5 | exact 1 → 0 |" in summary.read_text()
    runs = [r async for r in sk.list_runs(project.id)]
    branch_run = runs[0]
    page = f"/projects/{project.id}/compare?baseline={main.id}&run={branch_run.id}&regressions=1&order=delta"
    assert f"compare page: {stack.console_url}{page}" in branch.stdout.splitlines()
    assert [r.id for r in runs] == [branch_run.id, main.id]
    found = await sk.previous_run(branch_run.id)
    assert found is not None and found.id == main.id
    assert (await sk.previous_run(branch_run.id, tags=["main"])).id == main.id  # type: ignore[union-attr]
    assert await sk.previous_run(branch_run.id, tags=["nightly"]) is None

    # The next run of the branch compares with the newest earlier run: the branch's own, unless
    # --baseline-tag main picks the main branch's.
    again = evaluate("answer", "--fail-on-regressions")
    assert again.returncode == 0, again.stderr
    assert f"baseline: {branch_run.id}, the previous run" in said(again.stderr)
    tagged = evaluate("answer", "--fail-on-regressions", "--baseline-tag", "main")
    assert tagged.returncode == 1, tagged.stderr
    assert f"baseline: {main.id}, the previous run" in said(tagged.stderr)
    none_tagged = evaluate("answer", "--fail-if-worse", "--baseline-tag", "nightly")
    assert none_tagged.returncode == 0, none_tagged.stderr
    assert (
        '--baseline previous: no earlier run of testset "numbers" tagged nightly with scores'
        " (completed or waiting for reviewers) before this run; skipped: --fail-if-worse"
    ) in said(none_tagged.stderr)

    # runs compare / breakdown / slices: previous for the baseline.
    compared = cli("runs", "compare", "previous", branch_run.id)
    assert compared.returncode == 0, compared.stderr
    assert f"baseline: {main.id}, the previous run" in said(compared.stderr)
    assert f"{branch_run.id} against baseline {main.id}: 6 testcases compared" in said(compared.stdout)
    assert compared.stdout.splitlines()[-1] == f"compare page: {stack.console_url}{page}"
    alone = cli("runs", "compare", "previous", main.id)
    assert alone.returncode == 2
    assert said(alone.stderr) == f"error: previous: {NONE_BEFORE} run {main.id}"
    # runs show: the run, then against its previous run (as the run page shows it).
    shown = cli("runs", "show", branch_run.id)
    assert shown.returncode == 0, shown.stderr
    lines = [said(line) for line in shown.stdout.splitlines()]
    assert lines[0] == f"run {branch_run.id}: completed Completed: 6 records, every score in."
    at = lines.index("against it: 6 testcases compared, 1 regressed")
    assert lines[at - 1].startswith(f"previous run: {main.id} (")
    assert f"regressed: testcase {five}: exact 1.0 → 0.0" in lines
    assert lines[-1] == f"compare page: {stack.console_url}{page}"
    as_json = json.loads(cli("runs", "show", branch_run.id, "--json").stdout)
    assert (as_json["run"]["id"], as_json["previous_run_id"]) == (branch_run.id, main.id)
    assert [t["testcase_id"] for t in as_json["against_previous"]["testcases"]] == [five]
    # runs list: each run's change against its previous run, as the console's list shows it.
    listed = [said(line) for line in cli("runs", "list").stdout.splitlines()]
    assert any(branch_run.id[:8] in line and "exact 83% (-16.7)" in line for line in listed), listed
    assert any(main.id[:8] in line and "exact 100% │" in line for line in listed), listed
    first_shown = cli("runs", "show", main.id)
    assert first_shown.returncode == 0 and "previous run: none: no earlier run with scores" in said(first_shown.stdout)
    unknown = cli("runs", "show", str(uuid.uuid4()))
    assert unknown.returncode != 0 and "does not exist" in said(unknown.stderr)
    misused = cli("runs", "compare", main.id, branch_run.id, "--baseline-tag", "main")
    assert misused.returncode == 2
    assert "--baseline-tag picks the previous run among those tagged: give --baseline previous" in said(misused.stderr)
    broken_down = cli("runs", "breakdown", branch_run.id, "metadata.kind", "--baseline", "previous")
    assert broken_down.returncode == 0, broken_down.stderr
    assert "100.0% of 1 → 0.0% of 1" in said(broken_down.stdout)  # n = 5: passed in main, failed here
    sliced = cli(
        "runs", "slices", branch_run.id, "--baseline", "previous", "--baseline-tag", "main", "--min-records", "1"
    )  # fmt: skip
    assert sliced.returncode == 0, sliced.stderr
    assert f"baseline: {main.id}, the previous run" in said(sliced.stderr)
    refused = cli("eval", "--testset", "numbers", "--metric", "exact", "--callable", "x:y", "--baseline-tag", "main")
    assert refused.returncode == 2
    assert "--baseline-tag picks the previous run among those tagged: give --baseline previous" in said(refused.stderr)


async def test_each_run_names_its_previous_run_and_the_runs_list_shows_the_change(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    qa = await qa_project(sk, "previous runs", QA_ROWS)
    other = await sk.create_testset(qa.project.id, "other", QA_ROWS, inputs=["question"], expected=["answer"])

    async def run_answering(*answers: str) -> str:
        run = await qa.run(sk)
        records = [
            RecordIn(qa.cases[row["question"]], outputs={"response": said})
            for row, said in zip(QA_ROWS, answers, strict=True)
        ]
        await sk.ingest_records(run.id, records)
        await sk.wait_for_run(run.id, timeout_s=60)
        return str(run.id)

    first = await run_answering("Tokyo", "Paris")  # 100%
    cancelled = (await sk.cancel_run((await qa.run(sk)).id)).id  # no scores: never anyone's previous
    archived = await run_answering("Tokyo", "Lyon")
    await sk.archive_run(archived)  # left out of the lists: never anyone's previous
    latest = await run_answering("Kyoto", "Paris")  # 50%
    elsewhere = await sk.create_run(qa.project.id, other.id, qa.version.id, [qa.exact.id])
    expected = {first: "", cancelled: first, archived: first, latest: first, elsewhere.id: ""}
    assert {r: (await sk.get_run(r)).previous_run_id for r in expected} == expected
    listed = {r.id: r.previous_run_id async for r in sk.list_runs(qa.project.id)}
    assert listed == {r: p for r, p in expected.items() if r != archived}
    found = await sk.previous_run(latest)
    assert found is not None and found.id == first

    # The runs list: the latest run's chip says its change against the first, and links the comparison.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{qa.project.id}/runs")
        row = page.locator(f"tr[data-run='{latest}']")
        assert await row.locator(".score-chip .moved.worse").inner_text() == "-50.0"
        assert "-50.0 points against the previous run (100.0%)" in (
            await row.locator(".score-chip").get_attribute("title") or ""
        )
        await expect(page.locator(f"tr[data-run='{first}'] .moved")).to_have_count(0)
        await expect(page.locator(f"tr[data-run='{cancelled}'] .moved")).to_have_count(0)
        await screenshot(page, "runs-vs-previous")
        await row.locator("a.vs-previous").click()
        await page.wait_for_url(
            f"**/projects/{qa.project.id}/compare?baseline={first}&run={latest}&regressions=1&order=delta"
        )
        await expect(page.locator("#compare-table tbody tr[data-testcase]")).to_have_count(1)
