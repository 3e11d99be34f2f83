"""Events on the bus: pydantic models sharing one envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class RunCreated(Event):
    topic: ClassVar[Topic] = Topic.RUN_CREATED
    type: Literal["run.created"] = "run.created"
    run_id: uuid.UUID
    project_id: uuid.UUID


class ChunkRequested(Event):
    """Execute one chunk of a run: the testcases of the run's pinned testset version whose
    positions lie in ``[first_position, last_position]``, every trial of each.

    The event id is derived from (run, chunk), so planning the same run twice publishes the same
    chunks again (a broker that deduplicates drops them; the executor skips what is recorded).
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


RecordStatus = Literal["completed", "errored"]


class RecordProduced(Event):
    """One execution of the system on one testcase × trial (from the executor, SDK or a monitor)."""

    topic: ClassVar[Topic] = Topic.RECORD_PRODUCED
    type: Literal["record.produced"] = "record.produced"
    run_id: uuid.UUID
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


class HumanVerdict(BaseModel):
    """A reviewer's score for a human metric, validated by the API that accepted it."""

    model_config = ConfigDict(frozen=True)

    value: bool | int | float
    reviewer: str
    comment: str = ""


# The most records one score.requested may carry.
MAX_SCORE_BATCH = 1000


class ScoreRequested(Event):
    """Score one record with one metric version; for a human metric, either leave the score
    pending (no verdict) or record the reviewer's verdict.

    A batch (``record_ids``, beginning with ``record_id``) asks for every record listed, all of
    this run: one message, one read of the records and one transaction for their scores (a monitor
    window's records travel 100 to an event). A batch carries no reviewer's verdict."""

    topic: ClassVar[Topic] = Topic.SCORE_REQUESTED
    type: Literal["score.requested"] = "score.requested"
    run_id: uuid.UUID
    record_id: uuid.UUID
    metric_version_id: uuid.UUID
    human: HumanVerdict | None = None
    record_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)

    @model_validator(mode="after")
    def _a_batch_starts_with_its_record(self) -> ScoreRequested:
        if self.record_ids and (self.record_ids[0] != self.record_id or self.human is not None):
            raise ValueError("a batch's record_ids begin with record_id, and a batch carries no verdict")
        return self


ScoreStatus = Literal["completed", "errored", "pending"]


class ScoreCompleted(Event):
    topic: ClassVar[Topic] = Topic.SCORE_COMPLETED
    type: Literal["score.completed"] = "score.completed"
    run_id: uuid.UUID
    record_id: uuid.UUID
    metric_version_id: uuid.UUID
    score_id: uuid.UUID
    status: ScoreStatus
    # A batch's one event: the records whose scores are in (record_id / score_id are the first's).
    record_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_SCORE_BATCH)


class DeadLetter(BaseModel):
    """What lands on ``<topic>.dlq``: the original bytes and why they can never succeed."""

    model_config = ConfigDict(frozen=True)

    topic: str
    service: str
    error: str
    payload: str
    occurred_at: datetime = Field(default_factory=_now)
