"""Schemathesis hooks for the contract fuzz (``SCHEMATHESIS_HOOKS=tests.support.fuzz_hooks``).

- Half of the calls name entities that exist (ids from ``SCOREKEEPER_FUZZ_IDS``, a JSON map of a
  path parameter to an id), so generated bodies and queries reach the operations' own checks
  instead of stopping at "does not exist".
- A ``grpc-timeout`` the fuzzer shortens below a second becomes 30 s: a deadline the caller sets
  too short for any database round trip answers 504 by design (tested on its own); the fuzz is
  after the server's faults.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import schemathesis

_IDS: dict[str, str] = json.loads(os.environ.get("SCOREKEEPER_FUZZ_IDS", "{}"))
_CALLS = itertools.count()
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


@schemathesis.hook  # type: ignore[untyped-decorator]
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.path_parameters and next(_CALLS) % 2:
        for name in case.path_parameters:
            if name in _IDS:
                case.path_parameters[name] = _IDS[name]
    headers = case.headers or {}
    timeout = headers.get("grpc-timeout")
    if _seconds(timeout) < 1.0:
        headers["grpc-timeout"] = "30S"


def _seconds(timeout: object) -> float:
    """A well-formed grpc-timeout in seconds; anything else as infinite (left for the server to refuse)."""
    if isinstance(timeout, str) and len(timeout) >= 2 and timeout[:-1].isdigit() and timeout[-1] in _UNITS:
        return int(timeout[:-1]) * _UNITS[timeout[-1]]
    return float("inf")
