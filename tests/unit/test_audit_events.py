"""Which calls the audit log holds, and what an event keeps of a request and its answer."""

from __future__ import annotations

from scorekeeper.v1 import access_pb2, catalog_pb2, monitors_pb2, review_pb2, runs_pb2

from services.run_orchestrator.access.audit import audited_actions
from services.run_orchestrator.app import SERVICES
from shared.auth.audit import targets


def test_changes_are_audited_and_reads_and_the_data_plane_are_not() -> None:
    actions = audited_actions(SERVICES.values())
    assert {"CreateRun", "CreateApiKey", "RevokeApiKey", "DeleteTestset", "SubmitReview", "TestMonitorAlert"} <= actions
    left_out = {"WhoAmI", "ListApiKeys", "ListWebhookDeliveries", "LogCalls", "IngestTraces", "IngestRecords"}
    left_out.add("NextReviewItem")
    assert not left_out & actions
    assert "ListAuditEvents" not in actions  # reading the log is not written to it
    every = {m.name for s in SERVICES.values() for m in s.methods}
    assert actions < every and len(actions) == 47


def test_an_event_keeps_the_ids_named_at_most_ten_of_a_field_and_the_id_made() -> None:
    request = runs_pb2.TagRecordsRequest(record_ids=[f"r{i}" for i in range(12)], add=["x"])
    assert targets(request, None) == [{"field": "record_ids", "ids": [f"r{i}" for i in range(10)], "count": 12}]
    made = targets(catalog_pb2.CreateMetricRequest(project_id="p", name="n"), catalog_pb2.Metric(id="m"))
    assert made == [{"field": "project_id", "ids": ["p"], "count": 1}, {"field": "created", "ids": ["m"], "count": 1}]
    key = access_pb2.CreateApiKeyResponse(key=access_pb2.ApiKey(id="k"), secret="sk_secret")
    assert targets(access_pb2.CreateApiKeyRequest(project_id="p"), key)[-1] == {
        "field": "created",
        "ids": ["k"],
        "count": 1,
    }
    # An answer naming what the request named adds nothing; one without an id neither.
    assert targets(access_pb2.RevokeApiKeyRequest(key_id="k"), access_pb2.ApiKey(id="k")) == [
        {"field": "key_id", "ids": ["k"], "count": 1}
    ]
    assert targets(monitors_pb2.DeleteMonitorRequest(monitor_id="m"), review_pb2.SkipReviewItemResponse()) == [
        {"field": "monitor_id", "ids": ["m"], "count": 1}
    ]
