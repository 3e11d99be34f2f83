"""A run of part of its testset version: the testcases CreateRun's testcase_ids (or those of an
earlier run), metadata_filter and sample choose, resolved once at kickoff and stored on the run
(run_subsets), so the executor, a resume, a retry and the SDK's client-side runs all execute the
same ones."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from scorekeeper.v1 import runs_pb2 as pb

from services.run_orchestrator.testsets.repository import TestsetRepository
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import invalid, not_found

MAX_IDS = 100_000
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SubsetRequest:
    testcase_ids: list[uuid.UUID] = field(default_factory=list)
    # key → the values any of which the testcase's metadata may have
    metadata_filter: dict[str, list[Any]] = field(default_factory=dict)
    sample: int = 0
    sample_seed: int = 0
    # the testcases an earlier run of the testset executed
    same_as_run: uuid.UUID | None = None

    @property
    def whole(self) -> bool:
        return not (self.testcase_ids or self.metadata_filter or self.sample or self.same_as_run)


@dataclass(frozen=True)
class Subset:
    testcase_ids: list[uuid.UUID] | None  # None: every testcase of the version
    description: dict[str, Any] | None


def parse(request: pb.CreateRunRequest) -> SubsetRequest:
    """The request's choice of testcases; INVALID_ARGUMENT naming what is malformed."""
    if len(request.testcase_ids) > MAX_IDS:
        raise invalid(f"testcase_ids names {len(request.testcase_ids)} testcases; at most {MAX_IDS:,}")
    ids = [parse_uuid(t, "testcase_ids") for t in request.testcase_ids]
    if len(set(ids)) != len(ids):
        twice = next(t for i, t in enumerate(ids) if t in ids[:i])
        raise invalid(f"testcase_ids names testcase {twice} twice")
    wanted: dict[str, list[Any]] = {}
    for key, value in struct_to_dict(request.metadata_filter).items():
        values = value if isinstance(value, list) else [value]
        if not key or not values or not all(isinstance(v, _SCALARS) for v in values):
            raise invalid(f"metadata_filter.{key}: give a value, or a non-empty list of values, to match")
        wanted[key] = values
    if request.sample < 0:
        raise invalid(f"sample must be 0 (every testcase) or more, got {request.sample}")
    same_as = request.same_testcases_as_run_id
    if same_as and ids:
        raise invalid("give testcase_ids or same_testcases_as_run_id, not both")
    same_as_run = parse_uuid(same_as, "same_testcases_as_run_id") if same_as else None
    return SubsetRequest(ids, wanted, request.sample, request.sample_seed, same_as_run)


async def _same_as(
    testsets: TestsetRepository, testset: asyncpg.Record, run_id: uuid.UUID
) -> tuple[list[uuid.UUID] | None, dict[str, Any]]:
    """The testcases of the version that the earlier run executed (None: it ran the whole
    testset), and how the run describes them."""
    prior, chosen = await testsets.chosen_by_run(run_id)
    if prior is None or prior["project_id"] != testset["project_id"]:
        raise not_found(f"run {run_id} does not exist in project {testset['project_id']}")
    if prior["testset_id"] != testset["id"]:
        raise invalid(f"same_testcases_as_run_id: run {run_id} is of another testset than {testset['name']!r}")
    if not prior["chose"]:
        return None, {}
    version = testset["version"]
    still = await testsets.subset(testset["id"], version, chosen, {}, 0, 0)
    if not still:
        raise invalid(
            f"same_testcases_as_run_id: none of the {len(chosen)} testcases of run {run_id} is in version"
            f" {version} of testset {testset['name']!r}"
        )
    described: dict[str, Any] = {"same_as_run": str(run_id)}
    if len(still) < len(chosen):
        described["left_out"] = len(chosen) - len(still)  # no longer in the testset
    return still, described


async def choose(testsets: TestsetRepository, testset: asyncpg.Record, spec: SubsetRequest) -> Subset:
    """The testcases of the testset's version (``testset`` as get_testset answers) the request
    chooses; INVALID_ARGUMENT for an id not in that version, or a choice of none."""
    if spec.whole:
        return Subset(None, None)
    version, name = testset["version"], testset["name"]
    named: list[uuid.UUID] = []
    described: dict[str, Any] = {}
    if spec.same_as_run is not None:
        same, described = await _same_as(testsets, testset, spec.same_as_run)
        if same is None and not spec.metadata_filter and not spec.sample:
            return Subset(None, None)  # it ran the whole testset: the whole testset again
        named = same or []
    elif spec.testcase_ids:
        named = await testsets.subset(testset["id"], version, spec.testcase_ids, {}, 0, 0)
        known = set(named)
        unknown = next((t for t in spec.testcase_ids if t not in known), None)
        if unknown is not None:
            raise invalid(f"testcase_ids: testcase {unknown} is not in version {version} of testset {name!r}")
    if named and not spec.metadata_filter and not spec.sample:
        ids = named  # the names alone chose them
    else:
        ids = await testsets.subset(
            testset["id"], version, named or None, spec.metadata_filter, spec.sample, spec.sample_seed
        )
    if not ids:
        raise invalid(f"no testcase of version {version} of testset {name!r} has the metadata_filter's values")
    description: dict[str, Any] = {"testcases": len(ids), "of": testset["testcase_count"], **described}
    if spec.testcase_ids:
        description["testcase_ids"] = len(spec.testcase_ids)
    if spec.metadata_filter:
        description["metadata_filter"] = {k: v[0] if len(v) == 1 else v for k, v in spec.metadata_filter.items()}
    if spec.sample:
        description.update(sample=spec.sample, sample_seed=spec.sample_seed)
    return Subset(ids, description)
