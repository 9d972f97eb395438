"""Following a fill another node leads: stream it from the leader's pod, or tail its temp file.

The follower subscribes to the key's events first, then catches up (pub-sub drops messages):
the index on the volume says whether the fill already committed, the coordinator's fill record
says where the leader's temp file is and how far it got. After that it mirrors progress events
into the local ``Fill`` (so local readers stream bytes as they land), and on silence it catches
up again. In cluster mode the bytes themselves come from the leader's pod over the internal fill
endpoint into a local file (``proxy.fill.relay``), so the stream does not depend on how coherent
this pod's mount of the volume is; events then only tell who leads and how the fill ended.
It returns when the fill is done, or when the leader is gone (lease expired, handed
over, or coordinator unreachable), for the caller to try to lead.
"""

from __future__ import annotations

import asyncio
import base64
import logging

from proxy.cluster.port import FillEvent, FillRecord
from proxy.errors import (
    CoordinationUnavailable,
    FillFailed,
    IntegrityError,
    ProxyError,
    UpstreamChanged,
    UpstreamRejected,
    UpstreamUnavailable,
)
from proxy.fill.context import FillContext
from proxy.fill.relay import Relay, tail
from proxy.fill.state import Fill, TurnEnd
from proxy.storage.index import IndexEntry
from proxy.storage.writer import BlobInfo
from proxy.upstream import same_version

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[ProxyError]] = {cls.__name__: cls for cls in (
    IntegrityError, UpstreamChanged, UpstreamUnavailable, FillFailed)}


async def follow(fill: Fill, ctx: FillContext, relay: Relay | None = None) -> TurnEnd:
    """Follow the key's leader until the fill ends (DONE; failures raise) or the leader is GONE.
    With ``relay``, the bytes are streamed from the leader's pod where it answers."""
    subscription = ctx.coordinator.subscribe(fill.key)
    counted = False
    try:
        while True:
            if await _committed(fill, ctx):
                return TurnEnd.DONE
            try:
                state = await ctx.coordinator.state(fill.key)
            except CoordinationUnavailable:
                return TurnEnd.GONE
            if not state.held:
                return TurnEnd.GONE
            if state.record is not None:
                _mirror(fill, ctx, state.record, relay)
            if not counted:
                ctx.metrics.cross_pod_followers.inc()
                counted = True
            while (event := await subscription.get(ctx.policy.catch_up)) is not None:
                if _apply(fill, ctx, event, relay):
                    return TurnEnd.DONE if event.kind == "done" else TurnEnd.GONE
    finally:
        subscription.close()
        if relay is not None:
            relay.stop()


def _apply(fill: Fill, ctx: FillContext, event: FillEvent, relay: Relay | None) -> bool:
    """Apply one event; True when following ends (done, or the leader released the fill)."""
    match event.kind:
        case "progress":
            if event.record is not None:
                _mirror(fill, ctx, event.record, relay)
            return False
        case "done":
            assert event.entry is not None
            _finish(fill, ctx, event.entry, event.not_modified)
            return True
        case "failed":
            raise _error(event)
        case "released":
            return True


def _mirror(fill: Fill, ctx: FillContext, record: FillRecord, relay: Relay | None) -> None:
    if record.meta is None:
        return
    if fill.meta is not None and not same_version(fill.meta, record.meta):
        raise UpstreamChanged(f"{fill.key} changed upstream while its fill moved between nodes")
    if relay is None or not relay.take(record):
        tail(fill, ctx, record)


def _finish(fill: Fill, ctx: FillContext, entry: IndexEntry, not_modified: bool) -> None:
    if not_modified:
        fill.not_modified(entry)
    else:
        fill.committed(BlobInfo(entry.digest, entry.size, ctx.store.layout.blob(entry.digest)), entry)


async def _committed(fill: Fill, ctx: FillContext) -> bool:
    """Catch-up from the volume: has the fill this node waits for been committed meanwhile?"""
    def look() -> IndexEntry | None:
        entry = ctx.index.get(fill.key)
        if entry is None or ctx.store.stat(entry.digest) is None:
            return None
        if fill.stale is not None and entry.checked_at <= fill.stale.checked_at:
            return None
        return entry

    entry = await asyncio.get_running_loop().run_in_executor(None, look)
    if entry is None:
        return False
    _finish(fill, ctx, entry, fill.stale is not None and entry.digest == fill.stale.digest)
    return True


def _error(event: FillEvent) -> ProxyError:
    if event.rejected is not None:
        r = event.rejected
        return UpstreamRejected(int(r["status"]), base64.b64decode(r["body"]), r["content_type"],
                                tuple((k, v) for k, v in r["headers"]))
    cls = _ERRORS.get(event.error_type, UpstreamUnavailable)
    return cls(f"the fill led by another node failed: {event.error}")
