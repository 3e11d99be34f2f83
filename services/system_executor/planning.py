"""A retry's chunks: the positions of the testcases it executes again, cut into chunks that each
span at most ``size`` positions (a first execution's chunks are cut in SQL, repository.chunks)."""

from __future__ import annotations

from collections.abc import Sequence

from services.system_executor.repository import ChunkBounds


def retry_chunks(positions: Sequence[int], size: int) -> list[ChunkBounds]:
    """``positions`` in increasing order → chunks in order. A chunk spans at most ``size``
    positions, so it reads no more testcases than a chunk of the first execution, however sparse
    the retried testcases are; the testcases in its span that have a record are skipped."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    chunks: list[ChunkBounds] = []
    first = last = -1
    count = 0
    for position in positions:
        if count and position - first < size:
            last, count = position, count + 1
            continue
        if count:
            chunks.append(ChunkBounds(first, last, count))
        first = last = position
        count = 1
    if count:
        chunks.append(ChunkBounds(first, last, count))
    return chunks
