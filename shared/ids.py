"""Deterministic ids: a redelivered event always maps to the same row."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5c0f3e1a-8d7b-4d53-9a53-6f1f2c2b7e10")


def record_id(run_id: uuid.UUID, testcase_id: uuid.UUID, trial: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"record:{run_id}:{testcase_id}:{trial}")


def score_id(record_id: uuid.UUID, metric_version_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"score:{record_id}:{metric_version_id}")


def chunk_event_id(run_id: uuid.UUID, chunk: int, retry: int = 0) -> uuid.UUID:
    """The id of the event asking to execute one chunk of a run (or of one of its retries): the
    same however often the run is planned."""
    if retry:
        return uuid.uuid5(_NAMESPACE, f"chunk:{run_id}:retry {retry}:{chunk}")
    return uuid.uuid5(_NAMESPACE, f"chunk:{run_id}:{chunk}")


def call_id_of(key: str) -> uuid.UUID:
    """A logged call's id: the UUID it was given, else uuid5 of the text it was given ("req_01HX…"),
    so logging the same text again is logging the same call."""
    try:
        return uuid.UUID(key)
    except ValueError:
        return uuid.uuid5(_NAMESPACE, f"call:{key}")


COUNTER_SHARDS = 16


def counter_shard(record_id: uuid.UUID) -> int:
    """Which row of a run's sharded counters a record's counts go to."""
    return record_id.int % COUNTER_SHARDS
