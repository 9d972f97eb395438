"""Memo: what is cheaper to remember for a while than to ask for again, in bounded memory.

One memo type for every in-memory cache of answers: bounded by entries and, with a ``sizeof``, by
bytes; the least recently used entry goes first (``cachetools`` keeps the order and the sizes).
Every value is stamped when it is put:

- ``fresh(key, max_age)``: the value if it is younger than ``max_age`` (None: any age), and it
  counts as a use;
- ``last(key)``: the last value put, whatever its age: what stale-if-error serves;
- ``ttl``: values older than this are dropped and never answered, not even by ``last``.

Keys must be bounded in size: never a raw client body (hash it), never unbounded input.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Stamped(Generic[V]):
    value: V
    at: float


class _Lru(cachetools.LRUCache[K, Stamped[V]]):
    """An LRU that records what it evicts and can be read without counting as a use."""

    def __init__(self, maxsize: float, getsizeof: Callable[[Stamped[V]], float] | None) -> None:
        super().__init__(maxsize, getsizeof)
        self.evicted: list[tuple[K, V]] = []

    def popitem(self) -> tuple[K, Stamped[V]]:
        key, item = super().popitem()
        self.evicted.append((key, item.value))
        return key, item

    def peek(self, key: K) -> Stamped[V] | None:
        return cachetools.Cache.__getitem__(self, key) if key in self else None


class Memo(Generic[K, V]):
    def __init__(self, clock: Callable[[], float], *, max_entries: int, max_bytes: int | None = None,
                 sizeof: Callable[[V], int] | None = None, ttl: float | None = None) -> None:
        """``max_bytes`` bounds the sum of ``sizeof(value)`` (both or neither)."""
        if (max_bytes is None) != (sizeof is None):
            raise ValueError("max_bytes and sizeof go together")
        self._clock = clock
        self._max_entries = max_entries
        self.max_bytes = max_bytes
        self._ttl = ttl
        if sizeof is None:
            self._items: _Lru[K, V] = _Lru(max_entries, None)
        else:
            size = sizeof
            self._items = _Lru(max_bytes or 0, lambda item: size(item.value))

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        """Remember ``value``; returns what was evicted to make room, least recently used first. A
        value larger than ``max_bytes`` is not remembered (and ``key``'s old value is dropped)."""
        items = self._items
        items.pop(key, None)
        stamped = Stamped(value, self._clock())
        if items.getsizeof(stamped) > items.maxsize:
            return []
        items[key] = stamped
        while len(items) > self._max_entries:
            items.popitem()
        evicted, items.evicted = items.evicted, []
        return evicted

    def fresh(self, key: K, max_age: float | None = None) -> V | None:
        """The value if younger than ``max_age`` (None: any age within the memo's ttl); a use."""
        item = self._live(key)
        if item is None or (max_age is not None and self._clock() - item.at >= max_age):
            return None
        return self._items[key].value  # through the LRU: counts as a use

    def last(self, key: K) -> V | None:
        """The last value put, however old (within the memo's ttl); not a use."""
        item = self._live(key)
        return None if item is None else item.value

    def pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        return None if item is None else item.value

    def drop(self, where: Callable[[K], bool]) -> None:
        """Forget every key ``where`` holds for."""
        for key in [k for k in self._items if where(k)]:
            del self._items[key]

    @property
    def size(self) -> int:
        """The sum of ``sizeof`` over the values held (their number without a ``sizeof``)."""
        return int(self._items.currsize)

    def __len__(self) -> int:
        return len(self._items)

    def _live(self, key: K) -> Stamped[V] | None:
        item = self._items.peek(key)
        if item is not None and self._ttl is not None and self._clock() - item.at >= self._ttl:
            del self._items[key]
            return None
        return item
