"""What changed from one version of a metric to the next: each field of the definition that
differs, short values side by side, long texts (guidelines, a judge's prompt, a heuristic's params)
as the lines removed and added."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from scorekeeper.v1 import catalog_pb2 as cpb

from scorekeeper_sdk import text_diff
from scorekeeper_sdk.text_diff import Part
from shared.edge.convert import struct_to_dict


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str = ""
    after: str = ""
    lines: list[Part] = field(default_factory=list)  # set for long texts instead of before / after


def _threshold(metric: cpb.Metric) -> str:
    return f"{metric.passing_threshold:g}" if metric.HasField("passing_threshold") else "—"


def _temperature(metric: cpb.Metric) -> str:
    return f"{metric.ai.temperature:g}" if metric.ai.HasField("temperature") else "—"


def _params(metric: cpb.Metric) -> str:
    return json.dumps(struct_to_dict(metric.heuristic.params), indent=2, sort_keys=True)


# (label, how a version shows the field): short fields, shown before → after ...
_SHORT = (
    ("Name", lambda m: m.name),
    ("Description", lambda m: m.description or "—"),
    ("Passing threshold", _threshold),
    ("Expected label field", lambda m: m.expected_label_field or "—"),
    ("Heuristic kind", lambda m: m.heuristic.kind or "—"),
    ("Model", lambda m: m.ai.model or "—"),
    ("Temperature", _temperature),
    ("Built-in template", lambda m: m.ai.template or "—"),
)
# ... and long texts, shown as the lines that differ.
_LONG = (
    ("Guidelines", lambda m: m.guidelines),
    ("Prompt template", lambda m: m.ai.prompt_template),
    ("Params", _params),
)


def changes(before: cpb.Metric, after: cpb.Metric) -> list[FieldChange]:
    """Each field of the definition that differs from ``before`` to ``after``, in the form's order."""
    found = [FieldChange(label, old, new) for label, show in _SHORT if (old := show(before)) != (new := show(after))]
    for label, show in _LONG:
        old, new = show(before), show(after)
        if old != new:
            found.append(FieldChange(label, lines=text_diff.lines(old, new)))
    return found
