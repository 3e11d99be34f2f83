"""ReviewService (proto/scorekeeper/v1/review.proto): proto ⇄ domain over the queue's repository;
the verdict itself goes through the one submission rule (runs/human_review.py)."""

from __future__ import annotations

import uuid

import asyncpg
from scorekeeper.v1 import review_pb2 as pb

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.reviews import rules
from services.run_orchestrator.reviews.repository import ReviewRepository
from services.run_orchestrator.runs.human_review import HumanReview, Target
from shared.edge.convert import parse_uuid, python_to_value, timestamp
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked


def item_pb(target: Target, row: asyncpg.Record, reviewer: str) -> pb.ReviewItem:
    """A queue item as the reviewer sees it: the score so far and who holds it."""
    item = pb.ReviewItem(
        record_id=str(target.record_id),
        run_id=str(target.run_id),
        metric_id=str(target.version["metric_id"]),
        metric_version_id=str(target.version["version_id"]),
        score_id=str(target.score_id),
        output_type=target.version["output_type"],
        status=row["status"],
        reviewed_by=row["reviewed_by"],
        comment=row["comment"],
    )
    if row["held"]:
        item.held_by = row["held_by"]
        item.lease_expires_at = timestamp(row["expires_at"])
        item.yours = row["held_by"] == reviewer
    if row["value"] is not None:
        item.value.CopyFrom(python_to_value(row["value"]))
    return item


class ReviewApi:
    def __init__(self, catalog: CatalogRepository, reviews: ReviewRepository, human: HumanReview) -> None:
        self._catalog = catalog
        self._reviews = reviews
        self._human = human

    async def _queue(self, metric_id: str) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """A human metric's id and every version of it; INVALID_ARGUMENT for another eval type."""
        mid: uuid.UUID = parse_uuid(metric_id, "metric_id")
        versions = await self._catalog.metric_versions(mid)
        if not versions:
            raise not_found(f"metric {metric_id} does not exist")
        latest = versions[-1]
        if latest["eval_type"] != "human":
            raise invalid(f"metric {latest['name']!r} is {latest['eval_type']}, not human: it has no review queue")
        return mid, [v["version_id"] for v in versions]

    async def _respond(
        self, target: Target | None, reviewer: str, versions: list[uuid.UUID], run_id: uuid.UUID | None
    ) -> pb.ReviewItemResponse:
        response = pb.ReviewItemResponse(remaining=await self._reviews.remaining(versions, run_id))
        if target is not None:
            row = await self._reviews.item(target.score_id)
            assert row is not None
            response.item.CopyFrom(item_pb(target, row, reviewer))
        return response

    async def _open(
        self, target: Target, reviewer: str, lease_s: int, versions: list[uuid.UUID], run_id: uuid.UUID | None
    ) -> pb.ReviewItemResponse:
        if await self._reviews.item(target.score_id) is None:
            errored = target.record_status == "errored"
            state = "is errored and is not scored" if errored else "has no score to review yet"
            raise ApiError(
                Code.FAILED_PRECONDITION, f"record {target.record_id} {state} for {target.version['name']!r}"
            )
        await self._reviews.take(target.item, reviewer, lease_s)  # held by another: shown, not taken
        return await self._respond(target, reviewer, versions, run_id)

    async def next_review_item(self, request: pb.NextReviewItemRequest) -> pb.ReviewItemResponse:
        mid, versions = await self._queue(request.metric_id)
        reviewer = checked(rules.reviewer, request.reviewer)
        lease_s = checked(rules.lease_seconds, request.lease_seconds)
        run_id = parse_uuid(request.run_id, "run_id") if request.run_id else None
        item = await self._reviews.next_item(mid, versions, reviewer, run_id, lease_s)
        target = await self._human.target(str(item.record_id), str(mid)) if item is not None else None
        return await self._respond(target, reviewer, versions, run_id)

    async def previous_review_item(self, request: pb.PreviousReviewItemRequest) -> pb.ReviewItemResponse:
        mid, versions = await self._queue(request.metric_id)
        reviewer = checked(rules.reviewer, request.reviewer)
        lease_s = checked(rules.lease_seconds, request.lease_seconds)
        run_id = parse_uuid(request.run_id, "run_id") if request.run_id else None
        before = (await self._human.target(request.record_id, str(mid))).score_id if request.record_id else None
        record = await self._reviews.previous(mid, reviewer, before, run_id)
        if record is None:
            return await self._respond(None, reviewer, versions, run_id)
        target = await self._human.target(str(record), str(mid))
        return await self._open(target, reviewer, lease_s, versions, run_id)

    async def open_review_item(self, request: pb.OpenReviewItemRequest) -> pb.ReviewItemResponse:
        mid, versions = await self._queue(request.metric_id)
        reviewer = checked(rules.reviewer, request.reviewer)
        lease_s = checked(rules.lease_seconds, request.lease_seconds)
        target = await self._human.target(request.record_id, str(mid))
        return await self._open(target, reviewer, lease_s, versions, None)

    async def skip_review_item(self, request: pb.SkipReviewItemRequest) -> pb.SkipReviewItemResponse:
        reviewer = checked(rules.reviewer, request.reviewer)
        target = await self._human.target(request.record_id, request.metric_id)
        holder = await self._reviews.skip(target.item, reviewer)
        if holder is not None:
            raise ApiError(
                Code.FAILED_PRECONDITION, f"{holder} is reviewing record {target.record_id}: it is not yours to skip"
            )
        return pb.SkipReviewItemResponse()

    async def submit_review(self, request: pb.SubmitReviewRequest) -> pb.SubmitReviewResponse:
        target = await self._human.target(request.record_id, request.metric_id)
        value = request.value if request.HasField("value") else None
        verdict = await self._human.submit(target, value, request.reviewer, request.comment)
        return pb.SubmitReviewResponse(score_id=str(verdict.score_id), passed=verdict.passed)
