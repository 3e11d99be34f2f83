"""The command line's parts without a server: gates, JUnit XML and Markdown, the --command system,
the progress bar, and the sync client's twin of every async operation."""

from __future__ import annotations

import inspect
import io
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from junitparser import Error, Failure, JUnitXml, Skipped
from rich.console import Console
from scorekeeper.v1 import query_pb2 as qpb
from typer.main import get_command_name

from scorekeeper_sdk import AsyncScorekeeper, Scorekeeper
from scorekeeper_sdk.api.reads import ReadOperations
from scorekeeper_sdk.baselines import moved
from scorekeeper_sdk.cli import globals_first, invoked
from scorekeeper_sdk.cli.app import app
from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.cli.gates import (
    Threshold,
    check_regressions,
    check_thresholds,
    check_usage,
    check_worse,
    parse_threshold,
    parse_usage_limit,
)
from scorekeeper_sdk.cli.monitor_alerts import minutes_of
from scorekeeper_sdk.cli.monitors import _alert, _results
from scorekeeper_sdk.cli.reports import summary_markdown, write_junit
from scorekeeper_sdk.cli.run_history import shown, sparkline
from scorekeeper_sdk.cli.show import testcase_change as change_of
from scorekeeper_sdk.cli.show import usage_line
from scorekeeper_sdk.cli.systems import CommandFailed, CommandSystem, load_callable
from scorekeeper_sdk.errors import FailedPrecondition
from scorekeeper_sdk.evaluate.progress import Bar, Quiet, tracker
from scorekeeper_sdk.models import AlertThreshold
from scorekeeper_sdk.usage import UsageChange, usage_changes
from scorekeeper_sdk.views import (
    Comparison,
    HistoryPoint,
    MetricComparison,
    MetricSummary,
    Record,
    Run,
    RunTotals,
    RunUsage,
    Score,
    ScoreChange,
    WeakSlice,
)
from scorekeeper_sdk.views import TestcaseComparison as Compared  # not a test class
from scorekeeper_sdk.views.monitors import Monitor, MonitorAlert, MonitorWindow, WindowMetric

RUN = Run(
    id="r1",
    project_id="p1",
    status="completed",
    url="http://console/projects/p1/runs/r1",
    testset_name="qa",
    testset_version=2,
    records=4,
    expected_records=4,
    errored_records=1,
    metrics=[
        MetricSummary("m1", "exact", "boolean", scored=3, passed=2, pass_rate=2 / 3, mean=2 / 3),
        MetricSummary("m2", "quality", "int", scored=3, passed=3, mean=4.0),
        MetricSummary("m3", "unscored", "float", errored=3),
    ],
)


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        ("exact=0.9", Threshold("exact", 0.9)),
        ("exact=90%", Threshold("exact", 0.9)),
        ("a=b=3.5", Threshold("a=b", 3.5)),
    ],
)
def test_thresholds(text: str, threshold: Threshold) -> None:
    assert parse_threshold(text) == threshold


@pytest.mark.parametrize("text", ["exact", "=0.9", "exact=", "exact=high"])
def test_bad_thresholds_are_usage_errors(text: str) -> None:
    with pytest.raises(CliError) as raised:
        parse_threshold(text)
    assert raised.value.code == 2


def test_gates_use_the_pass_rate_of_boolean_metrics_and_the_mean_of_others() -> None:
    gates = check_thresholds(
        RUN,
        [Threshold("exact", 0.66), Threshold("exact", 0.67), Threshold("m2", 4.0), Threshold("unscored", 0.1)],
    )
    assert [(g.passed, g.detail) for g in gates] == [
        (True, "exact: pass rate 66.7% >= 66.0%"),
        (False, "exact: pass rate 66.7% < 67.0%"),
        (True, "quality: mean 4.000 >= 4.000"),
        (False, "unscored: no score to compare (3 errored)"),
    ]
    with pytest.raises(KeyError, match="run r1 has no metric 'nope'"):
        check_thresholds(RUN, [Threshold("nope", 1)])


def test_regressions_gate() -> None:
    clean = Comparison("r1", "r0", metrics=[MetricComparison("m1", "exact", improvements=2)])
    regressed = Comparison("r1", "r0", metrics=[MetricComparison("m1", "exact", regressions=3)])
    assert check_regressions(clean).passed
    gate = check_regressions(regressed)
    assert (gate.passed, gate.detail) == (False, "regressed testcases: exact: 3")


