"""Version watches: follow an HF branch or an S3 prefix, pre-warm each new version, then switch.

Every ``interval`` seconds a watch asks its catalog for the version the upstream names now. When
it differs from the version being served, the new version is pinned and prefetched through a
normal prefetch job; only when every file is cached does the catalog ``hold`` the new version as
what the URL names (for HF: the commit the branch resolves to), so no client is ever sent to a
version whose files are still on their way. A watch that names builds also has the new version's
derived artifacts built (once per cluster, ``proxy.artifacts.prebuild``) before it switches. The
version switched away from stays pinned for ``grace`` seconds. A failed pre-warm or pre-build
leaves the old version served and is retried next interval.

Watches are durable (``watches/`` on the cache volume) and resume at start-up, holding the version
they served. In cluster mode every pod re-reads the records every ``--watch-sync-interval``
(``sync``): it starts the watches other pods added, stops the ones they removed, and adopts a
version another pod switched to (that pod pre-warmed it: its files are on the shared volume).
Each pod checks and holds for its own clients; the pre-warm fills are coalesced across pods by
the coordinator, so the upstream sends each file once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, PrivateAttr

from proxy.artifacts.prebuild import Prebuilder, WatchBuild
from proxy.artifacts.recipe import RecipeError
from proxy.control.catalog import Catalogs, Snapshot, SnapshotFile
from proxy.control.jobs import Jobs
from proxy.control.pins import Pin, Pins
from proxy.control.urls import ModelUrl
from proxy.errors import Forbidden, ProxyError
from proxy.observe.metrics import Metrics
from proxy.storage.records import RecordStore
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

MIN_INTERVAL = 10.0
MAX_INTERVAL = 86400.0
"""Bounds of a watch's ``interval`` in seconds (a record outside them is clamped when loaded)."""
MAX_GRACE = 30 * 86400.0


class WatchRecord(BaseModel):
    """A watch as recorded on the cache volume (``watches/``) and answered by the control API."""

    url: str
    """Canonical: ``str()`` of the parsed URL."""
    interval: float
    grace: float
    version: str | None = None
    """The version served as what ``url`` names (None until the first pre-warm completes)."""
    public: bool = False
    checked_at: float | None = None
    switched_at: float | None = None
    switches: int = 0
    last_error: str | None = None
    job: str | None = None
    """The prefetch job of the latest pre-warm."""
    builds: list[WatchBuild] = []
    """Derived artifacts built for each new version before the switch (``proxy.artifacts.prebuild``)."""


_THIS_POD_ONLY = frozenset({"checked_at", "last_error", "job"})
"""Facts of the pod that checks: not carried over from a record (a restart, another pod's watch)."""


class Watch(WatchRecord):
    """A watch running on this pod: its record, the parsed URL, and the lock and wake-up of its loop."""

    _target: ModelUrl = PrivateAttr()
    _lock: asyncio.Lock = PrivateAttr(default_factory=asyncio.Lock)
    _wake: asyncio.Event = PrivateAttr(default_factory=asyncio.Event)

    @classmethod
    def of(cls, target: ModelUrl, interval: float, grace: float, **fields: Any) -> Watch:
        watch = cls(url=str(target), interval=interval, grace=grace, **fields)
        watch._target = target
        return watch

    @property
    def target(self) -> ModelUrl:
        return self._target

    @property
    def lock(self) -> asyncio.Lock:
        return self._lock

    @property
    def wake(self) -> asyncio.Event:
        return self._wake

    @property
    def id(self) -> str:
        return self.url

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any], parse: Callable[[str], ModelUrl]) -> Watch:
        """A watch from its record; an interval or grace out of bounds is clamped (NaN to the maximum)."""
        r = WatchRecord.model_validate({k: v for k, v in data.items() if k not in _THIS_POD_ONLY})
        return cls.of(parse(r.url), _clamp(r.interval, MIN_INTERVAL, MAX_INTERVAL), _clamp(r.grace, 0.0, MAX_GRACE),
                      version=r.version, public=r.public, switched_at=r.switched_at, switches=r.switches,
                      builds=r.builds)


