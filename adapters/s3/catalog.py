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

from adapters.s3.routing import Router
from adapters.s3.s3store import S3Store
from adapters.s3.upstream import S3Upstream
from adapters.s3.urls import GRAMMAR, S3Url
from proxy.control.catalog import Snapshot, store_snapshot
from proxy.control.urls import ModelUrl
from proxy.objectstore import ObjectStore


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
        return await store_snapshot(url, store, url.key, self._revalidate_after)
