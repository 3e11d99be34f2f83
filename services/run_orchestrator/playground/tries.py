"""Trying a prompt: the prompt and cases checked, then a run of its own (source playground,
flagged as a try) over a scratch testset of the cases, handed to the executor like any run.

Everything is checked before anything is written; the scratch testset, the run and the try are
written in one transaction, so a refused or failed try leaves nothing behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.run_orchestrator.catalog import rules as catalog_rules
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.playground import rules
from services.run_orchestrator.playground.repository import TryRepository
from services.run_orchestrator.playground.rules import Case
from services.run_orchestrator.runs.authors import author_of
from services.run_orchestrator.runs.kickoff import Kickoff
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.testsets.repository import TestsetRepository
from shared.auth.access import Principal
from shared.db.pool import transaction
from shared.edge.errors import invalid, not_found
from shared.edge.validation import checked
from shared.outbound.secrets import SecretEnvPolicy
from shared.run_status import RunSource
from shared.scoring.eval_types import refuse_client_scored


@dataclass(frozen=True)
class TryRequest:
    project_id: uuid.UUID
    # The llm system version tried (or, with a config, where the prompt came from).
    system_version_id: uuid.UUID | None = None
    # An llm system config, as given (validated here).
    config: dict[str, Any] | None = None
    testset_id: uuid.UUID | None = None
    testcase_ids: list[uuid.UUID] = field(default_factory=list)
    typed: list[Case] = field(default_factory=list)
    metric_ids: list[uuid.UUID] = field(default_factory=list)
    metric_group_id: uuid.UUID | None = None


class Tries:
    def __init__(
        self,
        pool: asyncpg.Pool,
        catalog: CatalogRepository,
        testsets: TestsetRepository,
        runs: RunRepository,
        kickoff: Kickoff,
        tries: TryRepository,
        secret_env: SecretEnvPolicy,
    ) -> None:
        self._pool = pool
        self._catalog = catalog
        self._testsets = testsets
        self._runs = runs
        self._kickoff = kickoff
        self._tries = tries
        self._secret_env = secret_env

    async def __call__(self, request: TryRequest, who: Principal) -> uuid.UUID:
        """The new try's id; its run is awaiting execution. INVALID_ARGUMENT / NOT_FOUND name what
        is wrong with the request, before anything is written."""
        pid = request.project_id
        if request.testcase_ids and request.testset_id is None:
            raise invalid("testcase_ids name testcases of a testset: give its testset_id too")
        config = await self._config(request)
        cases = [*await self._picked(request), *request.typed]
        checked(rules.check_count, len(cases))
        checked(rules.check_prompt, config, cases)
        versions = await self._kickoff.metric_versions(pid, request.metric_ids, request.metric_group_id)
        checked(refuse_client_scored, versions, "a try is executed and scored by the platform")
        human = [v["name"] for v in versions if v["eval_type"] == "human"]
        if human:
            raise invalid(
                f"metric(s) {', '.join(repr(n) for n in human)} wait for reviewers: a try scores with"
                " heuristic and AI metrics only (kick off a run to review its outputs)"
            )
        mapping, rows = rules.scratch_testset(cases)
        try_id = uuid.uuid4()
        async with transaction(self._pool) as conn:
            testset = await self._testsets.create_testset(
                pid,
                f"playground try {str(try_id)[:8]}",
                "The cases of a playground try (not listed with the testsets).",
                None,
                mapping,
                rows,
                playground_try=True,
                conn=conn,
            )
            run = await self._runs.create_run(
                project_id=pid,
                testset_id=testset["id"],
                testset_version=testset["version"],
                system_version_id=None,
                metric_version_ids=[v["version_id"] for v in versions],
                human_metric_version_ids=[],
                source=RunSource.PLAYGROUND,
                trials=1,
                max_concurrency=None,
                expected_records=len(cases),
                notes="",
                llm_config=config,
                playground_try=True,
                conn=conn,
                created_by=author_of(who),
            )
            await self._tries.create(
                conn,
                try_id=try_id,
                project_id=pid,
                run_id=run["id"],
                system_version_id=request.system_version_id,
                testset_id=request.testset_id,
                testcase_ids=[c.source_testcase_id for c in cases if c.source_testcase_id is not None],
                created_by=who.name,
                created_by_key_prefix=who.prefix,
            )
        await self._kickoff.launch(run)
        return try_id

    async def _config(self, request: TryRequest) -> dict[str, Any]:
        """The llm config tried: the one given, else the version's (validated either way)."""
        config = request.config
        if request.system_version_id is not None:
            version = await self._catalog.get_system_version(request.system_version_id)
            if version is None or version["project_id"] != request.project_id:
                raise not_found(
                    f"system version {request.system_version_id} does not exist in project {request.project_id}"
                )
            if version["kind"] != "llm":
                raise invalid(
                    f"system version {version['name']!r} is of kind {version['kind']}: the playground tries"
                    " prompts, i.e. llm system versions"
                )
            if config is None:
                config = version["config"]
        if config is None:
            raise invalid("give the prompt to try: a system_version_id of an llm system, or a config")
        config = checked(catalog_rules.validate_system_version, "llm", config)
        checked(catalog_rules.check_secret_envs, self._secret_env, "llm", config)
        return config

    async def _picked(self, request: TryRequest) -> list[Case]:
        """The testset's testcases the try names (all of them when it names none), in its order."""
        if request.testset_id is None:
            return []
        testset = await self._testsets.get_testset(request.testset_id)
        if testset is None or testset["project_id"] != request.project_id:
            raise not_found(f"testset {request.testset_id} does not exist in project {request.project_id}")
        version = testset["version"]
        if request.testcase_ids:
            checked(rules.check_count, len(request.testcase_ids) + len(request.typed))
            if len(set(request.testcase_ids)) != len(request.testcase_ids):
                raise invalid("testcase_ids lists a testcase twice")
            found = {
                r["testcase_id"]: r
                for r in await self._testsets.get_testcases(request.testset_id, request.testcase_ids, version)
            }
            missing = [str(t) for t in request.testcase_ids if t not in found]
            if missing:
                raise not_found(
                    f"testcase(s) {', '.join(missing)} are not in testset {request.testset_id} (version {version})"
                )
            picked = [found[t] for t in request.testcase_ids]
        else:
            if testset["testcase_count"] > rules.MAX_CASES:
                raise invalid(
                    f"testset {request.testset_id} has {testset['testcase_count']} testcases: name at most"
                    f" {rules.MAX_CASES} of them in testcase_ids"
                )
            picked = await self._testsets.list_testcases(request.testset_id, version, -1, rules.MAX_CASES)
        return [
            Case(
                inputs=r["inputs"],
                expected=r["expected"],
                metadata=r["metadata"],
                data=r["data"],
                source_testcase_id=r["testcase_id"],
                validation_errors=tuple(r["validation_errors"]),
            )
            for r in picked
        ]
