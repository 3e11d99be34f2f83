"""ReviewService (proto/scorekeeper/v1/review.proto): proto ⇄ domain over the queue's repository;
the verdict itself goes through the one submission rule (runs/human_review.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from scorekeeper.v1 import review_pb2 as pb

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.reviews import rules
from services.run_orchestrator.reviews.repository import ReviewRepository
from services.run_orchestrator.runs.human_review import HumanReview, Target
from shared.edge.convert import parse_uuid, python_to_value, timestamp
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked

QueueRequest = pb.NextReviewItemRequest | pb.PreviousReviewItemRequest | pb.OpenReviewItemRequest


@dataclass(frozen=True)
class Queue:
    """What a request says of the queue it works on."""

    metric_id: uuid.UUID
    versions: list[uuid.UUID]
    reviewer: str
    lease_s: int
    run_id: uuid.UUID | None


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

    async def _queue(self, request: QueueRequest) -> Queue:
        """The request's human metric with every version of it, reviewer, lease and run filter;
        INVALID_ARGUMENT for a metric of another eval type."""
        mid: uuid.UUID = parse_uuid(request.metric_id, "metric_id")
        versions = await self._catalog.metric_versions(mid)
        if not versions:
            raise not_found(f"metric {request.metric_id} does not exist")
        latest = versions[-1]
        if latest["eval_type"] != "human":
            raise invalid(f"metric {latest['name']!r} is {latest['eval_type']}, not human: it has no review queue")
        run_id = getattr(request, "run_id", "")
        return Queue(
            mid,
            [v["version_id"] for v in versions],
            checked(rules.reviewer, request.reviewer),
            checked(rules.lease_seconds, request.lease_seconds),
            parse_uuid(run_id, "run_id") if run_id else None,
        )

    async def _respond(self, target: Target | None, queue: Queue) -> pb.ReviewItemResponse:
        response = pb.ReviewItemResponse(remaining=await self._reviews.remaining(queue.versions, queue.run_id))
        if target is not None:
            row = await self._reviews.item(target.score_id)
            assert row is not None
            response.item.CopyFrom(item_pb(target, row, queue.reviewer))
        return response

    async def _open(self, target: Target, queue: Queue) -> pb.ReviewItemResponse:
        if await self._reviews.item(target.score_id) is None:
            errored = target.record_status == "errored"
            state = "is errored and is not scored" if errored else "has no score to review yet"
            raise ApiError(
                Code.FAILED_PRECONDITION, f"record {target.record_id} {state} for {target.version['name']!r}"
            )
        await self._reviews.take(target.item, queue.reviewer, queue.lease_s)  # held by another: shown, not taken
        return await self._respond(target, queue)

    async def next_review_item(self, request: pb.NextReviewItemRequest) -> pb.ReviewItemResponse:
        queue = await self._queue(request)
        item = await self._reviews.next_item(
            queue.metric_id, queue.versions, queue.reviewer, queue.run_id, queue.lease_s
        )
        target = await self._human.target(str(item.record_id), str(queue.metric_id)) if item is not None else None
        return await self._respond(target, queue)

    async def previous_review_item(self, request: pb.PreviousReviewItemRequest) -> pb.ReviewItemResponse:
        queue = await self._queue(request)
        mid = str(queue.metric_id)
        before = (await self._human.target(request.record_id, mid)).score_id if request.record_id else None
        record = await self._reviews.previous(queue.metric_id, queue.reviewer, before, queue.run_id)
        if record is None:
            return await self._respond(None, queue)
        return await self._open(await self._human.target(str(record), mid), queue)

    async def open_review_item(self, request: pb.OpenReviewItemRequest) -> pb.ReviewItemResponse:
        queue = await self._queue(request)
        return await self._open(await self._human.target(request.record_id, str(queue.metric_id)), queue)

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
