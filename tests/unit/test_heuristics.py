"""What holds for every heuristic kind: the registry, params checking, unscorable records, huge
outputs, and the helpers reasoning is made of. Each family's verdicts: test_heuristics_*.py."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from shared.scoring.heuristics import KINDS, HeuristicError, Verdict, evaluate, validate_params
from shared.scoring.heuristics.base import clip, count, num, show, show_all
from shared.scoring.record import ScoringInput

# The smallest valid params of every kind.
MINIMAL: dict[str, dict[str, Any]] = {
    "exact_match": {},
    "contains": {"value": "needle"},
    "contains_all": {"values": ["word", "needle"]},
    "contains_any": {"values": ["word", "needle"]},
    "not_contains": {"values": ["needle"]},
    "starts_with": {"value": "word word"},
    "regex": {"pattern": "needle$"},
    "length_between": {"max_length": 1000, "unit": "words"},
    "json_valid": {},
    "json_schema": {"schema": {"type": "array"}},
    "json_path_equals": {"path": "$[0]", "value": "word"},
    "numeric_close": {"value": 1, "abs_tol": 0.5},
    "string_similarity": {},
    "token_f1": {},
    "bleu": {},
    "rouge_l": {},
    "latency_under": {"max_ms": 1000},
    "cost_under": {"max_usd": 0.01},
}
READS_OUTPUT = sorted(set(KINDS) - {"latency_under", "cost_under"})
GRADED = {"string_similarity", "token_f1", "bleu", "rouge_l"}
KNOWN = (
    "bleu, contains, contains_all, contains_any, cost_under, exact_match, json_path_equals, json_schema, json_valid, "
    "latency_under, length_between, not_contains, numeric_close, regex, rouge_l, starts_with, string_similarity, "
    "token_f1"
)


def test_every_kind_is_covered() -> None:
    assert sorted(MINIMAL) == sorted(KINDS)
    assert ", ".join(sorted(KINDS)) == KNOWN


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_minimal_params_parse(kind: str) -> None:
    assert validate_params(kind, MINIMAL[kind]) == KINDS[kind].params.model_validate(MINIMAL[kind])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unknown_param_is_named(kind: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, {**MINIMAL[kind], "treshold": 0.5})
    assert str(caught.value) == f"invalid params for {kind}: params.treshold: Extra inputs are not permitted"


@pytest.mark.parametrize("kind", ["levenshtein", "", "Exact_Match"])
def test_unknown_kind_lists_the_known_ones(kind: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, {})
    assert str(caught.value) == f"unknown heuristic kind {kind!r}; known kinds: {KNOWN}"


def test_evaluate_rejects_bad_params_like_validate_params() -> None:
    with pytest.raises(ValueError) as caught:
        evaluate("regex", {"pattern": "[a-"}, ScoringInput(outputs={"response": "a"}))
    assert str(caught.value) == (
        "invalid params for regex: params.pattern: Value error, invalid regular expression: "
        "unterminated character set at position 0"
    )


def test_evaluate_gives_the_same_verdict_when_params_repeat() -> None:
    # Parsed params are cached by their JSON spelling; key order must not matter.
    record = ScoringInput(outputs={"response": "Paris"}, expected={"a": "paris"})
    first = evaluate("exact_match", {"case_sensitive": False, "expected_field": "a"}, record)
    again = evaluate("exact_match", {"expected_field": "a", "case_sensitive": False}, record)
    strict = evaluate("exact_match", {"expected_field": "a"}, record)
    assert first == again == Verdict(True, "expected 'paris', got 'Paris' — match after normalisation")
    assert strict == Verdict(False, "expected 'paris', got 'Paris'")


def test_heuristic_error_is_a_value_error() -> None:
    # score_heuristic relies on this to turn a record it cannot score into an errored score.
    assert issubclass(HeuristicError, ValueError)


@pytest.mark.parametrize("kind", READS_OUTPUT)
@pytest.mark.parametrize("field", ["response", "text"])
def test_missing_output_field_cannot_score(kind: str, field: str) -> None:
    params = {**MINIMAL[kind], "output_field": field}
    record = ScoringInput(outputs={"answer": "x"}, expected={"a": "x"})
    with pytest.raises(HeuristicError) as caught:
        evaluate(kind, params, record)
    assert str(caught.value) == f"the output has no field {field!r}"


@pytest.mark.parametrize(
    "kind", ["exact_match", "string_similarity", "token_f1", "bleu", "rouge_l"], ids=lambda k: f"{k}-default-field"
)
@pytest.mark.parametrize(
    ("expected", "message"),
    [
        pytest.param({}, "set params.expected_field: the testcase has 0 expected fields", id="none"),
        pytest.param({"a": 1, "b": 2}, "set params.expected_field: the testcase has 2 expected fields", id="two"),
    ],
)
def test_expected_field_must_be_clear(kind: str, expected: dict[str, Any], message: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        evaluate(kind, MINIMAL[kind], ScoringInput(outputs={"response": "x"}, expected=expected))
    assert str(caught.value) == message


# --- huge outputs -------------------------------------------------------------------------------

HUGE = "word " * 1_000_000  # 5 MB of text
HUGE_JSON = json.dumps(["word"] * 100_000)  # 0.8 MB of JSON
PREVIEW = repr(HUGE[:79] + "…")


@pytest.mark.parametrize(
    ("kind", "output", "expected", "verdict"),
    [
        pytest.param("exact_match", HUGE, HUGE, Verdict(True, f"exact match: {PREVIEW}"), id="exact-equal"),
        pytest.param(
            "exact_match", HUGE, "word", Verdict(False, f"expected 'word', got {PREVIEW}"), id="exact-different"
        ),
        pytest.param(
            "contains", HUGE + "needle", "", Verdict(True, "output contains 'needle'"), id="contains-needle-at-end"
        ),
        pytest.param(
            "contains_all",
            HUGE,
            "",
            Verdict(False, f"output {PREVIEW} is missing 'needle' (1 of 2)"),
            id="contains-all",
        ),
        pytest.param("contains_any", HUGE, "", Verdict(True, "output contains 'word' (1 of 2)"), id="contains-any"),
        pytest.param("not_contains", HUGE, "", Verdict(True, "output contains none of 'needle'"), id="not-contains"),
        pytest.param("starts_with", HUGE, "", Verdict(True, "output starts with 'word word'"), id="starts-with"),
        pytest.param(
            "regex", HUGE + "needle", "", Verdict(True, f"output {PREVIEW} has a match for /needle$/"), id="regex"
        ),
        pytest.param(
            "length_between",
            HUGE,
            "",
            Verdict(False, f"output {PREVIEW} has 1,000,000 words, more than the maximum 1,000"),
            id="length",
        ),
        pytest.param(
            "json_valid",
            HUGE,
            "",
            Verdict(False, f"output {PREVIEW} is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
            id="json-valid-text",
        ),
        pytest.param("json_valid", HUGE_JSON, "", Verdict(True, "output is valid JSON (array)"), id="json-valid-json"),
        pytest.param(
            "json_schema",
            HUGE,
            "",
            Verdict(False, f"output {PREVIEW} is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
            id="json-schema-text",
        ),
        pytest.param(
            "json_schema", HUGE_JSON, "", Verdict(True, "output matches the JSON schema"), id="json-schema-json"
        ),
        pytest.param(
            "json_path_equals", HUGE_JSON, "", Verdict(True, '$[0] is "word", as expected'), id="json-path-json"
        ),
        pytest.param(
            "latency_under", HUGE, "", Verdict(True, "latency 0 ms is within the 1000 ms limit"), id="latency"
        ),
        pytest.param("cost_under", HUGE, "", Verdict(True, "cost $0.001 is within the $0.01 limit"), id="cost"),
    ],
)
def test_huge_output_pass_fail_kinds(kind: str, output: str, expected: str, verdict: Verdict) -> None:
    record = ScoringInput(outputs={"response": output}, expected={"answer": expected}, cost_usd=0.001)
    started = time.perf_counter()
    got = evaluate(kind, MINIMAL[kind], record)
    elapsed = time.perf_counter() - started
    assert got == verdict
    assert len(got.reasoning) < 300
    assert elapsed < 1.0, f"{kind} took {elapsed:.2f} s on a 5 MB output"


@pytest.mark.parametrize(
    ("kind", "reasoning", "score"),
    [
        pytest.param(
            "string_similarity",
            f"Levenshtein similarity 0.00 < 0.80 between output {PREVIEW} and expected 'word'",
            4 / 5_000_000,
            id="similarity",
        ),
        pytest.param(
            "token_f1",
            f"token F1 0.00 < 0.50 (precision 0.00, recall 1.00) between output {PREVIEW} and expected 'word'",
            2 / 1_000_001,
            id="token-f1",
        ),
        pytest.param(
            "rouge_l",
            f"ROUGE-L F1 0.00 < 0.50 (precision 0.00, recall 1.00) between output {PREVIEW} and expected 'word'",
            2 / 1_000_001,
            id="rouge-l",
        ),
    ],
)
def test_huge_output_graded_kinds(kind: str, reasoning: str, score: float) -> None:
    got = evaluate(kind, {}, ScoringInput(outputs={"response": HUGE}, expected={"answer": "word"}))
    assert (got.passed, got.reasoning) == (False, reasoning)
    assert got.score == pytest.approx(score)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        pytest.param("numeric_close", f"the output is not a number: {PREVIEW}", id="numeric"),
        pytest.param(
            "bleu",
            "output or expected is too long for bleu: 5,000,000 characters is over the limit of 1,000,000",
            id="bleu",
        ),
    ],
)
def test_huge_output_cannot_score(kind: str, message: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        evaluate(kind, MINIMAL[kind], ScoringInput(outputs={"response": HUGE}, expected={"answer": "word"}))
    assert str(caught.value) == message


# --- reasoning helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("", "''", id="empty"),
        pytest.param("a" * 80, repr("a" * 80), id="exactly-80-kept"),
        pytest.param("a" * 81, repr("a" * 79 + "…"), id="81-cut-to-80"),
        pytest.param("b" * 1_000_000, repr("b" * 79 + "…"), id="1mb-cut-to-80"),
        pytest.param("it's", '"it\'s"', id="repr-quoting"),
        pytest.param("two\nlines", "'two\\nlines'", id="one-line"),
        pytest.param("東京 👍", "'東京 👍'", id="unicode-shown-as-is"),
    ],
)
def test_show(text: str, shown: str) -> None:
    assert show(text) == shown


def test_clip_and_show_all() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert show_all(["a", "b", "c"]) == "'a', 'b', 'c'"
    assert show_all(["a", "b", "c", "d", "e"]) == "'a', 'b', 'c' and 2 more"
    assert show_all(["x" * 50]) == repr("x" * 39 + "…")


@pytest.mark.parametrize(
    ("x", "digits", "text"),
    [
        pytest.param(1250.0, 6, "1250", id="integral"),
        pytest.param(0.000015, 6, "0.000015", id="tiny-not-exponent"),
        pytest.param(0.0015900000000000469, 6, "0.00159", id="float-noise-cut"),
        pytest.param(3.1415926535, 6, "3.14159", id="six-digits"),
        pytest.param(3.1415926535, 12, "3.1415926535", id="twelve-digits"),
        pytest.param(-7.5, 6, "-7.5", id="negative"),
        pytest.param(1e20, 6, "100000000000000000000", id="huge"),
    ],
)
def test_num(x: float, digits: int, text: str) -> None:
    assert num(x, digits) == text


def test_count() -> None:
    assert (count(1, "word"), count(0, "word"), count(1500, "character")) == ("1 word", "0 words", "1,500 characters")


def test_the_readme_lists_every_heuristic_kind_once() -> None:
    """The Metrics section's table of kinds, kept in step with KINDS."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("  | kind | passes when | params |\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^  \| (`[a-z0-9_]+`(?: / `[a-z0-9_]+`)*) \|", table, flags=re.M)
    listed = [name.strip("`") for row in rows for name in row.split(" / ")]
    assert sorted(listed) == sorted(KINDS)
