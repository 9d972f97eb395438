"""A worker dies (SIGKILL) in the middle of the fill it leads: another worker takes the fill over
from the temp file with one Range request, its clients finish byte-exact, and the supervisor
restarts the dead worker."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal

import aiohttp
import pytest
from yarl import URL

from proxy.workers.worker import HEADER
from tests.fakes.fake_http import FakeUpstream
from tests.workers.conftest import SupervisedFactory

SIZE = 8 << 20
HEAD = 1 << 16


async def test_worker_killed_mid_fill_is_taken_over_and_restarted(
        start_supervised: SupervisedFactory, upstream: tuple[FakeUpstream, URL],
        session: aiohttp.ClientSession) -> None:
    fake, base = upstream
    body = os.urandom(SIZE)
    want = hashlib.sha256(body).hexdigest()
    fake.add("/big.bin", body, chunk=256 << 10, rate=SIZE / 3)  # a 3-second download
    node = await start_supervised(2)
    url = node.fetch_url(base / "big.bin")

    leading = await session.get(url)  # its worker leads the fill
    assert leading.status == 200
    victim = leading.headers[HEADER]
    await leading.content.readexactly(HEAD)
    survivors = []
    for _ in range(200):  # new connections until one lands on the other worker (it follows the fill)
        response = await session.get(url)
        assert response.status == 200
        if response.headers[HEADER] != victim:
            survivors.append(response)
            if len(survivors) == 2:
                break
        else:
            response.close()
    assert len(survivors) == 2
    hashers = [hashlib.sha256(await r.content.readexactly(HEAD)) for r in survivors]
    assert fake.count("/big.bin") == 1

    os.kill(node.pid(int(victim)), signal.SIGKILL)
    with pytest.raises((aiohttp.ClientError, asyncio.IncompleteReadError)):
        await leading.content.read()
    leading.close()
    for r, h in zip(survivors, hashers, strict=True):
        async for chunk in r.content.iter_chunked(1 << 20):
            h.update(chunk)
        r.close()
    assert [h.hexdigest() for h in hashers] == [want, want], "the survivors' clients got every byte"

    gets = fake.gets("/big.bin")
    assert len(gets) == 2, "the original download and one resume"
    resumed_at = int(gets[1].headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < SIZE, "the successor continued from the dead worker's temp file"

    await node.wait_log('"worker ready"', count=3)  # two at start, then the restarted one
    assert [str(r["worker"]) for r in node.logged("worker exited: restarting")] == [victim]
    seen: set[str] = set()
    for _ in range(100):  # a new client on either worker: a plain hit
        async with session.get(url) as r:
            assert r.headers["X-Cache"] == "hit"
            assert hashlib.sha256(await r.read()).hexdigest() == want
            seen.add(r.headers[HEADER])
        if seen == {"0", "1"}:
            break
    assert seen == {"0", "1"}, "the restarted worker serves again"
    assert len(fake.gets("/big.bin")) == 2
    async with session.get(node.url / "metrics") as r:
        assert "modelmanager_leases_taken_over_total 1.0" in await r.text()
