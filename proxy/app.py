"""make_app: build the core from settings, mount the frontends, own the long-lived resources."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from proxy import __version__, keys
from proxy.cache import Cache
from proxy.config import Settings
from proxy.fill import FillPolicy, Fills
from proxy.index import Index
from proxy.metrics import Metrics
from proxy.offline import OfflineConnector
from proxy.serving import ServeOptions
from proxy.status import Status
from proxy.storage.blobstore import FsBlobStore
from proxy.storage.layout import Layout
from proxy.upstream import Frontend

log = logging.getLogger(__name__)


def make_app(settings: Settings, frontends: Sequence[Frontend], clock: Callable[[], float] = time.time,
             fill_policy: FillPolicy | None = None) -> web.Application:
    store = FsBlobStore(Layout(settings.cache_dir), settings.node_id)
    store.sweep_tmp()
    index = Index(store.layout, settings.node_id)
    metrics = Metrics()
    policy = fill_policy or FillPolicy(retries=settings.fill_retries)
    fills = Fills(store, index, metrics, policy, clock)

    app = web.Application(client_max_size=1 << 20)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.FILLS] = fills
    app[keys.CACHE] = Cache(store, index, fills, metrics, clock)
    app[keys.SERVE_OPTIONS] = ServeOptions(sendfile=settings.sendfile)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app[keys.STATUS] = Status(settings, app[keys.CACHE], fills, metrics, clock)
    app.router.add_get("/v1/status", app[keys.STATUS].handle)
    for frontend in frontends:
        frontend.setup(app)
    app.cleanup_ctx.append(_upstream_session)
    app.cleanup_ctx.append(_fills)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    timeout = ClientTimeout(total=None, sock_connect=settings.upstream_connect_timeout,
                            sock_read=settings.upstream_read_timeout)
    connector = OfflineConnector() if settings.offline else TCPConnector(limit=0)
    async with ClientSession(timeout=timeout, auto_decompress=False, connector=connector,
                             headers={"User-Agent": f"modelmanager/{__version__}"}) as session:
        app[keys.UPSTREAM_SESSION] = session
        yield


async def _fills(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[keys.FILLS].close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def _readyz(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    tmp = request.app[keys.CACHE].store.layout.tmp(settings.node_id)
    checks = {"cache_dir": os.access(tmp, os.W_OK)}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks,
            "mode": "embedded" if settings.embedded else "cluster", "node_id": settings.node_id}
    return web.Response(status=200 if ready else 503, text=json.dumps(body), content_type="application/json")


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.METRICS].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
