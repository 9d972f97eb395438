"""The memory tier: this pod's LRU of hot blobs, bounded in bytes, with a time to live.

Blobs larger than ``max_blob`` never enter. What enters is announced to the coordinator so peers
can send a client here (see ``proxy.cluster.peers``); what leaves is withdrawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from proxy.digest import Digest
from proxy.memo import Memo

MAX_BLOBS = 1_000_000


class MemoryTier:
    def __init__(self, budget: int, ttl: float, max_blob: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.ttl = ttl
        self.max_blob = min(max_blob, budget)
        self._blobs: Memo[Digest, bytes] = Memo(clock, max_entries=MAX_BLOBS, max_bytes=budget, sizeof=len, ttl=ttl)

    @property
    def used(self) -> int:
        return self._blobs.size

    def fits(self, size: int) -> bool:
        return 0 < size <= self.max_blob

    def get(self, digest: Digest) -> bytes | None:
        return self._blobs.fresh(digest)

    def put(self, digest: Digest, data: bytes) -> list[Digest]:
        """Hold ``data``; returns the digests evicted to make room (least recently used first)."""
        if not self.fits(len(data)):
            return []
        return [evicted for evicted, _ in self._blobs.put(digest, data)]

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, Digest) and self.get(digest) is not None

    def __len__(self) -> int:
        return len(self._blobs)
