"""Landed: which byte ranges of a segmented fill's temp file are on disk.

A segmented fill writes several ranges of one file at once, so what is on disk is a set of
disjoint intervals. ``prefix`` is the contiguous run from byte 0 (what a fill calls ``written``:
what tailing readers and hashing may consume); ``reach(pos)`` is how far the landed run that
holds ``pos`` goes (what a Range reader beyond the prefix may be served).
"""

from __future__ import annotations

import bisect


class Landed:
    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        """Bytes [start, end) are on disk; merges with touching or overlapping runs."""
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)  # first run that ends at or after start
        j = bisect.bisect_right(self._starts, end)  # runs [i, j) touch [start, end]
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    @property
    def prefix(self) -> int:
        """How many bytes from byte 0 are on disk without a gap."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def reach(self, pos: int) -> int:
        """The end of the landed run holding byte ``pos``; ``pos`` itself when that byte is missing."""
        i = bisect.bisect_right(self._starts, pos) - 1
        if i >= 0 and self._ends[i] > pos:
            return self._ends[i]
        return pos

    def covers(self, start: int, end: int) -> bool:
        """Whether every byte of [start, end) is on disk."""
        return end <= start or self.reach(start) >= end

    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def beyond(self, pos: int) -> tuple[tuple[int, int], ...]:
        """The runs from byte ``pos`` on, the one holding ``pos`` cut there (what a fill record keeps)."""
        return tuple((max(start, pos), end) for start, end in self.runs() if end > pos)

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The missing ranges of [start, end), in order."""
        found, pos = [], start
        for a, b in self.runs():
            if b <= pos:
                continue
            if a >= end:
                break
            if a > pos:
                found.append((pos, a))
            pos = max(pos, b)
        if pos < end:
            found.append((pos, end))
        return found
