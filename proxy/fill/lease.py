"""A fill's lease as its leader holds it: renewed as bytes land, a fence before each commit step,
and what the followers hear (progress, done, failed, released).

The leader renews the lease at least every quarter of its TTL while bytes land, storing the fill
record (where its temp file is, how far it got) with each renewal; a renewal that finds another
node's token raises ``LeaseLost``. A lease that expired while nobody took over (a slow upstream)
is acquired again under a new token. Without a lease (the coordinator was down when the fill
began: this node fills for itself alone) every call here does nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time

from proxy.cluster.port import FillEvent, FillRecord, Lease
from proxy.errors import CoordinationUnavailable, UpstreamRejected
from proxy.fill.context import FillContext
from proxy.fill.state import Fill
from proxy.storage.index import IndexEntry
from proxy.storage.writer import BlobWriter

PROGRESS_STEP = 1 << 20
"""Followers hear of progress at least every this many bytes."""
REJECTED_BODY_LIMIT = 64 * 1024
HAND_OVER_TIMEOUT = 2.0

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another node holds the lease now; stop without committing."""


class FillLease:
    def __init__(self, fill: Fill, ctx: FillContext, lease: Lease | None) -> None:
        self.fill = fill
        self.ctx = ctx
        self.held = lease
        """The lease (its token changes when it is acquired again); None: leading alone."""
        fill.lead_token = lease.token if lease is not None else None
        self.published = 0
        self.renewed = time.monotonic()

    def record(self, writer: BlobWriter | None) -> FillRecord:
        assert self.held is not None
        landed = self.fill.landed
        beyond = landed.beyond(writer.written) if landed is not None and writer is not None else ()
        return FillRecord(self.held.token, self.ctx.coordinator.node, str(writer.path) if writer else None,
                          writer.written if writer else 0, self.fill.meta, segmented=landed is not None,
                          landed=beyond)

    async def renew(self, writer: BlobWriter | None, *, publish: bool) -> None:
        """Extend the lease and store the fill record; raise LeaseLost if another node leads now."""
        if self.held is None:
            return
        record = self.record(writer)
        try:
            held = await self.ctx.coordinator.renew(self.held, record)
            if not held:
                held = await self._reacquire(record)
        except CoordinationUnavailable:
            held = True  # nobody can take over while the coordinator is down: carry on
        if not held:
            raise LeaseLost(self.fill.key)
        self.renewed = time.monotonic()
        if publish:
            await self._publish(FillEvent("progress", self.held.token, record))
            self.published = record.written

    async def progressed(self, writer: BlobWriter) -> None:
        """Bytes landed: renew when due, or tell the followers every ``PROGRESS_STEP`` bytes."""
        if self.held is None:
            return
        if time.monotonic() - self.renewed >= self.held.ttl / 4:
            await self.renew(writer, publish=True)
        elif writer.written - self.published >= PROGRESS_STEP:
            await self._publish(FillEvent("progress", self.held.token, self.record(writer)))
            self.published = writer.written

    async def _reacquire(self, record: FillRecord) -> bool:
        """The lease expired (e.g. a slow upstream) but nobody took over: lead again, new token."""
        assert self.held is not None
        coordinator = self.ctx.coordinator
        lease = await coordinator.try_lead(self.fill.key, self.held.ttl)
        if lease is None:
            return False
        self.held = lease
        self.fill.lead_token = lease.token
        self.ctx.metrics.leases_acquired.inc()
        return await coordinator.renew(lease, FillRecord(lease.token, record.node, record.tmp, record.written,
                                                         record.meta, record.segmented, record.landed))

    # -- the end -------------------------------------------------------------------------------

    async def ended(self, entry: IndexEntry, *, not_modified: bool = False) -> None:
        """Tell the followers the fill's result, and give the lease up."""
        if self.held is not None:
            await self._publish(FillEvent("done", self.held.token, entry=entry, not_modified=not_modified))
        await self._release(keep_record=False)

    async def failed(self, exc: BaseException) -> None:
        """Tell the followers the fill failed (an upstream's refusal with its answer), and give the
        lease up."""
        if self.held is None:
            return
        rejected = None
        if isinstance(exc, UpstreamRejected):
            rejected = {"status": exc.status, "content_type": exc.content_type, "headers": list(exc.headers),
                        "body": base64.b64encode(exc.body[:REJECTED_BODY_LIMIT]).decode()}
        await self._publish(FillEvent("failed", self.held.token, error=str(exc), error_type=type(exc).__name__,
                                      rejected=rejected))
        await self._release(keep_record=False)

    def keeps_tmp(self, writer: BlobWriter | None) -> bool:
        """Whether a leader that stops early leaves its temp file for a successor: other nodes see
        the fill record that names it (from the last renewal, or the hand-over)."""
        return (self.held is not None and self.ctx.coordinator.shared and writer is not None
                and self.fill.meta is not None)

    async def hand_over(self, writer: BlobWriter | None) -> None:
        """Cancelled (shutdown): give the lease up now so a follower takes over without waiting for
        it to expire; the temp file stays for the successor (``keeps_tmp``)."""
        if self.held is None or not self.ctx.coordinator.shared:
            return
        keep = self.keeps_tmp(writer)
        with contextlib.suppress(TimeoutError, CoordinationUnavailable):
            async with asyncio.timeout(HAND_OVER_TIMEOUT):
                if keep:
                    await self.ctx.coordinator.renew(self.held, self.record(writer))
                await self.ctx.coordinator.release(self.held, keep_record=keep)
                await self.ctx.coordinator.publish(self.fill.key, FillEvent("released", self.held.token))
        log.info("fill handed over", extra={"key": self.fill.key, "written": self.fill.written})

    async def _publish(self, event: FillEvent) -> None:
        with contextlib.suppress(CoordinationUnavailable):
            await self.ctx.coordinator.publish(self.fill.key, event)

    async def _release(self, *, keep_record: bool) -> None:
        if self.held is not None:
            with contextlib.suppress(CoordinationUnavailable):
                await self.ctx.coordinator.release(self.held, keep_record=keep_record)
