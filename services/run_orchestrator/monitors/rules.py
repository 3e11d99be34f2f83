"""What a monitor is and does, as pure functions: its definition checked (ValueError names the
field), which calls it samples, when its window closes, and whether a window's run alerts."""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.run_orchestrator.monitors import slices
from services.run_orchestrator.runs.results import MetricResult, Threshold, measured
from services.run_orchestrator.webhooks.rules import FORMATS
from shared.outbound.urls import check_webhook_url
from shared.run_status import RunStatus

MAX_CALLS_PER_REQUEST = 1000
MAX_FILTER_KEYS = 20
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_MUTE_MINUTES = 7 * 24 * 60
MAX_WINDOW_CALLS = 100_000
MAX_ID_TEXT = 200
# Verdicts of users' feedback a window needs for a feedback threshold to judge it (unless set).
DEFAULT_MIN_FEEDBACK = 10
MAX_MIN_FEEDBACK = 10_000
# The longest latency a threshold may name: a day.
MAX_LATENCY_MS = 86_400_000
# Sampling resolution: a rate is a whole number of millionths (0.0001%).
_BUCKETS = 1_000_000


def sample_bucket(call_id: uuid.UUID) -> int:
    """Where a call falls in 0 .. 999,999: the first 8 bytes of SHA-256 of the call id's 16 bytes,
    big-endian, modulo 1,000,000. Every monitor (and every replay) agrees on it."""
    return int.from_bytes(hashlib.sha256(call_id.bytes).digest()[:8], "big") % _BUCKETS


def sampled(call_id: uuid.UUID, rate_percent: float) -> bool:
    """Whether a monitor sampling ``rate_percent`` % takes the call."""
    return sample_bucket(call_id) < round(rate_percent * _BUCKETS / 100)


def _same(a: Any, b: Any) -> bool:
    """JSON equality (True is not 1, 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def matches(metadata: dict[str, Any], metadata_filter: dict[str, Any]) -> bool:
    """The call's metadata holds every key of the filter with exactly its value."""
    return all(key in metadata and _same(metadata[key], value) for key, value in metadata_filter.items())


@dataclass(frozen=True)
class MonitorDefinition:
    """What CreateMonitor asks for (the metrics are resolved by the catalog)."""

    name: str
    sample_rate: float
    metadata_filter: dict[str, Any]
    window_minutes: int
    window_calls: int
    alert_url: str
    thresholds: tuple[Threshold, ...]
    # json: the whole document; slack: its text alone.
    alert_format: str = "json"
    # Also POST the first window at or above every threshold after one below.
    alert_recovery: bool = False
    # Also fire when more than this share of a window's calls errored (None: no such threshold).
    alert_max_error_rate: float | None = None
    # Also fire on the users' feedback given during a window (metrics of eval type human or code).
    feedback_thresholds: tuple[Threshold, ...] = ()
    # A feedback threshold judges a window only with at least this many verdicts given in it.
    min_feedback: int = DEFAULT_MIN_FEEDBACK
    # Also fire when the 95th percentile of a window's call latencies is above this (ms; None: never).
    alert_max_latency_ms: float | None = None
    # Also judge the thresholds (and max_error_rate) within each value of these record fields
    # (metadata.lang), a slice with at least min_slice_calls scored calls of the metric (calls).
    slice_fields: tuple[str, ...] = ()
    min_slice_calls: int = slices.DEFAULT_MIN_SLICE_CALLS


