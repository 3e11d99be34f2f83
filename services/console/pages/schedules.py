"""A project's scheduled runs: list them with when each fires next and what it made last, create
one (write role), change one on its page, run one now, pause / resume, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import available_timezones

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import schedules_pb2 as spb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.pages.systems import list_systems
from services.console.web import CHOICE_ERRORS, Console, PageNotFound, api_message, redirect

# Offered in the cron field (any five-field expression is taken).
PRESETS = {
    "0 2 * * *": "every day at 02:00",
    "0 * * * *": "every hour",
    "0 6 * * 1": "Mondays at 06:00",
    "*/15 * * * *": "every 15 minutes",
}

# Offered in the time zone field (the API takes any IANA name).
TIMEZONES = [*sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))), "UTC"]


def _form_values(form: FormData) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")),
        "cron": str(form.get("cron", "")),
        "testset_id": str(form.get("testset_id", "")),
        "system": str(form.get("system", "")),
        "metric_ids": [str(m) for m in form.getlist("metric_id")],
        "metric_group_id": str(form.get("metric_group_id", "")),
        "trials": str(form.get("trials", "1")),
        "tags": str(form.get("tags", "")),
        "timezone": str(form.get("timezone", "")),
    }


def _schedule_values(s: spb.Schedule) -> dict[str, Any]:
    """A schedule as its Edit form shows it."""
    return {
        "name": s.name,
        "cron": s.cron,
        "timezone": s.timezone,
        "testset_id": s.testset_id,
        "system": f"system:{s.system_id}" if s.system_id else f"version:{s.system_version_id}",
        "metric_ids": list(s.metric_ids),
        "metric_group_id": s.metric_group_id,
        "trials": str(s.trials),
        "tags": ", ".join(s.tags),
    }


def _checked(values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The form's fields as a request's (the system split by its kind, trials a number; the tags
    apart, as _tags reads them), or what is wrong."""
    kind, _, system = values["system"].partition(":")
    trials = values["trials"].strip() or "1"
    if not trials.isdigit() or len(trials) > 5:
        return {}, f"trials must be a whole number within 1..100, got {trials!r}"
    return {
        "name": values["name"],
        "cron": values["cron"],
        "timezone": values["timezone"],
        "testset_id": values["testset_id"],
        "system_id": system if kind == "system" else "",
        "system_version_id": system if kind == "version" else "",
        "metric_ids": values["metric_ids"],
        "metric_group_id": values["metric_group_id"],
        "trials": int(trials),
    }, ""


def _tags(values: dict[str, Any]) -> list[str]:
    return [t.strip() for t in values["tags"].split(",") if t.strip()]


