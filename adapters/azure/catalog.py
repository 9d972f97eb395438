"""The Azure catalog: a blob, or every blob under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import aiohttp

from adapters.azure.container import Azure, AzureContainer, allowed
from adapters.azure.source import cache_key
from adapters.azure.urls import GRAMMAR, AzUrl
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import UpstreamUnavailable
from proxy.objectstore import StoredObject

MAX_PAGES = 10_000


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
        listed = await list_all(container, url.key)
        exact = [o for o in listed if o.key == url.key]
        if url.key and not url.key.endswith("/"):
            if exact:
                listed, root = exact, url.key.rpartition("/")[0]
            else:
                root = url.key
                listed = [o for o in listed if o.key.startswith(url.key + "/")]
        else:
            root = url.key.rstrip("/")
        fingerprint = hashlib.sha256("\n".join(f"{o.key}\t{o.etag}" for o in listed).encode()).hexdigest()
        start = len(root) + 1 if root else 0
        files = tuple(SnapshotFile(o.key[start:], o.size, container.source(o.key), self._revalidate_after)
                      for o in listed)
        prefix = cache_key(url.account, url.container, url.key if exact and url.key else (root + "/" if root else ""))
        return Snapshot(url, fingerprint[:32], files, (prefix,))


async def listed(azure: Azure, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of an ``az://`` prefix, if its container matches an ``allow`` pattern."""
    return await AzureCatalog(azure, session, 0).snapshot(allowed(text, allow), None)


async def list_all(container: AzureContainer, prefix: str) -> list[StoredObject]:
    found: list[StoredObject] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await container.list(prefix, None, token, 5000)
        found.extend(page.objects)
        token = page.next_token
        if token is None:
            return sorted(found, key=lambda o: o.key)
    raise UpstreamUnavailable(f"{container.label} listing has too many pages")
