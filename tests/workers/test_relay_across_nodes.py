"""Two nodes, each ``serve --workers 2`` with Redis, on one volume: a follower node's worker
streams the fill from the leader node over the internal fill endpoint, although the leader's
port is shared by its workers (only the leading one answers; the follower asks on fresh
connections until it reaches it). Sibling workers of one node never stream from each other."""

from __future__ import annotations

import os

import aiohttp
import blake3
from yarl import URL

from tests.cluster.conftest import RedisServer, free_port
from tests.fakes.fake_http import FakeUpstream
from tests.workers.conftest import SupervisedFactory


async def relayed(session: aiohttp.ClientSession, url: URL, direction: str) -> float:
    async with session.get(url / "metrics") as r:
        text = await r.text()
    wanted = f'modelmanager_relayed_bytes_total{{direction="{direction}"}} '
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(wanted))


async def test_a_follower_node_streams_from_the_leading_worker_of_another_node(
        start_supervised: SupervisedFactory, redis_server: RedisServer, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(16 << 20)
    fake.add("/big.bin", body, chunk=256 << 10, rate=8 << 20)
    nodes = []
    for name in ("node-a", "node-b"):
        port = free_port()
        nodes.append(await start_supervised(2, ("--redis-url", redis_server.url, "--node-id", name, "--port",
                                                str(port), "--advertise-url", f"http://127.0.0.1:{port}")))
    leader, follower = nodes

    async with session.get(leader.fetch_url(base / "big.bin")) as lead_response:
        assert lead_response.status == 200
        head = await lead_response.content.readexactly(1 << 16)
        async with session.get(follower.fetch_url(base / "big.bin")) as r:
            assert r.status == 200
            assert blake3.blake3(await r.read()).digest() == blake3.blake3(body).digest()
        assert head + await lead_response.read() == body
    assert fake.count("/big.bin") == 1
    # the bytes came from the leading worker (the relay stops at the commit: the last ones may come from the blob)
    assert await relayed(session, follower.url, "received") > len(body) // 2
    assert await relayed(session, leader.url, "sent") > len(body) // 2
