"""Run webhooks as pure functions: a definition checked, which runs a webhook is told of, the
document and its text, and the signature and body of a POST."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime

import pytest

from services.run_orchestrator.runs.results import Threshold
from services.run_orchestrator.webhooks import rules
from services.system_executor.posts import body_of, signature
from shared.json_limits import json_text

RUN = uuid.UUID("3f9a1c0e-0000-4000-8000-000000000001")
PROJECT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
SCHEDULE = uuid.UUID("5c4ed01e-0000-4000-8000-00000000000b")


def test_a_definition_takes_defaults_and_drops_repeats() -> None:
    made = rules.definition(" #evals ", " https://h.example/hook ", "", [], ["ci", "ci"], ["a", "a", "b"])
    assert made == rules.WebhookDefinition(
        "#evals", "https://h.example/hook", "json", ["completed", "failed", "cancelled"], ["ci"], ["a", "b"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", "https://h.example/", "xml", [], [], []), "format must be among json, slack, got 'xml'"),
        (("x", "https://h.example/", "json", ["pending"], [], []), "statuses must be among completed"),
        (("x", "https://h.example/", "json", [], ["cron"], []), "sources must be among api, kickoff"),
        (("x", "mailto:a@b", "json", [], [], []), "url must be an http or https URL with a host"),
        (("x", "https://h.example/", "json", [], [], ["x" * 101]), "tags must be 1..100 characters"),
    ],
)
def test_a_malformed_definition_names_its_field(
    args: tuple[str, str, str, list[str], list[str], list[str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rules.definition(*args)


def test_a_webhook_is_told_of_its_statuses_sources_and_tags_only() -> None:
    hook = {"statuses": ["completed"], "sources": ["ci"], "tags": ["nightly", "main"]}
    assert rules.tells(hook, "completed", "ci", ["main"])
    assert not rules.tells(hook, "failed", "ci", ["main"])
    assert not rules.tells(hook, "completed", "api", ["main"])
    assert not rules.tells(hook, "completed", "ci", ["other"])
    assert rules.tells({"statuses": ["failed"], "sources": [], "tags": []}, "failed", "monitor", [])


def test_thresholds_pick_the_completed_runs_below_them() -> None:
    exact, quality = uuid.uuid4(), uuid.uuid4()
    twice = (Threshold(exact, 0.9), Threshold(exact, 0.8))
    with pytest.raises(ValueError, match="below names a metric twice"):
        rules.definition("x", "https://h.example/", "json", [], [], [], twice)
    many = tuple(Threshold(uuid.uuid4(), 0.5) for _ in range(21))
    with pytest.raises(ValueError, match="below: at most 20 thresholds, got 21"):
        rules.definition("x", "https://h.example/", "json", [], [], [], many)
    metrics = [
        rules.MetricSummary(exact, "exact", "boolean", scored=10, passed=8, total=8.0),
        rules.MetricSummary(quality, "quality", "int", scored=0, passed=0, total=0.0),
    ]
    hook = {"below": [{"metric_id": str(exact), "below": 0.9}]}
    (under,) = rules.below_its_thresholds(hook, "completed", metrics, 10) or []
    assert (under["name"], under["value"], under["below"]) == ("exact", 0.8, 0.9)
    assert (
        rules.below_its_thresholds({"below": [{"metric_id": str(exact), "below": 0.8}]}, "completed", metrics, 10)
        is None
    )
    assert rules.below_its_thresholds(hook, "failed", metrics, 10) == []  # told as its statuses say
    assert rules.below_its_thresholds({"below": []}, "completed", metrics, 10) == []
    # A metric that scored none of the run's records is below; with no records, nothing is.
    unscored = {"below": [{"metric_id": str(quality), "below": 3.5}]}
    assert [m["value"] for m in rules.below_its_thresholds(unscored, "completed", metrics, 10) or []] == [None]
    assert rules.below_its_thresholds(unscored, "completed", metrics, 0) is None


def test_the_document_tells_the_run_and_each_metric() -> None:
    run = {
        "id": RUN,
        "project_id": PROJECT,
        "source": "ci",
        "tags": ["nightly"],
        "created_by": "schedule 'nightly'",
        "schedule_id": SCHEDULE,
        "monitor_id": None,
        "testset_id": None,
        "testset_version": 0,
        "created_at": datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        "finished_at": None,
        "error": "",
        "notes": "",
    }
    metrics = [
        rules.MetricSummary(uuid.uuid4(), "correct", "boolean", 8, 6, 6.0),
        rules.MetricSummary(uuid.uuid4(), "similar", "float", 4, 3, 2.5, threshold=0.5),
        rules.MetricSummary(uuid.uuid4(), "polite", "int", 0, 0, 0.0),
    ]
    doc = rules.run_document(run, metrics, "completed", (8, 1), "http://console")
    assert doc["text"] == (
        "Run 3f9a1c0e completed (ci, nightly): 8 records, 1 errored · correct 75.0% passed · similar mean 0.625"
        f" · polite not scored — http://console/projects/{PROJECT}/runs/{RUN}"
    )
    assert [(m["measure"], m["value"], m["threshold"]) for m in doc["metrics"]] == [
        ("pass_rate", 0.75, None),
        ("mean", 0.625, 0.5),
        ("mean", None, None),
    ]
    assert doc["run"]["testset_id"] is None and doc["run"]["finished_at"] is None
    assert (doc["run"]["schedule_id"], doc["run"]["monitor_id"]) == (str(SCHEDULE), None)
    assert doc["baseline"] is None


def test_changes_are_told_against_the_run_compared_with() -> None:
    correct, similar, same = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = [
        rules.MetricSummary(correct, "correct", "boolean", 8, 6, 6.0),
        rules.MetricSummary(similar, "similar", "float", 4, 0, 2.5),
        rules.MetricSummary(same, "same", "int", 2, 0, 6.0),
        rules.MetricSummary(uuid.uuid4(), "new", "boolean", 2, 2, 2.0),
    ]
    before = [
        rules.MetricSummary(correct, "correct", "boolean", 8, 7, 7.0),
        rules.MetricSummary(similar, "similar", "float", 4, 0, 2.0),
        rules.MetricSummary(same, "same", "int", 4, 0, 12.0),
    ]
    metrics = rules.compared(now, before)
    assert [m.as_text() for m in metrics] == [
        "correct 75.0% passed (−12.5 pts)",
        "similar mean 0.625 (+0.125)",
        "same mean 3 (no change)",
        "new 100.0% passed",
    ]
    run = {
        "id": RUN,
        "project_id": PROJECT,
        "source": "api",
        "tags": [],
        "created_by": "ci bot",
        "schedule_id": None,
        "monitor_id": None,
        "testset_id": PROJECT,
        "testset_version": 2,
        "created_at": datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        "finished_at": datetime(2026, 12, 5, 10, 1, tzinfo=UTC),
        "error": "",
        "notes": "",
    }
    baseline = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000002")
    doc = rules.run_document(run, metrics, "completed", (8, 0), "http://c", baseline)
    assert doc["baseline"] == {"id": str(baseline), "url": f"http://c/projects/{PROJECT}/runs/{baseline}"}
    assert [(m["previous"], m["change"]) for m in doc["metrics"]] == [
        (0.875, pytest.approx(-0.125)),
        (0.5, 0.125),
        (3.0, 0.0),
        (None, None),
    ]
    assert " · new 100.0% passed · vs run 1a2b3c4d — http://c/" in doc["text"]


def test_a_post_is_signed_over_its_time_and_body_and_slack_gets_the_text() -> None:
    payload = {"type": "run.finished", "text": "Run done"}
    body = body_of(payload, "json")
    assert json.loads(body) == payload
    assert body_of(payload, "slack") == b'{"text":"Run done"}'
    older = {"type": "monitor.alert", "alert_id": "a"}  # decided before alerts had a text
    assert json.loads(body_of(older, "slack")) == {"text": json_text(older)}
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_k", body, 1700000000) == f"t=1700000000,v1={expected}"
