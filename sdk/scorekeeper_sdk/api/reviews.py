"""The review queue of human metrics (ReviewService; its progress from QueryService): take the next
item, go back, skip, give a verdict."""

from __future__ import annotations

import dataclasses

from scorekeeper.v1 import review_pb2 as rvpb

from scorekeeper_sdk.api.reads import QUERY, ReadOperations
from scorekeeper_sdk.api.runs import verdict
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.reviews import ReviewItem, ReviewQueue

REVIEWS = "ReviewService"


class ReviewOperations(ReadOperations):
    """A reviewer is named by the ``reviewer`` text of each call; an item taken is leased to the
    reviewer for ``lease_s`` seconds (600 by default; opening it again renews the lease)."""

    async def _item(self, response: rvpb.ReviewItemResponse, with_record: bool) -> ReviewItem | None:
        if not response.HasField("item"):
            return None
        item = dataclasses.replace(from_proto(ReviewItem, response.item), remaining=response.remaining)
        if with_record:
            item = dataclasses.replace(item, record=await self.get_record(item.record_id))
        return item

    async def next_review_item(
        self, metric_id: str, reviewer: str, *, run_id: str = "", lease_s: int = 0, with_record: bool = True
    ) -> ReviewItem | None:
        """The reviewer's next item of a human metric's queue (of one run with ``run_id``), leased to
        the reviewer: the one held already, or the oldest nobody holds. None when nothing is left."""
        request = rvpb.NextReviewItemRequest(
            metric_id=metric_id, reviewer=reviewer, run_id=run_id, lease_seconds=lease_s
        )
        response = await self._unary(REVIEWS, "NextReviewItem", request, rvpb.ReviewItemResponse)
        return await self._item(response, with_record)

    async def previous_review_item(
        self,
        metric_id: str,
        reviewer: str,
        *,
        record_id: str = "",
        run_id: str = "",
        lease_s: int = 0,
        with_record: bool = True,
    ) -> ReviewItem | None:
        """Back: the item the reviewer reviewed or skipped before ``record_id`` (the latest without
        it), leased again unless someone else holds it now (``yours`` is then False)."""
        request = rvpb.PreviousReviewItemRequest(
            metric_id=metric_id, reviewer=reviewer, record_id=record_id, run_id=run_id, lease_seconds=lease_s
        )
        response = await self._unary(REVIEWS, "PreviousReviewItem", request, rvpb.ReviewItemResponse)
        return await self._item(response, with_record)

    async def open_review_item(
        self, record_id: str, metric_id: str, reviewer: str, *, lease_s: int = 0, with_record: bool = True
    ) -> ReviewItem:
        """One item, leased to the reviewer unless someone else holds it; renews the reviewer's lease."""
        request = rvpb.OpenReviewItemRequest(
            record_id=record_id, metric_id=metric_id, reviewer=reviewer, lease_seconds=lease_s
        )
        response = await self._unary(REVIEWS, "OpenReviewItem", request, rvpb.ReviewItemResponse)
        item = await self._item(response, with_record)
        assert item is not None
        return item

    async def skip_review_item(self, record_id: str, metric_id: str, reviewer: str) -> None:
        """Give the item back: it comes after everything else in this reviewer's queue."""
        request = rvpb.SkipReviewItemRequest(record_id=record_id, metric_id=metric_id, reviewer=reviewer)
        await self._unary(REVIEWS, "SkipReviewItem", request, rvpb.SkipReviewItemResponse)

    async def submit_review(
        self, record_id: str, metric_id: str, value: bool | float, *, reviewer: str, comment: str = ""
    ) -> bool:
        """The reviewer's verdict on an item (FailedPrecondition while someone else holds it);
        returns whether it passes."""
        request = rvpb.SubmitReviewRequest(
            record_id=record_id, metric_id=metric_id, reviewer=reviewer, comment=comment, value=verdict(value)
        )
        return (await self._unary(REVIEWS, "SubmitReview", request, rvpb.SubmitReviewResponse)).passed

    async def review_queues(self, project_id: str, metric_id: str = "") -> list[ReviewQueue]:
        """The project's human metrics' queues: reviewed, to review, held now; per run and reviewer."""
        request = rvpb.ListReviewQueuesRequest(project_id=project_id, metric_id=metric_id)
        response = await self._unary(QUERY, "ListReviewQueues", request, rvpb.ListReviewQueuesResponse)
        return [from_proto(ReviewQueue, q) for q in response.queues]
