"""The control API: prefetch jobs, pins, watches and eviction, mounted like a frontend.

    POST   /v1/prefetch   {"url", "pin", "allow_patterns", "ignore_patterns", "token"} -> 202 job
    GET    /v1/jobs       every job on this node;  GET /v1/jobs/{id}[?wait=seconds]
    GET    /v1/pins       POST /v1/pins {"url", "token"}   DELETE /v1/pins?url=
    GET    /v1/watches    POST /v1/watches {"url", "interval", "grace"}   DELETE /v1/watches?url=
    POST   /v1/evict      one eviction pass now
    GET    /v1/openapi.json   the OpenAPI document of all of it (``proxy.control.openapi``; no token)

Every call passes ``proxy.control.guard`` first: ``Authorization: Bearer <admin token>`` (the token of
``--admin-token`` or the one generated on the cache volume; none only with ``--insecure-no-auth``),
no cross-site browser requests, JSON bodies only; then its body is parsed into its model
(``proxy.control.schema``: strict types, every number bounded). Answers are JSON; errors are
``{"error": message}`` with a 4xx/5xx status (docs/control-api.md).

``Control`` receives its parts (catalogs, pins, eviction passes, jobs, watches) built by the
composition root, ``proxy.app.make_control``; it owns the routes and the background loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.config import Settings
from proxy.control.catalog import Catalog, Catalogs, Snapshot, SnapshotFile
from proxy.control.eviction import EvictionPasses
from proxy.control.guard import Guard, Refused, query_number, read_json
from proxy.control.jobs import Jobs
from proxy.control.openapi import document
from proxy.control.pins import Pin, Pins
from proxy.control.schema import ErrorBody, EvictionView, PinRequest, PrefetchRequest, WatchRemoved, WatchRequest, parse
from proxy.control.urls import ModelUrl
from proxy.control.watches import Watches
from proxy.errors import Forbidden, InvalidKey, ProxyError, UpstreamRejected
from proxy.read.core import Core
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)

MAX_JOB_WAIT = 30.0
"""Longest long-poll of ``GET /v1/jobs/{id}?wait=``."""
SWEEP_INTERVAL = 900.0
"""Seconds between sweeps of abandoned temp files when no quota runs eviction passes."""

class Control:
    """The control room's routes and loops. Its parts come built from the composition root
    (``proxy.app.make_control``)."""

    name = "control"

    def __init__(self, settings: Settings, catalogs: Catalogs, pins: Pins, eviction: EvictionPasses, jobs: Jobs,
                 watches: Watches, guard: Guard, *, shared: bool, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.catalogs = catalogs
        self.pins = pins
        self.eviction = eviction
        self.jobs = jobs
        self.watches = watches
        self._door = guard
        self._shared = shared
        """Other pods see the same records (cluster mode): watches are synced from them."""
        self._clock = clock
        self._loops = OwnedTasks("control loops")

    def setup(self, app: web.Application, core: Core) -> None:
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
        r.add_get("/v1/openapi.json", self.openapi)  # holds no data: no token asked for
        app.on_startup.append(self._start)  # after cleanup_ctx: the upstream session exists
        app.on_shutdown.append(self._stop)

    # -- lifecycle --------------------------------------------------------------------------

    async def _start(self, app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.pins.all)  # fills pins.known
        if self.settings.offline:
            await self._hold_pins()
        await self.watches.restore(check=not self.settings.offline)
        if self._shared and not self.settings.offline:
            self._loops.start(self._watch_sync_loop(), name="watch sync")
        if self.settings.disk_quota_bytes:
            self._loops.start(self._evict_loop(), name="eviction")
        else:
            self._loops.start(self._access_loop(), name="last-access times")
            self._loops.start(self._sweep_loop(), name="abandoned temp files")

    async def _stop(self, app: web.Application) -> None:
        await self._loops.close()
        await self.watches.close()
        await self.jobs.close()

    async def _hold_pins(self) -> None:
        """Offline: a pinned branch names the version pinned last, since the upstream cannot be asked."""
        pins = await asyncio.get_running_loop().run_in_executor(None, self.pins.all)
        for pin in pins:  # oldest first, so the newest pin of a URL wins
            with contextlib.suppress(ProxyError):
                url = self.catalogs.parse(pin.url)
                self.catalogs.for_url(url).hold(url, pin.version, pin.public)

    async def _evict_loop(self) -> None:
        while True:
            try:
                await self.eviction.run()
            except Exception as exc:
                log.exception("eviction pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.eviction_interval)

    async def _sweep_loop(self) -> None:
        """Without a quota there are no eviction passes: abandoned temp files are swept alone."""
        while True:
            try:
                await self.eviction.evictor.sweep()
            except Exception as exc:
                log.exception("sweeping abandoned temp files failed", extra={"error": repr(exc)})
            await asyncio.sleep(SWEEP_INTERVAL)

    async def _access_loop(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.settings.access_touch_interval))
            try:
                await self.eviction.evictor.record_access()
            except Exception as exc:
                log.exception("recording last-access times failed", extra={"error": repr(exc)})

    async def _watch_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch_sync_interval)
            try:
                await self.watches.sync()
            except Exception as exc:
                log.exception("watch sync failed", extra={"error": repr(exc)})

    # -- handlers ---------------------------------------------------------------------------

    def _guard(self, handler: Callable[[web.Request], Awaitable[web.Response]]
               ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            try:
                self._door.check(request)
                return await handler(request)
            except Refused as exc:
                return exc.response()
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
        body = parse(PrefetchRequest, await read_json(request))
        url = self.catalogs.parse(body.url)
        catalog = self._online(url)

        async def listing() -> tuple[Snapshot, tuple[SnapshotFile, ...]]:
            snapshot = await catalog.snapshot(url, body.token)
            if body.pin:
                await self._pin(url, snapshot)
            return snapshot, snapshot.select(body.allow_patterns, body.ignore_patterns)

        job = self.jobs.start(str(url), body.pin, listing)
        return web.json_response(job.to_json(), status=202, headers={"Location": f"/v1/jobs/{job.id}"})

    async def list_jobs(self, request: web.Request) -> web.Response:
        return web.json_response([j.to_json() for j in self.jobs.all()])

    async def get_job(self, request: web.Request) -> web.Response:
        wait = query_number(request, "wait", low=0.0, high=MAX_JOB_WAIT, default=0.0)
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, "no such job on this node")
        if wait > 0 and not job.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.finished.wait(), wait)
        return web.json_response(job.to_json())

    async def list_pins(self, request: web.Request) -> web.Response:
        pins = await asyncio.get_running_loop().run_in_executor(None, self.pins.all)
        return web.json_response([p.to_json() for p in pins])

    async def add_pin(self, request: web.Request) -> web.Response:
        body = parse(PinRequest, await read_json(request))
        url = self.catalogs.parse(body.url)
        snapshot = await self._online(url).snapshot(url, body.token)
        pin = await self._pin(url, snapshot)
        return web.json_response(pin.to_json(), status=201)

    async def remove_pin(self, request: web.Request) -> web.Response:
        url = str(self.catalogs.parse(request.query.get("url", "")))
        gone = await asyncio.get_running_loop().run_in_executor(None, self.pins.remove, url, None)
        if not gone:
            return _error(404, f"no pin of {url}")
        return web.json_response([p.to_json() for p in gone])

    async def list_watches(self, request: web.Request) -> web.Response:
        return web.json_response([w.to_json() for w in self.watches.all()])

    async def add_watch(self, request: web.Request) -> web.Response:
        body = parse(WatchRequest, await read_json(request))
        url = self.catalogs.parse(body.url)
        if not self._online(url).watchable:
            raise InvalidKey(f"{url.scheme}:// URLs name one file with no version: they cannot be watched "
                             "(watch an hf:// branch or an s3:// prefix; pin or prefetch this URL instead)")
        interval = self.settings.watch_interval if body.interval is None else body.interval
        grace = self.settings.watch_grace if body.grace is None else body.grace
        watch = await self.watches.add(url, interval, grace, body.builds)
        return web.json_response(watch.to_json(), status=201)

    async def remove_watch(self, request: web.Request) -> web.Response:
        url = str(self.catalogs.parse(request.query.get("url", "")))
        if not await self.watches.remove(url):
            return _error(404, f"{url} is not watched")
        return web.json_response(WatchRemoved(url=url, removed=True).model_dump())

    async def evict(self, request: web.Request) -> web.Response:
        report = await self.eviction.run()
        if report is None:
            return _error(409, "another pod holds the eviction lease and is evicting now")
        view = EvictionView(quota=self.eviction.evictor.quota, **report.model_dump())
        return web.json_response(view.model_dump())

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(document())

    # -- helpers ----------------------------------------------------------------------------

    def _online(self, url: ModelUrl) -> Catalog:
        if self.settings.offline:
            raise Forbidden("the proxy runs with --offline: it serves only what is cached")
        return self.catalogs.for_url(url)

    async def _pin(self, url: ModelUrl, snapshot: Snapshot) -> Pin:
        """Pin ``snapshot`` under the URL as the operator named it (``unpin`` takes the same URL)."""
        pin = Pin(url=str(url), version=snapshot.version, prefixes=snapshot.prefixes, created_at=self._clock(),
                  public=snapshot.public)
        await asyncio.get_running_loop().run_in_executor(None, self.pins.put, pin)
        return pin


def _error(status: int, message: str) -> web.Response:
    return web.json_response(ErrorBody(error=message).model_dump(), status=status)
