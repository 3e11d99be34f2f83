"""The run lifecycle (RunService): create, cancel, notes, re-score, human scores, ingest, tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from scorekeeper.v1 import runs_pb2 as rpb

from scorekeeper_sdk.api.reads import ReadOperations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.tracing import Span
from scorekeeper_sdk.views import IngestResult, RetryResult, Run

RUNS = "RunService"
MAX_INGEST = 1000


@dataclass(frozen=True)
class RecordIn:
    """A record executed outside Scorekeeper, for :meth:`RunOperations.ingest_records`."""

    testcase_id: str
    trial: int = 0
    outputs: dict[str, Any] | None = None
    # completed | errored
    status: str = "completed"
    error: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # None: the system did not say what the call cost.
    cost_usd: float | None = None
    # The scores your own code gave it, by metric id (metrics of eval type code the run pins).
    scores: dict[str, ScoreIn] = field(default_factory=dict)
    # The steps of the call (scorekeeper_sdk.span): shown with the record.
    spans: list[Span] = field(default_factory=list)

    def to_proto(self) -> rpb.IngestedRecord:
        record = rpb.IngestedRecord(
            testcase_id=self.testcase_id,
            trial=self.trial,
            outputs=struct(self.outputs),
            status=self.status,
            error=self.error,
            latency_ms=self.latency_ms,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )
        if self.cost_usd is not None:
            record.cost_usd = self.cost_usd
        for metric_id, score in self.scores.items():
            sent = record.scores[metric_id]
            if score.value is not None:
                sent.value.CopyFrom(verdict(score.value))
            sent.reasoning, sent.error = score.reasoning, score.error
        record.spans.extend(s.to_proto() for s in self.spans)
        return record


@dataclass(frozen=True)
class ScoreIn:
    """A score your own code gave a record, for a metric of eval type code: ``value`` (true / false,
    1..5, or 0..1 by the metric's output type) and why; or, when your scorer raised, ``error``."""

    value: bool | float | None = None
    reasoning: str = ""
    error: str = ""


def verdict(value: bool | float) -> struct_pb2.Value:
    """A reviewer's value as the API takes it: true / false, or a number."""
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    return struct_pb2.Value(number_value=value)


class RunOperations(ReadOperations):
    """Writes on runs; each answers the run as the query service then shows it (hence the reads)."""

    async def create_run(
        self,
        project_id: str,
        testset_id: str,
        system_version_id: str,
        metric_ids: Sequence[str] = (),
        *,
        source: str = "api",
        trials: int = 1,
        notes: str = "",
        max_concurrency: int = 0,
        metric_group_id: str = "",
        testcase_ids: Sequence[str] = (),
        metadata_filter: Mapping[str, Any] | None = None,
        sample: int = 0,
        sample_seed: int = 0,
        tags: Sequence[str] = (),
        same_testcases_as_run_id: str = "",
    ) -> Run:
        """Kicks off a run of a system version over a testset's latest version, scored with the
        latest version of each metric (and of a metric group's); ``source`` api, kickoff, playground,
        monitor or ci. Part of the testset only: ``testcase_ids``, ``metadata_filter`` (each key
        equal to its value, or to one of a list's) and ``sample`` (at most that many, drawn at random
        — the same ones for the same ``sample_seed`` and testset version), or the testcases an
        earlier run of the testset executed (``same_testcases_as_run_id``); ``tags`` label the run."""
        request = rpb.CreateRunRequest(
            project_id=project_id,
            testset_id=testset_id,
            system_version_id=system_version_id,
            metric_ids=list(metric_ids),
            source=source,
            trials=trials,
            notes=notes,
            max_concurrency=max_concurrency,
            metric_group_id=metric_group_id,
            testcase_ids=list(testcase_ids),
            metadata_filter=struct(dict(metadata_filter or {})),
            sample=sample,
            sample_seed=sample_seed,
            tags=list(tags),
            same_testcases_as_run_id=same_testcases_as_run_id,
        )
        run = await self._unary(RUNS, "CreateRun", request, rpb.Run, creates=True)
        return await self.get_run(run.id)

    async def cancel_run(self, run_id: str) -> Run:
        await self._unary(RUNS, "CancelRun", rpb.CancelRunRequest(run_id=run_id), rpb.Run)
        return await self.get_run(run_id)

    async def archive_run(self, run_id: str) -> Run:
        """Hide a finished run from run lists, the run history, the Records page and review queues."""
        await self._unary(RUNS, "ArchiveRun", rpb.ArchiveRunRequest(run_id=run_id), rpb.Run)
        return await self.get_run(run_id)

    async def unarchive_run(self, run_id: str) -> Run:
        await self._unary(RUNS, "UnarchiveRun", rpb.UnarchiveRunRequest(run_id=run_id), rpb.Run)
        return await self.get_run(run_id)

    async def update_run_notes(self, run_id: str, notes: str) -> Run:
        await self._unary(RUNS, "UpdateRunNotes", rpb.UpdateRunNotesRequest(run_id=run_id, notes=notes), rpb.Run)
        return await self.get_run(run_id)

    async def update_run_tags(self, run_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Run:
        """Adds and removes the run's tags (run lists and the run history filter by them)."""
        request = rpb.UpdateRunTagsRequest(run_id=run_id, add=list(add), remove=list(remove))
        await self._unary(RUNS, "UpdateRunTags", request, rpb.Run)
        return await self.get_run(run_id)

    async def rescore_run(self, run_id: str, metrics: Sequence[str | tuple[str, str]]) -> Run:
        """Re-scores every record with the metrics (ids, or (metric id, version id) pairs; a bare id
        means the latest version) without executing the system again."""
        choices = [
            rpb.MetricChoice(metric_id=m, version_id="")
            if isinstance(m, str)
            else rpb.MetricChoice(metric_id=m[0], version_id=m[1])
            for m in metrics
        ]
        await self._unary(RUNS, "RescoreRun", rpb.RescoreRunRequest(run_id=run_id, metrics=choices), rpb.Run)
        return await self.get_run(run_id)

    async def submit_human_score(
        self, record_id: str, metric_id: str, value: bool | float, *, reviewer: str, comment: str = ""
    ) -> bool:
        """A reviewer's verdict for a human metric; returns whether it passes."""
        request = rpb.SubmitHumanScoreRequest(
            record_id=record_id, metric_id=metric_id, reviewer=reviewer, comment=comment, value=verdict(value)
        )
        response = await self._unary(RUNS, "SubmitHumanScore", request, rpb.SubmitHumanScoreResponse)
        return response.passed

    async def ingest_records(self, run_id: str, records: Sequence[RecordIn]) -> IngestResult:
        """Records executed client-side, at most 1,000 per call, all checked before any is stored;
        sending a testcase × trial again changes nothing (a record's id derives from them)."""
        if len(records) > MAX_INGEST:
            raise ValueError(f"at most {MAX_INGEST} records per call, got {len(records)}")
        request = rpb.IngestRecordsRequest(run_id=run_id, records=[r.to_proto() for r in records])
        response = await self._unary(RUNS, "IngestRecords", request, rpb.IngestRecordsResponse)
        return from_proto(IngestResult, response)

    async def tag_records(
        self, run_id: str, record_ids: Sequence[str], *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> int:
        """Adds and removes tags on records; returns how many records changed."""
        request = rpb.TagRecordsRequest(run_id=run_id, record_ids=list(record_ids), add=list(add), remove=list(remove))
        return (await self._unary(RUNS, "TagRecords", request, rpb.TagRecordsResponse)).updated

    async def retry_errored_records(self, run_id: str) -> RetryResult:
        """Executes again the errored testcase × trial pairs of a finished http / llm run; their new
        records replace them (the old ones stay in each record's ``attempts``) and are scored.
        FailedPrecondition for an sdk run, a run still executing or scoring, and nothing errored."""
        request = rpb.RetryErroredRecordsRequest(run_id=run_id)
        # Retried only when the connection failed: a retry that started refuses a second one.
        response = await self._unary(
            RUNS, "RetryErroredRecords", request, rpb.RetryErroredRecordsResponse, creates=True
        )
        return RetryResult(run=await self.get_run(run_id), retried=response.retried, retry=response.retry)
