"""The control API: prefetch jobs, pins, watches and eviction, mounted like a frontend.

    POST   /v1/prefetch   {"url", "pin", "allow_patterns", "ignore_patterns", "token"} -> 202 job
    GET    /v1/jobs       every job on this node;  GET /v1/jobs/{id}[?wait=seconds]
    GET    /v1/pins       POST /v1/pins {"url", "token"}   DELETE /v1/pins?url=
    GET    /v1/watches    POST /v1/watches {"url", "interval", "grace"}   DELETE /v1/watches?url=
    POST   /v1/evict      one eviction pass now

With ``--admin-token`` set every call needs ``Authorization: Bearer <token>``; without it the
control API is open to whoever reaches the port (a warning is logged at start-up). Answers are
JSON; errors are ``{"error": message}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import ClientSession, web

from proxy import appkeys
from proxy.config import Settings
from proxy.control.catalog import Catalog, Catalogs, Snapshot, SnapshotFile
from proxy.control.eviction import EvictionReport, Evictor
from proxy.control.jobs import Job, Jobs
from proxy.control.pins import Pin, Pins
from proxy.control.urls import ModelUrl, parse_url
from proxy.control.watches import Watches
from proxy.errors import Forbidden, InvalidKey, ProxyError, UpstreamRejected
from proxy.storage.records import RecordStore
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

EVICTION_LEASE = "control:eviction"
EVICTION_LEASE_TTL = 600.0
"""Seconds the eviction lease lasts if its holder dies mid-pass (a pass is released when it ends)."""

CatalogFactory = Callable[[Callable[[], ClientSession]], Sequence[Catalog]]


class Control:
    name = "control"

    def __init__(self, settings: Settings, catalogs: CatalogFactory, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._catalog_factory = catalogs
        self._clock = clock
        self._loops = OwnedTasks("control loops")
        self._evicting = asyncio.Lock()

    def setup(self, app: web.Application) -> None:
        s, cache = self.settings, app[appkeys.CACHE]
        self.catalogs = Catalogs(self._catalog_factory(lambda: app[appkeys.UPSTREAM_SESSION]))
        self.pins = Pins(RecordStore(cache.store.layout, s.node_id, "pins"))
        shared = app[appkeys.SHARED_USAGE]
        self.evictor = Evictor(cache.store, cache.index, self.pins, cache.readers, cache.metrics,
                               s.disk_quota_bytes, s.access_touch_interval, self._clock,
                               elsewhere=shared.elsewhere if app[appkeys.COORDINATOR].shared else None)
        if s.disk_quota_bytes:  # last-access times only matter to eviction
            cache.readers.on_access = self.evictor.accessed
        self.jobs = Jobs(cache, cache.metrics, s.prefetch_concurrency, self._after_job)
        self.watches = Watches(self.catalogs, self.jobs, self.pins, RecordStore(cache.store.layout, s.node_id,
                                                                                 "watches"), cache.metrics, self._clock)
        app[appkeys.CONTROL] = self
        self._coordinator = app[appkeys.COORDINATOR]
        status = app[appkeys.STATUS]
        status.quota_bytes = lambda: s.disk_quota_bytes or None
        status.pinned = lambda: [p.to_json() for p in self.pins.known]
        r = app.router
        r.add_post("/v1/prefetch", self._guard(self.prefetch))
        r.add_get("/v1/jobs", self._guard(self.list_jobs))
        r.add_get("/v1/jobs/{id}", self._guard(self.get_job))
        r.add_get("/v1/pins", self._guard(self.list_pins))
        r.add_post("/v1/pins", self._guard(self.add_pin))
        r.add_delete("/v1/pins", self._guard(self.remove_pin))
        r.add_get("/v1/watches", self._guard(self.list_watches))
        r.add_post("/v1/watches", self._guard(self.add_watch))
        r.add_delete("/v1/watches", self._guard(self.remove_watch))
        r.add_post("/v1/evict", self._guard(self.evict))
        app.on_startup.append(self._start)  # after cleanup_ctx: the upstream session exists
        app.on_shutdown.append(self._stop)

    # -- lifecycle --------------------------------------------------------------------------

    async def _start(self, app: web.Application) -> None:
        if self.settings.admin_token is None:
            log.warning("--admin-token is unset: the control API (/v1/prefetch, /v1/pins, ...) is open")
        await asyncio.get_running_loop().run_in_executor(None, self.pins.all)  # fills pins.known
        if self.settings.offline:
            await self._hold_pins()
        await self.watches.restore(check=not self.settings.offline)
        if self._coordinator.shared and not self.settings.offline:
            self._loops.start(self._watch_sync_loop(), name="watch sync")
        if self.settings.disk_quota_bytes:
            self._loops.start(self._evict_loop(), name="eviction")

    async def _stop(self, app: web.Application) -> None:
        await self._loops.close()
        await self.watches.close()
        await self.jobs.close()

    async def _hold_pins(self) -> None:
        """Offline: a pinned branch names the version pinned last, since the upstream cannot be asked."""
        pins = await asyncio.get_running_loop().run_in_executor(None, self.pins.all)
        for pin in pins:  # oldest first, so the newest pin of a URL wins
            with contextlib.suppress(ProxyError):
                url = parse_url(pin.url)
                self.catalogs.for_url(url).hold(url, pin.version, pin.public)

    async def _evict_loop(self) -> None:
        while True:
            try:
                await self.evict_once()
            except Exception as exc:
                log.exception("eviction pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.eviction_interval)

    async def _watch_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch_sync_interval)
            try:
                await self.watches.sync()
            except Exception as exc:
                log.exception("watch sync failed", extra={"error": repr(exc)})

    async def evict_once(self) -> EvictionReport | None:
        """One eviction pass under the cluster-wide eviction lease (one evictor at a time across
        pods; embedded mode leases within the process). None: another holder runs it now."""
        async with self._evicting:  # this pod's passes (loop, after a job, the API) queue up
            lease = await self._coordinator.try_lead(EVICTION_LEASE, EVICTION_LEASE_TTL)
            if lease is None:
                return None
            try:
                return await self.evictor.run_once()
            finally:
                await self._coordinator.release(lease, keep_record=False)

    async def _after_job(self, job: Job) -> None:
        if self.settings.disk_quota_bytes:
            try:
                await self.evict_once()
            except ProxyError as exc:
                log.warning("eviction after a prefetch failed", extra={"error": str(exc)})

    # -- handlers ---------------------------------------------------------------------------

    def _guard(self, handler: Callable[[web.Request], Awaitable[web.Response]]
               ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            expected = self.settings.admin_token
            if expected is not None:
                given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
                    return _error(401, "the control API needs Authorization: Bearer <admin token>")
            try:
                return await handler(request)
            except UpstreamRejected as exc:
                return _error(exc.status, f"upstream answered {exc.status}: {exc.body[:200].decode(errors='replace')}")
            except (InvalidKey, ValueError, KeyError, TypeError) as exc:
                return _error(400, str(exc))
            except Forbidden as exc:
                return _error(403, str(exc))
            except ProxyError as exc:
                return _error(502, str(exc))

        return guarded

    async def prefetch(self, request: web.Request) -> web.Response:
        body = await _json(request)
        url = parse_url(body["url"])
        catalog = self._online(url)
        allow, ignore = _patterns(body, "allow_patterns"), _patterns(body, "ignore_patterns")
        token = _optional_str(body, "token")
        pin = bool(body.get("pin", False))

        async def listing() -> tuple[Snapshot, tuple[SnapshotFile, ...]]:
            snapshot = await catalog.snapshot(url, token)
            if pin:
                await self._pin(url, snapshot)
            return snapshot, snapshot.select(allow, ignore)

        job = self.jobs.start(str(url), pin, listing)
        return web.json_response(job.to_json(), status=202, headers={"Location": f"/v1/jobs/{job.id}"})

    async def list_jobs(self, request: web.Request) -> web.Response:
        return web.json_response([j.to_json() for j in self.jobs.all()])

    async def get_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "no such job on this node")
        wait = min(float(request.query.get("wait", "0")), 30.0)
        if wait > 0 and not job.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.finished.wait(), wait)
        return web.json_response(job.to_json())

    async def list_pins(self, request: web.Request) -> web.Response:
        pins = await asyncio.get_running_loop().run_in_executor(None, self.pins.all)
        return web.json_response([p.to_json() for p in pins])

    async def add_pin(self, request: web.Request) -> web.Response:
        body = await _json(request)
        url = parse_url(body["url"])
        snapshot = await self._online(url).snapshot(url, _optional_str(body, "token"))
        pin = await self._pin(url, snapshot)
        return web.json_response(pin.to_json(), status=201)

    async def remove_pin(self, request: web.Request) -> web.Response:
        url = str(parse_url(request.query.get("url", "")))
        gone = await asyncio.get_running_loop().run_in_executor(None, self.pins.remove, url, None)
        if not gone:
            return _error(404, f"no pin of {url}")
        return web.json_response([p.to_json() for p in gone])

    async def list_watches(self, request: web.Request) -> web.Response:
        return web.json_response([w.to_json() for w in self.watches.all()])

    async def add_watch(self, request: web.Request) -> web.Response:
        body = await _json(request)
        url = parse_url(body["url"])
        self._online(url)
        interval = float(body.get("interval") or self.settings.watch_interval)
        grace = float(body["grace"]) if body.get("grace") is not None else self.settings.watch_grace
        if interval <= 0 or grace < 0:
            raise ValueError("interval must be > 0 and grace >= 0")
        watch = await self.watches.add(url, interval, grace)
        return web.json_response(watch.to_json(), status=201)

    async def remove_watch(self, request: web.Request) -> web.Response:
        url = str(parse_url(request.query.get("url", "")))
        if not await self.watches.remove(url):
            return _error(404, f"{url} is not watched")
        return web.json_response({"url": url, "removed": True})

    async def evict(self, request: web.Request) -> web.Response:
        report = await self.evict_once()
        if report is None:
            return _error(409, "another pod holds the eviction lease and is evicting now")
        return web.json_response({"quota": self.evictor.quota, **{k: getattr(report, k) for k in report.__slots__}})

    # -- helpers ----------------------------------------------------------------------------

    def _online(self, url: ModelUrl) -> Catalog:
        if self.settings.offline:
            raise Forbidden("the proxy runs with --offline: it serves only what is cached")
        return self.catalogs.for_url(url)

    async def _pin(self, url: ModelUrl, snapshot: Snapshot) -> Pin:
        """Pin ``snapshot`` under the URL as the operator named it (``unpin`` takes the same URL)."""
        pin = Pin(str(url), snapshot.version, snapshot.prefixes, self._clock(), public=snapshot.public)
        await asyncio.get_running_loop().run_in_executor(None, self.pins.put, pin)
        return pin


async def _json(request: web.Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _patterns(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"{name} must be a list of strings")
    return value


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value or None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

