"""Heuristic metrics: exact_match, contains and regex, their params and their reasoning text."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import (
    ContainsParams,
    ExactMatchParams,
    HeuristicError,
    RegexParams,
    Verdict,
    _show,
    evaluate,
    validate_params,
)

NFC_E = "Caf\u00e9"  # "Café" with a precomposed é
NFD_E = "Cafe\u0301"  # "Café" as e + combining acute accent


# --- exact_match --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "expected", "passed", "reasoning"),
    [
        pytest.param({}, "Paris", {"answer": "Paris"}, True, "exact match: 'Paris'", id="identical"),
        pytest.param(
            {},
            "paris",
            {"answer": "Paris"},
            False,
            "expected 'Paris', got 'paris'",
            id="case-differs-case-sensitive-default",
        ),
        pytest.param(
            {"case_sensitive": False},
            "PARIS",
            {"answer": "Paris"},
            True,
            "expected 'Paris', got 'PARIS' — match after normalisation",
            id="case-insensitive",
        ),
        pytest.param(
            {"case_sensitive": False},
            "Straße",
            {"answer": "STRASSE"},
            True,
            "expected 'STRASSE', got 'Straße' — match after normalisation",
            id="casefold-not-lower",
        ),
        pytest.param(
            {},
            "  Paris \n",
            {"answer": "Paris"},
            True,
            "expected 'Paris', got '  Paris \\n' — match after normalisation",
            id="strip-outer-whitespace",
        ),
        pytest.param(
            {},
            "New   \t York",
            {"answer": "New York"},
            True,
            "expected 'New York', got 'New   \\t York' — match after normalisation",
            id="fold-inner-whitespace",
        ),
        pytest.param(
            {"strip_whitespace": False},
            " Paris",
            {"answer": "Paris"},
            False,
            "expected 'Paris', got ' Paris'",
            id="whitespace-kept-when-disabled",
        ),
        pytest.param(
            {},
            NFD_E,
            {"answer": NFC_E},
            True,
            f"expected {NFC_E!r}, got {NFD_E!r} — match after normalisation",
            id="nfd-vs-nfc-normalised",
        ),
        pytest.param(
            {"unicode_normalize": False},
            NFD_E,
            {"answer": NFC_E},
            False,
            f"expected {NFC_E!r}, got {NFD_E!r}",
            id="nfd-vs-nfc-not-normalised",
        ),
        pytest.param({}, "Pariss", {"answer": "Paris"}, False, "expected 'Paris', got 'Pariss'", id="wrong"),
        pytest.param({}, "", {"answer": "Paris"}, False, "expected 'Paris', got ''", id="empty-output"),
        pytest.param({}, "", {"answer": ""}, True, "exact match: ''", id="empty-output-empty-expected"),
        pytest.param({}, 42, {"answer": "42"}, True, "exact match: '42'", id="int-output-vs-str-expected"),
        pytest.param({}, "42", {"answer": 42}, True, "exact match: '42'", id="str-output-vs-int-expected"),
        pytest.param({}, 1.5, {"answer": "1.5"}, True, "exact match: '1.5'", id="float-output"),
        pytest.param({}, 41, {"answer": 42}, False, "expected '42', got '41'", id="int-vs-int-wrong"),
        pytest.param(
            {"expected_field": "b"},
            "two",
            {"a": "one", "b": "two"},
            True,
            "exact match: 'two'",
            id="explicit-expected-field",
        ),
        pytest.param(
            {"output_field": "text"}, "hi", {"answer": "hi"}, True, "exact match: 'hi'", id="explicit-output-field"
        ),
    ],
)
def test_exact_match(
    params: dict[str, Any], output: Any, expected: dict[str, Any], passed: bool, reasoning: str
) -> None:
    field = params.get("output_field", "response")
    assert evaluate("exact_match", params, {field: output}, expected) == Verdict(passed, reasoning)


@pytest.mark.parametrize(
    ("params", "outputs", "expected", "message"),
    [
        pytest.param(
            {},
            {"response": "x"},
            {},
            "set params.expected_field: the testcase has 0 expected fields",
            id="no-expected-fields",
        ),
        pytest.param(
            {},
            {"response": "x"},
            {"a": "1", "b": "2"},
            "set params.expected_field: the testcase has 2 expected fields",
            id="two-expected-fields",
        ),
        pytest.param(
            {"expected_field": "c"},
            {"response": "x"},
            {"a": "1"},
            "the testcase has no expected field 'c'",
            id="named-expected-field-missing",
        ),
        pytest.param(
            {}, {"answer": "x"}, {"a": "1"}, "the output has no field 'response'", id="default-output-field-missing"
        ),
        pytest.param(
            {"output_field": "text"}, {}, {"a": "1"}, "the output has no field 'text'", id="named-output-field-missing"
        ),
    ],
)
def test_exact_match_cannot_score(
    params: dict[str, Any], outputs: dict[str, Any], expected: dict[str, Any], message: str
) -> None:
    with pytest.raises(HeuristicError) as caught:
        evaluate("exact_match", params, outputs, expected)
    assert str(caught.value) == message


def test_heuristic_error_is_a_value_error() -> None:
    # score_heuristic relies on this to turn a record it cannot score into an errored score.
    assert issubclass(HeuristicError, ValueError)


# --- contains -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "expected", "passed", "reasoning"),
    [
        pytest.param({"value": "Paris"}, "The answer is Paris.", {}, True, "output contains 'Paris'", id="value-found"),
        pytest.param(
            {"value": "Paris"},
            "The answer is paris.",
            {},
            False,
            "output 'The answer is paris.' does not contain 'Paris'",
            id="value-case-sensitive-default",
        ),
        pytest.param(
            {"value": "Paris", "case_sensitive": False},
            "THE ANSWER IS PARIS.",
            {},
            True,
            "output contains 'Paris'",
            id="value-case-insensitive",
        ),
        pytest.param(
            {"value": "Berlin"}, "Paris", {}, False, "output 'Paris' does not contain 'Berlin'", id="value-absent"
        ),
        pytest.param(
            {"expected_field": "answer"},
            "It is 42.",
            {"answer": 42, "other": "x"},
            True,
            "output contains '42'",
            id="expected-field-int-found",
        ),
        pytest.param(
            {"expected_field": "answer"},
            "It is 41.",
            {"answer": "42"},
            False,
            "output 'It is 41.' does not contain '42'",
            id="expected-field-absent",
        ),
        pytest.param({"value": "x"}, "", {}, False, "output '' does not contain 'x'", id="empty-output"),
        pytest.param({"value": "1"}, 1234, {}, True, "output contains '1'", id="int-output"),
    ],
)
def test_contains(params: dict[str, Any], output: Any, expected: dict[str, Any], passed: bool, reasoning: str) -> None:
    assert evaluate("contains", params, {"response": output}, expected) == Verdict(passed, reasoning)


def test_contains_expected_field_missing() -> None:
    with pytest.raises(HeuristicError, match=r"^the testcase has no expected field 'answer'$"):
        evaluate("contains", {"expected_field": "answer"}, {"response": "x"}, {"other": "x"})


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="neither"),
        pytest.param({"value": "a", "expected_field": "answer"}, id="both"),
    ],
)
def test_contains_needs_exactly_one_source(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params("contains", params)
    assert str(caught.value) == (
        "invalid params for contains: params: Value error, "
        "give exactly one of 'value' (a fixed string) or 'expected_field'"
    )


def test_contains_rejects_empty_value() -> None:
    with pytest.raises(ValueError, match=r"params\.value"):
        validate_params("contains", {"value": ""})


# --- regex --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "passed", "reasoning"),
    [
        pytest.param(
            {"pattern": r"\d+"}, "answer: 42", True, r"output 'answer: 42' has a match for /\d+/", id="search-found"
        ),
        pytest.param(
            {"pattern": r"\d+"},
            "no digits",
            False,
            r"output 'no digits' does not contain a match for /\d+/",
            id="search-absent",
        ),
        pytest.param(
            {"pattern": r"\d+", "mode": "fullmatch"}, "42", True, r"output '42' matches /\d+/", id="fullmatch-whole"
        ),
        pytest.param(
            {"pattern": r"\d+", "mode": "fullmatch"},
            "answer: 42",
            False,
            r"output 'answer: 42' does not match /\d+/",
            id="fullmatch-partial-fails",
        ),
        pytest.param(
            {"pattern": "paris"},
            "Paris",
            False,
            "output 'Paris' does not contain a match for /paris/",
            id="case-sensitive-default",
        ),
        pytest.param(
            {"pattern": "paris", "ignore_case": True},
            "PARIS",
            True,
            "output 'PARIS' has a match for /paris/",
            id="ignore-case",
        ),
        pytest.param({"pattern": "^$", "mode": "fullmatch"}, "", True, "output '' matches /^$/", id="empty-output"),
        pytest.param({"pattern": "^4[0-9]$"}, 42, True, "output '42' has a match for /^4[0-9]$/", id="int-output"),
    ],
)
def test_regex(params: dict[str, Any], output: Any, passed: bool, reasoning: str) -> None:
    assert evaluate("regex", params, {"response": output}, {}) == Verdict(passed, reasoning)


def test_regex_defaults() -> None:
    parsed = validate_params("regex", {"pattern": "x"})
    assert parsed == RegexParams(pattern="x", ignore_case=False, mode="search", output_field="response")


# --- params validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "regex",
            {"pattern": "("},
            "invalid params for regex: params.pattern: Value error, invalid regular expression: "
            "missing ), unterminated subpattern at position 0",
            id="regex-does-not-compile",
        ),
        pytest.param(
            "regex",
            {"pattern": ""},
            "invalid params for regex: params.pattern: String should have at least 1 character",
            id="regex-empty-pattern",
        ),
        pytest.param(
            "regex", {}, "invalid params for regex: params.pattern: Field required", id="regex-missing-pattern"
        ),
        pytest.param(
            "regex",
            {"pattern": "a", "mode": "match"},
            "invalid params for regex: params.mode: Input should be 'search' or 'fullmatch'",
            id="regex-bad-mode",
        ),
        pytest.param(
            "exact_match",
            {"foo": 1},
            "invalid params for exact_match: params.foo: Extra inputs are not permitted",
            id="exact-match-extra-field",
        ),
        pytest.param(
            "contains",
            {"value": "a", "ignorecase": True},
            "invalid params for contains: params.ignorecase: Extra inputs are not permitted",
            id="contains-extra-field-typo",
        ),
        pytest.param(
            "regex",
            {"pattern": "a", "flags": "i"},
            "invalid params for regex: params.flags: Extra inputs are not permitted",
            id="regex-extra-field",
        ),
        pytest.param(
            "exact_match",
            {"case_sensitive": "maybe"},
            "invalid params for exact_match: params.case_sensitive: Input should be a valid boolean, "
            "unable to interpret input",
            id="exact-match-bad-bool",
        ),
        pytest.param(
            "levenshtein",
            {},
            "unknown heuristic kind 'levenshtein'; known kinds: contains, exact_match, regex",
            id="unknown-kind",
        ),
        pytest.param("", {}, "unknown heuristic kind ''; known kinds: contains, exact_match, regex", id="empty-kind"),
    ],
)
def test_validate_params_rejects(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, params)
    assert str(caught.value) == message


def test_evaluate_rejects_bad_params_like_validate_params() -> None:
    with pytest.raises(ValueError, match=r"^invalid params for regex: params\.pattern: "):
        evaluate("regex", {"pattern": "[a-"}, {"response": "a"}, {})


@pytest.mark.parametrize(
    ("kind", "params", "parsed"),
    [
        pytest.param("exact_match", {}, ExactMatchParams(), id="exact-match-defaults"),
        pytest.param("contains", {"value": "x"}, ContainsParams(value="x"), id="contains-value"),
        pytest.param(
            "contains",
            {"expected_field": "answer", "case_sensitive": False},
            ContainsParams(expected_field="answer", case_sensitive=False),
            id="contains-field",
        ),
        pytest.param(
            "regex",
            {"pattern": "a+", "mode": "fullmatch", "ignore_case": True},
            RegexParams(pattern="a+", mode="fullmatch", ignore_case=True),
            id="regex-all",
        ),
    ],
)
def test_validate_params_accepts(kind: str, params: dict[str, Any], parsed: object) -> None:
    assert validate_params(kind, params) == parsed


def test_exact_match_defaults() -> None:
    p = ExactMatchParams()
    assert (p.output_field, p.expected_field, p.case_sensitive, p.strip_whitespace, p.unicode_normalize) == (
        "response",
        None,
        True,
        True,
        True,
    )


# --- reasoning size -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("", "''", id="empty"),
        pytest.param("a" * 80, repr("a" * 80), id="exactly-80-kept"),
        pytest.param("a" * 81, repr("a" * 79 + "…"), id="81-cut-to-80"),
        pytest.param("b" * 1_000_000, repr("b" * 79 + "…"), id="1mb-cut-to-80"),
        pytest.param("it's", '"it\'s"', id="repr-quoting"),
    ],
)
def test_show(text: str, shown: str) -> None:
    assert _show(text) == shown


MEGABYTE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("kind", "params", "output", "expected", "passed", "reasoning"),
    [
        pytest.param(
            "exact_match",
            {},
            MEGABYTE,
            {"answer": MEGABYTE},
            True,
            f"exact match: {'x' * 79 + '…'!r}",
            id="exact-match-1mb-equal",
        ),
        pytest.param(
            "exact_match",
            {},
            MEGABYTE,
            {"answer": "y"},
            False,
            f"expected 'y', got {'x' * 79 + '…'!r}",
            id="exact-match-1mb-wrong",
        ),
        pytest.param(
            "contains",
            {"value": "needle"},
            MEGABYTE + "needle",
            {},
            True,
            "output contains 'needle'",
            id="contains-needle-at-end",
        ),
        pytest.param(
            "contains",
            {"value": "needle"},
            MEGABYTE,
            {},
            False,
            f"output {'x' * 79 + '…'!r} does not contain 'needle'",
            id="contains-1mb-absent",
        ),
        pytest.param(
            "regex",
            {"pattern": "y$"},
            MEGABYTE + "y",
            {},
            True,
            f"output {'x' * 79 + '…'!r} has a match for /y$/",
            id="regex-1mb",
        ),
    ],
)
def test_huge_output(
    kind: str, params: dict[str, Any], output: str, expected: dict[str, Any], passed: bool, reasoning: str
) -> None:
    verdict = evaluate(kind, params, {"response": output}, expected)
    assert verdict == Verdict(passed, reasoning)
    assert len(verdict.reasoning) < 200


# --- JSON values that are not strings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "want"),
    [
        pytest.param(True, "true", id="bool"),
        pytest.param(None, "null", id="null"),
    ],
)
def test_exact_match_json_scalars_compare_as_json(output: Any, want: str) -> None:
    assert evaluate("exact_match", {}, {"response": output}, {"answer": want}).passed