class Watches:
    def __init__(self, catalogs: Catalogs, jobs: Jobs, pins: Pins, records: RecordStore, metrics: Metrics,
                 clock: Callable[[], float]) -> None:
        self._catalogs = catalogs
        self._jobs = jobs
        self._pins = pins
        self._records = records
        self._metrics = metrics
        self._clock = clock
        self._watches: dict[str, Watch] = {}
        self._tasks = OwnedTasks("watches")
        self.prebuild: Prebuilder | None = None
        """Builds artifacts of a new version before the switch (set by the composition root)."""

    def get(self, url: str) -> Watch | None:
        return self._watches.get(url)

    def all(self) -> list[Watch]:
        return sorted(self._watches.values(), key=lambda w: w.id)

    async def add(self, url: ModelUrl, interval: float, grace: float, builds: list[WatchBuild] | None = None
                  ) -> Watch:
        """Watch ``url`` (replacing the settings of an existing watch); the first check starts at once.
        ``builds``: artifacts to build before each switch (None keeps those of an existing watch)."""
        if builds:
            if self.prebuild is None:
                raise Forbidden("this proxy cannot build artifacts")
            builds = self.prebuild.normalize(builds)
        watch = self._watches.get(str(url))
        if watch is None:
            watch = self._watches[str(url)] = Watch.of(url, interval, grace, builds=builds or [])
        else:  # in place: a running check holds this object
            watch.interval, watch.grace = interval, grace
            if builds is not None:
                watch.builds = builds
            watch.wake.set()
        await self._save(watch)
        if watch.id not in self._tasks:
            self._start(watch)
        return watch

    async def remove(self, url: str) -> bool:
        watch = await self._stop(url)
        if watch is None:
            return False
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._records.delete, url)
        if watch.version is not None:  # what it served stays pinned for the grace period, then may go
            await loop.run_in_executor(None, self._expire, watch, watch.version)
        return True

    async def restore(self, check: bool = True) -> None:
        """Resume the watches recorded on the volume, holding the versions they served; with
        ``check`` False (offline) they hold but never ask the upstream."""
        for watch in await self._load():
            self._adopt(watch, check)

    async def _load(self) -> list[Watch]:
        """The watches recorded on the volume (a record that cannot be read is logged and skipped)."""
        records = await asyncio.get_running_loop().run_in_executor(None, lambda: list(self._records.all()))
        loaded = []
        for data in records:
            try:
                watch = Watch.from_json(data, self._catalogs.parse)
                self._catalogs.for_url(watch.target)
            except Exception as exc:
                log.warning("cannot load watch", extra={"record": data.get("url"), "error": str(exc)})
                continue
            loaded.append(watch)
        return loaded

    def _adopt(self, watch: Watch, check: bool) -> None:
        """Run ``watch`` on this pod, holding the version it recorded."""
        if watch.version is not None:
            self._catalogs.for_url(watch.target).hold(watch.target, watch.version, watch.public)
        self._watches[watch.id] = watch
        if check:
            self._start(watch)

    async def sync(self) -> None:
        """Catch up with the records other pods wrote: new watches start, removed ones stop, and a
        newer version another pod switched to is held here too."""
        seen: set[str] = set()
        for theirs in await self._load():
            seen.add(theirs.id)
            ours = self._watches.get(theirs.id)
            if ours is None:
                self._adopt(theirs, check=True)
                log.info("watch picked up", extra={"url": theirs.id, "version": theirs.version})
                continue
            async with ours.lock:
                if theirs.version not in (None, ours.version) and (theirs.switched_at or 0) > (ours.switched_at or 0):
                    assert theirs.version is not None
                    self._catalogs.for_url(ours.target).hold(ours.target, theirs.version, theirs.public)
                    log.info("version switch adopted", extra={"url": ours.id, "from": ours.version,
                                                              "to": theirs.version})
                    ours.version, ours.public, ours.switched_at = theirs.version, theirs.public, theirs.switched_at
                    ours.switches = max(ours.switches, theirs.switches)
        for gone in set(self._watches) - seen:
            await self._stop(gone)
            log.info("watch dropped: removed on another pod", extra={"url": gone})

    async def _stop(self, url: str) -> Watch | None:
        """Stop running ``url``'s watch on this pod and release its hold (its record is untouched)."""
        watch = self._watches.pop(url, None)
        await self._tasks.stop(url)
        if watch is not None:
            self._catalogs.for_url(watch.target).hold(watch.target, None, False)
        return watch

    def _start(self, watch: Watch) -> None:
        self._tasks.start(self._loop(watch.id), name=f"watch {watch.id}", key=watch.id)

    async def _loop(self, url: str) -> None:
        while (watch := self._watches.get(url)) is not None:
            try:
                await self.check(watch)
            except Exception as exc:  # check records its errors; this is the last line of defence
                log.exception("watch check crashed", extra={"url": url, "error": repr(exc)})
            watch.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), watch.interval)

    async def check(self, watch: Watch) -> bool:
        """Check upstream once; pre-warm and switch if the version moved. True when it switched."""
        async with watch.lock:
            try:
                return await self._check(watch)
            except Exception as exc:
                watch.last_error = str(exc) or repr(exc)
                self._metrics.watch_errors.inc()
                log.warning("watch check failed", extra={"url": watch.id, "error": watch.last_error})
                return False
            finally:
                watch.checked_at = self._clock()

    async def _check(self, watch: Watch) -> bool:
        catalog = self._catalogs.for_url(watch.target)
        if watch.version is not None and await catalog.current(watch.target) == watch.version:
            watch.last_error = None
            return False
        snapshot = await catalog.snapshot(watch.target, None)
        if snapshot.version == watch.version:
            return False
        pin = Pin(url=watch.id, version=snapshot.version, prefixes=snapshot.prefixes, created_at=self._clock(),
                  reason="watch")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pins.put, pin)
        job = self._jobs.start(watch.id, True, _fixed(snapshot))
        watch.job = job.id
        await job.finished.wait()
        if job.state != "succeeded":
            watch.last_error = f"pre-warm of {snapshot.version} failed: {job.errors[:3]}"
            self._metrics.watch_errors.inc()
            log.warning("watch pre-warm failed; still serving the previous version",
                        extra={"url": watch.id, "version": snapshot.version, "served": watch.version})
            if snapshot.version != watch.version:
                await loop.run_in_executor(None, self._pins.remove, watch.id, snapshot.version)
            return False
        if watch.builds and not await self._prebuild(watch, snapshot):
            await loop.run_in_executor(None, self._pins.remove, watch.id, snapshot.version)
            return False
        previous = watch.version
        switch = {"version": snapshot.version, "public": snapshot.public, "last_error": None,
                  "switched_at": self._clock(), "switches": watch.switches + 1}
        # On the volume first: once this pod serves the new version, other pods can adopt it.
        await loop.run_in_executor(None, self._records.put, watch.id, watch.model_copy(update=switch).to_json())
        catalog.hold(watch.target, snapshot.version, snapshot.public)
        for name, value in switch.items():
            setattr(watch, name, value)
        if previous is not None:
            await loop.run_in_executor(None, self._expire, watch, previous)
        scheme = watch.id.split("://")[0]
        self._metrics.version_switches.labels(scheme).inc()
        log.info("version switch", extra={"url": watch.id, "from": previous, "to": snapshot.version,
                                          "files": job.files_total, "bytes": job.bytes_done})
        return True

    async def _prebuild(self, watch: Watch, snapshot: Snapshot) -> bool:
        """Build the new version's artifacts; False (the old version stays served) when they are not all ready."""
        try:
            if self.prebuild is None:
                raise Forbidden("this proxy cannot build artifacts")
            built = await self.prebuild.run(snapshot, watch.builds)
        except (ProxyError, RecipeError) as exc:
            watch.last_error = f"pre-build of {snapshot.version} failed: {exc}"
            self._metrics.watch_errors.inc()
            log.warning("watch pre-build failed; still serving the previous version",
                        extra={"url": watch.id, "version": snapshot.version, "error": str(exc)})
            return False
        log.info("watch pre-built", extra={"url": watch.id, "version": snapshot.version, "artifacts": built})
        return True

    def _expire(self, watch: Watch, version: str) -> None:
        """Keep the version switched away from pinned for the grace period (then eviction may take it)."""
        until = self._clock() + watch.grace
        for pin in self._pins.all():
            if pin.url == watch.id and pin.version == version and pin.reason == "watch":
                self._pins.put(pin.model_copy(update={"expires_at": until}))

    async def _save(self, watch: Watch) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._records.put, watch.id, watch.to_json())

    async def close(self) -> None:
        await self._tasks.close()


def _fixed(snapshot: Snapshot) -> Callable[[], Awaitable[tuple[Snapshot, tuple[SnapshotFile, ...]]]]:
    """The snapshot's files, each revalidated now unless immutable: a cached copy of a mutable key
    (an S3 object) may be the version the upstream just replaced."""
    files = tuple(f if f.max_age is None else replace(f, max_age=0.0) for f in snapshot.files)

    async def listing() -> tuple[Snapshot, tuple[SnapshotFile, ...]]:
        return snapshot, files

    return listing


def _clamp(value: float, low: float, high: float) -> float:
    """``value`` within [low, high]; NaN becomes ``high`` (the least work for the upstream)."""
    return high if math.isnan(value) else min(max(value, low), high)
