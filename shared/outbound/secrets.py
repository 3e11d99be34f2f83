"""Which environment variables a system version or an AI metric may name for its secrets, and
masking those secrets wherever an answer echoes them.

Configs name a variable (``api_key_env``, ``secret_headers[*].env``), never a value. Without a
rule a config could name ``SCOREKEEPER_DATABASE_URL`` and have it sent as a bearer token to a
listener of its author's. So a name must be listed by the operator (``SCOREKEEPER_SECRET_ENV_NAMES``)
or start with the operator's prefix (``SCOREKEEPER_SECRET_ENV_PREFIX``), and the platform's own
``SCOREKEEPER_*`` settings are never allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NAMES_ENV = "SCOREKEEPER_SECRET_ENV_NAMES"
PREFIX_ENV = "SCOREKEEPER_SECRET_ENV_PREFIX"
DEFAULT_NAMES = "OPENAI_API_KEY"
DEFAULT_PREFIX = "SECRET_"
MASK = "***"


@dataclass(frozen=True)
class SecretEnvPolicy:
    """The environment variables configs may name."""

    names: frozenset[str] = frozenset(DEFAULT_NAMES.split(","))
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def parse(cls, names: str, prefix: str) -> SecretEnvPolicy:
        return cls(frozenset(n.strip() for n in names.split(",") if n.strip()), prefix.strip())

    def allows(self, name: str) -> bool:
        if name.startswith("SCOREKEEPER_"):
            return False
        return name in self.names or bool(self.prefix and name.startswith(self.prefix))

    def check(self, name: str, field: str) -> None:
        """ValueError naming the field and the rule, for a name configs may not use."""
        if self.allows(name):
            return
        if name.startswith("SCOREKEEPER_"):
            raise ValueError(f"{field} {name!r} is one of the platform's own settings; name a secret of yours")
        listed = ", ".join(sorted(self.names)) or "none"
        raise ValueError(
            f"{field} {name!r} is not a variable configs may name: use one listed in {NAMES_ENV} ({listed})"
            + (f" or one starting with {self.prefix!r} ({PREFIX_ENV})" if self.prefix else "")
        )


def mask(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (JSON: dicts, lists, strings …) with every occurrence of each secret replaced."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {mask(k, secrets): mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secrets) for v in value]
    return value
