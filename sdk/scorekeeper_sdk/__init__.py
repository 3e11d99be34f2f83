"""Python client for Scorekeeper: ``Scorekeeper`` / ``AsyncScorekeeper``, ``run_and_evaluate``.

``Client`` is the older thin async client over the raw proto messages (used by the devstack,
the tests and the benchmarks); new code uses ``Scorekeeper`` or ``AsyncScorekeeper``.

The names below are imported on first use (PEP 562), so ``import scorekeeper_sdk.tracing`` in an
application, or a service reading ``scorekeeper_sdk.exact_json``, does not load the gRPC clients.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorekeeper_sdk.api.calls import FeedbackIn
    from scorekeeper_sdk.api.monitors import CallIn
    from scorekeeper_sdk.api.reads import RunTimeout
    from scorekeeper_sdk.api.runs import RecordIn, ScoreIn
    from scorekeeper_sdk.call_log import LogOptions, LogStats
    from scorekeeper_sdk.client import Client
    from scorekeeper_sdk.clients import AsyncScorekeeper, Scorekeeper
    from scorekeeper_sdk.config import ConfigError
    from scorekeeper_sdk.errors import (
        AlreadyExists,
        DeadlineExceeded,
        FailedPrecondition,
        InvalidArgument,
        NotFound,
        PermissionDenied,
        ResourceExhausted,
        ScorekeeperError,
        ServerError,
        Unauthenticated,
        Unavailable,
    )
    from scorekeeper_sdk.tracing import Span, Trace, current_span, span, trace
    from scorekeeper_sdk.transport import RetryPolicy

# Each public name and the module it lives in.
_EXPORTS = {
    "AlreadyExists": "scorekeeper_sdk.errors",
    "AsyncScorekeeper": "scorekeeper_sdk.clients",
    "CallIn": "scorekeeper_sdk.api.monitors",
    "Client": "scorekeeper_sdk.client",
    "ConfigError": "scorekeeper_sdk.config",
    "DeadlineExceeded": "scorekeeper_sdk.errors",
    "FailedPrecondition": "scorekeeper_sdk.errors",
    "FeedbackIn": "scorekeeper_sdk.api.calls",
    "InvalidArgument": "scorekeeper_sdk.errors",
    "LogOptions": "scorekeeper_sdk.call_log",
    "LogStats": "scorekeeper_sdk.call_log",
    "NotFound": "scorekeeper_sdk.errors",
    "PermissionDenied": "scorekeeper_sdk.errors",
    "RecordIn": "scorekeeper_sdk.api.runs",
    "ResourceExhausted": "scorekeeper_sdk.errors",
    "RetryPolicy": "scorekeeper_sdk.transport",
    "RunTimeout": "scorekeeper_sdk.api.reads",
    "ScoreIn": "scorekeeper_sdk.api.runs",
    "Scorekeeper": "scorekeeper_sdk.clients",
    "ScorekeeperError": "scorekeeper_sdk.errors",
    "ServerError": "scorekeeper_sdk.errors",
    "Span": "scorekeeper_sdk.tracing",
    "Trace": "scorekeeper_sdk.tracing",
    "Unauthenticated": "scorekeeper_sdk.errors",
    "Unavailable": "scorekeeper_sdk.errors",
    "current_span": "scorekeeper_sdk.tracing",
    "span": "scorekeeper_sdk.tracing",
    "trace": "scorekeeper_sdk.tracing",
}

__all__ = [
    "AlreadyExists",
    "AsyncScorekeeper",
    "CallIn",
    "Client",
    "ConfigError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FeedbackIn",
    "InvalidArgument",
    "LogOptions",
    "LogStats",
    "NotFound",
    "PermissionDenied",
    "RecordIn",
    "ResourceExhausted",
    "RetryPolicy",
    "RunTimeout",
    "ScoreIn",
    "Scorekeeper",
    "ScorekeeperError",
    "ServerError",
    "Span",
    "Trace",
    "Unauthenticated",
    "Unavailable",
    "current_span",
    "span",
    "trace",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scorekeeper_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
