"""make_app: build the core from settings, mount the frontends, own the long-lived resources."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from yarl import URL

from proxy import __version__, appkeys
from proxy.artifacts.builds import Builds, artifact_status
from proxy.artifacts.prebuild import Prebuilder
from proxy.artifacts.recipe import registry
from proxy.artifacts.store import ArtifactStore
from proxy.cluster.claims import SharedUsage
from proxy.cluster.embedded import EmbeddedCoordinator
from proxy.cluster.membership import Membership
from proxy.cluster.peers import BLOB_ROUTE, Peers
from proxy.cluster.port import Coordinator, Node
from proxy.cluster.redis_backend import RedisCoordinator
from proxy.config import Settings
from proxy.connections import ConnectionGuard, ListenPolicy, default_limit
from proxy.control.api import Control
from proxy.control.artifacts import ArtifactRoutes
from proxy.control.catalog import Catalogs
from proxy.control.eviction import EvictionPasses, Evictor
from proxy.control.guard import Guard
from proxy.control.jobs import Jobs
from proxy.control.pins import Pins
from proxy.control.watches import Watches
from proxy.credentials import admin_token, cluster_secret
from proxy.fill.context import FillContext, FillPolicy
from proxy.fill.feed import FillFeed
from proxy.fill.link import FILL_ROUTE, LeaderLink
from proxy.fill.registry import Fills
from proxy.fill.relay import sweep_relay_files
from proxy.observe.metrics import Metrics
from proxy.observe.status import Status
from proxy.offline import OfflineConnector
from proxy.read.core import Core
from proxy.read.driver import Cache
from proxy.read.memory import MemoryTier
from proxy.read.send import ServeOptions
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.index import Index
from proxy.storage.layout import Layout
from proxy.storage.records import RecordStore
from proxy.upstream import Frontend
from proxy.workers import env as workers_env
from proxy.workers.client import LocalCoordinator

log = logging.getLogger(__name__)

CatalogFactory = Callable[[Callable[[], ClientSession]], Catalogs]
"""Builds the adapters' catalogs (``proxy.__main__``) given how to reach the upstream session."""


def make_coordinator(settings: Settings) -> Coordinator:
    """Embedded (this process) without --redis-url; Redis across pods with it; the supervisor's
    node-local coordinator in a worker of ``--workers N`` without Redis."""
    node = Node(settings.node_id, settings.advertised())
    worker = workers_env.current()
    if settings.redis_url is None and worker is not None and worker.socket is not None:
        return LocalCoordinator(worker.socket, node)  # a worker of several: the node's coordinator
    if settings.redis_url is None:
        return EmbeddedCoordinator(node)
    return RedisCoordinator(settings.redis_url.get_secret_value(), node, settings.redis_prefix)


def make_guard(settings: Settings) -> Guard:
    """The door of the control API and /v1/status: the admin token, or none with --insecure-no-auth."""
    token = admin_token(settings)
    if token is None:
        log.warning("--insecure-no-auth: the control API and /v1/status answer WITHOUT A TOKEN to anyone who "
                    "reaches the port; use it for local development only")
    names = [URL(settings.advertised()).host or "", settings.host]
    return Guard(token, names)


def make_control(app: web.Application, catalogs: CatalogFactory, clock: Callable[[], float]) -> Control:
    """The control room (prefetch jobs, pins, watches, eviction) over the app's cache and coordinator."""
    settings, cache, coordinator = app[appkeys.SETTINGS], app[appkeys.CACHE], app[appkeys.COORDINATOR]
    found = catalogs(lambda: app[appkeys.UPSTREAM_SESSION])
    pins = Pins(RecordStore(cache.store.layout, settings.node_id, "pins"))
    elsewhere = app[appkeys.SHARED_USAGE].elsewhere if coordinator.shared else None
    evictor = Evictor(cache.store, cache.index, pins, cache.readers, cache.metrics, settings.disk_quota_bytes,
                      settings.access_touch_interval, clock, elsewhere=elsewhere,
                      abandoned_age=settings.abandoned_tmp_age)
    cache.readers.on_access = evictor.accessed  # always: a quota set later evicts by real LRU
    eviction = EvictionPasses(evictor, coordinator)
    jobs = Jobs(cache, cache.metrics, settings.prefetch_concurrency, eviction.after_job)
    watches = Watches(found, jobs, pins, RecordStore(cache.store.layout, settings.node_id, "watches"), cache.metrics,
                      clock)
    status = app[appkeys.STATUS]
    status.quota_bytes = lambda: settings.disk_quota_bytes or None
    status.pinned = lambda: [p.to_json() for p in pins.known]
    return Control(settings, found, pins, eviction, jobs, watches, app[appkeys.GUARD], shared=coordinator.shared,
                   clock=clock)


