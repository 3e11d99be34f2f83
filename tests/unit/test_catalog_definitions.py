"""Catalog validation of definitions: metrics (heuristic, ai, human) and system versions."""

from __future__ import annotations

from typing import Any

import pytest

from services.run_orchestrator.catalog.rules import (
    MetricDefinition,
    validate_metric,
    validate_system_version,
)

# --- validate_metric ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eval_type", "output_type", "threshold", "kind", "params", "message"),
    [
        pytest.param(
            "python",
            "boolean",
            None,
            "exact_match",
            {},
            "eval_type must be one of ai, code, heuristic, human, got 'python'",
            id="bad-eval-type",
        ),
        pytest.param("ai", "boolean", None, "", {}, "ai.model: Field required", id="ai-without-model"),
        pytest.param(
            "human",
            "int",
            7,
            "",
            {},
            "passing_threshold of an int metric must be within 1..5, got 7",
            id="human-bad-threshold",
        ),
        pytest.param(
            "heuristic",
            "percent",
            None,
            "exact_match",
            {},
            "output_type must be one of boolean, int, float, got 'percent'",
            id="bad-output-type",
        ),
        pytest.param(
            "heuristic",
            "boolean",
            0.5,
            "exact_match",
            {},
            "passing_threshold does not apply to boolean metrics",
            id="threshold-on-boolean",
        ),
        pytest.param(
            "heuristic",
            "int",
            0,
            "exact_match",
            {},
            "passing_threshold of an int metric must be within 1..5, got 0",
            id="int-threshold-0",
        ),
        pytest.param(
            "heuristic",
            "int",
            6,
            "exact_match",
            {},
            "passing_threshold of an int metric must be within 1..5, got 6",
            id="int-threshold-6",
        ),
        pytest.param(
            "heuristic",
            "float",
            1.5,
            "exact_match",
            {},
            "passing_threshold of a float metric must be within 0..1, got 1.5",
            id="float-threshold-1.5",
        ),
        pytest.param(
            "heuristic",
            "float",
            -0.1,
            "exact_match",
            {},
            "passing_threshold of a float metric must be within 0..1, got -0.1",
            id="float-threshold-neg",
        ),
        pytest.param(
            "heuristic", "boolean", None, "", {}, "heuristic.kind is required for a heuristic metric", id="missing-kind"
        ),
        pytest.param(
            "heuristic",
            "boolean",
            None,
            "fuzzy",
            {},
            "heuristic: unknown heuristic kind 'fuzzy'; known kinds: bleu, contains, contains_all, contains_any,"
            " cost_under, exact_match, json_path_equals, json_schema, json_valid, latency_under, length_between,"
            " not_contains, numeric_close, regex, rouge_l, starts_with, string_similarity, token_f1",
            id="unknown-kind",
        ),
        pytest.param(
            "heuristic",
            "boolean",
            None,
            "contains",
            {},
            "heuristic: invalid params for contains: params: Value error, "
            "give exactly one of 'value' (a fixed string) or 'expected_field'",
            id="bad-contains-params",
        ),
        pytest.param(
            "heuristic",
            "boolean",
            None,
            "regex",
            {"pattern": "(", "ignore_case": True},
            "heuristic: invalid params for regex: params.pattern: Value error, invalid regular expression: "
            "missing ), unterminated subpattern at position 0",
            id="bad-regex",
        ),
        pytest.param(
            "heuristic",
            "boolean",
            None,
            "exact_match",
            {"case": False},
            "heuristic: invalid params for exact_match: params.case: Extra inputs are not permitted",
            id="extra-param",
        ),
    ],
)
def test_validate_metric_rejects(
    eval_type: str, output_type: str, threshold: float | None, kind: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        validate_metric(definition(eval_type, output_type, threshold, kind, params))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("output_type", "threshold", "kind", "params"),
    [
        pytest.param("boolean", None, "exact_match", {}, id="boolean"),
        pytest.param("int", 1, "contains", {"value": "Paris"}, id="int-threshold-1"),
        pytest.param("int", 5, "contains", {"expected_field": "answer"}, id="int-threshold-5"),
        pytest.param("int", None, "regex", {"pattern": r"\d+"}, id="int-default-threshold"),
        pytest.param("float", 0, "exact_match", {"case_sensitive": False}, id="float-threshold-0"),
        pytest.param("float", 1, "exact_match", {}, id="float-threshold-1"),
    ],
)
def test_validate_metric_accepts(output_type: str, threshold: float | None, kind: str, params: dict[str, Any]) -> None:
    checked = validate_metric(definition("heuristic", output_type, threshold, kind, params))
    assert checked.config == {"kind": kind, "params": params}


def definition(
    eval_type: str, output_type: str, threshold: float | None, kind: str, params: dict[str, Any]
) -> MetricDefinition:
    config: dict[str, Any] = {"kind": kind, "params": params} if eval_type == "heuristic" else {}
    return MetricDefinition(eval_type, output_type, "", threshold, config)


