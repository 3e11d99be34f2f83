"""The run page's testcases against the previous run: once a run has finished or waits for
reviewers (its machine scores are in), which testcases regressed against its previous run
(RunView.previous_run_id, of the same testset), the largest drop first, each opening the two side by
side. Loaded after the page (a comparison of 100,000 testcases takes about a second), once: a
finished run's scores no longer change by themselves, and while reviewers score, the page keeps what
it loaded until the run completes (then loads it again)."""

from __future__ import annotations

from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.pages.compare import listing_of, output_types, testcase_url
from services.console.pages.run import run_of_project
from services.console.previous_run import REGRESSIONS_FIRST, against_url, paired, previous_of
from services.console.web import Console

# The regressed testcases the run page lists; the compare page lists every one.
SHOWN = 5
# How the run page lists them, and the compare page it links to: regressions, the largest drop first.
LISTING = listing_of(QueryParams(list(REGRESSIONS_FIRST)))


def routes(console: Console) -> list[Route]:
    async def vs_previous(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        api = console.api(request)
        run = await run_of_project(api, project_id, run_id)
        previous = await previous_of(api, run)
        comparison = None
        # A previous run of another testset (a schedule's testset changed) has no testcases in common.
        if previous is not None and paired(run, previous):
            asked = qpb.CompareRunsRequest(
                run_id=run.id,
                baseline_run_id=previous.id,
                regressions_only=LISTING.regressions_only,
                order_by=LISTING.order,
                page_size=SHOWN,
            )
            comparison = await api.call(api.stubs.query.CompareRuns, asked, qpb.CompareRunsResponse)
        context = {
            "project_id": project_id,
            "run": run,
            "previous": previous,
            "comparison": comparison,
            "output_types": output_types(run, previous) if previous else {},
            "testcase_url": lambda t: testcase_url(previous.id if previous else "", run.id, t, LISTING),
            "every": against_url(run, previous) if previous else "",
        }
        return console.render(request, "_vs_previous.html", context)

    return [Route("/projects/{project_id}/runs/{run_id}/vs-previous", vs_previous)]