def make_artifacts(app: web.Application, catalogs: Catalogs | None, clock: Callable[[], float]) -> ArtifactRoutes:
    """Derived artifacts (stored as index entries) and their builds (records on the volume, leases
    through the coordinator), with the recipes this proxy knows, to canonicalize their options."""
    settings, cache = app[appkeys.SETTINGS], app[appkeys.CACHE]
    store = ArtifactStore(cache)
    layout = cache.store.layout
    builds = Builds(RecordStore(layout, settings.node_id, "builds"), RecordStore(layout, settings.node_id, "builders"),
                    store, app[appkeys.COORDINATOR], settings.build_lease_ttl, cache.metrics,
                    settings.build_failure_ttl, clock)
    cache.metrics.before_render.append(store.measure)
    app[appkeys.STATUS].artifacts = functools.partial(artifact_status, store, builds)
    recipes = registry(settings.recipe_modules)
    app[appkeys.CONTROL].watches.prebuild = Prebuilder(builds, cache, recipes, settings.watch_build_timeout)
    return ArtifactRoutes(settings, store, builds, catalogs, app[appkeys.GUARD], recipes)


def make_app(settings: Settings, frontends: Sequence[Frontend], clock: Callable[[], float] = time.time,
             fill_policy: FillPolicy | None = None, catalogs: CatalogFactory | None = None) -> web.Application:
    """The application: ``frontends`` mounted over one core, and the control API when ``catalogs`` is given."""
    store = FsBlobStore(Layout(settings.cache_dir), settings.node_id, settings.disk_reserve_bytes)
    if workers_env.current() is None:  # workers: the supervisor sweeps (a successor may adopt a dead one's file)
        store.sweep_tmp()
    index = Index(store.layout, settings.node_id)
    metrics = Metrics()
    policy = replace(fill_policy or FillPolicy(retries=settings.fill_retries, connections=settings.fill_connections),
                     lease_ttl=settings.lease_ttl)
    coordinator = make_coordinator(settings)
    secret = cluster_secret(settings) if not settings.embedded else None
    link = LeaderLink(secret, directory=settings.relay_dir) if secret is not None else None
    if link is not None and settings.relay_dir is not None:
        sweep_relay_files(settings.relay_dir, settings.node_id)
    fills = Fills(FillContext(store, index, metrics, policy, coordinator, clock, link))
    memory = None
    if settings.memory_cache_bytes > 0:
        memory = MemoryTier(settings.memory_cache_bytes, settings.memory_cache_ttl,
                            settings.memory_cache_max_blob_bytes)
    internal = not settings.embedded and settings.peer_mode != "off"
    peers = Peers(settings.peer_mode, coordinator, memory, secret if internal else None)

    connections = ConnectionGuard(settings.max_connections or default_limit(), settings.body_idle_timeout, metrics)
    app = web.Application(client_max_size=1 << 20, middlewares=[connections.middleware])
    app[appkeys.CONNECTIONS] = connections
    app[appkeys.STOPPING] = asyncio.Event()
    app[appkeys.SETTINGS] = settings
    app[appkeys.METRICS] = metrics
    app[appkeys.FILLS] = fills
    app[appkeys.COORDINATOR] = coordinator
    guard = app[appkeys.GUARD] = make_guard(settings)
    app[appkeys.CACHE] = Cache(store, index, fills, metrics, clock, memory, coordinator,
                            prefer_peers=settings.peer_mode != "off")
    app[appkeys.SERVE_OPTIONS] = ServeOptions(sendfile=settings.sendfile,
                                           peers=peers if settings.peer_mode != "off" else None)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    status = app[appkeys.STATUS] = Status(settings, app[appkeys.CACHE], fills, metrics, clock)
    membership = app[appkeys.MEMBERSHIP] = Membership(coordinator, status.node)
    shared_usage = app[appkeys.SHARED_USAGE] = SharedUsage(app[appkeys.CACHE].readers, coordinator)
    if coordinator.shared:
        app[appkeys.CACHE].announce_readers = shared_usage.ensure
    status.peers = membership.peers
    app.router.add_get("/v1/status", guard.wrap(app[appkeys.STATUS].handle))
    if internal:  # the internal endpoint exists only where peers call it
        app.router.add_get(BLOB_ROUTE, peers.serve_blob)
    if link is not None:  # cluster mode: followers on other pods stream running fills from here
        app.router.add_get(FILL_ROUTE, FillFeed(fills, secret, metrics).serve)
    core = app[appkeys.CORE] = Core(app[appkeys.CACHE], metrics, app[appkeys.SERVE_OPTIONS],
                                   lambda: app[appkeys.UPSTREAM_SESSION],
                                   ListenPolicy(connections, settings.idle_timeout))
    if catalogs is not None:
        control = app[appkeys.CONTROL] = make_control(app, catalogs, clock)
        frontends = [control, make_artifacts(app, control.catalogs, clock), *frontends]
    for frontend in frontends:
        frontend.setup(app, core)
    app.cleanup_ctx.append(_upstream_session)
    app.cleanup_ctx.append(_coordinator)
    app.cleanup_ctx.append(_fills)
    app.on_shutdown.append(_hand_over_fills)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    timeout = ClientTimeout(total=None, sock_connect=settings.upstream_connect_timeout,
                            sock_read=settings.upstream_read_timeout)
    connector = OfflineConnector() if settings.offline else TCPConnector(limit=0)
    # a 256 KiB read buffer (4x the default): bodies arrive in larger chunks, the loop handles fewer
    async with ClientSession(timeout=timeout, auto_decompress=False, connector=connector, read_bufsize=1 << 18,
                             headers={"User-Agent": f"modelmanager/{__version__}"}) as session:
        app[appkeys.UPSTREAM_SESSION] = session
        peers = app[appkeys.SERVE_OPTIONS].peers
        if peers is not None:
            peers.session = session
        link = app[appkeys.FILLS].ctx.link
        if link is not None:
            link.session = session
        yield