def validate_monitor(d: MonitorDefinition) -> MonitorDefinition:
    """The definition checked; the name stripped."""
    name = d.name.strip()
    if not name:
        raise ValueError("name must not be empty")
    if len(name) > 200:
        raise ValueError("name must be at most 200 characters")
    if not math.isfinite(d.sample_rate) or not 0 < d.sample_rate <= 100:
        raise ValueError(f"sample_rate must be a percentage more than 0 and at most 100, got {d.sample_rate:g}")
    if round(d.sample_rate * _BUCKETS / 100) == 0:
        raise ValueError(f"sample_rate {d.sample_rate:g} is below the resolution of 0.0001%")
    if len(d.metadata_filter) > MAX_FILTER_KEYS:
        raise ValueError(f"metadata_filter may hold at most {MAX_FILTER_KEYS} keys, got {len(d.metadata_filter)}")
    if (d.window_minutes > 0) == (d.window_calls > 0):
        raise ValueError("give exactly one of window_minutes and window_calls (a positive number)")
    if d.window_minutes < 0 or d.window_minutes > MAX_WINDOW_MINUTES:
        raise ValueError(f"window_minutes must be within 1..{MAX_WINDOW_MINUTES:,}, got {d.window_minutes}")
    if d.window_calls < 0 or d.window_calls > MAX_WINDOW_CALLS:
        raise ValueError(f"window_calls must be within 1..{MAX_WINDOW_CALLS:,}, got {d.window_calls}")
    if d.thresholds and not d.alert_url:
        raise ValueError("alert.thresholds need an alert.webhook_url")
    if d.feedback_thresholds and not d.alert_url:
        raise ValueError("alert.feedback_thresholds need an alert.webhook_url")
    if d.alert_max_latency_ms is not None:
        if not d.alert_url:
            raise ValueError("alert.max_latency_ms needs an alert.webhook_url")
        if not math.isfinite(d.alert_max_latency_ms) or not 0 < d.alert_max_latency_ms <= MAX_LATENCY_MS:
            raise ValueError(
                f"alert.max_latency_ms must be a number of milliseconds above 0 and at most {MAX_LATENCY_MS:,},"
                f" got {d.alert_max_latency_ms:g}"
            )
    if not 1 <= d.min_feedback <= MAX_MIN_FEEDBACK:
        raise ValueError(f"alert.min_feedback must be within 1..{MAX_MIN_FEEDBACK:,} (0: 10), got {d.min_feedback:,}")
    if d.alert_max_error_rate is not None and not d.alert_url:
        raise ValueError("alert.max_error_rate needs an alert.webhook_url")
    if d.alert_max_error_rate is not None and not 0 <= d.alert_max_error_rate < 1:
        raise ValueError(
            f"alert.max_error_rate must be a share of the calls, 0 to below 1, got {d.alert_max_error_rate:g}"
        )
    if d.alert_url:
        check_webhook_url(d.alert_url, "alert.webhook_url")
        if not (d.thresholds or d.feedback_thresholds) and d.alert_max_error_rate is d.alert_max_latency_ms is None:
            raise ValueError(
                "alert.webhook_url needs at least one alert.thresholds or alert.feedback_thresholds entry,"
                " alert.max_error_rate or alert.max_latency_ms"
            )
    if d.alert_recovery and not d.alert_url:
        raise ValueError("alert.notify_recovery needs an alert.webhook_url")
    if d.alert_format not in FORMATS:
        raise ValueError(f"alert.format must be one of {', '.join(FORMATS)}, got {d.alert_format!r}")
    for field, thresholds in (("thresholds", d.thresholds), ("feedback_thresholds", d.feedback_thresholds)):
        seen: set[uuid.UUID] = set()
        for i, t in enumerate(thresholds):
            if not math.isfinite(t.below):
                raise ValueError(f"alert.{field}[{i}].below must be a number, got {t.below}")
            if t.metric_id in seen:
                raise ValueError(f"alert.{field}[{i}] repeats metric {t.metric_id}")
            seen.add(t.metric_id)
    limits = (d.alert_max_error_rate, d.alert_max_latency_ms)
    judged = bool(d.thresholds or d.feedback_thresholds) or any(x is not None for x in limits)
    slice_fields = slices.checked_fields(d.slice_fields, d.min_slice_calls, judged)
    return replace(d, name=name, slice_fields=slice_fields)


def scorable_without_expected(reading_expected: list[str]) -> None:
    """A logged call carries no expected values: a metric that compares with them could never pass
    one (a heuristic) or would judge against nothing (an AI judge). ``reading_expected``: the names
    of the monitor's metrics that do."""
    if reading_expected:
        names = ", ".join(repr(n) for n in reading_expected)
        metric, compares = ("metric", "compares") if len(reading_expected) == 1 else ("metrics", "compare")
        raise ValueError(
            f"{metric} {names} {compares} the output with expected values, which logged calls do not carry:"
            " a monitor scores with metrics that judge a call by its inputs and output alone"
        )


