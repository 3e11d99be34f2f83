"""The pure parts of retrying errored records and of the review queue: a retry's chunks, when a
run may be retried, a record's share of the counts, and what a review request must be."""

from __future__ import annotations

import uuid

import pytest

from services.run_orchestrator.reviews import rules as review_rules
from services.run_orchestrator.runs.counts import RecordCounts
from services.run_orchestrator.runs.rules import retry_refusal
from services.system_executor.planning import retry_chunks
from services.system_executor.repository import ChunkBounds
from shared.ids import chunk_event_id
from shared.run_status import RunStatus


@pytest.mark.parametrize(
    ("positions", "size", "chunks"),
    [
        ([], 10, []),
        ([4], 10, [ChunkBounds(4, 4, 1)]),
        ([0, 1, 2, 3], 2, [ChunkBounds(0, 1, 2), ChunkBounds(2, 3, 2)]),
        # Sparse positions: a chunk never spans more than `size` positions.
        (
            [0, 9, 10, 500, 501, 99_999],
            10,
            [ChunkBounds(0, 9, 2), ChunkBounds(10, 10, 1), ChunkBounds(500, 501, 2), ChunkBounds(99_999, 99_999, 1)],
        ),
        ([3, 5, 7], 1, [ChunkBounds(3, 3, 1), ChunkBounds(5, 5, 1), ChunkBounds(7, 7, 1)]),
    ],
)
def test_a_retry_is_chunked_over_the_positions_it_executes(
    positions: list[int], size: int, chunks: list[ChunkBounds]
) -> None:
    assert retry_chunks(positions, size) == chunks
    assert sum(c.testcases for c in chunks) == len(positions)
    assert all(c.last_position - c.first_position < size for c in chunks)


def test_a_retrys_chunks_have_ids_of_their_own() -> None:
    run = uuid.uuid4()
    assert chunk_event_id(run, 0) == chunk_event_id(run, 0, 0)
    assert len({chunk_event_id(run, 0), chunk_event_id(run, 0, 1), chunk_event_id(run, 0, 2)}) == 3


@pytest.mark.parametrize(
    ("status", "errored", "refusal"),
    [
        (RunStatus.COMPLETED, 3, None),
        (RunStatus.AWAITING_HUMAN_SCORING, 1, None),
        (RunStatus.COMPLETED, 0, "run r has no errored records to retry"),
        (RunStatus.RUNNING_EXECUTION, 3, "run r is running_execution: it is still executing"),
        (RunStatus.AWAITING_EXECUTION, 3, "run r is awaiting_execution: it is still executing"),
        (RunStatus.RUNNING_SCORING, 3, "run r is running_scoring: it is still scoring"),
        (RunStatus.CANCELLED, 3, "run r is cancelled; only a run that finished executing"),
        (RunStatus.FAILED, 3, "run r is failed; only a run that finished executing"),
    ],
)
def test_only_a_finished_run_with_errored_records_is_retried(status: str, errored: int, refusal: str | None) -> None:
    found = retry_refusal("r", status, errored)
    assert found == refusal if refusal is None else found is not None and found.startswith(refusal)


def test_a_records_share_of_the_counts_taken_out_and_put_back_is_nothing() -> None:
    errored = RecordCounts.of("errored", 12.5, 3, 4, None)
    assert errored == RecordCounts(records=1, errored=1, latency_ms=12.5, prompt_tokens=3, completion_tokens=4)
    costed = RecordCounts.of("completed", 1.0, 0, 0, 0.25)
    assert (costed.errored, costed.cost_usd, costed.costed) == (0, 0.25, 1)
    assert errored + -errored == RecordCounts()
    assert errored + costed + -errored == costed


@pytest.mark.parametrize(("given", "expected"), [("ann", "ann"), ("  ann  ", "ann"), ("x" * 200, "x" * 200)])
def test_a_reviewer_is_named(given: str, expected: str) -> None:
    assert review_rules.reviewer(given) == expected


@pytest.mark.parametrize(
    ("given", "message"), [("", "reviewer is required"), ("   ", "reviewer is required"), ("x" * 201, "at most 200")]
)
def test_a_reviewer_without_a_name_or_with_a_long_one_is_refused(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        review_rules.reviewer(given)


def test_a_lease_lasts_ten_minutes_unless_asked_within_an_hour() -> None:
    assert review_rules.lease_seconds(0) == 600
    assert review_rules.lease_seconds(1) == 1 and review_rules.lease_seconds(3600) == 3600
    for bad in (-1, 3601):
        with pytest.raises(ValueError, match="lease_seconds must be within"):
            review_rules.lease_seconds(bad)
