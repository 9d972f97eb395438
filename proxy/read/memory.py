"""The memory tier: this pod's LRU of hot blobs, bounded in bytes, with a time to live.

Blobs larger than ``max_blob`` never enter. What enters is announced to the coordinator so peers
can send a client here (see ``proxy.cluster.peers``); what leaves is withdrawn.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from proxy.digest import Digest


@dataclass(frozen=True, slots=True)
class _Held:
    data: bytes
    expires: float


class MemoryTier:
    def __init__(self, budget: int, ttl: float, max_blob: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.ttl = ttl
        self.max_blob = min(max_blob, budget)
        self._clock = clock
        self._blobs: OrderedDict[Digest, _Held] = OrderedDict()
        self.used = 0

    def fits(self, size: int) -> bool:
        return 0 < size <= self.max_blob

    def get(self, digest: Digest) -> bytes | None:
        held = self._blobs.get(digest)
        if held is None:
            return None
        if held.expires <= self._clock():
            self._remove(digest)
            return None
        self._blobs.move_to_end(digest)
        return held.data

    def put(self, digest: Digest, data: bytes) -> list[Digest]:
        """Hold ``data``; returns the digests evicted to make room (least recently used first)."""
        if not self.fits(len(data)):
            return []
        if digest in self._blobs:
            self._remove(digest)
        evicted: list[Digest] = []
        while self.used + len(data) > self.budget and self._blobs:
            oldest = next(iter(self._blobs))
            self._remove(oldest)
            evicted.append(oldest)
        self._blobs[digest] = _Held(data, self._clock() + self.ttl)
        self.used += len(data)
        return evicted

    def _remove(self, digest: Digest) -> None:
        held = self._blobs.pop(digest)
        self.used -= len(held.data)

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, Digest) and self.get(digest) is not None

    def __len__(self) -> int:
        return len(self._blobs)
