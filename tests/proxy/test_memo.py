"""``proxy.memo.Memo``: bounded by bytes and by age, whatever the keys and values."""

from __future__ import annotations

from proxy.memo import ENTRY_OVERHEAD, Memo, memo_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bytes_bound_evicts_least_recently_used() -> None:
    memo: Memo[bytes] = Memo(Clock(), max_bytes=10 * (1000 + ENTRY_OVERHEAD), retain=3600, size=len)
    for i in range(100):
        memo.put(i, b"x" * 1000)
        memo.fresh(0, None)  # keep 0 in use
    assert memo.bytes <= 10 * (1000 + ENTRY_OVERHEAD)
    assert len(memo) == 10
    assert memo.last(0) is not None, "the entry in use stays"
    assert memo.last(50) is None


def test_too_large_values_are_not_kept() -> None:
    memo: Memo[bytes] = Memo(Clock(), max_bytes=1 << 20, retain=3600, size=len, max_value_bytes=1000)
    assert memo.put("small", b"x" * 1000)
    assert not memo.put("big", b"x" * 1001)
    assert memo.last("big") is None


def test_nothing_outlives_retain_even_when_the_memo_is_quiet() -> None:
    clock = Clock()
    memo: Memo[str] = Memo(clock, max_bytes=1 << 20, retain=60, size=len)
    memo.put("a", "answer")
    clock.now += 30
    assert memo.fresh("a", 10) is None, "older than the TTL: not fresh"
    assert memo.last("a") == "answer", "but still there for stale-if-error"
    clock.now += 31
    assert memo.last("a") is None
    assert memo.bytes == 0
    assert len(memo) == 0


def test_memo_key_is_fixed_size_and_unambiguous() -> None:
    assert len(memo_key("t", "POST", "/api/x", b"y" * (1 << 20))) == 32
    assert memo_key("ab", "c") != memo_key("a", "bc")
    assert memo_key(None, "x") != memo_key("", "x")
