"""Runs of part of a testset on the real processes: by metadata, a seeded sample, named testcases —
executed by the executor (an http system) and client-side (run_and_evaluate), with exact counts,
the same sample for the same seed, and every malformed choice refused before a run exists."""

from __future__ import annotations

import re
import uuid

import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, NotFound, RecordIn
from scorekeeper_sdk.evaluate import run_and_evaluate
from shared.devstack import scenario
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 24


async def _chosen(sdk: AsyncScorekeeper, testset_id: str, run_id: str) -> list[str]:
    return [t.id async for t in sdk.list_testcases(testset_id, run_id=run_id)]


async def test_runs_of_part_of_a_testset(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"part {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "part", "write")).secret
    async with stack.sdk(key) as sdk:
        every = [t async for t in sdk.list_testcases(ids.testset_id)]
        geography = {t.id for t in every if t.metadata["category"] == "geography"}
        assert 0 < len(geography) < TESTCASES

        # By metadata, executed by the executor: exactly those testcases, once each.
        run = await sdk.create_run(
            ids.project_id,
            ids.testset_id,
            ids.system_version_id,
            ids.metric_ids,
            metadata_filter={"category": "geography"},
        )
        assert run.expected_records == len(geography)
        done = await sdk.wait_for_run(run.id, timeout_s=60)
        assert done.status == "completed" and done.records == len(geography)
        assert {r.testcase_id async for r in sdk.list_records(run.id)} == geography
        assert done.subset == {
            "testcases": len(geography),
            "of": TESTCASES,
            "metadata_filter": {"category": "geography"},
        }
        assert set(await _chosen(sdk, ids.testset_id, run.id)) == geography

        # A seeded sample: the same testcases for the same seed, with trials.
        draws = [
            await sdk.create_run(
                ids.project_id,
                ids.testset_id,
                ids.system_version_id,
                ids.metric_ids,
                sample=5,
                sample_seed=seed,
                trials=2,
            )
            for seed in (3, 3, 4)
        ]
        assert [d.expected_records for d in draws] == [10, 10, 10]
        chosen = [await _chosen(sdk, ids.testset_id, d.id) for d in draws]
        assert len(chosen[0]) == 5 and chosen[0] == chosen[1] and chosen[2] != chosen[0]
        for d, picked in zip(draws, chosen, strict=True):
            finished = await sdk.wait_for_run(d.id, timeout_s=60)
            assert finished.status == "completed" and finished.records == 10
            assert {r.testcase_id async for r in sdk.list_records(d.id)} == set(picked)
        # A sample of one category; named testcases.
        mixed = await sdk.create_run(
            ids.project_id,
            ids.testset_id,
            ids.system_version_id,
            metadata_filter={"category": ["arithmetic"]},
            sample=3,
        )
        assert mixed.expected_records == 3
        assert not set(await _chosen(sdk, ids.testset_id, mixed.id)) & geography
        named = await sdk.create_run(
            ids.project_id, ids.testset_id, ids.system_version_id, testcase_ids=[every[0].id, every[5].id]
        )
        assert named.expected_records == 2
        assert await _chosen(sdk, ids.testset_id, named.id) == [every[0].id, every[5].id]

        # Refused before any run exists.
        before = len([r async for r in sdk.list_runs(ids.project_id)])
        stranger = str(uuid.uuid4())
        for kwargs, message in [
            (
                {"testcase_ids": [stranger]},
                f"testcase_ids: testcase {stranger} is not in version 1 of testset 'questions'",
            ),
            ({"testcase_ids": [every[0].id, every[0].id]}, f"testcase_ids names testcase {every[0].id} twice"),
            ({"sample": -1}, "sample must be 0 (every testcase) or more, got -1"),
            ({"metadata_filter": {"category": {"a": 1}}}, "metadata_filter.category: give a value"),
            ({"metadata_filter": {"category": []}}, "metadata_filter.category: give a value"),
            (
                {"metadata_filter": {"category": "astronomy"}},
                "no testcase of version 1 of testset 'questions' has the metadata_filter's values",
            ),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, **kwargs)  # type: ignore[arg-type]
        assert len([r async for r in sdk.list_runs(ids.project_id)]) == before

        # Client-side (run_and_evaluate): the SDK calls only the chosen testcases.
        called: list[str] = []

        def echo(inputs: dict[str, object]) -> str:
            called.append(str(inputs["question"]))
            return "42"

        evaluation = await run_and_evaluate(
            sdk,
            system=echo,
            project_id=ids.project_id,
            testset_id=ids.testset_id,
            metric_ids=ids.metric_ids,
            sample=4,
            sample_seed=9,
            progress=False,
            wait=True,
        )
        assert evaluation.status == "completed" and evaluation.uploaded == 4 and len(called) == 4
        sampled = set(await _chosen(sdk, ids.testset_id, evaluation.id))
        questions = {t.id: t.inputs["question"] for t in every}
        assert {questions[t] for t in sampled} == set(called)
        # A record of a testcase the run did not choose is refused.
        other = next(t.id for t in every if t.id not in sampled)
        with pytest.raises(InvalidArgument, match="is not among the testcases the run chose"):
            await sdk.ingest_records(evaluation.id, [RecordIn(other, outputs={"response": "x"})])
        elsewhere = await sdk.create_testset(ids.project_id, "elsewhere", [{"question": "?"}], inputs=["question"])
        with pytest.raises(InvalidArgument, match=f"run {evaluation.id} is not a run of testset {elsewhere.id}"):
            await _chosen(sdk, elsewhere.id, evaluation.id)


async def test_a_run_again_on_the_same_testcases_as_an_earlier_one(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"again {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "again", "write")).secret
    async with stack.sdk(key) as sdk:
        every = [t.id async for t in sdk.list_testcases(ids.testset_id)]
        args = (ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])
        named = await sdk.create_run(*args, testcase_ids=[every[2], every[7], every[11]])
        again = await sdk.create_run(*args, same_testcases_as_run_id=named.id)
        assert again.expected_records == 3
        assert await _chosen(sdk, ids.testset_id, again.id) == [every[2], every[7], every[11]]
        assert again.subset == {"testcases": 3, "of": TESTCASES, "same_as_run": named.id}
        # On top of it, a sample of them.
        fewer = await sdk.create_run(*args, same_testcases_as_run_id=named.id, sample=2, sample_seed=1)
        assert fewer.expected_records == 2 and set(await _chosen(sdk, ids.testset_id, fewer.id)) < {
            every[2],
            every[7],
            every[11],
        }
        # A testcase deleted since is left out, and said so.
        await sdk.delete_testcases(ids.testset_id, [every[7]])
        later = await sdk.create_run(*args, same_testcases_as_run_id=named.id)
        assert await _chosen(sdk, ids.testset_id, later.id) == [every[2], every[11]]
        assert later.subset == {"testcases": 2, "of": TESTCASES - 1, "same_as_run": named.id, "left_out": 1}
        # A run of the whole testset: the whole testset again.
        whole = await sdk.create_run(*args)
        assert (await sdk.create_run(*args, same_testcases_as_run_id=whole.id)).subset == {}
        # Refused before any run exists.
        elsewhere = await sdk.create_testset(
            ids.project_id, "elsewhere", [{"question": "?", "answer": "!"}], inputs=["question"], expected=["answer"]
        )
        before = len([r async for r in sdk.list_runs(ids.project_id)])
        with pytest.raises(InvalidArgument, match="give testcase_ids or same_testcases_as_run_id, not both"):
            await sdk.create_run(*args, testcase_ids=[every[2]], same_testcases_as_run_id=named.id)
        with pytest.raises(
            InvalidArgument, match=f"same_testcases_as_run_id: run {named.id} is of another testset than 'elsewhere'"
        ):
            await sdk.create_run(ids.project_id, elsewhere.id, *args[2:], same_testcases_as_run_id=named.id)
        unknown = str(uuid.uuid4())
        with pytest.raises(NotFound, match=f"run {unknown} does not exist"):
            await sdk.create_run(*args, same_testcases_as_run_id=unknown)
        await sdk.delete_testcases(ids.testset_id, [every[2], every[11]])
        with pytest.raises(
            InvalidArgument,
            match=re.escape(f"same_testcases_as_run_id: none of the 3 testcases of run {named.id} is in version"),
        ):
            await sdk.create_run(*args, same_testcases_as_run_id=named.id)
        assert len([r async for r in sdk.list_runs(ids.project_id)]) == before
