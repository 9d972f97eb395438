"""``modelmanager serve`` stops in order on SIGTERM: the response in flight finishes (within
``--shutdown-timeout``) and the process exits 0; long polls answer at once rather than hold the
drain; a second signal stops it at once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from proxy.credentials import ADMIN_TOKEN, read_secret
from tests.cluster.conftest import BIN, Lines, free_port
from tests.conftest import ServerFactory
from tests.control import until
from tests.fakes.fake_http import FakeUpstream

SIZE = 64 << 20  # far more than the socket buffers hold: the response is mid-way when the signal comes
BODY = os.urandom(SIZE)


class Served:
    def __init__(self, proc: asyncio.subprocess.Process, output: Lines, url: URL, cache: Path) -> None:
        self.proc = proc
        self.output = output
        self.url = url
        self.cache = cache

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.output.lines)


@pytest.fixture
def delay() -> float:
    """``--shutdown-delay`` of the served proxy."""
    return 0.0


@pytest.fixture
async def served(tmp_path: Path, aiohttp_server: ServerFactory, delay: float) -> AsyncIterator[Served]:
    fake = FakeUpstream()
    fake.add("/big.bin", BODY)
    upstream: TestServer = await aiohttp_server(fake.app)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(BIN), "serve", "--port", str(port), "--cache-dir", str(tmp_path / "cache"), "--http-allow",
        f"127.0.0.1:{upstream.port}", "--shutdown-timeout", "60", "--shutdown-delay", str(delay),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    output = Lines(proc.stderr)
    try:
        await output.wait_for('"listening"', proc)
        url = URL(f"http://127.0.0.1:{port}/v1/fetch").with_query(url=str(upstream.make_url("/big.bin")))
        yield Served(proc, output, url, tmp_path / "cache")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_response_in_flight_finishes_after_sigterm(served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(served.url) as r:
            assert await r.read() == BODY  # cached now: the next answer is a hit
        async with session.get(served.url) as r:
            first = await r.content.readexactly(1 << 20)
            served.proc.send_signal(signal.SIGTERM)
            await served.output.wait_for('"stopping"', served.proc)
            rest = await r.read()
    assert first + rest == BODY, "the download in flight completed"
    assert await served.proc.wait() == 0
    assert served.logged('"signal": "SIGTERM"')


async def test_a_second_signal_stops_at_once(served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(served.url) as r:
            assert await r.read() == BODY
        async with session.get(served.url) as r:
            await r.content.readexactly(1 << 20)
            served.proc.send_signal(signal.SIGTERM)
            await served.output.wait_for('"stopping"', served.proc)
            served.proc.send_signal(signal.SIGINT)
            assert await served.proc.wait() == 0
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()
    assert served.logged('"stopping now"')


async def test_a_build_workers_long_poll_does_not_hold_the_drain(served: Served) -> None:
    token = read_secret(served.cache, ADMIN_TOKEN)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        claim = asyncio.ensure_future(session.post(served.url.with_path("/v1/builds/claim").with_query({}),
                                                   json={"worker": "w1", "offers": {}, "wait": 30}))
        builders = served.cache / "builders"
        await until(lambda: builders.is_dir() and any(builders.iterdir()))  # the claim is being served
        served.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):  # far less than the claim's 30 s, or the drain's 60 s
            async with await claim as r:
                assert r.status == 204, "nothing to build now: the worker asks another pod"
            assert await served.proc.wait() == 0


@pytest.mark.parametrize("delay", [60.0])
async def test_during_the_shutdown_delay_new_requests_are_served_and_readyz_says_stopping(served: Served) -> None:
    served.proc.send_signal(signal.SIGTERM)
    await served.output.wait_for('"stopping"', served.proc)
    async with aiohttp.ClientSession() as session:  # a new connection, as a lagging load balancer sends
        async with session.get(served.url.with_path("/readyz")) as r:
            assert r.status == 503
            assert (await r.json())["status"] == "stopping"
        async with session.get(served.url) as r:
            assert r.status == 200
            assert await r.read() == BODY
        async with session.get(served.url.with_path("/healthz")) as r:
            assert r.status == 200, "alive: liveness probes must not restart a pod that is stopping"
    served.proc.send_signal(signal.SIGTERM)  # a second signal ends the delay at once
    async with asyncio.timeout(10):
        assert await served.proc.wait() == 0
