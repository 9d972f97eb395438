"""Routes of the S3 adapter: ``/s3/…`` on the main port, and the whole dedicated S3 port.

Every request is authenticated (SigV4, when client keys are configured), addressed
(``adapters.s3.address``), then dispatched: object GET/HEAD go through the core's cache and
``serving.respond``; bucket-level reads through ``ListingCache``; PutObject through
``adapters.s3.writes``; multipart uploads through ``adapters.s3.multipart``. Anything else is
answered with S3's ``NotImplemented``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from yarl import URL

from adapters.s3 import address, auth, sigv4, wire
from adapters.s3.listing import BUCKET_SUBRESOURCES, LIST_PARAMS, ListingCache
from adapters.s3.multipart import MultipartUploads, Warmer, is_multipart
from adapters.s3.upstream import Endpoint, S3ObjectSource, S3Upstream, credentials_from_env
from adapters.s3.writes import put_object
from proxy import appkeys
from proxy.config import Settings
from proxy.errors import ProxyError
from proxy.observe.logs import AccessLogger
from proxy.read import serving
from proxy.read.conditional import Representation
from proxy.read.driver import Hit, Resolved
from proxy.workers import env as workers_env

log = logging.getLogger(__name__)

OBJECT_SUBRESOURCES_REFUSED = frozenset({"partNumber", "versionId", "acl", "tagging", "attributes", "torrent",
                                         "legal-hold", "retention", "restore", "select"})


@dataclass(frozen=True, slots=True)
class S3Options:
    endpoint: Endpoint
    client_keys: auth.ClientKeys
    list_ttl: float
    revalidate_after: float
    virtual_host_suffix: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    """The dedicated S3 port (path-style at the root); None: only ``/s3/`` on the main port."""
    write_through: bool = True
    reuse_port: bool = False
    """Bind the dedicated port with SO_REUSEPORT (a worker of ``--workers N``: the workers share it)."""


class S3Frontend:
    name = "s3"

    def __init__(self, options: S3Options, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.options = options
        self._clock = clock
        self._core: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self.upstream = S3Upstream(options.endpoint, lambda: self.core[appkeys.UPSTREAM_SESSION], clock)
        self.listings = ListingCache(self.upstream, options.list_ttl, time.monotonic)
        self.warmer = Warmer(self.upstream, lambda: self.core[appkeys.CACHE])
        """Fills of objects completed by multipart uploads; cancelled on shutdown."""
        self.multipart = MultipartUploads(self.upstream, self.listings, self.warmer)

    @property
    def core(self) -> web.Application:
        """The application whose cache and session this frontend uses (the one it was set up on)."""
        if self._core is None:
            raise RuntimeError("S3Frontend.setup has not been called")
        return self._core

    def setup(self, app: web.Application) -> None:
        self._core = app
        app[S3_FRONTEND] = self
        app.router.add_route("*", address.PREFIX, self._prefixed)
        app.router.add_route("*", address.PREFIX + "/{tail:.*}", self._prefixed)
        if self.options.port is not None:
            app.on_startup.append(self._start_site)
            app.on_shutdown.append(self._stop_site)
        app.on_shutdown.append(self._stop_warmer)
        if self.options.client_keys.open:
            log.warning("the S3 API is open: no --s3-client-keys configured, requests are not authenticated")

    # -- the dedicated port: a second site sharing this app's core --------------------------

    async def _start_site(self, app: web.Application) -> None:
        site_app = web.Application(client_max_size=1 << 20)
        site_app.router.add_route("*", "/{tail:.*}", self._root)
        self._runner = web.AppRunner(site_app, access_log_class=AccessLogger,
                                     access_log=logging.getLogger("modelmanager.access"))
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port, reuse_port=self.options.reuse_port)
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
            return await put_object(request, self.upstream, self.core[appkeys.CACHE], target.bucket, target.key,
                                    self.listings)
        raise wire.S3Fault(wire.NOT_IMPLEMENTED, f"{method} of objects is not supported by this proxy")

    async def _bucket(self, request: web.Request, bucket: str | None,
                      query: list[tuple[str, str]]) -> web.StreamResponse:
        listing = await self.listings.get(request.method, bucket, query)
        if request.method == "HEAD":
            return web.Response(status=listing.status)
        return web.Response(status=listing.status, body=listing.body,
                            headers={"Content-Type": listing.content_type})

    async def _object(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        core = self.core
        cache = core[appkeys.CACHE]
        source = S3ObjectSource(self.upstream, bucket, key)
        resolved = await cache.resolve(source, max_age=self.options.revalidate_after)
        if _knows_newer(request, resolved):
            # The client names an ETag we do not hold (e.g. from a fresher listing): ask upstream now.
            assert isinstance(resolved, Hit)
            resolved.close()
            resolved = await cache.resolve(source, max_age=0)
        core[appkeys.METRICS].requests.labels(self.name, resolved.outcome).inc()
        response = await serving.respond(request, resolved, core[appkeys.METRICS], core[appkeys.SERVE_OPTIONS],
                                         _object_headers(resolved))
        return _s3_status_body(request, response, serving.representation(resolved))


S3_FRONTEND = web.AppKey("s3_frontend", S3Frontend)


def _forwarded_query(signed: auth.SignedRequest) -> list[tuple[str, str]]:
    """The client's query without its presigned signature and botocore's ``x-id`` marker."""
    return [(k, v) for k, v in signed.query if not k.startswith("X-Amz-") and k != "x-id"]


def _object_headers(resolved: Resolved) -> dict[str, str]:
    if isinstance(resolved, Hit):
        return dict(resolved.entry.extra)
    return dict(resolved.fill.meta.attributes) if resolved.fill.meta is not None else {}


def _knows_newer(request: web.Request, resolved: Resolved) -> bool:
    wanted = request.headers.get("If-Match")
    if not isinstance(resolved, Hit) or wanted is None or wanted.strip() == "*":
        return False
    return resolved.entry.etag is not None and resolved.entry.etag not in wanted


def _s3_status_body(request: web.Request, response: web.StreamResponse, rep: Representation) -> web.StreamResponse:
    """The core answers 412/416 without a body; S3 clients read the error code from XML."""
    if request.method != "GET" or response.prepared or not isinstance(response, web.Response):
        return response
    if response.status == 412:
        condition = "If-Match" if "If-Match" in request.headers else "If-Unmodified-Since"
        body = wire.error_body(wire.PRECONDITION_FAILED, request.path, extra={"Condition": condition})
    elif response.status == 416:
        body = wire.error_body(wire.INVALID_RANGE, request.path, extra={
            "RangeRequested": request.headers.get("Range", ""), "ActualObjectSize": str(rep.size)})
    else:
        return response
    response.body = body
    response.content_type = wire.XML
    return response


def from_settings(settings: Settings) -> S3Frontend | None:
    """The S3 frontend the settings ask for; None when no upstream endpoint is configured."""
    if settings.s3_upstream_endpoint is None:
        return None
    credentials = credentials_from_env()
    if settings.s3_upstream_access_key_id and settings.s3_upstream_secret_access_key:
        credentials = sigv4.Credentials(settings.s3_upstream_access_key_id,
                                        settings.s3_upstream_secret_access_key.get_secret_value())
    keys_text = settings.s3_client_keys.get_secret_value() if settings.s3_client_keys else ""
    return S3Frontend(S3Options(
        endpoint=Endpoint(URL(settings.s3_upstream_endpoint), settings.s3_upstream_region, credentials),
        client_keys=auth.ClientKeys.parse(keys_text, settings.s3_client_keys_file),
        list_ttl=settings.s3_list_ttl, revalidate_after=settings.s3_revalidate_after,
        virtual_host_suffix=settings.s3_virtual_host_suffix, host=settings.host, port=settings.s3_port,
        write_through=settings.s3_write_through, reuse_port=workers_env.current() is not None))
