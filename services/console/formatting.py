"""Jinja filters: how numbers, times, statuses and JSON read on the pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import struct_pb2
from google.protobuf.message import Message
from markupsafe import Markup, escape

from scorekeeper_sdk.tracing import step_time
from shared.edge.convert import struct_to_dict, value_to_python

SOURCE_LABELS = {
    "api": "API",
    "kickoff": "Kickoff",
    "playground": "Playground",
    "monitor": "Monitor",
    "ci": "CI",
    "schedule": "Schedule",
}


def plain(value: Any) -> Any:
    """A Struct / Value / message field as plain Python."""
    if isinstance(value, struct_pb2.Struct):
        return struct_to_dict(value)
    if isinstance(value, struct_pb2.Value):
        return value_to_python(value)
    if isinstance(value, Message):
        raise TypeError(f"no plain form for {type(value).__name__}")
    return value


def pretty_json(value: Any) -> str:
    return json.dumps(plain(value), indent=2, ensure_ascii=False, sort_keys=False)


def brief(value: Any, limit: int = 120) -> str:
    """One line for a table cell: a lone field's value as text, else compact JSON."""
    data = plain(value)
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | int | None, digits: int = 2, *, trim: bool = False) -> str:
    """Thousands separated, ``digits`` decimals; ``trim``: only those it needs (a setting: 12.5, not 12.5000)."""
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if trim else text


def usd(value: float | None) -> str:
    if not value:
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def duration(seconds: float | None) -> str:
    if not seconds:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def latency(ms: float | None) -> str:
    """A call's or record's latency as its steps' times are said ("0.35 ms", "2.5 ms", "120 ms",
    "12.4 s"); none: "—"."""
    return step_time(ms) if ms else "—"


def until_reviewers(run: Any) -> float | None:
    """Seconds from a run's creation to its wait for reviewers (executed and machine-scored), when
    it waited for them (GetRun's transitions), so its duration is not read as the machines' time."""
    for transition in run.transitions:
        if transition.status == "awaiting_human_scoring":
            try:
                start = datetime.fromisoformat(run.created_at.replace("Z", "+00:00"))
                reached = datetime.fromisoformat(transition.at.replace("Z", "+00:00"))
            except ValueError:
                return None
            return (reached - start).total_seconds()
    return None


def when(iso: str, zone: str = "UTC") -> str:
    """'2025-03-01 14:05' in UTC, or in the IANA time zone given (the title attribute keeps the
    exact time)."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC).strftime("%Y-%m-%d %H:%M")


def when_exact(iso: str) -> str:
    """'14:05:07.412' (UTC) for a run's timeline, where seconds matter."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def status_label(status: str) -> str:
    return status.replace("_", " ")


def short(identifier: str) -> str:
    return identifier[:8]


def summary_value(metric: Any) -> str:
    """A run's result on one metric: pass rate for booleans, mean otherwise."""
    if metric.output_type == "boolean":
        return percent(metric.pass_rate) if metric.HasField("pass_rate") else "—"
    return number(metric.mean) if metric.HasField("mean") else "—"


def score_value(score: Any) -> str:
    """One score's value as a reader expects it: pass / fail for booleans, the number otherwise."""
    if score.status != "completed":
        return str(score.status)
    value = value_to_python(score.value)
    if isinstance(value, bool):
        return "pass" if value else "fail"
    return number(value)


def compared_value(value: float | None, output_type: str, *, mean: bool = False) -> str:
    """A value in a comparison: for a boolean metric a testcase's pass / fail (a share of its
    trials passed when they differ) and a run's pass rate; the number otherwise."""
    if value is None:
        return "—"
    if output_type != "boolean":
        return number(value, 3)
    if not mean and value in (0, 1):
        return "pass" if value else "fail"
    return percent(value)


def testcase_skeleton(testset: Any) -> str:
    """A new testcase to fill in: the testset's input and expected fields, empty."""
    fields = [*testset.field_mapping.inputs, *testset.field_mapping.expected]
    return json.dumps(dict.fromkeys(fields, ""), ensure_ascii=False)


def subset_label(subset: Any, runs_url: str = "") -> Markup:
    """How a run chose part of its testset, in a few words ("12 of 240 testcases: category=math,
    a sample of 12 (draw 0)"); "" for a run of every testcase. With ``runs_url`` (a project's
    /runs), the run whose testcases it ran again is a link to it. Every value is escaped."""
    chosen = plain(subset)
    if not chosen:
        return Markup("")
    how: list[Markup] = []
    if chosen.get("testcase_ids"):
        how.append(escape(f"{int(chosen['testcase_ids'])} named"))
    if chosen.get("same_as_run"):
        gone = int(chosen.get("left_out", 0))
        left_out = f" ({gone} no longer in the testset)" if gone else ""
        run_id = str(chosen["same_as_run"])
        named = escape(run_id[:8])
        if runs_url:
            named = Markup('<a href="{}/{}" class="mono">{}</a>').format(runs_url, run_id, run_id[:8])
        how.append(Markup("those of run {}{}").format(named, left_out))
    for key, values in (chosen.get("metadata_filter") or {}).items():
        shown = values if isinstance(values, list) else [values]
        typed = (int(v) if isinstance(v, float) and v.is_integer() else v for v in shown)
        how.append(escape(f"{key}={' or '.join(v if isinstance(v, str) else json.dumps(v) for v in typed)}"))
    if chosen.get("sample"):
        how.append(escape(f"a sample of {int(chosen['sample'])} (draw {int(chosen.get('sample_seed', 0))})"))
    return Markup("{} of {} testcases: ").format(int(chosen["testcases"]), int(chosen["of"])) + Markup(", ").join(how)


FILTERS = {
    "pretty_json": pretty_json,
    "brief": brief,
    "percent": percent,
    "number": number,
    "usd": usd,
    "duration": duration,
    "latency": latency,
    "step_time": step_time,
    "when": when,
    "when_exact": when_exact,
    "status_label": status_label,
    "short": short,
    "summary_value": summary_value,
    "score_value": score_value,
    "compared_value": compared_value,
    "until_reviewers": until_reviewers,
    "testcase_skeleton": testcase_skeleton,
    "plain": plain,
    "subset_label": subset_label,
}