def test_the_worse_gate_fails_only_beyond_chance() -> None:
    noisy = MetricComparison("m1", "judge", regressions=6, improvements=3, pairs=20, p_value=0.508)
    worse = MetricComparison("m2", "exact", regressions=9, improvements=1, pairs=20, p_value=22 / 1024)
    better = MetricComparison("m3", "tone", regressions=0, improvements=8, pairs=20, p_value=2 / 256)
    assert (noisy.verdict, worse.verdict, better.verdict) == ("no clear difference", "worse", "better")
    assert MetricComparison("m4", "same", pairs=5).verdict == "no clear difference"
    few = MetricComparison("m5", "few", regressions=4, pairs=5, p_value=0.125)
    assert few.verdict == "too few differ to tell"  # 4 of 4 regressed: a sign test cannot tell yet
    assert check_worse(Comparison("r1", "r0", metrics=[noisy, better])).passed
    gate = check_worse(Comparison("r1", "r0", metrics=[noisy, worse]))
    assert (gate.passed, gate.detail) == (False, "worse beyond chance: exact (9 regressed, 1 improved, p = 0.021)")


def _record(n: int, status: str = "completed", scores: list[Score] | None = None, error: str = "") -> Record:
    return Record(f"rec{n}", "r1", f"tc{n}", 0, status, inputs={"q": f"question {n}"}, error=error, scores=scores or [])


def test_junit_has_a_testcase_per_record_and_metric_with_reasons(tmp_path: Path) -> None:
    records = [
        _record(
            1,
            scores=[
                Score("s1", "m1", "exact", "completed", passed=True),
                Score("s2", "m2", "quality", "completed", value=4, passed=True),
            ],
        ),
        _record(
            2,
            scores=[
                Score("s3", "m1", "exact", "completed", passed=False, reasoning="expected '4', got '5'"),
                Score("s4", "m2", "quality", "errored", error="judge unavailable"),
            ],
        ),
        _record(3, status="errored", error="ValueError: cannot answer"),
        _record(4, scores=[Score("s5", "m1", "exact", "pending")]),
    ]
    run = Run(**{**RUN.__dict__, "metrics": RUN.metrics[:2]})
    path = tmp_path / "junit.xml"
    write_junit(path, run, records, check_thresholds(run, [Threshold("exact", 0.9)]))
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    cases = suites["scorekeeper run r1"]
    assert (cases.tests, cases.failures, cases.errors, cases.skipped) == (8, 1, 3, 2)
    results = [(c.classname, type(r).__name__, r.message) for c in cases for r in c.result]
    assert ("scorekeeper.exact", "Failure", "expected '4', got '5'") in results
    assert ("scorekeeper.quality", "Error", "judge unavailable") in results
    assert results.count(("scorekeeper.exact", "Error", "ValueError: cannot answer")) == 1
    assert {c.name for c in cases} >= {"question 1 [tc1 trial 0]"}
    gates = suites["scorekeeper gates"]
    assert (gates.tests, gates.failures) == (1, 1)
    assert isinstance(next(iter(next(iter(gates)).result)), Failure)
    assert all(isinstance(r, Failure | Error | Skipped) for c in cases for r in c.result)