TEMPLATES = "answer_correctness, faithfulness, answer_relevance, instruction_following, safety"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"model": "gpt-x", "prompt_template": ""},
            f"ai: give exactly one of 'template' (built-in: {TEMPLATES}) or 'prompt_template'",
            id="no-template",
        ),
        pytest.param(
            {"model": "gpt-x", "prompt_template": "Judge {{ outputs }}", "template": "safety"},
            f"ai: give exactly one of 'template' (built-in: {TEMPLATES}) or 'prompt_template'",
            id="two-templates",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "vibes"},
            f"ai: unknown template 'vibes'; built-in templates: {TEMPLATES}",
            id="unknown-builtin",
        ),
        pytest.param(
            {"model": "gpt-x", "prompt_template": "{% if %}"},
            "ai: prompt_template does not compile: Expected an expression, got 'end of statement block'",
            id="bad-template",
        ),
        pytest.param(
            {"model": "gpt-x", "prompt_template": "Judge {{ output.text }} for {{ question }}"},
            "ai: prompt_template uses unknown variables output, question;"
            " available: inputs, outputs, expected, metadata, context, guidelines",
            id="unknown-variables",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "temperature": 3},
            "ai.temperature: Input should be less than or equal to 2",
            id="hot",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "base_url": "ftp://judge"},
            "ai.base_url: must be an http:// or https:// URL, got 'ftp://judge'",
            id="bad-base-url",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "api_key_env": "sk-live-1234"},
            "ai.api_key_env: String should match pattern '^([A-Za-z_][A-Za-z0-9_]*)?$'",
            id="key-instead-of-variable-name",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "answer_format": "xml"},
            "ai.answer_format: Input should be 'json_schema' or 'tool_call'",
            id="bad-answer-format",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "parse_attempts": 0},
            "ai.parse_attempts: Input should be greater than or equal to 1",
            id="no-attempts",
        ),
        pytest.param(
            {"model": "gpt-x", "template": "safety", "judge": "me"},
            "ai.judge: Extra inputs are not permitted",
            id="unknown-field",
        ),
    ],
)
def test_validate_ai_metric_rejects(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_metric(MetricDefinition("ai", "int", "", None, config))
    assert str(caught.value) == message


def test_validate_ai_and_human_metrics_accept() -> None:
    ai = validate_metric(
        MetricDefinition("ai", "int", "be strict", 4, {"model": "m", "prompt_template": "{{ inputs }}"})
    )
    assert ai.config == {
        "template": "",
        "prompt_template": "{{ inputs }}",
        "model": "m",
        "temperature": 0.0,
        "max_tokens": 1024,
        "base_url": "",
        "api_key_env": "",
        "answer_format": "json_schema",
        "context_field": "context",
        "parse_attempts": 3,
        "timeout_s": 60.0,
    }
    builtin = validate_metric(
        MetricDefinition(
            "ai",
            "boolean",
            "",
            None,
            {"model": "m", "template": "faithfulness", "base_url": "http://vllm:8000/v1/", "api_key_env": "VLLM_KEY"},
            label_field="grounded",
        )
    )
    assert (builtin.config["base_url"], builtin.config["api_key_env"], builtin.config["label_field"]) == (
        "http://vllm:8000/v1",
        "VLLM_KEY",
        "grounded",
    )
    human = validate_metric(MetricDefinition("human", "boolean", "", None, {"anything": 1}))
    assert human.config == {}


# --- validate_system_version --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        pytest.param("llm", {}, "config.model: Field required; config.messages: Field required", id="llm-empty"),
        pytest.param(
            "llm",
            {"model": "m", "messages": [{"role": "boss", "content": "x"}]},
            "config.messages.0.role: Input should be 'system', 'user' or 'assistant'",
            id="llm-bad-role",
        ),
        pytest.param("grpc", {}, "kind must be one of http, llm, sdk, got 'grpc'", id="unknown-kind"),
        pytest.param(
            "http",
            {"url": "ftp://example.com/answer"},
            "config.url: Value error, must be an http:// or https:// URL, got 'ftp://example.com/answer'",
            id="ftp-url",
        ),
        pytest.param(
            "http",
            {"url": "localhost:8090"},
            "config.url: Value error, must be an http:// or https:// URL, got 'localhost:8090'",
            id="url-without-scheme",
        ),
        pytest.param("http", {}, "config.url: Field required", id="missing-url"),
        pytest.param(
            "http",
            {"url": "http://127.0.0.1:8090/answer", "retries": 3},
            "config.retries: Extra inputs are not permitted",
            id="extra-config-key",
        ),
    ],
)
def test_validate_system_version_rejects(kind: str, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_system_version(kind, config)
    assert str(caught.value) == message


def test_validate_system_version_fills_defaults() -> None:
    assert validate_system_version("http", {"url": "http://127.0.0.1:8090/answer"}) == {
        "url": "http://127.0.0.1:8090/answer",
        "method": "POST",
        "headers": {},
        "body_template": "{{ inputs }}",
        "response_path": "",
        "timeout_s": 30.0,
        "secret_headers": {},
        "body_mapping": None,
        "outputs": None,
        "requests_per_s": None,
        "max_attempts": 3,
        "usage": {},
        "spans_path": "",
    }


def test_an_expected_label_field_is_for_boolean_metrics() -> None:
    with pytest.raises(ValueError) as caught:
        validate_metric(MetricDefinition("human", "int", "", None, {}, label_field="toxic"))
    assert str(caught.value) == "expected_label_field applies to boolean metrics only"
    checked = validate_metric(MetricDefinition("human", "boolean", "", None, {}, label_field=" toxic "))
    assert (checked.config, checked.label_field) == ({"label_field": "toxic"}, "toxic")
