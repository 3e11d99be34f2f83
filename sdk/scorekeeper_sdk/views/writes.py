"""What the SDK gets back from writes: records ingested, errored records retried, playground tries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorekeeper_sdk.views.runs import FINAL_STATUSES, Record, Run


@dataclass(frozen=True)
class IngestedRef:
    """One record of an ingest call: its position in the call, testcase × trial, and record id."""

    index: int
    testcase_id: str
    trial: int
    record_id: str = ""


@dataclass(frozen=True)
class RefusedRecord:
    """A record kept as errored because its outputs break a storage limit (``reason`` says which)."""

    record: IngestedRef
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """What the server took from one ingest call: ``accepted`` records, of which those ``stored`` as
    sent, those ``refused`` (kept as errored records naming the limit their outputs broke); and the
    ``duplicates``, testcase × trial pairs the run had a record of already (left as they were)."""

    accepted: int
    stored: list[IngestedRef] = field(default_factory=list)
    duplicates: list[IngestedRef] = field(default_factory=list)
    refused: list[RefusedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class RetryResult:
    """A retry of a run's errored records: the run (executing again), how many records it executes
    again, and which retry of the run it is (1 for the first)."""

    run: Run
    retried: int
    retry: int


@dataclass(frozen=True)
class TryCase:
    """One case of a playground try: ``testcase_id`` names it in the try's records;
    ``source_testcase_id`` is the testset testcase it came from (empty for a typed case)."""

    testcase_id: str
    source_testcase_id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaygroundTry:
    """A prompt tried on a few cases: who tried what, when, and (when read with its results) its
    run and its records — each case's output and scores, in the try's order."""

    id: str
    project_id: str
    run_id: str
    status: str
    system_version_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    testset_id: str = ""
    cases: list[TryCase] = field(default_factory=list)
    metric_ids: list[str] = field(default_factory=list)
    metric_version_ids: list[str] = field(default_factory=list)
    created_by: str = ""
    created_by_key_prefix: str = ""
    created_at: str = ""
    outputs: int = 0
    errored_outputs: int = 0
    run: Run | None = None
    records: list[Record] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def every_call_failed(self) -> bool:
        """Finished with no output to score: every call to the model errored."""
        return self.finished and self.outputs > 0 and self.errored_outputs == self.outputs