# -- windows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowShape:
    """When a monitor's open window closes."""

    minutes: int  # 0 for a window of sampled calls
    calls: int  # 0 for a window of minutes
    max_calls: int  # a window of minutes closes early when it holds this many

    def end(self, started_at: datetime) -> datetime | None:
        """The end of a window of minutes (calls logged before it belong to it); None for calls."""
        return started_at + timedelta(minutes=self.minutes) if self.minutes else None

    def size(self) -> int:
        """The most calls one window takes."""
        return self.calls or self.max_calls


def due(shape: WindowShape, started_at: datetime, now: datetime, pending: int, grace: timedelta) -> bool:
    """Whether the open window closes now: a full window of calls; a window of minutes once its end
    (plus a grace for calls still committing) has passed, or once it holds its largest size."""
    if shape.calls:
        return pending >= shape.calls
    end = shape.end(started_at)
    assert end is not None
    return pending >= shape.max_calls or now >= end + grace


def next_start(shape: WindowShape, started_at: datetime, now: datetime, full: bool) -> datetime:
    """The start of the window after the one closing now. A window of calls starts when the last one
    closed; a window of minutes at the end of the last one, or (after an idle stretch) at the end
    that lies within the current period, so no run of empty windows is closed one by one. A window
    of minutes closed early because it was full starts its successor at ``now``."""
    if shape.calls or full:
        return now
    end = shape.end(started_at)
    assert end is not None
    period = timedelta(minutes=shape.minutes)
    if now < end + period:
        return end
    skipped = (now - end) // period
    return end + skipped * period


# -- alerts -------------------------------------------------------------------------------------


# A window's alert is decided on its run's scores once the run is completed, or waits only for
# reviewers (alert thresholds are of ai and heuristic metrics); a failed or cancelled run's is skipped.
DECIDABLE = frozenset({RunStatus.COMPLETED, RunStatus.AWAITING_HUMAN_SCORING})

# The alert states whose window POSTs a document (the system-executor delivers it).
POSTED = ("below", "recovered")


def error_share(errored: int, calls: int, max_rate: float | None) -> dict[str, Any] | None:
    """The window's errored calls against the alert's max_error_rate, as the webhook tells them
    (``errors``); None without such a threshold."""
    if max_rate is None:
        return None
    rate = errored / calls if calls else 0.0
    return {"errored": errored, "calls": calls, "rate": rate, "above": max_rate}


def too_many_errors(errors: dict[str, Any] | None) -> bool:
    return errors is not None and errors["rate"] > errors["above"]


def latency_share(p95_ms: float | None, max_ms: float | None) -> dict[str, Any] | None:
    """The window's 95th percentile latency against the alert's max_latency_ms, as the webhook tells
    it (``latency``); None without such a threshold or when no call had a latency."""
    if max_ms is None or p95_ms is None:
        return None
    return {"p95_ms": p95_ms, "above": max_ms}


def too_slow(latency: dict[str, Any] | None) -> bool:
    return latency is not None and latency["p95_ms"] > latency["above"]


def alert_state(
    below: list[dict[str, Any]],
    notify_recovery: bool,
    previous: str | None,
    muted: bool = False,
    errors: dict[str, Any] | None = None,
    latency: dict[str, Any] | None = None,
) -> str:
    """A finished window's alert: below when a metric is below its threshold, more of its calls
    errored than ``errors`` allows or they were slower than ``latency`` allows; recovered when none
    of these, the monitor tells of recoveries and the last window whose decision was told
    (``previous``) was below; else ok. Below or recovered while the alerts are ``muted``: muted
    (nothing told)."""
    failing = bool(below) or too_many_errors(errors) or too_slow(latency)
    state = "below" if failing else "recovered" if notify_recovery and previous == "below" else "ok"
    return "muted" if muted and state in POSTED else state


