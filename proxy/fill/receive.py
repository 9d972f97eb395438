"""Receiving a segment's body straight into reused buffers, off aiohttp's per-chunk path.

aiohttp hands a body over as fresh ``bytes`` per read: received into one buffer, copied by the
HTTP parser, queued, awaited chunk by chunk. For a fill that costs the event loop about as much
again as the receive itself, and one event loop serves every connection of a segmented fill, so
it caps a fill at about 1 GB/s whatever the cores (measured: ``bench/gpu_fill.py`` prints the
loop's CPU seconds per GB). Once aiohttp has read a segment's response head (status, headers,
validators: every adapter's checks stay where they are), ``Receiver`` takes the connection's
transport over (``Takeover``) with an ``asyncio.BufferedProtocol``: the socket (or the TLS layer)
reads into a large buffer that is reused, and each filled region goes to ``deliver`` (a write at
its offset, in a worker thread). Whatever arrived while one region was being written is handed
over next, so a slow upstream is written as it trickles in and a fast one in large regions. Two
buffers per connection: reading pauses while both wait for the disk (back-pressure).

The connection is closed afterwards (aiohttp's parser did not see the body, so it cannot be
reused); a segment is tens of MiB, so one new connection per segment costs nothing measurable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from proxy.errors import UpstreamUnavailable
from proxy.upstream import Takeover

BUFFER = 1 << 20
"""Bytes per receive buffer (two per connection)."""


class Span(Protocol):
    """The bytes wanted: [pos, end) of the file. ``end`` may shrink while they are received (an
    idle worker takes the far part); ``pos`` is advanced by the receiver as bytes arrive."""

    pos: int
    end: int


HEAD = -1
"""The region of the bytes read before the takeover (in no buffer)."""

@dataclass(slots=True)
class Wanted:
    """A ``Span`` that is only its two numbers (a relay's stream, a benchmark's)."""

    pos: int
    end: int


Deliver = Callable[[memoryview, int], Awaitable[None]]
"""Write a region at its file offset; awaited one at a time, in order."""


class Receiver(asyncio.BufferedProtocol):
    """Receives a taken-over body into ``span``: one use, through ``run``."""

    def __init__(self, span: Span, deliver: Deliver, buffers: tuple[bytearray, bytearray]) -> None:
        self._span = span
        self._deliver = deliver
        self._buffers = buffers
        self._current = 0
        self._filled = 0
        """Bytes received into the current buffer."""
        self._handed = 0
        """Of those, bytes already handed to the writer."""
        self._busy = [0, 0]
        """Regions of each buffer not yet written."""
        self._regions: deque[tuple[int, memoryview, int]] = deque()
        self._body_left = 0
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._wake = asyncio.Event()
        self._writing = False
        self._ended: BaseException | None = None
        self._finished = False
        self._last_data = time.monotonic()

    async def run(self, taken: Takeover) -> None:
        """Receive until ``span`` is complete; every byte received is delivered, also when the
        connection drops (then UpstreamUnavailable is raised, ``span.pos`` where it stopped)."""
        span = self._span
        head = memoryview(taken.head)[:max(0, span.end - span.pos)]
        if head:  # what the HTTP client had read: written first, while reception goes on
            self._regions.append((HEAD, head, span.pos))
            span.pos += len(head)
        self._body_left = taken.length
        if span.pos < span.end:
            if taken.transport is None or self._body_left <= 0:
                self._ended = UpstreamUnavailable("the body ended before the segment")
            else:
                self._transport = taken.transport
                taken.transport.set_protocol(self)
                taken.transport.resume_reading()
        watchdog = asyncio.create_task(self._watch(taken.idle_timeout)) if taken.idle_timeout else None
        try:
            await self._write_regions()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self._finished = True
        if self._ended is not None and span.pos < span.end:
            raise UpstreamUnavailable(f"segment body interrupted at {span.pos}: {self._ended!r}")

    # -- the writer: regions in order, one at a time -------------------------------------------

    async def _write_regions(self) -> None:
        while True:
            if not self._regions:
                if self._done():
                    return
                self._writing = False
                self._wake.clear()
                await self._wake.wait()
                continue
            self._writing = True
            index, view, offset = self._regions.popleft()
            await self._deliver(view, offset)
            if index != HEAD:
                self._busy[index] -= 1
            if not self._regions:
                self._hand_over()  # what arrived during the write goes next
            if self._paused and self._busy[self._current] == 0:
                self._paused = False
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.resume_reading()

    def _done(self) -> bool:
        return self._span.pos >= self._span.end or self._ended is not None

    def _hand_over(self) -> None:
        """Queue the received bytes of the current buffer not yet handed over."""
        if self._filled > self._handed:
            buffer = self._buffers[self._current]
            region = memoryview(buffer)[self._handed:self._filled]
            self._regions.append((self._current, region, self._span.pos - (self._filled - self._handed)))
            self._busy[self._current] += 1
            self._handed = self._filled
            self._wake.set()

    # -- the protocol: the loop receives into the buffers --------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        want = min(self._span.end - self._span.pos, self._body_left)
        if self._filled == len(self._buffers[self._current]):
            raise RuntimeError("receive buffer full while reading")  # reading is paused before
        room = len(self._buffers[self._current]) - self._filled
        return memoryview(self._buffers[self._current])[self._filled:self._filled + max(1, min(room, want))]

    def buffer_updated(self, nbytes: int) -> None:
        self._last_data = time.monotonic()
        self._filled += nbytes
        self._body_left -= nbytes
        self._span.pos += nbytes
        if not self._writing or self._span.pos >= self._span.end or self._filled == len(self._buffers[self._current]):
            self._hand_over()
        if self._span.pos >= self._span.end:
            self._stop(None)
        elif self._body_left <= 0:
            self._stop(UpstreamUnavailable("the body ended before the segment"))
        elif self._filled == len(self._buffers[self._current]):
            self._current ^= 1
            self._filled = self._handed = 0
            if self._busy[self._current]:
                self._paused = True
                assert self._transport is not None
                self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._stop(UpstreamUnavailable("the upstream closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop(exc or UpstreamUnavailable("connection closed"))

    def _stop(self, error: BaseException | None) -> None:
        if self._finished or self._ended is not None:
            return
        self._hand_over()  # every byte received is written
        if error is not None and self._span.pos < self._span.end:
            self._ended = error
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        self._wake.set()

    async def _watch(self, idle: float) -> None:
        while True:
            await asyncio.sleep(idle / 4)
            if not self._paused and time.monotonic() - self._last_data > idle:
                self._stop(UpstreamUnavailable(f"the upstream sent nothing for {idle:g} s"))
                if self._transport is not None:
                    self._transport.abort()
                return


# -- plain connections: received in a thread --------------------------------------------------

THREADS = 32
"""Segments received in threads at once per process; more are received on the loop."""
RECEIVE_THREADS = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="fill-recv")
_active = 0


def plain_socket(taken: Takeover) -> socket.socket | None:
    """A duplicate of the taken-over connection's socket when it is plain TCP (no TLS: that
    state lives in the event loop's transport), to receive from in a thread; None otherwise, or
    when every receive thread is busy."""
    transport = taken.transport
    if (transport is None or _active >= THREADS or transport.get_extra_info("sslcontext") is not None
            or transport.get_extra_info("ssl_object") is not None):
        return None
    sock = transport.get_extra_info("socket")
    try:
        dup = sock.dup() if sock is not None else None
    except (AttributeError, OSError):
        return None
    if dup is not None:
        dup.setblocking(False)
    return dup


Place = Callable[[Callable[[int], None]], Awaitable[None]]
"""Runs a function with the destination file's descriptor in a ``RECEIVE_THREADS`` thread."""


