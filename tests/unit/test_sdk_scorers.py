"""Your own scorers in the SDK: which arguments they take, what they may return, what raising does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scorekeeper_sdk.api.runs import ScoreIn
from scorekeeper_sdk.evaluate.scoring import Scorers, _arguments, _Bound, _score
from scorekeeper_sdk.models import Metric
from scorekeeper_sdk.models import Testcase as Case

METRIC = Metric("m1", "p", "concise", "code", "boolean", "v1", 1)
CASE = Case("t1", "s", 0, data={}, inputs={"q": "2+2"}, expected={"answer": "4"}, metadata={"lang": "en"})


def test_a_scorer_takes_the_arguments_it_names() -> None:
    assert _arguments("x", lambda output, expected: True) == ("output", "expected")
    assert _arguments("x", lambda **everything: True) is None
    assert _arguments("x", lambda output, strict=True: True) == ("output",)
    with pytest.raises(ValueError, match="the scorer of 'x' takes 'record'; a scorer takes any of inputs, output"):
        _arguments("x", lambda record: True)


def test_a_scorer_returns_a_verdict_a_number_or_a_pair_with_its_reasoning() -> None:
    assert _score(True) == ScoreIn(True)
    assert _score(3) == ScoreIn(3.0)
    assert _score((0.25, "a quarter")) == ScoreIn(0.25, "a quarter")
    for bad in ("yes", None, (1, 2), float("nan")):
        with pytest.raises(TypeError):
            _score(bad)


def test_each_record_is_scored_and_what_a_scorer_raises_is_its_error() -> None:
    def concise(output: str) -> tuple[bool, str]:
        return len(output) < 3, f"{len(output)} characters"

    async def strict(expected: dict[str, Any], output: str) -> bool:
        if output == "?":
            raise KeyError("no idea")
        return bool(output == expected["answer"])

    other = Metric("m2", "p", "strict", "code", "boolean", "v2", 1)
    scorers = Scorers([_Bound(METRIC, concise, ("output",)), _Bound(other, strict, ("expected", "output"))])
    assert scorers.metric_ids == ["m1", "m2"]
    assert scorers.score(CASE, {"response": "4"}) == {"m1": ScoreIn(True, "1 characters")}
    assert asyncio.run(scorers.ascore(CASE, {"response": "4"})) == {"m2": ScoreIn(True)}
    assert asyncio.run(scorers.ascore(CASE, {"response": "?"})) == {"m2": ScoreIn(error="KeyError: 'no idea'")}
    # outputs without a response field: output is the whole outputs
    assert scorers.score(CASE, {"answer": "4"})["m1"].reasoning == "1 characters"  # len of the dict
