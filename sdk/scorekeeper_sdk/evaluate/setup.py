"""What an evaluation needs before its first call: the testset, the sdk system version, the run —
or, to resume, the run and the pairs that already have a record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from scorekeeper_sdk.clients import AsyncScorekeeper
from scorekeeper_sdk.evaluate.runner import Pair
from scorekeeper_sdk.models import SystemVersion
from scorekeeper_sdk.views import Run

_PARTS = ("inputs", "expected", "metadata")
_CHUNK_BYTES = 64 * 1024
SDK_SYSTEM_DESCRIPTION = "Executed client-side; records uploaded through the SDK"


def system_name_of(system: Any) -> str:
    name = getattr(system, "__name__", "") or type(system).__name__
    return "python-system" if "<lambda>" in name or not name else name


def _flatten(index: int, testcase: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A testcase given as {"inputs": {...}, "expected": {...}, "metadata": {...}} as one flat row."""
    if not isinstance(testcase, dict) or not isinstance(testcase.get("inputs"), dict):
        raise ValueError(f'testcases[{index}] must be a dict {{"inputs": {{...}}, "expected": {{...}}}}')
    unknown = set(testcase) - set(_PARTS)
    if unknown:
        raise ValueError(f"testcases[{index}] has keys other than inputs / expected / metadata: {sorted(unknown)}")
    row: dict[str, Any] = {}
    roles: dict[str, list[str]] = {}
    for part in _PARTS:
        values = testcase.get(part) or {}
        if not isinstance(values, dict):
            raise ValueError(f"testcases[{index}].{part} must be a dict")
        for key, value in values.items():
            if key in row:
                raise ValueError(
                    f"testcases[{index}]: field {key!r} is in more than one of inputs / expected / metadata"
                )
            row[key] = value
            roles.setdefault(part, []).append(key)
    return row, roles


async def testset_from(
    client: AsyncScorekeeper, project_id: str, testcases: Sequence[dict[str, Any]], name: str
) -> str:
    """A new testset holding ``testcases``, imported as one version (JSON lines, streamed)."""
    if not testcases:
        raise ValueError("testcases must hold at least one testcase")
    mapping: dict[str, dict[str, None]] = {part: {} for part in _PARTS}
    for i, testcase in enumerate(testcases):
        _, roles = _flatten(i, testcase)
        for part, keys in roles.items():
            mapping[part].update(dict.fromkeys(keys))
    both = [k for k in mapping["inputs"] if k in mapping["expected"] or k in mapping["metadata"]]
    if both or set(mapping["expected"]) & set(mapping["metadata"]):
        raise ValueError(f"fields must keep one role across testcases: {sorted(both) or 'expected / metadata'}")

    async def lines() -> AsyncIterator[bytes]:
        chunk = bytearray()
        for i, testcase in enumerate(testcases):
            chunk += json.dumps(_flatten(i, testcase)[0], ensure_ascii=False).encode() + b"\n"
            if len(chunk) >= _CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)

    result = await client.import_testset(
        project_id,
        name,
        lines(),
        format="jsonl",
        inputs=list(mapping["inputs"]),
        expected=list(mapping["expected"]),
        metadata=list(mapping["metadata"]),
        description="Testcases given to run_and_evaluate",
    )
    return result.testset.id


async def sdk_version(
    client: AsyncScorekeeper,
    project_id: str,
    *,
    system: Any,
    system_id: str | None,
    system_name: str | None,
    version_name: str | None,
    config: dict[str, Any] | None,
) -> SystemVersion:
    """The ``sdk`` version to run: of ``system_id``, or of the system named ``system_name`` (the
    callable's name by default; created when missing), created or reused by version name."""
    config = config or {}
    if not version_name:
        # A changed config gets a version of its own instead of ALREADY_EXISTS.
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        version_name = f"sdk-{digest}" if config else "sdk"
    if system_id:
        return await client.create_system_version(system_id, "sdk", config, version_name)
    name = system_name or system_name_of(system)
    return await client.create_system_version_by_name(
        project_id, name, "sdk", config, version_name, system_description=SDK_SYSTEM_DESCRIPTION
    )


async def resumable(client: AsyncScorekeeper, run_id: str) -> tuple[Run, set[Pair]]:
    """The run to resume and its testcase × trial pairs that have a record (errored ones too)."""
    run = await client.get_run(run_id)
    kind = run.system_version.kind if run.system_version else ""
    if kind != "sdk":
        raise ValueError(
            f"run {run_id} executes a {kind or 'server-side'} system on the server; only sdk runs resume here"
        )
    if run.status in ("cancelled", "failed"):
        raise ValueError(f"run {run_id} is {run.status}; it takes no more records")
    done = {(r.testcase_id, r.trial) async for r in client.list_records(run_id, page_size=1000)}
    return run, done


def default_testset_name(system: Any, system_name: str | None) -> str:
    return f"sdk: {system_name or system_name_of(system)} {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
