"""Memo: answers an adapter reuses for a while (revisions, API answers, listings), held in memory
and bounded twice: by bytes (least recently used go first) and by age (nothing outlives
``retain`` seconds, however quiet the memo is). Built on ``cachetools.TTLCache``.

``fresh(key, ttl)`` is a value younger than ``ttl``; ``last(key)`` is the value whatever its age
(what stale-if-error serves) while it is retained. Keys made from client input must be bounded:
``memo_key`` hashes them, so a key costs 32 bytes whatever the client sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

V = TypeVar("V")

ENTRY_OVERHEAD = 256
"""Bytes counted for every entry on top of its value's size (key, stamp, dict slot)."""


@dataclass(frozen=True, slots=True)
class Stamped(Generic[V]):
    value: V
    at: float
    size: int


def memo_key(*parts: str | bytes | None) -> bytes:
    """A fixed-size key for parts of any length (a request path, a POST body)."""
    h = hashlib.sha256()
    for part in parts:
        data = b"\x00" if part is None else part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()


class Memo(Generic[V]):
    def __init__(self, clock: Callable[[], float], max_bytes: int, retain: float,
                 size: Callable[[V], int] = lambda value: 0, max_value_bytes: int | None = None) -> None:
        self._clock = clock
        self._size = size
        self.max_value_bytes = max_value_bytes if max_value_bytes is not None else max_bytes // 8
        """A larger value is not kept at all (it would push out many small ones)."""
        self._items: TTLCache[Hashable, Stamped[V]] = TTLCache(
            maxsize=max_bytes, ttl=retain, timer=clock, getsizeof=lambda item: item.size)

    @property
    def bytes(self) -> int:
        """Bytes held now (as counted: value sizes plus ``ENTRY_OVERHEAD`` each)."""
        self._items.expire()
        return int(self._items.currsize)

    def __len__(self) -> int:
        self._items.expire()
        return len(self._items)

    def put(self, key: Hashable, value: V) -> bool:
        """Keep ``value`` under ``key``; False when it is too large to keep."""
        size = self._size(value)
        if size > self.max_value_bytes:
            self._items.pop(key, None)
            return False
        self._items[key] = Stamped(value, self._clock(), size + ENTRY_OVERHEAD)
        return True

    def last(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        return None if item is None else item.value

    def fresh(self, key: Hashable, ttl: float | None) -> V | None:
        """``ttl`` None: the value is fresh as long as it is retained (an immutable fact)."""
        item = self._items.get(key)
        if item is None or (ttl is not None and self._clock() - item.at >= ttl):
            return None
        return item.value

    def discard(self, matches: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._items if matches(k)]:
            self._items.pop(key, None)
