"""The Playground's form: the prompt (PromptFields, plus the config keys the form does not show),
the cases (testcases of a testset, typed inputs) and the metrics; read from a post, a try or a
saved version, and turned into a CreateTryRequest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import playground_pb2 as ppb
from starlette.datastructures import ImmutableMultiDict

from services.console.prompt_form import FormError, PromptFields, form_text
from shared.edge.convert import dict_to_struct, struct_to_dict
from shared.system_config import parse_llm_config

DEFAULT_SYSTEM = "Playground prompts"
# The config keys the prompt fields show; the others ride along in `extra`.
_SHOWN = frozenset({"model", "messages", "temperature", "max_tokens", "base_url"})
_CASE_KEYS = frozenset({"inputs", "expected", "metadata"})


def same_prompt(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two llm configs run the same prompt once validated (defaults filled in)."""
    try:
        return parse_llm_config(a).model_dump() == parse_llm_config(b).model_dump()
    except ValueError:
        return False


def _typed_line(case: ppb.TryCase) -> str:
    inputs, expected, metadata = (
        struct_to_dict(case.inputs),
        struct_to_dict(case.expected),
        struct_to_dict(case.metadata),
    )
    if not expected and not metadata:
        return json.dumps(inputs, ensure_ascii=False)
    whole = {"inputs": inputs, "expected": expected} | ({"metadata": metadata} if metadata else {})
    return json.dumps(whole, ensure_ascii=False)


@dataclass
class PlaygroundForm(PromptFields):
    """What the Playground shows and posts."""

    # The saved version the prompt is (while unchanged): loaded, or saved from here.
    system_version_id: str = ""
    # Config keys the fields do not show (api_key_env, timeout_s …), as a JSON object.
    extra: str = ""
    testset_id: str = ""
    testcase_ids: list[str] = field(default_factory=list)
    # One case a line: a JSON object of inputs, or {"inputs": …, "expected": …, "metadata": …}.
    typed: str = ""
    metric_ids: list[str] = field(default_factory=list)
    save_system: str = DEFAULT_SYSTEM
    save_version: str = ""

    @classmethod
    def from_form(cls, form: ImmutableMultiDict[str, Any]) -> PlaygroundForm:
        def listed(name: str) -> list[str]:
            return [v for v in form.getlist(name) if isinstance(v, str) and v]

        return cls(
            system_version_id=form_text(form, "system_version_id"),
            extra=form_text(form, "extra"),
            testset_id=form_text(form, "testset_id"),
            testcase_ids=listed("testcase_id"),
            typed=form_text(form, "typed"),
            metric_ids=listed("metric_id"),
            save_system=form_text(form, "save_system").strip() or DEFAULT_SYSTEM,
            save_version=form_text(form, "save_version").strip(),
            **PromptFields.read(form),
        )

    @classmethod
    def showing(cls, config: dict[str, Any], **rest: Any) -> PlaygroundForm:
        extra = {k: v for k, v in config.items() if k not in _SHOWN and v is not None}
        return cls(**PromptFields.of_config(config), extra=json.dumps(extra) if extra else "", **rest)

    @classmethod
    def from_try(cls, tried: ppb.Try) -> PlaygroundForm:
        """Try again: the try's prompt, cases and metrics."""
        return cls.showing(
            struct_to_dict(tried.config),
            system_version_id=tried.system_version_id,
            testset_id=tried.testset_id,
            testcase_ids=[c.source_testcase_id for c in tried.cases if c.source_testcase_id],
            typed="\n".join(_typed_line(c) for c in tried.cases if not c.source_testcase_id),
            metric_ids=list(tried.metric_ids),
        )

    @classmethod
    def from_version(cls, version: cpb.SystemVersion, system_name: str) -> PlaygroundForm:
        """A saved llm version's prompt, to edit and try."""
        return cls.showing(struct_to_dict(version.config), system_version_id=version.id, save_system=system_name)

    def full_config(self) -> dict[str, Any]:
        """The llm config tried or saved: the fields, and the keys they do not show."""
        self.check_prompt()
        extra: Any = {}
        if self.extra.strip():
            try:
                extra = json.loads(self.extra)
            except ValueError:
                extra = None
            if not isinstance(extra, dict):
                raise FormError("The prompt's other settings are not a JSON object.")
        return {**extra, **self.config()}

    def typed_cases(self) -> list[ppb.TryCaseInput]:
        cases = []
        for n, line in enumerate(self.typed.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise FormError(f"Typed inputs, line {n}: not JSON ({exc}).") from None
            if not isinstance(value, dict):
                raise FormError(f'Typed inputs, line {n}: a JSON object of inputs, e.g. {{"question": "…"}}.')
            whole = "inputs" in value and set(value) <= _CASE_KEYS and all(isinstance(v, dict) for v in value.values())
            parts = value if whole else {"inputs": value}
            cases.append(ppb.TryCaseInput(**{k: dict_to_struct(v) for k, v in parts.items()}))
        return cases

    def try_request(self, project_id: str) -> ppb.CreateTryRequest:
        """The try these fields ask for; FormError names what to fix first."""
        typed = self.typed_cases()
        if not self.testset_id and not typed:
            raise FormError("Pick testcases of a testset, or type inputs, to try the prompt on.")
        # A testset with none of its testcases picked: all of them (at most 20), unless inputs are typed.
        from_testset = bool(self.testcase_ids) or not typed
        return ppb.CreateTryRequest(
            project_id=project_id,
            system_version_id=self.system_version_id,
            config=dict_to_struct(self.full_config()),
            testset_id=self.testset_id if from_testset else "",
            testcase_ids=self.testcase_ids,
            cases=typed,
            metric_ids=self.metric_ids,
        )
