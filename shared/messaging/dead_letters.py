"""Reading a dead letter: the ids of the event it holds, whatever else is wrong with it.

A dead-lettered event may not parse at all (that may be why it was dead-lettered): nested
10,000 deep, cut off, holding text no model takes. Its top-level fields are read with a streaming
parser that never builds the rest, so the run it belongs to can still be settled.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import ijson

from shared.events import DeadLetter

_SCALARS = frozenset({"string", "number", "boolean", "null"})


def top_level_fields(payload: str, names: frozenset[str]) -> dict[str, Any]:
    """The top-level scalar fields ``names`` of a JSON object, as far as the text can be read."""
    found: dict[str, Any] = {}
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(payload.encode("utf-8", "replace")), use_float=True):
            if prefix in names and event in _SCALARS:
                found[prefix] = value
                if len(found) == len(names):
                    break
    except (ijson.JSONError, ValueError, RecursionError):
        pass  # what was read before the fault still names the run
    return found


def ids(letter: DeadLetter, *names: str) -> dict[str, uuid.UUID] | None:
    """The named id fields of the dead-lettered event; None unless every one is there and valid."""
    fields = top_level_fields(letter.payload, frozenset(names))
    try:
        return {name: uuid.UUID(str(fields[name])) for name in names}
    except (KeyError, ValueError):
        return None


def id_list(letter: DeadLetter, name: str) -> list[uuid.UUID]:
    """The ids of a top-level list field (a batch's ``record_ids``), as far as the text can be read."""
    found: list[uuid.UUID] = []
    item = f"{name}.item"
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(letter.payload.encode("utf-8", "replace"))):
            if prefix == item and event == "string":
                try:
                    found.append(uuid.UUID(value))
                except ValueError:
                    continue
            elif prefix == name and event == "end_array":
                break
    except (ijson.JSONError, ValueError, RecursionError):
        pass
    return found


def integer(letter: DeadLetter, name: str) -> int | None:
    value = top_level_fields(letter.payload, frozenset({name})).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
