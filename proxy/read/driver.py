"""The read-path driver: look a key up, follow the plans (``proxy.read.plan``), and hand back
something to serve: a committed blob (``Hit``) or a fill to tail (``InFlight``), held as this
node's reader for the length of an ``async with`` block."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import BinaryIO, assert_never

from proxy.cluster.port import Coordinator
from proxy.errors import CoordinationUnavailable
from proxy.fill.registry import Fills
from proxy.fill.state import Fill, FillState
from proxy.observe.metrics import Metrics
from proxy.read.memory import MemoryTier
from proxy.read.plan import (
    JoinFill,
    Reject,
    Revalidate,
    ServeLocal,
    ServeRevalidated,
    ServeStale,
    StartFill,
    TailFill,
    plan_read,
    plan_ready,
)
from proxy.read.readers import Readers
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import Index, IndexEntry
from proxy.storage.writer import BlobInfo
from proxy.upstream import ObjectMeta, Source

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hit:
    """A committed blob, already open. ``outcome`` is hit, revalidated or stale. ``memory``: the
    blob's bytes when the memory tier holds it."""

    entry: IndexEntry
    file: BinaryIO
    outcome: str
    size: int
    memory: bytes | None = None


@dataclass(slots=True, eq=False)
class InFlight:
    """A fill whose metadata is known; bytes are landing or have landed. ``outcome``: miss, coalesced."""

    fill: Fill
    outcome: str


Resolved = Hit | InFlight


