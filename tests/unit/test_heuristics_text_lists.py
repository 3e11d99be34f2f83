"""Text heuristics over lists and patterns: contains_all, contains_any, not_contains, regex."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, validate_params
from shared.scoring.heuristics.text import ContainsManyParams, RegexParams
from tests.support.heuristics import judge

NFC_E = "Caf\u00e9"  # "Café" with a precomposed é
NFD_E = "Cafe\u0301"  # "Café" as e + combining acute accent


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
