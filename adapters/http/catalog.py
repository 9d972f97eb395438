"""The generic HTTP adapter's catalog: one URL is one file, fetched as ``/v1/fetch`` would."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from adapters.http.target import HostAllowList, cache_key, parse_target
from adapters.http.upstream import HttpSource
from adapters.http.urls import GRAMMAR, HttpUrl
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import Forbidden

VERSION = "latest"
"""An http(s) URL names no version of its own: the file is revalidated like ``/v1/fetch`` does."""


class HttpCatalog:
    def __init__(self, allow: HostAllowList, revalidate_after: float,
                 session: Callable[[], aiohttp.ClientSession]) -> None:
        self._allow = allow
        self._revalidate_after = revalidate_after
        self._session = session

    grammar = GRAMMAR
    watchable = False

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, HttpUrl)
        target = parse_target(str(url.url))
        self._allow.check(target)
        source = HttpSource(target, self._session(), self._allow)
        file = SnapshotFile(target.name or target.host or "index", None, source, self._revalidate_after)
        return Snapshot(url, VERSION, (file,), (cache_key(target),))

    async def current(self, url: ModelUrl) -> str:
        raise Forbidden("http(s) URLs cannot be watched; watch an hf:// branch or an s3:// prefix")

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """Nothing to hold: one URL, one cache entry."""
