"""The two failure classes of a handler (after arroyo's InvalidMessage vs everything else)."""

from __future__ import annotations


class InvalidEvent(Exception):
    """The event can never succeed (fails validation, names unknown ids): dead-letter and ack."""


class TransientError(Exception):
    """Worth retrying (database, network, a dependency's 5xx): retry with backoff, then redeliver."""