def test_markdown_summary() -> None:
    text = summary_markdown(
        RUN,
        check_thresholds(RUN, [Threshold("exact", 0.9)]),
        Comparison(
            "r1",
            "r0",
            testcases_compared=4,
            metrics=[MetricComparison("m1", "exact", regressions=1, baseline_mean=1.0, mean=0.5)],
        ),
    )
    assert text.startswith("### ❌ Scorekeeper evaluation failed\n")
    assert (
        "Run [r1](http://console/projects/p1/runs/r1): **completed**, 4/4 records (1 errored), testset qa v2." in text
    )
    assert "| exact | 66.7% | 2/3 | 0 |" in text and "| quality | 4.000 | 3/3 | 0 |" in text
    assert "| exact >= 90.0% | **fail** | exact: pass rate 66.7% < 90.0% |" in text
    assert "| exact | 1.000 | 0.500 | 1 | 0 |" in text
    assert "Where it fails most" not in text  # no slice below the rest beyond chance
    weak = WeakSlice(
        "metadata.topic", "a|b", "m1", "exact", scored=40, pass_rate=0.25, rest_scored=160, rest_pass_rate=0.8,
        q_value=0.00012,
    )  # fmt: skip
    with_weak = summary_markdown(RUN, [], None, [weak])
    assert "Where it fails most: slices below the rest of the run beyond chance (q < 0.05):" in with_weak
    # The slice opens its records on the run page.
    records = "http://console/projects/p1/runs/r1?by=metadata.topic&field=metadata.topic%3Da%7Cb#records"
    assert f"| [metadata.topic=a\\|b]({records}) | exact | 25.0% of 40 | 80.0% of 160 | 0.00012 |" in with_weak
    assert "regressed against the baseline" not in with_weak
    worse = WeakSlice(
        "metadata.topic", "math", "m1", "exact", scored=50, pass_rate=0.4, baseline_scored=50, baseline_pass_rate=0.8,
        q_value=0.0004,
    )  # fmt: skip
    against = summary_markdown(RUN, [], None, [], [worse])
    assert "Slices that regressed against the baseline beyond chance (q < 0.05):" in against
    assert "| metadata.topic=math | exact | 80.0% of 50 | 40.0% of 50 | – | 0.0004 |" in against  # two samples
    paired = summary_markdown(RUN, [], None, [], [replace(worse, worse_testcases=21, better_testcases=1)], "b1")
    # The slice opens its testcases on the compare page, against the baseline.
    compare = "http://console/projects/p1/compare?baseline=b1&run=r1&by=metadata.topic&field=metadata.topic%3Dmath"
    assert f"| [metadata.topic=math]({compare}) | exact | 80.0% of 50 | 40.0% of 50 | 21 / 1 | 0.0004 |" in paired
    assert "Where it fails most" not in against


def test_the_summary_lists_the_largest_drops_each_opening_it_side_by_side() -> None:
    drop = ScoreChange("m1", "exact", "regression", baseline_value=1.0, value=0.0, delta=-1.0)
    same = ScoreChange("m2", "quality", "unchanged", baseline_value=4.0, value=4.0, delta=0.0)
    cases = [
        Compared("tc-1", {"question": "Capital of | France?"}, changes=[drop, same]),
        Compared("tc-2", {"question": "x" * 100}, changes=[replace(drop, value=0.5, delta=-0.5)]),
    ]
    comparison = Comparison("r1", "r0", testcases_compared=4, testcases=cases, next_page_token="more")
    text = summary_markdown(RUN, [], comparison)
    side = "http://console/projects/p1/compare/testcase?baseline=r0&run=r1&testcase={}&regressions=1&order=delta"
    every = "http://console/projects/p1/compare?baseline=r0&run=r1&regressions=1&order=delta"
    assert f"Regressed testcases, the largest drop first ([every one]({every})):" in text
    assert f"| [tc-1]({side.format('tc-1')}) | Capital of \\| France? | exact 1 → 0 |" in text
    assert f"| [tc-2]({side.format('tc-2')}) | {'x' * 59}… | exact 1 → 0.5 |" in text
    # A server that tells how many regressed: the table's share of them.
    counted = summary_markdown(RUN, [], replace(comparison, listed=12))
    assert f"Regressed testcases, the largest drop first (2 of 12: [every one]({every})):" in counted
    alone = summary_markdown(RUN, [], replace(comparison, testcases=cases[:1], next_page_token=""))
    assert "Regressed testcases, the largest drop first:" in alone and "every one" not in alone
    assert "Regressed testcases" not in summary_markdown(RUN, [], replace(comparison, testcases=[]))
    assert change_of(cases[0]) == "regressed: testcase tc-1: exact 1.0 → 0.0"


