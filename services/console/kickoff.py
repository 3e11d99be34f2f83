"""The Kickoff dialog's fields: read from the form or a previous run, checked, and — for a prompt
run on the server — turned into an ``llm`` system version's config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import FormData

from services.console.prompt_form import FormError, PromptFields, form_text
from shared.edge.convert import dict_to_struct, struct_to_dict

DEFAULT_PROMPT_SYSTEM = "Kickoff prompts"

# A field the visitor must fix before the run can start.
KickoffError = FormError
INT32_MAX = 2**31 - 1


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _text(value: Any) -> str:
    """A metadata value as typed in the form (a Struct's whole numbers come back as floats)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else json.dumps(value)


def _int(form: FormData, name: str, default: int, lowest: int) -> int:
    raw = str(form.get(name, "") or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise KickoffError(f"{name.replace('_', ' ')} must be a whole number, not {raw!r}") from None
    if value < lowest:
        raise KickoffError(f"{name.replace('_', ' ')} must be at least {lowest}")
    if value > INT32_MAX:  # the request's fields are 32-bit
        raise KickoffError(f"{name.replace('_', ' ')} must be at most {INT32_MAX}")
    return value


@dataclass
class KickoffForm(PromptFields):
    """What the dialog shows and posts."""

    testset_id: str = ""
    # "version": run an existing system version; "prompt": a prompt run on the server.
    mode: str = "version"
    system_version_id: str = ""
    metric_ids: list[str] = field(default_factory=list)
    metric_group_id: str = ""
    trials: int = 1
    max_concurrency: int = 0
    notes: str = ""
    prompt_system: str = DEFAULT_PROMPT_SYSTEM
    # Part of the testset: "KEY=VALUE, …" of its metadata, then at most ``sample`` testcases.
    only: str = ""
    sample: int = 0
    sample_seed: int = 0
    # The testcases of an earlier run (Run again of a run of named testcases).
    same_as_run: str = ""
    # A number the form could not take (check() says so; the other fields stay as typed).
    problem: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> KickoffForm:
        def text(name: str, default: str = "") -> str:
            return form_text(form, name, default)

        values = cls(
            testset_id=text("testset_id"),
            mode="prompt" if text("mode") == "prompt" else "version",
            system_version_id=text("system_version_id"),
            metric_ids=[m for m in form.getlist("metric_id") if isinstance(m, str) and m],
            metric_group_id=text("metric_group_id"),
            notes=text("notes"),
            prompt_system=text("prompt_system").strip() or DEFAULT_PROMPT_SYSTEM,
            only=text("only").strip(),
            same_as_run=text("same_testcases_as").strip(),
            **PromptFields.read(form),
        )
        # Numbers are read last so that a bad one still leaves the other fields filled in.
        try:
            values.trials = _int(form, "trials", 1, 1)
            values.max_concurrency = _int(form, "max_concurrency", 0, 0)
            values.sample = _int(form, "sample", 0, 0)
            values.sample_seed = _int(form, "sample_seed", 0, -INT32_MAX - 1)
        except KickoffError as exc:
            values.problem = str(exc)
        return values

    @classmethod
    def from_run(cls, run: qpb.RunView) -> KickoffForm:
        """Run again: the run's testset, system version, metrics, trials, notes, and the part of
        the testset it chose — by metadata and sample, or the same testcases when it named them."""
        subset = struct_to_dict(run.subset)
        chosen = subset.get("metadata_filter", {})
        named = bool(subset.get("testcase_ids") or subset.get("same_as_run"))
        return cls(
            testset_id=run.testset_id,
            system_version_id=run.system_version_id,
            metric_ids=[m.metric_id for m in run.metrics],
            trials=max(run.trials, 1),
            notes=run.notes,
            only=", ".join(
                f"{k}={_text(v)}"
                for k, values in chosen.items()
                for v in (values if isinstance(values, list) else [values])
            ),
            sample=int(subset.get("sample", 0)),
            sample_seed=int(subset.get("sample_seed", 0)),
            same_as_run=run.id if named else "",
        )

    def metadata_filter(self) -> dict[str, Any]:
        """``only`` as CreateRun's metadata_filter: each KEY=VALUE (a JSON value, else text);
        a KEY given twice matches any of its values."""
        wanted: dict[str, list[Any]] = {}
        for part in filter(None, (p.strip() for p in self.only.replace("\n", ",").split(","))):
            key, sep, raw = part.partition("=")
            if not sep or not key.strip():
                raise KickoffError(f"Only testcases whose metadata: write KEY=VALUE, not {part!r}")
            wanted.setdefault(key.strip(), []).append(_value(raw.strip()))
        return {k: v[0] if len(v) == 1 else v for k, v in wanted.items()}

    def check(self) -> None:
        if self.problem:
            raise KickoffError(self.problem)
        if not self.testset_id:
            raise KickoffError("Choose a testset.")
        if self.mode == "version" and not self.system_version_id:
            raise KickoffError("Choose a system version, or run a prompt on the server.")
        if self.mode == "prompt":
            self.check_prompt()
        if not self.metric_ids and not self.metric_group_id:
            raise KickoffError("Choose at least one metric or a metric group.")


def prompt_system_config(values: PromptFields) -> struct_pb2.Struct:
    """The ``llm`` system version's config: messages are Jinja2 templates over inputs / metadata."""
    return dict_to_struct(values.config())
