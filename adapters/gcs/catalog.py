"""The GCS catalog: an object, or every object under a prefix, for prefetch, pins and watches.

As for S3, a listing's version is a fingerprint of its (name, ETag) pairs, so a watch sees any
object added, removed or replaced (a new generation of a composite object changes its ETag too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import aiohttp

from adapters.gcs.bucket import Gcs, GcsBucket, allowed
from adapters.gcs.source import cache_key
from adapters.gcs.urls import GRAMMAR, GsUrl
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import UpstreamUnavailable
from proxy.objectstore import StoredObject

MAX_PAGES = 10_000


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
        listed = await list_all(bucket, url.key)
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
        files = tuple(SnapshotFile(o.key[start:], o.size, bucket.source(o.key), self._revalidate_after)
                      for o in listed)
        prefix = cache_key(url.bucket, url.key if exact and url.key else (root + "/" if root else ""))
        return Snapshot(url, fingerprint[:32], files, (prefix,))


async def listed(gcs: Gcs, text: str, session: Callable[[], aiohttp.ClientSession],
                 allow: Sequence[str]) -> Snapshot:
    """``/v1/list`` of a ``gs://`` prefix, if its bucket matches an ``allow`` pattern."""
    return await GcsCatalog(gcs, session, 0).snapshot(allowed(text, allow), None)


async def list_all(bucket: GcsBucket, prefix: str) -> list[StoredObject]:
    found: list[StoredObject] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await bucket.list(prefix, None, token, 1000)
        found.extend(page.objects)
        token = page.next_token
        if token is None:
            return sorted(found, key=lambda o: o.key)
    raise UpstreamUnavailable(f"{bucket.label} listing has too many pages")
