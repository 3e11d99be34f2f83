"""The review queue of a human metric over the real processes: two reviewers never hold the same
item, a lease that lapses returns its item to the queue, skip and back, a verdict refused while
another reviewer holds the item, progress per run and per reviewer, and the run completing when
its last verdict arrives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import AsyncScorekeeper, Client, FailedPrecondition, InvalidArgument
from scorekeeper_sdk.reviews import ReviewItem
from shared.devstack.stack import Stack
from tests.support.cli import scorekeeper
from tests.support.reviews import awaiting_reviews

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

RECORDS = 6


@pytest.fixture
async def sdk(stack: Stack) -> AsyncIterator[AsyncScorekeeper]:
    async with stack.sdk() as client:
        yield client


async def _until_scored(sdk: AsyncScorekeeper, record_id: str, metric_id: str) -> None:
    for _ in range(100):
        record = await sdk.get_record(record_id)
        if next(s for s in record.scores if s.metric_id == metric_id).status == "completed":
            return
        await asyncio.sleep(0.1)
    pytest.fail("the verdict never arrived")


async def test_two_reviewers_take_different_items_and_finish_the_run(
    client: Client, sdk: AsyncScorekeeper, stack: Stack
) -> None:
    world = await awaiting_reviews(client, stack, "review queue", RECORDS)
    ids, metric, run_id = world.ids, world.metric_id, world.run_id
    due = (await sdk.get_run(run_id)).records - (await sdk.get_run(run_id)).errored_records
    alice = await sdk.next_review_item(metric, "alice", run_id=run_id)
    bob = await sdk.next_review_item(metric, "bob", run_id=run_id)
    assert alice is not None and bob is not None
    assert alice.record_id != bob.record_id
    assert alice.yours and alice.held_by == "alice" and alice.status == "pending" and alice.lease_expires_at
    assert alice.record is not None and alice.record.outputs and alice.record.expected
    # The other metrics' scores come with the record.
    assert {s.metric_id for s in alice.record.scores} == {ids.metric_ids[0], metric}
    assert bob.remaining == due - 2
    # Asking again (a reload) gives the same item; bob cannot give alice's verdict.
    again = await sdk.next_review_item(metric, "alice", run_id=run_id, with_record=False)
    assert again is not None and again.record_id == alice.record_id
    with pytest.raises(FailedPrecondition, match="alice is reviewing record"):
        await sdk.submit_review(alice.record_id, metric, 3, reviewer="bob")
    with pytest.raises(FailedPrecondition, match="alice is reviewing record"):
        await sdk.submit_human_score(alice.record_id, metric, 3, reviewer="bob")
    opened = await sdk.open_review_item(alice.record_id, metric, "bob", with_record=False)
    assert not opened.yours and opened.held_by == "alice"

    reviewed: dict[str, list[str]] = {"alice": [], "bob": []}
    current: dict[str, ReviewItem | None] = {"alice": alice, "bob": bob}
    while any(current.values()):
        for name in ("alice", "bob"):
            item = current[name]
            if item is None:
                continue
            assert item.yours and item.record_id not in reviewed["alice"] + reviewed["bob"]
            assert await sdk.submit_review(item.record_id, metric, 4, reviewer=name, comment=f"by {name}")
            reviewed[name].append(item.record_id)
            current[name] = await sdk.next_review_item(metric, name, run_id=run_id, with_record=False)
    assert sorted(reviewed["alice"] + reviewed["bob"]) == sorted(
        [r.id async for r in client.records(run_id) if r.status == "completed"]
    )
    assert reviewed["alice"] and reviewed["bob"]
    final = await client.wait_for_run(run_id, timeout_s=60)
    assert final.status == "completed"
    human = next(m for m in final.metrics if m.metric_id == metric)
    assert (human.scored, human.pending, human.mean) == (due, 0, 4.0)
    (queue,) = await sdk.review_queues(ids.project_id, metric)
    assert (queue.name, queue.reviewed, queue.to_review, queue.in_review) == ("helpfulness", due, 0, 0)
    assert [(r.run_id, r.reviewed, r.to_review) for r in queue.runs] == [(run_id, due, 0)]
    assert {(r.reviewer, r.reviewed) for r in queue.reviewers} == {
        ("alice", len(reviewed["alice"])),
        ("bob", len(reviewed["bob"])),
    }
    listed = await asyncio.to_thread(scorekeeper, stack, "--project", ids.project_id, "reviews", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (shown,) = json.loads(listed.stdout)
    assert (shown["name"], shown["reviewed"], shown["to_review"]) == ("helpfulness", due, 0)


async def test_a_lapsed_lease_returns_the_item_and_skip_and_back_work(
    client: Client, sdk: AsyncScorekeeper, stack: Stack
) -> None:
    world = await awaiting_reviews(client, stack, "review leases", RECORDS)
    ids, metric, run_id = world.ids, world.metric_id, world.run_id
    first = await sdk.next_review_item(metric, "carol", run_id=run_id, lease_s=1, with_record=False)
    assert first is not None
    # While carol holds it, dave gets another item; once her lease lapses, dave gets hers (the oldest).
    other = await sdk.next_review_item(metric, "dave", run_id=run_id, with_record=False)
    assert other is not None and other.record_id != first.record_id
    await sdk.skip_review_item(other.record_id, metric, "dave")
    await asyncio.sleep(1.5)
    taken = await sdk.next_review_item(metric, "dave", run_id=run_id, with_record=False)
    assert taken is not None and taken.record_id == first.record_id and taken.yours
    with pytest.raises(FailedPrecondition, match="dave is reviewing record"):
        await sdk.submit_review(first.record_id, metric, 2, reviewer="carol")

    # Skip: the skipped item comes last in dave's queue, and first in erin's (it is the oldest free).
    await sdk.skip_review_item(taken.record_id, metric, "dave")
    following = await sdk.next_review_item(metric, "dave", run_id=run_id, with_record=False)
    assert following is not None and following.record_id not in (first.record_id, other.record_id)
    erin = await sdk.next_review_item(metric, "erin", run_id=run_id, with_record=False)
    assert erin is not None and erin.record_id == first.record_id
    with pytest.raises(FailedPrecondition, match="erin is reviewing record"):
        await sdk.skip_review_item(first.record_id, metric, "dave")

    # Back: dave reviews, goes back to it, and changes his verdict.
    await sdk.submit_review(following.record_id, metric, 2, reviewer="dave", comment="first look")
    await _until_scored(sdk, following.record_id, metric)
    back = await sdk.previous_review_item(metric, "dave", run_id=run_id)
    assert back is not None and back.record_id == following.record_id
    assert (back.status, back.value, back.reviewed_by, back.comment) == ("completed", 2, "dave", "first look")
    assert back.yours
    # Further back: the item he skipped, which erin holds now (read only), then his first skip.
    earlier = await sdk.previous_review_item(metric, "dave", record_id=back.record_id, run_id=run_id)
    assert earlier is not None and earlier.record_id == first.record_id and not earlier.yours
    assert earlier.held_by == "erin"
    earliest = await sdk.previous_review_item(metric, "dave", record_id=earlier.record_id, run_id=run_id)
    assert earliest is not None and earliest.record_id == other.record_id and earliest.yours
    assert await sdk.previous_review_item(metric, "dave", record_id=other.record_id, run_id=run_id) is None
    await sdk.submit_review(following.record_id, metric, 5, reviewer="dave", comment="second look")
    for _ in range(100):
        score = next(s for s in (await sdk.get_record(following.record_id)).scores if s.metric_id == metric)
        if score.value == 5:
            break
        await asyncio.sleep(0.1)
    assert (score.value, score.comment) == (5, "second look")
    (queue,) = await sdk.review_queues(ids.project_id, metric)
    people = {r.reviewer: r for r in queue.reviewers}
    assert people["dave"].reviewed == 1 and people["erin"].holding_record_id == first.record_id
    assert people["dave"].skipped == 2 and queue.in_review == 2  # erin's and dave's held items
    errored = [r async for r in client.records(run_id) if r.status == "errored"]
    assert queue.to_review == RECORDS - len(errored) - 1


async def test_bad_requests_are_refused_clearly(client: Client, sdk: AsyncScorekeeper, stack: Stack) -> None:
    world = await awaiting_reviews(client, stack, "review refusals", RECORDS)
    ids, metric, run_id = world.ids, world.metric_id, world.run_id
    with pytest.raises(InvalidArgument, match="is heuristic, not human: it has no review queue"):
        await sdk.next_review_item(ids.metric_ids[0], "alice")
    with pytest.raises(InvalidArgument, match="reviewer is required"):
        await sdk.next_review_item(metric, "   ")
    with pytest.raises(InvalidArgument, match=r"lease_seconds must be within 1\.\.3600"):
        await sdk.next_review_item(metric, "alice", lease_s=99999)
    item = await sdk.next_review_item(metric, "alice", run_id=run_id, with_record=False)
    assert item is not None
    with pytest.raises(InvalidArgument, match=r"value must be a whole number within 1\.\.5"):
        await sdk.submit_review(item.record_id, metric, 9, reviewer="alice")
    async with stack.http(stack.orchestrator_http) as http:
        answer = await http.post(f"/v1/metrics/{metric}/review-queue:next", json={"reviewer": "x" * 201})
        assert answer.status_code == 400 and "at most 200 characters" in answer.json()["error"]["message"]
        submit = f"/v1/records/{item.record_id}/reviews/{metric}:submit"
        taken = await http.post(submit, json={"reviewer": "bob", "value": 3})
        assert taken.status_code == 409 and "alice is reviewing" in taken.json()["error"]["message"]
    async with stack.http(stack.query_http) as http:
        queues = (await http.get(f"/v1/projects/{ids.project_id}/review-queues")).json()["queues"]
        assert [q["name"] for q in queues] == ["helpfulness"] and queues[0]["in_review"] == 1
