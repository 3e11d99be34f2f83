"""HTTP system config: validation of a stored config, secret headers, body mapping, outputs, rate, attempts."""

from __future__ import annotations

from typing import Any

import pytest

from shared.system_config import (
    build_body,
    extract_outputs,
    parse_http_config,
)
from tests.unit.test_system_config import RESPONSE  # the answer the path tests read

TESTCASE: dict[str, Any] = {
    "inputs": {
        "question": "What is 2 + 2?",
        "n": 3,
        "ratio": 0.5,
        "flag": True,
        "tags": ["a", "b"],
        "nested": {"k": [1, {"deep": "v"}]},
        "nothing": None,
    },
    "metadata": {"category": "arithmetic"},
}


# --- HttpSystemConfig ---------------------------------------------------------------------------

URL = "http://127.0.0.1:8090/answer"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"url": URL, "timeout_s": 0}, "config.timeout_s: Input should be greater than 0", id="timeout-zero"
        ),
        pytest.param(
            {"url": URL, "timeout_s": -1}, "config.timeout_s: Input should be greater than 0", id="timeout-negative"
        ),
        pytest.param(
            {"url": URL, "timeout_s": 600.5},
            "config.timeout_s: Input should be less than or equal to 600",
            id="timeout-above-600",
        ),
        pytest.param(
            {"url": URL, "method": "DELETE"},
            "config.method: Input should be 'POST', 'PUT' or 'GET'",
            id="method-delete",
        ),
        pytest.param(
            {"url": URL, "method": "post"},
            "config.method: Input should be 'POST', 'PUT' or 'GET'",
            id="method-lowercase",
        ),
        pytest.param(
            {"url": URL, "headers": {"X-Retries": 3}},
            "config.headers.X-Retries: Input should be a valid string",
            id="header-not-string",
        ),
        pytest.param(
            {"url": URL, "body_template": "{{ inputs.q "},
            "config.body_template: Value error, template '{{ inputs.q ' does not compile: "
            "unexpected end of template, expected 'end of print statement'.",
            id="unclosed-expression",
        ),
        pytest.param(
            {"url": URL, "body_template": "Q: {{ inputs.q }"},
            "config.body_template: Value error, template 'Q: {{ inputs.q }' does not compile: unexpected '}'",
            id="mixed-bad-brace",
        ),
        pytest.param(
            {"url": URL, "body_template": {"messages": [{"content": "{% if %}"}]}},
            "config.body_template: Value error, template '{% if %}' does not compile: "
            "Expected an expression, got 'end of statement block'",
            id="nested-bad-statement",
        ),
        pytest.param(
            {"url": "http://", "timeout_s": 0},
            "config.url: Value error, must be an http:// or https:// URL, got 'http://'; "
            "config.timeout_s: Input should be greater than 0",
            id="two-problems",
        ),
        pytest.param({"url": URL, "verb": "POST"}, "config.verb: Extra inputs are not permitted", id="extra-key"),
    ],
)
def test_parse_http_config_rejects(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_http_config(config)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("config", "field", "value"),
    [
        pytest.param({"url": URL}, "timeout_s", 30.0, id="default-timeout"),
        pytest.param({"url": URL, "timeout_s": 600}, "timeout_s", 600.0, id="timeout-600"),
        pytest.param({"url": URL, "timeout_s": 0.001}, "timeout_s", 0.001, id="timeout-tiny"),
        pytest.param({"url": URL}, "method", "POST", id="default-method"),
        pytest.param({"url": URL, "method": "GET"}, "method", "GET", id="method-get"),
        pytest.param({"url": URL, "method": "PUT"}, "method", "PUT", id="method-put"),
        pytest.param(
            {"url": "https://api.example.com/v1/chat"}, "url", "https://api.example.com/v1/chat", id="https-url"
        ),
        pytest.param({"url": URL}, "body_template", "{{ inputs }}", id="default-body"),
        pytest.param(
            {"url": URL, "body_template": {"q": "{{ inputs.question }}", "k": [1, None]}},
            "body_template",
            {"q": "{{ inputs.question }}", "k": [1, None]},
            id="nested-body",
        ),
    ],
)
def test_parse_http_config_accepts(config: dict[str, Any], field: str, value: Any) -> None:
    assert getattr(parse_http_config(config), field) == value


