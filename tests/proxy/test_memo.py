"""``Memo``: bounded by entries and bytes, least recently used first; fresh within an age, last regardless."""

from __future__ import annotations

import pytest

from proxy.memo import Memo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_bound_evicts_the_least_recently_used() -> None:
    memo: Memo[str, int] = Memo(Clock(), max_entries=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.fresh("a") == 1  # a use: b is now the least recent
    assert memo.put("c", 3) == [("b", 2)]
    assert (memo.last("a"), memo.last("b"), memo.last("c")) == (1, None, 3)
    assert len(memo) == 2


def test_last_is_not_a_use() -> None:
    memo: Memo[str, int] = Memo(Clock(), max_entries=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.last("a") == 1
    assert memo.put("c", 3) == [("a", 1)]


def test_bytes_bound_with_sizeof() -> None:
    memo: Memo[str, bytes] = Memo(Clock(), max_entries=100, max_bytes=10, sizeof=len)
    assert memo.put("a", b"x" * 4) == []
    assert memo.put("b", b"y" * 4) == []
    assert memo.size == 8
    assert memo.put("c", b"z" * 4) == [("a", b"x" * 4)]
    assert memo.size == 8
    assert memo.put("huge", b"h" * 11) == [], "larger than the whole budget: not remembered"
    assert memo.last("huge") is None
    assert memo.size == 8


def test_replacing_a_value_is_not_an_eviction() -> None:
    memo: Memo[str, bytes] = Memo(Clock(), max_entries=100, max_bytes=10, sizeof=len)
    memo.put("a", b"x" * 6)
    assert memo.put("a", b"y" * 8) == []
    assert (memo.last("a"), memo.size) == (b"y" * 8, 8)


def test_fresh_within_max_age_last_regardless() -> None:
    clock = Clock()
    memo: Memo[str, int] = Memo(clock, max_entries=10)
    memo.put("a", 1)
    clock.now += 9.9
    assert memo.fresh("a", 10.0) == 1
    clock.now += 0.1
    assert memo.fresh("a", 10.0) is None
    assert memo.fresh("a", None) == 1
    assert memo.last("a") == 1, "stale-if-error still has it"


def test_ttl_drops_values_for_good() -> None:
    clock = Clock()
    memo: Memo[str, int] = Memo(clock, max_entries=10, ttl=5.0)
    memo.put("a", 1)
    clock.now += 5.0
    assert memo.last("a") is None
    assert len(memo) == 0


def test_drop_and_pop() -> None:
    memo: Memo[tuple[str, int], int] = Memo(Clock(), max_entries=10)
    for i in range(4):
        memo.put(("even" if i % 2 == 0 else "odd", i), i)
    memo.drop(lambda key: key[0] == "even")
    assert sorted(v for k in [("odd", 1), ("odd", 3), ("even", 0)] if (v := memo.last(k)) is not None) == [1, 3]
    assert memo.pop(("odd", 1)) == 1
    assert memo.pop(("odd", 1)) is None


def test_bytes_bound_needs_sizeof() -> None:
    with pytest.raises(ValueError, match="together"):
        Memo(Clock(), max_entries=1, max_bytes=10)
