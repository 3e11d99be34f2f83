"""Text heuristics: exact_match, contains, contains_all, contains_any, not_contains, starts_with, regex,
length_between — verdicts, exact reasoning, and params."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, evaluate, validate_params
from shared.scoring.heuristics.text import ContainsManyParams, ContainsParams, ExactMatchParams, RegexParams
from shared.scoring.record import ScoringInput

NFC_E = "Caf\u00e9"  # "Café" with a precomposed é
NFD_E = "Cafe\u0301"  # "Café" as e + combining acute accent
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji, five code points


def judge(kind: str, params: dict[str, Any], output: Any, expected: dict[str, Any] | None = None) -> Verdict:
    field = params.get("output_field", "response")
    return evaluate(kind, params, ScoringInput(outputs={field: output}, expected=expected or {}))


def rejects(kind: str, params: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, params)
    return str(caught.value)


# --- exact_match --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "expected", "verdict"),
    [
        pytest.param({}, "Paris", {"answer": "Paris"}, Verdict(True, "exact match: 'Paris'"), id="identical"),
        pytest.param(
            {}, "paris", {"answer": "Paris"}, Verdict(False, "expected 'Paris', got 'paris'"), id="case-sensitive"
        ),
        pytest.param(
            {"case_sensitive": False},
            "paris ",
            {"answer": "Paris"},
            Verdict(True, "expected 'Paris', got 'paris ' — match after normalisation"),
            id="case-insensitive-and-trailing-space",
        ),
        pytest.param(
            {"case_sensitive": False},
            "Straße",
            {"answer": "STRASSE"},
            Verdict(True, "expected 'STRASSE', got 'Straße' — match after normalisation"),
            id="casefold-not-lower",
        ),
        pytest.param(
            {},
            "New   \t York\n",
            {"answer": "New York"},
            Verdict(True, "expected 'New York', got 'New   \\t York\\n' — match after normalisation"),
            id="fold-whitespace",
        ),
        pytest.param(
            {"strip_whitespace": False},
            " Paris",
            {"answer": "Paris"},
            Verdict(False, "expected 'Paris', got ' Paris'"),
            id="whitespace-kept-when-disabled",
        ),
        pytest.param(
            {},
            NFD_E,
            {"answer": NFC_E},
            Verdict(True, f"expected {NFC_E!r}, got {NFD_E!r} — match after normalisation"),
            id="nfd-vs-nfc",
        ),
        pytest.param(
            {"unicode_normalize": False},
            NFD_E,
            {"answer": NFC_E},
            Verdict(False, f"expected {NFC_E!r}, got {NFD_E!r}"),
            id="nfd-vs-nfc-not-normalised",
        ),
        pytest.param({}, "東京", {"answer": "東京"}, Verdict(True, "exact match: '東京'"), id="cjk"),
        pytest.param({}, "👍", {"answer": "👎"}, Verdict(False, "expected '👎', got '👍'"), id="emoji-differs"),
        pytest.param({}, "", {"answer": "Paris"}, Verdict(False, "expected 'Paris', got ''"), id="empty-output"),
        pytest.param({}, "", {"answer": ""}, Verdict(True, "exact match: ''"), id="empty-both"),
        pytest.param({}, 42, {"answer": "42"}, Verdict(True, "exact match: '42'"), id="int-output"),
        pytest.param({}, "42", {"answer": 42}, Verdict(True, "exact match: '42'"), id="int-expected"),
        pytest.param({}, True, {"answer": "true"}, Verdict(True, "exact match: 'true'"), id="json-true"),
        pytest.param({}, None, {"answer": "null"}, Verdict(True, "exact match: 'null'"), id="json-null"),
        pytest.param(
            {"expected_field": "b"}, "two", {"a": "one", "b": "two"}, Verdict(True, "exact match: 'two'"), id="named"
        ),
        pytest.param(
            {"output_field": "text"}, "hi", {"answer": "hi"}, Verdict(True, "exact match: 'hi'"), id="output-field"
        ),
    ],
)
def test_exact_match(params: dict[str, Any], output: Any, expected: dict[str, Any], verdict: Verdict) -> None:
    assert judge("exact_match", params, output, expected) == verdict


@pytest.mark.parametrize(
    ("params", "expected", "message"),
    [
        pytest.param({}, {}, "set params.expected_field: the testcase has 0 expected fields", id="none"),
        pytest.param({}, {"a": 1, "b": 2}, "set params.expected_field: the testcase has 2 expected fields", id="two"),
        pytest.param({"expected_field": "c"}, {"a": 1}, "the testcase has no expected field 'c'", id="named-missing"),
    ],
)
def test_exact_match_cannot_score(params: dict[str, Any], expected: dict[str, Any], message: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge("exact_match", params, "x", expected)
    assert str(caught.value) == message


def test_exact_match_defaults() -> None:
    assert validate_params("exact_match", {}) == ExactMatchParams(
        output_field="response", expected_field=None, case_sensitive=True, strip_whitespace=True, unicode_normalize=True
    )


# --- contains, starts_with ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "output", "expected", "verdict"),
    [
        pytest.param(
            "contains",
            {"value": "Paris"},
            "The answer is Paris.",
            {},
            Verdict(True, "output contains 'Paris'"),
            id="contains-found",
        ),
        pytest.param(
            "contains",
            {"value": "Paris"},
            "the answer is paris.",
            {},
            Verdict(False, "output 'the answer is paris.' does not contain 'Paris'"),
            id="contains-case-sensitive",
        ),
        pytest.param(
            "contains",
            {"value": "Paris", "case_sensitive": False},
            "PARIS!",
            {},
            Verdict(True, "output contains 'Paris'"),
            id="contains-case-insensitive",
        ),
        pytest.param(
            "contains",
            {"expected_field": "answer"},
            "It is 42.",
            {"answer": 42, "other": "x"},
            Verdict(True, "output contains '42'"),
            id="contains-expected-int",
        ),
        pytest.param(
            "contains",
            {"value": NFC_E},
            f"Un {NFD_E} noir",
            {},
            Verdict(True, f"output contains {NFC_E!r}"),
            id="contains-nfd-output-nfc-value",
        ),
        pytest.param(
            "contains",
            {"value": NFC_E, "unicode_normalize": False},
            NFD_E,
            {},
            Verdict(False, f"output {NFD_E!r} does not contain {NFC_E!r}"),
            id="contains-nfd-not-normalised",
        ),
        pytest.param(
            "contains", {"value": "首都"}, "東京は日本の首都です", {}, Verdict(True, "output contains '首都'"), id="cjk"
        ),
        pytest.param(
            "contains",
            {"value": FAMILY},
            f"hi {FAMILY}!",
            {},
            Verdict(True, f"output contains {FAMILY!r}"),
            id="zwj-emoji",
        ),
        pytest.param(
            "contains", {"value": "x"}, "", {}, Verdict(False, "output '' does not contain 'x'"), id="contains-empty"
        ),
        pytest.param("contains", {"value": "1"}, 1234, {}, Verdict(True, "output contains '1'"), id="contains-int"),
        pytest.param(
            "starts_with", {"value": "Yes"}, "Yes, it is.", {}, Verdict(True, "output starts with 'Yes'"), id="sw-yes"
        ),
        pytest.param(
            "starts_with",
            {"value": "Yes"},
            "\n  Yes.",
            {},
            Verdict(True, "output starts with 'Yes'"),
            id="sw-leading-whitespace-ignored",
        ),
        pytest.param(
            "starts_with",
            {"value": "Yes", "strip_whitespace": False},
            " Yes.",
            {},
            Verdict(False, "output ' Yes.' does not start with 'Yes'"),
            id="sw-leading-whitespace-kept",
        ),
        pytest.param(
            "starts_with",
            {"value": "yes", "case_sensitive": False},
            "YES.",
            {},
            Verdict(True, "output starts with 'yes'"),
            id="sw-case-insensitive",
        ),
        pytest.param(
            "starts_with",
            {"value": "Well, yes"},
            "Well, no",
            {},
            Verdict(False, "output 'Well, no' does not start with 'Well, yes'"),
            id="sw-no",
        ),
        pytest.param(
            "starts_with",
            {"expected_field": "a"},
            f"{NFD_E} au lait",
            {"a": NFC_E},
            Verdict(True, f"output starts with {NFC_E!r}"),
            id="sw-expected-nfd",
        ),
        pytest.param(
            "starts_with",
            {"value": "東京"},
            "東京は首都",
            {},
            Verdict(True, "output starts with '東京'"),
            id="sw-cjk",
        ),
        pytest.param(
            "starts_with", {"value": "A"}, "", {}, Verdict(False, "output '' does not start with 'A'"), id="sw-empty"
        ),
    ],
)
def test_contains_and_starts_with(
    kind: str, params: dict[str, Any], output: Any, expected: dict[str, Any], verdict: Verdict
) -> None:
    assert judge(kind, params, output, expected) == verdict


# --- contains_all, contains_any, not_contains ---------------------------------------------------

SENTENCE = "Paris is the capital of France"


@pytest.mark.parametrize(
    ("kind", "params", "output", "expected", "verdict"),
    [
        pytest.param(
            "contains_all",
            {"values": ["Paris", "France"]},
            SENTENCE,
            {},
            Verdict(True, "output contains all of 'Paris', 'France'"),
            id="all-found",
        ),
        pytest.param(
            "contains_all",
            {"values": ["Paris", "Spain", "Rome", "Oslo", "Bern"]},
            SENTENCE,
            {},
            Verdict(False, f"output {SENTENCE!r} is missing 'Spain', 'Rome', 'Oslo' and 1 more (4 of 5)"),
            id="all-missing-four",
        ),
        pytest.param(
            "contains_all",
            {"expected_field": "facts"},
            SENTENCE,
            {"facts": ["paris", "france"]},
            Verdict(False, f"output {SENTENCE!r} is missing 'paris', 'france' (2 of 2)"),
            id="all-from-expected-list-case-sensitive",
        ),
        pytest.param(
            "contains_all",
            {"values": ["capital"], "expected_field": "facts", "case_sensitive": False},
            SENTENCE,
            {"facts": ["paris", "france"]},
            Verdict(True, "output contains all of 'capital', 'paris', 'france'"),
            id="all-values-and-expected",
        ),
        pytest.param(
            "contains_all",
            {"expected_field": "city"},
            SENTENCE,
            {"city": "Paris"},
            Verdict(True, "output contains all of 'Paris'"),
            id="all-expected-single-string",
        ),
        pytest.param(
            "contains_all",
            {"values": [NFC_E, "東京", "👍"]},
            f"{NFD_E}, 東京 👍",
            {},
            Verdict(True, f"output contains all of {NFC_E!r}, '東京', '👍'"),
            id="all-unicode",
        ),
        pytest.param(
            "contains_all",
            {"values": ["a"]},
            "",
            {},
            Verdict(False, "output '' is missing 'a' (1 of 1)"),
            id="all-empty-output",
        ),
        pytest.param(
            "contains_any",
            {"values": ["Lyon", "Paris", "France"]},
            SENTENCE,
            {},
            Verdict(True, "output contains 'Paris', 'France' (2 of 3)"),
            id="any-found",
        ),
        pytest.param(
            "contains_any",
            {"values": ["Lyon", "Nice"]},
            SENTENCE,
            {},
            Verdict(False, f"output {SENTENCE!r} contains none of 'Lyon', 'Nice'"),
            id="any-none",
        ),
        pytest.param(
            "contains_any",
            {"expected_field": "aliases", "case_sensitive": False},
            "It's PARIS",
            {"aliases": ["paris", "lutetia"]},
            Verdict(True, "output contains 'paris' (1 of 2)"),
            id="any-expected-case-insensitive",
        ),
        pytest.param(
            "contains_any",
            {"values": ["東京", "大阪"]},
            "首都は東京です",
            {},
            Verdict(True, "output contains '東京' (1 of 2)"),
            id="any-cjk",
        ),
        pytest.param(
            "contains_any",
            {"values": ["a"]},
            "",
            {},
            Verdict(False, "output '' contains none of 'a'"),
            id="any-empty-output",
        ),
        pytest.param(
            "not_contains",
            {"values": ["As an AI", "I cannot"]},
            "Paris.",
            {},
            Verdict(True, "output contains none of 'As an AI', 'I cannot'"),
            id="not-clean",
        ),
        pytest.param(
            "not_contains",
            {"values": ["As an AI", "I cannot"]},
            "As an AI, I cannot say.",
            {},
            Verdict(False, "output 'As an AI, I cannot say.' contains forbidden 'As an AI', 'I cannot'"),
            id="not-both-found",
        ),
        pytest.param(
            "not_contains",
            {"values": ["as an ai"], "case_sensitive": False},
            "AS AN AI",
            {},
            Verdict(False, "output 'AS AN AI' contains forbidden 'as an ai'"),
            id="not-case-insensitive",
        ),
        pytest.param(
            "not_contains",
            {"expected_field": "banned"},
            f"{NFD_E} 🤬",
            {"banned": ["🤬"]},
            Verdict(False, f"output {NFD_E + ' 🤬'!r} contains forbidden '🤬'"),
            id="not-emoji-from-expected",
        ),
        pytest.param(
            "not_contains", {"values": ["x"]}, "", {}, Verdict(True, "output contains none of 'x'"), id="not-empty"
        ),
    ],
)
def test_contains_many(
    kind: str, params: dict[str, Any], output: Any, expected: dict[str, Any], verdict: Verdict
) -> None:
    assert judge(kind, params, output, expected) == verdict


def test_contains_many_expected_field_empty_list() -> None:
    with pytest.raises(HeuristicError) as caught:
        judge("contains_any", {"expected_field": "aliases"}, "x", {"aliases": []})
    assert str(caught.value) == "the expected field 'aliases' is an empty list: nothing to look for"


def test_contains_many_empty_expected_list_with_values_still_checks() -> None:
    assert judge("contains_all", {"values": ["x"], "expected_field": "e"}, "x", {"e": []}) == Verdict(
        True, "output contains all of 'x'"
    )


@pytest.mark.parametrize("kind", ["contains", "starts_with", "contains_all", "contains_any", "not_contains"])
def test_expected_side_missing_field(kind: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge(kind, {"expected_field": "answer"}, "x", {"other": "x"})
    assert str(caught.value) == "the testcase has no expected field 'answer'"


def test_contains_many_parses() -> None:
    assert validate_params("not_contains", {"values": ["a", "b"]}) == ContainsManyParams(values=["a", "b"])


# --- regex --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "verdict"),
    [
        pytest.param({"pattern": r"\d+"}, "answer: 42", Verdict(True, r"output 'answer: 42' has a match for /\d+/")),
        pytest.param(
            {"pattern": r"\d+"}, "no digits", Verdict(False, r"output 'no digits' does not contain a match for /\d+/")
        ),
        pytest.param({"pattern": r"\d+", "mode": "fullmatch"}, "42", Verdict(True, r"output '42' matches /\d+/")),
        pytest.param(
            {"pattern": r"\d+", "mode": "fullmatch"},
            "answer: 42",
            Verdict(False, r"output 'answer: 42' does not match /\d+/"),
        ),
        pytest.param(
            {"pattern": "paris"}, "Paris", Verdict(False, "output 'Paris' does not contain a match for /paris/")
        ),
        pytest.param(
            {"pattern": "paris", "ignore_case": True}, "PARIS", Verdict(True, "output 'PARIS' has a match for /paris/")
        ),
        pytest.param({"pattern": "^$", "mode": "fullmatch"}, "", Verdict(True, "output '' matches /^$/"), id="empty"),
        pytest.param({"pattern": "^4[0-9]$"}, 42, Verdict(True, "output '42' has a match for /^4[0-9]$/"), id="int"),
        pytest.param(
            {"pattern": r"^\w+$", "mode": "fullmatch"},
            "首都",
            Verdict(True, r"output '首都' matches /^\w+$/"),
            id="cjk",
        ),
        pytest.param(
            {"pattern": "👍+"}, "ok 👍👍", Verdict(True, "output 'ok 👍👍' has a match for /👍+/"), id="emoji"
        ),
        pytest.param(
            {"pattern": "é"},
            NFD_E,
            Verdict(False, f"output {NFD_E!r} does not contain a match for /é/"),
            id="nfd-is-not-normalised",
        ),
    ],
)
def test_regex(params: dict[str, Any], output: Any, verdict: Verdict) -> None:
    assert judge("regex", params, output) == verdict


def test_regex_defaults() -> None:
    assert validate_params("regex", {"pattern": "x"}) == RegexParams(
        pattern="x", ignore_case=False, mode="search", output_field="response"
    )


# --- length_between -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "verdict"),
    [
        pytest.param(
            {"min_length": 2, "max_length": 5},
            "Paris",
            Verdict(True, "output has 5 characters (allowed: 2 to 5)"),
            id="at-max",
        ),
        pytest.param(
            {"min_length": 6},
            "Paris",
            Verdict(False, "output 'Paris' has 5 characters, fewer than the minimum 6"),
            id="below-min",
        ),
        pytest.param(
            {"max_length": 4},
            "Paris",
            Verdict(False, "output 'Paris' has 5 characters, more than the maximum 4"),
            id="above-max",
        ),
        pytest.param({"min_length": 0}, "", Verdict(True, "output has 0 characters (allowed: at least 0)"), id="empty"),
        pytest.param(
            {"min_length": 1},
            "",
            Verdict(False, "output '' has 0 characters, fewer than the minimum 1"),
            id="empty-min",
        ),
        pytest.param(
            {"max_length": 1}, "x", Verdict(True, "output has 1 character (allowed: at most 1)"), id="singular"
        ),
        pytest.param(
            {"max_length": 4}, NFD_E, Verdict(True, "output has 4 characters (allowed: at most 4)"), id="nfd-counts-nfc"
        ),
        pytest.param(
            {"max_length": 4},
            FAMILY,
            Verdict(False, f"output {FAMILY!r} has 5 characters, more than the maximum 4"),
            id="zwj-emoji-is-5-code-points",
        ),
        pytest.param(
            {"min_length": 2, "max_length": 3, "unit": "words"},
            "  one two\tthree \n",
            Verdict(True, "output has 3 words (allowed: 2 to 3)"),
            id="words",
        ),
        pytest.param(
            {"min_length": 2, "unit": "words"},
            "東京は日本の首都です",
            Verdict(False, "output '東京は日本の首都です' has 1 word, fewer than the minimum 2"),
            id="cjk-is-one-word",
        ),
        pytest.param(
            {"max_length": 1000, "unit": "words"},
            "a " * 1500,
            Verdict(False, f"output {'a ' * 39 + 'a…'!r} has 1,500 words, more than the maximum 1,000"),
            id="thousands-separator",
        ),
    ],
)
def test_length_between(params: dict[str, Any], output: Any, verdict: Verdict) -> None:
    assert judge("length_between", params, output) == verdict


# --- params -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "contains",
            {},
            "invalid params for contains: params: Value error, "
            "give exactly one of 'value' (a fixed string) or 'expected_field'",
            id="contains-neither",
        ),
        pytest.param(
            "starts_with",
            {"value": "a", "expected_field": "b"},
            "invalid params for starts_with: params: Value error, "
            "give exactly one of 'value' (a fixed string) or 'expected_field'",
            id="starts-with-both",
        ),
        pytest.param(
            "contains",
            {"value": ""},
            "invalid params for contains: params.value: String should have at least 1 character",
            id="contains-empty-value",
        ),
        pytest.param(
            "contains_all",
            {},
            "invalid params for contains_all: params: Value error, give 'values' (fixed strings), 'expected_field', "
            "or both",
            id="contains-all-neither",
        ),
        pytest.param(
            "contains_any",
            {"values": []},
            "invalid params for contains_any: params.values: List should have at least 1 item after validation, not 0",
            id="contains-any-empty-list",
        ),
        pytest.param(
            "not_contains",
            {"values": ["ok", ""]},
            "invalid params for not_contains: params.values.1: String should have at least 1 character",
            id="not-contains-empty-string",
        ),
        pytest.param(
            "not_contains",
            {"value": "x"},
            "invalid params for not_contains: params.value: Extra inputs are not permitted",
            id="not-contains-takes-values",
        ),
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
            id="regex-empty",
        ),
        pytest.param("regex", {}, "invalid params for regex: params.pattern: Field required", id="regex-missing"),
        pytest.param(
            "regex",
            {"pattern": "a", "mode": "match"},
            "invalid params for regex: params.mode: Input should be 'search' or 'fullmatch'",
            id="regex-bad-mode",
        ),
        pytest.param(
            "exact_match",
            {"case_sensitive": "maybe"},
            "invalid params for exact_match: params.case_sensitive: Input should be a valid boolean, "
            "unable to interpret input",
            id="exact-match-bad-bool",
        ),
        pytest.param(
            "length_between",
            {},
            "invalid params for length_between: params: Value error, give 'min_length', 'max_length', or both",
            id="length-neither",
        ),
        pytest.param(
            "length_between",
            {"min_length": 10, "max_length": 5},
            "invalid params for length_between: params: Value error, min_length (10) is greater than max_length (5)",
            id="length-min-over-max",
        ),
        pytest.param(
            "length_between",
            {"min_length": -1},
            "invalid params for length_between: params.min_length: Input should be greater than or equal to 0",
            id="length-negative",
        ),
        pytest.param(
            "length_between",
            {"max_length": 5, "unit": "tokens"},
            "invalid params for length_between: params.unit: Input should be 'chars' or 'words'",
            id="length-bad-unit",
        ),
    ],
)
def test_text_params_rejected(kind: str, params: dict[str, Any], message: str) -> None:
    assert rejects(kind, params) == message


def test_contains_parses() -> None:
    assert validate_params("contains", {"expected_field": "a", "case_sensitive": False}) == ContainsParams(
        expected_field="a", case_sensitive=False
    )
