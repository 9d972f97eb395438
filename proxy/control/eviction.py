"""Quota eviction: keep the blobs on the cache volume under ``--disk-quota-bytes``.

One pass: expire pins past their grace period, write the access times readers left in memory to
the blobs' atimes (coarsely: at most once per ``touch_interval`` per blob), and, when the blobs
add up to more than the quota, delete least-recently-used blobs that no live pin covers and that
``BlobUsage`` says nobody reads or fills, until the total fits. The index records that name an
evicted blob go first, so no reader is sent to a blob that is about to vanish; a request that
opened the blob just before its unlink still reads it whole (POSIX keeps an open file's bytes).

Each pass (and, without a quota, a sweep every 15 minutes) also removes the temp files other
nodes left on the volume that nobody has written for ``--abandoned-tmp-age`` (a pod killed
mid-fill, a fill handed over that no pod took up): ``FsBlobStore.sweep_abandoned``.

Cluster mode: exactly one evictor may run at a time, holding a lease (with a fencing token) on
the eviction job: ``EvictionPasses.run`` takes the coordinator's ``control:eviction`` lease around
each pass. ``BlobUsage`` sees this node's readers; ``elsewhere`` (``proxy.cluster.claims``) the
blobs other pods announced as in use, each announced before its first reader gets a byte. A
blob is unindexed first, then checked against ``elsewhere``, then deleted: a reader on another pod
either announced it before the check (the blob stays, unindexed, until a later pass) or looked it
up after the unindex (and fills it again). Only a reader that looked it up before the unindex and
announced it after the check can lose it; the window is one Redis round trip. When Redis cannot
be asked, nothing is deleted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from proxy.cluster.port import Coordinator
from proxy.control.pins import Pins, pinned_digests
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable, ProxyError
from proxy.observe.metrics import Metrics
from proxy.read.readers import BlobUsage
from proxy.storage.blobstore import FsBlobStore, Swept
from proxy.storage.index import Index, IndexEntry

log = logging.getLogger(__name__)

EVICTION_LEASE = "control:eviction"
EVICTION_LEASE_TTL = 600.0
"""Seconds the eviction lease lasts if its holder dies mid-pass (a pass is released when it ends)."""

ABANDONED_AGE = 86400.0
"""Seconds since its last write after which another node's temp file counts as abandoned (longer
than a fill record lives, so no successor can still adopt it)."""

UNINDEXED_GRACE = 3600.0
"""Seconds a blob no index record names is left alone: a fill may have committed it and be about
to write its record (the same rule as ``modelmanager gc``'s default grace)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    digest: Digest
    size: int
    last_access: float
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Survey:
    total: int
    candidates: tuple[Candidate, ...]
    """Unpinned blobs, least recently used first."""
    pinned: int


class EvictionReport(BaseModel):
    """What one pass did (``POST /v1/evict`` answers it with the quota)."""

    model_config = ConfigDict(frozen=True)

    total_before: int
    total_after: int
    evicted: int
    evicted_bytes: int
    pinned: int
    in_use: int
    abandoned_files: int = 0
    """Temp files other nodes left behind, removed by this pass (``FsBlobStore.sweep_abandoned``)."""
    abandoned_bytes: int = 0


class Evictor:
    def __init__(self, store: FsBlobStore, index: Index, pins: Pins, usage: BlobUsage, metrics: Metrics,
                 quota: int, touch_interval: float, clock: Callable[[], float] = time.time,
                 elsewhere: Callable[[], Awaitable[set[Digest]]] | None = None,
                 abandoned_age: float = ABANDONED_AGE) -> None:
        self._store = store
        self._abandoned_age = abandoned_age
        self._index = index
        self._pins = pins
        self._usage = usage
        self._elsewhere = elsewhere
        self._metrics = metrics
        self.quota = quota
        self._touch_interval = touch_interval
        self._clock = clock
        self._accessed: dict[Digest, float] = {}
        self._touched: dict[Digest, float] = {}
        self._lock = asyncio.Lock()

    def accessed(self, digest: Digest) -> None:
        """A reader used ``digest`` just now (remembered in memory; written at the next pass)."""
        self._accessed[digest] = self._clock()

    async def record_access(self) -> int:
        """Write the last-access times readers reported (at most one write per blob per touch
        interval) without surveying: without a quota this keeps the LRU order true, so turning a
        quota on later evicts what was read longest ago, not what was downloaded first."""
        accessed, self._accessed = self._accessed, {}
        return await asyncio.get_running_loop().run_in_executor(None, self._touch_all, accessed)

    def _touch_all(self, accessed: dict[Digest, float]) -> int:
        now, touched = self._clock(), 0
        for digest, at in accessed.items():
            try:
                mtime = os.stat(self._store.layout.blob(digest)).st_mtime
            except FileNotFoundError:
                continue
            touched += self._touch(digest, at, mtime, now)
        return touched

    async def run_once(self) -> EvictionReport:
        async with self._lock:
            loop = asyncio.get_running_loop()
            accessed, self._accessed = self._accessed, {}
            swept = await self._sweep()
            survey = await loop.run_in_executor(None, self._survey, accessed)
            total, evicted, evicted_bytes, in_use = survey.total, 0, 0, 0
            for candidate in survey.candidates:
                if not self.quota or total <= self.quota:
                    break
                if self._usage.in_use(candidate.digest):
                    in_use += 1
                    continue
                removed = await loop.run_in_executor(None, self._unindex, candidate)
                if self._elsewhere is not None:
                    try:
                        busy = candidate.digest in await self._elsewhere()
                    except CoordinationUnavailable as exc:
                        log.warning("eviction pass stopped: other pods' readers unknown", extra={"error": str(exc)})
                        await loop.run_in_executor(None, self._reindex, removed)
                        break
                    if busy or self._usage.in_use(candidate.digest):
                        await loop.run_in_executor(None, self._reindex, removed)
                        in_use += 1
                        continue
                if await loop.run_in_executor(None, self._delete, candidate):
                    total -= candidate.size
                    evicted += 1
                    evicted_bytes += candidate.size
            self._metrics.cache_bytes.set(total)
            self._metrics.evicted_blobs.inc(evicted)
            self._metrics.evicted_bytes.inc(evicted_bytes)
            report = EvictionReport(total_before=survey.total, total_after=total, evicted=evicted,
                                    evicted_bytes=evicted_bytes, pinned=survey.pinned, in_use=in_use,
                                    abandoned_files=swept.files, abandoned_bytes=swept.size)
            if evicted or (self.quota and total > self.quota):
                log.info("eviction pass", extra={
                    "quota": self.quota, "total_before": report.total_before, "total_after": report.total_after,
                    "evicted": evicted, "evicted_bytes": evicted_bytes, "in_use": in_use})
            return report

    async def sweep(self) -> Swept:
        """Only remove the temp files other nodes abandoned (no quota: no passes). Needs no lease:
        pods sweeping at once remove each file once."""
        async with self._lock:
            return await self._sweep()

    async def _sweep(self) -> Swept:
        loop = asyncio.get_running_loop()
        swept = await loop.run_in_executor(None, self._store.sweep_abandoned, self._clock(), self._abandoned_age)
        self._metrics.abandoned_tmp_files.inc(swept.files)
        self._metrics.abandoned_tmp_bytes.inc(swept.size)
        return swept

    def _survey(self, accessed: dict[Digest, float]) -> Survey:
        now = self._clock()
        for pin in self._pins.expire(now):
            log.info("pin expired", extra={"url": pin.url, "version": pin.version})
        entries = list(self._index.entries())
        pinned = pinned_digests(self._pins.all(), entries, now)
        keys: dict[Digest, list[str]] = {}
        for entry in entries:
            keys.setdefault(entry.digest, []).append(entry.key)
        total, candidates = 0, []
        for digest, st in self._store.digests():
            total += st.st_size
            last = max(st.st_atime, accessed.get(digest, 0.0))
            if digest in accessed:
                self._touch(digest, accessed[digest], st.st_mtime, now)
            unindexed_young = digest not in keys and now - st.st_mtime < UNINDEXED_GRACE
            if digest not in pinned and not unindexed_young:
                candidates.append(Candidate(digest, st.st_size, last, tuple(keys.get(digest, ()))))
        candidates.sort(key=lambda c: c.last_access)
        return Survey(total, tuple(candidates), len(pinned))

    def _touch(self, digest: Digest, at: float, mtime: float, now: float) -> bool:
        if now - self._touched.get(digest, float("-inf")) < self._touch_interval:
            return False
        try:
            os.utime(self._store.layout.blob(digest), (at, mtime))
        except FileNotFoundError:
            return False
        self._touched[digest] = now
        return True

    def _unindex(self, candidate: Candidate) -> list[IndexEntry]:
        """Index records first: no new reader is sent to a blob that is about to vanish."""
        removed = []
        for key in candidate.keys:
            current = self._index.get(key)
            if current is not None and current.digest == candidate.digest:
                self._index.delete(key)
                removed.append(current)
        return removed

    def _reindex(self, entries: list[IndexEntry]) -> None:
        """The blob stays after all: put back the records no fill has replaced meanwhile."""
        for entry in entries:
            if self._index.get(entry.key) is None:
                self._index.put(entry)

    def _delete(self, candidate: Candidate) -> bool:
        removed = self._store.delete(candidate.digest)
        if removed:
            log.info("evicted", extra={"digest": str(candidate.digest), "size": candidate.size,
                                       "keys": len(candidate.keys)})
        return removed


class EvictionPasses:
    """Eviction passes under the cluster-wide eviction lease: one evictor at a time across pods
    (embedded mode leases within the process); this pod's passes (loop, after a job, the API) queue up."""

    def __init__(self, evictor: Evictor, coordinator: Coordinator) -> None:
        self.evictor = evictor
        self._coordinator = coordinator
        self._queue = asyncio.Lock()

    async def run(self) -> EvictionReport | None:
        """One pass; None when another holder runs one now."""
        async with self._queue:
            lease = await self._coordinator.try_lead(EVICTION_LEASE, EVICTION_LEASE_TTL)
            if lease is None:
                return None
            try:
                return await self.evictor.run_once()
            finally:
                await self._coordinator.release(lease, keep_record=False)

    async def after_job(self, job: object) -> None:
        """A prefetch job finished: with a quota, make room now."""
        if self.evictor.quota:
            try:
                await self.run()
            except ProxyError as exc:
                log.warning("eviction after a prefetch failed", extra={"error": str(exc)})
