"""Text heuristics: length_between, and the params every text heuristic refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import Verdict, validate_params
from shared.scoring.heuristics.text import ContainsParams
from tests.support.heuristics import judge, rejects

NFD_E = "Cafe\u0301"  # "Café" as e + combining acute accent
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji, five code points


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
