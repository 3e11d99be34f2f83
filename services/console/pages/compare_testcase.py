"""One testcase in two runs side by side: its inputs and expected values, each run's outputs trial
by trial with the words that changed marked, each record's scores with their reasoning, and each
metric's change (CompareRuns of that testcase alone)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from urllib.parse import urlencode

from scorekeeper.v1 import query_pb2 as qpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scorekeeper_sdk.text_diff import Words, output_text, sides
from services.console.pages.compare import listing_of, orders_of, output_types, records_by_id, testcase_url
from services.console.pages.run import run_of_project
from services.console.web import Console, PageNotFound
from shared.edge.convert import struct_to_dict


@dataclass(frozen=True)
class Trial:
    """The records of one trial in each run (None: the run has no such trial), their outputs
    compared word by word."""

    baseline: qpb.RecordView | None
    run: qpb.RecordView | None
    diff: Words


def record_text(record: qpb.RecordView | None) -> str | None:
    """What a record's output reads as (text_diff.output_text); an errored record's is empty, a
    missing one's None."""
    if record is None:
        return None
    return "" if record.status == "errored" else output_text(struct_to_dict(record.outputs))


def routes(console: Console) -> list[Route]:
    async def testcase_page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        params = request.query_params
        baseline_id, run_id, testcase_id = (params.get(k, "") for k in ("baseline", "run", "testcase"))
        if not (baseline_id and run_id and testcase_id):
            raise PageNotFound
        data, baseline, run = await asyncio.gather(
            console.project_page(request, api, project_id, {}),
            run_of_project(api, project_id, baseline_id),
            run_of_project(api, project_id, run_id),
        )
        # The comparison as the compare page listed it (its order, slice, regressions only): kept in
        # the links back and to the previous / next testcase.
        listing = listing_of(params)
        comparison = await api.call(
            api.stubs.query.CompareRuns,
            qpb.CompareRunsRequest(run_id=run_id, baseline_run_id=baseline_id, testcase_ids=[testcase_id], page_size=1),
            qpb.CompareRunsResponse,
        )
        if not comparison.testcases:  # in neither run
            raise PageNotFound
        testcase = comparison.testcases[0]
        records, listed = await asyncio.gather(
            records_by_id(api, [*testcase.baseline_record_ids, *testcase.record_ids]),
            api.call(
                api.stubs.query.CompareRuns,
                qpb.CompareRunsRequest(
                    run_id=run_id,
                    baseline_run_id=baseline_id,
                    around_testcase_id=testcase_id,
                    page_size=1,
                    order_by=listing.order,
                    regressions_only=listing.regressions_only,
                    fields=listing.sliced,
                ),
                qpb.CompareRunsResponse,
            ),
        )
        pairs = itertools.zip_longest(
            [records[i] for i in testcase.baseline_record_ids], [records[i] for i in testcase.record_ids]
        )
        context = {
            **data,
            "baseline": baseline,
            "run": run,
            "testcase": testcase,
            "shown": next(iter(records.values())),  # its inputs and expected values
            "trials": [Trial(a, b, sides(record_text(a), record_text(b))) for a, b in pairs],
            "output_types": output_types(baseline, run),
            # Back to the comparison where this testcase stands: the page that starts with it.
            "back_url": "?"
            + urlencode(
                [
                    ("baseline", baseline_id),
                    ("run", run_id),
                    *listing.kept,
                    *([("token", listed.around.page_token)] if listed.around.page_token else []),
                ]
            )
            + f"#testcase-{testcase.testcase_id}",
            "around": listed.around,
            "order_label": dict(orders_of(listing.order, listed.metrics))[listing.order],
            "listing": listing,
            "testcase_url": lambda t: testcase_url(baseline_id, run_id, t, listing),
        }
        return console.render(request, "compare_testcase.html", context)

    return [Route("/projects/{project_id}/compare/testcase", testcase_page)]