def test_usage_against_a_baseline_is_told_per_record_and_left_out_where_neither_run_has_it() -> None:
    baseline = replace(RUN, id="r0", totals=RunTotals(latency_ms_total=1400.0, prompt_tokens=40, completion_tokens=20))
    run = replace(
        RUN,
        totals=RunTotals(
            latency_ms_total=2800.0,
            prompt_tokens=40,
            completion_tokens=20,
            cost_usd=0.05,
            costed_records=2,
            judge_cost_usd=0.004,
            latency_p50_ms=650.0,
            latency_p95_ms=1200.0,
            latency_p99_ms=1390.0,
        ),
    )
    changes = usage_changes(RunUsage.of_run(baseline), RunUsage.of_run(run))
    assert [(u.name, u.baseline, u.value, u.moved) for u in changes] == [
        ("latency", 350.0, 700.0, "+100%"),
        ("p95 latency", None, 1200.0, "n/a"),  # the baseline's records are not all in
        ("tokens per record", 15.0, 15.0, "+0%"),
        ("cost per record", None, 0.025, "n/a"),  # the baseline reported no cost
        ("judge cost per record", 0.0, 0.001, "n/a"),
    ]
    assert [u.shown for u in changes] == [
        "latency 350 ms → 700 ms (+100%)",
        "p95 latency – → 1,200 ms",
        "tokens per record 15 → 15 (+0%)",
        "cost per record – → $0.0250",
        "judge cost per record $0.0000 → $0.0010",
    ]
    assert usage_changes(RunUsage.of_run(RUN), RunUsage.of_run(RUN)) == []  # neither run used anything told
    # The same costs summed in another order: a change in the last bits is +0%, never -0%.
    assert UsageChange("cost per record", 0.01, 0.01 * (1 - 1e-15), "usd").moved == "+0%"
    assert UsageChange("cost per record", 0.01, 0.00996, "usd").moved == "+0%"  # -0.4%
    assert UsageChange("cost per record", 0.01, 0.0099, "usd").moved == "-1%"
    # A system answering in well under a millisecond: its latency said as steps' times are, not "0 ms".
    assert UsageChange("latency", 0.31, 0.38, "ms").shown == "latency 0.31 ms → 0.38 ms (+23%)"
    assert UsageChange("p95 latency", 4.25, 12.4, "ms").shown == "p95 latency 4.2 ms → 12 ms (+192%)"
    text = summary_markdown(RUN, [], None, baseline_run_id="r0", usage=changes)
    assert "| usage | baseline | this run | change |" in text
    assert "| latency | 350 ms | 700 ms | +100% |" in text and "| cost per record | – | $0.0250 | n/a |" in text


def test_a_runs_summary_says_what_its_records_reported_and_nothing_else() -> None:
    assert usage_line(RUN) == ""
    totals = RunTotals(
        latency_ms_total=1400.0,
        latency_ms_mean=350.0,
        prompt_tokens=60,
        completion_tokens=30,
        latency_p50_ms=300.0,
        latency_p95_ms=575.0,
        latency_p99_ms=12345.0,
        cost_usd=0.04,
        costed_records=4,
    )
    assert usage_line(replace(RUN, totals=totals)) == (
        "latency mean 350 ms, p50 300 ms, p95 575 ms, p99 12,345 ms · 90 tokens · system cost $0.0400"
    )
    live = RunTotals(latency_ms_total=1400.0, latency_ms_mean=350.0, judge_cost_usd=0.001)
    assert usage_line(replace(RUN, totals=live)) == "latency mean 350 ms · judge cost $0.0010"


def test_usage_limits_are_parsed_and_judged_per_record_alone_or_against_the_baseline() -> None:
    assert parse_usage_limit("latency=800").name == "latency <= 800 ms"
    assert parse_usage_limit(" cost = 0.002 ").name == "cost per record <= $0.0020"
    relative = parse_usage_limit("tokens=+20%")
    assert (relative.limit, relative.relative, relative.name) == (
        0.2,
        True,
        "tokens per record <= +20% of the baseline's",
    )
    for text, message in [
        ("speed=3", "MEASURE one of latency, p95-latency, tokens, cost, judge-cost"),
        ("latency", "MEASURE one of latency"),
        ("latency=20%", "a share of the baseline's is signed, as latency=+20%"),
        ("cost=-1", "a limit is 0 or more"),
        ("cost=free", "'free' is not a number"),
        ("latency=nan", "'nan' is not a number"),
        ("latency=+inf%", "'+inf%' is not a number"),
    ]:
        with pytest.raises(CliError, match=re.escape(message)):
            parse_usage_limit(text)
    before = RunUsage("r0", "", 4, 250.0, 40, 20, 0.02, 2, 0.0, latency_p95_ms=400.0)
    run = RunUsage("r1", "", 4, 320.0, 40, 20, 0.0, 0, 0.0, latency_p95_ms=900.0)  # 28% slower; no cost reported
    texts = ("latency=+25%", "latency=400", "tokens=+0%", "cost=0.05", "p95-latency=800", "p95-latency=+200%")
    limits = [parse_usage_limit(t) for t in texts]
    assert [(g.passed, g.detail) for g in check_usage(run, before, limits)] == [
        (False, "latency 250 ms → 320 ms (+28%) > +25%"),
        (True, "latency 320 ms <= 400 ms"),
        (True, "tokens per record 15 → 15 (+0%) <= +0%"),
        (False, "cost per record: the run has none to compare"),
        (False, "p95 latency 900 ms > 800 ms"),
        (True, "p95 latency 400 ms → 900 ms (+125%) <= +200%"),
    ]
    assert check_usage(run, None, limits[:1])[0].detail == "latency: the baseline has none to compare"