class ThreadReceiver:
    """Receives a taken-over plain body in a worker thread, which writes it at its offsets
    itself (``BlobWriter.place``, or a relay's file): the event loop does nothing per byte, so one process's fill
    grows with its cores instead of one loop's. Like ``Receiver``: bytes go out as they come
    (what arrived before the socket would block is written at once), every byte received is
    written also when the connection drops, and ``span.end`` may shrink meanwhile."""

    def __init__(self, span: Span, landed: Callable[[int, int], None], buffer: bytearray) -> None:
        self._span = span
        self._landed = landed
        self._buffer = buffer
        self._stopping = False
        self._error: BaseException | None = None

    async def run(self, taken: Takeover, sock: socket.socket, place: Place) -> None:
        """Receive through ``place``, which runs the receiving function with the file's descriptor
        in a ``RECEIVE_THREADS`` thread. Raises UpstreamUnavailable when the body ends early or
        stalls (``span.pos`` is where). Returns (also when cancelled) once the thread is done."""
        global _active
        assert taken.transport is not None
        taken.transport.pause_reading()  # the loop no longer reads this socket
        loop = asyncio.get_running_loop()
        _active += 1
        work = asyncio.ensure_future(place(lambda fd: self._receive(fd, taken, sock, loop)))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            self._stopping = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's poll
            await asyncio.gather(work, return_exceptions=True)  # no write may outlive the caller
            raise
        finally:
            _active -= 1
            sock.close()
        if self._error is not None and self._span.pos < self._span.end:
            raise UpstreamUnavailable(f"segment body interrupted at {self._span.pos}: {self._error!r}")

    def _receive(self, fd: int, taken: Takeover, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        span, view = self._span, memoryview(self._buffer)
        received = span.pos  # the file offset of the next byte received
        filled = written = 0  # in the buffer
        body_left = taken.length
        head = taken.head[:max(0, span.end - span.pos)]
        if head:
            self._write(fd, memoryview(head), received, loop)
            received = span.pos = received + len(head)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        idle_ms = None if taken.idle_timeout is None else int(taken.idle_timeout * 1000)
        try:
            while not self._stopping:
                want = min(len(view) - filled, span.end - received, body_left)
                if want <= 0:
                    if received >= span.end or body_left <= 0:
                        break
                    self._write(fd, view[written:filled], received - (filled - written), loop)
                    filled = written = 0
                    continue
                try:
                    got = sock.recv_into(view[filled:filled + want])
                except BlockingIOError:
                    if filled > written:  # nothing more for now: write what came
                        self._write(fd, view[written:filled], received - (filled - written), loop)
                        written = filled
                    if not poller.poll(idle_ms):
                        raise UpstreamUnavailable(f"the upstream sent nothing for {taken.idle_timeout:g} s") from None
                    continue
                if got == 0:
                    raise UpstreamUnavailable("the upstream closed the connection")
                filled += got
                received += got
                body_left -= got
                span.pos = received
        except (OSError, UpstreamUnavailable) as exc:
            self._error = exc
        finally:
            if filled > written:
                self._write(fd, view[written:filled], received - (filled - written), loop)
        if body_left <= 0 and received < span.end and self._error is None:
            self._error = UpstreamUnavailable("the body ended before the segment")

    def _write(self, fd: int, region: memoryview, at: int, loop: asyncio.AbstractEventLoop) -> None:
        """Write a region at its offset, up to the span's end (it may have shrunk), and tell the loop."""
        region = region[:max(0, self._span.end - at)]
        pwrite_all(fd, region, at)
        if region:
            loop.call_soon_threadsafe(self._landed, at, at + len(region))


def pwrite_all(fd: int, region: memoryview, offset: int) -> None:
    """Write all of ``region`` at ``offset`` (``pwrite`` may write less than asked)."""
    while region:
        done = os.pwrite(fd, region, offset)
        region, offset = region[done:], offset + done
