"""Searching by words, the same way wherever a list is searched (the Records page, a testset's
testcases): the string and number values of JSON documents (not their keys) with PostgreSQL's
'simple' configuration (no stemming, no stop words), asked as in a web search — every word,
"quoted phrases", `or`, -excluded words."""

from __future__ import annotations

from shared.edge.errors import invalid

MAX_SEARCH_CHARS = 500


def search(text: str) -> str | None:
    """The search text, or None without one; it must hold a word to look for."""
    if not text.strip():
        return None
    if len(text) > MAX_SEARCH_CHARS:
        raise invalid(f"search is longer than {MAX_SEARCH_CHARS} characters")
    if not any(c.isalnum() for c in text):
        raise invalid(f"search {text!r} holds no word to look for")
    return text


def tsquery(param: str) -> str:
    """The SQL query of the search text in ``param`` (a placeholder such as ``$3``)."""
    return f"websearch_to_tsquery('simple', {param})"
