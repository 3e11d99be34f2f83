"""What a playground try must be: pure checks (a ValueError names the field) and the scratch
testset that holds a try's cases."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.run_orchestrator.testsets.validation import FieldMapping, TestcaseRow
from shared.system_config import render_text

# A try answers in seconds: a few cases, not a testset (a full run of it is a kickoff).
MAX_CASES = 20


@dataclass(frozen=True)
class Case:
    """One case of a try: a testcase picked from a testset (``source_testcase_id``) or typed."""

    inputs: dict[str, Any]
    expected: dict[str, Any]
    metadata: dict[str, Any]
    data: dict[str, Any]
    source_testcase_id: uuid.UUID | None = None
    validation_errors: tuple[dict[str, str], ...] = ()


def typed_case(inputs: dict[str, Any], expected: dict[str, Any], metadata: dict[str, Any]) -> Case:
    """A typed case; its data (what the scratch testset shows) holds every field once."""
    return Case(inputs, expected, metadata, {**metadata, **expected, **inputs})


def check_count(count: int) -> None:
    """How many cases a try has."""
    if count == 0:
        raise ValueError("a try needs at least one case: testcase_ids of a testset, or typed cases")
    if count > MAX_CASES:
        raise ValueError(
            f"a try takes at most {MAX_CASES} cases, got {count}: kick off a run to evaluate a whole testset"
        )


def check_prompt(config: dict[str, Any], cases: Sequence[Case]) -> None:
    """Every message of the (validated) llm config renders for every case, as the executor will
    render it; otherwise the ValueError names the message, the case and the reason."""
    for m, message in enumerate(config["messages"]):
        for n, case in enumerate(cases, start=1):
            try:
                render_text(message["content"], {"inputs": case.inputs, "metadata": case.metadata})
            except Exception as exc:  # a template may fail in any way: that is what is reported
                raise ValueError(
                    f"config.messages[{m}].content cannot be rendered for case {n}: {type(exc).__name__}: {exc}"
                ) from None


def scratch_testset(cases: Sequence[Case]) -> tuple[FieldMapping, list[TestcaseRow]]:
    """The mapping and testcases of the testset a try's run executes: its cases, in order."""
    inputs: dict[str, None] = {}
    expected: dict[str, None] = {}
    metadata: dict[str, None] = {}
    for case in cases:
        inputs.update(dict.fromkeys(case.inputs))
        expected.update(dict.fromkeys(k for k in case.expected if k not in inputs))
        metadata.update(dict.fromkeys(k for k in case.metadata if k not in inputs and k not in expected))
    mapping = FieldMapping(tuple(inputs), tuple(expected), tuple(metadata))
    rows = [TestcaseRow(c.data, c.inputs, c.expected, c.metadata, list(c.validation_errors)) for c in cases]
    return mapping, rows
