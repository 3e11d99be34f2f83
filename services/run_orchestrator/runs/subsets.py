"""A run of part of its testset version: the testcases CreateRun's testcase_ids, metadata_filter
and sample choose, resolved once at kickoff and stored on the run (runs.testcase_ids), so the
executor, a resume, a retry and the SDK's client-side runs all execute the same ones."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from scorekeeper.v1 import runs_pb2 as pb

from services.run_orchestrator.testsets.repository import TestsetRepository
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import invalid

MAX_IDS = 100_000
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SubsetRequest:
    testcase_ids: list[uuid.UUID] = field(default_factory=list)
    # key → the values any of which the testcase's metadata may have
    metadata_filter: dict[str, list[Any]] = field(default_factory=dict)
    sample: int = 0
    sample_seed: int = 0

    @property
    def whole(self) -> bool:
        return not (self.testcase_ids or self.metadata_filter or self.sample)


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
    return SubsetRequest(ids, wanted, request.sample, request.sample_seed)


async def choose(testsets: TestsetRepository, testset: asyncpg.Record, spec: SubsetRequest) -> Subset:
    """The testcases of the testset's version (``testset`` as get_testset answers) the request
    chooses; INVALID_ARGUMENT for an id not in that version, or a choice of none."""
    if spec.whole:
        return Subset(None, None)
    version, name = testset["version"], testset["name"]
    named: list[uuid.UUID] = []
    if spec.testcase_ids:
        named = await testsets.subset(testset["id"], version, spec.testcase_ids, {}, 0, 0)
        known = set(named)
        unknown = next((t for t in spec.testcase_ids if t not in known), None)
        if unknown is not None:
            raise invalid(f"testcase_ids: testcase {unknown} is not in version {version} of testset {name!r}")
    if named and not spec.metadata_filter and not spec.sample:
        ids = named  # the names alone chose them
    else:
        ids = await testsets.subset(
            testset["id"], version, spec.testcase_ids or None, spec.metadata_filter, spec.sample, spec.sample_seed
        )
    if not ids:
        raise invalid(f"no testcase of version {version} of testset {name!r} has the metadata_filter's values")
    description: dict[str, Any] = {"testcases": len(ids), "of": testset["testcase_count"]}
    if spec.testcase_ids:
        description["testcase_ids"] = len(spec.testcase_ids)
    if spec.metadata_filter:
        description["metadata_filter"] = {k: v[0] if len(v) == 1 else v for k, v in spec.metadata_filter.items()}
    if spec.sample:
        description.update(sample=spec.sample, sample_seed=spec.sample_seed)
    return Subset(ids, description)
