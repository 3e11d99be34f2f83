"""The fields of a prompt run on the server (an ``llm`` system version's config), shared by the
Kickoff dialog and the Playground: read from a form or a config, checked, turned into a config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import ImmutableMultiDict

DEFAULT_USER_TEMPLATE = "{{ inputs | tojson }}"


class FormError(ValueError):
    """A field the visitor must fix before the form can be acted on."""


def form_text(form: ImmutableMultiDict[str, Any], name: str, default: str = "") -> str:
    """A posted form's (or a query's) text field."""
    return str(form.get(name, default) or default)


def _float(raw: str, name: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise FormError(f"{name} must be a number, not {raw!r}") from None


@dataclass
class PromptFields:
    """A system prompt and one user message template, with the model's parameters."""

    model: str = ""
    system_prompt: str = ""
    user_template: str = DEFAULT_USER_TEMPLATE
    temperature: str = "0"
    max_tokens: str = ""
    base_url: str = ""

    @staticmethod
    def read(form: ImmutableMultiDict[str, Any]) -> dict[str, Any]:
        """The prompt fields of a posted form, as keyword arguments."""
        return {
            "model": form_text(form, "model").strip(),
            "system_prompt": form_text(form, "system_prompt"),
            "user_template": form_text(form, "user_template", DEFAULT_USER_TEMPLATE),
            "temperature": form_text(form, "temperature", "0"),
            "max_tokens": form_text(form, "max_tokens"),
            "base_url": form_text(form, "base_url").strip(),
        }

    @staticmethod
    def of_config(config: dict[str, Any]) -> dict[str, Any]:
        """The prompt fields showing an llm config: its first system message and its last user
        message (the form edits those two)."""
        messages = config.get("messages") or []
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        max_tokens = config.get("max_tokens")
        return {
            "model": str(config.get("model", "")),
            "system_prompt": system,
            "user_template": user,
            "temperature": f"{config.get('temperature', 0):g}",
            "max_tokens": "" if max_tokens is None else str(max_tokens),
            "base_url": config.get("base_url") or "",
        }

    def check_prompt(self) -> None:
        if not self.model:
            raise FormError("Name the model the prompt runs on.")
        if not self.user_template.strip():
            raise FormError("The prompt needs a user message template.")

    def config(self) -> dict[str, Any]:
        """The ``llm`` system version's config: messages are Jinja2 templates over inputs / metadata."""
        messages = []
        if self.system_prompt.strip():
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": self.user_template})
        config: dict[str, Any] = {"model": self.model, "messages": messages}
        temperature = _float(self.temperature, "temperature")
        if temperature is not None:
            config["temperature"] = temperature
        max_tokens = _float(self.max_tokens, "max tokens")
        if max_tokens is not None:
            config["max_tokens"] = int(max_tokens)
        if self.base_url:
            config["base_url"] = self.base_url
        return config
