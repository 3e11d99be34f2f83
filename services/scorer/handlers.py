"""Subscriber of the scorer, a batch of events at a time: score.requested → score rows +
aggregates in one transaction → one score.completed per run."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from services.scorer.repository import RecordToScore, ScoreRepository, ScoreWrite
from services.scorer.scorers import Scorer
from shared import telemetry
from shared.events import DeadLetter, ScoresCompleted, ScoresRequested
from shared.ids import score_id
from shared.json_limits import clean_text
from shared.messaging import dead_letters
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.scoring.eval_types import eval_type
from shared.scoring.metric import MetricVersion, ScoreOutcome, human_outcome
from shared.topics import Topic


@dataclass(frozen=True)
class _Asked:
    """One score asked for, checked against the rows."""

    run_id: uuid.UUID
    record: RecordToScore
    metric: MetricVersion
    score_id: uuid.UUID


class ScorerHandlers:
    def __init__(self, repo: ScoreRepository, bus: Bus, scorers: dict[str, Scorer], *, max_batch: int = 8) -> None:
        self._repo = repo
        self._bus = bus
        self._scorers = scorers
        self._max_batch = max_batch

    def register(self) -> None:
        # A request holds up to RECORDS_PER_REQUEST records × its metric versions.
        self._bus.subscribe_batch(ScoresRequested, self.on_scores_requested, max_batch=self._max_batch)
        self._bus.subscribe_dead_letters(Topic.SCORE_REQUESTED, self.settle_score_requested)

    async def on_scores_requested(self, events: list[ScoresRequested]) -> None:
        """Every score asked for is checked before anything is computed: an invalid event fails the
        batch, which the bus then handles event by event, dead-lettering only that one.

        Each run's events of the batch are then scored, written and announced apart and at once:
        a run whose metric is slow (a backtracking regex at its time limit) does not hold back
        another run's scores that happened to arrive in the same batch."""
        asked = await self._check(events)
        by_run: dict[uuid.UUID, list[ScoresRequested]] = defaultdict(list)
        for event in events:
            by_run[event.run_id].append(event)
        outcomes = await asyncio.gather(
            *(self._score_run(run_id, ours, asked) for run_id, ours in by_run.items()), return_exceptions=True
        )
        # Every run's share finished before the batch fails: a retry event by event finds no
        # half-done work still running beside it.
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _score_run(
        self, run_id: uuid.UUID, events: list[ScoresRequested], asked: dict[uuid.UUID, list[_Asked]]
    ) -> None:
        """One run's events of a batch: its scores computed, written in one transaction, and one
        score.completed for them."""
        todo: dict[uuid.UUID, _Asked] = {}
        verdicts: list[ScoreWrite] = []
        for event in events:
            for one in asked[event.event_id]:
                if event.human is not None:
                    verdict = event.human
                    outcome = human_outcome(one.metric, verdict.value, verdict.reviewer, verdict.comment)
                    verdicts.append(
                        ScoreWrite(
                            one.score_id,
                            one.record,
                            one.metric,
                            outcome,
                            reviewer=verdict.reviewer,
                            comment=verdict.comment,
                            replace=True,
                        )
                    )
                else:
                    todo.setdefault(one.score_id, one)
        # A redelivery of scores already computed: nothing is computed (or paid for) twice.
        existing = await self._repo.score_statuses(list(todo))
        by_status: Counter[str] = Counter()
        by_status["completed"] = sum(1 for sid in todo if existing.get(sid) == "completed")
        fresh = [one for sid, one in todo.items() if existing.get(sid) != "completed"]
        writes = verdicts + await self._compute(fresh)
        changed = await self._repo.save_many(writes)
        for write, did in zip(writes, changed, strict=True):
            if did:
                telemetry.SCORES_WRITTEN.labels(write.outcome.status).inc()
            by_status[write.outcome.status] += 1
        # Published on redelivery too: the first delivery may have died between commit and publish.
        if by_status["completed"] or by_status["errored"]:
            await self._bus.publish(
                ScoresCompleted(
                    run_id=run_id,
                    completed=by_status["completed"],
                    errored=by_status["errored"],
                    correlation_id=next((e.correlation_id for e in events if e.human is None), ""),
                )
            )

    async def _check(self, events: list[ScoresRequested]) -> dict[uuid.UUID, list[_Asked]]:
        """The scores each event asks for; InvalidEvent naming the first that cannot be scored."""
        records = await self._repo.records(list({r for event in events for r in event.record_ids}))
        asked: dict[uuid.UUID, list[_Asked]] = {}
        for event in events:
            metrics = []
            for version_id in event.metric_version_ids:
                metric = await self._repo.metric_version(version_id)
                if metric is None:
                    raise InvalidEvent(f"metric version {version_id} does not exist")
                if metric.eval_type not in self._scorers:
                    raise InvalidEvent(f"metric version {metric.id} is {metric.eval_type!r}, which no scorer computes")
                by_reviewer = eval_type(metric.eval_type).by_reviewer
                if event.human is not None and not by_reviewer:
                    raise InvalidEvent(
                        f"metric version {metric.id} is {metric.eval_type}; it takes no reviewer's verdict"
                    )
                metrics.append(metric)
            asked[event.event_id] = []
            for rid in event.record_ids:
                record = records.get(rid)
                if record is None or record.run_id != event.run_id:
                    raise InvalidEvent(f"record {rid} does not exist in run {event.run_id}")
                if record.status != "completed":
                    raise InvalidEvent(f"record {record.id} is {record.status}; only completed records are scored")
                for metric in metrics:
                    if metric.id not in record.metric_version_ids:
                        raise InvalidEvent(f"metric version {metric.id} is not part of run {event.run_id}")
                    asked[event.event_id].append(_Asked(event.run_id, record, metric, score_id(record.id, metric.id)))
        return asked

    async def _compute(self, asked: list[_Asked]) -> list[ScoreWrite]:
        """Each eval type's scores computed together by its scorer."""
        by_type: dict[str, list[_Asked]] = defaultdict(list)
        for one in asked:
            by_type[one.metric.eval_type].append(one)
        writes: list[ScoreWrite] = []
        for kind, group in by_type.items():
            outcomes = await self._scorers[kind]([(one.metric, one.record.data) for one in group])
            writes.extend(
                ScoreWrite(one.score_id, one.record, one.metric, outcome)
                for one, outcome in zip(group, outcomes, strict=True)
            )
        return writes

    async def settle_score_requested(self, letter: DeadLetter) -> None:
        """Score requests dead-lettered for good: their scores become errored with the reason, so the
        run does not wait for them. A reviewer's verdict that failed leaves the score pending
        instead: it can be submitted again."""
        if dead_letters.has_object(letter, "human"):
            return
        found = dead_letters.ids(letter, "run_id")
        record_ids = dead_letters.id_list(letter, "record_ids")
        version_ids = dead_letters.id_list(letter, "metric_version_ids")
        if not record_ids:  # schema version 1: one record and one metric version
            one = dead_letters.ids(letter, "record_id", "metric_version_id")
            record_ids, version_ids = ([one["record_id"]], [one["metric_version_id"]]) if one else ([], [])
        if found is None or not record_ids or not version_ids:
            return
        records = await self._repo.records(record_ids)
        error = clean_text(f"the score could not be computed: {letter.error}")
        writes: list[ScoreWrite] = []
        for version_id in version_ids:
            metric = await self._repo.metric_version(version_id)
            if metric is None:
                continue
            for record in records.values():
                ours = record.run_id == found["run_id"] and metric.id in record.metric_version_ids
                if ours and record.status == "completed":
                    sid = score_id(record.id, metric.id)
                    writes.append(ScoreWrite(sid, record, metric, ScoreOutcome("errored", None, None, "", error)))
        existing = await self._repo.score_statuses([w.score_id for w in writes])
        writes = [w for w in writes if w.score_id not in existing]
        if not writes:
            return
        await self._repo.save_many(writes)
        await self._bus.publish(
            ScoresCompleted(run_id=found["run_id"], errored=len(writes), correlation_id=f"run:{found['run_id']}")
        )
