"""A small system the SDK and CLI tests evaluate: it adds one to ``n``, answers wrong when n is a
multiple of 5 and raises on 7. As a command (``python -m tests.support.sdk_bots``) it reads the
inputs as JSON on stdin and writes its answer as JSON on stdout, with usage under "_scorekeeper"."""

from __future__ import annotations

import json
import sys
from typing import Any

from scorekeeper_sdk import span


def answer(inputs: dict[str, Any]) -> str:
    n = int(inputs["n"])
    if n == 7:
        raise ValueError(f"cannot answer {n}")
    return str(n + 2 if n % 5 == 0 else n + 1)


def traced(inputs: dict[str, Any]) -> str:
    """``answer`` in steps (scorekeeper_sdk.span): a retrieval holding an embedding, then the
    answer (where n = 7 fails), with its tokens."""
    n = int(inputs["n"])
    with span("retrieve", kind="retrieval", input={"n": n}) as retrieve:
        with span("embed", kind="embedding") as embed:
            embed.output = [n / 10]
        retrieve.output = [f"doc-{n}"]
    with span("answer", kind="llm", metadata={"model": "adder-1"}) as step:
        step.prompt_tokens, step.completion_tokens = 10 + n, 1
        step.output = answer(inputs)
        return str(step.output)


def right(inputs: dict[str, Any]) -> str:
    """A bot that is never wrong: a baseline for ``answer``."""
    return str(int(inputs["n"]) + 1)


def exact(output: str, expected: dict[str, Any]) -> tuple[bool, str]:
    """A scorer of your own (``--scorer``): the answer as expected."""
    return output == expected["answer"], f"answered {output}, expected {expected['answer']}"


def main() -> None:
    inputs = json.loads(sys.stdin.readline())
    try:
        response = answer(inputs)
    except ValueError as exc:
        sys.stderr.write(f"bot failed: {exc}\n")
        sys.exit(3)
    sys.stdout.write(json.dumps({"response": response, "_scorekeeper": {"prompt_tokens": 5, "cost_usd": 0.01}}))


if __name__ == "__main__":
    main()
