"""The HTTP system form: a new system (or a new version of one) whose version calls an endpoint.

The form's fields are the `http` kind's config (README "Systems"); the JSON ones (body template,
headers, secret headers) are typed as JSON. The config is checked with the kind's own parser
before anything is written, so a bad config never leaves a system without its version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from starlette.datastructures import FormData

from shared.system_kinds import system_kind

METHODS = ("POST", "PUT", "GET")
# Form field → config field, for the JSON-valued ones.
_JSON_FIELDS = {
    "body_template": "Body template",
    "headers": "Headers",
    "secret_headers": "Secret headers",
    "usage": "Usage",
}
# Form field → (its label, its type), for the numbers.
_NUMBERS = {
    "timeout_s": ("Timeout (s)", float),
    "max_attempts": ("Attempts", int),
    "requests_per_s": ("Requests per second", float),
}


class SystemFormError(ValueError):
    """A field the visitor must fix."""


@dataclass
class HttpSystemForm:
    """What the form shows and posts (every value as typed)."""

    system_name: str = ""
    description: str = ""
    version_name: str = ""
    url: str = ""
    method: str = "POST"
    response_path: str = ""
    body_template: str = ""
    headers: str = ""
    secret_headers: str = ""
    usage: str = ""
    spans_path: str = ""
    timeout_s: str = ""
    max_attempts: str = ""
    requests_per_s: str = ""

    @classmethod
    def posted(cls, form: FormData) -> HttpSystemForm:
        return cls(**{name: str(form.get(name, "") or "") for name in asdict(cls())})

    @classmethod
    def from_config(cls, system_name: str, config: dict[str, Any]) -> HttpSystemForm:
        """A form holding an existing version's config, for its next version."""

        def shown(value: Any) -> str:
            return "" if value in (None, {}, "") else json.dumps(value, ensure_ascii=False, indent=1)

        numbers = {name: "" if config.get(name) is None else str(config[name]) for name in _NUMBERS}
        return cls(
            system_name=system_name,
            url=str(config.get("url", "")),
            method=str(config.get("method", "POST")),
            response_path=str(config.get("response_path", "")),
            body_template=shown(config.get("body_template")),
            headers=shown(config.get("headers")),
            secret_headers=shown(config.get("secret_headers")),
            usage=shown(config.get("usage")),
            spans_path=str(config.get("spans_path", "")),
            **numbers,
        )

    def config(self) -> dict[str, Any]:
        """The version's config, checked by the `http` kind's parser; SystemFormError naming the field."""
        if not self.system_name.strip():
            raise SystemFormError("Name the system.")
        if not self.url.strip():
            raise SystemFormError("Give the URL the system answers at.")
        config: dict[str, Any] = {"url": self.url.strip(), "method": self.method}
        for name in ("response_path", "spans_path"):
            if value := getattr(self, name).strip():
                config[name] = value
        for name, label in _JSON_FIELDS.items():
            raw = getattr(self, name).strip()
            if not raw:
                continue
            try:
                config[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SystemFormError(f"{label} must be JSON: {exc.msg} (line {exc.lineno}).") from None
        for name, (label, kind) in _NUMBERS.items():
            raw = getattr(self, name).strip()
            if not raw:
                continue
            try:
                config[name] = kind(raw)
            except ValueError:
                whole = " whole" if kind is int else ""
                raise SystemFormError(f"{label} must be a{whole} number, not {raw!r}.") from None
        try:
            system_kind("http").parse(config)
        except ValueError as exc:
            raise SystemFormError(f"The config is not valid: {exc}") from None
        return config
