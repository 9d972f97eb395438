"""Redis is only coordination: losing it (killed, or flushed) never loses cached data, hits keep
being served, misses are filled per pod, and coalescing across pods comes back with Redis."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest
from yarl import URL

from tests.cluster.conftest import Pod, PodFactory, RedisServer
from tests.fakes.fake_http import FakeUpstream


async def get(session: aiohttp.ClientSession, url: URL) -> tuple[int, bytes, str]:
    async with session.get(url) as r:
        return r.status, await r.read(), r.headers.get("X-Cache", "")


async def wait_redis_seen(session: aiohttp.ClientSession, pods: list[Pod], up: bool) -> None:
    """Wait until every pod's /readyz reports Redis as ``up`` (it pings Redis on each call)."""
    deadline = time.monotonic() + 15
    for pod in pods:
        while True:
            status, body = await pod.readyz(session)
            assert status == 200, "Redis never makes a pod unready"
            checks = body["checks"]
            assert isinstance(checks, dict)
            if checks["redis"] is up:
                assert body["degraded"] is (not up)
                break
            assert time.monotonic() < deadline, f"{pod.name} never saw redis {'up' if up else 'down'}"
            await asyncio.sleep(0.05)  # the next ping; readiness is observed, not waited out


async def herd(session: aiohttp.ClientSession, pods: list[Pod], url: URL, body: bytes) -> None:
    results = await asyncio.gather(*(get(session, pod.fetch_url(url)) for pod in pods for _ in range(4)))
    assert [(s, b) for s, b, _ in results] == [(200, body)] * (4 * len(pods))


@pytest.mark.slow
async def test_redis_down_hits_served_misses_filled_then_coalescing_resumes(
        start_pods: PodFactory, redis_server: RedisServer, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    cached, missed, later = os.urandom(3 << 20), os.urandom(1 << 20), os.urandom(8 << 20)
    fake.add("/cached.bin", cached)
    fake.add("/missed.bin", missed)
    fake.add("/later.bin", later, rate=16 << 20)
    pods = await start_pods(3)
    await herd(session, pods, base / "cached.bin", cached)
    assert fake.count("/cached.bin") == 1

    await redis_server.kill()
    await wait_redis_seen(session, pods, up=False)
    for pod in pods:
        assert await get(session, pod.fetch_url(base / "cached.bin")) == (200, cached, "hit")
    assert await get(session, pods[1].fetch_url(base / "missed.bin")) == (200, missed, "miss")
    assert fake.count("/cached.bin") == 1
    assert fake.count("/missed.bin") == 1

    await redis_server.start()  # same port: the pods reconnect with backoff
    await wait_redis_seen(session, pods, up=True)
    await herd(session, pods, base / "later.bin", later)
    assert fake.count("/later.bin") == 1, "coalescing across pods is back"


async def test_flushall_redownloads_nothing_on_the_volume(
        start_pods: PodFactory, redis_server: RedisServer, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    first, second = os.urandom(2 << 20), os.urandom(4 << 20)
    fake.add("/first.bin", first)
    fake.add("/second.bin", second, rate=16 << 20)
    pods = await start_pods(3)
    await herd(session, pods, base / "first.bin", first)
    assert await redis_server.command("FLUSHALL") == "True"
    await herd(session, pods, base / "first.bin", first)
    assert fake.count("/first.bin") == 1, "what is on the volume is never fetched again"
    await herd(session, pods, base / "second.bin", second)  # fencing tokens restart; still one fill
    assert fake.count("/second.bin") == 1
