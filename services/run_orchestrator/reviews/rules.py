"""What a review request must be: pure checks, a ValueError naming the field."""

from __future__ import annotations

MAX_REVIEWER = 200
DEFAULT_LEASE_S = 600
MAX_LEASE_S = 3600
# How long a submitted review keeps its item out of the queue while the scorer writes the
# verdict; if the verdict never arrives, the item returns to the queue after it.
SUBMITTED_HOLD_S = 120


def reviewer(name: str) -> str:
    """The reviewer's name, trimmed: 1..200 characters."""
    name = name.strip()
    if not name:
        raise ValueError("reviewer is required")
    if len(name) > MAX_REVIEWER:
        raise ValueError(f"reviewer must be at most {MAX_REVIEWER} characters, got {len(name)}")
    return name


def lease_seconds(seconds: int) -> int:
    """How long a lease lasts: 1..3600 seconds, 0 for the default (600)."""
    if seconds == 0:
        return DEFAULT_LEASE_S
    if not 1 <= seconds <= MAX_LEASE_S:
        raise ValueError(f"lease_seconds must be within 1..{MAX_LEASE_S}, got {seconds}")
    return seconds
