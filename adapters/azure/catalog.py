"""The Azure catalog: a blob, or every blob under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp

from adapters.azure.container import Azure, allowed
from adapters.azure.urls import GRAMMAR, AzUrl
from proxy.control.catalog import Snapshot, store_snapshot
from proxy.control.urls import ModelUrl


class AzureCatalog:
    def __init__(self, azure: Azure, session: Callable[[], aiohttp.ClientSession], revalidate_after: float) -> None:
        self._azure = azure
        self._session = session
        self._revalidate_after = revalidate_after

    grammar = GRAMMAR
    watchable = True

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """Blobs are not versioned through the proxy: nothing to hold."""

    async def current(self, url: ModelUrl) -> str:
        return (await self.snapshot(url, None)).version

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, AzUrl)
        container = self._azure.container(f"az://{url.account}/{url.container}", self._session)
        return await store_snapshot(url, container, url.key, self._revalidate_after, page_size=5000)


async def listed(azure: Azure, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of an ``az://`` prefix, if its container matches an ``allow`` pattern."""
    return await AzureCatalog(azure, session, 0).snapshot(allowed(text, allow), None)