BOT = (
    f"{sys.executable} -c \"import json,sys; i=json.loads(sys.stdin.readline()); print('log line');"
    " print(json.dumps({'response': i['q'].upper()}))\""
)


async def test_a_command_per_testcase() -> None:
    assert await CommandSystem(BOT, 10)({"q": "paris"}) == {"response": "PARIS"}
    with pytest.raises(CommandFailed, match="exit code 3: boom"):
        await CommandSystem(f"{sys.executable} -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\"", 10)({})
    with pytest.raises(CommandFailed, match="stdout is not JSON: not json"):
        await CommandSystem("echo not json", 10)({})
    with pytest.raises(CommandFailed, match="the command wrote nothing on stdout"):
        await CommandSystem("true", 10)({})
    with pytest.raises(TimeoutError, match=r"no answer within 0\.2s"):
        await CommandSystem("sleep 30", 0.2)({})


def test_load_callable() -> None:
    assert load_callable("tests.support.sdk_bots:answer")({"n": 1}) == "2"
    for spec, message in [
        ("tests.support.sdk_bots", "--callable takes MODULE:FUNCTION"),
        ("tests.support.sdk_bots:nope", "tests.support.sdk_bots has no nope"),
        ("tests.support.sdk_bots:__doc__", "tests.support.sdk_bots:__doc__ is not callable"),
    ]:
        with pytest.raises(CliError, match=message):
            load_callable(spec)


def test_the_bar_shows_done_errored_and_uploaded_on_a_terminal_only() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    bar = tracker(True, console)
    assert isinstance(bar, Bar)
    bar.start(10, "run abc")
    for errored in (False, True, False):
        bar.called(errored)
    bar.uploaded(3)
    bar.stop()
    assert "3/10" in out.getvalue() and "1 errored" in out.getvalue() and "3 uploaded" in out.getvalue()
    assert isinstance(tracker(True, Console(file=io.StringIO())), Quiet)
    assert isinstance(tracker(False, console), Quiet)


def test_the_sync_client_has_a_twin_of_every_async_operation() -> None:
    operations = {
        name
        for name, member in inspect.getmembers(AsyncScorekeeper)
        if not name.startswith("_") and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    }
    operations -= {"close"}
    assert (
        len(operations) == 113
    )  # 49, the retry of errored records, six of the review queue, three of the playground, flush, six of
    # monitors, the import that creates a testset, the version that names its system, the comparison
    # of two testset versions, archiving and unarchiving a run, metric agreement, score distribution
    # a project's records export, a project renamed, archiving and unarchiving a metric, the run matrix, run tags,
    # six of run webhooks, five of schedules, a key's rotation, a monitor's update and deletion, and its test alert,
    # the audit log, eight of logged calls and their feedback, a run's breakdown and its weak slices,
    # the runs' usage over time, every testcase of a comparison, the previous run, a run's steps, the calls' steps
    assert operations <= set(vars(Scorekeeper))
    for name in operations:
        twin = vars(Scorekeeper)[name]
        kind = "_Iterate" if inspect.isasyncgenfunction(getattr(AsyncScorekeeper, name)) else "_Call"
        assert type(twin).__name__ == kind, name


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        (["runs", "list", "--project", "mine", "--json"], ["--project", "mine", "runs", "list", "--json"]),
        (
            ["--debug", "metrics", "list", "--project=p", "--api-key", "k"],
            ["--debug", "--project=p", "--api-key", "k", "metrics", "list"],
        ),
        (
            ["--url", "grpc://h:1", "eval", "--debug", "--testset", "qa"],
            ["--url", "grpc://h:1", "--debug", "eval", "--testset", "qa"],
        ),
        # login has --url, --api-key and --project of its own; after "--" nothing is an option.
        (["login", "--url", "u", "--project", "p"], ["login", "--url", "u", "--project", "p"]),
        (["eval", "--", "./bot", "--project", "x"], ["eval", "--", "./bot", "--project", "x"]),
        (["runs", "list"], ["runs", "list"]),
        ([], []),
    ],
)
def test_the_global_options_are_taken_after_the_command_too(given: list[str], parsed: list[str]) -> None:
    assert globals_first(given) == parsed


