"""The playground (PlaygroundService): try a prompt on a few cases now, read and list tries.

A try's records and scores are its run's, read from the query service like any run's."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from scorekeeper.v1 import playground_pb2 as ppb

from scorekeeper_sdk.api.reads import ReadOperations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.views import PlaygroundTry

PLAYGROUND = "PlaygroundService"


def _case(case: Mapping[str, Any]) -> ppb.TryCaseInput:
    """A typed case: ``{"inputs": {...}, "expected": {...}, "metadata": {...}}`` (only inputs needed)."""
    unknown = set(case) - {"inputs", "expected", "metadata"}
    if unknown:
        raise ValueError(f"a typed case holds inputs, expected and metadata; not {', '.join(sorted(unknown))}")
    return ppb.TryCaseInput(
        inputs=struct(case.get("inputs")), expected=struct(case.get("expected")), metadata=struct(case.get("metadata"))
    )


class PlaygroundOperations(ReadOperations):
    """Playground tries: a prompt on at most 20 cases, scored as it goes; never in run lists."""

    async def try_prompt(
        self,
        project_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        system_version_id: str = "",
        testset_id: str = "",
        testcase_ids: Sequence[str] = (),
        cases: Sequence[Mapping[str, Any]] = (),
        metric_ids: Sequence[str] = (),
        metric_group_id: str = "",
        wait: bool = True,
        timeout_s: float | None = 120.0,
    ) -> PlaygroundTry:
        """Runs a prompt — an llm system version's, or ``config`` ({model, messages, temperature …})
        — on testcases of a testset and / or typed ``cases`` (at most 20 in all), scored with the metrics. With
        ``wait`` it returns once every output is in and scored, with ``.run`` and ``.records``."""
        request = ppb.CreateTryRequest(
            project_id=project_id,
            system_version_id=system_version_id,
            testset_id=testset_id,
            testcase_ids=list(testcase_ids),
            cases=[_case(c) for c in cases],
            metric_ids=list(metric_ids),
            metric_group_id=metric_group_id,
        )
        if config is not None:
            request.config.CopyFrom(struct(dict(config)))
        created = await self._unary(PLAYGROUND, "CreateTry", request, ppb.Try, creates=True)
        if not wait:
            return from_proto(PlaygroundTry, created)
        await self.wait_for_run(created.run_id, timeout_s)
        return await self.get_try(created.id)

    async def get_try(self, try_id: str, *, results: bool = True) -> PlaygroundTry:
        """The try; with ``results`` its run and records (outputs, errors, scores) in case order."""
        found = from_proto(
            PlaygroundTry, await self._unary(PLAYGROUND, "GetTry", ppb.GetTryRequest(try_id=try_id), ppb.Try)
        )
        if not results:
            return found
        run = await self.get_run(found.run_id)
        order = {c.testcase_id: n for n, c in enumerate(found.cases)}
        records = sorted(
            [r async for r in self.list_records(found.run_id)], key=lambda r: (order.get(r.testcase_id, 0), r.trial)
        )
        return dataclasses.replace(found, status=run.status, run=run, records=records)

    async def list_tries(self, project_id: str, *, page_size: int = 50) -> AsyncIterator[PlaygroundTry]:
        """The project's tries, newest first (without their results: ``get_try`` reads those)."""
        request = ppb.ListTriesRequest(project_id=project_id, page_size=page_size)
        async for found in self._pages(PLAYGROUND, "ListTries", request, ppb.ListTriesResponse, lambda p: p.tries):
            yield from_proto(PlaygroundTry, found)
