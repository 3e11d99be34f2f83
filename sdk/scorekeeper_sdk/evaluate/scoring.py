"""Your own scoring code (run_and_evaluate's ``scorers``): a function per metric of eval type code,
called here on each record the system answered; its score goes up with the record.

A scorer takes any of the keyword arguments ``inputs``, ``output`` (the system's answer as the
record keeps it: its ``response`` field, or the whole outputs when it has none), ``outputs`` (the
record's outputs), ``expected`` and ``metadata`` (the testcase's), by name; sync or async. It
returns ``True`` / ``False`` (a boolean metric), a number (1..5 for an int metric, 0..1 for a float
one), or ``(value, "why")``. What it raises becomes the score's error; the record is kept.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scorekeeper_sdk.api.runs import ScoreIn
from scorekeeper_sdk.clients import AsyncScorekeeper
from scorekeeper_sdk.models import Metric, Testcase
from scorekeeper_sdk.views import Run

Scorer = Callable[..., Any]
ARGUMENTS = ("inputs", "output", "outputs", "expected", "metadata")
CODE = "code"


def _arguments(name: str, scorer: Scorer) -> tuple[str, ...] | None:
    """The keyword arguments the scorer takes (None: every one, through **kwargs)."""
    try:
        parameters = inspect.signature(scorer).parameters.values()
    except (TypeError, ValueError):
        raise ValueError(f"the scorer of {name!r} is not a function") from None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    taken = []
    for p in parameters:
        if p.name in ARGUMENTS and p.kind is not inspect.Parameter.POSITIONAL_ONLY:
            taken.append(p.name)
        elif p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_POSITIONAL:
            raise ValueError(
                f"the scorer of {name!r} takes {p.name!r}; a scorer takes any of {', '.join(ARGUMENTS)} by name"
            )
    return tuple(taken)


def _score(returned: Any) -> ScoreIn:
    value, reasoning = returned if isinstance(returned, tuple) and len(returned) == 2 else (returned, "")
    if not isinstance(value, bool | int | float) or not isinstance(reasoning, str):
        raise TypeError(f"a scorer returns true / false, a number or (value, reasoning), got {type(returned).__name__}")
    if not isinstance(value, bool) and not math.isfinite(value):
        raise TypeError(f"a scorer returns a finite number, got {value}")
    return ScoreIn(value=value if isinstance(value, bool) else float(value), reasoning=reasoning)


@dataclass(frozen=True)
class _Bound:
    metric: Metric
    scorer: Scorer
    arguments: tuple[str, ...] | None


class Scorers:
    """The scorers of a run, by the id of the metric of eval type code each scores."""

    def __init__(self, bound: list[_Bound]) -> None:
        self._bound = bound

    @property
    def metric_ids(self) -> list[str]:
        return [b.metric.id for b in self._bound]

    def __bool__(self) -> bool:
        return bool(self._bound)

    def check_run(self, run: Run) -> None:
        """ValueError unless the run pins exactly the metrics of eval type code these score."""
        pinned = {m.metric_id: m.name for m in run.metrics if m.eval_type == CODE}
        missing = [name for metric_id, name in pinned.items() if metric_id not in self.metric_ids]
        if missing:
            listed = ", ".join(repr(n) for n in missing)
            raise ValueError(f"run {run.id} scores {listed} with your code: pass scorers={{{missing[0]!r}: …}}")
        extra = [b.metric.name for b in self._bound if b.metric.id not in pinned]
        if extra:
            raise ValueError(f"run {run.id} does not score with {', '.join(repr(n) for n in extra)}")

    def score(self, testcase: Testcase, outputs: dict[str, Any]) -> dict[str, ScoreIn]:
        """Each metric's score of one record (a sync scorer called here, in the caller's thread)."""
        return {b.metric.id: self._one(b, testcase, outputs) for b in self._bound if not is_async(b.scorer)}

    async def ascore(self, testcase: Testcase, outputs: dict[str, Any]) -> dict[str, ScoreIn]:
        """The async scorers' scores of one record."""
        found = {}
        for b in self._bound:
            if is_async(b.scorer):
                try:
                    found[b.metric.id] = _score(await b.scorer(**_given(b, testcase, outputs)))
                except Exception as exc:
                    found[b.metric.id] = _raised(exc)
        return found

    @staticmethod
    def _one(b: _Bound, testcase: Testcase, outputs: dict[str, Any]) -> ScoreIn:
        try:
            return _score(b.scorer(**_given(b, testcase, outputs)))
        except Exception as exc:
            return _raised(exc)


def is_async(function: Any) -> bool:
    """Whether calling it gives a coroutine (async def, or an object with an async __call__)."""
    if inspect.iscoroutinefunction(function):
        return True
    return not inspect.isroutine(function) and inspect.iscoroutinefunction(type(function).__call__)


def _raised(exc: Exception) -> ScoreIn:
    return ScoreIn(error=f"{type(exc).__name__}: {exc}"[:10_000])


def _given(b: _Bound, testcase: Testcase, outputs: dict[str, Any]) -> dict[str, Any]:
    every = {
        "inputs": testcase.inputs,
        "output": outputs.get("response", outputs),
        "outputs": outputs,
        "expected": testcase.expected,
        "metadata": testcase.metadata,
    }
    return every if b.arguments is None else {k: every[k] for k in b.arguments}


async def resolve(
    client: AsyncScorekeeper, project_id: str, scorers: Mapping[str, Scorer], chosen: Sequence[str] = ()
) -> Scorers:
    """The scorers keyed by the metrics they score (named by id or name, each of eval type code);
    ValueError also for a ``chosen`` metric id of eval type code that none scores."""
    metrics = await client.list_metrics(project_id) if scorers or chosen else []
    by_key = {m.id: m for m in metrics} | {m.name: m for m in metrics}
    bound: list[_Bound] = []
    for key, scorer in scorers.items():
        metric = by_key.get(key)
        if metric is None:
            raise ValueError(f"scorers: no metric {key!r} in the project (create it with eval_type='code')")
        if metric.eval_type != CODE:
            raise ValueError(
                f"scorers: {metric.name!r} is a {metric.eval_type} metric, which the platform scores;"
                " scorers are for metrics of eval type code"
            )
        if any(b.metric.id == metric.id for b in bound):
            raise ValueError(f"scorers: {metric.name!r} is given twice (by its name and its id)")
        bound.append(_Bound(metric, scorer, _arguments(metric.name, scorer)))
    scored = {b.metric.id for b in bound}
    unscored = [m.name for m in metrics if m.id in chosen and m.eval_type == CODE and m.id not in scored]
    if unscored:
        raise ValueError(
            f"{', '.join(repr(n) for n in unscored)} {'is' if len(unscored) == 1 else 'are'} scored by your code:"
            f" pass scorers={{{unscored[0]!r}: a function}}"
        )
    return Scorers(bound)
