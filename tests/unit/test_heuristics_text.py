"""Text heuristics: exact_match, contains, starts_with — verdicts, exact reasoning, defaults."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, validate_params
from shared.scoring.heuristics.text import ExactMatchParams
from tests.support.heuristics import judge

NFC_E = "Caf\u00e9"  # "Café" with a precomposed é
NFD_E = "Cafe\u0301"  # "Café" as e + combining acute accent
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji, five code points


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
