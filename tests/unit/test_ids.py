"""Deterministic record, score and call ids: a redelivered event always maps to the same row, a
call logged again under its text id to the same call."""

from __future__ import annotations

import uuid

import pytest

from shared.ids import call_id_of, record_id, score_id

RUN = uuid.UUID("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827")
TESTCASE = uuid.UUID("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b")
METRIC_VERSION = uuid.UUID("2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b")
OTHER = uuid.UUID("11111111-2222-4333-8444-555555555555")


def test_record_id_is_deterministic() -> None:
    first = record_id(RUN, TESTCASE, 0)
    assert record_id(uuid.UUID(str(RUN)), uuid.UUID(str(TESTCASE)), 0) == first
    assert first.version == 5


def test_score_id_is_deterministic() -> None:
    rid = record_id(RUN, TESTCASE, 0)
    assert score_id(rid, METRIC_VERSION) == score_id(record_id(RUN, TESTCASE, 0), METRIC_VERSION)
    assert score_id(rid, METRIC_VERSION).version == 5


@pytest.mark.parametrize(
    ("run", "testcase", "trial"),
    [
        pytest.param(OTHER, TESTCASE, 0, id="other-run"),
        pytest.param(RUN, OTHER, 0, id="other-testcase"),
        pytest.param(RUN, TESTCASE, 1, id="other-trial"),
        pytest.param(TESTCASE, RUN, 0, id="run-and-testcase-swapped"),
    ],
)
def test_record_id_differs_when_a_component_differs(run: uuid.UUID, testcase: uuid.UUID, trial: int) -> None:
    assert record_id(run, testcase, trial) != record_id(RUN, TESTCASE, 0)


@pytest.mark.parametrize(
    ("record", "metric_version"),
    [
        pytest.param(record_id(RUN, TESTCASE, 1), METRIC_VERSION, id="other-record"),
        pytest.param(record_id(RUN, TESTCASE, 0), OTHER, id="other-metric-version"),
        pytest.param(METRIC_VERSION, record_id(RUN, TESTCASE, 0), id="swapped"),
    ],
)
def test_score_id_differs_when_a_component_differs(record: uuid.UUID, metric_version: uuid.UUID) -> None:
    assert score_id(record, metric_version) != score_id(record_id(RUN, TESTCASE, 0), METRIC_VERSION)


def test_ids_are_distinct_across_a_run() -> None:
    testcases = [uuid.UUID(int=i) for i in range(50)]
    records = {record_id(RUN, t, trial) for t in testcases for trial in range(3)}
    assert len(records) == 150
    scores = {score_id(r, m) for r in records for m in (METRIC_VERSION, OTHER)}
    assert len(scores) == 300
    assert not records & scores


def test_record_and_score_ids_never_collide_for_the_same_uuids() -> None:
    # Different prefixes ("record:" vs "score:") keep the two id spaces apart.
    assert record_id(RUN, TESTCASE, 0) != score_id(RUN, TESTCASE)


def test_ids_are_stable_across_releases() -> None:
    # Stored rows carry these ids: changing the namespace or the key format would orphan them on replay.
    rid = record_id(RUN, TESTCASE, 0)
    assert rid == uuid.UUID("147a2c8c-251d-5708-90fc-61b3be936b91")
    assert score_id(rid, METRIC_VERSION) == uuid.UUID("87067f0b-4cba-53f0-b963-730b961c53b8")


def test_a_call_given_a_uuid_is_that_uuid_and_one_given_text_the_same_derived_one() -> None:
    assert call_id_of(str(RUN)) == RUN and call_id_of(str(RUN).upper()) == RUN
    derived = call_id_of("req_01HX8Z")
    assert derived == call_id_of("req_01HX8Z") and derived.version == 5
    assert derived not in (call_id_of("req_01hx8z"), call_id_of("req_01HX8Z "))  # the text exactly
