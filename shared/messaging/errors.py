"""The failure classes of a handler (after arroyo's InvalidMessage vs everything else), and a
handler's way to say "not now"."""

from __future__ import annotations


class InvalidEvent(Exception):
    """The event can never succeed (fails validation, names unknown ids): dead-letter and ack."""


class TransientError(Exception):
    """Worth retrying (database, network, a dependency's 5xx): retry with backoff, then redeliver."""


class Postpone(Exception):
    """Not a failure: another consumer is doing this work right now. Redeliver the event after
    ``delay_s``; never dead-lettered for it."""

    def __init__(self, reason: str, delay_s: float) -> None:
        super().__init__(reason)
        self.delay_s = delay_s