# --- secret headers, body mapping, outputs, rate and attempts -----------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"secret_headers": {"Authorization": {"env": "1_KEY"}}},
            "config.secret_headers.Authorization.env: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'",
            id="secret-env-not-a-name",
        ),
        pytest.param(
            {"secret_headers": {"Authorization": {"env": "MY-KEY"}}},
            "config.secret_headers.Authorization.env: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'",
            id="secret-env-dash",
        ),
        pytest.param(
            {"secret_headers": {"Authorization": {"env": "K", "value": "sk-123"}}},
            "config.secret_headers.Authorization.value: Extra inputs are not permitted",
            id="secret-value-refused",
        ),
        pytest.param(
            {"secret_headers": {"Authorization": {"prefix": "Bearer "}}},
            "config.secret_headers.Authorization.env: Field required",
            id="secret-env-missing",
        ),
        pytest.param(
            {"secret_headers": {"Authorization": "MY_KEY"}},
            "config.secret_headers.Authorization: Input should be a valid dictionary or instance of SecretHeader",
            id="secret-not-an-object",
        ),
        pytest.param(
            {"secret_headers": {"Bad Name": {"env": "K"}}},
            "config.secret_headers.Bad Name: Value error, 'Bad Name' is not an HTTP header name",
            id="secret-header-name",
        ),
        pytest.param(
            {"secret_headers": {"X-Key": {"env": "K", "prefix": "a\r\nX-Evil: 1"}}},
            "config.secret_headers.X-Key.prefix: String should match pattern '^[^\\r\\n]*$'",
            id="secret-prefix-line-break",
        ),
        pytest.param(
            {"headers": {"authorization": "x"}, "secret_headers": {"Authorization": {"env": "K"}}},
            "config.secret_headers: Value error, header 'Authorization' is also in headers: give it in one place",
            id="secret-and-plain-header",
        ),
        pytest.param(
            {"body_mapping": {"q": "$.inputs["}},
            "config.body_mapping.q: Value error, invalid JSONPath '$.inputs[': unexpected end of query at position 9",
            id="mapping-bad-jsonpath",
        ),
        pytest.param(
            {"body_mapping": {"q": "inputs.q"}},
            "config.body_mapping.q: Value error, invalid JSONPath 'inputs.q': "
            "expected 'TOKEN_ROOT', found 'TOKEN_NAME' at position 0",
            id="mapping-not-jsonpath",
        ),
        pytest.param(
            {"body_mapping": {"q": 1}}, "config.body_mapping.q: Input should be a valid string", id="mapping-not-str"
        ),
        pytest.param(
            {"body_mapping": {"q": "$.inputs.q"}, "body_template": {"q": "{{ inputs.q }}"}},
            "config.body_template: Value error, give either body_template or body_mapping, not both",
            id="mapping-and-template",
        ),
        pytest.param(
            {"outputs": {"answer": "$.choices["}},
            "config.outputs.answer: Value error, invalid JSONPath '$.choices[': unexpected end of query at position 10",
            id="output-bad-jsonpath",
        ),
        pytest.param({"outputs": {}}, "config.outputs: Value error, name at least one output", id="outputs-empty"),
        pytest.param(
            {"outputs": {"": "a"}}, "config.outputs: Value error, an output name must not be empty", id="output-no-name"
        ),
        pytest.param(
            {"response_path": "a", "outputs": {"b": "b"}},
            "config.outputs: Value error, give either response_path or outputs, not both",
            id="outputs-and-response-path",
        ),
        pytest.param({"requests_per_s": 0}, "config.requests_per_s: Input should be greater than 0", id="rate-zero"),
        pytest.param(
            {"max_attempts": 0}, "config.max_attempts: Input should be greater than or equal to 1", id="attempts-zero"
        ),
        pytest.param(
            {"max_attempts": 11}, "config.max_attempts: Input should be less than or equal to 10", id="attempts-11"
        ),
    ],
)
def test_parse_http_config_rejects_new_fields(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_http_config({"url": URL, **config})
    assert str(caught.value) == message


def test_new_fields_default_so_stored_configs_still_parse() -> None:
    stored = {
        "url": URL,
        "method": "POST",
        "headers": {},
        "body_template": "{{ inputs }}",
        "response_path": "",
        "timeout_s": 30.0,
    }
    config = parse_http_config(stored)
    assert (config.secret_headers, config.body_mapping, config.outputs) == ({}, None, None)
    assert (config.requests_per_s, config.max_attempts) == (None, 3)


def test_a_stored_config_parses_again() -> None:
    config = parse_http_config(
        {
            "url": URL,
            "secret_headers": {"Authorization": {"env": "MY_BOT_KEY", "prefix": "Bearer "}},
            "body_mapping": {"q": "$.inputs.question"},
            "outputs": {"answer": "$.choices[0].message.content"},
            "requests_per_s": 2.5,
            "max_attempts": 10,
        }
    )
    # The orchestrator stores model_dump(): body_template's default sits next to body_mapping.
    dumped = config.model_dump()
    assert dumped["body_template"] == "{{ inputs }}"
    assert dumped["secret_headers"] == {"Authorization": {"env": "MY_BOT_KEY", "prefix": "Bearer "}}
    assert parse_http_config(dumped) == config


@pytest.mark.parametrize(
    ("mapping", "body"),
    [
        pytest.param({"q": "$.inputs.question"}, {"q": "What is 2 + 2?"}, id="singular"),
        pytest.param({"c": "$.metadata.category", "n": "$.inputs.n"}, {"c": "arithmetic", "n": 3}, id="two"),
        pytest.param({"deep": "$.inputs.nested.k[1].deep"}, {"deep": "v"}, id="deep"),
        pytest.param({"nothing": "$.inputs.nothing"}, {"nothing": None}, id="null-value"),
        pytest.param({"tags": "$.inputs.tags[*]"}, {"tags": ["a", "b"]}, id="wildcard-list"),
        pytest.param({"none": "$.inputs.missing[*]"}, {"none": []}, id="wildcard-no-match"),
        pytest.param({"all": "$.inputs"}, {"all": TESTCASE["inputs"]}, id="whole-inputs"),
    ],
)
def test_body_mapping(mapping: dict[str, str], body: dict[str, Any]) -> None:
    assert build_body(parse_http_config({"url": URL, "body_mapping": mapping}), TESTCASE) == body


def test_body_mapping_singular_path_without_a_match() -> None:
    config = parse_http_config({"url": URL, "body_mapping": {"q": "$.inputs.missing"}})
    with pytest.raises(ValueError) as caught:
        build_body(config, TESTCASE)
    assert str(caught.value) == "body_mapping.q: $.inputs.missing matches nothing in the testcase"


def test_body_template_is_used_without_a_mapping() -> None:
    config = parse_http_config({"url": URL, "body_template": {"q": "{{ inputs.question }}"}})
    assert build_body(config, TESTCASE) == {"q": "What is 2 + 2?"}


@pytest.mark.parametrize(
    ("config", "outputs"),
    [
        pytest.param({}, {"response": RESPONSE}, id="default-whole-response"),
        pytest.param({"response_path": "usage"}, {"response": {"total_tokens": 12}}, id="response-path"),
        pytest.param(
            {"outputs": {"answer": "choices.0.message.content", "usage": "usage"}},
            {"answer": "4", "usage": {"total_tokens": 12}},
            id="dotted",
        ),
        pytest.param(
            {"outputs": {"answer": "$.choices[0].message.content", "all": "$.choices[*].message.content"}},
            {"answer": "4", "all": ["4", "four"]},
            id="jsonpath",
        ),
        pytest.param({"outputs": {"whole": ""}}, {"whole": RESPONSE}, id="empty-dotted-path"),
    ],
)
def test_extract_outputs(config: dict[str, Any], outputs: dict[str, Any]) -> None:
    assert extract_outputs(parse_http_config({"url": URL, **config}), RESPONSE) == outputs


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        pytest.param({"a": "$.answer"}, "output 'a': $.answer matches nothing in the response", id="jsonpath"),
        pytest.param({"a": "answer.text"}, "output 'a': response has no 'answer' at path 'answer.text'", id="dotted"),
    ],
)
def test_extract_outputs_missing(paths: dict[str, str], message: str) -> None:
    with pytest.raises(KeyError) as caught:
        extract_outputs(parse_http_config({"url": URL, "outputs": paths}), RESPONSE)
    assert caught.value.args == (message,)
