"""Several runs of one testset side by side (CompareRunMatrix): pick the runs, then per testcase
each run's output and values, per run each metric's mean; only where they part, if asked."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.usage import MEASURES, amount, told
from scorekeeper_sdk.views import RunUsage
from services.console.pages.compare import recent_runs
from services.console.web import INPUT_ERRORS, Console, api_message

MATRIX_PAGE = 25


def best_values(row: qpb.MatrixRow, metric_ids: list[str]) -> dict[str, float]:
    """Per metric, the highest value of the row's runs, where they do not all have it."""
    best = {}
    for m in metric_ids:
        values = [c.values[m] for c in row.cells if m in c.values]
        if values and (len(values) < len(row.cells) or max(values) - min(values) > 1e-9):
            best[m] = max(values)
    return best


def routes(console: Console) -> list[Route]:
    async def matrix_page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        params = request.query_params
        chosen = list(dict.fromkeys(params.getlist("run")))
        differing = params.get("differing") == "1"
        data = await console.project_page(
            request,
            api,
            project_id,
            {"recent": recent_runs(api, project_id)},
        )
        created = {r.id: r.created_at for r in data["recent"].runs}
        chosen.sort(key=lambda r: created.get(r, ""))  # oldest first, left to right
        context: dict[str, Any] = {
            **data,
            "runs": [r for r in data["recent"].runs if r.testset_id],
            "chosen": chosen,
            "differing": differing,
            "matrix": None,
            "error": "",
        }
        if len(chosen) < 2:  # the picker: a run's page links here with that run ticked
            refused = params.get("picked") == "1"
            if refused:
                context["error"] = "Tick two runs or more, of the same testset."
            return console.render(request, "compare_matrix.html", context, status_code=400 if refused else 200)
        try:
            matrix = await api.call(
                api.stubs.query.CompareRunMatrix,
                qpb.CompareRunMatrixRequest(
                    run_ids=chosen, differing_only=differing, page_size=MATRIX_PAGE, page_token=params.get("token", "")
                ),
                qpb.CompareRunMatrixResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            context["error"] = api_message(exc)
            return console.render(request, "compare_matrix.html", context, status_code=400)
        keep = [("run", r) for r in chosen] + ([("differing", "1")] if differing else [])
        metric_ids = [m.metric_id for m in matrix.metrics]
        used = [from_proto(RunUsage, r.usage) for r in matrix.runs]
        context.update(
            matrix=matrix,
            # Per run, what the whole run used: [(measure, as said)] of the measures any run has.
            usage={
                column.run_id: [(m.name, amount(m.of(u), m.unit)) for m in MEASURES if told(m, used)]
                for column, u in zip(matrix.runs, used, strict=True)
            },
            metric_ids=metric_ids,
            best={row.testcase_id: best_values(row, metric_ids) for row in matrix.testcases},
            next_url=f"?{urlencode([*keep, ('token', matrix.next_page_token)])}" if matrix.next_page_token else "",
            first_url=f"?{urlencode(keep)}" if params.get("token") else "",
            toggle_url="?" + urlencode([("run", r) for r in chosen] + ([] if differing else [("differing", "1")])),
        )
        return console.render(request, "compare_matrix.html", context)

    return [Route("/projects/{project_id}/compare/matrix", matrix_page)]