def _names(typer_app: typer.Typer) -> list[str]:
    return sorted(
        [str(g.name) for g in typer_app.registered_groups]
        + [c.name or get_command_name(c.callback.__name__) for c in typer_app.registered_commands if c.callback]
    )


def test_only_the_named_commands_branch_is_built_and_every_command_for_help_or_an_unknown_name() -> None:
    assert _names(invoked(["--project", "p", "runs", "list", "--json"])) == ["runs"]
    assert _names(invoked(["--project=p", "eval", "--", "./bot"])) == ["eval"]
    assert _names(invoked(["login", "--url", "u"])) == ["login"]
    everything = _names(app)
    assert len(everything) > 15 and {"runs", "calls", "eval", "login"} <= set(everything)
    for args in ([], ["--help"], ["--project", "p"], ["bogus", "list"]):
        assert invoked(args) is app, args
    # The app itself is left whole.
    assert _names(app) == everything


def test_a_monitor_windows_results_read_as_a_person_says_them() -> None:
    polite = WindowMetric("m1", "polite", "pass_rate", value=0.7, scored=10, alert_below=0.8, below=True)
    topic = WindowMetric("m2", "on topic", "mean", value=0.91234, scored=10, alert_below=0.5)
    unscored = WindowMetric("m3", "tone", "mean")
    done = MonitorWindow(1, "r", 10, run_status="completed", metrics=[polite, topic])
    assert _results(done) == "polite 70.0% below 80.0%, on topic 0.912"
    close = WindowMetric("m1", "polite", "pass_rate", value=113 / 119, scored=119, alert_below=0.95, below=True)
    assert _results(MonitorWindow(3, "r", 120, run_status="completed", metrics=[close])) == "polite 94.958% below 95.0%"
    scoring = MonitorWindow(2, "r", 10, run_status="running", metrics=[unscored])
    assert _results(scoring) == "tone — (running)"
    # The users' feedback given during the window, after the scores.
    thumbs = WindowMetric("m4", "thumbs", "pass_rate", value=0.4, scored=5, alert_below=0.8, below=True)
    rating = WindowMetric("m5", "rating", "mean", value=2.0, scored=2, alert_below=3.0)
    users = MonitorWindow(4, "r", 10, run_status="completed", metrics=[polite], feedback=[thumbs, rating])
    slow = MonitorWindow(
        5, "r", 10, run_status="completed", metrics=[polite], latency_p95_ms=1234.5, latency_above=True
    )
    assert _results(slow) == "polite 70.0% below 80.0%, p95 1,234 ms too slow"
    assert (
        _results(users)
        == "polite 70.0% below 80.0%, users' thumbs 40.0% below 80.0% (5 given), users' rating 2 (2 given)"
    )


def test_a_monitors_alert_reads_as_what_it_posts() -> None:
    def alert(**kwargs: object) -> str:
        return _alert(Monitor("m", "p", "checkout", "active", alert=MonitorAlert(**kwargs)))  # type: ignore[arg-type]

    assert alert() == ""
    assert alert(webhook_url="https://h/x") == "https://h/x"
    assert alert(webhook_url="https://h/x", format="slack") == "https://h/x (Slack text)"
    assert (
        alert(webhook_url="https://h/x", format="slack", notify_recovery=True)
        == "https://h/x (Slack text, and recoveries)"
    )
    assert alert(webhook_url="https://h/x", notify_recovery=True) == "https://h/x (and recoveries)"
    errors = alert(webhook_url="https://h/x", max_error_rate=0.05, notify_recovery=True)
    assert errors == "https://h/x (errors above 5%, and recoveries)"
    thumbs = [AlertThreshold("t", 0.8)]
    slow = alert(webhook_url="https://h/x", max_latency_ms=1500.0, feedback_thresholds=thumbs)
    assert slow == "https://h/x (p95 latency above 1,500 ms, users' feedback)"


