"""An upstream's small answers are read to their end (not just what arrived first), within a
limit; error answers pass on truncated; non-success statuses map to the core's domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from proxy.answers import MAX_ERROR_BODY, error_body, read_whole, rejection
from proxy.errors import UpstreamRejected, UpstreamUnavailable
from tests.conftest import ServerFactory

PIECE = 64 * 1024


async def trickle(request: web.Request) -> web.StreamResponse:
    """``?pieces=N`` pieces of 64 KiB, each sent after the client has read the one before
    (the socket buffer drains), ``?status=``; ``?cut=1`` drops the connection half-way."""
    pieces = int(request.query.get("pieces", "1"))
    response = web.StreamResponse(status=int(request.query.get("status", "200")))
    response.content_length = pieces * PIECE
    if "type" in request.query:
        response.content_type = request.query["type"]
    await response.prepare(request)
    for i in range(pieces):
        if request.query.get("cut") and i == pieces // 2:
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(bytes([i % 251]) * PIECE)
        await asyncio.sleep(0)  # each piece its own read on the client's side
    await response.write_eof()
    return response


@pytest.fixture
async def upstream(aiohttp_server: ServerFactory) -> AsyncIterator[tuple[TestServer, ClientSession]]:
    app = web.Application()
    app.router.add_get("/", trickle)
    server: TestServer = await aiohttp_server(app)
    async with ClientSession(read_bufsize=PIECE) as session:
        yield server, session


def expected(pieces: int) -> bytes:
    return b"".join(bytes([i % 251]) * PIECE for i in range(pieces))


async def test_an_answer_of_many_reads_is_read_whole(upstream: tuple[TestServer, ClientSession]) -> None:
    server, session = upstream
    async with session.get(server.make_url("/").with_query(pieces=40)) as response:
        assert await read_whole(response, 40 * PIECE, "test") == expected(40)


async def test_an_answer_over_the_limit_is_refused(upstream: tuple[TestServer, ClientSession]) -> None:
    server, session = upstream
    async with session.get(server.make_url("/").with_query(pieces=4)) as response:
        with pytest.raises(UpstreamUnavailable, match="larger than"):
            await read_whole(response, 4 * PIECE - 1, "test")


async def test_an_answer_cut_off_is_unavailable(upstream: tuple[TestServer, ClientSession]) -> None:
    server, session = upstream
    async with session.get(server.make_url("/").with_query(pieces=8, cut=1)) as response:
        with pytest.raises(UpstreamUnavailable, match="interrupted"):
            await read_whole(response, 8 * PIECE, "test")


@pytest.mark.parametrize(("pieces", "limit"), [(1, MAX_ERROR_BODY), (3, MAX_ERROR_BODY), (3, 2 * PIECE + 5),
                                               (2, 10)])
async def test_an_error_body_passes_on_its_first_bytes(upstream: tuple[TestServer, ClientSession],
                                                       pieces: int, limit: int) -> None:
    server, session = upstream
    async with session.get(server.make_url("/").with_query(pieces=pieces, status=403)) as response:
        assert await error_body(response, limit) == expected(pieces)[:limit]


async def test_an_error_body_cut_off_passes_on_what_came(upstream: tuple[TestServer, ClientSession]) -> None:
    server, session = upstream
    async with session.get(server.make_url("/").with_query(pieces=8, status=403, cut=1)) as response:
        assert expected(8).startswith(await error_body(response, 8 * PIECE))


@pytest.mark.parametrize("status", [500, 503, 408, 429])
async def test_transient_statuses_are_unavailable(upstream: tuple[TestServer, ClientSession], status: int) -> None:
    server, session = upstream
    response = await session.get(server.make_url("/").with_query(status=status))
    error = await rejection(response, "Test store", "application/xml")
    assert isinstance(error, UpstreamUnavailable)
    assert str(error) == f"Test store answered {status}"
    assert response.closed


async def test_a_refusal_passes_on_with_its_body_and_type(upstream: tuple[TestServer, ClientSession]) -> None:
    server, session = upstream
    response = await session.get(server.make_url("/").with_query(status=403, pieces=2, type="application/json"))
    error = await rejection(response, "Test store", "application/xml")
    assert isinstance(error, UpstreamRejected)
    assert (error.status, error.body, error.content_type) == (403, expected(2)[:MAX_ERROR_BODY], "application/json")
    assert response.closed
