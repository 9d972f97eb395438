"""Routes of the S3 adapter: ``/s3/…`` on the main port, and the whole dedicated S3 port.

Every request is authenticated (SigV4, when client keys are configured), addressed
(``adapters.s3.address``), then dispatched: object GET/HEAD are served by the core
(``Core.serve``); bucket-level reads through ``ListingCache``; PutObject through
``adapters.s3.writes``; multipart uploads through ``adapters.s3.multipart``. Anything else is
answered with S3's ``NotImplemented``.

The API is read-only unless ``--s3-allow-writes`` is set *and* client keys are configured: a
write (any method but GET and HEAD) is refused with ``AccessDenied`` before anything reaches the
upstream, so an anonymous client can never write with the proxy's credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.s3 import address, auth, sigv4, wire
from adapters.s3.listing import BUCKET_SUBRESOURCES, LIST_PARAMS, ListingCache
from adapters.s3.multipart import MultipartUploads, Warmer, is_multipart
from adapters.s3.routing import Router, Target
from adapters.s3.storelisting import StoreListings
from adapters.s3.storeroutes import serve_store
from adapters.s3.upstream import S3ObjectSource, S3Upstream
from adapters.s3.writes import put_object
from proxy.errors import ProxyError
from proxy.observe.logs import AccessLogger
from proxy.read.core import Core, ReadPolicy
from proxy.upstream import Frontend

log = logging.getLogger(__name__)

OBJECT_SUBRESOURCES_REFUSED = frozenset({"partNumber", "versionId", "acl", "tagging", "attributes", "torrent",
                                         "legal-hold", "retention", "restore", "select"})


@dataclass(frozen=True, slots=True)
class S3Options:
    routes: Mapping[str, Target]
    """Client-visible bucket (or ``*``) -> the upstream serving it (``adapters.s3.routing``)."""
    client_keys: auth.ClientKeys
    list_ttl: float
    revalidate_after: float
    virtual_host_suffix: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    """The dedicated S3 port (path-style at the root); None: only ``/s3/`` on the main port."""
    write_through: bool = True
    allow_writes: bool = False
    """Writes are forwarded only when this is set (and then only for authenticated clients)."""
    reuse_port: bool = False
    """Bind the dedicated port with SO_REUSEPORT (a worker of ``--workers N``: the workers share it)."""

    @property
    def writable(self) -> bool:
        return self.allow_writes and not self.client_keys.open


class S3Frontend:
    name = "s3"

    def __init__(self, options: S3Options, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.options = options
        self._clock = clock
        self._core: Core | None = None
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self.policy = ReadPolicy(self.name, max_age=options.revalidate_after, attribute_headers=True,
                                 recheck_if_match=True)
        self.router = Router(options.routes, lambda: self.core.session)
        self.upstream = S3Upstream(self.router.endpoint, lambda: self.core.session, clock)
        self.store_listings = StoreListings(options.list_ttl)
        self.listings = ListingCache(self.upstream, options.list_ttl, time.monotonic)
        self.warmer = Warmer(self.upstream, lambda: self.core)
        """Fills of objects completed by multipart uploads; cancelled on shutdown."""
        self.multipart = MultipartUploads(self.upstream, self.listings, self.warmer)

    @property
    def core(self) -> Core:
        """The core this frontend serves from (the one of the app it was set up on)."""
        if self._core is None:
            raise RuntimeError("S3Frontend.setup has not been called")
        return self._core

    def setup(self, app: web.Application, core: Core) -> None:
        self._core = core
        app[S3_FRONTEND] = self
        app.router.add_route("*", address.PREFIX, self._prefixed)
        app.router.add_route("*", address.PREFIX + "/{tail:.*}", self._prefixed)
        if self.options.port is not None:
            app.on_startup.append(self._start_site)
            app.on_shutdown.append(self._stop_site)
        app.on_shutdown.append(self._stop_warmer)
        if self.options.client_keys.open:
            log.warning("the S3 API is open for reads: no --s3-client-keys configured, requests are not "
                        "authenticated (writes are refused)")
            if self.options.allow_writes:
                log.warning("--s3-allow-writes is ignored: no client keys are configured")

    # -- the dedicated port: a second site sharing this app's core --------------------------

    async def _start_site(self, app: web.Application) -> None:
        """The S3 port admits connections under the main port's policy (``Core.listen``)."""
        listen = self.core.listen
        site_app = listen.application(client_max_size=1 << 20)
        site_app.router.add_route("*", "/{tail:.*}", self._root)
        self._runner = await listen.runner(site_app, access_log_class=AccessLogger,
                                           access_log=logging.getLogger("modelmanager.access"))
        site = web.TCPSite(self._runner, self.options.host, self.options.port, backlog=listen.backlog,
                           reuse_port=self.options.reuse_port)
        await site.start()
        self.bound_port = self._runner.addresses[0][1]
        log.info("S3 API listening", extra={"host": self.options.host, "port": self.bound_port})

    async def _stop_site(self, app: web.Application) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stop_warmer(self, app: web.Application) -> None:
        await self.warmer.close()

    # -- requests -----------------------------------------------------------------------------

    async def _prefixed(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, prefixed=True)

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, prefixed=False)

    async def _handle(self, request: web.Request, *, prefixed: bool) -> web.StreamResponse:
        try:
            raw = address.origin_form(request.raw_path)
            target = address.parse(raw, request.host, prefixed=prefixed,
                                   virtual_host_suffix=self.options.virtual_host_suffix)
            signed = auth.SignedRequest(request.method, address.raw_path_only(raw),
                                        sigv4.query_pairs(raw.partition("?")[2]),
                                        {k.lower(): v for k, v in request.headers.items()})
            auth.authenticate(self.options.client_keys, signed, self._clock())
            return await self._dispatch(request, target, signed)
        except (wire.S3Fault, ProxyError) as exc:
            return wire.error_response(request, exc)

    async def _dispatch(self, request: web.Request, target: address.Target,
                        signed: auth.SignedRequest) -> web.StreamResponse:
        query = _forwarded_query(signed)
        names = {name for name, _ in query}
        method = request.method
        if method not in ("GET", "HEAD") and not self.options.writable:
            raise wire.S3Fault(wire.ACCESS_DENIED, "this proxy's S3 API is read-only (writes need "
                               "--s3-allow-writes and client keys)")
        if self.router.endpoint(target.bucket) is None:
            return await serve_store(self, request, target, query)
        if is_multipart(names) and not self.options.write_through:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, "writes are turned off on this proxy")
        if target.bucket is not None and target.key is None and method == "GET" and is_multipart(names):
            return await self.multipart.list_uploads(target.bucket, query)
        if target.key is None and method in ("GET", "HEAD"):
            if not names <= LIST_PARAMS | BUCKET_SUBRESOURCES:
                raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"bucket calls with {sorted(names)} are not supported")
            return await self._bucket(request, target.bucket, query)
        if target.bucket is None or target.key is None:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{method} on a bucket is not supported by this proxy")
        if is_multipart(names):
            return await self.multipart.object_call(request, target.bucket, target.key, query)
        if names & OBJECT_SUBRESOURCES_REFUSED:
            raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{sorted(names & OBJECT_SUBRESOURCES_REFUSED)} not supported")
        if method in ("GET", "HEAD"):
            return await self._object(request, target.bucket, target.key)
        if method == "PUT" and self.options.write_through and not names:
            return await put_object(request, self.upstream, self.core, target.bucket, target.key, self.listings)
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{method} of objects is not supported by this proxy")

    async def _bucket(self, request: web.Request, bucket: str | None,
                      query: list[tuple[str, str]]) -> web.StreamResponse:
        listing = await self.listings.get(request.method, bucket, query)
        if request.method == "HEAD":
            return web.Response(status=listing.status)
        return web.Response(status=listing.status, body=listing.body,
                            headers={"Content-Type": listing.content_type})

    async def _object(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        return await self.core.serve(request, S3ObjectSource(self.upstream, bucket, key), self.policy)


S3_FRONTEND = web.AppKey("s3_frontend", S3Frontend)


def _forwarded_query(signed: auth.SignedRequest) -> list[tuple[str, str]]:
    """The client's query without its presigned signature and botocore's ``x-id`` marker."""
    return [(k, v) for k, v in signed.query if not k.startswith("X-Amz-") and k != "x-id"]


if TYPE_CHECKING:
    _: type[Frontend] = S3Frontend
