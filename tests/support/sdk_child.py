"""A process running run_and_evaluate that a test kills mid-way: every call is appended to a file
(the testcase's n) before it returns, so the test knows how far it got."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from scorekeeper_sdk import Scorekeeper
from scorekeeper_sdk.evaluate import run_and_evaluate


def main() -> None:
    url, query_url, key, project, testset, metric, calls, system_name = sys.argv[1:9]
    log = Path(calls).open("a", buffering=1)  # noqa: SIM115 - held for the life of the process

    def system(inputs: dict[str, Any]) -> str:
        time.sleep(0.01)
        log.write(f"{inputs['n']}\n")
        return str(int(inputs["n"]) + 1)

    with Scorekeeper(url, key, query_url=query_url) as client:
        run_and_evaluate(
            client,
            project_id=project,
            testset_id=testset,
            metric_ids=[metric],
            system=system,
            system_name=system_name,
            trials=2,
            max_concurrency=4,
            progress=False,
        )


if __name__ == "__main__":
    main()
