"""Fills: this node's fills, one per key (single flight); owns their tasks.

Each fill task decides, again whenever leadership changes, whether this node leads the fill (it
got the key's lease; or the coordinator is down and it fills for itself alone) or follows the
node that does.
"""

from __future__ import annotations

import asyncio
import logging

from proxy.cluster.port import key_id
from proxy.errors import CoordinationUnavailable
from proxy.fill.context import FillContext
from proxy.fill.follower import follow
from proxy.fill.leader import lead
from proxy.fill.relay import Relay
from proxy.fill.state import Fill, TurnEnd
from proxy.storage.index import IndexEntry
from proxy.tasks import OwnedTasks
from proxy.upstream import Source

log = logging.getLogger(__name__)


async def run_fill(fill: Fill, ctx: FillContext) -> None:
    """Lead or follow until the fill ends; a failure is stored on the fill for its readers."""
    relay = Relay(fill, ctx, ctx.link) if ctx.link is not None else None
    try:
        while True:
            try:
                lease = await ctx.coordinator.try_lead(fill.key, ctx.policy.lease_ttl)
                alone = False
            except CoordinationUnavailable:
                lease, alone = None, True
            if lease is not None or alone:
                if lease is not None:
                    ctx.metrics.leases_acquired.inc()
                if await lead(fill, ctx, lease) is TurnEnd.DONE:
                    return
            elif await follow(fill, ctx, relay) is TurnEnd.DONE:  # stops the relay when it returns
                return
    except BaseException as exc:
        ended = fill.finished  # e.g. cancelled while announcing its commit: the outcome stands
        if not ended:
            fill.failed(exc)
            ctx.metrics.fills_failed.inc()
        if not isinstance(exc, asyncio.CancelledError):
            log.warning("fill raised after it ended" if ended else "fill failed",
                        extra={"key": fill.key, "error": repr(exc)})
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            raise
    finally:
        if relay is not None:
            await relay.close()


class Fills:
    def __init__(self, ctx: FillContext) -> None:
        self.ctx = ctx
        self._fills: dict[str, Fill] = {}
        self._ids: dict[str, Fill] = {}
        """The same fills by ``key_id`` (the name peers use on the internal fill endpoint)."""
        self._tasks = OwnedTasks("fills")

    def get(self, key: str) -> Fill | None:
        return self._fills.get(key)

    def by_id(self, kid: str) -> Fill | None:
        return self._ids.get(kid)

    def start(self, source: Source, stale: IndexEntry | None = None) -> Fill:
        """Start the fill for ``source.key``; the caller has checked that none is running."""
        if source.key in self._fills:
            raise RuntimeError(f"a fill for {source.key} is already running")
        fill = Fill(source, stale)
        self._fills[fill.key] = fill
        self._ids[key_id(fill.key)] = fill
        self._tasks.start(self._own(fill), name=f"fill {fill.key}")
        return fill

    async def _own(self, fill: Fill) -> None:
        self.ctx.metrics.inflight_fills.inc()
        try:
            await run_fill(fill, self.ctx)
        finally:
            self.ctx.metrics.inflight_fills.dec()
            if self._fills.get(fill.key) is fill:
                del self._fills[fill.key]
                del self._ids[key_id(fill.key)]

    def __len__(self) -> int:
        return len(self._fills)

    def running(self) -> list[Fill]:
        """The fills in progress now (a copy: safe to keep while fills start and end)."""
        return list(self._fills.values())

    async def settle(self) -> None:
        """Wait until every fill started so far has ended and left the registry."""
        await self._tasks.settle()

    async def close(self) -> None:
        """Cancel every running fill and wait for them to clean up (leaders hand their fills over)."""
        await self._tasks.close()