def stored_thresholds(stored: list[dict[str, Any]]) -> tuple[Threshold, ...]:
    """A monitor's thresholds as its row keeps them (jsonb: metric_id, below)."""
    return tuple(Threshold(uuid.UUID(t["metric_id"]), float(t["below"])) for t in stored)


def stored(thresholds: tuple[Threshold, ...]) -> list[dict[str, Any]]:
    """Thresholds as a monitor's row keeps them."""
    return [{"metric_id": str(t.metric_id), "below": t.below} for t in thresholds]


def feedback_measured(
    results: list[MetricResult], thresholds: tuple[Threshold, ...], min_feedback: int
) -> list[dict[str, Any]]:
    """Each feedback threshold's metric with at least ``min_feedback`` verdicts given in the window
    (``results``: the verdicts' result per metric), as an alert lists it: ``source`` feedback,
    ``given`` the verdicts; a metric with fewer is not judged (left out)."""
    judged = [r for r in results if r.scored >= min_feedback]
    return [{**m, "source": "feedback", "given": m["scored"]} for m in measured(judged, thresholds)]


def check_mute(minutes: int, alert_url: str) -> int:
    """UpdateMonitor's mute_alert_minutes: 0 (unmute) or 1..10,080, of a monitor with an alert."""
    if not 0 <= minutes <= MAX_MUTE_MINUTES:
        raise ValueError(f"mute_alert_minutes must be within 1..{MAX_MUTE_MINUTES:,} (0 unmutes), got {minutes:,}")
    if minutes and not alert_url:
        raise ValueError("mute_alert_minutes: the monitor has no alert to mute")
    return minutes


def _measures(metrics: list[dict[str, Any]], relation: str) -> str:
    """The metrics' values against their thresholds, as in: polite 50.0% passed, below 80.0% · on
    topic mean 0.61, below 0.7 (``relation``: below, at or above) · tone: no call scored."""
    parts = []
    for m in metrics:
        # Users' feedback: "thumbs (users' feedback, 40 given) 62.5% passed, below 80.0%".
        name = f"{m['name']} (users' feedback, {m['given']:,} given)" if m.get("source") == "feedback" else m["name"]
        if m["value"] is None:
            parts.append(f"{name}: no call scored")
        elif m["measure"] == "pass_rate":
            parts.append(f"{name} {m['value'] * 100:.1f}% passed, {relation} {m['below'] * 100:.1f}%")
        else:
            parts.append(f"{name} mean {m['value']:.3g}, {relation} {m['below']:.3g}")
    return " · ".join(parts)


def _errors_said(errors: dict[str, Any] | None, relation: str) -> list[str]:
    """ "3 of 10 calls errored (30.0%, above 20.0%)"; a slice's "… calls where metadata.region=eu errored …"."""
    if errors is None:
        return []
    where = f" where {errors['field']}={errors['field_value']}" if "field" in errors else ""
    share = f"{errors['errored']:,} of {errors['calls']:,} calls{where} errored ({errors['rate'] * 100:.1f}%"
    return [f"{share}, {relation} {errors['above'] * 100:.1f}%)"]


def _more_slices(rest: int, what: str) -> str:
    """ " · and 2 more slices below" for the slices an alert's text does not name."""
    return f" · and {rest:,} more slice{'s' if rest != 1 else ''} {what}" if rest else ""


def _latency_said(latency: dict[str, Any] | None, relation: str) -> list[str]:
    """ "p95 latency 2,300 ms, above 1,500 ms"; a slice's "… ms where metadata.region=eu (40 calls), …"."""
    if latency is None:
        return []
    where = (
        f" where {latency['field']}={latency['field_value']} ({latency['calls']:,} calls)" if "field" in latency else ""
    )
    return [f"p95 latency {latency['p95_ms']:,.0f} ms{where}, {relation} {latency['above']:,.0f} ms"]


