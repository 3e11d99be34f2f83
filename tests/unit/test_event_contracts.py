"""Contract tests: one hand-written example payload per event, which every consumer must accept.

The payloads live in ``tests/unit/contracts/<topic>.json``; a change to an event model that breaks
them breaks consumers still running the previous version.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    ChunkRequested,
    Event,
    RecordProduced,
    RunCreated,
    ScoreCompleted,
    ScoreRequested,
)
from shared.topics import Topic

CONTRACTS = Path(__file__).parent / "contracts"
EVENTS: list[type[Event]] = [RunCreated, ChunkRequested, RecordProduced, ScoreRequested, ScoreCompleted]
ENVELOPE = ("event_id", "type", "schema_version", "occurred_at", "correlation_id")


def example(event: type[Event]) -> dict[str, Any]:
    payload = json.loads((CONTRACTS / f"{event.topic.value}.json").read_text())
    assert isinstance(payload, dict)
    return payload


def by_name(events: list[type[Event]]) -> list[Any]:
    return [pytest.param(e, id=e.__name__) for e in events]


def test_every_event_has_a_contract() -> None:
    assert {e.__name__ for e in Event.__subclasses__()} == {e.__name__ for e in EVENTS}
    assert {e.topic for e in EVENTS} == set(Topic)
    assert sorted(p.name for p in CONTRACTS.glob("*.json")) == sorted(f"{t.value}.json" for t in Topic)


@pytest.mark.parametrize("event", by_name(EVENTS))
def test_example_carries_the_envelope(event: type[Event]) -> None:
    payload = example(event)
    assert all(field in payload for field in ENVELOPE)
    assert payload["type"] == event.topic.value


@pytest.mark.parametrize("event", by_name(EVENTS))
def test_example_validates_field_by_field(event: type[Event]) -> None:
    payload = example(event)
    model = event.model_validate(payload)
    dumped = model.model_dump(mode="json")
    assert set(dumped) == set(payload)
    for field, value in payload.items():
        if field == "occurred_at":
            assert model.occurred_at == datetime.fromisoformat(value)
            assert model.occurred_at.utcoffset() is not None
        else:
            assert dumped[field] == value, field


def test_record_produced_values() -> None:
    record = RecordProduced.model_validate(example(RecordProduced))
    assert record == RecordProduced(
        event_id=uuid.UUID("c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"),
        schema_version=1,
        occurred_at=datetime(2025, 11, 26, 8, 34, 13, 1000, tzinfo=UTC),
        correlation_id="req-7f3a9c",
        run_id=uuid.UUID("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827"),
        testcase_id=uuid.UUID("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"),
        trial=0,
        inputs={"question": "What is the capital of France?"},
        expected={"answer": "Paris"},
        metadata={"source": "geography-quiz"},
        outputs={"response": "Paris"},
        status="completed",
        error="",
        latency_ms=87.5,
        prompt_tokens=42,
        completion_tokens=3,
        cost_usd=0.000024,
    )


def test_record_produced_from_an_older_producer() -> None:
    # Producers from before metadata / usage / cost existed are still understood: unknown cost.
    payload = example(RecordProduced)
    for field in ("metadata", "prompt_tokens", "completion_tokens", "cost_usd"):
        del payload[field]
    record = RecordProduced.model_validate(payload)
    assert (record.metadata, record.prompt_tokens, record.completion_tokens, record.cost_usd) == ({}, 0, 0, None)


@pytest.mark.parametrize("event", by_name(EVENTS))
def test_round_trip(event: type[Event]) -> None:
    model = event.model_validate(example(event))
    again = event.model_validate_json(model.model_dump_json())
    assert again == model
    assert again.model_dump_json() == model.model_dump_json()


@pytest.mark.parametrize("event", by_name(EVENTS))
def test_unknown_fields_are_ignored(event: type[Event]) -> None:
    # A newer producer may add fields; an older consumer must still accept the event.
    payload = example(event) | {"tenant": "acme", "priority": 3, "trace": {"span_id": "ab12"}}
    model = event.model_validate(payload)
    assert model == event.model_validate(example(event))
    assert "tenant" not in model.model_dump()
    assert event.model_validate_json(json.dumps(payload)) == model


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param(RunCreated, "run_id", id="RunCreated-run_id"),
        pytest.param(RunCreated, "project_id", id="RunCreated-project_id"),
        pytest.param(ChunkRequested, "run_id", id="ChunkRequested-run_id"),
        pytest.param(ChunkRequested, "chunk", id="ChunkRequested-chunk"),
        pytest.param(ChunkRequested, "first_position", id="ChunkRequested-first_position"),
        pytest.param(ChunkRequested, "last_position", id="ChunkRequested-last_position"),
        pytest.param(RecordProduced, "run_id", id="RecordProduced-run_id"),
        pytest.param(RecordProduced, "testcase_id", id="RecordProduced-testcase_id"),
        pytest.param(RecordProduced, "trial", id="RecordProduced-trial"),
        pytest.param(RecordProduced, "status", id="RecordProduced-status"),
        pytest.param(ScoreRequested, "record_id", id="ScoreRequested-record_id"),
        pytest.param(ScoreRequested, "metric_version_id", id="ScoreRequested-metric_version_id"),
        pytest.param(ScoreCompleted, "score_id", id="ScoreCompleted-score_id"),
        pytest.param(ScoreCompleted, "status", id="ScoreCompleted-status"),
    ],
)
def test_missing_required_field_is_rejected(event: type[Event], field: str) -> None:
    payload = example(event)
    del payload[field]
    with pytest.raises(ValidationError) as caught:
        event.model_validate(payload)
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [((field,), "missing")]


@pytest.mark.parametrize(
    ("event", "change", "loc", "error_type"),
    [
        pytest.param(RecordProduced, {"trial": -1}, ("trial",), "greater_than_equal", id="trial-negative"),
        pytest.param(RecordProduced, {"status": "bogus"}, ("status",), "literal_error", id="record-status-bogus"),
        pytest.param(RecordProduced, {"status": "pending"}, ("status",), "literal_error", id="record-status-pending"),
        pytest.param(
            RecordProduced, {"latency_ms": -0.5}, ("latency_ms",), "greater_than_equal", id="latency-negative"
        ),
        pytest.param(RecordProduced, {"cost_usd": -0.01}, ("cost_usd",), "greater_than_equal", id="cost-negative"),
        pytest.param(
            RecordProduced, {"prompt_tokens": -1}, ("prompt_tokens",), "greater_than_equal", id="tokens-negative"
        ),
        pytest.param(ScoreCompleted, {"status": "bogus"}, ("status",), "literal_error", id="score-status-bogus"),
        pytest.param(RunCreated, {"run_id": "not-a-uuid"}, ("run_id",), "uuid_parsing", id="bad-uuid"),
        pytest.param(ScoreRequested, {"type": "score.completed"}, ("type",), "literal_error", id="wrong-type"),
        pytest.param(
            RunCreated, {"occurred_at": "yesterday"}, ("occurred_at",), "datetime_from_date_parsing", id="bad-timestamp"
        ),
    ],
)
def test_invalid_value_is_rejected(
    event: type[Event], change: dict[str, Any], loc: tuple[str, ...], error_type: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        event.model_validate(example(event) | change)
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(loc, error_type)]


@pytest.mark.parametrize("status", ["completed", "errored"])
def test_record_and_score_statuses(status: str) -> None:
    assert RecordProduced.model_validate(example(RecordProduced) | {"status": status}).status == status
    assert ScoreCompleted.model_validate(example(ScoreCompleted) | {"status": status}).status == status


def test_a_score_batch_begins_with_its_record_and_carries_no_verdict() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    base = example(ScoreRequested) | {"record_id": str(first)}
    batch = ScoreRequested.model_validate(base | {"record_ids": [str(first), str(second)]})
    assert batch.record_ids == [first, second]
    for change in (
        {"record_ids": [str(second), str(first)]},
        {"record_ids": [str(first)], "human": {"value": True, "reviewer": "r"}},
    ):
        with pytest.raises(ValidationError, match="a batch's record_ids begin with record_id"):
            ScoreRequested.model_validate(base | change)
    with pytest.raises(ValidationError, match="at most 1000 items"):
        ScoreRequested.model_validate(base | {"record_ids": [str(first)] * 1001})


def test_envelope_defaults_when_a_producer_omits_them() -> None:
    payload = {k: v for k, v in example(RunCreated).items() if k not in ENVELOPE}
    before = datetime.now(UTC)
    event = RunCreated.model_validate(payload)
    assert event.type == "run.created"
    assert event.schema_version == 1
    assert event.correlation_id == ""
    assert event.event_id.version == 4
    assert before <= event.occurred_at <= datetime.now(UTC)
