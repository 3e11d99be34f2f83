"""Which project the ids of a request belong to: a key never reaches another project's data.

Every id field of a request that names an entity (``run_id``, ``baseline_run_id``, ``run_ids``,
``record_id``, ``metric_id`` …) is looked up before the operation runs. An id of another project
answers exactly as an id that does not exist. An entity never changes project, so owners are
cached per process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shared.edge.convert import parse_uuid
from shared.edge.errors import not_found

# entity → SQL giving (id, project_id) for the ids in $1
_OWNERS: dict[str, str] = {
    "project": "SELECT id, id AS project_id FROM projects WHERE id = ANY($1::uuid[])",
    "run": "SELECT id, project_id FROM runs WHERE id = ANY($1::uuid[])",
    "record": "SELECT r.id, ru.project_id FROM records r JOIN runs ru ON ru.id = r.run_id WHERE r.id = ANY($1::uuid[])",
    "metric": "SELECT id, project_id FROM metrics WHERE id = ANY($1::uuid[])",
    "metric group": "SELECT id, project_id FROM metric_groups WHERE id = ANY($1::uuid[])",
    "system": "SELECT id, project_id FROM systems WHERE id = ANY($1::uuid[])",
    "system version": "SELECT v.id, s.project_id FROM system_versions v JOIN systems s ON s.id = v.system_id"
    " WHERE v.id = ANY($1::uuid[])",
    "testset": "SELECT id, project_id FROM testsets WHERE id = ANY($1::uuid[])",
    "API key": "SELECT id, project_id FROM api_keys WHERE id = ANY($1::uuid[])",
    "monitor": "SELECT id, project_id FROM monitors WHERE id = ANY($1::uuid[])",
    "try": "SELECT id, project_id FROM playground_tries WHERE id = ANY($1::uuid[])",
    "webhook": "SELECT id, project_id FROM webhooks WHERE id = ANY($1::uuid[])",
    # A deleted schedule's row is gone; its runs keep its id (runs.schedule_id) and its project, so
    # they can still be listed by it (ScheduleService itself answers NOT_FOUND for it).
    "schedule": "SELECT id, project_id FROM schedules WHERE id = ANY($1::uuid[])"
    " UNION SELECT schedule_id, project_id FROM runs WHERE schedule_id = ANY($1::uuid[])",
}

# request field → the entity it names (top-level string fields, single or repeated)
SCOPED_FIELDS: dict[str, str] = {
    "project_id": "project",
    "run_id": "run",
    "baseline_run_id": "run",
    "same_testcases_as_run_id": "run",
    "run_ids": "run",
    "record_id": "record",
    "record_ids": "record",
    "metric_id": "metric",
    "metric_ids": "metric",
    "metric_group_id": "metric group",
    "system_id": "system",
    "system_version_id": "system version",
    "testset_id": "testset",
    "key_id": "API key",
    "monitor_id": "monitor",
    "try_id": "try",
    "webhook_id": "webhook",
    "schedule_id": "schedule",
}

_CACHE_LIMIT = 200_000


def scoped_ids(request: Message) -> Iterable[tuple[str, str, str]]:
    """(field, entity, id text) for every entity id the request names."""
    for field in request.DESCRIPTOR.fields:
        entity = SCOPED_FIELDS.get(field.name)
        if entity is None or field.type != FieldDescriptor.TYPE_STRING:
            continue
        value = getattr(request, field.name)
        for text in value if field.is_repeated else [value]:
            if text:
                yield field.name, entity, text


class Owners:
    """The project of each entity a request names, checked against the caller's project."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: dict[tuple[str, uuid.UUID], uuid.UUID] = {}

    async def project_of(self, entity: str, text: str) -> uuid.UUID | None:
        """The project of one entity (None: no such entity, or not an id)."""
        try:
            id_ = uuid.UUID(text)
        except ValueError:
            return None
        if (entity, id_) not in self._cache:
            row = await self._pool.fetchrow(_OWNERS[entity], [id_])
            if row is None:
                return None
            self._cache[entity, id_] = row["project_id"]
        return self._cache[entity, id_]

    async def check(self, project_id: uuid.UUID, request: Message) -> None:
        """NOT_FOUND for the first id that does not exist or belongs to another project."""
        named = [(field, entity, text, parse_uuid(text, field)) for field, entity, text in scoped_ids(request)]
        missing: dict[str, list[uuid.UUID]] = {}
        for _, entity, _, id_ in named:
            if (entity, id_) not in self._cache:
                missing.setdefault(entity, []).append(id_)
        for entity, ids in missing.items():
            rows = await self._pool.fetch(_OWNERS[entity], ids)
            if len(self._cache) + len(rows) > _CACHE_LIMIT:
                self._cache.clear()
            for row in rows:
                self._cache[entity, row["id"]] = row["project_id"]
        for _, entity, text, id_ in named:
            if self._cache.get((entity, id_)) != project_id:
                raise not_found(f"{entity} {text} does not exist")
