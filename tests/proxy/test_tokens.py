"""RefreshingToken: one refresh for concurrent callers, in a worker thread, before expiry."""

from __future__ import annotations

import asyncio
import threading

from proxy.tokens import RefreshingToken


async def test_concurrent_callers_share_one_refresh_in_a_worker_thread() -> None:
    now = [1000.0]
    calls: list[str] = []
    release = threading.Event()

    def fetch() -> tuple[str, float | None]:
        calls.append(threading.current_thread().name)
        release.wait(10)  # blocking, as a credential library's HTTP call is
        return f"token-{len(calls)}", now[0] + 3600

    token = RefreshingToken(fetch, margin=300, clock=lambda: now[0])
    waiting = [asyncio.create_task(token.get()) for _ in range(8)]
    await asyncio.sleep(0)  # the loop keeps running while the refresh blocks its thread
    release.set()
    assert await asyncio.gather(*waiting) == ["token-1"] * 8
    assert len(calls) == 1
    assert calls[0] != threading.current_thread().name
    now[0] += 3600 - 299  # still valid, but inside the margin: refreshed before it expires
    assert await token.get() == "token-2"
    now[0] += 10
    assert await token.get() == "token-2"


async def test_a_token_without_expiry_is_kept() -> None:
    calls: list[int] = []

    def fetch() -> tuple[str, float | None]:
        calls.append(1)
        return "forever", None

    token = RefreshingToken(fetch)
    assert [await token.get() for _ in range(3)] == ["forever"] * 3
    assert calls == [1]