def alert_text(
    monitor: str,
    window: int,
    calls: int,
    below: list[dict[str, Any]],
    url: str,
    errors: dict[str, Any] | None = None,
    errored: int = 0,
    latency: dict[str, Any] | None = None,
    slices_below: list[dict[str, Any]] | None = None,
    more_slices: int = 0,
    erring_slices: list[dict[str, Any]] | None = None,
    slow_slices: list[dict[str, Any]] | None = None,
) -> str:
    """An alert in a sentence, for a chat channel: "Monitor 'checkout' window 12 (100 calls): polite
    50.0% passed, below 80.0% · on topic mean 0.61, below 0.7 — <run URL>" (and "· 12 of 100 calls
    errored (12.0%, above 5.0%)" when too many errored, "· p95 latency 2,300 ms, above 1,500 ms"
    when too slow; "polite: no call scored (10 of 10 calls errored)" when a metric scored nothing,
    and its calls errored; "· polite where metadata.lang=fr (30 scored) 40.0% passed, below 80.0%"
    for the first of ``slices_below``, worst first, "· and 2 more slices below" for the rest and
    ``more_slices``, those not listed; "· 12 of 30 calls where metadata.region=eu errored (40.0%,
    above 5.0%)" for the first of ``erring_slices``, "· and 1 more slice erring" for the rest; "· p95
    latency 2,300 ms where metadata.region=eu (40 calls), above 1,500 ms" for the first of
    ``slow_slices``, "· and 1 more slice too slow" for the rest)."""
    fired = errors if too_many_errors(errors) else None
    slow = _latency_said(latency if too_slow(latency) else None, "above")
    said = " · ".join(x for x in [_measures(below, "below"), *_errors_said(fired, "above"), *slow] if x)
    if errored and fired is None and any(m["value"] is None for m in below):
        said += f" ({errored:,} of {calls:,} calls errored)"
    if slices_below:
        told = slices.named(slices_below)
        rest = len(slices_below) + more_slices - len(told)
        said = " · ".join(x for x in [said, _measures(told, "below")] if x) + _more_slices(rest, "below")
    if erring_slices:
        erring = [x for e in erring_slices[: slices.SLICES_SAID] for x in _errors_said(e, "above")]
        rest = len(erring_slices) - len(erring)
        said = " · ".join(x for x in [said, *erring] if x) + _more_slices(rest, "erring")
    if slow_slices:
        slower = [x for e in slow_slices[: slices.SLICES_SAID] for x in _latency_said(e, "above")]
        rest = len(slow_slices) - len(slower)
        said = " · ".join(x for x in [said, *slower] if x) + _more_slices(rest, "too slow")
    return f"Monitor {monitor!r} window {window} ({calls:,} calls): {said} — {url}"


def test_alert_document(
    alert_id: uuid.UUID, project_id: uuid.UUID, monitor_id: uuid.UUID, name: str, console_url: str
) -> dict[str, Any]:
    """What a test alert POSTs (its text alone for a Slack receiver)."""
    url = f"{console_url}/projects/{project_id}/monitors/{monitor_id}"
    return {
        "type": "monitor.test",
        "alert_id": str(alert_id),
        "project_id": str(project_id),
        "monitor": {"id": str(monitor_id), "name": name},
        "text": f"Scorekeeper test alert of the monitor {name!r}: its alerts reach you — {url}",
    }


def recovered_text(
    monitor: str,
    window: int,
    calls: int,
    metrics: list[dict[str, Any]],
    url: str,
    errors: dict[str, Any] | None = None,
    errored: int = 0,
    latency: dict[str, Any] | None = None,
) -> str:
    """A recovery in a sentence: "Monitor 'checkout' window 13 (100 calls) recovered: polite 90.0%
    passed, at or above 80.0% — <run URL>" (and "· 0 of 100 calls errored (0.0%, at most 5.0%)",
    "· p95 latency 800 ms, at most 1,500 ms")."""
    parts = [_measures(metrics, "at or above"), *_errors_said(errors, "at most"), *_latency_said(latency, "at most")]
    said = " · ".join(x for x in parts if x)
    return f"Monitor {monitor!r} window {window} ({calls:,} calls) recovered: {said} — {url}"
