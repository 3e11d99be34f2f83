"""Compare two runs on the same testset: per-metric regressions / improvements, and per testcase
both outputs side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scorekeeper_sdk.baselines import PREVIOUS
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.usage import usage_changes
from scorekeeper_sdk.views import RunUsage
from services.console.backend import Api
from services.console.pages.run import breakdown_of, run_of_project, weak_slices_of
from services.console.web import Console, api_message, redirect

RUN_CHOICES = 100
# The comparison's orders the page offers (CompareRuns' order_by → what the menu says), besides one
# "largest drop first" per compared metric.
ORDERS = (
    ("", "By testcase"),
    ("delta", "Largest drop first"),
    ("delta desc", "Largest gain first"),
    ("latency_delta desc", "Most slowed first"),
    ("latency_delta", "Most sped up first"),
)
# Testcases per page: each shows both runs' first record, read one by one.
COMPARE_PAGE = 20


@dataclass(frozen=True)
class Listing:
    """How the compare page lists a comparison — its order, regressions only, a slice — read from
    the address and kept in the links between the comparison and its testcases side by side."""

    order: str
    regressions_only: bool
    # A slice: only the testcases holding these values ("metadata.lang=fr"), as typed.
    sliced: list[str]

    @property
    def kept(self) -> list[tuple[str, str]]:
        """The listing as address parameters."""
        return [
            *(("field", f) for f in self.sliced),
            *([("regressions", "1")] if self.regressions_only else []),
            *([("order", self.order)] if self.order else []),
        ]


def listing_of(params: QueryParams) -> Listing:
    return Listing(
        order=params.get("order", ""),
        regressions_only=params.get("regressions") == "1",
        sliced=[f.strip() for f in params.getlist("field") if f.strip()],
    )


def orders_of(order: str, metrics: Sequence[qpb.MetricComparison]) -> list[tuple[str, str]]:
    """The Order menu of a comparison of ``metrics`` (order_by → what it says), ``order`` among them:
    one "largest drop first" per metric when there are several, an order typed in the address said
    as it is."""
    by_metric = [(f"delta.{m.metric_id}", f"{m.name}: largest drop first") for m in metrics]
    orders = [*ORDERS[:3], *(by_metric if len(by_metric) > 1 else []), *ORDERS[3:]]
    if order not in dict(orders):
        orders.append((order, order))
    return orders


def testcase_url(baseline_id: str, run_id: str, testcase_id: str, listing: Listing) -> str:
    """The page of one testcase of the comparison side by side (under the project's address), the
    comparison listed as ``listing``."""
    pair = [("baseline", baseline_id), ("run", run_id), ("testcase", testcase_id)]
    return "/compare/testcase?" + urlencode([*pair, *listing.kept])


def recent_runs(api: Api, project_id: str) -> Awaitable[qpb.ListRunsResponse]:
    """The runs the compare pages offer to choose from: the most recent."""
    return api.call(
        api.stubs.query.ListRuns,
        qpb.ListRunsRequest(project_id=project_id, page_size=RUN_CHOICES),
        qpb.ListRunsResponse,
    )


async def records_by_id(api: Api, ids: list[str]) -> dict[str, qpb.RecordView]:
    """The records, read at once (GetRecord each)."""
    records = await asyncio.gather(
        *(api.call(api.stubs.query.GetRecord, qpb.GetRecordRequest(record_id=i), qpb.RecordView) for i in ids)
    )
    return {r.id: r for r in records}


def output_types(*runs: qpb.RunView) -> dict[str, str]:
    """Each metric's output type (boolean, int, float) by id, over the runs compared: how its values read."""
    return {m.metric_id: m.output_type for run in runs for m in run.metrics}


def routes(console: Console) -> list[Route]:
    async def compare_page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        params = request.query_params
        baseline_id, run_id = params.get("baseline", ""), params.get("run", "")
        if baseline_id == PREVIOUS and run_id:  # the run page's "Compare with the previous run"
            run = await run_of_project(api, project_id, run_id)
            previous = run.previous_run_id
            if previous:
                kept = [(k, v) for k, v in params.multi_items() if k not in ("baseline", "run")]
                return redirect(f"?{urlencode([('baseline', previous), ('run', run_id), *kept])}")
            baseline_id = ""
            no_previous = True
        else:
            no_previous = False
        listing = listing_of(params)
        order, regressions_only, sliced = listing.order, listing.regressions_only, listing.sliced
        data = await console.project_page(
            request,
            api,
            project_id,
            {"recent": recent_runs(api, project_id)},
        )
        context: dict[str, Any] = {
            **data,
            "runs": data["recent"].runs,
            "baseline_id": baseline_id,
            "run_id": run_id,
            "regressions_only": regressions_only,
            "order": order,
            "orders": ORDERS,
            "sliced": sliced,
            "comparison": None,
            "error": "There is no earlier run of this testset with scores to compare with: choose a baseline."
            if no_previous
            else "",
        }
        if baseline_id and run_id:
            baseline, run = await asyncio.gather(
                run_of_project(api, project_id, baseline_id), run_of_project(api, project_id, run_id)
            )
            try:
                comparison = await api.call(
                    api.stubs.query.CompareRuns,
                    qpb.CompareRunsRequest(
                        run_id=run_id,
                        baseline_run_id=baseline_id,
                        regressions_only=regressions_only,
                        page_size=COMPARE_PAGE,
                        page_token=params.get("token", ""),
                        fields=sliced,
                        with_usage=True,
                        order_by=order,
                    ),
                    qpb.CompareRunsResponse,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                    raise
                context["error"] = api_message(exc)
                return console.render(request, "compare.html", context, status_code=400)
            slices, weak = await asyncio.gather(
                breakdown_of(api, run, params, baseline_id), weak_slices_of(api, run, params, baseline_id)
            )
            ids = [i for t in comparison.testcases for i in (*t.baseline_record_ids[:1], *t.record_ids[:1])]
            pair = [("baseline", baseline_id), ("run", run_id)]

            def listed_as(**changed: Any) -> str:
                """This comparison's address, listed otherwise (a Listing's fields changed)."""
                return "?" + urlencode([*pair, *replace(listing, **changed).kept])

            keep = [*pair, *listing.kept]
            orders = orders_of(order, comparison.metrics)
            context.update(
                **slices,
                **weak,
                baseline=baseline,
                run=run,
                output_types=output_types(baseline, run),
                usage=usage_changes(
                    from_proto(RunUsage, comparison.baseline_usage), from_proto(RunUsage, comparison.usage)
                ),
                comparison=comparison,
                orders=orders,
                order_url=lambda by: listed_as(order=by),
                records=await records_by_id(api, ids),
                testcase_url=lambda t: testcase_url(baseline_id, run_id, t, listing),
                next_url=f"?{urlencode([*keep, ('token', comparison.next_page_token)])}"
                if comparison.next_page_token
                else "",
                first_url=f"?{urlencode(keep)}" if params.get("token") else "",
                toggle_url=listed_as(regressions_only=not regressions_only),
                unsliced_url=listed_as(sliced=[]),
            )
        return console.render(request, "compare.html", context)

    return [Route("/projects/{project_id}/compare", compare_page)]
