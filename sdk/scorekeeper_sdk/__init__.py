"""Python client for Scorekeeper: ``Scorekeeper`` / ``AsyncScorekeeper``, ``run_and_evaluate``.

``Client`` is the older thin async client over the raw proto messages (used by the devstack,
the tests and the benchmarks); new code uses ``Scorekeeper`` or ``AsyncScorekeeper``.
"""

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
