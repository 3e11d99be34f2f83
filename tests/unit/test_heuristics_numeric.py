"""Structured heuristics: numeric_close, and the params structured heuristics refuse."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, validate_params
from shared.scoring.heuristics.structured import NumericCloseParams
from tests.support.heuristics import judge, rejects

# --- numeric_close ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "expected", "verdict"),
    [
        pytest.param(
            {"value": 3.14159, "abs_tol": 0.01},
            "3.14",
            {},
            Verdict(True, "3.14 is within ±0.01 of 3.14159 (off by 0.00159)"),
            id="abs-pass",
        ),
        pytest.param(
            {"value": 3.14, "abs_tol": 0.01},
            3.15,
            {},
            Verdict(True, "3.15 is within ±0.01 of 3.14 (off by 0.01)"),
            id="abs-at-boundary-despite-float-error",
        ),
        pytest.param(
            {"value": 3.14, "abs_tol": 0.01},
            3.16,
            {},
            Verdict(False, "3.16 is not within ±0.01 of 3.14 (off by 0.02)"),
            id="abs-fail",
        ),
        pytest.param(
            {"expected_field": "total", "rel_tol": 0.05},
            " 104 ",
            {"total": "100"},
            Verdict(True, "104 is within ±5 of 100 (off by 4)"),
            id="rel-expected-string",
        ),
        pytest.param(
            {"expected_field": "total", "rel_tol": 0.05},
            106,
            {"total": 100},
            Verdict(False, "106 is not within ±5 of 100 (off by 6)"),
            id="rel-fail",
        ),
        pytest.param(
            {"value": 0, "abs_tol": 0.001, "rel_tol": 0.5},
            "0.002",
            {},
            Verdict(False, "0.002 is not within ±0.001 of 0 (off by 0.002)"),
            id="rel-of-zero-falls-back-to-abs",
        ),
        pytest.param(
            {"value": 1e-5, "abs_tol": 1e-6},
            "1.5e-5",
            {},
            Verdict(False, "0.000015 is not within ±0.000001 of 0.00001 (off by 0.000005)"),
            id="tiny-numbers-positional",
        ),
        pytest.param(
            {"value": 42, "abs_tol": 0.5},
            "４２",
            {},
            Verdict(True, "42 is within ±0.5 of 42 (off by 0)"),
            id="fullwidth-digits",
        ),
        pytest.param(
            {"value": -7, "abs_tol": 1},
            "-7.4",
            {},
            Verdict(True, "-7.4 is within ±1 of -7 (off by 0.4)"),
            id="negative",
        ),
    ],
)
def test_numeric_close(params: dict[str, Any], output: Any, expected: dict[str, Any], verdict: Verdict) -> None:
    assert judge("numeric_close", params, output, expected) == verdict


@pytest.mark.parametrize(
    ("output", "expected", "message"),
    [
        pytest.param("about 42", {"n": 42}, "the output is not a number: 'about 42'", id="words"),
        pytest.param("", {"n": 42}, "the output is not a number: ''", id="empty"),
        pytest.param(True, {"n": 1}, "the output is not a number: 'true'", id="bool"),
        pytest.param(None, {"n": 1}, "the output is not a number: 'null'", id="null"),
        pytest.param([1], {"n": 1}, "the output is not a number: '[1]'", id="list"),
        pytest.param("nan", {"n": 1}, "the output is not a finite number: 'nan'", id="nan"),
        pytest.param("1e999", {"n": 1}, "the output is not a finite number: '1e999'", id="overflow"),
        pytest.param(10**400, {"n": 1}, f"the output is not a number: {'1' + '0' * 78 + '…'!r}", id="huge-int"),
        pytest.param("42", {"n": "forty-two"}, "the expected field 'n' is not a number: 'forty-two'", id="expected"),
        pytest.param("42", {}, "the testcase has no expected field 'n'", id="no-expected"),
    ],
)
def test_numeric_close_cannot_score(output: Any, expected: dict[str, Any], message: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge("numeric_close", {"expected_field": "n", "abs_tol": 1}, output, expected)
    assert str(caught.value) == message


def test_numeric_close_parses() -> None:
    assert validate_params("numeric_close", {"value": "2.5", "rel_tol": 0.1}) == NumericCloseParams(
        value=2.5, rel_tol=0.1
    )


# --- params -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "json_valid",
            {"schema": {}},
            "invalid params for json_valid: params.schema: Extra inputs are not permitted",
            id="json-valid-takes-no-schema",
        ),
        pytest.param(
            "json_schema", {}, "invalid params for json_schema: params.schema: Field required", id="schema-missing"
        ),
        pytest.param(
            "json_schema",
            {"schema": {"type": "strin"}},
            "invalid params for json_schema: params.schema: Value error, invalid JSON schema at $.type: "
            "'strin' is not valid under any of the given schemas",
            id="schema-bad-type",
        ),
        pytest.param(
            "json_schema",
            {"schema": {"properties": {"age": {"minimum": "zero"}}}},
            "invalid params for json_schema: params.schema: Value error, invalid JSON schema at "
            "$.properties.age.minimum: 'zero' is not of type 'number'",
            id="schema-nested-error",
        ),
        pytest.param(
            "json_schema",
            {"schema": "object"},
            "invalid params for json_schema: params.schema: Input should be a valid dictionary",
            id="schema-not-an-object",
        ),
        pytest.param(
            "json_path_equals",
            {"path": "city", "value": "Paris"},
            "invalid params for json_path_equals: params.path: Value error, invalid JSONPath: "
            "expected 'TOKEN_ROOT', found 'TOKEN_NAME' at position 0",
            id="path-without-root",
        ),
        pytest.param(
            "json_path_equals",
            {"path": "$.items[", "value": 1},
            "invalid params for json_path_equals: params.path: Value error, invalid JSONPath: "
            "unexpected end of query at position 8",
            id="path-unterminated",
        ),
        pytest.param(
            "json_path_equals",
            {"path": "$.a", "expected_field": "a", "value": None},
            "invalid params for json_path_equals: params: Value error, "
            "give exactly one of 'value' (a fixed JSON value) or 'expected_field'",
            id="path-both-sources-even-null",
        ),
        pytest.param(
            "json_path_equals",
            {"path": "$.a"},
            "invalid params for json_path_equals: params: Value error, "
            "give exactly one of 'value' (a fixed JSON value) or 'expected_field'",
            id="path-no-source",
        ),
        pytest.param(
            "numeric_close",
            {"value": 1},
            "invalid params for numeric_close: params: Value error, give 'abs_tol' or 'rel_tol' greater than 0",
            id="numeric-no-tolerance",
        ),
        pytest.param(
            "numeric_close",
            {"value": 1, "abs_tol": -0.1},
            "invalid params for numeric_close: params.abs_tol: Input should be greater than or equal to 0",
            id="numeric-negative-tolerance",
        ),
        pytest.param(
            "numeric_close",
            {"value": "NaN", "abs_tol": 1},
            "invalid params for numeric_close: params.value: Input should be a finite number",
            id="numeric-nan-value",
        ),
        pytest.param(
            "numeric_close",
            {"abs_tol": 1},
            "invalid params for numeric_close: params: Value error, "
            "give exactly one of 'value' (a fixed number) or 'expected_field'",
            id="numeric-no-source",
        ),
    ],
)
def test_structured_params_rejected(kind: str, params: dict[str, Any], message: str) -> None:
    assert rejects(kind, params) == message
