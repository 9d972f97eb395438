"""The GCS catalog: an object, or every object under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs, so a watch sees any
object added, removed or replaced (a new generation of a composite object changes its ETag too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiohttp

from adapters.gcs.bucket import Gcs, allowed
from adapters.gcs.urls import GRAMMAR, GsUrl
from proxy.control.catalog import Snapshot, store_snapshot
from proxy.control.urls import ModelUrl


class GcsCatalog:
    def __init__(self, gcs: Gcs, session: Callable[[], aiohttp.ClientSession], revalidate_after: float) -> None:
        self._gcs = gcs
        self._session = session
        self._revalidate_after = revalidate_after

    grammar = GRAMMAR
    watchable = True

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """GCS objects are not versioned through the proxy: nothing to hold."""

    async def current(self, url: ModelUrl) -> str:
        return (await self.snapshot(url, None)).version

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, GsUrl)
        bucket = self._gcs.bucket(f"gs://{url.bucket}", self._session)
        return await store_snapshot(url, bucket, url.key, self._revalidate_after)


async def listed(gcs: Gcs, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of a ``gs://`` prefix, if its bucket matches an ``allow`` pattern."""
    return await GcsCatalog(gcs, session, 0).snapshot(allowed(text, allow), None)
