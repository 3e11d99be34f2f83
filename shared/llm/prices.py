"""What a model costs per token, to put a price on each call."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


# OpenAI's published list prices (standard tier, USD per 1M tokens) as of 2025-08. Prices change:
# override or extend them with SCOREKEEPER_LLM_PRICES_JSON rather than trusting these.
DEFAULT_PRICES_AS_OF = "2025-08"
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-5": ModelPrice(input_per_mtok=1.25, output_per_mtok=10.0),
    "gpt-5-mini": ModelPrice(input_per_mtok=0.25, output_per_mtok=2.0),
    "gpt-5-nano": ModelPrice(input_per_mtok=0.05, output_per_mtok=0.40),
    "gpt-4.1": ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0),
    "gpt-4.1-mini": ModelPrice(input_per_mtok=0.40, output_per_mtok=1.60),
    "gpt-4.1-nano": ModelPrice(input_per_mtok=0.10, output_per_mtok=0.40),
    "gpt-4o": ModelPrice(input_per_mtok=2.50, output_per_mtok=10.0),
    "gpt-4o-mini": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
    "o4-mini": ModelPrice(input_per_mtok=1.10, output_per_mtok=4.40),
    "gpt-3.5-turbo": ModelPrice(input_per_mtok=0.50, output_per_mtok=1.50),
}

_PRICES_JSON = TypeAdapter(dict[str, ModelPrice])
# A release date the provider appends to a model name: "-2024-07-18" or "-20240718".
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True)
class PriceTable:
    """Prices per model name. A name matches exactly (case-insensitively), else after dropping a
    provider prefix ("openai/gpt-4o") and then a release date ("gpt-4o-mini-2024-07-18"); never by
    a bare prefix, so "gpt-4o-mini" is not priced as "gpt-4o"."""

    prices: Mapping[str, ModelPrice]

    @classmethod
    def defaults(cls) -> PriceTable:
        return cls(_lowercase(DEFAULT_PRICES))

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """``{"my-model": {"input_per_mtok": 0.5, "output_per_mtok": 1.5}}`` over the defaults;
        empty text gives the defaults. Raises ``ValueError`` with the offending entry."""
        if not text.strip():
            return cls.defaults()
        try:
            extra = _PRICES_JSON.validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
            )
            raise ValueError(f"invalid LLM price table: {problems}") from None
        return cls({**_lowercase(DEFAULT_PRICES), **_lowercase(extra)})

    def price(self, model: str) -> ModelPrice | None:
        for name in _candidates(model):
            found = self.prices.get(name)
            if found is not None:
                return found
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1_000_000

    def to_json(self) -> str:
        return json.dumps({name: price.model_dump() for name, price in sorted(self.prices.items())})


def _lowercase(prices: Mapping[str, ModelPrice]) -> dict[str, ModelPrice]:
    return {name.strip().lower(): price for name, price in prices.items()}


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    names = [name]
    if "/" in name:
        name = name.rsplit("/", 1)[1]
        names.append(name)
    undated = _DATED.sub("", name)
    if undated != name and undated:
        names.append(undated)
    return names
