"""The `scorekeeper` command as a subprocess against the real services: each command's output and
exit code, the CI gate on either side of its threshold, JUnit XML read back, exports round-tripped,
and one-line errors with exit 2 (bad key, unknown run, malformed file) or 3 (cancelled run)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, TestSuite

from scorekeeper_sdk import RecordIn, Scorekeeper
from shared.devstack.stack import Stack
from tests.support.monitors import receiver

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
SCOREKEEPER = str(Path(sys.executable).parent / "scorekeeper")
ROWS = 20  # n = 0..19: the bot is wrong on 0, 5, 10, 15 and raises on 7 → 15 of 19 scored pass


@dataclass
class Cli:
    home: Path
    url: str
    query_url: str
    key: str = ""
    # Set: the key and addresses come from the environment, whatever `login` saved.
    env_key: str = ""

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("SCOREKEEPER_")}
        env = {**keep, "HOME": str(self.home), "SCOREKEEPER_CONFIG": str(self.home / "config.toml"), "COLUMNS": "200"}
        if self.env_key:
            env |= {
                "SCOREKEEPER_API_KEY": self.env_key,
                "SCOREKEEPER_URL": self.url,
                "SCOREKEEPER_QUERY_URL": self.query_url,
            }
        return env

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCOREKEEPER, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=self.env(), timeout=300
        )


def last_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """eval reports progress on stderr too: its error is the one last line, with no traceback."""
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:] and "Traceback" not in result.stderr
    return lines[-1]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(tmp_path_factory.mktemp("home"), f"grpc://{stack.orchestrator_grpc}", f"grpc://{stack.query_grpc}")


@dataclass
class Own:
    """The CLI with an admin key of a project of its own."""

    cli: Cli
    project: str


@pytest.fixture
async def own(stack: Stack, cli: Cli) -> Own:
    """A project for one test: what it adds (metrics, testsets, runs) leaves the module's project as
    the other tests know it."""
    async with stack.client() as admin:
        made = await admin.create_project(f"cli own {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(made.id, "own", "admin")).secret
    return Own(dataclasses.replace(cli, key=key, env_key=key), made.id)


@pytest.fixture(scope="module")
async def project(stack: Stack, cli: Cli) -> str:
    async with stack.client() as admin:
        created = await admin.create_project(f"cli {uuid.uuid4().hex[:6]}")
        cli.key = (await admin.create_api_key(created.id, "cli", "admin")).secret
        await admin.create_heuristic_metric(created.id, "exact", "exact_match", {"expected_field": "answer"})
    return created.id


def test_login_checks_the_key_and_saves_it_readable_by_the_owner_only(cli: Cli, project: str) -> None:
    bad = cli("login", "--url", cli.url, "--query-url", cli.query_url, stdin="sk_nope\n")
    assert bad.returncode == 2 and one_error_line(bad) == "error: the API key is not valid"
    assert not (cli.home / "config.toml").exists()
    done = cli("login", "--url", cli.url, "--query-url", cli.query_url, stdin=cli.key + "\n")
    assert done.returncode == 0, done.stderr
    assert f"logged in to {cli.url} with key" in done.stdout and f"(admin, project {project})" in done.stdout
    config = cli.home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert f'api_key = "{cli.key}"' in config.read_text()
    listed = cli("projects", "list", "--json")
    assert listed.returncode == 0 and [p["id"] for p in json.loads(listed.stdout)] == [project]
    # The saved settings serve the Python SDK too.
    os.environ["SCOREKEEPER_CONFIG"] = str(config)
    try:
        with Scorekeeper() as client:
            assert client.who_am_i().project_id == project
    finally:
        del os.environ["SCOREKEEPER_CONFIG"]


def test_testsets_import_export_round_trip_and_malformed_files(cli: Cli, project: str, tmp_path: Path) -> None:
    source = tmp_path / "qa.jsonl"
    source.write_text(
        "".join(json.dumps({"question": f"{n} + 1?", "n": n, "answer": str(n + 1)}) + "\n" for n in range(ROWS))
    )
    made = cli("testsets", "import", str(source), "--name", "qa", "--inputs", "question,n", "--expected", "answer")
    assert made.returncode == 0, made.stderr
    assert f"imported {ROWS} testcases into 'qa'" in made.stdout
    assert f"version 1: {ROWS} testcases, 0 invalid" in made.stdout  # one version: the file
    exported = tmp_path / "qa.csv"
    out = cli("testsets", "export", "qa", "-o", str(exported))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(exported.open()))
    assert [(r["question"], r["answer"]) for r in rows] == [(f"{n} + 1?", str(n + 1)) for n in range(ROWS)]
    again = cli(
        "testsets", "import", str(exported), "--name", "qa copy", "--inputs", "question,n", "--expected", "answer"
    )
    assert again.returncode == 0 and f"imported {ROWS} testcases into 'qa copy'" in again.stdout
    copy = cli("testsets", "export", "qa copy")
    assert copy.returncode == 0 and copy.stdout == exported.read_text()
    listed = json.loads(cli("testsets", "list", "--json").stdout)
    assert {t["name"]: t["testcase_count"] for t in listed} == {"qa": ROWS, "qa copy": ROWS}

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "a", "n": 1, "answer": "2"}\n{"question": "b", "n": \n')
    bad = cli("testsets", "import", str(broken), "--testset", "qa")
    assert bad.returncode == 2
    assert one_error_line(bad) == "error: line 2: malformed JSON: Expecting value at column 24"
    bad_new = cli("testsets", "import", str(broken), "--name", "half", "--inputs", "question")
    assert one_error_line(bad_new) == "error: line 2: malformed JSON: Expecting value at column 24"
    assert [t["name"] for t in json.loads(cli("testsets", "list", "--json").stdout)] == ["qa copy", "qa"]
    missing = cli("testsets", "import", str(tmp_path / "nope.csv"), "--testset", "qa")
    assert missing.returncode == 2 and one_error_line(missing) == f"error: no such file: {tmp_path / 'nope.csv'}"

    # Looking inside: every testcase, a search, a limit.
    shown = json.loads(cli("testsets", "show", "qa", "--json", "--limit", "100").stdout)
    assert [t["data"]["question"] for t in shown] == [f"{n} + 1?" for n in range(ROWS)]
    found = json.loads(cli("testsets", "show", "qa", "--json", "--search", '"7 + 1"').stdout)
    assert [(t["position"], t["expected"]) for t in found] == [(7, {"answer": "8"})]
    first = cli("testsets", "show", "qa", "--limit", "3")
    assert (
        first.returncode == 0 and "qa v1" in first.stdout and "2 + 1?" in first.stdout and "3 + 1?" not in first.stdout
    )
    assert first.stderr.strip() == "the first 3 testcases of 'qa'; --limit shows more"
    none = cli("testsets", "show", "qa", "--search", "nowhere")
    assert (none.returncode, none.stdout, none.stderr.strip()) == (0, "", "no matching testcases in 'qa'")
    refused = cli("testsets", "show", "qa", "--search", "?!")
    assert refused.returncode == 2 and one_error_line(refused) == "error: search '?!' holds no word to look for"


def test_testsets_diff_names_what_changed_between_versions(own: Own, tmp_path: Path) -> None:
    cli, project = own.cli, own.project
    source = tmp_path / "diffed.jsonl"
    source.write_text("".join(json.dumps({"question": f"{n} + 1?", "answer": str(n + 1)}) + "\n" for n in range(4)))
    assert cli("testsets", "import", str(source), "--name", "diffed [v2]", "--inputs", "question").returncode == 0
    only = cli("testsets", "diff", "diffed [v2]")
    assert only.returncode == 2 and one_error_line(only).startswith("error: version 1 is the first version of testset")
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"question": "[x] + 1?", "answer": "?"}) + "\n")
    assert cli("testsets", "import", str(more), "--testset", "diffed [v2]").returncode == 0  # v2
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        testset = next(t for t in client.list_testsets(project) if t.name == "diffed [v2]")
        ids = [t.id for t in client.list_testcases(testset.id)]
        client.update_testcase(testset.id, ids[2], {"question": "2 + 1?", "answer": "three"})  # v3
        client.delete_testcases(testset.id, [ids[0]])  # v4

    shown = cli("testsets", "diff", "diffed [v2]", "--from", "1", "--to", "4", "--json")
    assert shown.returncode == 0, shown.stderr
    changes = json.loads(shown.stdout)
    assert {k: changes[k] for k in ("from_version", "to_version", "added", "removed", "changed", "unchanged")} == {
        "from_version": 1,
        "to_version": 4,
        "added": 1,
        "removed": 1,
        "changed": 1,
        "unchanged": 2,
    }
    assert [(c["change"], c["testcase_id"]) for c in changes["changes"]] == [
        ("removed", ids[0]),
        ("changed", ids[2]),
        ("added", ids[4]),
    ]
    assert changes["changes"][1]["before"]["data"] == {"question": "2 + 1?", "answer": "3"}
    table = cli("testsets", "diff", "diffed [v2]", "--from", "1", "--to", "4")
    assert table.returncode == 0, table.stderr
    # The name as written: "[v2]" is not taken for a style.
    assert "diffed [v2] v1 → v4: 1 added, 1 removed, 1 changed, 2 unchanged" in table.stdout
    assert 'answer: "3" → "three"' in table.stdout and '"[x] + 1?"' in table.stdout
    latest = cli("testsets", "diff", "diffed [v2]", "--limit", "1")  # v3 → v4: the deletion alone
    assert "diffed [v2] v3 → v4: 0 added, 1 removed, 0 changed, 4 unchanged" in latest.stdout and latest.stderr == ""
    cut = cli("testsets", "diff", "diffed [v2]", "--from", "1", "--limit", "2")
    assert cut.returncode == 0 and cut.stderr.strip() == "the first 2 changes; --limit shows more"
    backwards = cli("testsets", "diff", "diffed [v2]", "--from", "4", "--to", "2")
    assert one_error_line(backwards) == "error: from_version (4) must be before to_version (2)"


def test_runs_archive_and_unarchive(own: Own) -> None:
    cli, project = own.cli, own.project
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        testset = client.create_testset(project, "to archive", [{"question": "q"}], inputs=["question"])
        version = client.create_system_version_by_name(project, "archived bot", "sdk")
        run = client.create_run(project, testset.id, version.id)
        running = cli("runs", "archive", run.id)
        assert running.returncode == 2
        assert one_error_line(running) == (
            f"error: run {run.id} is awaiting_execution: cancel it, or let it finish, before archiving it"
        )
        client.cancel_run(run.id)
    done = cli("runs", "archive", run.id)
    assert (done.returncode, done.stdout.strip()) == (0, f"archived run {run.id} (cancelled, to archive)")
    assert run.id not in [r["id"] for r in json.loads(cli("runs", "list", "--json", "--limit", "100").stdout)]
    archived = json.loads(cli("runs", "list", "--archived", "--json").stdout)
    assert [(r["id"], bool(r["archived_at"])) for r in archived] == [(run.id, True)]
    back = cli("runs", "unarchive", run.id)
    assert (back.returncode, back.stdout.strip()) == (0, f"unarchived run {run.id}")
    assert json.loads(cli("runs", "list", "--archived", "--json").stdout) == []


def test_metrics_create_a_heuristic_a_judge_and_a_human_metric(own: Own, tmp_path: Path) -> None:
    cli = own.cli
    made = cli("metrics", "create", "short", "--heuristic", "length_between", "--param", "max_length=5")
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(r"created metric short \([-0-9a-f]{36}\), version 1\n", made.stdout), made.stdout
    prompt = tmp_path / "judge.txt"
    prompt.write_text("Is {{ outputs }} right? Answer 1-5.", encoding="utf-8")
    judged = cli(
        "metrics",
        "create",
        "graded",
        "--judge",
        "gpt-4o-mini",
        "--prompt",
        str(prompt),
        "--output-type",
        "int",
        "--threshold",
        "4",
        "--guidelines",
        "Facts first.",
    )
    assert judged.returncode == 0, judged.stderr
    assert cli("metrics", "create", "helpful", "--human").returncode == 0
    listed = {m["name"]: m for m in json.loads(cli("metrics", "list", "--json").stdout)}
    assert listed["short"]["heuristic"] == {"kind": "length_between", "params": {"max_length": 5}}
    graded = listed["graded"]
    assert (graded["eval_type"], graded["output_type"], graded["passing_threshold"]) == ("ai", "int", 4)
    assert (
        graded["ai"]["prompt_template"] == "Is {{ outputs }} right? Answer 1-5."
        and graded["guidelines"] == "Facts first."
    )
    assert listed["helpful"]["eval_type"] == "human"
    for args, message in [
        (["x"], "error: give exactly one of --heuristic KIND, --judge MODEL, --human or --code"),
        (
            ["x", "--human", "--judge", "m"],
            "error: give exactly one of --heuristic KIND, --judge MODEL, --human or --code",
        ),
        (["x", "--human", "--param", "a=1"], "error: --param sets a heuristic's params: give --heuristic KIND"),
        (["x", "--heuristic", "contains", "--param", "oops"], "error: --param takes KEY=VALUE, got 'oops'"),
        (["x", "--heuristic", "no_such_kind"], None),
    ]:
        refused = cli("metrics", "create", *args)
        assert refused.returncode == 2, refused.stdout
        line = one_error_line(refused)
        assert line == message if message else "no_such_kind" in line, line
    assert len(json.loads(cli("metrics", "list", "--json").stdout)) == 3  # nothing made by a refusal


def test_metrics_archive_and_unarchive(own: Own) -> None:
    cli, project = own.cli, own.project
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        client.create_testset(project, "retiring", [{"question": "q"}], inputs=["question"])
        client.create_system_version_by_name(
            project, "retiring bot", "http", {"url": "http://127.0.0.1:9/answer", "response_path": "answer"}
        )
        old = client.create_heuristic_metric(project, "old [judge]", "contains", {"expected_field": "answer"})
        client.create_heuristic_metric(project, "new judge", "exact_match", {"expected_field": "answer"})
    done = cli("metrics", "archive", "old [judge]")
    assert (done.returncode, done.stdout.strip()) == (0, f"archived metric old [judge] ({old.id})")
    assert [m["name"] for m in json.loads(cli("metrics", "list", "--json").stdout)] == ["new judge"]
    table = cli("metrics", "list", "--archived")
    assert "old [judge]" in table.stdout and "new judge" not in table.stdout and "archived" in table.stdout
    refused = cli(
        "runs", "kickoff", "--testset", "retiring", "--system-version", "retiring bot", "--metric", "old [judge]"
    )
    assert refused.returncode == 2
    assert one_error_line(refused) == (
        f"error: metric 'old [judge]' ({old.id}) is archived: unarchive it to score with it"
    )
    again = cli("metrics", "archive", old.id)
    assert one_error_line(again) == f"error: metric 'old [judge]' ({old.id}) is already archived"
    back = cli("metrics", "unarchive", "old [judge]")
    assert (back.returncode, back.stdout.strip()) == (0, f"unarchived metric old [judge] ({old.id})")
    assert len(json.loads(cli("metrics", "list", "--json").stdout)) == 2


def test_runs_matrix_puts_several_runs_side_by_side(own: Own) -> None:
    cli, project = own.cli, own.project
    outputs = {"v1": ["12", "abcdefgh"], "v2": ["12", "abc"], "v3": ["123456", "abc"]}
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        testset = client.create_testset(project, "sided", [{"question": q} for q in ("a?", "b?")], inputs=["question"])
        short = client.create_heuristic_metric(project, "short", "length_between", {"max_length": 5})
        cases = [t.id for t in client.list_testcases(testset.id)]
        runs = []
        for name, answers in outputs.items():
            version = client.create_system_version_by_name(project, "sided bot", "sdk", name=name)
            run = client.create_run(project, testset.id, version.id, [short.id])
            client.ingest_records(
                run.id, [RecordIn(c, outputs={"response": o}) for c, o in zip(cases, answers, strict=True)]
            )
            assert client.wait_for_run(run.id, timeout_s=60).status == "completed"
            runs.append(run.id)
    found = json.loads(cli("runs", "matrix", *runs, "--json").stdout)
    assert [r["means"] for r in found["runs"]] == [{short.id: 0.5}, {short.id: 1.0}, {short.id: 0.5}]
    assert (found["testcases_compared"], found["testcases_differing"]) == (2, 2)
    by_question = {
        row["inputs"]["question"]: [c["outputs"]["response"] for c in row["cells"]] for row in found["testcases"]
    }
    assert by_question == {"a?": ["12", "12", "123456"], "b?": ["abcdefgh", "abc", "abc"]}
    shown = cli("runs", "matrix", *runs, "--limit", "1")
    assert shown.returncode == 0, shown.stderr
    assert "3 runs: 2 testcases, the runs part on 2" in shown.stdout
    assert f"{runs[0][:8]} v1" in shown.stdout and "50.0%" in shown.stdout and "100.0%" in shown.stdout
    alone = cli("runs", "matrix", runs[0])
    assert alone.returncode == 2 and one_error_line(alone) == "error: run_ids must name 2..8 runs, got 1"


def test_eval_runs_part_of_a_testset_and_tags_runs(own: Own) -> None:
    cli, project = own.cli, own.project
    rows = [{"n": n, "answer": str(n + 1), "parity": ["even", "odd"][n % 2]} for n in range(10)]
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        client.create_testset(project, "numbers", rows, inputs=["n"], expected=["answer"], metadata=["parity"])
        client.create_heuristic_metric(project, "exact", "exact_match", {"expected_field": "answer"})
    done = cli(
        "eval",
        "--testset",
        "numbers",
        "--metric",
        "exact",
        "--callable",
        "tests.support.sdk_bots:answer",
        "--only",
        "parity=odd",
        "--sample",
        "3",
        "--sample-seed",
        "5",
    )
    assert done.returncode == 0, done.stderr
    assert "part of the testset: 3 of 10 testcases" in done.stdout
    (run,) = json.loads(cli("runs", "list", "--json").stdout)
    assert (run["records"], run["subset"]) == (
        3,
        {"testcases": 3, "of": 10, "metadata_filter": {"parity": "odd"}, "sample": 3, "sample_seed": 5},
    )
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        ran = [r.inputs["n"] for r in client.list_records(run["id"])]
    assert len(ran) == 3 and all(n % 2 == 1 for n in ran)
    refused = cli("eval", "--testset", "numbers", "--metric", "exact", "--callable", "x:y", "--only", "parity")
    assert refused.returncode == 2 and one_error_line(refused) == "error: --only takes KEY=VALUE, got 'parity'"
    resumed = cli("eval", "--resume", run["id"], "--callable", "tests.support.sdk_bots:answer", "--sample", "2")
    assert one_error_line(resumed).startswith("error: --resume completes the run as it was kicked off")

    # Tags: given to eval, added and removed, listed by.
    tagged = cli(
        "eval",
        "--testset",
        "numbers",
        "--metric",
        "exact",
        "--callable",
        "tests.support.sdk_bots:answer",
        "--sample",
        "2",
        "--tag",
        "nightly",
        "--tag",
        "main",
    )
    assert tagged.returncode == 0, tagged.stderr
    (latest,) = json.loads(cli("runs", "list", "--tag", "nightly", "--json").stdout)
    assert latest["tags"] == ["nightly", "main"] and latest["id"] != run["id"]
    added = cli("runs", "tag", run["id"], "release", "main")
    assert (added.returncode, added.stdout.strip()) == (0, f"run {run['id']} tags: release, main")
    assert [r["id"] for r in json.loads(cli("runs", "list", "--tag", "main", "--json").stdout)] == [
        latest["id"],
        run["id"],
    ]
    removed = cli("runs", "tag", run["id"], "main", "--remove")
    assert removed.stdout.strip() == f"run {run['id']} tags: release"
    assert "nightly, main" in cli("runs", "list").stdout
    blank = cli("runs", "tag", run["id"], " ")
    assert blank.returncode == 2 and one_error_line(blank) == "error: tags must be 1..100 characters, got ' '"


def test_runs_agreement_and_distribution_print_what_the_scores_say(own: Own, tmp_path: Path) -> None:
    outputs = ["12", "123456", "abc", "abcdefg"]  # short: pass fail pass fail; digits: pass pass fail fail
    cli, project = own.cli, own.project
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        testset = client.create_testset(project, "agreed", [{"question": o} for o in outputs], inputs=["question"])
        short = client.create_heuristic_metric(project, "short", "length_between", {"max_length": 5})
        digits = client.create_heuristic_metric(project, "digits", "regex", {"pattern": r"\d+", "mode": "fullmatch"})
        version = client.create_system_version_by_name(project, "echo bot", "sdk")
        run = client.create_run(project, testset.id, version.id, [short.id, digits.id])
        cases = [t.id for t in client.list_testcases(testset.id)]
        client.ingest_records(
            run.id, [RecordIn(c, outputs={"response": o}) for c, o in zip(cases, outputs, strict=True)]
        )
        assert client.wait_for_run(run.id, timeout_s=60).status == "completed"
    shown = cli("runs", "agreement", run.id, "short", "digits")
    assert shown.returncode == 0, shown.stderr
    assert f"run {run.id}: 'short' (A) against 'digits' (B) on 4 records" in shown.stdout
    assert "agreement 50.0%, Cohen's kappa 0.00" in shown.stdout
    found = json.loads(cli("runs", "agreement", run.id, "short", "digits", "--json").stdout)
    assert [found[k] for k in ("both_passed", "only_a_passed", "only_b_passed", "both_failed")] == [1, 1, 1, 1]
    same = cli("runs", "agreement", run.id, "short", "short")
    assert one_error_line(same) == "error: metric_a and metric_b are the same metric (short): name two"
    spread = json.loads(cli("runs", "distribution", run.id, "--json").stdout)
    assert [(m["name"], [(b["label"], b["count"]) for b in m["buckets"]]) for m in spread] == [
        ("short", [("fail", 2), ("pass", 2)]),
        ("digits", [("fail", 2), ("pass", 2)]),
    ]
    drawn = cli("runs", "distribution", run.id)
    assert drawn.returncode == 0 and "short (boolean, 4 scored)" in drawn.stdout and "█" * 30 in drawn.stdout
    # The run's records, exported across the project's filters: JSONL to stdout, CSV to a file.
    lines = cli("records", "export", "--run", run.id, "--format", "jsonl", "--where", "short:passed").stdout
    assert sorted(json.loads(line)["outputs"]["response"] for line in lines.splitlines()) == ["12", "abc"]
    written = cli("records", "export", "--run", run.id, "-o", str(tmp_path / "records.csv"), "--limit", "3")
    assert written.returncode == 0 and written.stderr.startswith("wrote ")
    rows = list(csv.DictReader((tmp_path / "records.csv").open()))
    assert len(rows) == 3 and {r["run_id"] for r in rows} == {run.id}
    assert {r["digits passed"] for r in rows} <= {"true", "false"}
    bad = cli("records", "export", "--format", "xlsx")
    assert one_error_line(bad) == "error: --format must be one of csv, jsonl, got 'xlsx'"


def test_projects_update_renames_and_describes_the_project(own: Own) -> None:
    cli, project = own.cli, own.project
    name = json.loads(cli("projects", "list", "--json").stdout)[0]["name"]
    done = cli("projects", "update", "--description", "CLI tests")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        f"project {project}: {name!r}, 'CLI tests'; logged calls kept for ever",
    )
    assert json.loads(cli("projects", "list", "--json").stdout)[0]["description"] == "CLI tests"
    kept = cli("projects", "update", "--call-retention-days", "30")
    assert kept.stdout.strip().endswith("; logged calls kept 30 days"), kept.stderr
    assert json.loads(cli("projects", "list", "--json").stdout)[0]["call_retention_days"] == 30
    too_long = cli("projects", "update", "--call-retention-days", "4000")
    assert one_error_line(too_long) == ("error: call_retention_days must be 0 (kept for ever) or 1..3,650, got 4,000")
    assert cli("projects", "update", "--call-retention-days", "0").stdout.strip().endswith("kept for ever")
    nothing = cli("projects", "update")
    assert one_error_line(nothing) == "error: give --name, --description and / or --call-retention-days"
    empty = cli("projects", "update", "--name", "")
    assert one_error_line(empty) == "error: name must not be empty"


def test_webhooks_create_test_list_deliveries_and_delete(own: Own) -> None:
    cli = own.cli
    with receiver([503]) as hook:
        made = cli("webhooks", "create", "#evals", hook.url, "--on", "completed", "--tag", "nightly", "--slack")
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip()
        assert secret.startswith("whsec_") and "\n" not in secret
        assert "created webhook '#evals'" in made.stderr and "told of completed; tagged nightly" in made.stderr
        listed = json.loads(cli("webhooks", "list", "--json").stdout)
        assert [(w["name"], w["format"], w["statuses"], w["tags"]) for w in listed] == [
            ("#evals", "slack", ["completed"], ["nightly"])
        ]
        # The first POST answers 503: tried again 2 s later, then delivered.
        tested = cli("webhooks", "test", "#evals")
        assert tested.returncode == 0, tested.stderr
        assert tested.stdout.startswith("#evals: delivered (HTTP 204)") and "webhook.test" in tested.stdout
        assert len(hook.posts) == 2 and "reaches you" in hook.posts[1][1]["text"]
        deliveries = json.loads(cli("webhooks", "deliveries", "#evals", "--json").stdout)
        assert [(d["event"], d["status"], d["attempts"], d["response_status"]) for d in deliveries] == [
            ("webhook.test", "delivered", 2, 204)
        ]
        paused = cli("webhooks", "update", "#evals", "--pause", "--every-run", "--source", "ci")
        assert paused.returncode == 0, paused.stderr
        assert f"webhook '#evals' (paused): {hook.url}, told of completed; from ci" in paused.stderr
        assert paused.stdout == ""
        assert "paused 20" in cli("webhooks", "list").stdout
        rotated = cli("webhooks", "update", "#evals", "--resume", "--rotate-secret")
        assert rotated.returncode == 0 and "(active)" in rotated.stderr
        assert rotated.stdout.strip().startswith("whsec_") and rotated.stdout.strip() != secret
        both = cli("webhooks", "update", "#evals", "--tag", "a", "--every-run")
        assert one_error_line(both) == (
            "error: give --source or --every-source, --tag or --every-run, --below or --always, not both"
        )
        # Only nights below 90% on exact: named as the project names the metric.
        assert (
            cli("metrics", "create", "exact", "--heuristic", "exact_match", "--param", "expected_field=a").returncode
            == 0
        )
        gated = cli("webhooks", "update", "#evals", "--below", "exact=90%")
        assert gated.returncode == 0, gated.stderr
        assert "completed runs only when below 1 threshold" in gated.stderr
        (listed_hook,) = json.loads(cli("webhooks", "list", "--json").stdout)
        assert [t["below"] for t in listed_hook["below"]] == [0.9]
        unknown = cli("webhooks", "update", "#evals", "--below", "nope=0.9")
        assert unknown.returncode == 2 and "no metric 'nope'" in one_error_line(unknown)
        assert "threshold" not in cli("webhooks", "update", "#evals", "--always").stderr
    wrong = cli("webhooks", "create", "x", hook.url, "--on", "running")
    assert wrong.returncode == 2 and one_error_line(wrong) == (
        "error: --on must be one of completed, failed, cancelled, awaiting_human_scoring, got 'running'"
    )
    refused = cli("webhooks", "create", "x", "ftp://h.example/")
    assert one_error_line(refused) == "error: url must be an http or https URL with a host, got 'ftp://h.example/'"
    gone = cli("webhooks", "delete", "#evals")
    assert (gone.returncode, gone.stdout.strip()) == (0, f"deleted webhook '#evals' ({hook.url})")
    assert json.loads(cli("webhooks", "list", "--json").stdout) == []
    missing = cli("webhooks", "test", "#evals")
    assert one_error_line(missing) == "error: no webhook '#evals' in this project (see `scorekeeper webhooks list`)"


def test_schedules_create_list_pause_run_and_delete(own: Own) -> None:
    cli, project = own.cli, own.project
    with Scorekeeper(url=cli.url, query_url=cli.query_url, api_key=cli.key) as client:
        client.create_testset(project, "timed", [{"question": "q"}], inputs=["question"])
        client.create_heuristic_metric(project, "said", "contains", {"value": "x"})
    # A server-side system from the shell: its versions, and which one is in production.
    config = '{"url": "http://127.0.0.1:9/answer", "response_path": "answer"}'
    first = cli("systems", "version", "timed bot", "v1", "--kind", "http", "--config", config)
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"created version 'v1' \(\S+\) of system 'timed bot', http", first.stdout.strip())
    (cli.home / "v2.json").write_text(config.replace('answer"}', 'text"}'))
    second = cli("systems", "version", "timed bot", "v2", "--kind", "http", "--config-file", str(cli.home / "v2.json"))
    assert second.returncode == 0, second.stderr
    not_json = cli("systems", "version", "timed bot", "v3", "--kind", "http", "--config", "{url")
    assert one_error_line(not_json).startswith("error: --config is not JSON: ")
    both = cli("systems", "version", "timed bot", "v3", "--kind", "http")
    assert (
        one_error_line(both) == "error: give the version's config as --config JSON or --config-file FILE, one of them"
    )
    moved = cli("systems", "production", "timed bot:v2")
    assert moved.returncode == 0 and moved.stdout.startswith("system 'timed bot': production version 'v2' (")
    listed = json.loads(cli("systems", "list", "--json").stdout)
    (bot,) = [s for s in listed if s["system"]["name"] == "timed bot"]
    assert bot["system"]["production_version_id"] == next(v["id"] for v in bot["versions"] if v["name"] == "v2")
    neither = cli("schedules", "create", "nightly", "--cron", "0 2 * * *", "--testset", "timed", "--metric", "said")
    assert one_error_line(neither) == (
        "error: give --system (its production version at each run) or --system-version (pinned), one of them"
    )
    bad = cli("schedules", "create", "nightly", "--cron", "0 2 * *", "--testset", "timed", "--system", "timed bot")
    assert bad.returncode == 2 and "cron must have 5 fields" in one_error_line(bad)
    made = cli(
        "schedules", "create", "nightly", "--cron", "0 2 * * *", "--testset", "timed", "--system", "timed bot",
        "--metric", "said", "--tag", "nightly",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created schedule 'nightly' (") and "0 2 * * * UTC, next 20" in made.stdout
    (listed,) = json.loads(cli("schedules", "list", "--json").stdout)
    assert (listed["cron"], listed["tags"], listed["last_run_id"]) == ("0 2 * * *", ["nightly"], "")
    paused = cli("schedules", "update", "nightly", "--pause", "--cron", "15 * * * *")
    assert paused.stdout.startswith("schedule 'nightly': 15 * * * * UTC, next paused 20")
    zoned = cli("schedules", "update", "nightly", "--timezone", "Asia/Kolkata", "--resume")
    assert re.fullmatch(
        r"schedule 'nightly': 15 \* \* \* \* Asia/Kolkata, next 20\d\d-\d\d-\d\d \d\d:15 Asia/Kolkata",
        zoned.stdout.strip(),
    ), zoned.stdout
    no_zone = cli("schedules", "update", "nightly", "--timezone", "Berlin")
    assert no_zone.returncode == 2 and "timezone 'Berlin' is not an IANA time zone" in one_error_line(no_zone)
    # What it runs, changed: the pinned v1 instead of the production version, two trials, other tags.
    what = cli("schedules", "update", "nightly", "--system-version", "timed bot:v1", "--trials", "2", "--tag", "weekly")
    assert what.returncode == 0, what.stderr
    (changed,) = json.loads(cli("schedules", "list", "--json").stdout)
    v1 = next(v["id"] for v in bot["versions"] if v["name"] == "v1")
    assert (changed["system_version_id"], changed["system_id"], changed["trials"], changed["tags"]) == (
        v1,
        "",
        2,
        ["weekly"],
    )
    both = cli("schedules", "update", "nightly", "--system", "timed bot", "--system-version", "timed bot:v1")
    assert one_error_line(both) == "error: give --system or --system-version, not both"
    assert cli("schedules", "update", "nightly", "--no-tags", "--trials", "1", "--system", "timed bot").returncode == 0
    ran = cli("schedules", "run", "nightly")
    assert ran.returncode == 0 and ran.stdout.startswith("run ") and "1 records expected" in ran.stdout
    run_id = ran.stdout.split()[1]
    assert json.loads(cli("schedules", "list", "--json").stdout)[0]["last_run_id"] == run_id
    runs = json.loads(cli("runs", "list", "--source", "schedule", "--json").stdout)
    assert [(r["id"], r["source"], r["tags"]) for r in runs] == [(run_id, "schedule", [])]
    of_it = json.loads(cli("runs", "list", "--schedule", "nightly", "--json").stdout)
    assert [(r["id"], r["schedule_name"]) for r in of_it] == [(run_id, "nightly")]
    unknown = cli("runs", "list", "--schedule", "weekly")
    assert one_error_line(unknown) == "error: no schedule 'weekly' in this project (see `scorekeeper schedules list`)"
    gone = cli("schedules", "delete", "nightly")
    assert (gone.returncode, gone.stdout.strip()) == (0, "deleted schedule 'nightly'")
    missing = cli("schedules", "run", "nightly")
    assert one_error_line(missing) == "error: no schedule 'nightly' in this project (see `scorekeeper schedules list`)"


def test_metrics_and_systems_list(cli: Cli, project: str) -> None:
    metrics = cli("metrics", "list", "--json")
    assert metrics.returncode == 0 and [m["name"] for m in json.loads(metrics.stdout)] == ["exact"]
    table = cli("metrics", "list")
    assert "exact" in table.stdout and "heuristic (exact_match)" in table.stdout


def test_the_project_and_the_key_can_follow_the_command(cli: Cli, project: str, stack: Stack) -> None:
    unnamed = cli("--api-key", stack.admin_key, "metrics", "list")
    assert unnamed.returncode == 2 and one_error_line(unnamed) == (
        "error: this key belongs to no project (the instance admin key): name one with --project or SCOREKEEPER_PROJECT"
    )
    named = cli("metrics", "list", "--api-key", stack.admin_key, "--project", project, "--json")
    assert named.returncode == 0 and [m["name"] for m in json.loads(named.stdout)] == ["exact"]


def eval_args(*extra: str) -> list[str]:
    return ["eval", "--testset", "qa", "--metric", "exact", *extra]


def test_eval_a_callable_gates_on_either_side_of_the_threshold(cli: Cli, project: str, tmp_path: Path) -> None:
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    passed = cli(
        *eval_args("--callable", "tests.support.sdk_bots:answer", "--version", "abc123"),
        "--fail-under",
        "exact=0.78",
        "--junit-xml",
        str(junit),
        "--summary-md",
        str(summary),
    )
    assert passed.returncode == 0, passed.stderr
    assert "pass  exact: pass rate 78.9% >= 78.0%" in passed.stdout
    assert f"{ROWS} calls (1 errored), {ROWS} records uploaded" in passed.stderr
    xml = JUnitXml.fromfile(str(junit))
    suites = {s.name: s for s in xml if isinstance(s, TestSuite)}
    (run_suite,) = [s for name, s in suites.items() if name.startswith("scorekeeper run ")]
    assert (run_suite.tests, run_suite.failures, run_suite.errors, run_suite.skipped) == (ROWS, 4, 1, 0)
    results = [r for case in run_suite for r in case.result]
    failures = sorted(r.message for r in results if isinstance(r, Failure))
    assert failures == sorted(f"expected '{n + 1}', got '{n + 2}'" for n in (0, 5, 10, 15))
    assert [r.message for r in results if isinstance(r, Error)] == ["ValueError: cannot answer 7"]
    assert suites["scorekeeper gates"].tests == 1 and suites["scorekeeper gates"].failures == 0
    text = summary.read_text()
    assert "Scorekeeper evaluation passed" in text and "| exact | 78.9% | 15/19 | 0 |" in text

    failed = cli(*eval_args("--callable", "tests.support.sdk_bots:answer"), "--fail-under", "exact=80%")
    assert failed.returncode == 1, failed.stderr
    assert last_error_line(failed) == "error: 1 of 1 gates failed: exact: pass rate 78.9% < 80.0%"


def test_eval_points_at_the_slices_that_fail_beyond_chance(cli: Cli, project: str, tmp_path: Path) -> None:
    # The bot is wrong on every multiple of 5 — group "fives" here — and raises on 7.
    source = tmp_path / "grouped.jsonl"
    rows = [
        {"question": f"{n} + 1?", "n": n, "answer": str(n + 1), "group": "fives" if n % 5 == 0 else "others"}
        for n in range(30)
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    made = cli(
        "testsets", "import", str(source), "--name", "grouped", "--inputs", "question,n", "--expected", "answer",
        "--metadata", "group",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    flawless = cli("eval", "--testset", "grouped", "--metric", "exact", "--callable", "tests.support.sdk_bots:right")
    assert flawless.returncode == 0 and "weak  " not in flawless.stdout, flawless.stderr
    baseline = flawless.stderr.split()[1].rstrip(":")
    summary = tmp_path / "summary.md"
    done = cli(
        "eval", "--testset", "grouped", "--metric", "exact", "--callable", "tests.support.sdk_bots:answer",
        "--baseline", baseline, "--summary-md", str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # 0 of 6 against 23 of 23: 1 / C(29, 6) = 2.1e-06, times the 2 slices tested (fives, others).
    assert "weak  metadata.group=fives: exact 0.0% of 6 against 100.0% of the rest (q 4.2e-06)" in done.stdout
    assert done.stdout.count("weak  ") == 1
    # Against the flawless baseline, testcase by testcase (one testset): the 6 fives worse, none
    # better — a sign test's 1 / 2^6, times the 2 slices tested.
    regressed = (
        "regressed  metadata.group=fives: exact 100.0% of 6 in the baseline, 0.0% of 6 here,"
        " 6 testcases worse, 0 better (q 0.031)"
    )
    assert regressed in done.stdout and done.stdout.count("regressed  ") == 1
    text = summary.read_text()
    candidate = done.stderr.split()[1].rstrip(":")
    # Each slice a link: its records on the run page, its testcases on the compare page.
    on_run = f"/projects/{project}/runs/{candidate}?by=metadata.group&field=metadata.group%3Dfives#records"
    assert f"{on_run}) | exact | 0.0% of 6 | 100.0% of 23 | 4.2e-06 |" in text
    on_compare = (
        f"/projects/{project}/compare?baseline={baseline}&run={candidate}&by=metadata.group"
        "&field=metadata.group%3Dfives"
    )
    assert f"{on_compare}) | exact | 100.0% of 6 | 0.0% of 6 | 6 / 0 | 0.031 |" in text
    assert "| [metadata.group=fives](http" in text
    for run_id in (baseline, done.stderr.split()[1].rstrip(":")):
        assert cli("runs", "archive", run_id).returncode == 0  # out of the CI runs the next tests list


def test_eval_gates_each_value_of_a_field(cli: Cli, project: str, tmp_path: Path) -> None:
    # The bot is wrong on every multiple of 5 — the French questions here — and raises on 7: the
    # run passes 23 of 29 (79.3%), the French 0 of 6, the English 23 of 23.
    source = tmp_path / "langs.jsonl"
    rows = [
        {"question": f"{n} + 1?", "n": n, "answer": str(n + 1), "lang": "fr" if n % 5 == 0 else "en"} for n in range(30)
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    made = cli(
        "testsets", "import", str(source), "--name", "langs", "--inputs", "question,n", "--expected", "answer",
        "--metadata", "lang",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    args = ["eval", "--testset", "langs", "--metric", "exact", "--callable", "tests.support.sdk_bots:answer"]
    junit = tmp_path / "junit.xml"
    gated = cli(
        *args, "--fail-under", "exact=0.7", "--fail-under-per", "metadata.lang", "--min-slice-scored", "5",
        "--junit-xml", str(junit),
    )  # fmt: skip
    assert gated.returncode == 1, gated.stderr
    assert "pass  exact: pass rate 79.3% >= 70.0%" in gated.stdout
    assert "FAIL  exact: 0.0% where metadata.lang=fr (6 scored), below 70.0%" in gated.stdout
    assert last_error_line(gated) == (
        "error: 1 of 2 gates failed: exact: 0.0% where metadata.lang=fr (6 scored), below 70.0%"
    )
    suites = {s.name: s for s in JUnitXml.fromfile(str(junit)) if isinstance(s, TestSuite)}
    gates = suites["scorekeeper gates"]
    assert (gates.tests, gates.failures) == (2, 1)
    assert sorted(case.name for case in gates) == ["exact >= 70.0%", "exact >= 70.0% in every metadata.lang"]
    # With 7 scored records needed, the 6 French ones are not judged.
    lenient = cli(*args, "--fail-under", "exact=0.7", "--fail-under-per", "metadata.lang", "--min-slice-scored", "7")
    assert lenient.returncode == 0, lenient.stderr
    assert (
        "pass  exact: none of the 1 values of metadata.lang below 70.0%, 1 with fewer than 7 scored not judged"
        in lenient.stdout
    )
    # A field none of the records holds would judge nothing: refused, with the fields they hold.
    misspelt = cli(*args, "--fail-under", "exact=0.7", "--fail-under-per", "metadata.langs")
    assert misspelt.returncode == 2, misspelt.stderr
    assert last_error_line(misspelt) == (
        "error: --fail-under-per metadata.langs: none of the run's records holds it (they hold: expected.answer,"
        " inputs.n, inputs.question, metadata.lang)"
    )
    for bad, message in [
        (["--fail-under-per", "metadata.lang"], "--fail-under-per applies the --fail-under thresholds within each"),
        (["--fail-under", "exact=0.7", "--fail-under-per", "outputs.x"], "--fail-under-per takes a testcase field"),
    ]:
        refused = cli(*args, *bad)
        assert refused.returncode == 2 and message in last_error_line(refused), refused.stderr
    ran = json.loads(cli("runs", "list", "--source", "ci", "--testset", "langs", "--json").stdout)
    assert len(ran) == 3
    for run in ran:
        assert cli("runs", "archive", run["id"]).returncode == 0  # out of the CI runs the next tests list


def test_eval_gates_what_the_run_used_alone_and_against_a_baseline(cli: Cli, project: str) -> None:
    # The command bot reports 5 prompt tokens and $0.01 a call on its 19 answers (it fails on 7):
    # 4.75 tokens a record, $0.01 a record that reported a cost.
    args = eval_args("--command", f"{sys.executable} -m tests.support.sdk_bots", "--source", "api")
    alone = cli(*args, "--fail-above", "cost=0.02", "--fail-above", "tokens=5", "--fail-above", "p95-latency=600000")
    assert alone.returncode == 0, alone.stderr
    assert "pass  cost per record $0.0100 <= $0.0200" in alone.stdout
    assert "pass  tokens per record 4.8 <= 5" in alone.stdout
    assert re.search(r"pass  p95 latency [\d,]+ ms <= 600,000 ms", alone.stdout), alone.stdout
    first = alone.stderr.split()[1].rstrip(":")
    junit = Path(cli.home) / "usage-junit.xml"
    against = cli(
        *args, "--baseline", first, "--fail-above", "cost=+0%", "--fail-above", "tokens=4",
        "--fail-above", "judge-cost=0.001", "--junit-xml", str(junit),
    )  # fmt: skip
    assert against.returncode == 1, against.stderr
    assert "pass  cost per record $0.0100 → $0.0100 (+0%) <= +0%" in against.stdout
    assert "FAIL  tokens per record 4.8 > 4" in against.stdout
    assert "pass  judge cost per record $0.0000 <= $0.0010" in against.stdout  # no judge: nothing spent
    assert "usage  cost per record $0.0100 → $0.0100 (+0%)" in against.stdout
    assert last_error_line(against).startswith("error: 1 of 3 gates failed: tokens per record 4.8 > 4")
    gates = next(s for s in JUnitXml.fromfile(str(junit)) if isinstance(s, TestSuite) and s.name == "scorekeeper gates")
    assert sorted(case.name for case in gates if case.name.startswith(("cost", "tokens", "judge"))) == [
        "cost per record <= +0% of the baseline's",
        "judge cost per record <= $0.0010",
        "tokens per record <= 4",
    ]
    for bad, message in [
        (["--fail-above", "speed=1"], "--fail-above takes MEASURE=LIMIT, MEASURE one of latency, p95-latency, tokens,"),
        (["--fail-above", "latency=+20%"], "--fail-above with +N% compares with the baseline's: give --baseline RUN"),
        (["--fail-above", "latency=20%"], "a share of the baseline's is signed, as latency=+20%"),
        (["--fail-above", "cost=cheap"], "'cheap' is not a number"),
    ]:
        refused = cli(*args, *bad)
        assert refused.returncode == 2 and message in last_error_line(refused), refused.stderr
    for run_id in (first, against.stderr.split()[1].rstrip(":")):
        assert cli("runs", "archive", run_id).returncode == 0


def test_eval_a_command_against_a_baseline_then_runs_commands(cli: Cli, project: str, tmp_path: Path) -> None:
    runs = json.loads(cli("runs", "list", "--source", "ci", "--json").stdout)
    baseline = runs[0]["id"]
    done = cli(
        *eval_args("--command", f"{sys.executable} -m tests.support.sdk_bots", "--concurrency", "4"),
        "--baseline",
        baseline,
        "--fail-on-regressions",
        "--fail-if-worse",
        "--fail-under",
        "exact=0.5",
    )
    assert done.returncode == 0, done.stderr
    assert "pass  regressed" not in done.stdout and "no testcase regressed" in done.stdout
    assert "pass  no metric is worse beyond chance" in done.stdout
    runs = json.loads(cli("runs", "list", "--source", "ci", "--json").stdout)
    assert len(runs) == 3 and runs[1]["id"] == baseline
    run = runs[0]
    assert (run["records"], run["errored_records"], run["totals"]["prompt_tokens"]) == (ROWS, 1, 5 * (ROWS - 1))
    assert run["system_version"]["system_name"] == f"command: {sys.executable} -m tests.support.sdk_bots"
    assert json.loads(cli("runs", "list", "--source", "kickoff", "--json").stdout) == []

    watched = cli("runs", "watch", run["id"])
    assert watched.returncode == 0 and f"run {run['id']}: completed" in watched.stdout
    compared = cli("runs", "compare", baseline, run["id"], "--json")
    assert compared.returncode == 0
    (exact,) = json.loads(compared.stdout)["metrics"]
    assert (exact["regressions"], exact["improvements"], exact["unchanged"]) == (0, 0, ROWS - 1)

    jsonl, table = tmp_path / "run.jsonl", tmp_path / "run.csv"
    assert cli("runs", "export", run["id"], "--format", "jsonl", "-o", str(jsonl)).returncode == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with Scorekeeper(cli.url, cli.key, query_url=cli.query_url) as client:
        records = {r.id: r for r in client.list_records(run["id"])}
    assert {line["id"] for line in lines} == set(records)
    assert all(line["outputs"] == records[line["id"]].outputs for line in lines)
    assert cli("runs", "export", run["id"], "--format", "csv", "-o", str(table)).returncode == 0
    assert len(list(csv.DictReader(table.open()))) == ROWS

    rescored = cli("runs", "rescore", run["id"], "--metric", "exact", "--wait")
    assert rescored.returncode == 0, rescored.stderr
    assert "re-scoring with exact" in rescored.stdout and f"run {run['id']}: completed" in rescored.stdout


def test_a_server_side_system_kickoff_and_eval(cli: Cli, project: str, stack: Stack) -> None:
    with Scorekeeper(cli.url, cli.key, query_url=cli.query_url) as client:
        system = client.create_system(project, "demo-qa")
        client.create_system_version(
            system.id,
            "http",
            {
                "url": stack.demo_system_url,
                "body_template": {"question": "{{ inputs.question }}"},
                "response_path": "answer",
            },
            "v1",
        )
    kicked = cli("runs", "kickoff", "--testset", "qa", "--system-version", "demo-qa:v1", "--metric", "exact", "--wait")
    assert kicked.returncode == 0, kicked.stderr
    assert "kicked off" in kicked.stdout and "completed" in kicked.stdout
    systems = json.loads(cli("systems", "list", "--json").stdout)
    assert {(s["system"]["name"], v["kind"]) for s in systems for v in s["versions"]} >= {("demo-qa", "http")}
    gated = cli(*eval_args("--system-version", "demo-qa:v1"), "--fail-under", "exact=0")
    assert gated.returncode == 0, gated.stderr
    (first,) = json.loads(cli("runs", "list", "--source", "kickoff", "--json").stdout)
    # Again: the same testset, metrics and trials, of the same version.
    again = cli("runs", "again", first["id"], "--notes", "once more", "--wait")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("run ") and f"kicked off: {ROWS} records expected" in again.stdout
    redone = json.loads(cli("runs", "list", "--source", "kickoff", "--json").stdout)[0]
    assert (redone["id"] != first["id"], redone["status"], redone["notes"], redone["system_version_id"]) == (
        True,
        "completed",
        "once more",
        first["system_version_id"],
    )
    assert [m["metric_id"] for m in redone["metrics"]] == [m["metric_id"] for m in first["metrics"]]
    noted = cli("runs", "notes", redone["id"], "checked by hand")
    assert noted.stdout.strip() == f"run {redone['id']} notes: checked by hand"
    # Runs kicked off with the key in use (every run here: the cli key), and who kicked them off.
    mine = json.loads(cli("runs", "list", "--mine", "--json").stdout)
    assert len(mine) >= 2 and {(r["created_by"], r["created_by_key_prefix"]) for r in mine} == {("cli", cli.key[:15])}


def test_eval_resumes_a_run_left_without_records(cli: Cli, project: str) -> None:
    with Scorekeeper(cli.url, cli.key, query_url=cli.query_url) as client:
        system = client.create_system(project, "left behind")
        version = client.create_system_version(system.id, "sdk", {}, "v1")
        testset = next(t for t in client.list_testsets(project) if t.name == "qa")
        exact = client.list_metrics(project)[0]
        run = client.create_run(project, testset.id, version.id, [exact.id], source="ci")
    resumed = cli(
        "eval", "--resume", run.id, "--callable", "tests.support.sdk_bots:answer", "--fail-under", "exact=0.7"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run.id}: {ROWS} calls (1 errored), {ROWS} records uploaded, 0 already there" in resumed.stderr
    again = cli("eval", "--resume", run.id, "--callable", "tests.support.sdk_bots:answer")
    assert (
        again.returncode == 0
        and f"run {run.id}: 0 calls (0 errored), 0 records uploaded, {ROWS} already there" in again.stderr
    )


def test_errors_are_one_line_with_exit_2_and_a_cancelled_run_exits_3(cli: Cli, project: str) -> None:
    bad_key = cli("--api-key", "sk_nope", "projects", "list")
    assert bad_key.returncode == 2 and one_error_line(bad_key) == "error: the API key is not valid"
    unknown = str(uuid.uuid4())
    for lookup in (
        ("runs", "watch", unknown),
        ("runs", "export", unknown, "-o", "-"),
        ("eval", "--resume", unknown, "--callable", "tests.support.sdk_bots:answer"),
    ):
        result = cli(*lookup)
        assert result.returncode == 2 and one_error_line(result) == f"error: run {unknown} does not exist", lookup
    usage = [
        (
            eval_args("--fail-under", "exact"),
            "error: --fail-under takes METRIC=THRESHOLD (e.g. exact=0.9 or exact=90%), got 'exact'",
        ),
        (
            eval_args("--callable", "tests.support.sdk_bots:answer", "--fail-under", "nope=1"),
            "error: --fail-under names 'nope', which the run is not scored with (its metrics: exact)",
        ),
        (
            eval_args("--callable", "no_such_module:f"),
            "error: cannot import no_such_module: ModuleNotFoundError: No module named 'no_such_module'",
        ),
        (
            ["eval", "--testset", "qa", "--command", "x", "--callable", "y:z"],
            "error: give exactly one of --command, --callable or --system-version",
        ),
        (["runs", "export", unknown, "--format", "xml"], "error: --format must be csv or jsonl, got 'xml'"),
    ]
    for args, message in usage:
        result = cli(*args)
        assert (result.returncode, one_error_line(result)) == (2, message), args
    missing = cli("runs", "kickoff")
    assert missing.returncode == 2 and one_error_line(missing).startswith("error: Missing option '--testset'")
    debug = cli("--debug", "runs", "watch", unknown)
    assert debug.returncode == 2 and "Traceback" in debug.stderr

    with Scorekeeper(cli.url, cli.key, query_url=cli.query_url) as client:
        system = client.create_system(project, "never runs")
        sdk = client.create_system_version(system.id, "sdk", {}, "v1")
        testset = next(t for t in client.list_testsets(project) if t.name == "qa")
        run = client.create_run(project, testset.id, sdk.id)
    not_again = cli("runs", "again", run.id)
    assert one_error_line(not_again) == (
        f"error: {sdk.id} is an sdk version: run it with `scorekeeper eval --callable/--command`"
    )
    stopped = cli("runs", "cancel", run.id)
    assert stopped.returncode == 0 and stopped.stdout.strip() == f"run {run.id}: cancelled, 0 of {ROWS} records"
    cancelled = cli("runs", "watch", run.id)
    assert cancelled.returncode == 3 and last_error_line(cancelled) == f"error: run {run.id} cancelled"
    assert f"run {run.id}: cancelled" in cancelled.stdout


def test_an_admin_makes_lists_and_revokes_keys_and_the_instance_admin_makes_projects(
    cli: Cli, project: str, stack: Stack
) -> None:
    at = ("--url", cli.url, "--query-url", cli.query_url)
    admin = (*at, "--api-key", cli.key, "--project", project)
    made = cli(*admin, "keys", "create", "nightly ci", "--role", "write")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("sk_") and made.stdout == secret + "\n"  # the secret alone on stdout, for $(…)
    assert made.stderr.strip().endswith("its secret is below, shown this once")
    assert "role write" in cli(*at, "--api-key", secret, "whoami").stdout
    listed = json.loads(cli(*admin, "keys", "list", "--json").stdout)
    (ci_key,) = [k for k in listed if k["name"] == "nightly ci"]
    assert (ci_key["role"], ci_key["revoked_at"], secret.startswith(ci_key["prefix"])) == ("write", "", True)

    sneaky = cli(*at, "--api-key", secret, "--project", project, "keys", "create", "sneaky", "--role", "admin")
    assert sneaky.returncode == 2
    assert one_error_line(sneaky) == "error: CreateApiKey needs a key with the admin role; this key has the write role"
    bad_role = cli(*admin, "keys", "create", "x", "--role", "owner")
    assert bad_role.returncode == 2
    assert one_error_line(bad_role) == "error: --role must be one of read, write, admin, got 'owner'"

    revoked = cli(*admin, "keys", "revoke", ci_key["prefix"])
    assert revoked.returncode == 0 and revoked.stdout == f"revoked key {ci_key['prefix']} 'nightly ci' (write)\n"
    assert one_error_line(cli(*at, "--api-key", secret, "whoami")) == "error: the API key was revoked"
    again = cli(*admin, "keys", "revoke", "nightly ci")
    assert again.returncode == 2 and one_error_line(again).startswith(
        f"error: key {ci_key['prefix']} 'nightly ci' is already revoked ("
    )
    table = cli(*admin, "keys", "list").stdout
    assert "revoked" in table and "nightly ci" in table
    monthly = cli(*admin, "keys", "create", "monthly ci", "--role", "read", "--expires-in-days", "30")
    assert monthly.returncode == 0, monthly.stderr
    assert re.search(r"\(read, expiring \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", monthly.stderr), monthly.stderr
    (expiring,) = [k for k in json.loads(cli(*admin, "keys", "list", "--json").stdout) if k["name"] == "monthly ci"]
    assert f"expires {expiring['expires_at'][:10]}" in cli(*admin, "keys", "list").stdout
    # Rotated: the successor's secret alone on stdout; the old key works through its grace.
    rotated = cli(*admin, "keys", "rotate", "monthly ci", "--grace-hours", "2")
    assert rotated.returncode == 0, rotated.stderr
    successor = rotated.stdout.strip()
    assert successor.startswith("sk_") and rotated.stdout == successor + "\n"
    assert re.fullmatch(
        rf"created key {successor[:15]} 'monthly ci' \(read, expiring \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)"
        rf" in place of {expiring['prefix']}, working until \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC;"
        " its secret is below, shown this once",
        " ".join(rotated.stderr.split()),
    ), rotated.stderr
    assert "role read" in cli(*at, "--api-key", successor, "whoami").stdout
    ambiguous = cli(*admin, "keys", "rotate", "monthly ci")
    assert one_error_line(ambiguous) == (
        f"error: 2 active keys are named 'monthly ci' ({successor[:15]}, {expiring['prefix']}):"
        " give the prefix or the id"
    )
    at_once = cli(*admin, "keys", "rotate", successor[:15])
    assert at_once.returncode == 0 and f"in place of {successor[:15]}, revoked now;" in " ".join(at_once.stderr.split())
    assert one_error_line(cli(*at, "--api-key", successor, "whoami")) == "error: the API key was revoked"
    too_long = cli(*admin, "keys", "create", "x", "--role", "read", "--expires-in-days", "4000")
    assert one_error_line(too_long) == (
        "error: Invalid value for '--expires-in-days': Input should be less than or equal to 3650"
        " (see `scorekeeper keys create --help`)"
    )
    unknown = cli(*admin, "keys", "revoke", "sk_nothere")
    assert unknown.returncode == 2
    assert one_error_line(unknown) == "error: no key 'sk_nothere' in this project (see `scorekeeper keys list`)"

    name = f"cli made {uuid.uuid4().hex[:6]}"
    made_project = cli(*at, "--api-key", stack.admin_key, "projects", "create", name, "--description", "from a shell")
    assert made_project.returncode == 0, made_project.stderr
    project_id = made_project.stdout.removeprefix(f"created project {name!r} (").removesuffix(")\n")
    with Scorekeeper(cli.url, stack.admin_key, query_url=cli.query_url) as client:
        made_one = {(p.name, p.description) for p in client.list_projects() if p.id == project_id}
    assert made_one == {(name, "from a shell")}
    not_mine = cli(*admin, "projects", "create", "not mine to make")
    assert not_mine.returncode == 2 and one_error_line(not_mine) == (
        "error: CreateProject needs a key with the instance_admin role; this key has the admin role"
    )
    first = cli(*at, "--api-key", stack.admin_key, "--project", name, "keys", "create", "owner", "--role", "admin")
    assert first.returncode == 0, first.stderr
    owner = first.stdout.strip()
    assert f"role admin, project {project_id}" in cli(*at, "--api-key", owner, "whoami").stdout
    # A second project of the same name: the name no longer says which, so it is refused, not guessed.
    again = cli(*at, "--api-key", stack.admin_key, "projects", "create", name)
    assert again.returncode == 0, again.stderr
    second = again.stdout.removeprefix(f"created project {name!r} (").removesuffix(")\n")
    ambiguous = cli(*at, "--api-key", stack.admin_key, "--project", name, "testsets", "list")
    assert ambiguous.returncode == 2
    both = ", ".join(sorted([project_id, second]))
    assert one_error_line(ambiguous) == f"error: 2 projects are named {name!r} ({both}): give the id"


async def test_monitors_from_the_command_line(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    async with stack.client() as admin:
        made_project = await admin.create_project(f"cli monitors {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(made_project.id, "cli", "write")).secret
        await admin.create_heuristic_metric(made_project.id, "exact", "exact_match", {"expected_field": "answer"})
        await admin.create_heuristic_metric(made_project.id, "short", "length_between", {"max_length": 40})
    at = ("--url", cli.url, "--query-url", cli.query_url, "--api-key", key)
    create = ("monitors", "create", "cli watch", "--sample-rate", "100", "--every-calls", "2")
    # exact compares with expected values, which logged calls do not carry: refused, nothing made.
    refused = await asyncio.to_thread(cli, *at, *create, "--metric", "exact")
    assert refused.returncode == 2 and one_error_line(refused).startswith(
        "error: metric 'exact' compares the output with expected values, which logged calls do not carry"
    )
    assert json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout) == []
    made = await asyncio.to_thread(cli, *at, *create, "--metric", "short")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created monitor 'cli watch' (") and made.stdout.rstrip().endswith("): active")
    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        "".join(
            json.dumps({"inputs": {"question": q}, "outputs": {"response": a}}) + "\n"
            for q, a in [("1 + 1?", "2"), ("2 + 2?", "a very long answer that goes on and on and on")]
        )
    )
    logged = await asyncio.to_thread(cli, *at, "monitors", "log", str(calls))
    assert logged.returncode == 0, logged.stderr
    listed = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert [(m["name"], m["status"], m["sample_rate"]) for m in listed] == [("cli watch", "active", 100.0)]
    paused = await asyncio.to_thread(cli, *at, "monitors", "pause", "cli watch")
    assert paused.returncode == 0 and "paused" in paused.stdout
    change = ("monitors", "update", "cli watch", "--sample-rate", "20", "--every-minutes", "30", "--filter")
    alert = ("--alert-url", "http://127.0.0.1:9/hook", "--alert-below", "short=80%")
    changed = await asyncio.to_thread(cli, *at, *change, "route=checkout", *alert)
    assert changed.returncode == 0, changed.stderr
    # An alert added to a monitor that had none: its signing secret on stdout alone, once.
    assert " ".join(changed.stderr.split()) == (
        "monitor 'cli watch' (paused): samples 20%, a window every 30 min, scored with short,"
        " alerting http://127.0.0.1:9/hook; the new secret signing its alerts is below, shown this once"
    )
    first_secret = changed.stdout.strip()
    assert first_secret.startswith("whsec_") and len(changed.stdout.splitlines()) == 1
    rotated = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--rotate-secret")
    assert rotated.stdout.strip().startswith("whsec_") and rotated.stdout.strip() != first_secret, rotated.stderr
    kept = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--alert-url", "http://127.0.0.1:9/b")
    assert kept.stdout.strip().endswith("alerting http://127.0.0.1:9/b") and "whsec_" not in kept.stdout + kept.stderr
    # A test alert says what the URL answered: nothing listens at port 9 (exit 1), then a receiver.
    unreached = await asyncio.to_thread(cli, *at, "monitors", "test-alert", "cli watch")
    assert unreached.returncode == 1 and unreached.stdout.startswith(
        "cli watch: test alert failed (could not call http://127.0.0.1:9/b: ConnectError"
    ), unreached.stderr
    with receiver() as hook:
        await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--alert-url", hook.url)
        tested = await asyncio.to_thread(cli, *at, "monitors", "test-alert", "cli watch")
        assert (
            tested.returncode == 0
            and tested.stdout.strip() == f"cli watch: test alert delivered (HTTP 204) — {hook.url}"
        )
        assert [body["type"] for _, body in hook.posts] == ["monitor.test"]
    shown_text = (await asyncio.to_thread(cli, *at, "monitors", "show", "cli watch")).stdout
    assert "last test alert: delivered (HTTP 204) at 20" in shown_text
    assert "  alert: " + hook.url + " when short < 0.8" in shown_text  # the metric by its name
    await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--alert-url", "http://127.0.0.1:9/b")
    (shown,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert shown["last_test_alert"]["status"] == "delivered"
    assert (shown["window_minutes"], shown["window_calls"], shown["metadata_filter"]) == (30, 0, {"route": "checkout"})
    assert [(t["below"], t["metric_id"] == shown["metrics"][0]["metric_id"]) for t in shown["alert"]["thresholds"]] == [
        (0.8, True)
    ]
    cleared = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--no-alert", "--no-filter")
    assert cleared.returncode == 0 and cleared.stdout.strip().endswith("scored with short")
    untestable = await asyncio.to_thread(cli, *at, "monitors", "test-alert", "cli watch")
    assert untestable.returncode == 2 and one_error_line(untestable) == (
        "error: monitor 'cli watch' has no alert to test: give it an alert webhook_url first"
    )
    wrong = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--metric", "exact")
    assert one_error_line(wrong).startswith("error: metric 'exact' compares the output with expected values")
    gone = await asyncio.to_thread(cli, *at, "monitors", "delete", "cli watch")
    assert gone.stdout.strip() == "deleted monitor 'cli watch': the runs of its 1 window stay", gone.stderr
    # Made with an alert: its secret on stdout alone, what was made on stderr.
    alerting = await asyncio.to_thread(
        cli,
        *at,
        *create,
        "--metric",
        "short",
        *alert,
        "--alert-slack",
        "--alert-recovery",
        "--alert-errors-above",
        "5%",
    )
    assert alerting.stdout.strip().startswith("whsec_") and len(alerting.stdout.splitlines()) == 1, alerting.stderr
    assert " ".join(alerting.stderr.split()).endswith(
        "): active; the secret signing its alerts is below, shown this once"
    )
    (slack,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert (slack["alert"]["format"], slack["alert"]["webhook_url"]) == ("slack", "http://127.0.0.1:9/hook")
    assert (slack["alert"]["notify_recovery"], slack["alert"]["max_error_rate"]) == (True, 0.05)
    as_json = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--alert-json")
    assert as_json.returncode == 0, as_json.stderr
    (kept,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert (kept["alert"]["format"], len(kept["alert"]["thresholds"])) == ("json", 1)  # the rest of it kept
    assert (kept["alert"]["notify_recovery"], kept["alert"]["max_error_rate"]) == (True, 0.05)
    no_errors = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--no-alert-errors")
    assert no_errors.returncode == 0, no_errors.stderr
    (kept,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert (kept["alert"]["max_error_rate"], len(kept["alert"]["thresholds"])) == (None, 1)
    muted = await asyncio.to_thread(cli, *at, "monitors", "mute", "cli watch", "--for", "2h")
    assert muted.returncode == 0 and muted.stdout.startswith("monitor 'cli watch': alerts muted until 20"), muted.stderr
    (kept,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert kept["alert_muted_until"] and muted.stdout.strip().endswith(" UTC")
    wrong_for = await asyncio.to_thread(cli, *at, "monitors", "mute", "cli watch", "--for", "2w")
    assert wrong_for.returncode == 2 and one_error_line(wrong_for).startswith("error: --for takes a duration such as")
    unmuted = await asyncio.to_thread(cli, *at, "monitors", "unmute", "cli watch")
    assert unmuted.stdout.strip() == "monitor 'cli watch': alerts on", unmuted.stderr
    below_only = await asyncio.to_thread(cli, *at, "monitors", "update", "cli watch", "--no-alert-recovery")
    assert below_only.returncode == 0, below_only.stderr
    (kept,) = json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout)
    assert (kept["alert"]["notify_recovery"], kept["alert"]["format"]) == (False, "json")
    await asyncio.to_thread(cli, *at, "monitors", "delete", "cli watch")
    assert json.loads((await asyncio.to_thread(cli, *at, "monitors", "list", "--json")).stdout) == []
    unknown = await asyncio.to_thread(cli, *at, "monitors", "pause", "nope")
    assert unknown.returncode == 2 and one_error_line(unknown) == (
        "error: no monitor named 'nope' in this project (see `scorekeeper monitors list`)"
    )


def test_records_list_filters_like_the_records_page(cli: Cli, project: str) -> None:
    at = ("--url", cli.url, "--query-url", cli.query_url, "--api-key", cli.key, "--project", project)
    with Scorekeeper(cli.url, cli.key, query_url=cli.query_url) as client:
        failed = [r.id for r in client.list_records(project_id=project, where=["exact:failed"])]
        errored = [r.id for r in client.list_records(project_id=project, statuses=["errored"])]
    assert failed and errored  # the eval runs above: wrong answers, and a bot that raised
    shown = json.loads(cli(*at, "records", "list", "--where", "exact:failed", "--limit", "1000", "--json").stdout)
    assert [r["id"] for r in shown] == failed
    assert {s["passed"] for r in shown for s in r["scores"] if s["metric_name"] == "exact" and s["current"]} == {False}
    table = cli(*at, "records", "list", "--status", "errored", "--limit", "1")
    assert table.returncode == 0 and errored[0][:8] in table.stdout and "errored:" in table.stdout
    assert table.stderr.strip() == (
        "the first 1 records that match; --limit shows more, --json every field" if len(errored) > 1 else ""
    )
    unknown = cli(*at, "records", "list", "--where", "nope:failed")
    assert unknown.returncode == 2 and one_error_line(unknown) == (
        f"error: score condition: unknown metric 'nope' in project {project}"
    )
    nothing = cli(*at, "records", "list", "--search", "zebra")
    assert (nothing.returncode, nothing.stdout, nothing.stderr.strip()) == (0, "", "no record matches")