class Cache:
    def __init__(self, store: FsBlobStore, index: Index, fills: Fills, metrics: Metrics,
                 clock: Callable[[], float], memory: MemoryTier | None = None,
                 coordinator: Coordinator | None = None, prefer_peers: bool = False) -> None:
        self.store = store
        self.index = index
        self.fills = fills
        self.metrics = metrics
        self.clock = clock
        self.memory = memory
        self.coordinator = coordinator
        self.prefer_peers = prefer_peers
        """A blob a peer holds in memory is not taken into this node's memory (peer hops serve it)."""
        self.readers = Readers()
        """Who is reading which blob on this node: eviction never deletes a blob in use."""
        self.announce_readers: Callable[[], Awaitable[None]] | None = None
        """Cluster mode: tells the other pods of a blob this node starts reading, before its first byte."""

    def _lookup(self, key: str) -> tuple[IndexEntry | None, BinaryIO | None]:
        entry = self.index.get(key)
        if entry is None:
            return None, None
        try:
            return entry, open(self.store.layout.blob(entry.digest), "rb")
        except FileNotFoundError:
            return entry, None

    def _open(self, key: str | IndexEntry) -> tuple[IndexEntry | None, BinaryIO | None]:
        if isinstance(key, str):
            return self._lookup(key)
        try:
            return key, open(self.store.layout.blob(key.digest), "rb")
        except FileNotFoundError:
            return key, None

    @asynccontextmanager
    async def resolve(self, source: Source, max_age: float | None) -> AsyncIterator[Resolved]:
        """Serve locally, or join/start the key's fill and wait for its metadata; the result is
        this node's reader of the blob (``Readers``) until the block ends.

        Raises the fill's error when it fails before any byte (e.g. UpstreamRejected), except
        that a failed revalidation serves the stale copy (stale-if-error; ``plan_ready``).
        """
        resolved = await self._resolve(source, max_age)
        try:
            release = (self.readers.hold_blob(resolved.entry.digest) if isinstance(resolved, Hit)
                       else self.readers.hold_fill(resolved.fill))
        except BaseException:
            _close(resolved)
            raise
        try:
            if self.announce_readers is not None:
                await self.announce_readers()
            yield resolved
        finally:
            _close(resolved)
            release()

    @asynccontextmanager
    async def committed(self, key: str | IndexEntry) -> AsyncIterator[Hit | None]:
        """The committed blob of ``key`` (or of an entry made up for a bare blob), opened and held as
        this node's reader until the block ends, without any fill (None when it is not on the
        volume): for entries written whole, not fetched (derived artifacts, a build's sources)."""
        entry, file = await asyncio.get_running_loop().run_in_executor(None, self._open, key)
        if entry is None or file is None:
            yield None
            return
        try:
            release = self.readers.hold_blob(entry.digest)
        except BaseException:
            file.close()
            raise
        try:
            if self.announce_readers is not None:
                await self.announce_readers()
            yield Hit(entry, file, "hit", _size(file))
        finally:
            file.close()
            release()

    async def lookup(self, key: str) -> IndexEntry | None:
        """The index entry of ``key`` (its blob may be gone)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.index.get, key)

    async def peek(self, key: str) -> IndexEntry | None:
        """The entry of ``key`` when its blob is on the volume, without reading it."""
        entry, file = await asyncio.get_running_loop().run_in_executor(None, self._lookup, key)
        if file is None:
            return None
        file.close()
        return entry

    async def _resolve(self, source: Source, max_age: float | None) -> Resolved:
        loop = asyncio.get_running_loop()
        entry, file = await loop.run_in_executor(None, self._lookup, source.key)
        running = self.fills.get(source.key)
        if running is not None and running.state is FillState.COMMITTED and file is not None:
            running = None  # committed, only announcing it to other pods: what we just read is its result
        match plan_read(entry, file is not None, running, self.clock(), max_age):
            case ServeLocal(entry=fresh):
                assert file is not None
                return await self._fresh(fresh, file)
            case JoinFill(fill=fill):
                self.metrics.coalesced_waiters.inc()
                outcome = "coalesced"
            case StartFill():
                fill = self.fills.start(source)
                outcome = "miss"
            case Revalidate(entry=stale):
                fill = self.fills.start(source, stale=stale)
                outcome = "miss"
            case _ as unreachable:
                assert_never(unreachable)
        try:
            return await self._after(fill, outcome, file)
        except BaseException:
            if file is not None:
                file.close()
            raise

    async def _after(self, fill: Fill, outcome: str, file: BinaryIO | None) -> Resolved:
        await fill.ready()
        match plan_ready(fill.state, fill.entry, fill.stale, fill.error):
            case TailFill():
                if file is not None:
                    file.close()
                return InFlight(fill, outcome)
            case ServeRevalidated(entry=current):
                return await self._hit(current, file, "revalidated")
            case ServeStale(entry=stale, error=error):
                log.warning("serving stale copy: upstream unavailable", extra={"key": fill.key, "error": str(error)})
                return await self._hit(stale, file, "stale")
            case Reject(error=error):
                raise error
            case _ as unreachable:
                assert_never(unreachable)

    async def admit(self, key: str, blob: BlobInfo, meta: ObjectMeta) -> IndexEntry:
        """Index a blob the adapter committed itself (e.g. bytes written through to the upstream),
        so the next read of ``key`` is a hit. ``meta`` is what the upstream says about that version."""
        entry = IndexEntry.of(key, blob, meta, self.clock())
        await asyncio.get_running_loop().run_in_executor(None, self.index.put, entry)
        return entry

    async def _fresh(self, entry: IndexEntry, file: BinaryIO) -> Hit:
        """A fresh hit, from the memory tier when it holds the blob; a blob that fits is taken in."""
        size = _size(file)
        memory = self.memory
        if memory is None or not memory.fits(size):
            return Hit(entry, file, "hit", size)
        data = memory.get(entry.digest)
        if data is not None:
            self.metrics.memory_hits.inc()
            return Hit(entry, file, "hit", size, data)
        if self.prefer_peers and await self._peer_holds(entry):
            return Hit(entry, file, "hit", size)  # serving may send the client on to that peer
        data = await asyncio.get_running_loop().run_in_executor(None, os.pread, file.fileno(), size, 0)
        if len(data) != size:
            return Hit(entry, file, "hit", size)
        evicted = memory.put(entry.digest, data)
        if self.coordinator is not None:
            try:
                for digest in evicted:
                    await self.coordinator.drop(digest)
                await self.coordinator.hold(entry.digest, memory.ttl)
            except CoordinationUnavailable:
                pass  # peers will not send clients here until the coordinator is back
        return Hit(entry, file, "hit", size, data)

    async def _peer_holds(self, entry: IndexEntry) -> bool:
        if self.coordinator is None:
            return False
        try:
            return bool(await self.coordinator.holders(entry.digest))
        except CoordinationUnavailable:
            return False

    async def _hit(self, entry: IndexEntry, file: BinaryIO | None, outcome: str) -> Hit:
        if file is None:  # we joined a revalidation without having looked at the blob
            file = await asyncio.get_running_loop().run_in_executor(
                None, open, self.store.layout.blob(entry.digest), "rb")
        return Hit(entry, file, outcome, _size(file))


def _close(resolved: Resolved) -> None:
    if isinstance(resolved, Hit):
        resolved.file.close()


def _size(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size

