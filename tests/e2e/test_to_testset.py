"""What production did, kept as testcases (AddTestcasesFrom), on the real processes: the calls
users disliked, or a run's records, become testcases of a testset's next version, each once, the
testset's own left out; outputs kept as expected values; from the SDK, the CLI and HTTP; bad
requests refused whole; another project's calls and records out of reach."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, FeedbackIn, InvalidArgument, NotFound
from scorekeeper_sdk.api.monitors import CallIn
from scorekeeper_sdk.evaluate import arun_and_evaluate
from shared.devstack.stack import Stack
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


# A testset's first testcase (a testset is made with one at least).
SEED = {"question": "seed"}


async def _calls(sk: AsyncScorekeeper) -> str:
    """A project whose users gave thumbs on five logged calls: k-0 up, k-1..k-4 down (k-4 errored,
    k-3 the same question as k-1); its id."""
    project = await sk.create_project(f"curated {uuid.uuid4().hex[:6]}")
    await sk.create_metric(project.id, "thumbs", eval_type="human")
    questions = ["q0", "q1", "q2", "q1", "q4"]
    for n, question in enumerate(questions):
        call = CallIn(
            call_id=f"k-{n}",
            inputs={"question": question},
            outputs={"response": f"a{n}"},
            metadata={"route": "orders"},
            status="errored" if n == 4 else "completed",
            error="timeout" if n == 4 else "",
        )
        await sk.log_calls(project.id, [call])
    await sk.send_feedback_batch([FeedbackIn(f"k-{n}", "thumbs", n == 0) for n in range(5)], project_id=project.id)
    return project.id


async def _data(sk: AsyncScorekeeper, testset_id: str) -> list[dict[str, Any]]:
    return [t.data async for t in sk.list_testcases(testset_id)]


async def test_the_calls_users_disliked_become_testcases_once(sk: AsyncScorekeeper) -> None:
    project_id = await _calls(sk)
    testset = await sk.create_testset(
        project_id, "regressions", [{"question": "q2", "route": "orders"}], inputs=["question"], expected=["answer"]
    )
    done = await sk.add_calls_to_testset(project_id, testset.id, feedback=["thumbs=failed"])
    # k-1 and k-4 are new; k-2 is held already; k-3 repeats k-1 (the same fields).
    assert (done.added, done.already, done.no_output, done.testset.version) == (2, 2, 0, 2)
    assert len(done.testcase_ids) == 2
    assert sorted(d["question"] for d in await _data(sk, testset.id)) == ["q1", "q2", "q4"]
    # Again: nothing new, no new version.
    again = await sk.add_calls_to_testset(project_id, testset.id, feedback=["thumbs=failed"])
    assert (again.added, again.already, again.testcase_ids, again.testset.version) == (0, 4, [], 2)

    # Outputs as the expected value: the errored call has none.
    answers = await sk.create_testset(project_id, "answers", [SEED], inputs=["question"], expected=["answer"])
    kept = await sk.add_to_testset(answers.id, call_ids=["k-0", "k-4", "k-1"], output_as_expected=True)
    assert (kept.added, kept.already, kept.no_output, kept.testset.version) == (2, 0, 1, 2)
    assert await _data(sk, answers.id) == [
        SEED,
        {"route": "orders", "question": "q0", "answer": "a0"},
        {"route": "orders", "question": "q1", "answer": "a1"},
    ]


async def test_a_run_s_records_become_testcases_with_their_expected_values(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project(f"records kept {uuid.uuid4().hex[:6]}")
    rows = [{"n": n, "answer": str(n + 1)} for n in range(4)]
    source = await sk.create_testset(project.id, "numbers", rows, inputs=["n"], expected=["answer"])
    exact = await sk.create_heuristic_metric(project.id, "exact", "exact_match", {"expected_field": "answer"})
    evaluation = await arun_and_evaluate(
        sk,
        system=lambda inputs: str(int(inputs["n"]) + (1 if int(inputs["n"]) % 2 else 2)),
        project_id=project.id,
        testset_id=source.id,
        metric_ids=[exact.id],
        wait=True,
        progress=False,
    )
    failed = [r.id async for r in sk.list_records(evaluation.run.id) if any(s.passed is False for s in r.scores)]
    assert len(failed) == 2  # n = 0, 2
    hard = await sk.create_testset(
        project.id, "hard ones", [{"n": 99, "answer": "100"}], inputs=["n"], expected=["answer"]
    )
    done = await sk.add_to_testset(hard.id, record_ids=failed)
    assert (done.added, done.already) == (2, 0)
    assert sorted(await _data(sk, hard.id), key=lambda d: d["n"]) == [
        {"n": 0, "answer": "1"},
        {"n": 2, "answer": "3"},
        {"n": 99, "answer": "100"},
    ]
    # The CLI: the records a score condition matches (those two again, and the two that passed).
    cli = ("--project", project.id, "records", "to-testset", "hard ones")
    failing = scorekeeper(stack, *cli, "--run", evaluation.run.id, "--where", "exact:failed")
    assert failing.returncode == 0, failing.stderr
    assert failing.stdout.strip() == "0 testcases added to 'hard ones' (no new version); 2 already held"
    passing = scorekeeper(stack, *cli, "--where", "exact:passed", "--output-as-expected")
    assert passing.returncode == 0, passing.stderr
    assert passing.stdout.strip() == "2 testcases added to 'hard ones', now version 3"
    assert {d["n"]: d["answer"] for d in await _data(sk, hard.id)} == {99: "100", 0: "1", 2: "3", 1: "2", 3: "4"}
    one = scorekeeper(stack, *cli, "--record", failed[0], "--search", "x")
    assert one.returncode == 2 and "give --record or filters, not both" in one.stderr


async def test_bad_requests_are_refused_whole_and_other_projects_are_out_of_reach(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project_id = await _calls(sk)
    other_id = await _calls(sk)
    testset = await sk.create_testset(project_id, "pairs", [SEED], inputs=["question"], expected=["answer", "why"])
    plain = await sk.create_testset(project_id, "plain", [SEED], inputs=["question"])
    theirs = await sk.create_testset(other_id, "theirs", [SEED], inputs=["question"])

    async def refused(kind: type[Exception], message: str, testset_id: str = plain.id, **given: Any) -> None:
        with pytest.raises(kind) as raised:
            await sk.add_to_testset(testset_id, **given)
        assert message in str(raised.value), str(raised.value)

    await refused(InvalidArgument, "give the call_ids or the record_ids to make testcases of")
    await refused(
        InvalidArgument, "give call_ids or record_ids, not both", call_ids=["k-0"], record_ids=[str(uuid.uuid4())]
    )
    await refused(InvalidArgument, "at most 10,000 calls or records per request, got 10,001", call_ids=["k-0"] * 10_001)
    await refused(
        InvalidArgument,
        "'pairs' has 2 expected fields (answer, why): the output can stand for one only",
        testset.id,
        call_ids=["k-0"],
        output_as_expected=True,
    )
    await refused(NotFound, "call 'k-9' was never logged in this testset's project", call_ids=["k-0", "k-9"])
    await refused(NotFound, f"record {(missing := str(uuid.uuid4()))} does not exist", record_ids=[missing])
    # An empty or malformed record id is refused by name (it was an internal error).
    await refused(InvalidArgument, "record_ids[0] is required", record_ids=[""])
    await refused(InvalidArgument, "record_ids[1] 'r-1' is not a valid id", record_ids=[missing, "r-1"])
    assert (await sk.get_testset(plain.id)).version == 1  # nothing was added
    # A write key of the project reaches neither another project's testset nor its calls.
    key = (await sk.create_api_key(project_id, "curator", "write")).secret
    async with stack.sdk(key) as curator:
        with pytest.raises(NotFound, match=f"testset {theirs.id} does not exist"):
            await curator.add_to_testset(theirs.id, call_ids=["k-0"])
        # k-0 exists in both projects: the project's own is the one added.
        done = await curator.add_to_testset(plain.id, call_ids=["k-0"])
        assert done.added == 1 and await _data(sk, plain.id) == [SEED, {"question": "q0", "route": "orders"}]
    # Over HTTP JSON.
    async with stack.http(stack.orchestrator_http, key) as http:
        answer = await http.post(f"/v1/testsets/{plain.id}:addFrom", json={"call_ids": ["k-1", "k-0"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["added"], body["already"], body["testset"]["version"]) == (1, 1, 3)


async def test_the_cli_adds_the_calls_a_filter_matches(stack: Stack, sk: AsyncScorekeeper) -> None:
    project_id = await _calls(sk)
    await sk.create_testset(project_id, "from prod", [SEED], inputs=["question"], expected=["answer"])
    cli = ("--project", project_id, "calls", "to-testset", "from prod")
    added = scorekeeper(stack, *cli, "--feedback", "thumbs=failed", "--status", "completed", "--since", "1h")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "2 testcases added to 'from prod', now version 2; 1 already held"
    one = scorekeeper(stack, *cli, "--call", "k-0", "--output-as-expected")
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "1 testcases added to 'from prod', now version 3"
    none = scorekeeper(stack, *cli, "--search", "nothing-like-this")
    assert none.returncode == 2 and "no call matches these filters: nothing to add" in none.stderr
    both = scorekeeper(stack, *cli, "--call", "k-0", "--status", "errored")
    assert both.returncode == 2 and "give --call or filters, not both" in both.stderr
    errored = scorekeeper(stack, *cli, "--call", "k-4", "--output-as-expected")
    assert errored.returncode == 0, errored.stderr
    assert (
        errored.stdout.strip() == "0 testcases added to 'from prod' (no new version); 1 errored, with no output to keep"
    )
