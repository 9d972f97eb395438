"""Dashboard routes: ``/ui``, its script, and ``/`` by content negotiation (see ``negotiate``)."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.ui.negotiate import wants_dashboard
from proxy.read.core import Core
from proxy.upstream import Frontend

_STATIC = resources.files("adapters.ui") / "static"
_NO_CACHE = {"Cache-Control": "no-cache"}


class UiFrontend:
    name = "ui"

    def __init__(self) -> None:
        self.page = (_STATIC / "dashboard.html").read_bytes()
        self.script = (_STATIC / "dashboard.js").read_bytes()

    def setup(self, app: web.Application, core: Core) -> None:
        app.router.add_get("/ui", self.dashboard)
        app.router.add_get("/ui/dashboard.js", self.dashboard_js)
        app.router.add_route("*", "/", self.root)

    async def dashboard(self, request: web.Request) -> web.Response:
        return web.Response(body=self.page, content_type="text/html", charset="utf-8", headers=_NO_CACHE)

    async def dashboard_js(self, request: web.Request) -> web.Response:
        return web.Response(body=self.script, content_type="text/javascript", charset="utf-8", headers=_NO_CACHE)

    async def root(self, request: web.Request) -> web.Response:
        """The dashboard for browsers; for every other client, the 404 ``/`` has always answered."""
        if not wants_dashboard(request.method, request.headers):
            raise web.HTTPNotFound()
        response = await self.dashboard(request)
        response.headers["Vary"] = "Accept, User-Agent, Authorization"
        return response


if TYPE_CHECKING:
    _: type[Frontend] = UiFrontend
