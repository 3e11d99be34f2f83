"""The run page's steps across the run: where its calls spend their time, step by step (GetRunSteps
over the steps its records hold), as a typical call's timeline. Loaded after the page, once the run
has finished or waits for reviewers (its records no longer change); nothing when its records hold
no steps. Each step links to the run's records that took it, its failures to those where it failed."""

from __future__ import annotations

from scorekeeper.v1 import query_pb2 as qpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.pages.run import run_of_project
from services.console.steps import typical_bars
from services.console.web import Console


def routes(console: Console) -> list[Route]:
    async def run_steps(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        api = console.api(request)
        run = await run_of_project(api, project_id, run_id)
        found = await api.call(api.stubs.query.GetRunSteps, qpb.GetRunStepsRequest(run_id=run.id), qpb.RunSteps)
        run_url = f"/projects/{project_id}/runs/{run.id}"
        return console.render(
            request,
            "_steps_summary.html",
            {
                "steps": found.steps,
                "bars": typical_bars(found.steps),
                "holding": found.records_with_steps,
                "total": found.records,
                "noun": "records",
                "heading": "Steps across the run",
                "section_id": "run-steps",
                "link_base": f"{run_url}?",
                "link_anchor": "#records",
            },
        )

    return [Route("/projects/{project_id}/runs/{run_id}/steps", run_steps)]
