"""`scorekeeper reviews …`: where the review queues of human metrics stand (reviewing itself is
done on the console's Review page or through the SDK)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state

reviews = typer.Typer(help="The review queues of human metrics.", no_args_is_help=True)
app.add_typer(reviews, name="reviews")


@reviews.command("list")
def list_queues(
    ctx: typer.Context,
    metric: Annotated[str | None, typer.Option(help="Only this human metric (id or name).")] = None,
    as_json_: JsonOption = False,
) -> None:
    """Each human metric's queue: verdicts given, still to give, held now; and per reviewer."""
    st = state(ctx)
    metric_id = st.metrics([metric])[0].id if metric else ""
    queues = st.client.review_queues(st.project_id(), metric_id)
    if as_json_:
        return emit_json(as_json(queues))
    if not queues:
        st.out.print("no human metric in this project")
        return None
    table = Table("metric", "reviewed", "to review", "in review", "reviewers")
    for q in queues:
        people = ", ".join(f"{r.reviewer} {r.reviewed}" for r in q.reviewers)
        table.add_row(q.name, str(q.reviewed), str(q.to_review), str(q.in_review), people)
    st.out.print(table)
    return None
