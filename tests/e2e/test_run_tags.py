"""Run tags on the real processes: set at kickoff, added and removed, filtering run lists and the
run history; malformed tags, a tag both added and removed, too many, a read key and another
project's key are refused."""

from __future__ import annotations

import re
import uuid

import pytest

from scorekeeper_sdk import InvalidArgument, NotFound
from shared.devstack import scenario
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


async def test_tags_label_runs_and_filter_lists_and_history(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, 4, name=f"tags {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "tagger", "write")).secret
    async with stack.sdk(key) as sdk:

        async def kickoff(*tags: str) -> str:
            run = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, tags=tags)
            await sdk.wait_for_run(run.id, timeout_s=60)
            return run.id

        nightly = await kickoff("nightly", "main")
        branch = await kickoff("feature-x")
        untagged = await kickoff()
        assert (await sdk.get_run(nightly)).tags == ["nightly", "main"]

        async def listed(*tags: str) -> list[str]:
            return [r.id async for r in sdk.list_runs(ids.project_id, tags=tags)]

        assert await listed() == [untagged, branch, nightly]
        assert await listed("nightly") == [nightly]
        assert await listed("nightly", "feature-x") == []
        (series, *_) = await sdk.run_history(ids.project_id, [ids.metric_ids[0]], tags=["nightly"])
        assert [p.run_id for p in series.points] == [nightly]

        tagged = await sdk.update_run_tags(untagged, add=["nightly", "main", "nightly"])
        assert tagged.tags == ["nightly", "main"]
        assert await listed("nightly", "main") == [untagged, nightly]
        assert (await sdk.update_run_tags(nightly, remove=["nightly", "absent"])).tags == ["main"]
        assert await listed("nightly") == [untagged]

        for add, remove, message in [
            ([" "], [], "tags must be 1..100 characters, got ' '"),
            (["x" * 101], [], "tags must be 1..100 characters"),
            (["a"], ["a"], "tag 'a' is both added and removed"),
            ([f"t{n}" for n in range(20)], [], "a run has at most 20 tags, this would make 21"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await sdk.update_run_tags(branch, add=add, remove=remove)
        with pytest.raises(InvalidArgument, match=re.escape("tags must be 1..100 characters")):
            await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, tags=[""])
        assert (await sdk.get_run(branch)).tags == ["feature-x"]
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.update_run_tags(str(uuid.uuid4()), add=["x"])

    # Over HTTP; a read key is refused; another project's key finds nothing.
    async with stack.http(stack.orchestrator_http, key, timeout=30) as http:
        answered = await http.patch(f"/v1/runs/{branch}/tags", json={"add": ["http"]})
        assert answered.status_code == 200 and answered.json()["tags"] == ["feature-x", "http"], answered.text
    async with stack.http(stack.query_http, key, timeout=30) as http:
        found = await http.get(f"/v1/projects/{ids.project_id}/runs", params={"tags": ["http"]})
        assert [r["id"] for r in found.json()["runs"]] == [branch]
    async with stack.client() as admin:
        reader = (await admin.create_api_key(ids.project_id, "reader", "read")).secret
        other = await admin.create_project(f"tags other {uuid.uuid4().hex[:6]}", "")
        stranger = (await admin.create_api_key(other.id, "stranger", "write")).secret
    async with stack.http(stack.orchestrator_http, reader, timeout=30) as http:
        refused = await http.patch(f"/v1/runs/{branch}/tags", json={"add": ["nope"]})
    assert refused.status_code == 403 and "this key has the read role" in refused.json()["error"]["message"]
    async with stack.http(stack.orchestrator_http, stranger, timeout=30) as http:
        hidden = await http.patch(f"/v1/runs/{branch}/tags", json={"add": ["nope"]})
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "NOT_FOUND")
