"""run_and_evaluate: run your own Python system over a testset and let Scorekeeper score it.

The run's system is an ``sdk`` system version (created or reused by name); the records are
executed here and uploaded; the scoring happens on the server. See ``outputs.py`` for what the
system may return (tokens, cost and metadata included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, overload

from scorekeeper_sdk.clients import AsyncScorekeeper, Scorekeeper
from scorekeeper_sdk.evaluate.outputs import Output
from scorekeeper_sdk.evaluate.progress import Tracker, tracker
from scorekeeper_sdk.evaluate.runner import Runner, System
from scorekeeper_sdk.evaluate.scoring import Scorer, resolve
from scorekeeper_sdk.evaluate.setup import default_testset_name, resumable, sdk_version, testset_from
from scorekeeper_sdk.views import MetricSummary, Run

__all__ = ["Evaluation", "Output", "arun_and_evaluate", "run_and_evaluate"]

log = logging.getLogger("scorekeeper_sdk")
P = ParamSpec("P")


@dataclass(frozen=True)
class Evaluation:
    """The run an evaluation made or resumed, and what this call did: ``calls`` made (``errored``
    of them raised), records ``uploaded``, and ``skipped`` pairs that had a record already."""

    run: Run
    calls: int
    errored: int
    uploaded: int
    skipped: int

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def url(self) -> str:
        return self.run.url

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def metrics(self) -> list[MetricSummary]:
        """Per-metric aggregates (complete once the run is completed: ``wait=True``)."""
        return self.run.metrics


async def arun_and_evaluate(
    client: AsyncScorekeeper,
    *,
    system: System,
    project_id: str | None = None,
    testset_id: str | None = None,
    testcases: Sequence[dict[str, Any]] | None = None,
    metric_ids: Sequence[str] = (),
    metric_group_id: str = "",
    system_version: str | None = None,
    system_id: str | None = None,
    system_name: str | None = None,
    system_config: dict[str, Any] | None = None,
    trials: int = 1,
    max_concurrency: int = 8,
    notes: str = "",
    source: str = "api",
    wait: bool = False,
    wait_timeout_s: float | None = None,
    progress: bool = True,
    resume_run_id: str | None = None,
    progress_tracker: Tracker | None = None,
    testcase_ids: Sequence[str] = (),
    metadata_filter: Mapping[str, Any] | None = None,
    sample: int = 0,
    sample_seed: int = 0,
    tags: Sequence[str] = (),
    scorers: Mapping[str, Scorer] | None = None,
) -> Evaluation:
    """The async run_and_evaluate (see :func:`run_and_evaluate`)."""
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if resume_run_id:
        run, done = await resumable(client, resume_run_id)
        yours = await resolve(client, run.project_id, scorers or {})
        yours.check_run(run)
    else:
        project = project_id or client.settings.project
        if not project:
            raise ValueError("project_id is required (or resume_run_id)")
        if (testset_id is None) == (testcases is None):
            raise ValueError("give exactly one of testset_id or testcases")
        yours = await resolve(client, project, scorers or {}, metric_ids)
        if testcases is not None:
            testset_id = await testset_from(client, project, testcases, default_testset_name(system, system_name))
        assert testset_id is not None
        version = await sdk_version(
            client,
            project,
            system=system,
            system_id=system_id,
            system_name=system_name,
            version_name=system_version,
            config=system_config,
        )
        run = await client.create_run(
            project,
            testset_id,
            version.id,
            [*metric_ids, *(m for m in yours.metric_ids if m not in metric_ids)],
            source=source,
            trials=trials,
            notes=notes,
            metric_group_id=metric_group_id,
            testcase_ids=testcase_ids,
            metadata_filter=metadata_filter,
            sample=sample,
            sample_seed=sample_seed,
            tags=tags,
        )
        done = set()
        try:
            yours.check_run(run)  # a metric group's code metric without a scorer
        except ValueError:
            await client.cancel_run(run.id)
            raise
    shown = progress_tracker or tracker(progress)
    runner = Runner(client, run, system, max_concurrency=max_concurrency, tracker=shown, scorers=yours)
    shown.start(max(0, run.expected_records - len(done)), f"run {run.id[:8]}")
    try:
        tally = await runner.execute(done)
    except BaseException as exc:
        shown.stop()
        log.warning(
            "run %s interrupted (%s) after %d calls, %d records uploaded; resume it with"
            " run_and_evaluate(..., resume_run_id=%r) or `scorekeeper eval --resume %s`",
            run.id,
            type(exc).__name__,
            runner.tally.calls,
            runner.tally.uploaded,
            run.id,
            run.id,
        )
        raise
    shown.stop()
    final = await client.wait_for_run(run.id, wait_timeout_s) if wait else await client.get_run(run.id)
    return Evaluation(final, tally.calls, tally.errored, tally.uploaded, len(done))


class _RunAndEvaluate(Generic[P]):
    """run_and_evaluate: arun_and_evaluate's options, called with a sync or an async client."""

    def __init__(self, evaluate: Callable[Concatenate[AsyncScorekeeper, P], Coroutine[Any, Any, Evaluation]]) -> None:
        self._evaluate = evaluate

    @overload
    def __call__(self, client: Scorekeeper, /, *args: P.args, **kwargs: P.kwargs) -> Evaluation: ...
    @overload
    def __call__(
        self, client: AsyncScorekeeper, /, *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, Evaluation]: ...
    def __call__(self, client: Scorekeeper | AsyncScorekeeper, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        if isinstance(client, AsyncScorekeeper):
            return self._evaluate(client, *args, **kwargs)
        return client.run(self._evaluate(client.aio, *args, **kwargs))


run_and_evaluate = _RunAndEvaluate(arun_and_evaluate)
run_and_evaluate.__doc__ = """Runs ``system`` (a callable taking a testcase's inputs dict; sync or async) over a
testset and lets Scorekeeper score the records; returns an :class:`Evaluation` (``.id``, ``.url``,
``.status``; ``.metrics`` aggregates with ``wait=True``). With an AsyncScorekeeper it returns a
coroutine to await.

Options: ``project_id``; ``testset_id`` or ``testcases=[{"inputs": {...}, "expected": {...}}]``;
``metric_ids`` / ``metric_group_id``; ``system``; ``system_name`` (default: the callable's name),
``system_version`` (a version name, created or reused), ``system_id`` (an existing system),
``system_config`` (the version's config); ``trials`` (1); ``max_concurrency`` (8 calls in flight:
threads for a sync callable, tasks for an async one); ``notes``; ``source`` ("api"); ``wait``
(False: return once every record is uploaded; True: once scored); ``progress`` (a bar on a
terminal); ``resume_run_id`` (complete an interrupted run: only the testcase × trial pairs without
a record are called); part of the testset only: ``testcase_ids``, ``metadata_filter`` ({"category":
"math"}, a list value for any of its items) and ``sample`` (at most that many testcases, drawn at
random: the same ones for the same ``sample_seed`` and testset version); ``tags`` label the run;
``scorers`` ({"metric name or id": function}): your own scoring code for metrics of eval type code,
called here on each answered record — ``def concise(output, expected) -> bool`` taking any of
``inputs``, ``output``, ``outputs``, ``expected``, ``metadata`` and returning true / false, a number
or (value, reasoning) — its scores uploaded with the records (see ``evaluate/scoring.py``)."""
