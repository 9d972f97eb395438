"""The memory tier and peer hops, observed through each pod's metrics."""

from __future__ import annotations

import os

import aiohttp
import pytest
from yarl import URL

from proxy.credentials import CLUSTER_SECRET, read_secret
from proxy.digest import Digest
from tests.cluster.conftest import PodFactory
from tests.fakes.fake_http import FakeUpstream

HOPS = "modelmanager_peer_hops_total"
MEMORY_HITS = "modelmanager_memory_hits_total"


@pytest.mark.parametrize("mode", ["redirect", "proxy"])
async def test_memory_hit_then_one_peer_hop(start_pods: PodFactory, upstream: tuple[FakeUpstream, URL],
                                            session: aiohttp.ClientSession, mode: str) -> None:
    fake, base = upstream
    body = os.urandom(3 << 20)
    fake.add("/hot.bin", body)
    holder, other = await start_pods(2, extra=("--memory-cache-bytes", str(32 << 20), "--peer-mode", mode))
    outcomes = []
    for _ in range(3):  # miss, hit (taken into memory), memory hit
        async with session.get(holder.fetch_url(base / "hot.bin")) as r:
            assert await r.read() == body
            outcomes.append(r.headers["X-Cache"])
    assert outcomes == ["miss", "hit", "hit"]
    assert await holder.metric(session, MEMORY_HITS) == 1

    async with session.get(other.fetch_url(base / "hot.bin")) as r:
        assert r.status == 200
        assert await r.read() == body
        if mode == "redirect":
            assert [h.status for h in r.history] == [307]
            assert r.url.port == holder.port
            assert r.url.query["mm-hop"] == "1"
    assert await other.metric(session, HOPS, f'mode="{mode}"') == 1
    assert await holder.metric(session, MEMORY_HITS) == (2 if mode == "redirect" else 1)

    async with session.get(other.fetch_url(base / "hot.bin"), headers={"Range": "bytes=1000-1999"}) as r:
        assert r.status == 206
        assert await r.read() == body[1000:2000]
    # a request that already hopped is never sent on: served from this pod's volume
    marked = other.fetch_url(base / "hot.bin").update_query({"mm-hop": "1"})
    async with session.get(marked, allow_redirects=False) as r:
        assert r.status == 200
        assert await r.read() == body
    assert await other.metric(session, HOPS, f'mode="{mode}"') == 2
    assert fake.count("/hot.bin") == 1

    # the internal endpoint the hop used answers only to pods: they share the generated cluster secret
    internal = holder.url / "_mm" / "v1" / "blobs" / Digest.of(body).hex
    secret = read_secret(holder.cache, CLUSTER_SECRET)
    assert secret is not None
    for refused in ({}, {"Authorization": secret}, {"Authorization": "Bearer wrong"}):
        async with session.get(internal, headers=refused) as r:
            assert r.status == 401
            assert body not in await r.read()
    async with session.get(internal, headers={"Authorization": f"Bearer {secret}"}) as r:
        assert (r.status, await r.read()) == (200, body)
