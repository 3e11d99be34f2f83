"""Events on the bus: pydantic models sharing one envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.topics import Topic


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Envelope fields every event carries; subclasses add the payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    topic: ClassVar[Topic]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=_now)
    correlation_id: str = ""

    @classmethod
    def parse(cls, body: bytes) -> Self:
        """The event from its bytes on the bus; an event of a new schema version also reads the
        previous version's bytes, so that consumers keep working during a rollout."""
        return cls.model_validate_json(body)


_DOCUMENT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def _schema_version(body: bytes) -> tuple[int, dict[str, Any]]:
    """The event's schema version and its JSON object; bytes that are not one raise the
    ValidationError a model would (``<root>: Invalid JSON …``)."""
    document = _DOCUMENT.validate_json(body)
    version = document.get("schema_version", 1)
    return (version if isinstance(version, int) else 0), document


class RunCreated(Event):
    """Execute a run: every testcase × trial of it, or with ``retry`` > 0 (the run's retry of that
    number) only those whose record a retry set pending again."""

    topic: ClassVar[Topic] = Topic.RUN_CREATED
    type: Literal["run.created"] = "run.created"
    run_id: uuid.UUID
    project_id: uuid.UUID
    retry: int = Field(default=0, ge=0)


class ChunkRequested(Event):
    """Execute one chunk of a run: the testcases of the run's pinned testset version whose
    positions lie in ``[first_position, last_position]``, every trial of each.

    The event id is derived from (run, retry, chunk), so planning the same run twice publishes the
    same chunks again (a broker that deduplicates drops them; the executor skips what is recorded).
    A chunk of a retry (``retry`` > 0) spans only testcases whose records wait for it.
    """

    topic: ClassVar[Topic] = Topic.CHUNK_REQUESTED
    type: Literal["chunk.requested"] = "chunk.requested"
    run_id: uuid.UUID
    project_id: uuid.UUID
    chunk: int = Field(ge=0)
    chunks: int = Field(ge=1)
    first_position: int = Field(ge=0)
    last_position: int = Field(ge=0)
    testcases: int = Field(ge=1)
    retry: int = Field(default=0, ge=0)


RecordStatus = Literal["completed", "errored"]

# How many records / score pairs one batched event carries at most.
MAX_BATCH = 1000


class ProducedRecord(BaseModel):
    """One execution of the system on one testcase × trial (from the executor, SDK or a monitor)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    testcase_id: uuid.UUID
    trial: int = Field(ge=0)
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    status: RecordStatus
    error: str = ""
    latency_ms: float = Field(default=0.0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    # None: the system did not report what the call cost.
    cost_usd: float | None = Field(default=None, ge=0)
    # The call's steps, checked (shared.spans); stored with the record (record_spans).
    spans: list[dict[str, Any]] = Field(default_factory=list)


class RecordProduced(Event, ProducedRecord):
    """Schema version 1 of record.produced: one record per event. Still read (see RecordsProduced)."""

    topic: ClassVar[Topic] = Topic.RECORD_PRODUCED
    type: Literal["record.produced"] = "record.produced"
    run_id: uuid.UUID


class RecordsProduced(Event):
    """Schema version 2 of record.produced: a batch of one run's records (a part of a chunk, an
    ingest call), stored in one transaction."""

    topic: ClassVar[Topic] = Topic.RECORD_PRODUCED
    type: Literal["record.produced"] = "record.produced"
    schema_version: Literal[2] = 2
    run_id: uuid.UUID
    records: list[ProducedRecord] = Field(min_length=1, max_length=MAX_BATCH)

    @classmethod
    def parse(cls, body: bytes) -> Self:
        version, document = _schema_version(body)
        if version != 1:
            return cls.model_validate(document)
        one = RecordProduced.model_validate(document)
        return cls(
            event_id=one.event_id,
            occurred_at=one.occurred_at,
            correlation_id=one.correlation_id,
            run_id=one.run_id,
            records=[ProducedRecord.model_validate(one.model_dump(include=set(ProducedRecord.model_fields)))],
        )


class HumanVerdict(BaseModel):
    """A reviewer's score for a human metric, validated by the API that accepted it."""

    model_config = ConfigDict(frozen=True)

    value: bool | int | float
    reviewer: str
    comment: str = ""


class ScoreRequested(Event):
    """Schema version 1 of score.requested: one record × one metric version. Still read (see
    ScoresRequested)."""

    topic: ClassVar[Topic] = Topic.SCORE_REQUESTED
    type: Literal["score.requested"] = "score.requested"
    run_id: uuid.UUID
    record_id: uuid.UUID
    metric_version_id: uuid.UUID
    human: HumanVerdict | None = None


class ScoresRequested(Event):
    """Schema version 2 of score.requested: score every listed record of one run with every listed
    metric version. For a human metric, either leave the scores pending (no verdict) or record
    a reviewer's verdict — then for exactly one record and one metric version."""

    topic: ClassVar[Topic] = Topic.SCORE_REQUESTED
    type: Literal["score.requested"] = "score.requested"
    schema_version: Literal[2] = 2
    run_id: uuid.UUID
    record_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BATCH)
    metric_version_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    human: HumanVerdict | None = None

    @classmethod
    def parse(cls, body: bytes) -> Self:
        version, document = _schema_version(body)
        if version != 1:
            event = cls.model_validate(document)
            if event.human is not None and (len(event.record_ids), len(event.metric_version_ids)) != (1, 1):
                raise ValueError("a reviewer's verdict is for one record and one metric version")
            return event
        one = ScoreRequested.model_validate(document)
        return cls(
            event_id=one.event_id,
            occurred_at=one.occurred_at,
            correlation_id=one.correlation_id,
            run_id=one.run_id,
            record_ids=[one.record_id],
            metric_version_ids=[one.metric_version_id],
            human=one.human,
        )

    def pairs(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(record id, metric version id) of every score asked for."""
        return [(record, metric) for record in self.record_ids for metric in self.metric_version_ids]


ScoreStatus = Literal["completed", "errored", "pending"]


class ScoreCompleted(Event):
    """Schema version 1 of score.completed: one score. Still read (see ScoresCompleted)."""

    topic: ClassVar[Topic] = Topic.SCORE_COMPLETED
    type: Literal["score.completed"] = "score.completed"
    run_id: uuid.UUID
    record_id: uuid.UUID
    metric_version_id: uuid.UUID
    score_id: uuid.UUID
    status: ScoreStatus


class ScoresCompleted(Event):
    """Schema version 2 of score.completed: scores of one run were written (how many of each
    outcome); the orchestrator works out the run's progress from its counts."""

    topic: ClassVar[Topic] = Topic.SCORE_COMPLETED
    type: Literal["score.completed"] = "score.completed"
    schema_version: Literal[2] = 2
    run_id: uuid.UUID
    completed: int = Field(default=0, ge=0)
    errored: int = Field(default=0, ge=0)

    @classmethod
    def parse(cls, body: bytes) -> Self:
        version, document = _schema_version(body)
        if version != 1:
            return cls.model_validate(document)
        one = ScoreCompleted.model_validate(document)
        return cls(
            event_id=one.event_id,
            occurred_at=one.occurred_at,
            correlation_id=one.correlation_id,
            run_id=one.run_id,
            completed=int(one.status == "completed"),
            errored=int(one.status == "errored"),
        )


class DeadLetter(BaseModel):
    """What lands on ``<topic>.dlq``: the original bytes and why they can never succeed."""

    model_config = ConfigDict(frozen=True)

    topic: str
    service: str
    error: str
    payload: str
    occurred_at: datetime = Field(default_factory=_now)
