"""A reviewer's verdict on one record for a human metric: the one rule for every way it arrives
(RunService.SubmitHumanScore, ReviewService.SubmitReview, the console's forms).

The verdict goes to the scorer as a score request carrying it; the scorer writes the score and
the run's aggregates, and the run leaves awaiting_human_scoring when its last verdict is in. A
verdict is refused while another reviewer holds the item in the review queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from google.protobuf import struct_pb2

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.reviews import rules as review_rules
from services.run_orchestrator.reviews.repository import Item, ReviewRepository
from services.run_orchestrator.runs import rules
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.scoring import ScoreRequests
from shared.edge.convert import parse_uuid
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.events import HumanVerdict
from shared.ids import score_id
from shared.scoring.metric import passes


@dataclass(frozen=True)
class Target:
    """A record and the version of a human metric its run pins: one score a reviewer gives."""

    record_id: uuid.UUID
    run_id: uuid.UUID
    record_status: str
    version: asyncpg.Record  # metric_id, version_id, name, eval_type, output_type, passing_threshold

    @property
    def score_id(self) -> uuid.UUID:
        return score_id(self.record_id, self.version["version_id"])

    @property
    def item(self) -> Item:
        return Item(self.score_id, self.version["metric_id"], self.run_id, self.record_id)


@dataclass(frozen=True)
class Verdict:
    score_id: uuid.UUID
    passed: bool


class HumanReview:
    def __init__(
        self, catalog: CatalogRepository, runs: RunRepository, reviews: ReviewRepository, scores: ScoreRequests
    ) -> None:
        self._catalog = catalog
        self._runs = runs
        self._reviews = reviews
        self._scores = scores

    async def target(self, record_id: str, metric_id: str) -> Target:
        """NOT_FOUND for an unknown record or a metric its run does not pin; INVALID_ARGUMENT for a
        metric that is not human."""
        rid = parse_uuid(record_id, "record_id")
        record = await self._runs.record_run(rid)
        if record is None:
            raise not_found(f"record {record_id} does not exist")
        mid = parse_uuid(metric_id, "metric_id")
        pinned = await self._catalog.metric_versions_in_order(record["metric_version_ids"])
        version = next((v for v in pinned if v["metric_id"] == mid), None)
        if version is None:
            raise not_found(f"metric {metric_id} is not part of the run of record {record_id}")
        if version["eval_type"] != "human":
            raise invalid(
                f"metric {version['name']!r} is {version['eval_type']}, not human: it cannot take a reviewer's score"
            )
        return Target(rid, record["run_id"], record["status"], version)

    async def submit(self, target: Target, value: struct_pb2.Value | None, reviewer: str, comment: str) -> Verdict:
        """The verdict, checked and sent to the scorer; FAILED_PRECONDITION for a record that is
        not scored (errored, or waiting for a retry) and while another reviewer holds the item."""
        if target.record_status != "completed":
            raise ApiError(
                Code.FAILED_PRECONDITION, f"record {target.record_id} is {target.record_status} and is not scored"
            )
        name = checked(review_rules.reviewer, reviewer)
        if value is None:
            raise invalid("value is required")
        version = target.version
        checked_value = checked(rules.verdict_value, version["output_type"], value)
        holder = await self._reviews.submitting(target.item, name)
        if holder is not None:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"{holder} is reviewing record {target.record_id} for {version['name']!r} in the review queue",
            )
        verdict = HumanVerdict(value=checked_value, reviewer=name, comment=comment)
        try:
            await self._scores.review(target.run_id, target.record_id, version["version_id"], verdict)
        except Exception:
            await self._reviews.submit_failed(target.item, name)
            raise
        return Verdict(target.score_id, passes(version["output_type"], checked_value, version["passing_threshold"]))
