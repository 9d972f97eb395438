"""48 clients on 3 pods, one cold 128 MiB file: one upstream GET, every body byte-exact, and
clients on follower pods see bytes while the one fill is still running."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import blake3
import pytest
from yarl import URL

from tests.cluster.conftest import Pod, PodFactory
from tests.fakes.fake_http import FakeUpstream

SIZE = 128 << 20
CLIENTS_PER_POD = 16


async def download(session: aiohttp.ClientSession, url: URL) -> tuple[int, str, float]:
    """Status, blake3 of the body, and the monotonic time its first byte arrived."""
    hasher = blake3.blake3()
    first = 0.0
    async with session.get(url) as r:
        async for chunk in r.content.iter_chunked(1 << 20):
            if not first:
                first = time.monotonic()
            hasher.update(chunk)
        return r.status, hasher.hexdigest(), first


@pytest.mark.slow
async def test_herd_across_pods_fetches_once_and_streams_to_followers(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    want = blake3.blake3(body).hexdigest()
    obj = fake.add("/herd.bin", body, rate=96 << 20, chunk=1 << 20)
    pods = await start_pods(3, extra=("--fill-connections", "1"))  # one stream: one GET
    finished_at: list[float] = []

    async def note_finish() -> None:
        await obj.finished.wait()
        finished_at.append(time.monotonic())

    watcher = asyncio.create_task(note_finish())
    results = await asyncio.gather(*(download(session, pod.fetch_url(base / "herd.bin"))
                                     for _ in range(CLIENTS_PER_POD) for pod in pods))
    await watcher
    assert fake.count("/herd.bin") == 1, "one upstream GET for the whole cluster"
    assert [(status, digest) for status, digest, _ in results] == [(200, want)] * (3 * CLIENTS_PER_POD)

    leaders = [p for p in pods if await p.metric(session, "modelmanager_leases_acquired_total") == 1]
    assert len(leaders) == 1
    followers: list[Pod] = [p for p in pods if p is not leaders[0]]
    for pod in followers:
        assert await pod.metric(session, "modelmanager_cross_pod_followers_total") == 1
        assert await pod.metric(session, "modelmanager_upstream_bytes_total") == 0
    follower_firsts = [first for (_, _, first), (_, pod) in zip(
        results, [(i, pod) for i in range(CLIENTS_PER_POD) for pod in pods], strict=True) if pod in followers]
    assert max(follower_firsts) < finished_at[0], "followers' clients got bytes before the fill ended"