def routes(console: Console) -> list[Route]:
    async def schedules_of(api: Api, project_id: str) -> spb.ListSchedulesResponse:
        return await api.call(
            api.stubs.schedules.ListSchedules,
            spb.ListSchedulesRequest(project_id=project_id),
            spb.ListSchedulesResponse,
        )

    async def page(
        request: Request, extra: dict[str, Any], status_code: int = 200, template: str = "schedules.html"
    ) -> Response:
        api = console.api(request)
        project_id = request.path_params["project_id"]
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "schedules": schedules_of(api, project_id),
                "testsets": api.call(
                    api.stubs.testsets.ListTestsets,
                    tpb.ListTestsetsRequest(project_id=project_id, page_size=200),
                    tpb.ListTestsetsResponse,
                ),
                "systems": list_systems(api, project_id),
                "metrics": api.call(
                    api.stubs.catalog.ListMetrics,
                    cpb.ListMetricsRequest(project_id=project_id, include_archived=True),
                    cpb.ListMetricsResponse,
                ),
            },
        )
        versions = {v.id: (s.system.name, v.name) for s in data["systems"].systems for v in s.versions}
        context = {
            **data,
            "presets": PRESETS,
            "timezones": TIMEZONES,
            "testset_names": {t.id: t.name for t in data["testsets"].testsets},
            "system_names": {s.system.id: s.system.name for s in data["systems"].systems},
            "version_names": versions,
            "metric_names": {m.id: m.name for m in data["metrics"].metrics},
            "values": {"cron": "0 2 * * *", "trials": "1"},
            "error": "",
            "done": request.query_params.get("done", ""),
            "refused": request.query_params.get("refused", ""),
            **extra,
        }
        return console.render(request, template, context, status_code=status_code)

    async def list_page(request: Request) -> Response:
        return await page(request, {})

    async def create(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        project_id = request.path_params["project_id"]
        values = _form_values(form)
        fields, error = _checked(values)
        if error:
            return await page(request, {"values": values, "error": error}, 400)
        try:
            await api.call(
                api.stubs.schedules.CreateSchedule,
                spb.CreateScheduleRequest(project_id=project_id, tags=_tags(values), **fields),
                spb.Schedule,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return await page(request, {"values": values, "error": api_message(exc)}, 400)
        done = f"Created {values['name'].strip()}."
        return redirect(f"/projects/{project_id}/schedules?{urlencode({'done': done})}")

    async def of_project(api: Api, request: Request) -> spb.Schedule:
        project_id, schedule_id = request.path_params["project_id"], request.path_params["schedule_id"]
        found = {s.id: s for s in (await schedules_of(api, project_id)).schedules}
        if schedule_id not in found:
            raise PageNotFound  # another project's schedule (or none) under this project's address
        return found[schedule_id]

    def back_to(request: Request, schedule: spb.Schedule) -> str:
        """Where a button's answer goes: the schedule's page when pressed there, else the list."""
        listed = f"/projects/{schedule.project_id}/schedules"
        return f"{listed}/{schedule.id}" if request.query_params.get("back") == "page" else listed

    async def schedule_page(request: Request) -> Response:
        schedule = await of_project(console.api(request), request)
        extra = {"schedule": schedule, "values": _schedule_values(schedule)}
        return await page(request, extra, template="schedule.html")

    async def update(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        schedule = await of_project(api, request)
        values = _form_values(form)
        fields, error = _checked(values)
        if not error:
            try:
                await api.call(
                    api.stubs.schedules.UpdateSchedule,
                    spb.UpdateScheduleRequest(
                        schedule_id=schedule.id, tags=spb.ScheduleTags(tags=_tags(values)), **fields
                    ),
                    spb.Schedule,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in CHOICE_ERRORS:
                    raise
                error = api_message(exc)
        if error:
            extra = {"schedule": schedule, "values": values, "error": error}
            return await page(request, extra, 400, template="schedule.html")
        done = f"Saved {values['name'].strip()}."
        return redirect(f"/projects/{schedule.project_id}/schedules?{urlencode({'done': done})}")

    async def run_now(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        schedule = await of_project(api, request)
        try:
            run = await api.call(
                api.stubs.schedules.RunScheduleNow, spb.RunScheduleNowRequest(schedule_id=schedule.id), rpb.Run
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            refused = f"{schedule.name}: {api_message(exc)}"
            return redirect(f"{back_to(request, schedule)}?{urlencode({'refused': refused})}")
        return redirect(f"/projects/{schedule.project_id}/runs/{run.id}")

    async def pause(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        schedule = await of_project(api, request)
        pausing = not schedule.paused_at
        await api.call(
            api.stubs.schedules.UpdateSchedule,
            spb.UpdateScheduleRequest(schedule_id=schedule.id, paused=pausing),
            spb.Schedule,
        )
        done = f"{'Paused' if pausing else 'Resumed'} {schedule.name}."
        return redirect(f"{back_to(request, schedule)}?{urlencode({'done': done})}")

    async def delete(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        schedule = await of_project(api, request)
        await api.call(
            api.stubs.schedules.DeleteSchedule, spb.DeleteScheduleRequest(schedule_id=schedule.id), spb.Schedule
        )
        done = f"Deleted {schedule.name}: the runs it made stay."
        return redirect(f"/projects/{schedule.project_id}/schedules?{urlencode({'done': done})}")

    base = "/projects/{project_id}/schedules"
    return [
        Route(base, list_page, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{schedule_id}", schedule_page, methods=["GET"]),
        Route(base + "/{schedule_id}", update, methods=["POST"]),
        Route(base + "/{schedule_id}/run", run_now, methods=["POST"]),
        Route(base + "/{schedule_id}/pause", pause, methods=["POST"]),
        Route(base + "/{schedule_id}/delete", delete, methods=["POST"]),
    ]
