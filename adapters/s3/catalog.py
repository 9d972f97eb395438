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
from proxy.control.catalog import StoreCatalog
from proxy.control.urls import ModelUrl
from proxy.objectstore import ObjectStore


def s3_catalog(upstream: S3Upstream, revalidate_after: float, router: Router | None = None) -> StoreCatalog:
    def locate(url: ModelUrl) -> tuple[ObjectStore, str]:
        """The bucket's store: its route's, or its S3 endpoint's ListObjectsV2 (unrouted: NoSuchBucket)."""
        assert isinstance(url, S3Url)
        routed = router.store(url.bucket) if router is not None else None
        return (routed if routed is not None else S3Store(upstream, url.bucket, url.bucket)), url.key

    return StoreCatalog(GRAMMAR, locate, revalidate_after)
