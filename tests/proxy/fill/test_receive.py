"""Receiving a segment's body over a taken-over connection (``proxy.fill.receive``), against a real
upstream socket: on the loop (TLS) byte-exact regions in order, at most two buffers ahead of the
disk; in a thread (plain TCP) written by the thread; either way an end that shrinks mid-way, a
dropped or silent upstream, and (thread) cancellation; whole segmented fills over TLS."""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
import uvloop
from aiohttp import ClientSession, ClientTimeout, TCPConnector
from aiohttp.test_utils import TestServer

from adapters.http.upstream import HttpSource
from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.port import Node
from proxy.errors import UpstreamUnavailable
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.receive import BUFFER, RECEIVE_THREADS, Receiver, ThreadReceiver, plain_socket
from proxy.fill.state import Fill, FillState, TurnEnd
from proxy.storage.writer import Expectation
from proxy.upstream import ObjectMeta, ResponseBody, Takeover
from tests.conftest import ServerFactory
from tests.fakes.fake_http import FakeUpstream
from tests.proxy.fill.conftest import ALLOW, Upstream, node_context, temp_files
from tests.proxy.fill.test_segments import ranges, run_lead

BODY = os.urandom(6 * BUFFER + 777)


class Span:
    """The bytes wanted; remembers how far reception ever ran ahead of what was delivered."""

    def __init__(self, start: int, end: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._pos = start
        self.end = end
        self.delivered = start
        self.ahead = 0
        self.reached: dict[int, asyncio.Event] = {}

    @property
    def pos(self) -> int:
        return self._pos

    @pos.setter
    def pos(self, value: int) -> None:
        self._pos = value
        self.ahead = max(self.ahead, value - self.delivered)
        for ahead, event in self.reached.items():
            if value - self.delivered >= ahead:
                self._loop.call_soon_threadsafe(event.set)  # a receive thread sets it too


@dataclass
class Disk:
    """``deliver``: records each region at its offset; ``gate`` (when given) holds the first write."""

    span: Span
    data: bytearray = field(default_factory=bytearray)
    regions: list[tuple[int, int]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def deliver(self, region: memoryview, at: int) -> None:
        if self.gate is not None:
            await self.gate.wait()
        assert at == self.span.delivered, "regions arrive in order, without gaps"
        self.regions.append((at, len(region)))
        del self.data[at - self.regions[0][0]:]
        self.data += region
        self.span.delivered = at + len(region)


async def open_body(session: ClientSession, url: str, start: int, end: int) -> tuple[ResponseBody, Takeover]:
    response = await session.get(url, headers={"Range": f"bytes={start}-{end - 1}"})
    assert response.status == 206
    body = ResponseBody(response, ObjectMeta(size=len(BODY)), "test upstream")
    taken = body.takeover()
    assert taken is not None
    return body, taken


def buffers() -> tuple[bytearray, bytearray]:
    return bytearray(BUFFER), bytearray(BUFFER)


async def test_a_body_is_received_byte_exact_in_order(upstream: Upstream) -> None:
    upstream.fake.add("/b", BODY)
    span = Span(100, len(BODY) - 5)
    disk = Disk(span)
    body, taken = await open_body(upstream.session, str(upstream.base / "b"), span.pos, span.end)
    try:
        await Receiver(span, disk.deliver, buffers()).run(taken)
    finally:
        await body.close()
    assert bytes(disk.data) == BODY[100:len(BODY) - 5]
    assert span.pos == span.end == span.delivered
    assert all(size <= BUFFER for _, size in disk.regions)


async def test_reception_pauses_two_buffers_ahead_of_the_disk(upstream: Upstream) -> None:
    upstream.fake.add("/b", BODY)
    span = Span(0, len(BODY))
    disk = Disk(span, gate=asyncio.Event())
    body, taken = await open_body(upstream.session, str(upstream.base / "b"), 0, len(BODY))
    limit = 2 * BUFFER + len(taken.head)  # the bytes read before the takeover are in no buffer
    two_buffers = asyncio.Event()
    span.reached[limit] = two_buffers
    try:
        run = asyncio.create_task(Receiver(span, disk.deliver, buffers()).run(taken))
        await two_buffers.wait()  # the disk wrote nothing yet: both buffers are full
        disk.gate.set()  # type: ignore[union-attr]
        await run
    finally:
        await body.close()
    assert span.ahead == limit, "never more than two buffers ahead of the disk"
    assert bytes(disk.data) == BODY


async def test_an_end_that_shrinks_midway_stops_reception_there(upstream: Upstream) -> None:
    upstream.fake.add("/b", BODY)
    span = Span(0, len(BODY))
    first = asyncio.Event()
    span.reached[1] = first
    disk = Disk(span, gate=asyncio.Event())
    body, taken = await open_body(upstream.session, str(upstream.base / "b"), 0, len(BODY))
    try:
        run = asyncio.create_task(Receiver(span, disk.deliver, buffers()).run(taken))
        await first.wait()
        span.end = span.pos + BUFFER + 3  # an idle worker took the rest
        disk.gate.set()  # type: ignore[union-attr]
        await run
    finally:
        await body.close()
    assert span.pos == span.end
    assert bytes(disk.data) == BODY[:span.end]


async def test_a_dropped_connection_delivers_what_came_and_says_where(upstream: Upstream) -> None:
    cut = 2 * BUFFER + 4321
    upstream.fake.add("/b", BODY, drops=1, drop_after=cut)
    span = Span(0, len(BODY))
    disk = Disk(span)
    body, taken = await open_body(upstream.session, str(upstream.base / "b"), 0, len(BODY))
    try:
        with pytest.raises(UpstreamUnavailable):
            await Receiver(span, disk.deliver, buffers()).run(taken)
    finally:
        await body.close()
    assert span.pos == cut == span.delivered, "every byte received is on disk; the resume starts there"
    assert bytes(disk.data) == BODY[:cut]


async def test_a_silent_upstream_is_dropped_after_the_read_timeout(upstream: Upstream) -> None:
    obj = upstream.fake.add("/b", BODY, gate=asyncio.Event())  # pauses after its first chunk
    span = Span(0, len(BODY))
    disk = Disk(span)
    async with ClientSession(auto_decompress=False, timeout=ClientTimeout(sock_read=0.4)) as session:
        body, taken = await open_body(session, str(upstream.base / "b"), 0, len(BODY))
        assert taken.idle_timeout == 0.4
        try:
            with pytest.raises(UpstreamUnavailable, match="sent nothing"):
                await Receiver(span, disk.deliver, buffers()).run(taken)
        finally:
            await body.close()
    assert span.pos == obj.chunk == span.delivered
    assert bytes(disk.data) == BODY[:obj.chunk]


# -- plain connections: received in a thread, written by it ------------------------------------

async def thread_receive(ctx: FillContext, upstream: Upstream, span: Span, path: str = "/b",
                         session: ClientSession | None = None,
                         started: asyncio.Event | None = None) -> tuple[bytes, list[tuple[int, int]]]:
    """Receive [span.pos, span.end) in a thread into a temp file; its bytes there and the runs
    the loop was told about. ``started``: cancel once set."""
    writer = ctx.store.create(Expectation())
    runs: list[tuple[int, int]] = []
    start = span.pos
    body, taken = await open_body(session or upstream.session, str(upstream.base / path.lstrip("/")),
                                  span.pos, span.end)
    sock = plain_socket(taken)
    assert sock is not None, "a plain connection is received in a thread"
    try:
        run = asyncio.ensure_future(ThreadReceiver(span, lambda a, b: runs.append((a, b)),
                                                   bytearray(BUFFER)).run(
            taken, sock, lambda receive: writer.place(receive, RECEIVE_THREADS)))
        if started is not None:
            await started.wait()
            run.cancel()
        await run
    finally:
        await body.close()
        data = writer.path.read_bytes()[start:span.pos]
        await writer.cancel()
    return data, runs


async def test_a_plain_body_is_received_in_a_thread_byte_exact(ctx: FillContext, upstream: Upstream) -> None:
    upstream.fake.add("/b", BODY)
    span = Span(100, len(BODY) - 5)
    data, runs = await thread_receive(ctx, upstream, span)
    assert data == BODY[100:len(BODY) - 5]
    assert span.pos == span.end
    assert runs[0][0] == 100
    assert all(a[1] == b[0] for a, b in itertools.pairwise(runs)), "the loop hears of every byte, in order"
    assert runs[-1][1] == span.end


async def test_a_thread_receive_stops_where_the_end_shrank(ctx: FillContext, upstream: Upstream) -> None:
    obj = upstream.fake.add("/b", BODY, gate=asyncio.Event())  # pauses after its first chunk
    span = Span(0, len(BODY))
    first = asyncio.Event()
    span.reached[1] = first
    task = asyncio.ensure_future(thread_receive(ctx, upstream, span))
    await first.wait()
    span.end = obj.chunk + BUFFER + 3  # an idle worker took the rest
    obj.gate.set()  # type: ignore[union-attr]
    data, runs = await task
    assert span.pos >= span.end
    assert data[:span.end] == BODY[:span.end]
    assert runs[-1][1] == span.end, "nothing beyond the new end is reported"


async def test_a_thread_receive_of_a_dropped_connection_says_where(ctx: FillContext, upstream: Upstream) -> None:
    cut = 2 * BUFFER + 4321
    upstream.fake.add("/b", BODY, drops=1, drop_after=cut)
    span = Span(0, len(BODY))
    with pytest.raises(UpstreamUnavailable):
        await thread_receive(ctx, upstream, span)
    assert span.pos == cut, "every byte received is on disk; the resume starts there"


async def test_a_thread_receive_drops_a_silent_upstream(ctx: FillContext, upstream: Upstream) -> None:
    obj = upstream.fake.add("/b", BODY, gate=asyncio.Event())
    span = Span(0, len(BODY))
    async with ClientSession(auto_decompress=False, timeout=ClientTimeout(sock_read=0.4)) as session:
        with pytest.raises(UpstreamUnavailable, match="sent nothing"):
            await thread_receive(ctx, upstream, span, session=session)
    assert span.pos == obj.chunk


async def test_a_cancelled_thread_receive_stops_its_thread(ctx: FillContext, upstream: Upstream) -> None:
    upstream.fake.add("/b", BODY, gate=asyncio.Event())  # silent after the first chunk: the thread waits
    span = Span(0, len(BODY))
    first = asyncio.Event()
    span.reached[1] = first
    with pytest.raises(asyncio.CancelledError):
        await thread_receive(ctx, upstream, span, started=first)
    assert 0 < span.pos < len(BODY)


# -- whole segmented fills over TLS --------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_upstream(aiohttp_server: ServerFactory, ca: trustme.CA) -> AsyncIterator[Upstream]:
    fake = FakeUpstream()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    server: TestServer = await aiohttp_server(fake.app, ssl=server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with ClientSession(auto_decompress=False, connector=TCPConnector(ssl=client_ctx)) as session:
        yield Upstream(fake, server.make_url(""), session)


async def test_a_segmented_fill_over_tls_is_byte_exact(tmp_path: Path, ctx: FillContext,
                                                       tls_upstream: Upstream) -> None:
    segment = BUFFER + 12345  # segments end inside buffers, not at their edges
    ctx = node_context(tmp_path / "tls", ctx.coordinator, FillPolicy(
        backoff=0.01, connections=3, segment_min=segment, segment_max=segment))
    tls_upstream.fake.add("/big.bin", BODY, drop_at=3 * segment + 99).honest_sha256_header()
    assert tls_upstream.base.scheme == "https"
    fill = Fill(HttpSource(tls_upstream.base / "big.bin", tls_upstream.session, ALLOW), None)
    assert await run_lead(fill, ctx) is TurnEnd.DONE
    assert fill.state is FillState.COMMITTED
    assert fill.blob is not None
    assert fill.blob.path.read_bytes() == BODY
    asked = ranges(tls_upstream.fake.gets("/big.bin"))
    assert len(asked) >= 5, "a segmented fill, with the dropped segment resumed"
    assert ctx.metrics.value("modelmanager_upstream_resumes_total") == 1
    assert ctx.metrics.value("modelmanager_upstream_bytes_total") == len(BODY)
    assert temp_files(ctx) == []


# -- the same on uvloop (``--event-loop uvloop``): its own TCP and TLS transports ----------------

@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_segmented_fill_on_uvloop_is_byte_exact(tmp_path: Path, ca: trustme.CA, scheme: str) -> None:
    """On uvloop a TLS transport is taken over into ``Receiver``'s buffers and a plain one handed
    to a receive thread, as on asyncio; a dropped segment is resumed."""
    segment = BUFFER + 12345

    async def fill_through_uvloop() -> None:
        fake = FakeUpstream()
        fake.add("/big.bin", BODY, drop_at=3 * segment + 99).honest_sha256_header()
        server_ctx = client_ctx = None
        if scheme == "https":
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
            client_ctx = ssl.create_default_context()
            ca.configure_trust(client_ctx)
        server = TestServer(fake.app, scheme=scheme)
        await server.start_server(ssl=server_ctx)
        try:
            async with ClientSession(auto_decompress=False, connector=TCPConnector(ssl=client_ctx or True)) as session:
                ctx = node_context(tmp_path / scheme, EmbeddedCoordinator(Node("a", "http://a:8080")), FillPolicy(
                    backoff=0.01, connections=3, segment_min=segment, segment_max=segment))
                base = server.make_url("")
                assert base.scheme == scheme
                fill = Fill(HttpSource(base / "big.bin", session, ALLOW), None)
                assert await run_lead(fill, ctx) is TurnEnd.DONE
                assert fill.blob is not None
                assert fill.blob.path.read_bytes() == BODY
                assert len(ranges(fake.gets("/big.bin"))) >= 5, "a segmented fill, with the dropped segment resumed"
                assert ctx.metrics.value("modelmanager_upstream_resumes_total") == 1
                assert ctx.metrics.value("modelmanager_upstream_bytes_total") == len(BODY)
                assert temp_files(ctx) == []
        finally:
            await server.close()

    uvloop.run(fill_through_uvloop())
