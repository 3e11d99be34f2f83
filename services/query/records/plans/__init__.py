"""The ways of reading a page of records, one module each, by the Way choose.py picks. A new way
is one module with its SQL, one member of Way, one line here, and a case in choose()."""

from __future__ import annotations

from services.query.records.choose import Way
from services.query.records.plans import key_windows, matches_first, plain, scores_first, two_windows, walk
from services.query.records.plans.base import Learned, Read

READS: dict[Way, Read] = {
    Way.PLAIN: plain.read,
    Way.WALK: walk.read,
    Way.MATCHES_FIRST: matches_first.read,
    Way.TWO_WINDOWS: two_windows.read,
    Way.KEY_WINDOWS: key_windows.read,
    Way.SCORES_FIRST: scores_first.read,
}

__all__ = ["READS", "Learned", "Read"]