async def _coordinator(app: web.Application) -> AsyncIterator[None]:
    coordinator = app[appkeys.COORDINATOR]
    await coordinator.start()
    await app[appkeys.MEMBERSHIP].start()
    await app[appkeys.SHARED_USAGE].start()
    yield
    await app[appkeys.SHARED_USAGE].close()
    await app[appkeys.MEMBERSHIP].close()
    await coordinator.close()


async def _fills(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[appkeys.FILLS].close()


async def _hand_over_fills(app: web.Application) -> None:
    """On shutdown, before waiting for open responses: stop fills now, so leaders hand them over."""
    await app[appkeys.FILLS].close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def _readyz(request: web.Request) -> web.Response:
    """Ready when the cache volume is writable. Redis and free space are reported, never required:
    without Redis misses are filled per pod, and on a nearly full volume hits are still served
    (misses answer 507), so neither takes pods out; both say ``degraded``."""
    settings = request.app[appkeys.SETTINGS]
    if request.app[appkeys.STOPPING].is_set():  # a signal came (--shutdown-delay): load balancers take it out
        return web.json_response({"status": "stopping", "node_id": settings.node_id}, status=503)
    store = request.app[appkeys.CACHE].store
    checks = {"cache_dir": os.access(store.layout.tmp(settings.node_id), os.W_OK)}
    ready = checks["cache_dir"]
    free = await asyncio.get_running_loop().run_in_executor(None, store.free_bytes)
    checks["disk_space"] = free > store.reserve_bytes
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks,
                               "mode": "embedded" if settings.embedded else "cluster", "node_id": settings.node_id,
                               "free_bytes": free}
    if not settings.embedded:
        checks["redis"] = await request.app[appkeys.COORDINATOR].check()
    body["degraded"] = not (checks["disk_space"] and checks.get("redis", True))
    return web.Response(status=200 if ready else 503, text=json.dumps(body), content_type="application/json")


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[appkeys.METRICS]
    await metrics.refresh()
    return web.Response(body=metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
