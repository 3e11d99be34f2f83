"""Configuration of system versions: validated when a version is created, used by the executor."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import jsonpath
from jinja2 import StrictUndefined, Template, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jsonpath import JSONPath, JSONPathError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from shared import spans

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
# One "{{ … }}" and nothing else (not "{{ a }} and {{ b }}").
_WHOLE_EXPRESSION = re.compile(r"^\{\{\s*((?:(?!\{\{|\}\}).)+?)\s*\}\}$", re.DOTALL)
# An expression that is only a dotted path ("inputs.question"): looked up without Jinja.
_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_LITERALS = {"true", "false", "none", "True", "False", "None"}
_INDEX = re.compile(r"-?[0-9]+")
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

DEFAULT_BODY_TEMPLATE = "{{ inputs }}"


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name!r} is not an HTTP header name")
    return name


def _jsonpath_text(path: str) -> str:
    _check_jsonpath(path)
    return path


def _output_path(path: str) -> str:
    return _jsonpath_text(path) if path.startswith("$") else path


UsageField = Literal["prompt_tokens", "completion_tokens", "cost_usd"]
HeaderName = Annotated[str, AfterValidator(_header_name)]
JsonPathText = Annotated[str, AfterValidator(_jsonpath_text)]
OutputPath = Annotated[str, AfterValidator(_output_path)]


class SecretHeader(BaseModel):
    """A header whose value is read from an environment variable of the executor at call time:
    only the variable's *name* is stored; the value is sent as ``prefix + value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field(pattern=ENV_NAME)
    # e.g. "Bearer "; not a secret (it is stored), so no line breaks.
    prefix: str = Field(default="", max_length=100, pattern=r"^[^\r\n]*$")


class HttpSystemConfig(BaseModel):
    """An AI system behind an HTTP endpoint that takes JSON and answers JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    method: Literal["POST", "PUT", "GET"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    # Headers whose values come from the executor's environment: {"Authorization": {"env":
    # "MY_BOT_KEY", "prefix": "Bearer "}}. The value never reaches the database, events or logs.
    secret_headers: dict[HeaderName, SecretHeader] = Field(default_factory=dict)
    # The alternative to body_template: a JSON object whose values are RFC 9535 JSONPaths over
    # {"inputs": …, "metadata": …}: {"question": "$.inputs.question"}. A singular path (names and
    # indexes only) gives its one value; any other path gives the list of what it matches.
    # Declared before body_template so that body_template's check sees it.
    body_mapping: dict[str, JsonPathText] | None = None
    # A JSON value whose strings may hold Jinja expressions over inputs / metadata;
    # a string that is one whole "{{ … }}" keeps the value's JSON type.
    body_template: Any = DEFAULT_BODY_TEMPLATE
    # Dotted path of the answer in the response JSON ("choices.0.message.content");
    # empty keeps the whole response. The record's outputs are {"response": <that value>}.
    response_path: str = ""
    # The record's outputs by name, each a path in the response JSON: dotted like response_path,
    # or an RFC 9535 JSONPath when it starts with "$". Replaces response_path when given.
    outputs: dict[str, OutputPath] | None = None
    # What the call used, each a path in the response JSON (dotted, or a JSONPath from "$"):
    # {"prompt_tokens": "usage.prompt_tokens", "completion_tokens": "usage.completion_tokens",
    # "cost_usd": "usage.cost"}. A path the response lacks: not reported.
    usage: dict[UsageField, OutputPath] = Field(default_factory=dict)
    # Where the response holds the call's steps: a list of objects with the fields of a Span
    # (proto/scorekeeper/v1/spans.proto). A path the response lacks: no steps.
    spans_path: OutputPath = ""
    # Seconds one attempt may take, redirects and reading the answer included.
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Requests a second to this system from one executor process (a token bucket whose burst is
    # the rate rounded up); None: no rate limit.
    requests_per_s: float | None = Field(default=None, gt=0, le=100_000)
    # Attempts of one call when the system cannot be reached, times out, answers 5xx or 429.
    max_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return check_http_url(url)

    @field_validator("secret_headers")
    @classmethod
    def _secret_header_names(cls, secret_headers: dict[str, SecretHeader], info: ValidationInfo) -> Any:
        plain = {name.lower() for name in info.data.get("headers", {})}
        for name in secret_headers:
            if name.lower() in plain:
                raise ValueError(f"header {name!r} is also in headers: give it in one place")
        return secret_headers

    @field_validator("body_template")
    @classmethod
    def _templates_compile(cls, template: Any, info: ValidationInfo) -> Any:
        # Runs only when body_template is given (pydantic does not validate defaults); a stored
        # config (model_dump) holds the default next to a body_mapping, which is not a conflict.
        if info.data.get("body_mapping") is not None and template != DEFAULT_BODY_TEMPLATE:
            raise ValueError("give either body_template or body_mapping, not both")
        for text in _strings(template):
            try:
                _compile(text)
            except TemplateError as exc:
                raise ValueError(f"template {text!r} does not compile: {exc}") from exc
        return template

    @field_validator("outputs")
    @classmethod
    def _output_paths(cls, outputs: dict[str, str] | None, info: ValidationInfo) -> Any:
        if outputs is None:
            return None
        if info.data.get("response_path"):
            raise ValueError("give either response_path or outputs, not both")
        if not outputs:
            raise ValueError("name at least one output")
        if "" in outputs:
            raise ValueError("an output name must not be empty")
        return outputs


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
    # OpenAI-compatible base URL; None: the executor's default (SCOREKEEPER_LLM_BASE_URL).
    base_url: str | None = None
    # The *name* of the environment variable holding the API key; the key is never stored.
    # None: the executor's default (SCOREKEEPER_LLM_API_KEY_ENV).
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(default=60.0, gt=0, le=600)

    @field_validator("base_url")
    @classmethod
    def _http_base_url(cls, url: str | None) -> str | None:
        return None if url is None else check_http_url(url)


def check_http_url(url: str) -> str:
    """ValueError unless ``url`` is an http:// or https:// URL with a host."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
    return url


