"""Routes of the generic adapter."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.http.target import HostAllowList, parse_target
from adapters.http.upstream import HttpSource
from adapters.http.wire import error_response
from proxy.errors import ProxyError
from proxy.read.core import Core, ReadPolicy
from proxy.upstream import Frontend

_SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]{1,200}")


class HttpFrontend:
    name = "http"
    core: Core
    """The core's facade, given in ``setup``."""

    def __init__(self, allow: HostAllowList, revalidate_after: float) -> None:
        self.allow = allow
        self.policy = ReadPolicy(self.name, max_age=revalidate_after, redirect_ok=True)

    def setup(self, app: web.Application, core: Core) -> None:
        self.core = core
        app.router.add_get("/v1/fetch", self.fetch)  # HEAD too

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        try:
            url = parse_target(request.query.get("url"))
            self.allow.check(url)
            source = HttpSource(url, self.core.session, self.allow)
            name = url.name
            extra = {"Content-Disposition": f'attachment; filename="{name}"'} if _SAFE_NAME.fullmatch(name) else {}
            return await self.core.serve(request, source, self.policy, extra)
        except ProxyError as exc:
            return error_response(exc)


if TYPE_CHECKING:
    _: type[Frontend] = HttpFrontend
