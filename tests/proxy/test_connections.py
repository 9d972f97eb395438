"""The connection guard on real sockets: idle connections make room at the cap, busy ones are never
cut for a newcomer (it gets a 503), stalled bodies and trickled heads are closed, and /healthz
answers while hundreds of sockets are held."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from proxy import appkeys
from proxy.__main__ import build_app
from proxy.config import Settings
from proxy.observe.logs import limit_repeated_loop_errors
from tests.conftest import ServerFactory

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def guarded(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings], **overrides: object
                  ) -> TestServer:
    idle = float(overrides.pop("idle_timeout", 75.0))  # type: ignore[arg-type]
    app = build_app(make_settings(hf_endpoint="http://127.0.0.1:9", **overrides))
    server = await aiohttp_server(app, keepalive_timeout=idle)
    assert server.runner is not None
    assert server.runner.server is not None
    app[appkeys.CONNECTIONS].attach(server.runner.server)
    return server


async def connect(server: TestServer) -> Streams:
    assert server.port is not None
    return await asyncio.open_connection(server.host, server.port)


async def until_busy(server: TestServer, count: int) -> None:
    async with asyncio.timeout(10):
        await server.app[appkeys.CONNECTIONS].until(lambda guard: guard.busy == count)


def closed_count(server: TestServer, reason: str) -> float:
    value: float = server.app[appkeys.METRICS].connections_refused.labels(reason)._value.get()
    return value


async def healthz(server: TestServer) -> int:
    async with ClientSession() as session, session.get(server.make_url("/healthz")) as response:
        return response.status


async def test_idle_sockets_make_room_and_healthz_answers(aiohttp_server: ServerFactory,
                                                          make_settings: Callable[..., Settings]) -> None:
    server = await guarded(aiohttp_server, make_settings, max_connections=8)
    held = [await connect(server) for _ in range(200)]  # half-open: connected, never a byte
    for _ in range(3):
        assert await healthz(server) == 200
    assert closed_count(server, "evicted_idle") >= 192
    assert closed_count(server, "limit") == 0
    first_reader, _ = held[0]
    assert await asyncio.wait_for(first_reader.read(), 10) == b"", "the oldest idle socket was closed"
    for _, writer in held:
        writer.close()


async def test_busy_connections_are_kept_and_a_newcomer_gets_503(aiohttp_server: ServerFactory,
                                                                 make_settings: Callable[..., Settings]) -> None:
    server = await guarded(aiohttp_server, make_settings, max_connections=3, body_idle_timeout=30.0)
    busy = []
    for _ in range(3):  # each is inside a handler, reading a body that has not arrived yet
        reader, writer = await connect(server)
        writer.write(b"POST /api/models/org/m/paths-info/main HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\npaths=")
        busy.append((reader, writer))
    await until_busy(server, 3)
    reader, writer = await connect(server)
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert closed_count(server, "limit") == 1
    for r, w in busy:
        assert not r.at_eof()
        w.close()
    writer.close()


async def test_a_stalled_body_is_cut(aiohttp_server: ServerFactory, make_settings: Callable[..., Settings]) -> None:
    server = await guarded(aiohttp_server, make_settings, body_idle_timeout=0.3)
    reader, writer = await connect(server)
    writer.write(b"POST /api/models/org/m/paths-info/main HTTP/1.1\r\nHost: p\r\nContent-Length: 1000\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n\r\npaths=a")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert closed_count(server, "body_timeout") == 1
    assert await healthz(server) == 200
    writer.close()


async def test_a_trickled_head_is_closed_after_the_idle_timeout(aiohttp_server: ServerFactory,
                                                                 make_settings: Callable[..., Settings]) -> None:
    server = await guarded(aiohttp_server, make_settings, idle_timeout=0.5)
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: p\r\nX-Slow: a")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_repeated_loop_errors_are_logged_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    now = [0.0]
    limit_repeated_loop_errors(loop, clock=lambda: now[0])
    error = OSError(24, "Too many open files")
    with caplog.at_level(logging.ERROR, logger="modelmanager.loop"):
        for _ in range(1000):
            loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": error})
        now[0] = 11.0
        loop.call_exception_handler({"message": "socket.accept() out of system resource", "exception": error})
    records = [r for r in caplog.records if r.name == "modelmanager.loop"]
    assert len(records) == 2
    assert records[0].exc_info is not None
    assert records[1].exc_info is None
    assert records[1].__dict__["suppressed_since_last"] == 999
    loop.set_exception_handler(None)