def _parse(model: type[BaseModel], config: dict[str, Any]) -> Any:
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())) from exc


def _location(loc: tuple[int | str, ...]) -> str:
    # A bad dict key is reported at "<key>.[key]": the key names the place well enough.
    return ".".join(["config", *(str(p) for p in loc if p != "[key]")])


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
        expression = _ENV.compile_expression(whole.group(1), undefined_to_none=False)
        if _DOTTED_PATH.fullmatch(whole.group(1)) and whole.group(1).split(".")[0] not in _LITERALS:
            return ("path", (tuple(whole.group(1).split(".")), expression))
        return ("expression", expression)
    return ("template", _ENV.from_string(text))


def _look_up(path: tuple[str, ...], context: dict[str, Any]) -> Any:
    """A dotted path's value where each step is a key of a dict: what Jinja's sandbox answers,
    at a tenth of its cost (the executor fills a body per call). _NOT_FOUND when Jinja must answer: a
    step missing (its UndefinedError names it), not a dict, or the name of a dict's attribute
    ("inputs.items" is the method in Jinja)."""
    value: Any = context
    for step in path:
        if not isinstance(value, dict) or step not in value or hasattr(dict, step):
            return _NOT_FOUND
        value = value[step]
    return value


_NOT_FOUND = object()


def render_body(template: Any, context: dict[str, Any]) -> Any:
    """Fill a body template from a testcase; TemplateError / jinja2 UndefinedError on a bad reference."""
    if isinstance(template, str):
        mode, compiled = _compile(template)
        if mode == "path":
            path, compiled = compiled
            if (found := _look_up(path, context)) is not _NOT_FOUND:
                return found
            mode = "expression"
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


def render_text(template: str, context: dict[str, Any]) -> str:
    """A text template (an llm system's message) filled from a testcase; TemplateError on a bad reference."""
    text: str = _text_template(template).render(**context)
    return text


