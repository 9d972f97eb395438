"""The S3 adapter's catalog: an object, or every object under a prefix, listed page by page from the
bucket's route: ListObjectsV2 at its S3 endpoint, or its ``ObjectStore`` (GCS, Azure, a renamed S3
bucket), so ``s3://<bucket>/...`` prefetches, pins and watches work for every routed bucket.

The version of a listing is a fingerprint of its (key, ETag) pairs, so a watch sees any object
added, removed or rewritten. Objects get the index keys of the store that serves the bucket:
``s3:<bucket>/...`` for an S3 route, the store's own (``gs:<bucket>/...``, ``az:<account>/<container>/...``)
for a bucket routed to GCS or Azure. A pin records the prefix in that same key space (the store's
``source(prefix).key``), so a pin of ``s3://<routed bucket>/<prefix>`` keeps exactly the entries its
reads fill, and shares them with reads and pins of the store's own ``gs://``/``az://`` URL. S3 has
no atomic multi-object version: a changed object is refetched (revalidated by ETag) by the watch's
prefetch, and until that fill commits its readers tail the new version as it lands.
"""

from __future__ import annotations

import hashlib

from adapters.s3.routing import Router
from adapters.s3.s3store import S3Store
from adapters.s3.upstream import S3Upstream
from adapters.s3.urls import GRAMMAR, S3Url
from proxy.control.catalog import Snapshot, SnapshotFile
from proxy.control.urls import ModelUrl
from proxy.errors import UpstreamUnavailable
from proxy.objectstore import ObjectStore, StoredObject

MAX_PAGES = 10_000


class S3Catalog:
    def __init__(self, upstream: S3Upstream, revalidate_after: float, router: Router | None = None) -> None:
        self._upstream = upstream
        self._revalidate_after = revalidate_after
        self._router = router

    def _store(self, bucket: str) -> ObjectStore:
        """The bucket's store: its route's, or its S3 endpoint's ListObjectsV2 (unrouted: NoSuchBucket)."""
        routed = self._router.store(bucket) if self._router is not None else None
        return routed if routed is not None else S3Store(self._upstream, bucket, bucket)

    grammar = GRAMMAR
    watchable = True

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        """S3 keys are not versioned through the proxy: nothing to hold (see the module docstring)."""

    async def current(self, url: ModelUrl) -> str:
        return (await self.snapshot(url, None)).version

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        assert isinstance(url, S3Url)
        store = self._store(url.bucket)
        listed = await self._list(store, url.key)
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
        files = tuple(SnapshotFile(o.key[start:], o.size, store.source(o.key), self._revalidate_after)
                      for o in listed)
        prefix = store.source(url.key if exact and url.key else (root + "/" if root else "")).key
        return Snapshot(url, fingerprint[:32], files, (prefix,))

    async def _list(self, store: ObjectStore, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = await store.list(prefix, None, token, 1000)
            found.extend(page.objects)
            token = page.next_token
            if token is None:
                return sorted(found, key=lambda o: o.key)
        raise UpstreamUnavailable("S3 listing has too many pages")
