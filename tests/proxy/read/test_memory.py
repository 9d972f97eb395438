"""The memory tier: bounded in bytes, least recently used out first (and reported), expired after its ttl."""

from __future__ import annotations

from proxy.digest import Digest
from proxy.read.memory import MemoryTier


def digest(n: int) -> Digest:
    return Digest.of(bytes([n]))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_evicts_least_recently_used_and_says_which() -> None:
    tier = MemoryTier(budget=10, ttl=60.0, max_blob=8, clock=Clock())
    assert tier.put(digest(1), b"a" * 4) == []
    assert tier.put(digest(2), b"b" * 4) == []
    assert tier.get(digest(1)) == b"a" * 4
    assert tier.put(digest(3), b"c" * 4) == [digest(2)]
    assert tier.used == 8
    assert digest(2) not in tier
    assert digest(1) in tier
    assert tier.put(digest(4), b"d" * 9) == [], "larger than max_blob: never enters"
    assert len(tier) == 2


def test_expired_blobs_are_not_served() -> None:
    clock = Clock()
    tier = MemoryTier(budget=10, ttl=5.0, max_blob=8, clock=clock)
    tier.put(digest(1), b"a")
    clock.now = 4.9
    assert tier.get(digest(1)) == b"a"
    clock.now = 5.0
    assert tier.get(digest(1)) is None
    assert tier.used == 0