@lru_cache(maxsize=1024)
def _text_template(text: str) -> Template:
    return _ENV.from_string(text)


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


def build_body(config: HttpSystemConfig, context: dict[str, Any]) -> Any:
    """The request body for one testcase, from body_mapping or else body_template. ValueError for
    a path matching nothing; TemplateError / TypeError for a bad template reference."""
    if config.body_mapping is None:
        return render_body(config.body_template, context)
    body: dict[str, Any] = {}
    for key, path in config.body_mapping.items():
        try:
            body[key] = _select(path, context)
        except LookupError as exc:
            raise ValueError(f"body_mapping.{key}: {path} {exc.args[0]} in the testcase") from exc
    return body


def extract_outputs(config: HttpSystemConfig, document: Any) -> dict[str, Any]:
    """A record's outputs from the response JSON; KeyError with the output and the missing step."""
    if config.outputs is None:
        return {"response": extract_path(document, config.response_path)}
    outputs: dict[str, Any] = {}
    for name, path in config.outputs.items():
        if path.startswith("$"):
            try:
                outputs[name] = _select(path, document)
            except LookupError as exc:
                raise KeyError(f"output {name!r}: {path} {exc.args[0]} in the response") from exc
        else:
            try:
                outputs[name] = extract_path(document, path)
            except KeyError as exc:
                raise KeyError(f"output {name!r}: {exc.args[0]}") from exc
    return outputs


def _found(document: Any, path: str) -> tuple[bool, Any]:
    """Whether the response holds ``path`` (dotted, or a JSONPath from "$"), and its value."""
    try:
        return True, _select(path, document) if path.startswith("$") else extract_path(document, path)
    except (KeyError, LookupError):
        return False, None


def extract_usage(config: HttpSystemConfig, document: Any) -> tuple[int, int, float | None]:
    """Prompt tokens, completion tokens and cost from the response JSON (0, 0, None where it says
    nothing); ValueError naming the field whose value is not a count or an amount."""
    found: dict[str, Any] = {}
    for name, path in config.usage.items():
        present, value = _found(document, path)
        if not present or value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        if not number or (name != "cost_usd" and value != int(value)):
            wanted = "an amount >= 0" if name == "cost_usd" else "a whole number >= 0"
            raise ValueError(f"usage.{name} at {path!r} is {json.dumps(value)[:80]}, not {wanted}")
        found[name] = value
    cost = found.get("cost_usd")
    return (
        int(found.get("prompt_tokens", 0)),
        int(found.get("completion_tokens", 0)),
        None if cost is None else float(cost),
    )


def extract_spans(config: HttpSystemConfig, document: Any) -> list[dict[str, Any]]:
    """The call's steps at ``spans_path`` in the response JSON, checked (shared.spans); none where
    it holds none; ValueError saying what is wrong."""
    if not config.spans_path:
        return []
    present, value = _found(document, config.spans_path)
    if not present or value is None:
        return []
    return spans.parse_json(value, "spans")


@lru_cache(maxsize=1024)
def _jsonpath(path: str) -> Any:
    return jsonpath.compile(path, strict=True)


def _check_jsonpath(path: str) -> None:
    try:
        _jsonpath(path)
    except JSONPathError as exc:
        # The library marks "unexpected end of query" at index -1.
        at = "" if exc.token is None else f" at position {exc.token.index % (len(path) + 1)}"
        raise ValueError(f"invalid JSONPath {path!r}: {exc.message}{at}") from exc


def _select(path: str, document: Any) -> Any:
    """What a JSONPath selects: the one value of a singular path (LookupError when it matches
    nothing), else the list of every match."""
    compiled = _jsonpath(path)
    try:
        matches = compiled.findall(document)
    except JSONPathError as exc:
        raise LookupError(f"cannot be applied: {exc.message}") from exc
    if isinstance(compiled, JSONPath) and compiled.singular_query():
        if not matches:
            raise LookupError("matches nothing")
        return matches[0]
    return matches
