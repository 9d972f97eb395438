"""Leading a fill: download from upstream into a temp file on the volume, under a lease.

The leader holds the key's lease (``proxy.fill.lease``) and renews it as bytes land (a stalled
leader loses it). It tells followers where its temp file is and how far it got (the fill record,
progress events). It fences its commit: right before the blob is committed and again right before the index
record is written, the coordinator checks atomically that its token is still the current one;
a leader that lost the lease stops, commits nothing and leaves its temp file to its successor.
A successor adopts that file (``BlobWriter`` re-hashes the prefix) and resumes with a Range
request. A cancelled leader (graceful shutdown) hands over the same way, at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from proxy.cluster.port import Lease
from proxy.errors import CoordinationUnavailable, IntegrityError, UpstreamChanged, UpstreamUnavailable
from proxy.fill.lease import FillLease, LeaseLost
from proxy.fill.state import Fill, FillContext, FillState, TurnEnd
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
            keep_tmp = await self.lease.hand_over(self.writer)
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

    # -- start: adopt a predecessor's temp file, or ask upstream from scratch ------------------

    async def _open(self) -> bool:
        """Open the upstream and the temp file. False: a revalidation found the entry current."""
        fill = self.fill
        meta = await self._adopt()
        if meta is not None:
            assert self.writer is not None
            if meta.size is None or self.writer.written < meta.size:
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
        assert self.writer is not None
        fill.streaming(meta, self.writer.path, self.writer.written)
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
        if path is None or (fill.meta is not None and not same_version(fill.meta, record.meta)):
            return None
        expect = Expectation(size=record.meta.size, checksums=record.meta.checksums)
        loop = asyncio.get_running_loop()
        try:
            self.writer = await loop.run_in_executor(None, ctx.store.adopt, path, expect)
        except (OSError, IntegrityError) as exc:
            log.warning("could not adopt the previous leader's temp file; starting over",
                        extra={"key": fill.key, "path": str(path), "error": repr(exc)})
            return None
        ctx.metrics.leases_taken_over.inc()
        log.info("took over fill", extra={"key": fill.key, "from_node": record.node.node_id,
                                          "offset": self.writer.written})
        return record.meta

    async def _resume(self, meta: ObjectMeta, offset: int) -> Fetched:
        result = await self.fill.source.fetch(FetchRequest(offset=offset, if_range=meta.validators))
        if isinstance(result, NotModified) or not same_version(result.meta, meta):
            if not isinstance(result, NotModified):
                await result.close()
            raise UpstreamChanged(f"{self.fill.key} changed upstream during the download")
        return result

    # -- bytes ---------------------------------------------------------------------------------

    async def _stream(self) -> None:
        fill, writer, metrics, policy = self.fill, self.writer, self.ctx.metrics, self.ctx.policy
        assert fill.meta is not None
        assert writer is not None
        attempt = 0
        while self.fetched is not None:
            try:
                async for chunk in self.fetched.chunks():
                    await writer.write(chunk)
                    metrics.upstream_bytes.inc(len(chunk))
                    fill.progressed(writer.written)
                    await self.lease.progressed(writer)
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
