"""A project's audit log (admin role): every change a key made, every attempt at one it was refused,
newest first, filtered by action, key and outcome."""

from __future__ import annotations

import grpc
from scorekeeper.v1 import access_pb2 as apb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.web import INPUT_ERRORS, Console, api_message

# The pages of entities a target field names (the console opens the id there).
_PAGES = {
    "run_id": "runs",
    "run_ids": "runs",
    "baseline_run_id": "runs",
    "record_id": "records",
    "record_ids": "records",
    "metric_id": "metrics",
    "metric_ids": "metrics",
    "testset_id": "testsets",
    "monitor_id": "monitors",
    "webhook_id": "webhooks",
    "schedule_id": "schedules",
}
# The pages of what an action makes (its "created" target).
_MADE = {
    "CreateRun": "runs",
    "CreateMetric": "metrics",
    "CreateTestset": "testsets",
    "ImportTestcases": "testsets",
    "CreateMonitor": "monitors",
    "CreateWebhook": "webhooks",
    "CreateSchedule": "schedules",
}


def page_of(action: str, field: str) -> str:
    """The console's section where the id a target field names opens ("" when none)."""
    return _MADE.get(action, "") if field == "created" else _PAGES.get(field, "")


def routes(console: Console) -> list[Route]:
    async def audit_page(request: Request) -> Response:
        api = console.api(request)
        project_id = request.path_params["project_id"]
        params = request.query_params
        filters = {"action": params.get("action", ""), "key": params.get("key", ""), "failed": params.get("failed")}
        listing = apb.ListAuditEventsRequest(
            project_id=project_id,
            actions=[filters["action"]] if filters["action"] else [],
            key_id=filters["key"],
            failed_only=filters["failed"] == "1",
            page_size=100,
            page_token=params.get("page", ""),
        )
        keys = api.call(
            api.stubs.access.ListApiKeys, apb.ListApiKeysRequest(project_id=project_id), apb.ListApiKeysResponse
        )
        data = await console.project_page(request, api, project_id, {"keys": keys})
        error, events = "", apb.ListAuditEventsResponse()
        try:
            events = await api.call(api.stubs.access.ListAuditEvents, listing, apb.ListAuditEventsResponse)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (*INPUT_ERRORS, grpc.StatusCode.NOT_FOUND):
                raise
            error = api_message(exc)
        context = {**data, "events": events, "filters": filters, "error": error, "page_of": page_of}
        return console.render(request, "audit.html", context, status_code=400 if error else 200)

    return [Route("/projects/{project_id}/audit", audit_page, methods=["GET"])]
