"""Routes of the generic adapter. ``/v1/fetch`` also serves the URLs of object stores whose
adapters claim them (``gs://``, ``az://``, Azure's ``https://<account>.blob.core.windows.net/``):
their sources come from those adapters. ``/v1/list?url=`` lists such a store's prefix as JSON
(``{"url", "version", "files": [{"path", "size"}]}``), for clients that download a whole prefix."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

from adapters.http.target import HostAllowList, parse_target
from adapters.http.upstream import HttpSource
from adapters.http.wire import error_response
from proxy.control.catalog import Snapshot
from proxy.errors import InvalidKey, ProxyError
from proxy.read.core import Core, ReadPolicy
from proxy.upstream import Frontend, Source

_SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]{1,200}")


@dataclass(frozen=True, slots=True)
class StoreUrls:
    """Object-store URLs ``/v1/fetch`` serves besides plain http(s) ones."""

    claims: Callable[[str], bool]
    """Whether a ``url`` parameter is one of this store's (checked before the http(s) grammar)."""
    source: Callable[[str, Callable[[], ClientSession]], Source]
    """The source of one object URL; raises InvalidKey (a bad URL) or Forbidden (not allowed here)."""
    revalidate_after: float
    snapshot: Callable[[str, Callable[[], ClientSession]], Awaitable[Snapshot]]
    """The objects under a prefix URL (paths relative to it), checked as ``source`` checks."""


class HttpFrontend:
    name = "http"
    core: Core
    """The core's facade, given in ``setup``."""

    def __init__(self, allow: HostAllowList, revalidate_after: float,
                 stores: Sequence[StoreUrls] = ()) -> None:
        self.allow = allow
        self.policy = ReadPolicy(self.name, max_age=revalidate_after, redirect_ok=True)
        self.stores = [(store, ReadPolicy(self.name, max_age=store.revalidate_after, redirect_ok=True))
                       for store in stores]

    def setup(self, app: web.Application, core: Core) -> None:
        self.core = core
        app.router.add_get("/v1/fetch", self.fetch)  # HEAD too
        app.router.add_get("/v1/list", self.list)

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        try:
            source, policy, name = self._source(request.query.get("url"))
            extra = {"Content-Disposition": f'attachment; filename="{name}"'} if _SAFE_NAME.fullmatch(name) else {}
            return await self.core.serve(request, source, policy, extra)
        except ProxyError as exc:
            return error_response(exc)

    async def list(self, request: web.Request) -> web.StreamResponse:
        try:
            text = request.query.get("url")
            for store, _ in self.stores:
                if text and store.claims(text):
                    snapshot = await store.snapshot(text, lambda: self.core.session)
                    return web.json_response({"url": str(snapshot.url), "version": snapshot.version, "files": [
                        {"path": f.path, "size": f.size} for f in snapshot.files]})
            raise InvalidKey("url must be an object-store prefix (gs://, az://); an http(s) URL names one file")
        except ProxyError as exc:
            return error_response(exc)

    def _source(self, text: str | None) -> tuple[Source, ReadPolicy, str]:
        """The source a ``url`` parameter names, its policy, and its file name."""
        for store, policy in self.stores:
            if text and store.claims(text):
                return store.source(text, lambda: self.core.session), policy, text.rpartition("/")[2]
        url = parse_target(text)
        self.allow.check(url)
        return HttpSource(url, self.core.session, self.allow), self.policy, url.name


if TYPE_CHECKING:
    _: type[Frontend] = HttpFrontend
