"""What the SDK returns for the review queue of human metrics (proto/scorekeeper/v1/review.proto)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scorekeeper_sdk.views import Record


@dataclass(frozen=True)
class ReviewItem:
    """One score of a human metric to give, and who holds it: ``yours`` when the lease (until
    ``lease_expires_at``) is the reviewer's. ``status`` completed: reviewed already (``value``,
    ``reviewed_by``, ``comment``), a new verdict replaces it. ``record`` holds the inputs, outputs,
    expected and the other metrics' scores; ``remaining``: items of the queue nobody holds."""

    record_id: str
    run_id: str
    metric_id: str
    metric_version_id: str
    score_id: str
    output_type: str
    status: str
    held_by: str = ""
    lease_expires_at: str = ""
    yours: bool = False
    value: bool | float | None = None
    reviewed_by: str = ""
    comment: str = ""
    remaining: int = 0
    record: Record | None = None


@dataclass(frozen=True)
class RunReviewProgress:
    run_id: str
    run_status: str
    created_at: str = ""
    testset_name: str = ""
    reviewed: int = 0
    to_review: int = 0


@dataclass(frozen=True)
class ReviewerProgress:
    """A reviewer's verdicts that stand, items skipped and not reviewed yet, and the item held now."""

    reviewer: str
    reviewed: int = 0
    skipped: int = 0
    holding_record_id: str = ""


@dataclass(frozen=True)
class ReviewQueue:
    """The progress of one human metric's queue, over its runs (newest first) and reviewers."""

    metric_id: str
    name: str
    output_type: str
    guidelines: str = ""
    reviewed: int = 0
    to_review: int = 0
    in_review: int = 0
    runs: list[RunReviewProgress] = field(default_factory=list)
    reviewers: list[ReviewerProgress] = field(default_factory=list)