def test_a_mute_is_typed_as_a_duration() -> None:
    assert [minutes_of(t) for t in ("30m", "2h", "1d", "45", " 7D ")] == [30, 120, 1440, 45, 10_080]
    for bad in ("", "h", "0h", "2w", "1.5h", "-1h"):
        with pytest.raises(CliError, match="--for takes a duration such as 30m, 2h or 1d"):
            minutes_of(bad)


async def test_slices_against_a_baseline_are_refused_from_a_server_that_ignores_the_baseline() -> None:
    class OlderServer:
        """Answers GetWeakSlices as a server before baseline_run_id did: against the rest."""

        async def unary(self, path: str, request: qpb.GetWeakSlicesRequest, *_: object, **__: object) -> object:
            return qpb.WeakSlices(run_id=request.run_id, tested=2)

    reads = ReadOperations.__new__(ReadOperations)
    reads._transport = OlderServer()  # type: ignore[assignment]
    with pytest.raises(FailedPrecondition, match=r"predates baseline_run_id\); upgrade it"):
        await reads.weak_slices("r1", baseline_run_id="r0")
    assert (await reads.weak_slices("r1")).tested == 2


async def test_a_slice_is_refused_from_a_server_that_ignores_it() -> None:
    class OlderServer:
        """Answers as a server before `fields` did: for every record and every testcase."""

        async def unary(self, path: str, request: object, *_: object, **__: object) -> object:
            if path.endswith("GetRunHistory"):
                return qpb.GetRunHistoryResponse(series=[qpb.MetricSeries(metric_id="m1", name="exact")])
            return qpb.CompareRunsResponse(run_id="r1", baseline_run_id="r0", testcases_compared=40)

    reads = ReadOperations.__new__(ReadOperations)
    reads._transport = OlderServer()  # type: ignore[assignment]
    with pytest.raises(FailedPrecondition, match=r"cannot count a slice's history \(it predates fields\)"):
        await reads.run_history("p1", ["exact"], fields=["metadata.lang=fr"])
    with pytest.raises(FailedPrecondition, match=r"cannot compare a slice's testcases \(it predates fields\)"):
        await reads.compare_runs("r1", "r0", fields=["metadata.lang=fr"])
    assert [s.name for s in await reads.run_history("p1", ["exact"])] == ["exact"]
    assert (await reads.compare_runs("r1", "r0")).testcases_compared == 40


def test_a_history_reads_as_figures_and_bars() -> None:
    # A pass rate on 0..100 whatever the series holds; a mean between the series' ends; a gap blank.
    assert sparkline([0.0, 50.0, None, 100.0], percent=True) == "▁▅ █"
    assert sparkline([60.0, 60.0], percent=True) == "▅▅"
    assert sparkline([0.2, 0.4, 0.6], percent=False) == "▁▅█"
    assert sparkline([0.5, 0.5], percent=False) == "▄▄"  # no spread: the middle
    assert sparkline([None, None], percent=False) == "  "
    point = HistoryPoint(
        "r", "2026-12-06T10:00:00Z", "completed", output_type="boolean", value=83.33, scored=6, passed=5
    )
    assert shown(point) == "83.3% (5/6)"
    assert shown(HistoryPoint("r", "", "completed", output_type="float", value=0.714, scored=6)) == "0.71 (6)"
    assert shown(HistoryPoint("r", "", "running_execution", output_type="float")) == "–"
    assert shown(None) == ""


def test_a_runs_change_against_its_previous_run_is_in_points_for_a_pass_rate() -> None:
    def run(status: str, *metrics: MetricSummary) -> Run:
        return Run(id="r", project_id="p", status=status, metrics=list(metrics))

    exact = MetricSummary("m1", "exact", "boolean", pass_rate=0.65)
    quality = MetricSummary("m2", "quality", "float", mean=0.5)
    before = run("completed", replace(exact, pass_rate=1.0), replace(quality, mean=0.25))
    changes = moved(run("completed", exact, quality), before)
    assert changes == {"m1": pytest.approx(-35.0), "m2": pytest.approx(0.25)}
    # A metric the previous run lacks, or a result on either side missing: no change said.
    assert moved(run("completed", exact, quality), run("completed", replace(exact, pass_rate=None))) == {}
    # A run still going, or none before it: nothing to compare.
    assert moved(run("running_scoring", exact), before) == moved(run("completed", exact), None) == {}
