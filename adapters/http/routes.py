"""Routes of the generic adapter."""

from __future__ import annotations

import re

from aiohttp import web

from adapters.http.target import HostAllowList, parse_target
from adapters.http.upstream import HttpSource
from adapters.http.wire import error_response
from proxy import appkeys
from proxy.errors import ProxyError
from proxy.read import serving

_SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]{1,200}")


class HttpFrontend:
    name = "http"

    def __init__(self, allow: HostAllowList, revalidate_after: float) -> None:
        self.allow = allow
        self.revalidate_after = revalidate_after

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/v1/fetch", self.fetch)  # HEAD too

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        app = request.app
        try:
            url = parse_target(request.query.get("url"))
            self.allow.check(url)
            source = HttpSource(url, app[appkeys.UPSTREAM_SESSION], self.allow)
            resolved = await app[appkeys.CACHE].resolve(source, max_age=self.revalidate_after)
            app[appkeys.METRICS].requests.labels(self.name, resolved.outcome).inc()
            name = url.name
            extra = {"Content-Disposition": f'attachment; filename="{name}"'} if _SAFE_NAME.fullmatch(name) else {}
            return await serving.respond(request, resolved, app[appkeys.METRICS], app[appkeys.SERVE_OPTIONS], extra,
                                         redirect_ok=True)
        except ProxyError as exc:
            return error_response(exc)
