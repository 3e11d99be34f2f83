"""The baseline "previous" on the real processes: the newest earlier run of the same testset with
scores (of the runs with some tags when asked) — the SDK's previous_run, `scorekeeper eval --baseline
previous` in CI (the first run has none: the gates on it are skipped and said so), `runs compare
previous RUN`, `runs breakdown` / `runs slices --baseline previous`."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from scorekeeper_sdk import AsyncScorekeeper
from shared.devstack.stack import Stack
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

# sdk_bots.right answers every one; sdk_bots.answer answers n = 5 wrong.
ROWS = [{"n": n, "answer": str(n + 1), "kind": "five" if n == 5 else "other"} for n in range(1, 7)]
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
    page = f"/projects/{project.id}/compare?baseline={main.id}&run={branch_run.id}&regressions=1&order=delta"
    assert compared.stdout.splitlines()[-1] == f"compare page: {stack.console_url}{page}"
    alone = cli("runs", "compare", "previous", main.id)
    assert alone.returncode == 2
    assert said(alone.stderr) == f"error: previous: {NONE_BEFORE} run {main.id}"
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
