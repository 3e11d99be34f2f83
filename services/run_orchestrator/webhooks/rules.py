"""What a webhook is, as pure functions: its definition checked (ValueError names the field), which
runs it is told of, and the document it is sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.run_orchestrator.catalog.rules import require_name
from services.run_orchestrator.runs.results import MetricResult, Threshold, below_thresholds
from services.run_orchestrator.runs.rules import MAX_RUN_TAGS, check_tags
from shared.edge.convert import timestamp
from shared.outbound.urls import check_webhook_url
from shared.run_status import SOURCES, RunStatus

FORMATS = ("json", "slack")
# The statuses a webhook can be told of: the run finished, or waits for people's scores.
TOLD = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.AWAITING_HUMAN_SCORING)
DEFAULT_STATUSES = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED]
# The status whose runs' metrics a webhook's thresholds judge (a run waiting for reviewers, failed or
# cancelled is told as the webhook's statuses say).
SCORED = (RunStatus.COMPLETED,)
MAX_THRESHOLDS = 20


@dataclass(frozen=True)
class WebhookDefinition:
    name: str
    url: str
    format: str
    statuses: list[str]
    sources: list[str]
    tags: list[str]
    # Told of a finished run only when one of these metrics is below its threshold (empty: always).
    below: tuple[Threshold, ...] = ()


def _listed(values: list[str], allowed: tuple[str, ...], field: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise ValueError(f"{field} must be among {', '.join(allowed)}, got {value!r}")
    return list(dict.fromkeys(values))


def definition(
    name: str,
    url: str,
    format: str,
    statuses: list[str],
    sources: list[str],
    tags: list[str],
    below: tuple[Threshold, ...] = (),
) -> WebhookDefinition:
    """The webhook as asked for, checked (the thresholds' metrics against the project apart);
    ValueError naming the first field at fault."""
    tags = list(dict.fromkeys(check_tags(tags)))
    if len(tags) > MAX_RUN_TAGS:
        raise ValueError(f"tags: at most {MAX_RUN_TAGS}, got {len(tags)}")
    if len(below) > MAX_THRESHOLDS:
        raise ValueError(f"below: at most {MAX_THRESHOLDS} thresholds, got {len(below)}")
    if len({t.metric_id for t in below}) != len(below):
        raise ValueError("below names a metric twice")
    return WebhookDefinition(
        name=require_name(name),
        url=check_webhook_url(url.strip(), "url"),
        format=_listed([format or "json"], FORMATS, "format")[0],
        statuses=_listed(statuses, tuple(TOLD), "statuses") or [str(s) for s in DEFAULT_STATUSES],
        sources=_listed(sources, SOURCES, "sources"),
        tags=tags,
        below=below,
    )


def thresholds(webhook: Any) -> list[Threshold]:
    """A webhook row's thresholds."""
    return [Threshold(uuid.UUID(t["metric_id"]), float(t["below"])) for t in webhook["below"]]


def below_its_thresholds(
    webhook: Any, status: str, metrics: list[MetricSummary], records: int
) -> list[dict[str, Any]] | None:
    """What a webhook with thresholds is told is below them (None: the run is not told). Without
    thresholds, or for a run not completed: [] (told as its statuses say)."""
    limits = thresholds(webhook)
    if not limits or status not in SCORED:
        return []
    below = below_thresholds(list(metrics), limits, records)
    return below or None


def tells(webhook: dict[str, Any] | Any, status: str, source: str, tags: list[str]) -> bool:
    """Whether a run of ``source`` carrying ``tags`` that moved to ``status`` is told to ``webhook``."""
    return (
        status in webhook["statuses"]
        and (not webhook["sources"] or source in webhook["sources"])
        and (not webhook["tags"] or bool(set(tags) & set(webhook["tags"])))
    )


@dataclass(frozen=True)
class MetricSummary(MetricResult):
    """A metric of a run as the document tells it: its result, and its value in the run compared
    with (see ``compared``)."""

    previous: float | None = None

    @property
    def change(self) -> float | None:
        value = self.value
        return None if value is None or self.previous is None else value - self.previous

    def as_json(self) -> dict[str, Any]:
        return {
            "metric_id": str(self.metric_id),
            "name": self.name,
            "output_type": self.output_type,
            "measure": "pass_rate" if self.output_type == "boolean" else "mean",
            "value": self.value,
            "threshold": self.threshold,
            "scored": self.scored,
            "previous": self.previous,
            "change": self.change,
        }

    def as_text(self) -> str:
        value = self.value
        if value is None:
            return f"{self.name} not scored"
        boolean = self.output_type == "boolean"
        text = f"{self.name} {value:.1%} passed" if boolean else f"{self.name} mean {value:.3g}"
        change = self.change
        if change is None:
            return text
        if abs(change) < 1e-12:
            return f"{text} (no change)"
        moved = f"{change * 100:+.1f} pts" if boolean else f"{change:+.3g}"
        return f"{text} ({moved.replace('-', '−')})"


def compared(metrics: list[MetricSummary], before: list[MetricSummary]) -> list[MetricSummary]:
    """``metrics`` with each one's value in the run compared with (the same metric, any version)."""
    values = {m.metric_id: m.value for m in before}
    return [replace(m, previous=values.get(m.metric_id)) for m in metrics]


def run_document(
    run: Any,
    metrics: list[MetricSummary],
    status: str,
    counts: tuple[int, int],
    console_url: str,
    baseline: uuid.UUID | None = None,
    below: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a webhook is told of a run that moved to ``status`` (all but the delivery's own ids);
    ``baseline``: the run its metrics' changes are against; ``below``: the metrics under the
    webhook's thresholds."""
    run_id, project_id = run["id"], run["project_id"]
    records, errored = counts
    url = f"{console_url}/projects/{project_id}/runs/{run_id}"
    labels = ", ".join([run["source"], *run["tags"]])
    text = f"Run {str(run_id)[:8]} {status.replace('_', ' ')} ({labels}): {records:,} records"
    if errored:
        text += f", {errored:,} errored"
    text += "".join(f" · {m.as_text()}" for m in metrics)
    if baseline is not None and any(m.change is not None for m in metrics):
        text += f" · vs run {str(baseline)[:8]}"
    if run["error"]:
        text += f" · {run['error'][:300]}"
    if below:
        text += " · below: " + ", ".join(_under(m) for m in below)
    text += f" — {url}"
    finished: datetime | None = run["finished_at"]
    return {
        "type": "run.finished",
        "project_id": str(project_id),
        "run": {
            "id": str(run_id),
            "url": url,
            "status": status,
            "source": run["source"],
            "tags": list(run["tags"]),
            "created_by": run["created_by"],
            "schedule_id": str(run["schedule_id"]) if run["schedule_id"] else None,
            "monitor_id": str(run["monitor_id"]) if run["monitor_id"] else None,
            "testset_id": str(run["testset_id"]) if run["testset_id"] else None,
            "testset_version": run["testset_version"] or None,
            "records": records,
            "errored": errored,
            "created_at": timestamp(run["created_at"]),
            "finished_at": timestamp(finished) if finished else None,
            "error": run["error"],
            "notes": run["notes"][:2000],
        },
        "metrics": [m.as_json() for m in metrics],
        "baseline": {"id": str(baseline), "url": f"{console_url}/projects/{project_id}/runs/{baseline}"}
        if baseline is not None
        else None,
        "below": below or [],
        "text": text,
    }


def _under(m: dict[str, Any]) -> str:
    """A metric under a threshold, said: exact 70.0% < 90.0%, quality mean 3.2 < 3.5, tone no score."""
    if m["value"] is None:
        return f"{m['name']} no score"
    if m["measure"] == "pass_rate":
        return f"{m['name']} {m['value']:.1%} < {m['below']:.1%}"
    return f"{m['name']} mean {m['value']:.3g} < {m['below']:.3g}"


def test_document(webhook_id: uuid.UUID, project_id: uuid.UUID, name: str, console_url: str) -> dict[str, Any]:
    url = f"{console_url}/projects/{project_id}/webhooks"
    return {
        "type": "webhook.test",
        "project_id": str(project_id),
        "webhook": {"id": str(webhook_id), "name": name},
        "text": f"Scorekeeper test of the webhook {name!r}: it reaches you — {url}",
    }
