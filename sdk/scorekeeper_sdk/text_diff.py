"""Two texts' differences, as the console and the CLI show them: line by line (a metric's
guidelines from one version to the next) or word by word (a testcase's output in two runs)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Texts longer than this many words and spaces (about 1,000 words) on either side are shown whole,
# not compared: SequenceMatcher takes quadratic time at worst — 0.16 s for two unlike texts of
# this length, 1.2 s at 5,000.
MAX_WORDS = 2000
_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Part:
    """A piece of a diff: ``kind`` is "removed", "added" or "same"."""

    kind: str
    text: str


@dataclass(frozen=True)
class Words:
    """Each side of a word diff, as its parts in order (``before``: same and removed; ``after``:
    same and added); ``compared``: False when the texts were too long to compare."""

    before: list[Part]
    after: list[Part]
    compared: bool

    @property
    def changed(self) -> bool:
        return any(p.kind != "same" for p in (*self.before, *self.after))


def lines(before: str, after: str) -> list[Part]:
    """The lines that differ, with one line of context around each change."""
    kinds = {"-": "removed", "+": "added", " ": "same"}
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
    return [Part(kinds[d[0]], d[1:]) for d in diff if d[:1] in kinds and not d.startswith(("---", "+++"))]


def words(before: str, after: str) -> Words:
    """``before`` and ``after`` compared word by word (punctuation and runs of space are words too)."""
    a, b = _WORDS.findall(before), _WORDS.findall(after)
    if len(a) > MAX_WORDS or len(b) > MAX_WORDS:
        return Words([Part("same", before)], [Part("same", after)], compared=False)
    left: list[Part] = []
    right: list[Part] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(Part("same", "".join(a[i1:i2])))
            right.append(Part("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Part("removed", "".join(a[i1:i2])))
        if j2 > j1:
            right.append(Part("added", "".join(b[j1:j2])))
    return Words(left, right, compared=True)


def output_text(outputs: Mapping[str, Any]) -> str:
    """What a record's output reads as: a lone text field's text, else its JSON."""
    if len(outputs) == 1 and isinstance(only := next(iter(outputs.values())), str):
        return only
    return json.dumps(outputs, indent=2, sort_keys=True, ensure_ascii=False)


def sides(before: str | None, after: str | None) -> Words:
    """One trial's outputs in two runs, word by word; a trial only one run has (the other None) is
    shown as it is, nothing marked."""
    if before is None or after is None:
        before = after = before or after or ""
    return words(before, after)
