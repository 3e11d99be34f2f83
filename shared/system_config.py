"""Configuration of system versions: validated when a version is created, used by the executor."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlparse

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
# One "{{ … }}" and nothing else (not "{{ a }} and {{ b }}").
_WHOLE_EXPRESSION = re.compile(r"^\{\{\s*((?:(?!\{\{|\}\}).)+?)\s*\}\}$", re.DOTALL)
_INDEX = re.compile(r"-?[0-9]+")


class HttpSystemConfig(BaseModel):
    """An AI system behind an HTTP endpoint that takes JSON and answers JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    method: Literal["POST", "PUT", "GET"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    # A JSON value whose strings may hold Jinja expressions over inputs / metadata;
    # a string that is one whole "{{ … }}" keeps the value's JSON type.
    body_template: Any = "{{ inputs }}"
    # Dotted path of the answer in the response JSON ("choices.0.message.content");
    # empty keeps the whole response.
    response_path: str = ""
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("body_template")
    @classmethod
    def _templates_compile(cls, template: Any) -> Any:
        for text in _strings(template):
            try:
                _compile(text)
            except TemplateError as exc:
                raise ValueError(f"template {text!r} does not compile: {exc}") from exc
        return template


class LlmMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    # A Jinja template over inputs / metadata.
    content: str

    @field_validator("content")
    @classmethod
    def _compiles(cls, content: str) -> str:
        check_template(content)
        return content


class LlmSystemConfig(BaseModel):
    """A prompt run on the server against an OpenAI-compatible chat-completions endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    messages: list[LlmMessage] = Field(min_length=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    base_url: str | None = None
    # The *name* of the environment variable holding the API key; the key is never stored.
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


def _parse(model: type[BaseModel], config: dict[str, Any]) -> Any:
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise ValueError(
            "; ".join(f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        ) from exc


def parse_http_config(config: dict[str, Any]) -> HttpSystemConfig:
    """ValueError naming the bad field when the config is not a valid http system config."""
    result: HttpSystemConfig = _parse(HttpSystemConfig, config)
    return result


def parse_llm_config(config: dict[str, Any]) -> LlmSystemConfig:
    """ValueError naming the bad field when the config is not a valid llm system config."""
    result: LlmSystemConfig = _parse(LlmSystemConfig, config)
    return result


def check_template(text: str) -> None:
    """ValueError when a Jinja template does not compile in the sandbox."""
    try:
        _ENV.from_string(text)
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@lru_cache(maxsize=1024)
def _compile(text: str) -> Any:
    whole = _WHOLE_EXPRESSION.match(text)
    if whole:
        return ("expression", _ENV.compile_expression(whole.group(1), undefined_to_none=False))
    return ("template", _ENV.from_string(text))


def render_body(template: Any, context: dict[str, Any]) -> Any:
    """Fill a body template from a testcase; TemplateError / jinja2 UndefinedError on a bad reference."""
    if isinstance(template, str):
        mode, compiled = _compile(template)
        if mode == "expression":
            value = compiled(**context)
            if isinstance(value, Undefined):
                # compile_expression hands back Undefined instead of raising; make it raise
                # (UndefinedError, or SecurityError for what the sandbox refused).
                value._fail_with_undefined_error()
            return value
        return compiled.render(**context)
    if isinstance(template, dict):
        return {k: render_body(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render_body(v, context) for v in template]
    return template


def extract_path(document: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists; KeyError with the missing step."""
    current = document
    if not path:
        return current
    for step in path.split("."):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and _INDEX.fullmatch(step) and -len(current) <= int(step) < len(current):
            current = current[int(step)]
        else:
            raise KeyError(f"response has no {step!r} at path {path!r}")
    return current
