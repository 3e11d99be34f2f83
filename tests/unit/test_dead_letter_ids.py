"""The ids read out of a dead letter, a score batch's record ids included, however broken its text."""

from __future__ import annotations

import json
import uuid

from shared.events import DeadLetter, ScoreRequested
from shared.messaging import dead_letters


def letter(payload: str) -> DeadLetter:
    return DeadLetter(topic="score.requested", service="scorer", error="boom", payload=payload)


def test_a_batch_names_every_record() -> None:
    records = [uuid.uuid4() for _ in range(5)]
    event = ScoreRequested(
        run_id=uuid.uuid4(), record_id=records[0], record_ids=records, metric_version_id=uuid.uuid4()
    )
    dead = letter(event.model_dump_json())
    assert dead_letters.id_list(dead, "record_ids") == records
    assert dead_letters.ids(dead, "record_id", "metric_version_id") == {
        "record_id": records[0],
        "metric_version_id": event.metric_version_id,
    }


def test_a_single_request_has_no_batch() -> None:
    event = ScoreRequested(run_id=uuid.uuid4(), record_id=uuid.uuid4(), metric_version_id=uuid.uuid4())
    assert dead_letters.id_list(letter(event.model_dump_json()), "record_ids") == []


def test_what_can_be_read_of_a_cut_off_or_odd_batch_is_read() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    text = json.dumps({"record_ids": [str(first), "not an id", 7, str(second)], "deep": [[[[]]]]})
    assert dead_letters.id_list(letter(text), "record_ids") == [first, second]
    cut = json.dumps({"record_ids": [str(first), str(second), str(uuid.uuid4())]})[:90]
    assert dead_letters.id_list(letter(cut), "record_ids") == [first]
    nested = json.dumps({"other": {"record_ids": [str(first)]}})
    assert dead_letters.id_list(letter(nested), "record_ids") == []
