"""HTTP system config: body templates rendered from testcases, and paths into the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from shared.system_config import (
    extract_path,
    parse_http_config,
    render_body,
)

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


# --- render_body --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "body"),
    [
        pytest.param("{{ inputs }}", TESTCASE["inputs"], id="whole-inputs-dict"),
        pytest.param("{{ inputs.n }}", 3, id="whole-int"),
        pytest.param("{{inputs.n}}", 3, id="whole-int-no-spaces"),
        pytest.param("{{ inputs.n + 1 }}", 4, id="whole-arithmetic-int"),
        pytest.param("{{ inputs.ratio }}", 0.5, id="whole-float"),
        pytest.param("{{ inputs.flag }}", True, id="whole-bool"),
        pytest.param("{{ inputs.nothing }}", None, id="whole-null"),
        pytest.param("{{ inputs.tags }}", ["a", "b"], id="whole-list"),
        pytest.param("{{ inputs.nested }}", {"k": [1, {"deep": "v"}]}, id="whole-dict"),
        pytest.param("{{ inputs['question'] }}", "What is 2 + 2?", id="whole-subscript"),
        pytest.param("{{ metadata.category }}", "arithmetic", id="whole-metadata"),
        pytest.param("{{ inputs.n }} apples", "3 apples", id="mixed-int-becomes-text"),
        pytest.param("Q: {{ inputs.question }}", "Q: What is 2 + 2?", id="mixed-text"),
        pytest.param("{{ inputs.tags | join(',') }}", "a,b", id="whole-filter"),
        pytest.param("no template at all", "no template at all", id="plain-string"),
        pytest.param(7, 7, id="non-string-literal"),
        pytest.param(None, None, id="null-literal"),
        pytest.param(
            {
                "model": "demo-1",
                "messages": [{"role": "user", "content": "{{ inputs.question }}"}],
                "n": "{{ inputs.n }}",
                "stream": False,
                "labels": ["{{ metadata.category }}", "fixed"],
            },
            {
                "model": "demo-1",
                "messages": [{"role": "user", "content": "What is 2 + 2?"}],
                "n": 3,
                "stream": False,
                "labels": ["arithmetic", "fixed"],
            },
            id="nested-dict-and-list",
        ),
    ],
)
def test_render_body(template: Any, body: Any) -> None:
    assert render_body(template, TESTCASE) == body


def test_whole_expression_keeps_the_json_type() -> None:
    assert type(render_body("{{ inputs.n }}", TESTCASE)) is int
    assert type(render_body("{{ inputs.ratio }}", TESTCASE)) is float


INJECTION = 'He said "hi"}, "admin": true, "x": "'


@pytest.mark.parametrize(
    ("template", "body"),
    [
        pytest.param({"prompt": "{{ inputs.q }}"}, {"prompt": INJECTION}, id="whole-expression"),
        pytest.param({"prompt": "Say: {{ inputs.q }}"}, {"prompt": "Say: " + INJECTION}, id="mixed-text"),
        pytest.param(["{{ inputs.q }}"], [INJECTION], id="in-list"),
    ],
)
def test_quotes_in_inputs_are_not_an_injection(template: Any, body: Any) -> None:
    rendered = render_body(template, {"inputs": {"q": INJECTION}})
    assert rendered == body
    # What goes on the wire keeps the value as one JSON string: no "admin" key appears.
    assert json.loads(json.dumps(rendered)) == body


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("Q: {{ nope }}", "'nope' is undefined", id="mixed-undefined-variable"),
        pytest.param(
            "Q: {{ inputs.missing }}", "'dict object' has no attribute 'missing'", id="mixed-undefined-attribute"
        ),
        pytest.param({"a": ["x {{ nope }}"]}, "'nope' is undefined", id="nested-undefined"),
    ],
)
def test_render_body_undefined_raises(template: Any, message: str) -> None:
    with pytest.raises(UndefinedError) as caught:
        render_body(template, TESTCASE)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ nope }}", id="whole-undefined-variable"),
        pytest.param("{{ inputs.missing }}", id="whole-undefined-attribute"),
        pytest.param({"prompt": "{{ inputs.missing }}"}, id="nested-whole-undefined"),
    ],
)
def test_render_body_whole_expression_undefined_raises(template: Any) -> None:
    with pytest.raises(UndefinedError):
        render_body(template, TESTCASE)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ''.__class__.__mro__ }}", id="whole-mro"),
        pytest.param("x {{ ''.__class__.__mro__ }}", id="mixed-mro"),
        pytest.param("{{ inputs.__class__.__mro__[1].__subclasses__() }}", id="whole-subclasses"),
        pytest.param("x {{ ''.__class__ }}", id="mixed-class"),
        pytest.param({"p": ["{{ ''.__class__.__mro__ }}"]}, id="nested"),
    ],
)
def test_sandbox_blocks_unsafe_attributes(template: Any) -> None:
    with pytest.raises(SecurityError, match="is unsafe"):
        render_body(template, TESTCASE)


def test_sandbox_blocks_unsafe_attribute_in_whole_expression() -> None:
    with pytest.raises(SecurityError):
        render_body("{{ ''.__class__ }}", TESTCASE)


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.question }}",
        "{{inputs.nested.k}}",
        "{{ inputs.nothing }}",
        "{{ inputs.items }}",  # a dict's method in Jinja, not a key
        "{{ inputs.question.upper }}",
        "{{ none }}",
        "{{ true }}",
        "{{ metadata }}",
        "{{ inputs.nested.missing }}",
        "{{ inputs.__class__ }}",
    ],
)
def test_a_dotted_path_is_what_jinja_answers(template: str) -> None:
    # render_body looks a whole "{{ a.b.c }}" up without Jinja; Jinja's sandbox must agree.
    expression = SandboxedEnvironment(undefined=StrictUndefined).compile_expression(
        template.strip("{} "), undefined_to_none=False
    )

    def outcome(render: Any) -> Any:
        try:
            value = render()
            if hasattr(value, "_fail_with_undefined_error"):
                value._fail_with_undefined_error()
        except Exception as exc:
            return type(exc), str(exc)
        return repr(value) if callable(value) else value

    got = outcome(lambda: render_body(template, TESTCASE))
    assert got == outcome(lambda: expression(**TESTCASE))
    if template == "{{ inputs.question }}":
        assert got == "What is 2 + 2?"


MULTI = "{{ inputs.n }} and {{ inputs.question }}"


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(MULTI, id="two-expressions"),
        pytest.param("{{ inputs.n }}{{ inputs.n }}", id="adjacent-expressions"),
    ],
)
def test_template_with_several_expressions(template: str) -> None:
    parse_http_config({"url": "http://127.0.0.1:8090/answer", "body_template": {"prompt": template}})
    expected = {MULTI: "3 and What is 2 + 2?", "{{ inputs.n }}{{ inputs.n }}": "33"}[template]
    assert render_body(template, TESTCASE) == expected


# --- extract_path -------------------------------------------------------------------------------

RESPONSE: dict[str, Any] = {
    "choices": [{"message": {"content": "4"}}, {"message": {"content": "four"}}],
    "usage": {"total_tokens": 12},
    "0": "zero-key",
    "empty": [],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("", RESPONSE, id="empty-path-whole-document"),
        pytest.param("usage", {"total_tokens": 12}, id="one-step"),
        pytest.param("usage.total_tokens", 12, id="dotted"),
        pytest.param("choices.0.message.content", "4", id="list-index"),
        pytest.param("choices.1.message.content", "four", id="second-item"),
        pytest.param("choices.-1.message.content", "four", id="negative-index"),
        pytest.param("choices.-2.message.content", "4", id="negative-index-first"),
        pytest.param("0", "zero-key", id="digit-key-of-dict"),
        pytest.param("empty", [], id="empty-list-value"),
    ],
)
def test_extract_path(path: str, value: Any) -> None:
    assert extract_path(RESPONSE, path) == value


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        pytest.param(RESPONSE, "answer", "response has no 'answer' at path 'answer'", id="missing-key"),
        pytest.param(
            RESPONSE,
            "usage.prompt_tokens",
            "response has no 'prompt_tokens' at path 'usage.prompt_tokens'",
            id="missing-nested-key",
        ),
        pytest.param(
            RESPONSE, "choices.2.message", "response has no '2' at path 'choices.2.message'", id="index-out-of-range"
        ),
        pytest.param(RESPONSE, "choices.-3", "response has no '-3' at path 'choices.-3'", id="negative-out-of-range"),
        pytest.param(RESPONSE, "choices.first", "response has no 'first' at path 'choices.first'", id="word-on-list"),
        pytest.param(RESPONSE, "empty.0", "response has no '0' at path 'empty.0'", id="index-into-empty-list"),
        pytest.param(
            RESPONSE,
            "usage.total_tokens.x",
            "response has no 'x' at path 'usage.total_tokens.x'",
            id="step-into-scalar",
        ),
        pytest.param("plain text", "answer", "response has no 'answer' at path 'answer'", id="step-into-string"),
        pytest.param(
            RESPONSE, "usage..total_tokens", "response has no '' at path 'usage..total_tokens'", id="empty-step"
        ),
    ],
)
def test_extract_path_missing_step(document: Any, path: str, message: str) -> None:
    with pytest.raises(KeyError) as caught:
        extract_path(document, path)
    assert caught.value.args == (message,)


@pytest.mark.parametrize("step", [pytest.param("--1", id="double-minus"), pytest.param("\u00b2", id="superscript")])
def test_extract_path_odd_index_is_a_missing_step(step: str) -> None:
    with pytest.raises(KeyError):
        extract_path({"choices": ["a", "b"]}, f"choices.{step}")
