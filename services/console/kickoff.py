"""The Kickoff dialog's fields: read from the form or a previous run, checked, and — for a prompt
run on the server — turned into an ``llm`` system version's config."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import struct_pb2
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import FormData

from services.console.prompt_form import FormError, PromptFields, form_text
from shared.edge.convert import dict_to_struct

DEFAULT_PROMPT_SYSTEM = "Kickoff prompts"

# A field the visitor must fix before the run can start.
KickoffError = FormError


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
            **PromptFields.read(form),
        )
        # Numbers are read last so that a bad one still leaves the other fields filled in.
        values.trials = _int(form, "trials", 1, 1)
        values.max_concurrency = _int(form, "max_concurrency", 0, 0)
        return values

    @classmethod
    def from_run(cls, run: qpb.RunView) -> KickoffForm:
        """Run again: the run's testset, system version, metrics, trials and notes."""
        return cls(
            testset_id=run.testset_id,
            system_version_id=run.system_version_id,
            metric_ids=[m.metric_id for m in run.metrics],
            trials=max(run.trials, 1),
            notes=run.notes,
        )

    def check(self) -> None:
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
