"""Segmented fills: one file fetched over several upstream connections at once.

When the size is known, the object has validators, and the upstream honours Range, the leader
cuts the missing part of the file into segments (``plan``: about four per connection, 16-64 MiB)
and runs ``FillPolicy.connections`` workers. Each takes the next segment, asks for exactly its
bytes (``FetchRequest(offset, end)``) and writes them at their offset (``BlobWriter.pwritev``, in
a worker thread through a ``WritePipe``). A segment whose connection drops resumes alone, from
its own last byte on disk. Workers take segments in demand order: first the one holding a
position a reader waits at (``Fill.waiting``; a segment is split there so the reader's byte comes
first), then the lowest. When no segment is left, an idle worker takes the far half of the
largest one still in flight, so the connections stay busy until the end.

``Landed`` records what is on disk. Its contiguous prefix is the fill's ``written`` (what tailing
readers see); a Range reader may also be served from a landed run beyond it. One hasher task
hashes the prefix as it grows (``BlobWriter.hash_through``, reading back the page cache in a
worker thread), so blake3 and the upstream checksums are computed over every byte in order,
exactly as for one stream, and renews the lease as it goes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from proxy.errors import UpstreamChanged, UpstreamUnavailable
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.landed import Landed
from proxy.fill.lease import FillLease
from proxy.fill.pipe import WritePipe
from proxy.fill.receive import BUFFER, RECEIVE_THREADS, Receiver, ThreadReceiver, plain_socket
from proxy.fill.state import Fill
from proxy.storage.writer import BlobWriter
from proxy.upstream import Fetched, FetchRequest, NotModified, ObjectMeta, same_version

HASH_STEP = 8 << 20
"""Bytes hashed per worker-thread hop (the hasher renews the lease between hops)."""

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Segment:
    start: int
    end: int
    """Exclusive; shrinks when an idle worker takes the far half."""
    pos: int
    """The next byte to fetch (bytes [start, pos) are fetched; on disk once the pipe wrote them)."""
    taken: bool = False


def plan(size: int, landed: Landed, policy: FillPolicy) -> list[Segment] | None:
    """Segments for the bytes of [0, size) not yet ``landed``, or None when one stream is better
    (little left, or one connection, and nothing landed beyond the prefix). Empty when every byte
    has landed (only hashing is left)."""
    gaps = landed.gaps(landed.prefix, size)
    left = sum(b - a for a, b in gaps)
    if left == 0:
        return []
    if policy.connections <= 1 or left < 2 * policy.segment_min:
        if gaps == [(landed.prefix, size)]:
            return None
        return [Segment(a, b, a) for a, b in gaps]  # a successor's holes: what landed is not fetched again
    length = min(policy.segment_max, max(policy.segment_min, left // (policy.connections * 4)))
    segments = []
    for gap_start, gap_end in gaps:
        starts = list(range(gap_start, gap_end, length))
        if gap_end - starts[-1] < length // 2 and len(starts) > 1:
            starts.pop()  # no runt at the end: the last segment takes it
        ends = [*starts[1:], gap_end]
        segments += [Segment(a, b, a) for a, b in zip(starts, ends, strict=True)]
    return segments


class SegmentedFill:
    def __init__(self, fill: Fill, ctx: FillContext, lease: FillLease, writer: BlobWriter,
                 meta: ObjectMeta, segments: list[Segment], landed: Landed) -> None:
        assert meta.size is not None
        self.fill, self.ctx, self.lease, self.writer, self.meta = fill, ctx, lease, writer, meta
        self.size = meta.size
        self.segments = segments
        self.landed = landed
        self._hash_wake = asyncio.Event()
        self.requests = 0

    async def run(self, opened: dict[int, Fetched]) -> None:
        """Fetch every segment; ``opened`` holds responses already open, by segment start (the
        first answer, the probe). Returns when every byte is on disk and hashed."""
        workers = []
        for segment in self.segments:
            if segment.start in opened:
                segment.taken = True
                workers.append(self._worker(segment, opened.pop(segment.start)))
        while len(workers) < max(2, self.ctx.policy.connections):
            workers.append(self._spare_worker() if workers else self._worker(None, None))
        tasks = [asyncio.create_task(w, name=f"fill segment worker {self.fill.key}") for w in workers]
        hasher = asyncio.create_task(self._hash(), name=f"fill hasher {self.fill.key}")
        try:
            pending: set[asyncio.Task[None]] = {*tasks, hasher}
            while pending - {hasher} and self.landed.prefix < self.size:  # spare workers may still wait
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
            if self.landed.prefix < self.size:
                raise UpstreamUnavailable(f"segments ended with {self.landed.runs()} of {self.size} bytes")
            self._hash_wake.set()
            await hasher
        finally:
            for task in (*tasks, hasher):
                task.cancel()
            await asyncio.gather(*tasks, hasher, return_exceptions=True)
            for response in opened.values():
                await response.close()

    # -- which segment next --------------------------------------------------------------------

    def _next(self) -> Segment | None:
        """The segment a free worker fetches now: demand first, then in order, then half of the
        largest one in flight."""
        free = [s for s in self.segments if not s.taken]
        for pos in self.fill.waiting():
            for segment in free:
                if segment.start <= pos < segment.end:
                    return self._take(segment, pos)
        if free:
            return self._take(free[0], free[0].start)
        if not self.segments:
            return None
        busy = max(self.segments, key=lambda s: s.end - s.pos)
        if busy.end - busy.pos < 2 * self.ctx.policy.steal_min:
            return None
        middle = busy.pos + (busy.end - busy.pos) // 2
        return self._take(self._split(busy, middle), middle)

    def _take(self, segment: Segment, at: int) -> Segment:
        if at > segment.start:
            segment = self._split(segment, at)
        segment.taken = True
        return segment

    def _split(self, segment: Segment, at: int) -> Segment:
        """Cut ``segment`` at ``at``: it keeps [start, at), a new untaken segment gets [at, end)."""
        tail = Segment(at, segment.end, at)
        segment.end = at
        self.segments.insert(self.segments.index(segment) + 1, tail)
        return tail

    # -- one worker ----------------------------------------------------------------------------

    async def _spare_worker(self) -> None:
        """A worker on a connection from the node's spare budget (``FillContext.spare_connections``)."""
        if self._next_exists():
            async with self.ctx.spare_connections:
                await self._worker(None, None)

    def _next_exists(self) -> bool:
        return any(not s.taken or s.end - s.pos >= 2 * self.ctx.policy.steal_min for s in self.segments)

    async def _worker(self, segment: Segment | None, opened: Fetched | None) -> None:
        buffers = (bytearray(BUFFER), bytearray(BUFFER))  # this connection's, for every segment it takes
        while True:
            if segment is None:
                segment = self._next()
                if segment is None:
                    return
            await self._fetch(segment, opened, buffers)
            segment, opened = None, None

    async def _fetch(self, segment: Segment, fetched: Fetched | None, buffers: tuple[bytearray, bytearray]) -> None:
        """Fetch one segment to its end, resuming it alone after drops."""
        policy, metrics = self.ctx.policy, self.ctx.metrics
        attempt = 0
        while segment.pos < segment.end:
            try:
                if fetched is None:
                    fetched = await self._open(segment)
                await self._pump(segment, fetched, buffers)
                if segment.pos < segment.end:
                    raise UpstreamUnavailable(
                        f"segment body ended at {segment.pos} of [{segment.start}, {segment.end})")
            except UpstreamUnavailable as exc:
                attempt += 1
                if attempt > policy.retries:
                    raise
                log.warning("upstream dropped a segment, resuming it", extra={
                    "key": self.fill.key, "offset": segment.pos, "attempt": attempt, "error": str(exc)})
                metrics.upstream_resumes.inc()
                await asyncio.sleep(policy.backoff * 2 ** (attempt - 1))
            finally:
                if fetched is not None:
                    await fetched.close()
                fetched = None

    async def _open(self, segment: Segment) -> Fetched:
        self.requests += 1
        result = await self.fill.source.fetch(FetchRequest(offset=segment.pos, end=segment.end,
                                                           if_range=self.meta.validators))
        if isinstance(result, NotModified) or not same_version(result.meta, self.meta):
            if not isinstance(result, NotModified):
                await result.close()
            raise UpstreamChanged(f"{self.fill.key} changed upstream during the download")
        return result

    async def _pump(self, segment: Segment, fetched: Fetched, buffers: tuple[bytearray, bytearray]) -> None:
        """Stream the body into the segment's place in the file: when the connection can be taken
        over (``proxy.fill.receive``), received in a thread (plain TCP) or on the loop (TLS) into
        ``buffers``; else chunk by chunk through a write pipe."""
        taken = fetched.takeover()
        if taken is not None:
            sock = plain_socket(taken)
            if sock is not None:
                await ThreadReceiver(segment, self._landed, buffers[0]).run(
                    taken, sock, lambda receive: self.writer.place(receive, RECEIVE_THREADS))
            else:
                await Receiver(segment, self._deliver, buffers).run(taken)
            return
        at = segment.pos

        async def sink(chunks: list[bytes]) -> None:
            nonlocal at
            count = sum(len(c) for c in chunks)
            await self.writer.pwritev(chunks, at)
            self._landed(at, at + count)
            at += count

        async with WritePipe(sink) as pipe:
            async for chunk in fetched.chunks():
                room = segment.end - segment.pos
                if len(chunk) > room:
                    chunk = chunk[:room]
                segment.pos += len(chunk)
                await pipe.put(chunk)
                if segment.pos >= segment.end:
                    break
        # ``segment.pos`` counted bytes as they were queued: every queued byte is on disk now

    async def _deliver(self, region: memoryview, at: int) -> None:
        await self.writer.pwritev([region], at)
        self._landed(at, at + len(region))

    def _landed(self, start: int, end: int) -> None:
        self.ctx.metrics.upstream_bytes.inc(end - start)
        self.landed.add(start, end)
        self.fill.progressed(self.landed.prefix)
        self._hash_wake.set()

    # -- the prefix: hashed in order, as it grows ----------------------------------------------

    async def _hash(self) -> None:
        writer = self.writer
        while writer.written < self.size:
            await self._hash_wake.wait()
            self._hash_wake.clear()
            while writer.written < (target := self.landed.prefix):
                await writer.hash_through(min(target, writer.written + HASH_STEP))
                await self.lease.progressed(writer)
            await self.lease.progressed(writer)  # bytes landed beyond the prefix: renew when due
