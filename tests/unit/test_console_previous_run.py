"""The run page's "vs previous" column: each metric's change against the previous run."""

from __future__ import annotations

from scorekeeper.v1 import query_pb2 as qpb

from services.console.previous_run import Against, Moved, changes, moved_on_page


def metric(
    metric_id: str, output_type: str, version: int = 1, pass_rate: float | None = None, mean: float | None = None
) -> qpb.MetricSummary:
    summary = qpb.MetricSummary(metric_id=metric_id, output_type=output_type, metric_version=version)
    if pass_rate is not None:
        summary.pass_rate = pass_rate
    if mean is not None:
        summary.mean = mean
    return summary


def test_each_metric_moves_by_its_pass_rate_or_mean() -> None:
    run = qpb.RunView(
        status="completed",
        metrics=[
            metric("exact", "boolean", pass_rate=0.75),
            metric("stars", "int", version=2, mean=3.5),
            metric("overlap", "float", mean=0.5),
            metric("new", "boolean", pass_rate=1.0),  # the previous run has no such metric
            metric("pending", "boolean"),  # nothing scored here yet
        ],
    )
    previous = qpb.RunView(
        metrics=[
            metric("exact", "boolean", pass_rate=1.0),
            metric("stars", "int", mean=3.25),
            metric("overlap", "float", mean=0.5),
            metric("pending", "boolean", pass_rate=0.5),
        ]
    )
    assert changes(run, previous) == {
        "exact": Moved("-25.0 points", "worse", "100.0%"),
        "stars": Moved("+0.250", "better", "3.250", other_version=1),
        "overlap": Moved("+0.000", "same", "0.500"),
    }
    assert changes(run, None) == {}
    # A run still going has no results to compare yet.
    going = qpb.RunView(status="running_scoring", metrics=run.metrics)
    assert changes(going, previous) == {}


async def test_a_run_on_another_testset_than_its_previous_one_is_not_compared_testcase_by_testcase() -> None:
    def run(run_id: str, testset_id: str, previous: str, pass_rate: float) -> qpb.RunView:
        return qpb.RunView(
            id=run_id,
            project_id="p",
            testset_id=testset_id,
            previous_run_id=previous,
            status="completed",
            metrics=[metric("exact", "boolean", pass_rate=pass_rate)],
        )

    # Newest first, every previous run on the page: nothing to read (no API needed).
    page = [
        run("r3", "t2", "r2", 0.5),  # a schedule whose testset changed since r2
        run("r2", "t1", "r1", 1.0),
        run("r1", "t1", "", 0.75),
        qpb.RunView(id="r0", testset_id="t1", previous_run_id="r1", status="running_execution"),  # not yet
    ]
    against = await moved_on_page(None, page)  # type: ignore[arg-type]
    assert against == {
        "r3": Against({"exact": Moved("-50.0 points", "worse", "100.0%")}, comparable=False, url="/projects/p/runs/r2"),
        "r2": Against(
            {"exact": Moved("+25.0 points", "better", "75.0%")},
            comparable=True,
            url="/projects/p/compare?baseline=r1&run=r2&regressions=1&order=delta",
        ),
    }
