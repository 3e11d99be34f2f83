"""Who kicked off a run (runs.created_by): the API key of the call, or what kicked it off."""

from __future__ import annotations

from typing import NamedTuple

from shared.auth.access import Principal, caller


class Author(NamedTuple):
    """An API key's name and public prefix; or what made the run ("schedule 'nightly'"), no prefix."""

    name: str
    key_prefix: str = ""


def author_of(who: Principal) -> Author:
    """A call's key (SCOREKEEPER_ADMIN_KEY, from the environment, has no row and no prefix)."""
    return Author(who.name, who.prefix) if who.key_id is not None else Author("the instance admin key")


def the_caller() -> Author:
    """The key of the call in progress."""
    return author_of(caller())
