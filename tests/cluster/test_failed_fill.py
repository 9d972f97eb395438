"""A fill that fails verification fails every pod's readers: the client on a follower pod sees an
aborted response (never a clean 200 of wrong bytes), nothing is committed, and the next request
asks the upstream again."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.cluster.conftest import PodFactory
from tests.fakes.fake_http import FakeUpstream

SIZE = 4 << 20


async def first_bytes(session: aiohttp.ClientSession, url: URL) -> aiohttp.ClientResponse:
    response = await session.get(url)
    assert response.status == 200
    assert len(await response.content.readexactly(64 << 10)) == 64 << 10
    return response


async def test_corrupt_fill_aborts_clients_on_every_pod(
        start_pods: PodFactory, upstream: tuple[FakeUpstream, URL], session: aiohttp.ClientSession,
        tmp_path: Path) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    gate = asyncio.Event()
    obj = fake.add("/bad.bin", body, gate=gate, chunk=64 << 10,
                   served=body[:-1] + bytes([body[-1] ^ 0xFF]))  # same size, last byte wrong
    obj.honest_sha256_header()
    # a long lease: the paused upstream must not look like a dead leader (that is test_failover)
    leader_pod, follower_pod = await start_pods(2, extra=("--lease-ttl", "30"))
    url = base / "bad.bin"

    on_leader = await first_bytes(session, leader_pod.fetch_url(url))  # the fill runs on pod-0, paused
    on_follower = await session.get(follower_pod.fetch_url(url))  # pod-1 follows: headers from the fill record
    assert on_follower.status == 200
    gate.set()
    for response in (on_leader, on_follower):
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        response.release()

    assert fake.count("/bad.bin") == 1
    assert await follower_pod.metric(session, "modelmanager_cross_pod_followers_total") == 1
    blobs = tmp_path / "cache" / "blobs"
    assert not blobs.exists() or [p for p in blobs.rglob("*") if p.is_file()] == [], "nothing committed"
    async with session.get(follower_pod.fetch_url(url)) as again:  # not cached: the upstream is asked again
        assert again.status in (200, 502)
        with pytest.raises(aiohttp.ClientPayloadError):
            await again.read()
    assert fake.count("/bad.bin") == 2
