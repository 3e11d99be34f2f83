"""Options `eval` and `runs kickoff` share: part of a testset (--testcase, --only, --sample), tags."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scorekeeper_sdk.cli.context import key_value

TestcaseOption = Annotated[list[str] | None, typer.Option("--testcase", help="Only this testcase (id); repeatable.")]
OnlyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="KEY=VALUE: only testcases whose metadata KEY is VALUE (JSON, else text);"
        " repeat a KEY for any of its values.",
    ),
]
INT32_MAX = 2**31 - 1  # the request's fields are 32-bit
SampleOption = Annotated[int, typer.Option(min=0, max=INT32_MAX, help="At most N testcases, drawn at random (0: all).")]
SeedOption = Annotated[
    int,
    typer.Option(min=-INT32_MAX - 1, max=INT32_MAX, help="The draw of --sample: the same seed, the same testcases."),
]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help='Label the run ("nightly", a branch); repeatable.')]


def subset_options(testcase: list[str] | None, only: list[str] | None, sample: int, seed: int) -> dict[str, Any]:
    """create_run / run_and_evaluate keyword arguments choosing part of the testset."""
    wanted: dict[str, list[Any]] = {}
    for given in only or []:
        key, value = key_value(given, "--only")
        wanted.setdefault(key, []).append(value)
    return {
        "testcase_ids": list(testcase or []),
        "metadata_filter": {k: v[0] if len(v) == 1 else v for k, v in wanted.items()},
        "sample": sample,
        "sample_seed": seed,
    }
