"""Leading a fill: download from upstream into a temp file on the volume, under a lease.

The leader holds the key's lease (``proxy.fill.lease``) and renews it as bytes land (a stalled
leader loses it). It tells followers where its temp file is and how far it got (the fill record,
progress events). It fences its commit: right before the blob is committed and again right before the index
record is written, the coordinator checks atomically that its token is still the current one;
a leader that lost the lease stops, commits nothing and leaves its temp file to its successor.
A successor adopts that file (``BlobWriter`` re-hashes the prefix) and resumes with a Range
request. A cancelled leader (graceful shutdown) hands over the same way, at once.

A large file whose upstream honours Range is fetched in segments over several connections
(``proxy.fill.segments``); the leader finds out with one probe, a bounded Range request for the
second segment, and falls back to the first answer as one stream when the upstream ignores it.
One stream or many, the bytes go through a ``WritePipe``: the event loop moves buffers, worker
threads write and hash them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from proxy.cluster.port import Lease
from proxy.errors import CoordinationUnavailable, IntegrityError, RangeIgnored, UpstreamChanged, UpstreamUnavailable
from proxy.fill.context import FillContext
from proxy.fill.landed import Landed
from proxy.fill.lease import PROGRESS_STEP, FillLease, LeaseLost
from proxy.fill.pipe import WritePipe
from proxy.fill.receive import BUFFER, Receiver, Wanted
from proxy.fill.segments import Segment, SegmentedFill, plan
from proxy.fill.state import Fill, FillState, TurnEnd
from proxy.storage.index import IndexEntry
from proxy.storage.writer import BlobWriter, Expectation
from proxy.upstream import Fetched, FetchRequest, NotModified, ObjectMeta, same_version

log = logging.getLogger(__name__)


async def lead(fill: Fill, ctx: FillContext, lease: Lease | None) -> TurnEnd:
    """Run the fill as its leader. ``lease`` None: the coordinator is down, lead for this node alone."""
    return await _Leader(fill, ctx, lease).run()


class _Leader:
    def __init__(self, fill: Fill, ctx: FillContext, lease: Lease | None) -> None:
        self.fill = fill
        self.ctx = ctx
        self.lease = FillLease(fill, ctx, lease)
        self.writer: BlobWriter | None = None
        self.fetched: Fetched | None = None
        self.segmented: SegmentedFill | None = None
        self.opened: dict[int, Fetched] = {}
        """Segmented: responses already open, by the start of the segment they serve."""
        self.landed = Landed()
        """What is on disk: the writer's prefix, and what an adopted record says landed beyond it."""
        self.buffers: tuple[bytearray, bytearray] | None = None
        """One stream's receive buffers, kept across resumes."""

    async def run(self) -> TurnEnd:
        keep_tmp = False
        try:
            if await self._open():
                await self._stream()
                await self._commit()
            return TurnEnd.DONE
        except LeaseLost:
            keep_tmp = True
            self.ctx.metrics.leases_lost.inc()
            log.warning("fill lease lost: stopping and leaving the temp file to the new leader",
                        extra={"key": self.fill.key, "written": self.fill.written})
            return TurnEnd.LOST
        except asyncio.CancelledError:
            # Decided before any await: once the lease is released a successor may be adopting
            # the file, so a second cancellation during the hand-over must not delete it.
            keep_tmp = self.lease.keeps_tmp(self.writer)
            await self.lease.hand_over(self.writer)
            raise
        except BaseException as exc:
            await self.lease.failed(exc)
            raise
        finally:
            self.fill.lead_token = None
            if self.writer is not None and self.fill.state is not FillState.COMMITTED:
                if keep_tmp:
                    await self.writer.detach()
                else:
                    await self.writer.cancel()
            if self.fetched is not None:
                await self.fetched.close()
            for response in self.opened.values():
                await response.close()

    # -- start: adopt a predecessor's temp file, or ask upstream from scratch ------------------

    async def _open(self) -> bool:
        """Open the upstream and the temp file. False: a revalidation found the entry current."""
        fill = self.fill
        meta = await self._adopt()
        if meta is not None:
            assert self.writer is not None
            missing = meta.size is None or self.writer.written < meta.size
            if missing and not self._segment(meta, {}):
                self.fetched = await self._resume(meta, self.writer.written)
        else:
            validators = fill.stale.validators if fill.stale else None
            result = await fill.source.fetch(FetchRequest(if_none_match=validators or None))
            if isinstance(result, NotModified):
                await self._not_modified()
                return False
            self.fetched = result
            if fill.meta is not None and not same_version(fill.meta, result.meta):
                raise UpstreamChanged(f"{fill.key} changed upstream while its fill moved between nodes")
            meta = result.meta
            self.writer = self.ctx.store.create(Expectation(size=meta.size, checksums=meta.checksums))
            await self._probe(meta)
        assert self.writer is not None
        landed = self.segmented.landed if self.segmented is not None else None
        fill.streaming(meta, self.writer.path, self.writer.written, landed=landed)
        await self.lease.renew(self.writer, publish=True)
        return True

    async def _adopt(self) -> ObjectMeta | None:
        """Take over a predecessor's temp file (``self.writer``); its metadata, or None: start over."""
        fill, ctx = self.fill, self.ctx
        if self.lease.held is None or not ctx.coordinator.shared:
            return None
        try:
            record = (await ctx.coordinator.state(fill.key)).record
        except CoordinationUnavailable:
            return None
        if record is None or record.tmp is None or record.meta is None or not record.meta.validators:
            return None
        path = ctx.store.layout.fill_tmp(record.tmp)
        prefix = record.written if record.segmented else None
        if path is None or (fill.meta is not None and not same_version(fill.meta, record.meta)):
            return None
        expect = Expectation(size=record.meta.size, checksums=record.meta.checksums)
        loop = asyncio.get_running_loop()
        try:
            self.writer = await loop.run_in_executor(None, ctx.store.adopt, path, expect, prefix)
        except (OSError, IntegrityError) as exc:
            log.warning("could not adopt the previous leader's temp file; starting over",
                        extra={"key": fill.key, "path": str(path), "error": repr(exc)})
            return None
        ctx.metrics.leases_taken_over.inc()
        kept = self._keep_runs(record.landed, record.meta.size) if record.segmented else 0
        log.info("took over fill", extra={"key": fill.key, "from_node": record.node.node_id,
                                          "offset": self.writer.written, "kept_beyond": kept})
        return record.meta

    def _keep_runs(self, runs: tuple[tuple[int, int], ...], size: int | None) -> int:
        """Keep the predecessor's segments beyond the prefix that the file holds; their bytes."""
        assert self.writer is not None
        length = self.writer.path.stat().st_size
        limit = min(length, size) if size is not None else length
        kept = 0
        for start, end in runs:
            if self.writer.written <= start < end <= limit:
                self.landed.add(start, end)
                kept += end - start
        return kept

    def _plan(self, meta: ObjectMeta) -> list[Segment] | None:
        """Segments for what is missing, or None: one stream (size or validators unknown, small)."""
        assert self.writer is not None
        if meta.size is None or not meta.validators:
            return None
        self.landed.add(0, self.writer.written)
        return plan(meta.size, self.landed, self.ctx.policy)

    def _segment(self, meta: ObjectMeta, opened: dict[int, Fetched]) -> bool:
        """Fetch the rest in segments, if it is worth it; ``opened``: responses already open."""
        segments = self._plan(meta)
        if segments is None:
            return False
        assert self.writer is not None
        self.segmented = SegmentedFill(self.fill, self.ctx, self.lease, self.writer, meta, segments, self.landed)
        self.opened = opened
        return True

    async def _probe(self, meta: ObjectMeta) -> None:
        """A fresh download of a large file: ask for the second segment alone. A 206 starts a
        segmented fill (the first answer serves the first segment); an upstream that answers
        200 (it ignores Range) or fails gets one stream, the first answer."""
        segments = self._plan(meta)
        if segments is None or len(segments) < 2:  # an empty file has nothing to segment
            return
        second = segments[1]
        try:
            probe = await self.fill.source.fetch(FetchRequest(offset=second.start, end=second.end,
                                                              if_range=meta.validators))
        except (RangeIgnored, UpstreamUnavailable) as exc:
            log.info("one stream: the upstream does not serve segments", extra={
                "key": self.fill.key, "error": str(exc)})
            return
        if isinstance(probe, NotModified) or not same_version(probe.meta, meta):
            if not isinstance(probe, NotModified):
                await probe.close()
            raise UpstreamChanged(f"{self.fill.key} changed upstream during the download")
        assert self.fetched is not None
        first, self.fetched = self.fetched, None
        self._segment(meta, {0: first, second.start: probe})

    async def _resume(self, meta: ObjectMeta, offset: int) -> Fetched:
        result = await self.fill.source.fetch(FetchRequest(offset=offset, if_range=meta.validators))
        if isinstance(result, NotModified) or not same_version(result.meta, meta):
            if not isinstance(result, NotModified):
                await result.close()
            raise UpstreamChanged(f"{self.fill.key} changed upstream during the download")
        return result

    # -- bytes ---------------------------------------------------------------------------------

    async def _stream(self) -> None:
        if self.segmented is not None:
            opened, self.opened = self.opened, {}
            await self.segmented.run(opened)
            return
        fill, writer, metrics, policy = self.fill, self.writer, self.ctx.metrics, self.ctx.policy
        assert fill.meta is not None
        assert writer is not None

        async def sink(chunks: Sequence[bytes | memoryview]) -> None:
            await writer.writev(chunks)
            metrics.upstream_bytes.inc(sum(len(c) for c in chunks))
            fill.progressed(writer.written)
            await self.lease.progressed(writer)

        async def deliver(region: memoryview, at: int) -> None:
            await sink([region])

        attempt = 0
        while self.fetched is not None:
            try:
                # A large body is received on the loop into reused buffers, written and hashed in
                # order; a small one keeps aiohttp's path, whose connection goes back to the pool.
                large = fill.meta.size is not None and fill.meta.size - writer.written >= policy.segment_min
                taken = self.fetched.takeover() if large else None
                if taken is not None:
                    assert fill.meta.size is not None
                    buffers = self.buffers = self.buffers or (bytearray(BUFFER), bytearray(BUFFER))
                    await Receiver(Wanted(writer.written, fill.meta.size), deliver, buffers).run(taken)
                else:
                    async with WritePipe(sink, batch=PROGRESS_STEP) as pipe:  # followers hear every step
                        async for chunk in self.fetched.chunks():
                            await pipe.put(chunk)
                if fill.meta.size is not None and writer.written < fill.meta.size:
                    raise UpstreamUnavailable(f"upstream body ended at {writer.written} of {fill.meta.size} bytes")
                return
            except UpstreamUnavailable as exc:
                attempt += 1
                if attempt > policy.retries or not fill.meta.validators:
                    raise
                log.warning("upstream dropped, resuming", extra={
                    "key": fill.key, "offset": writer.written, "attempt": attempt, "error": str(exc)})
                await self.fetched.close()
                self.fetched = None
                await asyncio.sleep(policy.backoff * 2 ** (attempt - 1))
                await self.lease.renew(writer, publish=False)
                self.fetched = await self._resume(fill.meta, writer.written)
                metrics.upstream_resumes.inc()

    # -- the end -------------------------------------------------------------------------------

    async def _commit(self) -> None:
        fill, ctx, writer = self.fill, self.ctx, self.writer
        assert writer is not None
        assert fill.meta is not None
        await self.lease.renew(writer, publish=False)  # fence: a leader that lost the lease keeps its temp file
        blob = await writer.commit()
        entry = IndexEntry.of(fill.key, blob, fill.meta, ctx.clock())
        await self.lease.renew(writer, publish=False)  # fence again, right before the index write
        await asyncio.get_running_loop().run_in_executor(None, ctx.index.put, entry)
        fill.committed(blob, entry)
        ctx.metrics.fill_duration.observe(time.monotonic() - fill.started)
        log.info("fill committed", extra={"key": fill.key, "digest": str(blob.digest), "size": blob.size})
        await self.lease.ended(entry)

    async def _not_modified(self) -> None:
        fill, ctx = self.fill, self.ctx
        assert fill.stale is not None
        entry = fill.stale.checked(ctx.clock())
        await self.lease.renew(None, publish=False)
        await asyncio.get_running_loop().run_in_executor(None, ctx.index.put, entry)
        fill.not_modified(entry)
        await self.lease.ended(entry, not_modified=True)
