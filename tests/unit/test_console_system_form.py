"""The console's HTTP system form: what it posts becomes the `http` kind's config, or a message."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from services.console.system_form import HttpSystemForm, SystemFormError

URL = "https://bot.example/answer"


def _form(**fields: str) -> HttpSystemForm:
    return HttpSystemForm.posted(FormData({"system_name": "bot", "url": URL, "method": "POST", **fields}))


def test_only_what_was_typed_goes_into_the_config() -> None:
    assert _form().config() == {"url": URL, "method": "POST"}
    typed = _form(
        response_path=" choices.0.message.content ",
        body_template='{"q": "{{ inputs.question }}"}',
        headers='{"X-Team": "qa"}',
        secret_headers='{"Authorization": {"env": "BOT_KEY", "prefix": "Bearer "}}',
        timeout_s="12.5",
        max_attempts="2",
        requests_per_s="40",
        usage='{"prompt_tokens": "usage.prompt_tokens", "cost_usd": "$.usage.cost"}',
        spans_path=" trace.spans ",
    )
    assert typed.config() == {
        "url": URL,
        "method": "POST",
        "response_path": "choices.0.message.content",
        "body_template": {"q": "{{ inputs.question }}"},
        "headers": {"X-Team": "qa"},
        "secret_headers": {"Authorization": {"env": "BOT_KEY", "prefix": "Bearer "}},
        "timeout_s": 12.5,
        "max_attempts": 2,
        "requests_per_s": 40.0,
        "usage": {"prompt_tokens": "usage.prompt_tokens", "cost_usd": "$.usage.cost"},
        "spans_path": "trace.spans",
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"system_name": "  "}, "Name the system."),
        ({"url": ""}, "Give the URL the system answers at."),
        ({"headers": "{'a': 1}"}, "Headers must be JSON: Expecting property name enclosed in double quotes (line 1)."),
        ({"body_template": "[1,"}, "Body template must be JSON: Expecting value (line 1)."),
        ({"max_attempts": "2.5"}, "Attempts must be a whole number, not '2.5'."),
        ({"timeout_s": "soon"}, "Timeout (s) must be a number, not 'soon'."),
        ({"timeout_s": "0"}, "The config is not valid: config.timeout_s: Input should be greater than 0"),
        ({"headers": "[1]"}, "The config is not valid: config.headers: Input should be a valid dictionary"),
        ({"method": "DELETE"}, "The config is not valid: config.method: Input should be 'POST', 'PUT' or 'GET'"),
        (
            {"usage": '{"tokens": "t"}'},
            "The config is not valid: config.usage.tokens: Input should be 'prompt_tokens', 'completion_tokens'"
            " or 'cost_usd'",
        ),
        ({"usage": "{"}, "Usage must be JSON: Expecting property name enclosed in double quotes (line 1)."),
        (
            {"body_template": '"{{ inputs."'},
            "The config is not valid: config.body_template: Value error, template '{{ inputs.' does not compile:"
            " expected name or number",
        ),
    ],
)  # fmt: skip
def test_a_field_to_fix_is_named(fields: dict[str, str], message: str) -> None:
    with pytest.raises(SystemFormError) as exc:
        _form(**fields).config()
    assert str(exc.value) == message


def test_a_versions_config_fills_the_form_for_its_next_version() -> None:
    config = _form(
        body_template='{"q": "{{ inputs.question }}"}',
        response_path="answer",
        max_attempts="2",
        headers="{}",
        usage='{"cost_usd": "cost"}',
        spans_path="steps",
    ).config()
    shown = HttpSystemForm.from_config("bot", {**config, "secret_headers": {}, "requests_per_s": None})
    assert (shown.system_name, shown.url, shown.response_path, shown.max_attempts) == ("bot", URL, "answer", "2")
    assert (shown.headers, shown.secret_headers, shown.requests_per_s, shown.version_name) == ("", "", "", "")
    assert shown.config() == {k: v for k, v in config.items() if k != "headers"}  # {} headers: the default
