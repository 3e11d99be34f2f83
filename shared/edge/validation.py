"""Turning a domain validation error into the caller's INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from shared.edge.errors import invalid

P = ParamSpec("P")
T = TypeVar("T")


def checked(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a pure validator; its ValueError (which names the field) becomes INVALID_ARGUMENT."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise invalid(str(exc)) from exc
