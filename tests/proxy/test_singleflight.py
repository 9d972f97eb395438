from __future__ import annotations

import asyncio

import pytest

from proxy.singleflight import SingleFlight


async def test_concurrent_callers_share_one_execution() -> None:
    flights: SingleFlight[int] = SingleFlight()
    release = asyncio.Event()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(10)]
    await asyncio.sleep(0)  # let every waiter reach run()
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 10
    assert calls == 1
    assert len(flights) == 0


async def test_errors_are_shared_and_not_remembered() -> None:
    flights: SingleFlight[int] = SingleFlight()

    async def boom() -> int:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        await flights.run("k", boom)

    async def ok() -> int:
        return 1

    assert await flights.run("k", ok) == 1


async def test_one_cancelled_caller_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(flights.run("k", work))
    second = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
